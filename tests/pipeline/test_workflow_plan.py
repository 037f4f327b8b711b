"""Issue 14 §1 across commands: one provenance rule, the same words on a rerun, `bit status`, `bit all --dry-run`.

* Each of data, export and simplify run twice: "up to date", exit 0, every file's bytes and
  mtime unchanged (atc: tests/ascend/test_ascend_provenance.py).
* The standalone chain data → export → simplify, then `bit all`: those steps are "up to date".
* A corrupted simplified model is not "up to date": `bit simplify` and `bit all` remake it.
* A re-export makes every simplified model stale; `bit all` re-runs what depends on it.
* `bit all --dry-run` writes nothing (not even the workdir) and names exactly the steps the run
  that follows does.
* `bit status` reads only, works on a missing workdir, and says why an artefact is stale.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bit_testlib import invoke

PROFILE = ("model: {{image_size: 32, weights: random, seed: {seed}}}\ndataset: {{synthetic: 16}}\n"
           "backend: onnxruntime\nbench: {{loop: 2, warmup: 1}}\n")
SMALL = PROFILE.format(seed=0)
ALL = ("all", "--bs", "1,2")


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime under ``folder``."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """The standalone chain at 32 px: data (16 synthetic), export (random), simplify bs 1,2."""
    from typer.testing import CliRunner

    folder = tmp_path_factory.mktemp("chain")
    (folder / "small.yaml").write_text(SMALL)
    work, runner = folder / "work", CliRunner()
    mp = pytest.MonkeyPatch()
    mp.setenv("COLUMNS", "160")
    try:
        for args in (("data",), ("export",), ("simplify", "--bs", "1,2")):
            result = invoke(runner, *args, "-w", str(work), "-p", str(folder / "small.yaml"))
            assert result.exit_code == 0, result.output[-3000:]
    finally:
        mp.undo()
    return folder / "small.yaml", work


@pytest.fixture
def work(chain, tmp_path) -> tuple[Path, Path]:
    """A private copy of the chain's workdir (mtimes kept), so a test may change it."""
    profile, original = chain
    shutil.copytree(original, tmp_path / "work")
    return profile, tmp_path / "work"


def _steps(result) -> dict[tuple[str, int | None], dict]:
    return {(s["step"], s["bs"]): s for s in json.loads(result.stdout)["steps"]}


@pytest.mark.parametrize("args, words", [
    (("data",), "up to date: 16 SYNTHETIC"),
    (("export",), "Export — up to date"),
    (("simplify", "--bs", "1,2"), "up to date"),
])
def test_each_step_run_again_is_up_to_date_and_changes_nothing(work, runner, args, words):
    profile, work = work
    before = _snapshot(work)
    again = invoke(runner, *args, "-w", str(work), "-p", str(profile))
    assert again.exit_code == 0, again.output[-2000:]
    assert words in again.stdout and "skipped" not in again.stdout
    assert _snapshot(work) == before  # bytes and mtimes


def test_json_says_up_to_date_in_the_same_words(work, runner):
    profile, work = work
    simplify = invoke(runner, "simplify", "--bs", "1,2", "-w", str(work), "-p", str(profile), "--json")
    assert [r["status"] for r in json.loads(simplify.stdout)["results"]] == ["up to date", "up to date"]
    export = invoke(runner, "export", "-w", str(work), "-p", str(profile), "--json")
    assert json.loads(export.stdout)["status"] == "up to date"
    data = invoke(runner, "data", "-w", str(work), "-p", str(profile), "--json")
    assert json.loads(data.stdout)["status"] == "up to date"


def test_the_standalone_chain_then_all_is_up_to_date_for_its_steps(work, runner):
    profile, work = work
    result = invoke(runner, *ALL, "--only", "data,export,simplify", "-w", str(work), "-p", str(profile), "--json")
    steps = _steps(result)
    assert {k: s["status"] for k, s in steps.items()} == {
        ("data", None): "up to date", ("export", None): "up to date", ("simplify", 1): "up to date",
        ("simplify", 2): "up to date"}
    assert result.exit_code == 1  # only because infer/eval/bench have not run: the rows are incomplete
    assert "steps not run yet" in json.dumps(json.loads(result.stdout)["results"])


def test_a_corrupted_simplified_model_is_remade_by_simplify(work, runner):
    profile, work = work
    (work / "bit_bs2_sim.onnx").write_bytes(b"garbage, same name")
    result = invoke(runner, "simplify", "--bs", "1,2", "-w", str(work), "-p", str(profile), "--json")
    assert result.exit_code == 0, result.output[-2000:]
    rows = {r["bs"]: r for r in json.loads(result.stdout)["results"]}
    assert rows[1]["status"] == "up to date"
    assert rows[2]["status"] == "done" and rows[2]["reason"] == "bit_bs2_sim.onnx changed since it was written"
    import onnx

    onnx.checker.check_model(str(work / "bit_bs2_sim.onnx"))  # a real model again


