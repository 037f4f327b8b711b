"""Every `bit …` line of the README's shell blocks runs as written, in order (issue 14 §5).

The lines are taken from the ```bash blocks of README.md and run one after another in one bash
session in a fresh folder (so ``export BIT_WORKDIR=…`` carries to the lines after it, as it does
for a user), each through this interpreter's ``python -m bitcli``. Small data keeps it quick:

- ``BIT_PROFILE`` points at a profile with 32 px images, 2 timed bench runs and no warm-up, so
  the commands keep their README spelling and only their size changes;
- ``SUBSTITUTIONS`` below replaces the README's placeholders (a data set path, a checkpoint that
  is not here) and adds ``--limit 16`` where a command reads the data set. A line that needs
  something else (an Ascend host, the network) has to be listed in ``NOT_RUN`` with the reason;
  nothing is skipped silently.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from bit_testlib import CIFAR_DIR, REPO

README = (REPO / "README.md").read_text()

# README placeholder → what runs here (applied in order, to the text of each line).
SUBSTITUTIONS: list[tuple[str, str]] = [
    ("--dataset-path /data/cifar10", f"--dataset-path {shlex.quote(str(CIFAR_DIR))} --limit 16"),
    ("--weights bit.pth", "--weights random"),
    ("bit all --demo", "bit all --demo --limit 16"),
]
# Lines that cannot run on this host or on the 16-image data set, with the reason.
NOT_RUN: dict[str, str] = {
    "bit compare --ref torch --test onnxruntime --bs 8 --limit 500": "500 samples; the README's data here has 16",
    "bit compare --ref onnxruntime --test onnxruntime --test-precision int8 --bs 8":
        "needs bit_bs8_int8.onnx, whose guard needs more held-out images than 16 (tests/stages/test_compare.py runs it)",
    "bit compare --ref-dir result/result_bs8 --test-dir /mnt/npu/result_bs8 --label-path label.txt --min-agreement 0.99":
        "needs a result folder brought back from an Ascend host (tests/stages/test_compare.py runs one)",
    "bit compare --ref onnxruntime --test onnxruntime --test-precision int8 --per-node":
        "needs bit_bs{N}_int8.onnx (tests/stages/test_compare.py runs --per-node on a perturbed model)",
}
SMALL_PROFILE = "model: {image_size: 32}\nbench: {loop: 2, warmup: 0}\n"


def readme_lines() -> list[str]:
    """The `bit …` and `export BIT_…` lines of every ```bash block, comments dropped, in README order."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith(("bit ", "export BIT_")):
                lines.append(line)
    return lines


def runnable(line: str) -> str:
    for placeholder, value in SUBSTITUTIONS:
        line = line.replace(placeholder, value)
    return line


def test_the_readme_has_the_command_chain_with_export():
    lines = readme_lines()
    assert "export BIT_WORKDIR=work" in lines
    chain = next(block for block in re.findall(r"```bash\n(.*?)```", README, re.S) if "export BIT_WORKDIR=work" in block)
    assert [line.split()[1] for line in chain.splitlines() if line.startswith("bit ")][-6:] == \
        ["data", "export", "simplify", "infer", "eval", "bench"]
    assert not re.search(r"(?m)^\s*BIT_WORKDIR=\S+ bit .*&& bit ", README)  # the variable would hold for one command


def test_every_readme_command_line_runs_in_order(tmp_path):
    if not CIFAR_DIR.is_dir():
        pytest.skip(f"the CIFAR-10 test set is absent at {CIFAR_DIR}")
    (tmp_path / "small.yaml").write_text(SMALL_PROFILE)
    lines = [runnable(line) for line in readme_lines() if line not in NOT_RUN]
    script = [f"bit() {{ {shlex.quote(sys.executable)} -m bitcli \"$@\"; }}", "export BIT_PROFILE=$PWD/small.yaml"]
    for number, line in enumerate(lines):
        script += [f"echo '>>> {number}: {line}' >&2", line, f"echo 'ok {number}' >&2"]
    proc = subprocess.run(["bash", "-e", "-c", "\n".join(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=1500)
    finished = proc.stderr.count("\nok ") + proc.stderr.startswith("ok ")
    assert proc.returncode == 0, f"README line {finished} failed: {lines[finished] if finished < len(lines) else '?'}\n" \
                                 f"{proc.stderr[-3000:]}"
    assert finished == len(lines)
    work = tmp_path / "work"  # the chain's BIT_WORKDIR; bit all above wrote bit_work
    assert (work / "bench.json").is_file() and any((work / "result").rglob("result_bs8_accuracy.json"))
