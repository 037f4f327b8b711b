"""The one external-tool helper: lookup before work, argv lists, logged command, set_env sourcing."""

from __future__ import annotations

import os
import shutil

import pytest

from bitcli import ui
from bitcli.errors import ToolNotFound
from bitcli.tools import cann_env, find_tool, run_tool, tool_env


def test_run_tool_captures_output_exit_and_log(tmp_path):
    log = tmp_path / "logs" / "x.log"
    res = run_tool(["python3", "-c", "import sys; print('hi'); print('err', file=sys.stderr); sys.exit(3)"], log_path=log)
    assert res.returncode == 3 and not res.ok
    assert "hi" in res.output and "err" in res.output
    text = log.read_text()
    assert text.startswith("$ python3 -c ") and "# exit 3" in text


def test_run_tool_logs_exact_command_with_verbose(capsys):
    ui.state.verbose = True
    run_tool(["python3", "-c", "pass", "a b"])
    assert "$ python3 -c pass 'a b'" in capsys.readouterr().err


def test_dry_run_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    res = run_tool(["touch", str(marker)], dry_run=True)
    assert res.dry_run and res.ok and not marker.exists()
    assert res.command == f"touch {marker}"


def test_missing_tool_is_tool_not_found():
    with pytest.raises(ToolNotFound, match="'no-such-tool-xyz' not found"):
        run_tool(["no-such-tool-xyz", "--help"])


def test_tail_drops_progress_dots_and_carriage_returns():
    from bitcli.tools import ToolResult

    res = ToolResult(["x"], 1, "start\n.........\n\rloop (1/2)\rloop (2/2)\nE10001: bad\n")
    assert res.tail() == "start\nloop (2/2)\nE10001: bad"


def test_cann_env_sources_the_script(sourced):
    env = cann_env(sourced)
    assert env["PATH"].split(os.pathsep)[0] == str(sourced.parent / "bin")
    assert env["ASCEND_TOOLKIT_HOME"].endswith("toolkit")
    assert find_tool("atc", env) == str(sourced.parent / "bin" / "atc")
    assert find_tool("atc") is None  # this process is unchanged


def test_cann_env_path_is_never_parsed_by_a_shell(tmp_path, sourced):
    odd = tmp_path / "dir with space $(touch pwned) `touch pwned2`"
    shutil.copytree(sourced.parent, odd, ignore=shutil.ignore_patterns("__pycache__"))
    env = cann_env(odd / "set_env.sh")
    assert env["PATH"].split(os.pathsep)[0] == str(odd / "bin")
    assert not list(tmp_path.glob("pwned*")) and not os.path.exists("pwned")


def test_tool_env_prefers_path_then_set_env(standins, sourced):
    env, atc = tool_env("atc", str(sourced))
    assert atc == str(sourced.parent / "bin" / "atc")
    assert "ASCEND_TOOLKIT_HOME" in env


def test_tool_env_without_cann_explains(no_ascend, tmp_path):
    with pytest.raises(ToolNotFound) as err:
        tool_env("atc", str(tmp_path / "nope" / "set_env.sh"))
    assert "no CANN script at" in err.value.message
    assert "set_env.sh" in err.value.hint and "--backend onnxruntime" in err.value.hint


def test_cann_env_failing_script_is_one_error(tmp_path):
    from bitcli.errors import ToolFailed

    script = tmp_path / "set_env.sh"
    script.write_text("echo 'broken toolkit' >&2\nfalse\n")
    with pytest.raises(ToolFailed) as err:
        cann_env(script)
    assert "exit 1" in err.value.message and "broken toolkit" in err.value.message


def test_cann_env_missing_script(tmp_path):
    with pytest.raises(ToolNotFound, match="does not exist"):
        cann_env(tmp_path / "nope.sh")
