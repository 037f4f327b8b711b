"""A small conv classifier built with onnx.helper, and a dataset_bin for it (int8 / compare tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE = 8
CLASSES = 10


def tiny_classifier(path: Path, *, bs: int = 4, seed: int = 0, head_spread: float = 1.0) -> Path:
    """Conv(3→8,3x3) → Relu → Conv(8→8,3x3) → Relu → GlobalAveragePool → Conv 1x1 (→10) → Flatten.

    Node names: conv1 relu1 conv2 relu2 pool head flat. ``head_spread`` scales how far apart the
    classes' head weights are (small → nearly tied logits, which int8 noise flips).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (8, 8, 3, 3)).astype(np.float32)
    base = rng.normal(0, 0.5, (1, 8, 1, 1)).astype(np.float32)
    wh = (base + head_spread * rng.normal(0, 0.5, (CLASSES, 8, 1, 1))).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (w2, "w2"), (wh, "wh"))]
    nodes = [
        helper.make_node("Conv", ["image", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="pool"),
        helper.make_node("Conv", ["p", "wh"], ["h"], name="head"),
        helper.make_node("Flatten", ["h"], ["class"], name="flat"),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [bs, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("class", TensorProto.FLOAT, [bs, CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def tiny_dataset(workdir: Path, count: int, *, seed: int = 1) -> np.ndarray:
    """``workdir/dataset_bin/{i}.bin`` (float32 3x8x8) and ``workdir/label.txt``; returns the images."""
    folder = Path(workdir) / "dataset_bin"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = rng.normal(0, 1, (count, 3, SIZE, SIZE)).astype(np.float32)
    for i, image in enumerate(images):
        image.tofile(folder / f"{i}.bin")
    labels = rng.integers(0, CLASSES, count)
    (Path(workdir) / "label.txt").write_text("".join(f"{c}\n" for c in labels))
    return images


def run(path: Path, batch: np.ndarray) -> np.ndarray:
    """The model's logits for one batch, by onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": batch})[0]
