"""`bit all`: end to end on the demo inputs, skip logic, failures per batch size, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bit_testlib import ctrl_c_as_in_a_terminal, invoke

SMALL = "model: {image_size: 32}\nbench: {loop: 3, warmup: 1}\n"  # fully convolutional: 32 px keeps tests fast


def _profile(folder: Path, extra: str = "") -> Path:
    path = folder / "small.yaml"
    path.write_text(SMALL + extra)
    return path


def _report(workdir: Path) -> dict:
    return json.loads((workdir / "report.json").read_text())


def _statuses(report: dict) -> dict[tuple[str, int | None], str]:
    return {(s["step"], s["bs"]): s["status"] for s in report["steps"]}


def _stable(report: dict) -> list[dict]:
    """The rows without timings (what must not change between equivalent runs)."""
    keep = ("bs", "status", "samples", "topk", "artifacts_sha256")
    return [{k: row[k] for k in keep} for row in report["results"]]


def _copy_of(work: Path, target: Path) -> Path:
    """A private copy of the shared run (mtimes kept, so its steps stay up to date): a test that runs
    `bit all` again must not change what the other tests read, whatever their order."""
    import shutil

    shutil.copytree(work, target)
    return target


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One `bit all --demo` run at 32 px on 12 synthetic images, bs 1 and 4; tests only read it."""
    folder = tmp_path_factory.mktemp("all")
    profile = _profile(folder)
    work = folder / "work"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIT_")}
    proc = subprocess.run(
        [sys.executable, "-m", "bitcli", "all", "--demo", "--bs", "1,4", "--limit", "12", "-w", str(work), "-p", str(profile)],
        capture_output=True, text=True, cwd=folder, env={**env, "COLUMNS": "200"}, timeout=600,
    )
    return folder, profile, work, proc


