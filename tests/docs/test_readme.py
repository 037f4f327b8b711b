"""The README is the user's first contact: its commands must work as written."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest

from bit_testlib import REPO, invoke

README = (REPO / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def fenced_commands(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def test_setup_starts_with_install_then_test():
    first_block = fenced_commands(section("Set up"))
    assert first_block[:2] == ["make install", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "make install" in ci and "make test" in ci


def test_the_demo_commands_run_as_written(tmp_path):
    """Runs the README's demo line(s) exactly, offline, in a fresh folder."""
    demo = [c for c in fenced_commands(section("Set up")) if c.startswith("bit ")]
    assert demo == ["bit all --demo --bs 1,4,8"]
    for command in demo:
        argv = [sys.executable, "-m", "bitcli", *shlex.split(command)[1:]]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "demo: synthetic data, random weights" in proc.stdout
    report = json.loads((tmp_path / "bit_demo" / "report.json").read_text())
    assert [r["bs"] for r in report["results"]] == [1, 4, 8]
    assert report["dataset"]["samples"] == 512 and report["notice"].startswith("demo:")
    assert all(r["status"] == "ok" and r["throughput"] > 0 for r in report["results"])


def _documented_commands() -> list[str]:
    texts = README + (REPO / "examples" / "README.md").read_text()
    found = set(re.findall(r"`(bit [^`]+)`", texts))
    for block in re.findall(r"```bash\n(.*?)```", texts, re.S):
        found.update(line.strip() for line in block.splitlines() if line.strip().startswith("bit "))
    commands = set()
    for text in found:
        for part in text.split("&&"):
            part = part.strip()
            part = re.sub(r"^BIT_\w+=\S+\s+", "", part)
            if part.startswith("bit ") and "…" not in part:
                commands.add(part.split("#")[0].strip())
    return sorted(commands)


@pytest.mark.parametrize("command", _documented_commands())
def test_every_documented_command_and_option_exists(runner, command):
    """Each `bit …` in README.md and examples/README.md names a real command and real options (via --help)."""
    args = shlex.split(command)[1:]
    cut = next((i for i, a in enumerate(args) if a.startswith("-")), len(args))
    head, options = args[:cut], args[cut:]
    result = invoke(runner, *head, "--help", *options)
    assert result.exit_code == 0, f"{command}: {result.output[-800:]}"
    for option in (a.split("=")[0] for a in options if a.startswith("--")):
        assert option in result.stdout, f"{command}: {option} not in help"
