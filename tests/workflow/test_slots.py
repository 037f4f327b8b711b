"""Issue 14 §2–§4: results per backend and precision, one bench record, reruns "up to date", adopting models.

One standalone chain (data → export → simplify → infer → eval → bench) on 16 real CIFAR-10 test
images at 32 px, random weights, bs 1 and 2, is made once; each test works on its own copy.
Figures are checked against bench.json / the accuracy records / the raw outputs read here with
json and numpy, never against the code's own rendering of them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from bit_testlib import CIFAR_DIR, invoke

SMALL = "model: {image_size: 32, weights: random}\nbench: {loop: 2, warmup: 1}\n"
CHAIN = (("data", "--dataset-path", str(CIFAR_DIR), "--limit", "16"), ("export",), ("simplify", "--bs", "1,2"),
         ("infer", "--bs", "1,2"), ("eval", "--bs", "1,2"), ("bench", "--bs", "1,2"))
ALL = ("all", "--bs", "1,2", "--dataset-path", str(CIFAR_DIR), "--limit", "16")


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """The standalone chain, run once in-process (tests copy it before changing it)."""
    from typer.testing import CliRunner

    if not (CIFAR_DIR / "cifar-10-batches-py" / "test_batch").is_file():
        pytest.skip(f"real CIFAR-10 test set absent at {CIFAR_DIR}")
    folder = tmp_path_factory.mktemp("slots")
    (folder / "small.yaml").write_text(SMALL)
    mp = pytest.MonkeyPatch()
    mp.setenv("COLUMNS", "160")
    try:
        for step in CHAIN:
            result = invoke(CliRunner(), *step, "-w", str(folder / "work"), "-p", str(folder / "small.yaml"))
            assert result.exit_code == 0, (step, result.output[-3000:])
    finally:
        mp.undo()
    return folder


def _copy(chain: Path, target: Path) -> tuple[tuple[str, ...], Path]:
    shutil.copytree(chain / "work", target / "work")
    return ("-w", str(target / "work"), "-p", str(chain / "small.yaml")), target / "work"


def _state(work: Path) -> dict[str, tuple[int, int]]:
    """Every file under the workdir with its size and mtime (report files aside)."""
    skip = {"report.json", "report.md", "throughput.png"}
    return {str(p.relative_to(work)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(work.rglob("*")) if p.is_file() and p.name not in skip and ".lock" not in p.name}


def _bench_rows(work: Path) -> dict[tuple[str, str, int], dict]:
    """bench.json read by hand: (backend, precision, bs) → row, over the top document and other_backends."""
    doc = json.loads((work / "bench.json").read_text())
    docs = [doc] + list((doc.get("other_backends") or {}).values())
    return {(d["backend"], d.get("precision", "fp32"), r["bs"]): r for d in docs for r in d["results"]}


def _report_rows(work: Path) -> dict[tuple[str, int], dict]:
    return {(r["backend"], r["bs"]): r for r in json.loads((work / "report.json").read_text())["results"]}


def _steps(work: Path) -> dict[tuple[str, int | None], str]:
    return {(s["step"], s["bs"]): s["status"] for s in json.loads((work / "report.json").read_text())["steps"]}


# --------------------------------------------------------------------------- the standalone chain, then bit all


def test_the_chain_writes_results_per_backend(chain):
    work = chain / "work"
    for bs in (1, 2):
        folder = work / "result" / "onnxruntime" / f"result_bs{bs}"
        assert sorted(p.name for p in folder.iterdir()) == sorted(f"{i}_0.bin" for i in range(16))
        summary = json.loads((folder.parent / f"result_bs{bs}_summary.json").read_text())
        assert summary["backend"] == "onnxruntime" and summary["precision"] == "fp32"
        assert summary["model_sha256"] == _sha256(work / f"bit_bs{bs}_sim.onnx") and summary["weights"] == "random"
        assert "on " in summary["device"]  # the CPU model beside the provider
    assert not (work / "result" / "result_bs1").exists() and not (work / "bench").exists()


def test_chain_then_bit_all_only_infer_eval_is_up_to_date_and_reuses_the_figures(chain, runner, tmp_path):
    args, work = _copy(chain, tmp_path)
    before = _state(work)
    result = invoke(runner, *ALL, "--only", "infer,eval", *args)
    assert result.exit_code == 0, result.output[-3000:]
    steps = _steps(work)
    assert all(steps[(step, bs)] == "up to date" for step in ("infer", "eval") for bs in (1, 2)), steps
    assert _state(work) == before  # nothing computed, nothing rewritten
    bench, rows = _bench_rows(work), _report_rows(work)
    for bs in (1, 2):
        accuracy = json.loads((work / "result" / "onnxruntime" / f"result_bs{bs}_accuracy.json").read_text())
        row = rows[("onnxruntime", bs)]
        assert row["status"] == "ok" and row["topk"] == accuracy["topk"] and row["samples"] == 16
        assert row["throughput"] == bench[("onnxruntime", "fp32", bs)]["throughput"] > 0
        assert row["model_sha256"] == _sha256(work / f"bit_bs{bs}_sim.onnx")
        assert row["precision"] == "fp32" and row["weights"] == "random" and row["device"]
    plain = invoke(runner, *ALL, *args)  # the whole flow: every step up to date, exit 0
    assert plain.exit_code == 0, plain.output[-3000:]
    assert set(_steps(work).values()) == {"up to date"}, _steps(work)
    assert _state(work) == before


def test_each_command_twice_says_up_to_date_and_changes_nothing(chain, runner, tmp_path):
    args, work = _copy(chain, tmp_path)
    before = _state(work)
    for command in ("infer", "eval", "bench"):
        result = invoke(runner, command, "--bs", "1,2", *args)
        assert result.exit_code == 0, (command, result.output[-2000:])
        assert "up to date" in " ".join((result.stdout + result.stderr).split()), command
    assert _state(work) == before
    figures = invoke(runner, "bench", "--bs", "1,2", "--json", *args)
    doc = json.loads(figures.stdout)
    assert [r["run"] for r in doc["results"]] == ["up to date", "up to date"]
    assert [r["throughput"] for r in doc["results"]] == [_bench_rows(work)[("onnxruntime", "fp32", b)]["throughput"]
                                                         for b in (1, 2)]
    forced = invoke(runner, "infer", "--bs", "1", "--force", *args)  # --force redoes the work
    assert forced.exit_code == 0
    assert _state(work)["result/onnxruntime/result_bs1_summary.json"] != before["result/onnxruntime/result_bs1_summary.json"]


# --------------------------------------------------------------------------- two backends side by side


def test_two_backends_two_rows_neither_overwritten(chain, runner, tmp_path):
    args, work = _copy(chain, tmp_path)
    ort_files = {k: v for k, v in _state(work).items() if k.startswith("result/onnxruntime/")}
    ort_bench = _bench_rows(work)[("onnxruntime", "fp32", 1)]
    for step in (("infer", "--limit", "4"), ("eval", "--limit", "4"), ("bench",)):
        result = invoke(runner, step[0], "--bs", "1", "--backend", "torch", *step[1:], *args)
        assert result.exit_code == 0, (step, result.output[-2000:])
    torch_dir = work / "result" / "torch" / "result_bs1"
    assert sorted(p.name for p in torch_dir.iterdir()) == [f"{i}_0.bin" for i in range(4)]
    assert {k: v for k, v in _state(work).items() if k.startswith("result/onnxruntime/")} == ort_files
    rows = _bench_rows(work)
    assert rows[("onnxruntime", "fp32", 1)] == ort_bench  # the same row, untouched
    assert rows[("torch", "fp32", 1)]["throughput"] > 0 and rows[("torch", "fp32", 1)]["model_sha256"] == "random:seed=0:BiT-M-R50x1"
    report = invoke(runner, *ALL, "--only", "eval", *args)
    assert report.exit_code == 0, report.output[-3000:]
    both = _report_rows(work)
    assert both[("onnxruntime", 1)]["throughput"] == ort_bench["throughput"]
    assert both[("torch", 1)]["throughput"] == rows[("torch", "fp32", 1)]["throughput"]
    assert both[("torch", 1)]["samples"] == 4 and both[("onnxruntime", 1)]["samples"] == 16
    shown = " ".join(report.stdout.split())
    assert "torch fp32" in shown and "onnxruntime fp32" in shown
    assert f"bs 1 bit_bs1_sim.onnx ({_sha256(work / 'bit_bs1_sim.onnx')[:12]})" in shown  # each row's model, by sha256
    assert "bs 1 random (random:seed=0)" in shown
    md = (work / "report.md").read_text()
    assert "| torch | fp32 |" in md and "| onnxruntime | fp32 |" in md


def test_eval_limit_scores_the_first_n_without_rewriting_dataset_bin(chain, runner, tmp_path):
    args, work = _copy(chain, tmp_path)
    data_before = {k: v for k, v in _state(work).items() if k.startswith("dataset_bin/") or k == "label.txt"}
    assert invoke(runner, "infer", "--bs", "2", "--limit", "5", "--force", *args).exit_code == 0
    refused = invoke(runner, "eval", "--bs", "2", *args)
    assert refused.exit_code == 1 and "bit eval --limit 5" in " ".join(refused.stderr.split())
    result = invoke(runner, "eval", "--bs", "2", "--limit", "5", "--json", *args)
    assert result.exit_code == 0, result.output[-2000:]
    doc = json.loads(result.stdout)
    labels = [int(x) for x in (work / "label.txt").read_text().split()[:5]]
    folder = work / "result" / "onnxruntime" / "result_bs2"
    logits = np.stack([np.fromfile(folder / f"{i}_0.bin", dtype=np.float32) for i in range(5)])
    assert doc["samples"] == 5
    assert doc["topk"]["1"] == pytest.approx(np.mean(np.argmax(logits, axis=1) == np.array(labels)))
    assert {k: v for k, v in _state(work).items() if k.startswith("dataset_bin/") or k == "label.txt"} == data_before


# --------------------------------------------------------------------------- the old layout, moved once


def _make_old_layout(work: Path) -> None:
    """As an older bit left it: result/result_bs{N} (+ summary, accuracy), bench/bench_bs{N}.json, no bench.json."""
    for name in ("result_bs1", "result_bs1_summary.json", "result_bs1_accuracy.json"):
        (work / "result" / "onnxruntime" / name).rename(work / "result" / name)
    (work / "result" / "onnxruntime" / "result_bs1.json").unlink()  # older standalone infer wrote no sidecar
    (work / "result" / "onnxruntime" / "result_bs1_accuracy.json.json").unlink()
    old_row = _bench_rows(work)[("onnxruntime", "fp32", 1)]
    (work / "bench").mkdir()
    (work / "bench" / "bench_bs1.json").write_text(json.dumps({"device": "old cpu", "bs": 1, "status": "ok",
                                                              "throughput": 12.5, "latency_ms": old_row["latency_ms"]}))
    (work / "bench" / "bench_bs1.json.json").write_text(json.dumps({"backend": "onnxruntime", "model_digest": "x",
                                                                   "loop": 2, "warmup": 1, "devices": [0]}))
    (work / "bench.json").unlink()
    ais = work / "result" / "result_bs2"  # ais_bench's own (its summary names no backend): left in place
    (work / "result" / "onnxruntime" / "result_bs2").rename(ais)
    summary = json.loads((work / "result" / "onnxruntime" / "result_bs2_summary.json").read_text())
    (work / "result" / "result_bs2_summary.json").write_text(json.dumps({k: v for k, v in summary.items()
                                                                         if k in ("filesinfo", "throughput")}))


def test_old_layout_is_moved_once_with_one_message(chain, runner, tmp_path):
    args, work = _copy(chain, tmp_path)
    _make_old_layout(work)
    first = invoke(runner, "eval", "--bs", "1", *args)
    assert first.exit_code == 0, first.output[-2000:]
    said = " ".join(first.stderr.split())
    assert said.count("moved result/result_bs1 → result/onnxruntime/result_bs1") == 1
    assert sorted(p.name for p in (work / "result" / "onnxruntime" / "result_bs1").iterdir())[:2] == ["0_0.bin", "10_0.bin"]
    assert not (work / "result" / "result_bs1").exists() and not (work / "result" / "result_bs1_summary.json").exists()
    assert (work / "result" / "result_bs2").is_dir()  # not bit's: left where it is
    again = invoke(runner, "eval", "--bs", "1", *args)
    assert again.exit_code == 0 and "moved result/" not in again.stderr
    foreign = invoke(runner, "eval", "--output-dir", str(work / "result" / "result_bs2"), "--json", *args)
    assert foreign.exit_code == 0, foreign.output[-2000:]
    assert json.loads(foreign.stdout)["samples"] == 16
    bench = invoke(runner, "bench", "--bs", "2", *args)
    assert bench.exit_code == 0, bench.output[-2000:]
    assert "merged bench/bench_bs1.json into bench.json" in " ".join(bench.stderr.split())
    assert not (work / "bench").exists()
    rows = _bench_rows(work)
    assert rows[("onnxruntime", "fp32", 1)]["throughput"] == 12.5 and rows[("onnxruntime", "fp32", 2)]["throughput"] > 0


# --------------------------------------------------------------------------- model flags


def test_bench_takes_a_model_file_and_refuses_one_om_for_several_bs(chain, runner, tmp_path):
    args, work = _copy(chain, tmp_path)
    model = work / "bit_bs2_sim.onnx"
    result = invoke(runner, "bench", "--bs", "2", "--model", str(model), "--force", "--json", *args)
    assert result.exit_code == 0, result.output[-2000:]
    (row,) = json.loads(result.stdout)["results"]
    assert row["model"] == str(model) and row["model_sha256"] == _sha256(model) and row["run"] == "done"
    om = tmp_path / "x.om"
    om.write_bytes(b"not a real om")
    refused = invoke(runner, "bench", "--bs", "1,2", "--model", str(om), *args)
    assert refused.exit_code == 2 and "is one .om, but --bs 1,2 asks for 2 batch sizes" in " ".join(refused.stderr.split())
    both = invoke(runner, "infer", "--model", str(model), "--model-dir", str(work), *args)
    assert both.exit_code == 2 and "--model and --model-dir both given" in both.stderr


def test_om_dir_needs_the_ascend_backend(chain, runner, tmp_path):
    args, work = _copy(chain, tmp_path)
    result = invoke(runner, *ALL, "--om-dir", str(work), "--backend", "onnxruntime", *args)
    assert result.exit_code == 2 and "--om-dir is for the ascend backend" in result.stderr


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
