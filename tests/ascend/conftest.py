"""Fixtures for the Ascend driver tests: the interface stand-ins (tests/standins) on PATH/PYTHONPATH.

Three host shapes:
  standins   atc, npu-smi and `python -m ais_bench` usable as is (CANN "sourced" already); the
             ais_bench release is tools 2025 unless a test calls select_release(monkeypatch, "2023")
  sourced    nothing on PATH, but ascend.set_env points at the stand-in set_env.sh
  no_ascend  no CANN at all (like this machine without the stand-ins)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from standin_helpers import DEFAULT_RELEASE, STANDIN_BIN, STANDIN_PYLIB, STANDIN_SET_ENV, STANDINS, select_release


def _clean_path(value: str) -> str:
    return os.pathsep.join(p for p in value.split(os.pathsep) if p and not p.startswith(str(STANDINS)))


def _reset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("STANDIN_", "ASCEND_")) or name == "TOOLCHAIN_HOME":
            monkeypatch.delenv(name, raising=False)
    # The stand-ins run `python3` (as CANN's tools do): make that this interpreter, as in an activated venv.
    interpreter_bin = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", os.pathsep.join([interpreter_bin, _clean_path(os.environ.get("PATH", ""))]))
    monkeypatch.setenv("PYTHONPATH", _clean_path(os.environ.get("PYTHONPATH", "")))


@pytest.fixture
def standins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Stand-in atc/npu-smi first on PATH, stand-in ais_bench first on PYTHONPATH."""
    _reset(monkeypatch)
    monkeypatch.setenv("PATH", f"{STANDIN_BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(STANDIN_PYLIB), os.environ["PYTHONPATH"]])))
    select_release(monkeypatch, DEFAULT_RELEASE)
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(STANDINS / "toolkit"))
    monkeypatch.setenv("BIT_SET_ENV", str(tmp_path / "no-cann" / "set_env.sh"))
    return STANDINS


@pytest.fixture
def sourced(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nothing Ascend on PATH; ascend.set_env (BIT_SET_ENV) is the stand-in set_env.sh."""
    _reset(monkeypatch)
    monkeypatch.setenv("BIT_SET_ENV", str(STANDIN_SET_ENV))
    return STANDIN_SET_ENV


@pytest.fixture
def no_ascend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CANN, no driver, no ais_bench."""
    _reset(monkeypatch)
    monkeypatch.setenv("BIT_SET_ENV", str(tmp_path / "no-cann" / "set_env.sh"))


@pytest.fixture
def tiny_profile(tmp_path: Path) -> Path:
    """A profile for 8 px tiny models."""
    path = tmp_path / "tiny.yaml"
    path.write_text("model:\n  image_size: 8\n")
    return path
