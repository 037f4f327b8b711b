"""The CLI shell: help without heavy imports, profile init/show, error boundary, --bs checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bit_testlib import REPO, invoke

HEAVY = ("torch", "onnx", "onnxruntime", "onnxsim")
PIPELINE = ["data", "export", "simplify", "quantize", "atc", "infer", "eval", "bench", "compare", "all"]


def registered_commands() -> list[str]:
    from bitcli.cli import app

    names = [c.name for c in app.registered_commands]
    return names + [g.name for g in app.registered_groups]


def test_commands_are_registered_in_pipeline_order():
    assert registered_commands() == PIPELINE + ["status", "doctor", "profile"]


@pytest.mark.parametrize("args", [[], ["profile"], ["profile", "init"]] + [[c] for c in PIPELINE + ["status", "doctor"]])
def test_help_does_not_import_heavy_packages(args):
    code = (
        "import sys\n"
        "from bitcli.cli import app\n"
        f"try:\n    app({args + ['--help']!r}, prog_name='bit')\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Usage" in proc.stdout


def test_console_script_and_module_entry_points():
    import shutil

    proc = subprocess.run([sys.executable, "-m", "bitcli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("bit ")
    # the interpreter's own bin folder first: the script make install put beside this Python (venv or not)
    script = shutil.which("bit", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    assert script, "the `bit` console script is not installed (make install)"
    proc = subprocess.run([script, "profile", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "init" in proc.stdout and "show" in proc.stdout


def test_closed_stdout_is_not_an_internal_error():
    """`bit profile show --json | head -1` must not end with a BrokenPipeError."""
    proc = subprocess.run(f"{sys.executable} -m bitcli profile show --json | head -1", shell=True,
                          capture_output=True, text=True)
    assert proc.stdout.strip() == "{"
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_profile_init_writes_the_commented_defaults(runner, tmp_path):
    result = invoke(runner, "profile", "init")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "bit.yaml").read_text()
    assert "# (path)" in text and "batch_sizes" in text
    doc = yaml.safe_load(text)
    assert set(doc) >= {"workdir", "dataset", "model", "ascend", "backend", "batch_sizes", "bench"}
    again = invoke(runner, "profile", "init")
    assert again.exit_code == 2 and "already exists" in again.stderr and "--force" in again.stderr
    assert (tmp_path / "bit.yaml").read_text() == text  # nothing damaged


def test_profile_show_reports_sources(runner, tmp_path, monkeypatch):
    (tmp_path / "p.yaml").write_text("backend: torch\n")
    monkeypatch.setenv("BIT_CHIP", "310P3")
    result = invoke(runner, "profile", "show", "-p", "p.yaml", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["values"]["backend"] == "torch"
    assert data["sources"]["backend"].startswith("profile ")
    assert data["sources"]["ascend.chip"] == "env BIT_CHIP"
    assert data["sources"]["bench.loop"] == "default"
    table = invoke(runner, "profile", "show", "-p", "p.yaml")
    assert "env BIT_CHIP" in table.stdout and "310P3" in table.stdout


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("modle: {}\n", "did you mean 'model'"),
        ("bench: {loop: many}\n", "'bench.loop' must be positive int"),
        ("model: {arch: [\n", "invalid YAML"),
    ],
)
def test_bad_profile_is_one_line_exit_2(runner, tmp_path, text, fragment):
    (tmp_path / "bad.yaml").write_text(text)
    result = invoke(runner, "profile", "show", "-p", "bad.yaml")
    assert result.exit_code == 2  # a bad configuration value is a usage error, like a bad flag
    assert fragment in result.stderr and "bad.yaml" in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_internal_errors_hint_at_debug(runner, monkeypatch):
    import bitcli.commands.profile as profile_cmd

    def boom(*a, **k):
        raise RuntimeError("kaput")

    monkeypatch.setattr(profile_cmd, "settings", boom)
    result = invoke(runner, "profile", "show")
    assert result.exit_code == 1
    assert "internal error: RuntimeError: kaput" in result.stderr and "--debug" in result.stderr
    assert "Traceback" not in result.output
    debug = invoke(runner, "--debug", "profile", "show")
    assert isinstance(debug.exception, RuntimeError)  # --debug lets the traceback through


@pytest.mark.parametrize("cmd", ["simplify", "atc", "infer", "eval", "bench", "all"])
@pytest.mark.parametrize(
    "junk, fragment",
    [("0", "not a positive"), ("1,1", "listed twice"), ("a", "not an integer"), ("-2", "not a positive"), ("", "empty")],
)
def test_bs_junk_is_a_usage_error(runner, cmd, junk, fragment):
    result = invoke(runner, cmd, "--bs", junk)
    assert result.exit_code == 2, (junk, result.output)
    assert fragment in result.output and "Traceback" not in result.output
