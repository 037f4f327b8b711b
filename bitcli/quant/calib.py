"""Which images calibrate, which judge, and how much memory calibration may take.

**Split.** One seeded permutation of the sample indices of ``dataset_bin``: its first ``calib`` entries
calibrate, the next ``holdout`` entries are the guard's held-out slice, so the two are disjoint by
construction (and the sidecar records both index lists, so anyone can check).

**Memory.** onnxruntime's histogram calibrators (percentile, entropy) keep every calibrated activation of
every image they are given until they build the histograms: 256 images of this model were OOM-killed on a
24 GiB machine. bit therefore calibrates in **chunks** (onnxruntime's ``CalibStridedMinMax`` option, which
calls ``collect_data`` once per chunk; the histogram collectors merge each chunk into the running
histograms, so all ``calib`` images still count). The chunk is sized from an estimate made before starting:
the bytes of every float activation of one image (from ONNX shape inference) × 4 (onnxruntime's list,
the stacked copy, the flattened copy and the absolute values exist at once), against half the available
memory. MinMax keeps only per-tensor minima and maxima and is not chunked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitcli.errors import ConfigError, DataError

COPIES = 4              # live copies of one activation while a histogram chunk is processed
MEMORY_SHARE = 0.5      # of the available memory, for calibration chunks
HISTOGRAM_METHODS = ("percentile", "entropy")


def split_indices(total: int, calib: int, holdout: int, seed: int, bs: int) -> tuple[list[int], list[int]]:
    """Disjoint calibration and held-out indices from one seeded permutation of ``range(total)``.

    ``calib`` is rounded down to a multiple of ``bs`` (calibration runs whole batches of the static model);
    the held-out slice takes the next ``holdout`` indices, or what is left.

    Raises:
        ConfigError: fewer than one batch for calibration, or nothing left for the held-out slice.
    """
    import numpy as np

    calib = min(calib, total) // bs * bs
    if calib < bs:
        raise ConfigError(f"calibration needs at least one batch of {bs} images; dataset_bin holds {total}",
                          hint="write more images with `bit data`, or lower --calib / --bs")
    holdout = min(holdout, total - calib)
    if holdout < 1:
        raise ConfigError(f"all {total} images of dataset_bin would calibrate, leaving none to check accuracy on",
                          hint=f"lower --calib below {total}, or write more images with `bit data`")
    order = np.random.default_rng(seed).permutation(total)
    return sorted(int(i) for i in order[:calib]), sorted(int(i) for i in order[calib:calib + holdout])


def validation_indices(total: int, calib: int, holdout: int, seed: int, bs: int, count: int) -> list[int]:
    """A third slice of the same permutation as :func:`split_indices`: after calibration and held-out.

    NNCF's accuracy control tunes the model on these images, so the guard's held-out images stay a
    judgement it never saw. At most ``count`` indices, a multiple of ``bs``.

    Raises:
        ConfigError: not one batch of images is left after calibration and held-out.
    """
    import numpy as np

    calib_idx, hold_idx = split_indices(total, calib, holdout, seed, bs)
    start = len(calib_idx) + len(hold_idx)
    count = min(count, total - start) // bs * bs
    if count < bs:
        raise ConfigError(f"accuracy control needs a batch of {bs} validation images besides the {len(calib_idx)} "
                          f"calibration and {len(hold_idx)} held-out images; dataset_bin holds {total}",
                          hint="write more images with `bit data`, or lower --calib / --holdout")
    order = np.random.default_rng(seed).permutation(total)
    return sorted(int(i) for i in order[start:start + count])


def load(files: list[Path], indices: list[int], size: int) -> Any:
    """The samples ``files[i]`` for ``i`` in ``indices`` as one float32 ``[N, 3, size, size]`` array."""
    import numpy as np

    out = np.empty((len(indices), 3, size, size), dtype=np.float32)
    per = out[0].nbytes
    for row, index in enumerate(indices):
        data = np.fromfile(files[index], dtype=np.float32) if files[index].suffix.lower() == ".bin" else np.load(files[index])
        if data.size * 4 != per:
            raise DataError(f"{files[index]} holds {data.size * 4} bytes, expected {per} (3x{size}x{size} float32)",
                            hint="rewrite the samples with `bit data --force` for this model's image size")
        out[row] = data.reshape(3, size, size)
    return out


def digest(indices: list[int], array: Any) -> dict[str, Any]:
    """What identifies a calibration set: its indices and the sha256 of their bytes."""
    blob = ",".join(map(str, indices)).encode()
    return {"count": len(indices), "indices_sha256": hashlib.sha256(blob).hexdigest(),
            "data_sha256": hashlib.sha256(memoryview(array).cast("B")).hexdigest()}


@dataclass(frozen=True)
class MemoryPlan:
    """How calibration is bounded: bytes per image, the budget, images per chunk."""

    method: str
    per_image: int
    budget: int
    chunk_images: int      # images per collect_data call (all of them when not chunked)
    images: int

    @property
    def chunked(self) -> bool:
        return self.chunk_images < self.images

    def describe(self) -> str:
        from bitcli.errors import human_bytes

        if self.method not in HISTOGRAM_METHODS:
            return f"{self.method}: keeps per-tensor min/max only; {self.images} images in one pass"
        peak = self.per_image * COPIES * self.chunk_images
        return (f"{self.method}: ~{human_bytes(self.per_image)} of activations per image; calibrating "
                f"{self.images} images in chunks of {self.chunk_images} (peak ~{human_bytes(peak)}, "
                f"budget {human_bytes(self.budget)})")

    def to_json(self) -> dict[str, Any]:
        return {"per_image_bytes": self.per_image, "budget_bytes": self.budget, "chunk_images": self.chunk_images,
                "images": self.images}


def activation_bytes(model_path: Path, bs: int) -> int:
    """Bytes of all float activations of one image of a static-shape ONNX model (shape inference)."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path), load_external_data=False))
    total = 0
    for info in list(model.graph.value_info) + list(model.graph.output):
        tensor = info.type.tensor_type
        if tensor.elem_type != onnx.TensorProto.FLOAT:
            continue
        dims = [d.dim_value for d in tensor.shape.dim]
        if dims and all(d > 0 for d in dims):
            count = 1
            for d in dims:
                count *= d
            total += 4 * count
    return max(1, total // max(1, bs))


def available_memory() -> int:
    """Memory available to calibration, in bytes (:func:`bitcli.resources.available_memory`; 8 GiB when unknown)."""
    from bitcli.resources import available_memory as measured

    return measured() or 8 << 30


def plan_memory(model_path: Path, method: str, images: int, bs: int, *, available: int | None = None) -> MemoryPlan:
    """Size the calibration chunks before any calibration starts.

    The chunk is a whole number of batches that divides the number of calibration batches
    (onnxruntime requires it), and at least one batch.

    Raises:
        DataError: even one batch would not fit in the budget.
    """
    budget = int((available_memory() if available is None else available) * MEMORY_SHARE)
    if method not in HISTOGRAM_METHODS:
        return MemoryPlan(method, 0, budget, images, images)
    per_image = activation_bytes(model_path, bs)
    fit_batches = budget // (per_image * COPIES * bs)
    if fit_batches < 1:
        from bitcli.errors import human_bytes

        raise DataError(f"{method} calibration needs ~{human_bytes(per_image * COPIES * bs)} per batch of {bs}, "
                        f"more than the budget of {human_bytes(budget)} (half the available memory)",
                        hint="use --method minmax, a smaller --bs, or free memory")
    batches = images // bs
    chunk = max(d for d in range(1, batches + 1) if batches % d == 0 and d <= fit_batches)
    return MemoryPlan(method, per_image, budget, chunk * bs, images)
