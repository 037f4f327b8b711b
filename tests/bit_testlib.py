"""Helpers shared by the test files: paths to the shared real data and an in-process `bit` runner.

Test files import these with ``from bit_testlib import ...`` (tests/ is on
sys.path under pytest's rootdir conftest), never ``from conftest import``:
pytest loads every conftest.py under the one module name ``conftest``.
"""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
# BITCLI_TEST_SHARED=/nowhere runs the suite as on a machine without ../shared (skips, with reasons).
SHARED = Path(os.environ.get("BITCLI_TEST_SHARED", REPO.parent / "shared"))
CIFAR_DIR = SHARED / "data" / "cifar10-test"
TRAINED_PTH = SHARED / "data" / "bit-r50x1-cifar10" / "bit.pth"


def invoke(runner: CliRunner, *args: str, **kwargs):
    """Invoke `bit args...` in-process and return the result."""
    from bitcli.cli import app

    return runner.invoke(app, list(args), **kwargs)


def ctrl_c_as_in_a_terminal() -> None:
    """Child setup: SIGINT back to its default, so Python turns it into KeyboardInterrupt as in a terminal.

    A suite started in the background (``cmd &`` in a script, ``nohup``) inherits SIGINT ignored, and Python
    then installs no KeyboardInterrupt handler: a test sending Ctrl-C would see the run finish (exit 0)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
