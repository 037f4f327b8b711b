"""Shared fixtures: paths to the shared real data, an isolated cwd/env, a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bit_testlib import CIFAR_DIR, TRAINED_PTH


def _own_cores_per_xdist_worker() -> None:
    """Under pytest-xdist (``make test`` runs ``-n auto``), each worker keeps to its own share of the
    cores before torch/onnxruntime/OpenVINO start their thread pools: they size them from this affinity
    (``bitcli.backends.onnxrt.usable_cores``), so two workers never run 2 × N spinning threads on N cores.
    Child processes inherit it. Outside xdist nothing changes."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= count:  # worker gwI of N takes cores I, I+N, ...
        os.sched_setaffinity(0, cores[int(worker[2:])::count])


_own_cores_per_xdist_worker()
# bit's rich consoles read COLUMNS once, when bitcli.ui is first imported, which may be while test modules
# are collected, before _isolated_env sets it: without this they stayed 80 wide, and a line holding a
# tmp path (10 characters longer under xdist, popen-gwN/) wrapped inside the words a test looks for.
os.environ["COLUMNS"] = "160"


@pytest.fixture
def cifar_dir() -> Path:
    """The real CIFAR-10 test set (10,000 images) in the official pickle layout."""
    if not (CIFAR_DIR / "cifar-10-batches-py" / "test_batch").is_file():
        pytest.skip(f"real CIFAR-10 test set absent at {CIFAR_DIR} (../shared/data/cifar10-test)")
    return CIFAR_DIR


@pytest.fixture
def trained_pth() -> Path:
    """The trained BiT-R50x1 CIFAR-10 checkpoint in ModelZoo bit.pth format."""
    if not TRAINED_PTH.is_file():
        pytest.skip(f"trained checkpoint absent at {TRAINED_PTH} (../shared/data/bit-r50x1-cifar10/bit.pth)")
    return TRAINED_PTH


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Run every test in its own cwd with no BIT_* variables and a fixed terminal width."""
    for name in list(os.environ):
        if name.startswith("BIT_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)
    from bitcli import ui

    ui.state.debug = ui.state.verbose = ui.state.quiet = False
    yield


@pytest.fixture
def runner() -> CliRunner:
    """A typer CliRunner (stderr kept separate from stdout)."""
    return CliRunner()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "openvino_auto: `backend: auto` may pick openvino (the full host order)")


@pytest.fixture(autouse=True, scope="session")
def _auto_order_session():
    """Session-wide (module-scoped fixtures such as a shared chain run before function fixtures):
    tests written before the openvino backend mean by `auto` "ascend, else onnxruntime"."""
    import bitcli.backends.base as base

    full = base.AUTO_ORDER
    base.AUTO_ORDER = ("ascend", "onnxruntime")
    yield full
    base.AUTO_ORDER = full


@pytest.fixture(autouse=True)
def _auto_order_without_openvino(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, _auto_order_session):
    """Tests of the full host order are marked ``openvino_auto`` (tests/backends/test_openvino_backend.py);
    every other test keeps `auto` = "ascend, else onnxruntime" whether or not openvino is installed."""
    if request.node.get_closest_marker("openvino_auto") is not None:
        monkeypatch.setattr("bitcli.backends.base.AUTO_ORDER", _auto_order_session)
    yield