def test_a_reexport_makes_the_simplified_models_stale(work, runner):
    profile, work = work
    seven = work.parent / "seed7.yaml"
    seven.write_text(PROFILE.format(seed=7))
    export = invoke(runner, "export", "-w", str(work), "-p", str(seven), "--json")
    assert json.loads(export.stdout)["status"] == "done"
    assert json.loads(export.stdout)["reason"] == "the random weights' seed changed after bit.onnx was made"
    status = invoke(runner, "status", "-w", str(work), "--json")
    stale = {r["path"]: r["reason"] for r in json.loads(status.stdout)["results"] if r["state"] == "stale"}
    assert stale == {f"bit_bs{bs}_sim.onnx": f"bit.onnx was re-exported after bit_bs{bs}_sim.onnx was made"
                     for bs in (1, 2)}
    result = invoke(runner, "simplify", "--bs", "1", "-w", str(work), "-p", str(seven), "--json")
    row = json.loads(result.stdout)["results"][0]
    assert row["status"] == "done" and row["reason"] == "bit.onnx was re-exported after bit_bs1_sim.onnx was made"


# --------------------------------------------------------------------------- bit all, its plan, bit status


@pytest.fixture(scope="module")
def ran(chain, tmp_path_factory):
    """The chain's workdir after `bit all --bs 1,2` (every step current)."""
    from typer.testing import CliRunner

    profile, original = chain
    work = tmp_path_factory.mktemp("ran") / "work"
    shutil.copytree(original, work)
    mp = pytest.MonkeyPatch()
    mp.setenv("COLUMNS", "160")
    try:
        result = invoke(CliRunner(), *ALL, "-w", str(work), "-p", str(profile))
    finally:
        mp.undo()
    assert result.exit_code == 0, result.output[-3000:]
    return profile, work


def _copy(ran, tmp_path) -> tuple[Path, Path]:
    profile, original = ran
    shutil.copytree(original, tmp_path / "work")
    return profile, tmp_path / "work"


def _plan(runner, work, profile) -> dict[tuple[str, int | None], str | None]:
    result = invoke(runner, *ALL, "--dry-run", "--json", "-w", str(work), "-p", str(profile))
    assert result.exit_code == 0, result.output[-2000:]
    return {(s["step"], s["bs"]): s["reason"] for s in json.loads(result.stdout)["results"]}


def test_nothing_made_yet_dry_run_and_status_write_nothing(chain, runner, tmp_path):
    profile, _ = chain
    work = tmp_path / "new"
    plan = _plan(runner, work, profile)
    assert all(reason for reason in plan.values()) and len(plan) == 2 + 4 * 2  # data, export; 4 steps × 2 bs
    assert plan[("export", None)] == "bit.onnx does not exist" and plan[("simplify", 1)] == "export runs first"
    status = invoke(runner, "status", "-w", str(work))
    assert status.exit_code == 0 and "does not exist: nothing made yet" in status.stdout
    assert json.loads(invoke(runner, "status", "-w", str(work), "--json").stdout)["results"] == []
    assert not work.exists() and list(tmp_path.iterdir()) == []


def test_the_dry_run_names_exactly_the_steps_the_run_does(work, runner):
    """After the standalone chain, with bs 2's simplified model corrupted: plan, run, compare."""
    profile, work = work
    (work / "bit_bs2_sim.onnx").write_bytes(b"garbage")
    before = _snapshot(work)
    plan = _plan(runner, work, profile)
    assert _snapshot(work) == before  # the dry run wrote nothing
    assert plan[("simplify", 2)] == "bit_bs2_sim.onnx changed since it was written"
    assert plan[("data", None)] is plan[("export", None)] is plan[("simplify", 1)] is None
    result = invoke(runner, *ALL, "--json", "-w", str(work), "-p", str(profile))
    assert result.exit_code == 0, result.output[-2000:]
    steps = _steps(result)
    assert {k for k, s in steps.items() if s["status"] == "done"} == {k for k, r in plan.items() if r}
    assert {k for k, s in steps.items() if s["status"] == "up to date"} == {k for k, r in plan.items() if not r}
    assert all(steps[k].get("reason") == r for k, r in plan.items())
    assert all(r is None for r in _plan(runner, work, profile).values())  # and now all is current


def test_after_bit_all_each_single_command_is_up_to_date(ran, runner, tmp_path):
    profile, work = _copy(ran, tmp_path)
    before = _snapshot(work)
    for args in (("data",), ("export",), ("simplify", "--bs", "1,2")):
        result = invoke(runner, *args, "-w", str(work), "-p", str(profile))
        assert result.exit_code == 0 and "up to date" in result.stdout, result.output[-2000:]
    assert _snapshot(work) == before
    again = invoke(runner, *ALL, "--json", "-w", str(work), "-p", str(profile))
    assert again.exit_code == 0 and {s["status"] for s in _steps(again).values()} == {"up to date"}


