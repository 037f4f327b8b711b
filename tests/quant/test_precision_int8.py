"""precision: int8 on the onnxruntime backend: infer/bench refuse a missing model, bit all quantizes and compares."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from bit_testlib import invoke
from tiny_onnx import SIZE, tiny_classifier, tiny_dataset


def _refused_without_int8_model(runner, tmp_path: Path, *flags: str) -> Path:
    """A workdir with an fp32 bs-4 model and no int8 one: infer and bench (with ``flags``) refuse int8."""
    work = tmp_path / "work"
    tiny_dataset(work, 8)
    tiny_classifier(work / "bit_bs4_sim.onnx", bs=4)
    for command in ("infer", "bench"):
        res = invoke(runner, command, "-w", str(work), "--backend", "onnxruntime", "--bs", "4", *flags)
        assert res.exit_code == 1, res.output
        assert "precision int8, bs 4:" in res.output and "bit quantize --bs 4" in res.output
        assert "Traceback" not in res.output
    return work


def test_infer_and_bench_refuse_a_missing_int8_model(tmp_path, runner, monkeypatch):
    monkeypatch.setenv("BIT_PRECISION", "int8")
    work = _refused_without_int8_model(runner, tmp_path)
    res = invoke(runner, "infer", "-w", str(work), "--backend", "torch", "--bs", "4")
    assert res.exit_code == 2 and "precision int8 does not run on the torch backend" in res.output  # a profile/flag conflict
    assert "--backend onnxruntime" in res.output


def test_all_with_int8_quantizes_runs_int8_and_compares(tmp_path):
    profile = tmp_path / "small.yaml"
    profile.write_text("model: {image_size: 32}\nbench: {loop: 2, warmup: 1}\nprecision: int8\n"
                       "quantize: {calib: 8, holdout: 16, method: minmax, min_agreement: 0.0, max_top1_drop: 1.0}\n")
    work = tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIT_")}
    proc = subprocess.run([sys.executable, "-m", "bitcli", "all", "--demo", "--bs", "4", "--limit", "24", "-w", str(work),
                           "-p", str(profile), "--compare", "8", "--json"],
                          capture_output=True, text=True, cwd=tmp_path, env={**env, "COLUMNS": "200"}, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((work / "report.json").read_text())
    steps = {(s["step"], s["bs"]): s["status"] for s in report["steps"]}
    assert steps[("simplify", 4)] == "done" and steps[("quantize", 4)] == "done"
    names = [s["step"] for s in report["steps"]]
    assert names.index("quantize") == names.index("simplify") + 1
    int8 = work / "bit_bs4_int8.onnx"
    assert int8.is_file() and json.loads((work / "bit_bs4_int8.onnx.json").read_text())["bs"] == 4
    cmp = report["compare"]
    assert cmp["status"] == "done" and cmp["samples"] == 8 and cmp["bs"] == 4
    assert str(int8) in cmp["test"] and "sim.onnx" in cmp["ref"] and 0.0 <= cmp["agreement"] <= 1.0
    assert "Compared with fp32 onnxruntime (8 samples, bs 4)" in (work / "report.md").read_text()
    # infer ran the int8 model: its output for sample 0 is what onnxruntime computes from bit_bs4_int8.onnx
    import onnxruntime as ort

    out = next(work.glob("result/**/result_bs4/0_0.bin"))
    batch = np.stack([np.fromfile(work / "dataset_bin" / f"{i}.bin", np.float32).reshape(3, 32, 32) for i in range(4)])
    want = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"]).run(None, {"image": batch})[0][0]
    fp32 = ort.InferenceSession(str(work / "bit_bs4_sim.onnx"), providers=["CPUExecutionProvider"]).run(None, {"image": batch})[0][0]
    got = np.fromfile(out, np.float32)
    assert np.allclose(got, want, atol=1e-5) and not np.allclose(got, fp32, atol=1e-5)


def test_precision_flag_beats_the_environment_and_names_the_slot(tmp_path, runner, monkeypatch):
    monkeypatch.setenv("BIT_PRECISION", "fp32")
    work = _refused_without_int8_model(runner, tmp_path, "--precision", "int8")
    monkeypatch.setenv("BIT_PRECISION", "int8")
    res = invoke(runner, "infer", "-w", str(work), "--backend", "onnxruntime", "--bs", "4", "--precision", "fp32")
    assert res.exit_code == 0, res.output
    assert (work / "result" / "onnxruntime" / "result_bs4").is_dir() and not (work / "result" / "onnxruntime-int8").exists()
    res = invoke(runner, "eval", "-w", str(work), "--backend", "onnxruntime", "--bs", "4")  # env: int8, nothing there
    assert res.exit_code == 1 and "onnxruntime-int8" in res.output
    assert "results exist for onnxruntime: pass --backend onnxruntime" in " ".join(res.output.split())
    (work / "result" / "onnxruntime").rename(work / "result" / "onnxruntime-int8")
    res = invoke(runner, "eval", "-w", str(work), "--backend", "onnxruntime", "--bs", "4", "--precision", "fp32")
    assert res.exit_code == 1
    assert "pass --backend onnxruntime --precision int8" in " ".join(res.output.split())
    bad = invoke(runner, "infer", "-w", str(work), "--backend", "onnxruntime", "--bs", "4", "--precision", "fp16")
    assert bad.exit_code == 2 and "fp32|int8|bf16" in bad.output and "Traceback" not in bad.output
