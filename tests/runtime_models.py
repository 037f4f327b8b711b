"""Shared helpers for the runtime tests (backends, infer, eval, bench).

The real model (trained bit.pth exported by the export stage, simplified per
batch size) is built once per test session and cached here, whichever test
module asks first; :class:`FakeBackend` is a numpy stand-in for plumbing tests.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np

from bitcli.backends.base import Backend, BackendOptions

_CACHE: dict[tuple, Path] = {}
IMAGE_SIZE = 128


def real_model_dir(weights: Path, batch_sizes: tuple[int, ...] = (1, 4)) -> Path:
    """A folder with bit.onnx and bit_bs{N}_sim.onnx of ``weights`` at 128 px (built once per session)."""
    key = (str(weights), batch_sizes)
    if key not in _CACHE:
        from bitcli.artifacts import Artifacts
        from bitcli.stages.export import onnx_from_checkpoint
        from bitcli.stages.simplify import simplified_onnx_per_bs

        folder = Path(tempfile.mkdtemp(prefix="bit-runtime-models-"))
        names = Artifacts(folder)
        onnx_from_checkpoint(weights, names.onnx, arch="BiT-M-R50x1", num_classes=10, image_size=IMAGE_SIZE)
        simplified_onnx_per_bs(names.onnx, batch_sizes, folder, image_size=IMAGE_SIZE)
        _CACHE[key] = folder
    return _CACHE[key]


def link_models(source: Path, workdir: Path, *, dynamic: bool = True) -> None:
    """Make ``workdir`` hold the models of ``source`` by their standard names (symlinks)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.name.startswith("bit.onnx") and not dynamic:
            continue
        (workdir / path.name).symlink_to(path)


@atexit.register
def _cleanup() -> None:
    for folder in _CACHE.values():
        shutil.rmtree(folder, ignore_errors=True)


def write_bins(folder: Path, count: int, *, size: int = 8, seed: int = 0, names: list[str] | None = None) -> np.ndarray:
    """``count`` float32 3×size×size samples as raw .bin files; returns them stacked."""
    folder.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).standard_normal((count, 3, size, size)).astype(np.float32)
    for i, sample in enumerate(data):
        sample.tofile(folder / (names[i] if names else f"{i}.bin"))
    return data


class FakeBackend(Backend):
    """Deterministic numpy 'model': 10 logits per sample from its pixels, per-sample independent."""

    name = "fake"

    def __init__(self, options: BackendOptions, *, fail_at: int | None = None, latency_ms: float = 2.0,
                 latencies: list[float] | None = None) -> None:
        super().__init__(options)
        self.fail_at = fail_at
        self.latency = latency_ms
        self.latencies = latencies  # one per call, in order (overrides latency_ms)
        self.calls = 0
        self.opened = self.closed = False
        self.shapes: list[tuple[int, ...]] = []

    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.closed = True

    def infer(self, batch: np.ndarray) -> np.ndarray:
        if self.fail_at is not None and self.calls == self.fail_at:
            raise RuntimeError("fake backend failure")
        self.calls += 1
        self.shapes.append(tuple(batch.shape))
        flat = batch.reshape(batch.shape[0], -1).astype(np.float64)
        weights = np.cos(np.arange(flat.shape[1] * 10, dtype=np.float64)).reshape(flat.shape[1], 10)
        out = (flat @ weights).astype(np.float32)
        self.last_latency_ms = self.latencies[self.calls - 1] if self.latencies else self.latency
        return out


def fake_options(bs: int, size: int = 8, model: str = "fake.model") -> BackendOptions:
    return BackendOptions(model=model, batch_size=bs, image_size=size)


def fake_logits(data: np.ndarray) -> np.ndarray:
    """What FakeBackend returns for each sample of ``data`` on its own."""
    return FakeBackend(fake_options(1, data.shape[-1])).infer(data)
