"""Issue 14's "wrong number with exit 0" cases across commands: every figure shown belongs to this run.

* A failed row shows no figure ("—" / null), never an earlier run's, and keeps its reason and fix
  in the table, report.md and report.json.
* ``bit bench`` merges its rows into bench.json per (backend, bs): it never wipes another backend's
  rows or another batch size's.
* A subset says so: the data-set line gives the count unless it is the whole test set; synthetic
  data is always marked; path and synthetic flag come from the data manifest alone.
* ``bit eval`` (and ``bit all --only eval``) refuses outputs computed from other data than the
  current dataset_bin, even with the same count; a folder with no record is scored with a note.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bit_testlib import invoke

SMALL = "model: {image_size: 32}\nbench: {loop: 3, warmup: 1}\n"
OOM = "simulated: out of device memory at bs 4"
FIX = "use a smaller batch size (--bs 1)"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One in-process `bit all --demo` at 32 px on 6 images, bs 1 and 4 (tests copy it before changing it)."""
    from typer.testing import CliRunner

    folder = tmp_path_factory.mktemp("truth")
    (folder / "small.yaml").write_text(SMALL)
    work = folder / "work"
    mp = pytest.MonkeyPatch()
    mp.setenv("COLUMNS", "160")
    try:
        result = invoke(CliRunner(), "all", "--demo", "--bs", "1,4", "--limit", "6", "-w", str(work),
                        "-p", str(folder / "small.yaml"))
    finally:
        mp.undo()
    assert result.exit_code == 0, result.output[-3000:]
    return folder, work


def _copy(first_run, target: Path) -> tuple[Path, Path]:
    folder, work = first_run
    shutil.copytree(work, target / "work")
    return folder / "small.yaml", target / "work"


def _rows(work: Path) -> dict[int, dict]:
    return {r["bs"]: r for r in json.loads((work / "report.json").read_text())["results"]}


def _fail_bench_at_bs4(monkeypatch) -> None:
    """bench_one raises a BitError with a fix for bs 4 (as a backend's out-of-memory would)."""
    from bitcli.errors import BitError
    from bitcli.stages import bench

    real = bench.bench_one

    def failing(backend, bs, warmup, loop):
        if bs == 4:
            raise BitError(OOM, hint=FIX)
        return real(backend, bs, warmup, loop)

    monkeypatch.setattr(bench, "bench_one", failing)


def test_a_failed_bench_row_shows_no_earlier_figure_and_keeps_reason_and_fix(first_run, runner, tmp_path, monkeypatch):
    profile, work = _copy(first_run, tmp_path)
    before = _rows(work)[4]
    old_tput, old_top1 = before["throughput"], before["topk"]["1"]
    assert before["status"] == "ok" and old_tput > 0
    _fail_bench_at_bs4(monkeypatch)
    result = invoke(runner, "all", "--demo", "--bs", "1,4", "--limit", "6", "-w", str(work), "-p", str(profile),
                    "--only", "bench", "--force")
    assert result.exit_code == 1, result.output[-2000:]
    # report.json: null figures, the reason and the fix
    row = _rows(work)[4]
    assert row["status"] == "failed" and OOM in row["reason"] and row["hint"] == FIX
    assert row["throughput"] is None and row["topk"] is None and row["latency_ms"] is None
    assert _rows(work)[1]["status"] == "ok" and _rows(work)[1]["throughput"] > 0  # bs 1 untouched
    # report.md: no old figure, a failure mark, the reason and the fix
    md_row = next(line for line in (work / "report.md").read_text().splitlines()
                  if line.count("|") > 3 and line.split("|")[2].strip() == "4")
    assert f"{old_tput:.2f}" not in md_row and f"{old_top1:.2%}" not in md_row
    assert "**failed**" in md_row and OOM in md_row and FIX in md_row
    assert md_row.count("—") >= 2  # accuracy and throughput cells
    # the terminal table: no old figure beside "failed", the reason and the fix
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.count("│") > 3 and line.split("│")[2].strip() == "4")
    table_row = " ".join(lines[at:at + 3])  # the row and its wrapped reason
    assert f"{old_tput:,.2f}" not in table_row and f"{old_top1:.2%}" not in table_row
    assert "failed" in table_row and "out of device memory" in table_row and "--bs 1" in table_row


def test_bit_bench_failed_row_keeps_its_fix(first_run, runner, tmp_path, monkeypatch):
    profile, work = _copy(first_run, tmp_path)
    _fail_bench_at_bs4(monkeypatch)
    result = invoke(runner, "bench", "--bs", "1,4", "-w", str(work), "-p", str(profile), "--json")
    assert result.exit_code == 1
    rows = {r["bs"]: r for r in json.loads(result.stdout)["results"]}
    assert rows[4]["throughput"] is None and rows[4]["reason"] == OOM and rows[4]["hint"] == FIX
    table = invoke(runner, "bench", "--bs", "4", "-w", str(work), "-p", str(profile))
    assert table.exit_code == 1 and "fix: use a smaller batch size" in table.stdout


