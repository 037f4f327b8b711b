"""Fixtures for the Ascend driver tests: the interface stand-ins (tests/standins) on PATH/PYTHONPATH.

Three host shapes:
  standins   atc, npu-smi and `python -m ais_bench` usable as is (CANN "sourced" already)
  sourced    nothing on PATH, but ascend.set_env points at the stand-in set_env.sh
  no_ascend  no CANN at all (like this machine without the stand-ins)
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest


def _root_conftest():
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("bit_tests_root_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# pytest imports every conftest.py under the one module name "conftest", and the last
# one imported stays in sys.modules; test files in other folders do `from conftest
# import REPO, invoke`, so this one re-exports the root conftest's public names.
globals().update({k: v for k, v in vars(_root_conftest()).items() if not k.startswith("_") and k != "annotations"})

STANDINS = Path(__file__).resolve().parents[1] / "standins"
STANDIN_BIN = STANDINS / "bin"
STANDIN_PYLIB = STANDINS / "pylib"
STANDIN_SET_ENV = STANDINS / "set_env.sh"


def _clean_path(value: str) -> str:
    return os.pathsep.join(p for p in value.split(os.pathsep) if p and not p.startswith(str(STANDINS)))


def _reset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("STANDIN_", "ASCEND_")) or name == "TOOLCHAIN_HOME":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", _clean_path(os.environ.get("PATH", "")))
    monkeypatch.setenv("PYTHONPATH", _clean_path(os.environ.get("PYTHONPATH", "")))


@pytest.fixture
def standins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Stand-in atc/npu-smi first on PATH, stand-in ais_bench first on PYTHONPATH."""
    _reset(monkeypatch)
    monkeypatch.setenv("PATH", f"{STANDIN_BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(STANDIN_PYLIB), os.environ["PYTHONPATH"]])))
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


def make_onnx(path: Path, bs: int | None, *, input_name: str = "image", size: int = 8, opset: int = 13) -> Path:
    """A tiny classifier ONNX (global average pool + 3×10 matmul); bs None = dynamic batch."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32), "W")
    nodes = [
        helper.make_node("GlobalAveragePool", [input_name], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        helper.make_node("MatMul", ["flat", "W"], ["class"], name="head"),
    ]
    batch = bs if bs is not None else "N"
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("class", TensorProto.FLOAT, [batch, 10])], [weight],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_bins(folder: Path, count: int, *, size: int = 8, start: int = 0) -> list[Path]:
    """``count`` per-sample float32 3×size×size files ``{i}.bin`` (mode 0644)."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        path = folder / f"{i}.bin"
        np.random.default_rng(i).uniform(-1, 1, (3, size, size)).astype(np.float32).tofile(path)
        path.chmod(0o644)
        paths.append(path)
    return paths


def reference_logits(onnx_path: Path, bins: list[Path], size: int = 8):
    """onnxruntime on each sample alone: what every backend must reproduce."""
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    batch = np.stack([np.fromfile(p, dtype=np.float32).reshape(3, size, size) for p in bins])
    shape = sess.get_inputs()[0].shape
    if isinstance(shape[0], int):
        return np.concatenate([sess.run(None, {"image": batch[i:i + 1].repeat(shape[0], 0)})[0][:1] for i in range(len(bins))])
    return sess.run(None, {"image": batch})[0]


@pytest.fixture
def tiny_profile(tmp_path: Path) -> Path:
    """A profile for 8 px tiny models."""
    path = tmp_path / "tiny.yaml"
    path.write_text("model:\n  image_size: 8\n")
    return path
