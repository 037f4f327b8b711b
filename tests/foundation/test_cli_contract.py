"""One CLI, consistent (issue 14 §5): exit codes, global options on either side, --json everywhere.

The commands are found by walking the registered app, so a command added later is held to the
same contract without editing this file (a validated option it has gets its bad value below).
"""

from __future__ import annotations

import json

import pytest
import typer

from bit_testlib import invoke

# A bad value for every option whose value bit checks (a number's range, a name from a list, a
# step, a chip); each must give exit 2 on every command that has the option. Paths are not here:
# a missing input file is a failed run (1), see bitcli/errors.py.
BAD_VALUES: dict[str, str] = {
    "--bs": "0,4",
    "--limit": "0",
    "--synthetic": "0",
    "--backend": "onnxrt",
    "--opset": "99",
    "--image-size": "100000",
    "--num-classes": "0",
    "--arch": "BiT-M-R1000x9",
    "--from": "simplfy",
    "--only": "infer,evl",
    "--topk": "0",
    "--loop": "0",
    "--warmup": "-1",
    "--threads": "0",
    "--chip": "no such chip!",
}
# Flags that conflict with each other, per command.
CONFLICTS: dict[str, list[str]] = {
    "data": ["--synthetic", "3", "--download"],
    "infer": ["--input", "x", "--dataset-path", "y"],
    "all": ["--from", "export", "--only", "eval"],
}


def _commands() -> dict[str, typer.core.TyperCommand]:
    """Every leaf command by its path ("data", "profile init"), from the registered app."""
    from bitcli.cli import app

    found = {}

    def walk(group, prefix: str) -> None:
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                walk(command, f"{prefix}{name} ")
            else:
                found[f"{prefix}{name}"] = command

    walk(typer.main.get_command(app), "")
    return found


def _options(command) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


COMMANDS = _commands()
BAD_CASES = [(name, flag) for name, cmd in COMMANDS.items() for flag in BAD_VALUES if flag in _options(cmd)]


def test_the_walk_sees_every_command_and_the_validated_options():
    assert {"data", "export", "simplify", "atc", "infer", "eval", "bench", "all", "doctor", "profile init",
            "profile show"} <= set(COMMANDS)
    assert len(BAD_CASES) >= 25, BAD_CASES  # --bs alone is on six commands


@pytest.mark.parametrize("name, flag", BAD_CASES, ids=[f"{n}-{f}" for n, f in BAD_CASES])
def test_a_bad_flag_value_exits_2_on_every_command(runner, tmp_path, name, flag):
    extra = ["--weights", "random"] if "--weights" in _options(COMMANDS[name]) else []
    result = invoke(runner, *name.split(), flag, BAD_VALUES[flag], *extra, "-w", str(tmp_path / "w"))
    assert result.exit_code == 2, (name, flag, result.output)
    assert "Traceback" not in result.output
    assert not (tmp_path / "w").exists()  # refused before any work: no workdir made


@pytest.mark.parametrize("name", sorted(CONFLICTS))
def test_conflicting_flags_exit_2(runner, tmp_path, name):
    result = invoke(runner, name, *CONFLICTS[name], "-w", str(tmp_path / "w"))
    assert result.exit_code == 2, result.output
    assert "both given" in result.stderr


def test_a_failed_run_exits_1_and_an_interrupt_130(runner, tmp_path, monkeypatch):
    missing = invoke(runner, "data", "--dataset-path", str(tmp_path / "absent"), "-w", str(tmp_path / "w"))
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    import bitcli.stages.data as data_stage

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data_stage, "bins_from_cifar", interrupted)
    stopped = invoke(runner, "data", "--synthetic", "2", "-w", str(tmp_path / "w2"))
    assert stopped.exit_code == 130 and "interrupted (Ctrl-C)" in stopped.stderr


# ---------------------------------------------------------------------------------------- global options


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_work_on_either_side_of_the_command(runner, tmp_path, where):
    args = ["data", "--synthetic", "2", "-w", str(tmp_path / "w")]
    quiet = invoke(runner, *(["-q", *args] if where == "before" else [*args, "-q"]))
    assert quiet.exit_code == 0, quiet.output
    assert "→" not in quiet.stderr and "wrote 2 of 2" in quiet.stdout  # -q: no progress lines, the result stays
    profile = tmp_path / "p.yaml"
    profile.write_text("model: {image_size: 32}\n")
    atc = ["atc", "--dry-run", "--chip", "310P3", "--bs", "1", "-p", str(profile), "-w", str(tmp_path / "w")]
    verbose = invoke(runner, *(["-v", *atc] if where == "before" else [*atc, "-v"]))
    assert verbose.exit_code == 0, verbose.output
    assert "atc --framework=5" in verbose.stdout


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_on_either_side_shows_the_traceback(runner, monkeypatch, where):
    import bitcli.commands.profile as profile_cmd

    def boom(*a, **k):
        raise RuntimeError("kaput")

    monkeypatch.setattr(profile_cmd, "settings", boom)
    plain = invoke(runner, "profile", "show")
    assert plain.exit_code == 1 and "--debug" in plain.stderr
    debug = invoke(runner, *(["--debug", "profile", "show"] if where == "before" else ["profile", "show", "--debug"]))
    assert isinstance(debug.exception, RuntimeError) and "kaput" in str(debug.exception)


