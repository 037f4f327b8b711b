"""Fixtures of the fault tests: a tiny random-weight model at 32 px (built once) and a ready workdir."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

SIZE = 32
N_IMAGES = 10


@pytest.fixture(scope="session")
def tiny_models() -> Path:
    """bit.onnx (dynamic) and bit_bs{1,2}_sim.onnx of random weights at 32 px, with sidecars."""
    from bitcli.artifacts import Artifacts
    from bitcli.stages.export import onnx_from_checkpoint
    from bitcli.stages.simplify import simplified_onnx_per_bs

    folder = Path(tempfile.mkdtemp(prefix="bit-fault-models-"))
    names = Artifacts(folder)
    onnx_from_checkpoint("random", names.onnx, arch="BiT-M-R50x1", num_classes=10, image_size=SIZE)
    simplified_onnx_per_bs(names.onnx, (1, 2), folder, image_size=SIZE)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def synth_set(tmp_path_factory) -> Path:
    from bitcli.datasets.cifar import synthetic_cifar10, write_cifar_layout

    root = tmp_path_factory.mktemp("fault-synth")
    write_cifar_layout(synthetic_cifar10(N_IMAGES, seed=1), root)
    return root


@pytest.fixture
def work(tmp_path, tiny_models, synth_set) -> Path:
    """tmp_path/bit.yaml (workdir w, 32 px, bs 2, onnxruntime, random weights); w holds the models and 10 .bin."""
    from bitcli.stages.data import bins_from_cifar

    workdir = tmp_path / "w"
    workdir.mkdir()
    for path in tiny_models.iterdir():  # links: 3 x 90 MB models are shared, never written through
        (workdir / path.name).symlink_to(path)
    bins_from_cifar(synth_set, workdir / "dataset_bin", workdir / "label.txt", image_size=SIZE, limit=N_IMAGES)
    (tmp_path / "bit.yaml").write_text(
        f"workdir: w\nbatch_sizes: [2]\nbackend: onnxruntime\nmodel:\n  weights: random\n  image_size: {SIZE}\n"
        f"dataset:\n  path: {synth_set}\n")
    return workdir