def test_demo_end_to_end_report(demo_run):
    folder, _, work, proc = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = _report(work)
    assert report["demo"] is True and "accuracy is meaningless; throughput is real" in report["notice"]
    assert report["backend"] == "onnxruntime" and report["weights"]["random"] is True
    assert report["dataset"]["synthetic"] is True and report["dataset"]["samples"] == 12
    assert report["dataset"]["path"].endswith("synthetic-cifar10")
    assert report["weights"]["digest"] == "random:seed=0" and report["weights"]["format"] == "random"
    assert report["versions"]["onnxruntime"] and report["host"]["python"]
    rows = {r["bs"]: r for r in report["results"]}
    assert set(rows) == {1, 4}
    for row in rows.values():
        assert row["status"] == "ok" and row["samples"] == 12
        assert 0 <= row["topk"]["1"] <= row["topk"]["5"] <= 1
        assert row["throughput"] > 0 and row["latency_ms"]["percentile(99%)"] >= row["latency_ms"]["median"] > 0
        assert len(row["artifacts_sha256"]["sim_onnx"]) == 64
    assert rows[1]["topk"] == rows[4]["topk"]  # the same model on the same images, whatever the batch size
    assert rows[1]["reference_310p3_throughput"] == 537.29
    # every output says demo
    assert "demo: synthetic data, random weights" in proc.stdout
    assert "[demo] data" in proc.stderr and "Not an Ascend run" in proc.stdout
    md = (work / "report.md").read_text()
    assert "demo: synthetic data, random weights" in md and "| onnxruntime (not Ascend) | 4 | synthetic (demo), 12 images |" in md
    assert (work / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_accuracy_in_report_matches_the_outputs(demo_run):
    import numpy as np

    _, _, work, _ = demo_run
    labels = [int(x) for x in (work / "label.txt").read_text().split()]
    logits = np.stack([np.fromfile(work / "result" / "onnxruntime" / "result_bs4" / f"{i}_0.bin", dtype=np.float32) for i in range(12)])
    top1 = float(np.mean(logits.argmax(1) == np.array(labels)))
    assert _report(work)["results"][1]["topk"]["1"] == pytest.approx(top1)


def test_second_run_is_up_to_date_and_new_bs_adds_only_its_rows(demo_run, tmp_path):
    folder, profile, original, first = demo_run
    assert first.returncode == 0
    work = _copy_of(original, tmp_path / "copy")
    before = _report(work)
    again = subprocess.run([sys.executable, "-m", "bitcli", "all", "--demo", "--bs", "1,4", "--limit", "12", "-w", str(work),
                            "-p", str(profile), "--json"], capture_output=True, text=True, cwd=folder, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    report = json.loads(again.stdout)  # --json prints report.json, with the run's status, and nothing else
    assert report.pop("status") == "up to date"
    assert report == _report(work)
    assert set(_statuses(report).values()) == {"up to date"}
    assert _stable(report) == _stable(before)
    more = subprocess.run([sys.executable, "-m", "bitcli", "all", "--demo", "--bs", "1,2,4", "--limit", "12", "-w", str(work),
                           "-p", str(profile), "--json"], capture_output=True, text=True, cwd=folder, timeout=600)
    assert more.returncode == 0, more.stderr[-2000:]
    statuses = _statuses(json.loads(more.stdout))
    assert {s for (step, bs), s in statuses.items() if bs == 2} == {"done"}
    assert {s for (step, bs), s in statuses.items() if bs != 2} == {"up to date"}
    assert [r["bs"] for r in json.loads(more.stdout)["results"]] == [1, 2, 4]


def test_new_weights_rerun_export_and_everything_after(demo_run, runner, tmp_path):
    folder, _, original, first = demo_run
    assert first.returncode == 0
    work = _copy_of(original, tmp_path / "copy")
    reseeded = tmp_path / "seed7.yaml"
    reseeded.write_text("model: {image_size: 32, seed: 7}\nbench: {loop: 3, warmup: 1}\n")
    result = invoke(runner, "all", "--demo", "--bs", "1", "--limit", "12", "-w", str(work), "-p", str(reseeded), "--json")
    assert result.exit_code == 0, result.output[-2000:]
    statuses = _statuses(json.loads(result.stdout))
    assert statuses[("data", None)] == "up to date"
    assert all(statuses[(step, 1)] == "done" for step in ("simplify", "infer", "eval", "bench"))
    assert statuses[("export", None)] == "done"


def test_other_devices_rerun_infer_and_bench(demo_run, runner, tmp_path):
    _, _, original, first = demo_run
    assert first.returncode == 0
    work = _copy_of(original, tmp_path / "copy")
    two = _profile(tmp_path, "ascend: {devices: [0, 1]}\n")
    result = invoke(runner, "all", "--demo", "--bs", "1", "--limit", "12", "-w", str(work), "-p", str(two), "--json")
    assert result.exit_code == 0, result.output[-2000:]
    statuses = _statuses(json.loads(result.stdout))
    assert statuses[("export", None)] == statuses[("simplify", 1)] == "up to date"
    assert statuses[("infer", 1)] == statuses[("bench", 1)] == "done"  # no bench figure from the old device set


def test_a_failing_batch_size_keeps_the_others(runner, tmp_path, monkeypatch):
    from bitcli.errors import BitError
    from bitcli.stages import run_all

    real = run_all.STEP_FUNCTIONS["infer"]

    def infer_failing_bs2(cfg, bs, *rest):
        if bs == 2:
            raise BitError("simulated device failure for bs 2")
        return real(cfg, bs, *rest)

    monkeypatch.setitem(run_all.STEP_FUNCTIONS, "infer", infer_failing_bs2)
    profile = _profile(tmp_path)
    result = invoke(runner, "all", "--demo", "--bs", "1,2", "--limit", "6", "-w", "w", "-p", str(profile))
    assert result.exit_code == 1
    report = _report(tmp_path / "w")
    rows = {r["bs"]: r for r in report["results"]}
    assert rows[1]["status"] == "ok" and rows[1]["throughput"] > 0
    assert rows[2]["status"] == "failed" and "simulated device failure" in rows[2]["reason"]
    assert _statuses(report)[("bench", 2)] == "skipped: bs 2 failed earlier"
    assert "simulated device failure for bs 2" in result.stdout  # the row says why


@pytest.mark.parametrize("args, fragment", [
    (["--only", "infr"], "did you mean 'infer'"),
    (["--from", "bench", "--only", "eval"], "--from and --only"),
])
def test_bad_step_names(runner, args, fragment):
    result = invoke(runner, "all", "--demo", *args)
    assert result.exit_code == 2 and fragment in result.stderr  # a bad flag value: usage error and "Traceback" not in result.output


def test_only_reruns_just_that_step(demo_run, runner, tmp_path):
    _, profile, original, first = demo_run
    assert first.returncode == 0
    work = _copy_of(original, tmp_path / "copy")
    result = invoke(runner, "all", "--demo", "--bs", "1,4", "--limit", "12", "-w", str(work), "-p", str(profile),
                    "--only", "eval", "--force", "--json")
    assert result.exit_code == 0, result.output[-2000:]
    report = json.loads(result.stdout)
    assert {step for step, _ in _statuses(report)} == {"eval"}
    assert all(r["throughput"] for r in report["results"])  # bench figures still read back from disk


def test_nan_outputs_fail_the_infer_step_itself(demo_run, runner, tmp_path):
    """A model computing NaN: the infer row fails with the count (not 'done', then an eval error), and
    nothing downstream treats its outputs as up to date."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    _, profile, original, first = demo_run
    assert first.returncode == 0
    work = _copy_of(original, tmp_path / "copy")
    model = onnx.load(str(work / "bit_bs1_sim.onnx"))
    head = [t for t in model.graph.initializer if numpy_helper.to_array(t).shape == (10,)][0]  # the head's bias
    head.CopyFrom(numpy_helper.from_array(np.full(10, np.nan, dtype=np.float32), head.name))
    onnx.save(model, str(work / "bit_bs1_sim.onnx"))
    result = invoke(runner, "all", "--demo", "--bs", "1", "--limit", "12", "-w", str(work), "-p", str(profile),
                    "--only", "infer,eval", "--force", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    steps = {(s["step"], s["bs"]): s for s in report["steps"]}
    assert steps[("infer", 1)]["status"] == "failed"
    assert "12 of 12 outputs hold NaN/inf (first: 0_0.bin, 1_0.bin, 2_0.bin)" in steps[("infer", 1)]["detail"]
    row = {r["bs"]: r for r in report["results"]}[1]
    assert row["status"] != "ok" and not (work / "result" / "onnxruntime" / "result_bs1.json").exists()


def test_interrupted_run_resumes_to_the_same_report(demo_run, tmp_path):
    folder, profile, work, first = demo_run
    assert first.returncode == 0
    target = tmp_path / "w"
    argv = [sys.executable, "-m", "bitcli", "all", "--demo", "--bs", "1,4", "--limit", "12", "-w", str(target), "-p", str(profile)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
                            start_new_session=True, preexec_fn=ctrl_c_as_in_a_terminal)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # wait until inference has begun
        if (target / "result").exists():
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not (target / "report.json").exists()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    resumed = _report(target)
    assert _statuses(resumed)[("data", None)] == "up to date"
    assert _stable(resumed) == _stable(_report(work))