# ---------------------------------------------------------------------------------------- --json


def test_every_command_has_json():
    lacking = [name for name, cmd in COMMANDS.items() if "--json" not in _options(cmd)]
    assert lacking == []


def _doc(result) -> dict:
    doc = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert isinstance(doc, dict) and isinstance(doc["results"], list) and doc["status"], doc
    return doc


def test_each_commands_json_has_status_and_results_with_bs(runner, tmp_path):
    """The standalone chain, every command with --json, on 8 synthetic images at 32 px."""
    profile = tmp_path / "p.yaml"
    profile.write_text("model: {image_size: 32, weights: random}\nbench: {loop: 2, warmup: 0}\nbatch_sizes: [1, 4]\n")
    common = ["-p", str(profile), "-w", str(tmp_path / "w")]
    per_bs = {}
    for args in (["data", "--synthetic", "8"], ["export"], ["simplify"], ["infer"], ["eval"], ["bench"],
                 ["atc", "--dry-run", "--chip", "310P3"],
                 ["all", "--backend", "onnxruntime", "--dataset-path", str(tmp_path / "w" / "synthetic-cifar10")]):
        result = invoke(runner, *args, *common, "--json")
        assert result.exit_code == 0, (args, result.output)
        doc = _doc(result)
        if args[0] in ("simplify", "infer", "eval", "bench", "atc", "all"):
            per_bs[args[0]] = [row["bs"] for row in doc["results"]]
        if args[0] == "data":
            assert doc["status"] == "done" and doc["results"][0]["count"] == 8
    assert per_bs == {name: [1, 4] for name in per_bs} and len(per_bs) == 6
    for args in (["data", "--synthetic", "8"], ["export"], ["simplify"]):  # a rerun: the shared word
        again = _doc(invoke(runner, *args, *common, "--json"))
        assert again["status"] == "up to date", (args, again)
    for args in (["doctor", "--backend", "onnxruntime"], ["profile", "show"], ["profile", "init"]):
        result = invoke(runner, *args, "--json")
        assert result.exit_code == 0, (args, result.output)
        _doc(result)


@pytest.mark.parametrize(
    "args, code",
    [
        (["data", "--limit", "0"], 2),  # a bit check
        (["infer", "--limit", "0"], 2),  # typer's own range check (a parse error)
        (["data", "--nonsense"], 2),  # an unknown option
        (["all", "--only", "evl"], 2),
        (["eval"], 1),  # a failed run: nothing to score
        (["profile", "show", "-p", "absent.yaml"], 2),
    ],
)
def test_an_error_under_json_is_a_json_object_on_stdout(runner, tmp_path, args, code):
    result = invoke(runner, *args, "-w", str(tmp_path / "w"), "--json") if args[0] != "profile" else \
        invoke(runner, *args, "--json")
    assert result.exit_code == code, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"error", "hint", "exit_code"} and doc["exit_code"] == code and doc["error"]
    assert result.stderr.strip()  # the plain line still goes to stderr


# ---------------------------------------------------------------------------------------- workdirs, bit all --only atc


def test_a_failed_command_removes_the_empty_workdir_it_made_but_never_one_that_existed(runner, tmp_path):
    made = tmp_path / "new" / "deeper" / "w"
    result = invoke(runner, "data", "--dataset-path", str(tmp_path / "absent"), "-w", str(made))
    assert result.exit_code == 1
    assert not (tmp_path / "new").exists()  # the folders it created for the workdir are gone again
    existing = tmp_path / "mine"
    existing.mkdir()
    result = invoke(runner, "data", "--dataset-path", str(tmp_path / "absent"), "-w", str(existing))
    assert result.exit_code == 1 and existing.is_dir()
    kept = tmp_path / "kept"
    result = invoke(runner, "data", "--synthetic", "2", "-w", str(kept))
    assert result.exit_code == 0 and (kept / "label.txt").is_file()  # a workdir with results stays


def test_all_only_atc_off_ascend_says_why_and_leaves_the_report(runner, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    (work / "report.json").write_text('{"earlier": true}\n')
    (work / "report.md").write_text("earlier\n")
    result = invoke(runner, "all", "--only", "atc", "--backend", "onnxruntime", "-w", str(work))
    assert result.exit_code == 0, result.output
    err = " ".join(result.stderr.split())
    assert "atc: skipped: the onnxruntime backend uses no .om" in err and "left as it was" in err
    assert (work / "report.json").read_text() == '{"earlier": true}\n' and (work / "report.md").read_text() == "earlier\n"
    doc = _doc(invoke(runner, "all", "--only", "atc", "--backend", "onnxruntime", "-w", str(work), "--json"))
    assert doc["status"].startswith("skipped: the onnxruntime backend uses no .om") and doc["results"] == []
    assert [(s["step"], s["status"]) for s in doc["steps"]] == [("atc", doc["status"])]