def test_a_reexport_reruns_everything_after_it_in_bit_all(ran, runner, tmp_path):
    profile, work = _copy(ran, tmp_path)
    seven = tmp_path / "seed7.yaml"
    seven.write_text(PROFILE.format(seed=7))
    assert invoke(runner, "export", "-w", str(work), "-p", str(seven)).exit_code == 0
    listed = json.loads(invoke(runner, "status", "-w", str(work), "--json").stdout)["results"]
    status = {r["path"]: r for r in listed}
    bench = {r["artifact"]: r for r in listed if r["artifact"].startswith("bench")}  # rows of the one bench.json
    assert status["result/onnxruntime/result_bs2"]["reason"] == "made from bit_bs2_sim.onnx, which is stale"
    assert bench["bench onnxruntime bs1"]["state"] == status["report.json"]["state"] == "stale"
    result = invoke(runner, *ALL, "--json", "-w", str(work), "-p", str(seven))
    assert result.exit_code == 0, result.output[-2000:]
    steps = _steps(result)
    assert steps[("data", None)]["status"] == steps[("export", None)]["status"] == "up to date"
    for bs in (1, 2):
        assert steps[("simplify", bs)]["reason"] == f"bit.onnx was re-exported after bit_bs{bs}_sim.onnx was made"
        assert all(steps[(step, bs)]["status"] == "done" for step in ("simplify", "infer", "eval", "bench"))


def test_status_after_a_data_change_of_the_same_count(ran, runner, tmp_path, cifar_dir):
    profile, work = _copy(ran, tmp_path)
    real = tmp_path / "real.yaml"
    real.write_text(f"model: {{image_size: 32, weights: random}}\ndataset: {{path: {cifar_dir}, limit: 16}}\n"
                    "backend: onnxruntime\nbench: {loop: 2, warmup: 1}\n")
    assert invoke(runner, "data", "-w", str(work), "-p", str(real)).exit_code == 0  # 16 real images for 16 synthetic
    status = invoke(runner, "status", "-w", str(work), "--json")
    rows = {r["path"]: r for r in json.loads(status.stdout)["results"]}
    for bs in (1, 2):
        assert rows[f"result/onnxruntime/result_bs{bs}"]["state"] == "stale"
        assert rows[f"result/onnxruntime/result_bs{bs}"]["reason"] == "outputs were made from other data than dataset_bin"
        accuracy = rows[f"result/onnxruntime/result_bs{bs}_accuracy.json"]  # the labels are the first input found changed
        assert accuracy["state"] == "stale" and accuracy["reason"] == f"label.txt changed after result_bs{bs}_accuracy.json was made"
    assert rows["dataset_bin"]["state"] == "current" and rows["bit.onnx"]["state"] == "current"
    text = invoke(runner, "status", "-w", str(work))
    assert text.exit_code == 0 and "12 artefacts, 6 stale" in text.stdout  # 2 outputs, 2 accuracy records, 2 reports
    assert "result/onnxruntime/result_bs1: stale: outputs were made from other data than dataset_bin" in text.stdout
    result = invoke(runner, *ALL, "--json", "-w", str(work), "-p", str(real))
    steps = _steps(result)
    assert all(steps[(step, bs)]["status"] == "done" for step in ("infer", "eval") for bs in (1, 2))
    assert steps[("infer", 1)]["reason"] == "data runs first" or "dataset_bin" in steps[("infer", 1)]["reason"]


def test_infer_and_bench_warn_when_the_model_is_older_than_its_source(ran, runner, tmp_path):
    """Issue 14: after a standalone re-export, bench and infer would time and run the old simplified model."""
    profile, work = _copy(ran, tmp_path)
    quiet = invoke(runner, "bench", "--bs", "1", "--force", "-w", str(work), "-p", str(profile))
    assert quiet.exit_code == 0 and "not current" not in quiet.output  # a current model: no warning
    seven = tmp_path / "seed7.yaml"
    seven.write_text(PROFILE.format(seed=7))
    assert invoke(runner, "export", "-w", str(work), "-p", str(seven)).exit_code == 0
    for command in (("bench", "--force"), ("infer",)):
        res = invoke(runner, *command, "--bs", "1", "-w", str(work), "-p", str(seven))
        said = " ".join(res.stderr.split())
        assert "bs 1: bit_bs1_sim.onnx is not current (bit.onnx was re-exported after bit_bs1_sim.onnx was made)" in said
        assert "run `bit simplify --bs 1`" in said
    assert invoke(runner, "simplify", "--bs", "1", "-w", str(work), "-p", str(seven)).exit_code == 0
    again = invoke(runner, "bench", "--bs", "1", "--force", "-w", str(work), "-p", str(seven))
    assert again.exit_code == 0 and "not current" not in again.output
