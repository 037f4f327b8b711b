"""`bit atc` under the one provenance rule: a rerun changes nothing, an edited .om is rebuilt, a user's .om is kept."""

from __future__ import annotations

import json
from pathlib import Path

from bit_testlib import invoke
from standin_helpers import make_onnx


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "w"
    for bs in (1, 2):
        make_onnx(work / f"bit_bs{bs}_sim.onnx", bs)
    return work


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _atc(runner, work, profile, *extra):
    return invoke(runner, "atc", "--bs", "1,2", "--chip", "310P3", "-p", str(profile), "-w", str(work), "--json", *extra)


def test_atc_twice_is_up_to_date_and_changes_nothing(runner, standins, tmp_path, tiny_profile):
    work = _work(tmp_path)
    first = _atc(runner, work, tiny_profile)
    assert first.exit_code == 0, first.output
    assert [r["status"] for r in json.loads(first.stdout)["results"]] == ["done", "done"]
    before = _snapshot(work)
    again = _atc(runner, work, tiny_profile)
    assert again.exit_code == 0 and [r["status"] for r in json.loads(again.stdout)["results"]] == ["up to date"] * 2
    assert _snapshot(work) == before  # bytes and mtimes


def test_an_edited_om_is_rebuilt_and_says_why(runner, standins, tmp_path, tiny_profile):
    work = _work(tmp_path)
    assert _atc(runner, work, tiny_profile).exit_code == 0
    good = (work / "bit_bs2.om").read_bytes()
    (work / "bit_bs2.om").write_bytes(b"truncated")
    rows = {r["bs"]: r for r in json.loads(_atc(runner, work, tiny_profile).stdout)["results"]}
    assert rows[1]["status"] == "up to date"
    assert rows[2]["status"] == "done" and rows[2]["reason"] == "bit_bs2.om changed since it was written"
    assert (work / "bit_bs2.om").read_bytes() == good
    make_onnx(work / "bit_bs1_sim.onnx", 1, opset=12)  # a new simplified model: its .om is stale
    rows = {r["bs"]: r for r in json.loads(_atc(runner, work, tiny_profile).stdout)["results"]}
    assert rows[1]["reason"] == "bit_bs1_sim.onnx changed after bit_bs1.om was made"


def test_an_om_bit_did_not_write_is_never_overwritten(runner, standins, tmp_path, tiny_profile):
    work = _work(tmp_path)
    (work / "bit_bs1.om").write_bytes(b"the user's own model, converted by hand")
    result = invoke(runner, "atc", "--bs", "1", "--chip", "310P3", "-p", str(tiny_profile), "-w", str(work))
    assert result.exit_code == 1 and "was not written by bit" in result.stderr and "Traceback" not in result.output
    assert (work / "bit_bs1.om").read_bytes() == b"the user's own model, converted by hand"


def _plan(runner, work, profile):
    result = invoke(runner, "all", "--bs", "1,2", "--dry-run", "--json", "-p", str(profile), "-w", str(work))
    assert result.exit_code == 0, result.output[-2000:]
    return {(s["step"], s["bs"]): s["reason"] for s in json.loads(result.stdout)["results"]}


def test_bit_all_on_ascend_does_what_its_dry_run_said(runner, standins, tmp_path):
    profile = tmp_path / "bit.yaml"
    profile.write_text("model: {image_size: 32, weights: random}\ndataset: {synthetic: 8}\nbackend: ascend\n"
                       "bench: {loop: 2, warmup: 1}\n")
    work = tmp_path / "w"
    first = _plan(runner, work, profile)
    assert not work.exists() and all(first.values()) and ("atc", 2) in first
    assert invoke(runner, "all", "--bs", "1,2", "-p", str(profile), "-w", str(work)).exit_code == 0
    (work / "bit_bs1.om").write_bytes(b"damaged")
    plan = _plan(runner, work, profile)
    assert {k: r for k, r in plan.items() if r} == {
        ("atc", 1): "bit_bs1.om changed since it was written", ("infer", 1): "atc bs 1 runs first",
        ("eval", 1): "infer bs 1 runs first", ("bench", 1): "atc bs 1 runs first"}
    result = invoke(runner, "all", "--bs", "1,2", "--json", "-p", str(profile), "-w", str(work))
    assert result.exit_code == 0, result.output[-2000:]
    done = {(s["step"], s["bs"]) for s in json.loads(result.stdout)["steps"] if s["status"] == "done"}
    assert done == {k for k, r in plan.items() if r}
