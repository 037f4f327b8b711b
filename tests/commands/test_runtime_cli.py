"""bit infer / eval / bench end to end on the CLI: standard names only, real model, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bit_testlib import invoke
from runtime_models import link_models, real_model_dir


@pytest.fixture
def workdir(tmp_path, cifar_dir, trained_pth):
    """./bit.yaml (workdir w, batch sizes [4], trained weights) + 10 .bin + the real models by standard names."""
    from bitcli.stages.data import bins_from_cifar

    work = tmp_path / "w"
    link_models(real_model_dir(trained_pth), work)
    bins_from_cifar(cifar_dir, work / "dataset_bin", work / "label.txt", image_size=128, limit=10)
    (tmp_path / "bit.yaml").write_text(f"workdir: w\nbatch_sizes: [4]\nmodel:\n  weights: {trained_pth}\n")
    return work


def ok(result) -> None:
    assert result.exit_code == 0, result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr


def fails(result, *words: str, code: int = 1) -> None:
    text = result.output + result.stderr
    assert result.exit_code == code, text
    assert "Traceback" not in text and "internal error" not in text
    for word in words:
        assert word in text, (word, text)


def direct_topk(result_dir: Path, label_txt: Path, k: int) -> float:
    labels = [int(x) for x in label_txt.read_text().split()]
    hits = []
    for i, label in enumerate(labels):
        logits = np.fromfile(result_dir / f"{i}_0.bin", dtype=np.float32)
        hits.append(label in np.argsort(-logits)[:k])
    return float(np.mean(hits))


def test_help_imports_no_heavy_module():
    code = ("import sys; from typer.testing import CliRunner; from bitcli.cli import app\n"
            "for cmd in ('infer', 'eval', 'bench'):\n"
            "    r = CliRunner().invoke(app, [cmd, '--help']); assert r.exit_code == 0, r.output\n"
            "print(sorted(m for m in ('torch', 'onnxruntime', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_infer_eval_bench_from_standard_names(runner, workdir):
    result = invoke(runner, "infer")
    ok(result)
    assert "backend: onnxruntime (auto: ascend unavailable" in result.stderr
    out = workdir / "result" / "onnxruntime" / "result_bs4"
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{i}_0.bin" for i in range(10))
    summary = json.loads((workdir / "result" / "onnxruntime" / "result_bs4_summary.json").read_text())
    assert summary["backend"] == "onnxruntime" and summary["NPU_compute_time"]["count"] == 3

    result = invoke(runner, "eval", "--json")
    ok(result)
    doc = json.loads(result.stdout)
    assert doc["status"] == "done" and [row["bs"] for row in doc["results"]] == [4]
    assert doc["samples"] == 10 and list(doc["topk"]) == ["1", "2", "3", "4", "5"]
    for k in (1, 2, 5):
        assert doc["topk"][str(k)] == pytest.approx(direct_topk(out, workdir / "label.txt", k))
    saved = json.loads((workdir / "result" / "onnxruntime" / "result_bs4_accuracy.json").read_text())
    assert doc["status"] == "done" and saved == {key: doc[key] for key in saved}
    table = invoke(runner, "eval")
    ok(table)
    assert "top-1" in table.stdout and "97.62%" in table.stdout and "airplane" in table.stdout

    result = invoke(runner, "bench", "--bs", "1,4", "--loop", "2", "--warmup", "1", "--json")
    ok(result)
    bench = json.loads(result.stdout)
    assert bench["backend"] == "onnxruntime" and "CPUExecutionProvider" in bench["device"]
    assert [(r["bs"], r["status"]) for r in bench["results"]] == [(1, "ok"), (4, "ok")]
    row = bench["results"][1]
    assert row["throughput"] == pytest.approx(4000 / row["latency_ms"]["mean"])
    assert bench.pop("status") == "done"  # the --json document is bench.json plus the overall word
    assert json.loads((workdir / "bench.json").read_text()) == bench


def test_rerun_is_up_to_date_and_a_folder_bit_did_not_write_is_refused(runner, workdir):
    ok(invoke(runner, "infer", "--limit", "2"))
    out = workdir / "result" / "onnxruntime" / "result_bs4"
    before = {str(p): p.stat().st_mtime_ns for p in out.parent.rglob("*")}
    again = invoke(runner, "infer", "--limit", "2")
    ok(again)
    assert "bs 4: up to date" in again.stderr
    assert {str(p): p.stat().st_mtime_ns for p in out.parent.rglob("*")} == before  # nothing rewritten
    other = invoke(runner, "infer", "--limit", "3")  # bit's own folder, made with another --limit: computed again
    ok(other)
    assert "is out of date (--limit changed" in " ".join(other.stderr.split())
    assert len(list(out.iterdir())) == 3
    ok(invoke(runner, "infer", "--limit", "3", "--force"))
    mine = workdir / "result" / "torch" / "result_bs4"
    mine.mkdir(parents=True)
    (mine / "7_0.bin").write_bytes(b"\0" * 40)  # not bit's: no sidecar, no summary
    fails(invoke(runner, "infer", "--backend", "torch", "--weights", "random", "--limit", "2"), "already holds 1 files",
          "--force")
    assert (mine / "7_0.bin").read_bytes() == b"\0" * 40


def test_on_the_fly_equals_bins_and_torch_agrees(runner, workdir, cifar_dir, trained_pth):
    ok(invoke(runner, "infer", "--backend", "onnxruntime", "--limit", "6"))
    ok(invoke(runner, "infer", "--dataset-path", str(cifar_dir), "--limit", "6", "--output", "fly"))
    ok(invoke(runner, "infer", "--backend", "torch", "--limit", "6", "--output", "eager"))
    for i in range(6):
        bins = np.fromfile(workdir / "result" / "onnxruntime" / "result_bs4" / f"{i}_0.bin", dtype=np.float32)
        fly = np.fromfile(Path("fly") / "result_bs4" / f"{i}_0.bin", dtype=np.float32)
        eager = np.fromfile(Path("eager") / "result_bs4" / f"{i}_0.bin", dtype=np.float32)
        np.testing.assert_allclose(fly, bins, atol=1e-6, rtol=0)
        np.testing.assert_allclose(eager, bins, atol=1e-4, rtol=0)
    assert json.loads(Path("eager/result_bs4_summary.json").read_text())["backend"] == "torch"


def test_bench_failed_batch_size_is_a_row_and_exit_1(runner, workdir):
    (workdir / "bit.onnx").unlink()  # no dynamic fallback: bs 3 has no model
    result = invoke(runner, "bench", "--bs", "4,3", "--loop", "1", "--warmup", "0")
    fails(result, "failed", "model file not found", "1,388.11")
    assert "bs 4:" in result.stderr
    doc = json.loads((workdir / "bench.json").read_text())
    assert [r["status"] for r in doc["results"]] == ["ok", "failed"]


@pytest.mark.parametrize("args, words", [
    (["bench", "--backend", "ascend"], ["backend 'ascend' is not usable here"]),
    (["infer", "--bs", "2"], ["model file not found", "bit_bs2_sim.onnx"]),
    (["infer", "--input", "w"], ["holds no input files"]),
    (["eval"], ["no result folders"]),
    (["eval", "--output-dir", "w/dataset_bin"], ["holds no inference outputs"]),
])
def test_bad_input_one_line_exit_1(runner, workdir, args, words):
    if args == ["infer", "--bs", "2"]:
        (workdir / "bit.onnx").unlink()
    fails(invoke(runner, *args), *words)


@pytest.mark.parametrize("args, words", [
    (["infer", "--backend", "onnxrt"], ["unknown backend 'onnxrt'", "did you mean 'onnxruntime'"]),
    (["infer", "--input", "x", "--dataset-path", "y"], ["--input and --dataset-path both given"]),
    (["infer", "--bs", "8", "--model", "w/bit_bs4_sim.onnx"], ["batch-size-4 model, but batch size 8"]),
])
def test_bad_flag_value_one_line_exit_2(runner, workdir, args, words):
    """A bad or conflicting flag value is a usage error (2), with the same one line."""
    fails(invoke(runner, *args), *words, code=2)


def test_input_file_of_wrong_size(runner, workdir):
    np.zeros(7, np.float32).tofile(workdir / "dataset_bin" / "0.bin")
    fails(invoke(runner, "infer"), "0.bin is 28 bytes, unlike the other 9 files (196608 bytes each)")
    assert not (workdir / "result" / "onnxruntime" / "result_bs4").exists()


def test_eval_bad_labels_and_unknown_backend_unavailable(runner, workdir, monkeypatch):
    ok(invoke(runner, "infer", "--limit", "3"))
    Path("labels.txt").write_text("0 3\n1 x\n2 1\n")
    fails(invoke(runner, "eval", "--label-path", "labels.txt"), "class 'x' is not an integer")
    Path("labels.txt").write_text("0 3\n1 12\n2 1\n")
    fails(invoke(runner, "eval", "--label-path", "labels.txt"), "class 12 is out of range 0..9")
    Path("labels.txt").write_text("0 3\n1 2\n0 1\n")
    fails(invoke(runner, "eval", "--label-path", "labels.txt"), "stem '0' is listed twice")
    Path("labels.txt").write_text("0 3\n1 2\n2 1\n")
    ok(invoke(runner, "eval", "--label-path", "labels.txt"))
    np.zeros(11, np.float32).tofile(workdir / "result" / "onnxruntime" / "result_bs4" / "1_0.bin")
    fails(invoke(runner, "eval", "--bs", "4", "--label-path", "labels.txt"), "holds 11 floats")
    from bitcli.backends.onnxrt import OnnxRuntimeBackend

    monkeypatch.setattr(OnnxRuntimeBackend, "available", classmethod(lambda cls, context=None: "onnxruntime is not installed"))
    fails(invoke(runner, "infer", "--backend", "onnxruntime"), "onnxruntime is not installed")