# --------------------------------------------------------------------------- bench never wipes


def _bench_doc(work: Path) -> dict:
    return json.loads((work / "bench.json").read_text())


def test_a_failed_bench_of_another_backend_keeps_the_earlier_rows(first_run, runner, tmp_path, monkeypatch):
    """The issue's case: a failed `bit bench --backend torch` wiped the onnxruntime figures from bench.json."""
    from bitcli.errors import BitError
    from bitcli.stages import bench

    profile, work = _copy(first_run, tmp_path)
    ort = invoke(runner, "bench", "--bs", "1,4", "--backend", "onnxruntime", "-w", str(work), "-p", str(profile), "--json")
    assert ort.exit_code == 0, ort.output[-2000:]
    ort_rows = json.loads(ort.stdout)["results"]

    def torch_fails(backend, bs, warmup, loop):
        raise BitError("simulated: torch could not load the weights", hint="pass --weights")

    monkeypatch.setattr(bench, "bench_one", torch_fails)
    failed = invoke(runner, "bench", "--bs", "1,4", "--backend", "torch", "-w", str(work), "-p", str(profile), "--json")
    assert failed.exit_code == 1
    doc = _bench_doc(work)
    assert doc["backend"] == "torch" and [r["status"] for r in doc["results"]] == ["failed", "failed"]
    kept = doc["other_backends"]["onnxruntime"]
    assert kept["results"] == ort_rows  # the same figures, untouched
    assert [r["throughput"] for r in kept["results"]] == [r["throughput"] for r in ort_rows]
    assert all(r["throughput"] > 0 for r in kept["results"])


def test_a_bench_for_bs4_keeps_the_bs1_row(first_run, runner, tmp_path):
    profile, work = _copy(first_run, tmp_path)
    one = invoke(runner, "bench", "--bs", "1", "-w", str(work), "-p", str(profile), "--json")
    assert one.exit_code == 0, one.output[-2000:]
    bs1 = json.loads(one.stdout)["results"][0]
    four = invoke(runner, "bench", "--bs", "4", "-w", str(work), "-p", str(profile), "--json")
    assert four.exit_code == 0, four.output[-2000:]
    assert [r["bs"] for r in json.loads(four.stdout)["results"]] == [4]  # stdout: this run only
    doc = _bench_doc(work)
    assert [r["bs"] for r in doc["results"]] == [1, 4]
    assert doc["results"][0] == bs1  # same device, loop and warmup: the row as it was written


def test_merge_tags_rows_measured_with_other_settings():
    from bitcli.stages.bench import merge_bench_json

    old = {"backend": "onnxruntime", "device": "cpu", "loop": 50, "warmup": 5,
           "results": [{"bs": 1, "throughput": 10.0, "status": "ok"}, {"bs": 4, "throughput": 30.0, "status": "ok"}]}
    new = {"backend": "onnxruntime", "device": "cpu", "loop": 3, "warmup": 1,
           "results": [{"bs": 4, "throughput": None, "status": "failed", "reason": "x"}]}
    merged = merge_bench_json(old, new)
    assert merged["results"] == [{"bs": 1, "throughput": 10.0, "status": "ok", "loop": 50, "warmup": 5},
                                 {"bs": 4, "throughput": None, "status": "failed", "reason": "x"}]
    assert "other_backends" not in merged
    assert merge_bench_json(None, new) == new


# --------------------------------------------------------------------------- a subset says so


def _table_and_md_and_json(stdout: str, work: Path) -> tuple[str, str, dict]:
    return stdout, (work / "report.md").read_text(), json.loads((work / "report.json").read_text())


def test_a_real_subset_gives_its_count_everywhere(runner, tmp_path, cifar_dir):
    """The issue's case: `bit all --limit 64` said "CIFAR-10" in the table and report.md (top-5 100.00%)."""
    (tmp_path / "small.yaml").write_text(SMALL)
    result = invoke(runner, "all", "--dataset-path", str(cifar_dir), "--weights", "random", "--bs", "1", "--limit", "8",
                    "-w", "w", "-p", str(tmp_path / "small.yaml"))
    assert result.exit_code == 0, result.output[-3000:]
    table, md, report = _table_and_md_and_json(result.stdout, tmp_path / "w")
    line = "CIFAR-10 test, 8 of 10,000 images"
    assert report["dataset"]["label"] == line and report["dataset"]["samples"] == 8
    assert report["dataset"]["synthetic"] is False and report["dataset"]["path"] == str(cifar_dir.resolve())
    assert f"| 1 | {line} |" in md
    assert line in " ".join(table.split())  # the table cell (rich may pad it)


