"""Slots, the old-layout move, row identities and bench.json lookups, on hand-made files (no model runs)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bitcli.artifacts import Artifacts


def _old_set(work: Path, bs: int, backend: str | None) -> None:
    folder = work / "result" / f"result_bs{bs}"
    folder.mkdir(parents=True)
    (folder / "0_0.bin").write_bytes(b"\0" * 40)
    summary = {"filesinfo": {}, "throughput": 1.0} | ({"backend": backend} if backend else {})
    (work / "result" / f"result_bs{bs}_summary.json").write_text(json.dumps(summary))
    (work / "result" / f"result_bs{bs}_accuracy.json").write_text("{}")


def test_migration_moves_bits_own_sets_and_leaves_the_rest(tmp_path):
    from bitcli.stages.slots import migrate_legacy, result_dir_for

    _old_set(tmp_path, 1, "torch")
    _old_set(tmp_path, 2, None)          # ais_bench's own: no backend named
    _old_set(tmp_path, 4, "onnxruntime")
    (tmp_path / "result" / "onnxruntime" / "result_bs4").mkdir(parents=True)  # the slot already has bs 4
    names = Artifacts(tmp_path)
    said = migrate_legacy(names)
    assert said == ["moved result/result_bs1 → result/torch/result_bs1 (results are kept per backend and precision now)",
                    "kept result/result_bs4 where it is: result/onnxruntime/result_bs4 already exists"]
    assert (tmp_path / "result" / "torch" / "result_bs1" / "0_0.bin").is_file()
    assert (tmp_path / "result" / "torch" / "result_bs1_summary.json").is_file()
    assert (tmp_path / "result" / "torch" / "result_bs1_accuracy.json").is_file()
    assert (tmp_path / "result" / "result_bs2" / "0_0.bin").is_file() and (tmp_path / "result" / "result_bs4").is_dir()
    assert migrate_legacy(names) == ["kept result/result_bs4 where it is: result/onnxruntime/result_bs4 already exists"]
    assert result_dir_for(names, 2, "onnxruntime") == tmp_path / "result" / "result_bs2"  # read in place
    assert result_dir_for(names, 1, "torch") == tmp_path / "result" / "torch" / "result_bs1"


def test_weights_source_follows_bits_sidecars(tmp_path):
    from bitcli.stages.identity import NOT_BITS, model_digest, short, weights_source

    (tmp_path / "bit.onnx").write_bytes(b"onnx")
    (tmp_path / "bit.onnx.json").write_text(json.dumps({"weights_source": "/ckpt/bit.pth", "random": False}))
    (tmp_path / "bit_bs8_sim.onnx").write_bytes(b"sim")
    (tmp_path / "bit_bs8_sim.onnx.json").write_text(json.dumps({"source": str(tmp_path / "bit.onnx")}))
    (tmp_path / "bit_bs8.om").write_bytes(b"om")
    (tmp_path / "bit_bs8.om.json").write_text(json.dumps({"onnx": "bit_bs8_sim.onnx"}))
    (tmp_path / "other.onnx").write_bytes(b"x")
    assert weights_source(tmp_path / "bit_bs8.om", "ascend") == "/ckpt/bit.pth"
    assert weights_source(tmp_path / "bit_bs8_sim.onnx", "onnxruntime") == "/ckpt/bit.pth"
    assert weights_source(tmp_path / "other.onnx", "onnxruntime") == NOT_BITS
    assert weights_source("random", "torch") == "random"
    expected = hashlib.sha256(b"om").hexdigest()
    assert model_digest(tmp_path / "bit_bs8.om") == expected and short(expected) == expected[:12]
    assert model_digest("random", seed=3, arch="A") == "random:seed=3:A" and short("random:seed=3:A") == "random:seed=3"


def test_split_slot_and_bench_rows_per_precision():
    from bitcli.report_rows import split_slot
    from bitcli.stages.bench import find_bench_row, merge_bench_json

    assert split_slot("onnxruntime-int8") == ("onnxruntime", "int8")
    assert split_slot("torch") == ("torch", "fp32") and split_slot("my-backend") == ("my-backend", "fp32")
    fp32 = {"backend": "onnxruntime", "device": "cpu", "loop": 5, "warmup": 1, "results": [{"bs": 1, "throughput": 10.0}]}
    int8 = {"backend": "onnxruntime", "precision": "int8", "device": "cpu", "loop": 5, "warmup": 1,
            "results": [{"bs": 1, "throughput": 30.0}]}
    doc = merge_bench_json(fp32, int8)
    assert find_bench_row(doc, "onnxruntime", "int8", 1)["throughput"] == 30.0
    assert find_bench_row(doc, "onnxruntime", "fp32", 1)["throughput"] == 10.0  # not wiped by the int8 run
    assert find_bench_row(doc, "torch", "fp32", 1) is None
