"""Real accuracy: the trained checkpoint on a fixed slice of the real CIFAR-10 test set.

The reference path shares no code with bitcli: the test unpickles
``test_batch`` itself, preprocesses as the seed's torchvision transform
(Resize((128, 128)) bilinear, ToTensor, Normalize(0.5, 0.5)) with Pillow and
numpy, and runs big_transfer's own model classes (the pickle's
``bit_pytorch.models``) on the ModelZoo ``bit.pth``. bitcli's path is the
product's: ``bit infer`` on the data set (onnxruntime on the simplified
ONNX, and torch), then ``bit eval``'s top-1 over the written outputs.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest

from runtime_models import real_model_dir

SLICE = 64          # the first 64 test images: about 15 s per path on two cores
SIZE = 128          # the seed's input size


def _reference_top1(cifar_dir: Path, trained_pth: Path) -> tuple[float, np.ndarray, np.ndarray]:
    import torch
    from PIL import Image

    doc = pickle.loads((cifar_dir / "cifar-10-batches-py" / "test_batch").read_bytes(), encoding="bytes")
    rows, labels = doc[b"data"][:SLICE], np.asarray(doc[b"labels"][:SLICE])
    batch = np.empty((SLICE, 3, SIZE, SIZE), np.float32)
    for i, row in enumerate(rows):
        hwc = row.reshape(3, 32, 32).transpose(1, 2, 0)  # the R, G, B planes of one image
        x = np.asarray(Image.fromarray(hwc).resize((SIZE, SIZE), Image.BILINEAR), np.float32) / 255
        batch[i] = ((x - 0.5) / 0.5).transpose(2, 0, 1)
    spec = importlib.util.spec_from_file_location("bt_reference_acc", Path(__file__).parents[1] / "model" / "bt_reference.py")
    bt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bt)
    bt.plant_big_transfer("bit_pytorch.models")
    try:
        model = torch.load(trained_pth, map_location="cpu", weights_only=False)
    finally:
        bt.remove_big_transfer("bit_pytorch.models")
    model = getattr(model, "module", model).eval()
    with torch.no_grad():
        logits = np.concatenate([model(torch.from_numpy(batch[i:i + 16])).numpy() for i in range(0, SLICE, 16)])
    predictions = logits.argmax(1)
    return float(np.mean(predictions == labels)), predictions, labels


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from bit_testlib import CIFAR_DIR, TRAINED_PTH

    if not (CIFAR_DIR / "cifar-10-batches-py" / "test_batch").is_file() or not TRAINED_PTH.is_file():
        pytest.skip(f"real CIFAR-10 test set or trained checkpoint absent under {CIFAR_DIR.parents[1]}")
    folder = tmp_path_factory.mktemp("acc")
    top1, predictions, labels = _reference_top1(CIFAR_DIR, TRAINED_PTH)
    (folder / "label.txt").write_text("".join(f"{int(c)}\n" for c in labels))
    return folder, top1, predictions


def _bit_top1(backend, cifar_dir: Path, folder: Path):
    from bitcli.stages.evaluate import accuracy_from_outputs
    from bitcli.stages.infer import outputs_from_dataset

    done = outputs_from_dataset(backend, cifar_dir, folder / backend.name, limit=SLICE, argv=["bit", "infer"])
    assert done.samples == SLICE
    result = accuracy_from_outputs(done.result_dir, folder / "label.txt", num_classes=10, save=False)
    predictions = np.array([np.fromfile(done.result_dir / f"{i}_0.bin", np.float32).argmax() for i in range(SLICE)])
    return result.topk[1], predictions


def test_reference_slice_is_the_trained_model(reference):
    _, top1, _ = reference
    assert 0.6 <= top1 <= 0.95  # the checkpoint scores 78.67% on all 10,000 images


@pytest.mark.parametrize("backend_name", ["onnxruntime", "torch"])
def test_bit_top1_equals_the_reference_on_the_slice(reference, backend_name, cifar_dir, trained_pth):
    from bitcli.backends.base import BackendOptions
    from bitcli.backends.onnxrt import OnnxRuntimeBackend
    from bitcli.backends.torch import TorchBackend

    folder, top1, expected = reference
    if backend_name == "onnxruntime":
        backend = OnnxRuntimeBackend(BackendOptions(model=real_model_dir(trained_pth) / "bit_bs4_sim.onnx", batch_size=4))
    else:
        backend = TorchBackend(BackendOptions(model=trained_pth, batch_size=8, num_classes=10, image_size=SIZE))
    got, predictions = _bit_top1(backend, cifar_dir, folder)
    assert abs(got - top1) <= 1 / SLICE, (got, top1)  # at most one image on a float tie
    assert np.sum(predictions != expected) <= 1