def test_synthetic_data_is_always_marked_with_its_count(first_run):
    folder, work = first_run
    report = json.loads((work / "report.json").read_text())
    assert report["dataset"]["label"] == "synthetic (demo), 6 images" and report["dataset"]["synthetic"] is True
    assert "| 4 | synthetic (demo), 6 images |" in (work / "report.md").read_text()


@pytest.mark.parametrize("samples, synthetic, label", [
    (10_000, False, "CIFAR-10 test"),
    (64, False, "CIFAR-10 test, 64 of 10,000 images"),
    (9_999, False, "CIFAR-10 test, 9,999 of 10,000 images"),
    (64, True, "synthetic (demo), 64 images"),
    (10_000, True, "synthetic (demo), 10,000 images"),
])
def test_dataset_label(samples, synthetic, label):
    from bitcli.report_rows import dataset_label

    assert dataset_label({"samples": samples, "synthetic": synthetic}) == label


def test_path_and_synthetic_flag_come_from_the_manifest_alone():
    """Settings naming the real CIFAR folder cannot contradict a manifest that says synthetic."""
    from bitcli.report_rows import dataset_record

    settings = {"dataset.synthetic": 0, "dataset.path": "/data/cifar10"}  # would be read only without a manifest
    manifest = {"synthetic": True, "count": 64, "source_path": "/w/synthetic-cifar10", "source_total": 64}
    record = dataset_record(settings, manifest)
    assert record["path"] == "/w/synthetic-cifar10" and record["synthetic"] is True
    assert record["label"] == "synthetic (demo), 64 images"


# --------------------------------------------------------------------------- scored against the right labels


def _replace_data_same_count(runner, work: Path, profile: Path, cifar_dir: Path) -> None:
    """6 synthetic images → 6 real ones: same count, other content (and other labels)."""
    before = (work / "label.txt").read_text()
    result = invoke(runner, "data", "--dataset-path", str(cifar_dir), "--limit", "6", "-w", str(work), "-p", str(profile))
    assert result.exit_code == 0, result.output[-2000:]
    assert len((work / "label.txt").read_text().splitlines()) == 6 and (work / "label.txt").read_text() != before


def test_eval_refuses_outputs_of_other_data_with_the_same_count(first_run, runner, tmp_path, cifar_dir):
    """The issue's case: after the data changed under the outputs, eval scored them with status ok."""
    profile, work = _copy(first_run, tmp_path)
    _replace_data_same_count(runner, work, profile, cifar_dir)
    result = invoke(runner, "eval", "--bs", "1", "-w", str(work), "-p", str(profile))
    assert result.exit_code == 1, result.output[-2000:]
    assert "outputs were made from other data than dataset_bin" in result.stderr
    assert "bit infer --force --bs 1" in result.stderr and "top-1" not in result.stdout
    # bit all --only eval: the row fails with the reason and the fix, and shows no figure
    every = invoke(runner, "all", "--bs", "1", "-w", str(work), "-p", str(profile), "--only", "eval",
                   "--weights", "random", "--dataset-path", str(cifar_dir), "--limit", "6")
    assert every.exit_code == 1
    row = _rows(work)[1]
    assert row["status"] == "failed" and "made from other data" in row["reason"]
    assert "bit infer --force --bs 1" in row["hint"] and row["topk"] is None
    # the fix the message names works
    fixed = invoke(runner, "infer", "--force", "--bs", "1", "-w", str(work), "-p", str(profile))
    assert fixed.exit_code == 0, fixed.output[-2000:]
    again = invoke(runner, "eval", "--bs", "1", "-w", str(work), "-p", str(profile))
    assert again.exit_code == 0 and "provenance" not in again.stderr


def test_a_result_folder_without_a_record_is_scored_with_a_note(first_run, runner, tmp_path):
    profile, work = _copy(first_run, tmp_path)
    summary = work / "result" / "onnxruntime" / "result_bs1_summary.json"
    doc = json.loads(summary.read_text())
    assert len(doc.pop("data_sha256")) == 64  # bit infer recorded it
    summary.write_text(json.dumps(doc))  # as ais_bench (or an older bit) writes it
    result = invoke(runner, "eval", "--bs", "1", "-w", str(work), "-p", str(profile))
    assert result.exit_code == 0, result.output[-2000:]
    assert "provenance unknown" in result.stderr and "top-1" in result.stdout


def test_eval_of_the_data_it_was_made_from_has_no_note(first_run, runner, tmp_path):
    profile, work = _copy(first_run, tmp_path)
    result = invoke(runner, "eval", "--bs", "1,4", "-w", str(work), "-p", str(profile))
    assert result.exit_code == 0, result.output[-2000:]
    assert "provenance" not in result.stderr and "other data" not in result.stderr
