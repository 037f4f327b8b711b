"""Stand-in locations and tiny models/inputs for the Ascend driver tests."""

from __future__ import annotations

from pathlib import Path

STANDINS = Path(__file__).resolve().parents[1] / "standins"
STANDIN_BIN = STANDINS / "bin"
STANDIN_PYLIB = STANDINS / "pylib"
STANDIN_SET_ENV = STANDINS / "set_env.sh"
RELEASES = ("2022-11", "2023", "2024", "2025")  # the ais_bench releases that existed as packages
DEFAULT_RELEASE = "2025"


def ais_release_dir(release: str) -> Path:
    """The folder put on PYTHONPATH for one stand-in ais_bench release (2022-09: no package)."""
    return STANDINS / "ais_bench" / release


def select_release(monkeypatch, release: str) -> None:
    """Install stand-in ais_bench ``release`` (PYTHONPATH, and STANDIN_AIS_VERSION for set_env.sh)."""
    import os

    monkeypatch.setenv("STANDIN_AIS_VERSION", release)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
             if p and not p.startswith(str(STANDINS / "ais_bench"))]
    if str(STANDIN_PYLIB) in parts:
        parts.insert(parts.index(str(STANDIN_PYLIB)) + 1, str(ais_release_dir(release)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(parts))


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


def build_om(work: Path, bs: int = 4, *, size: int = 8) -> tuple[Path, Path]:
    """``work/bit_bs{bs}.om`` made by the stand-in atc (on PATH) from a tiny ONNX: (om, onnx)."""
    import subprocess

    onnx = make_onnx(work / f"bit_bs{bs}_sim.onnx", bs, size=size)
    subprocess.run(["atc", "--framework=5", f"--model={onnx}", "--input_format=NCHW",
                    f"--input_shape=image:{bs},3,{size},{size}", f"--output={work / f'bit_bs{bs}'}", "--log=error",
                    "--soc_version=Ascend310P3"], cwd=work, check=True, capture_output=True)
    return work / f"bit_bs{bs}.om", onnx


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
