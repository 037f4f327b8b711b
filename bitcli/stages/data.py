"""CIFAR-10 test images → one reference-exact float32 ``.bin`` per image, plus ``label.txt``.

The tensors equal, bit for bit, the seed's torchvision pipeline
(``bit_preprocess.py``)::

    Image.fromarray(hwc) → Resize((128, 128))   # PIL bilinear, still uint8
    → ToTensor()                                 # float32, x / 255
    → Normalize((0.5,)*3, (0.5,)*3)              # float32, (x - 0.5) / 0.5
    → CHW, raw little-endian float32 = 3*128*128*4 = 196,608 bytes

A float interpolation is *not* equal (it differs by one level at many pixels),
so the resize is Pillow's own. After the resize every pixel is one of 256
uint8 levels, so the float steps are a 256-entry lookup table built with
exactly the float32 operations above (same bits, a fraction of the time).

Outputs are ``SAVE/{i}.bin`` (``i`` = index in ``test_batch``) and a label
file whose line ``i`` is the class of ``{i}.bin`` — what ais_bench and the
seed's ``bit_postprocess.py`` read. ``SAVE/.manifest.json`` records what the
folder was made from; a rerun with the same inputs does nothing. While a run
is in progress ``SAVE/.manifest.partial.json`` holds the same record, so a
killed run resumes (files appear only complete: temp name + rename).
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from bitcli.artifacts import DATA_MANIFEST, atomic_write_text, read_json_object, sha256_file
from bitcli.errors import DataError
from bitcli.stages.data_files import (
    DIGESTS,
    PARTIAL,
    SHOWN,
    check_label_replaceable,
    check_outputs,
    check_record_files,
    crc32_bytes,
    crc32_file,
    extra_bins,
    files_digest,
    folder_stale_reason,
    numbered_bins,
    read_digests,
    same_data,
    unchanged,
    write_digests,
    write_labels,
)
from bitcli.datasets.cifar import CifarTest, Progress, read_cifar10_test, synthetic_cifar10, write_cifar_layout  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from bitcli.config import Settings

PREPROCESS_VERSION = "pil-bilinear>f32/255>(x-0.5)/0.5>chw-f32le/v1"
MANIFEST = DATA_MANIFEST


@dataclass(frozen=True)
class DataResult:
    """What :func:`bins_from_cifar` did.

    Attributes:
        count: images in the folder (= lines in the label file).
        written: ``.bin`` files written by this run (0 when up to date).
        bytes: total size of the ``count`` files.
        seconds: wall time of this run.
        skipped: True when the outputs were already up to date.
        save_path: the ``.bin`` folder.
        label_path: the label file.
        synthetic: True when the source is a synthetic set.
        manifest: the manifest path.
        source: the ``test_batch`` or tarball read.
        resumed: files kept from an interrupted run with the same inputs.
        reason: why the folder was (re)written; None when up to date.
    """

    count: int
    written: int
    bytes: int
    seconds: float
    skipped: bool
    save_path: Path
    label_path: Path
    synthetic: bool
    manifest: Path
    source: Path
    resumed: int = 0
    reason: str | None = None

    @property
    def status(self) -> str:
        """``up to date`` or ``done`` (the status words of every step)."""
        return "up to date" if self.skipped else "done"

    @property
    def images_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


# --------------------------------------------------------------------------- preprocessing


def _float_levels() -> np.ndarray:
    """float32 value of each uint8 level after ToTensor + Normalize, same operations, same order."""
    x = np.arange(256, dtype=np.uint8).astype(np.float32) / np.float32(255)  # ToTensor: img.float().div(255)
    return (x - np.float32(0.5)) / np.float32(0.5)  # Normalize: tensor.sub_(mean).div_(std)


_LEVELS = _float_levels()


def resize_uint8(image_hwc: np.ndarray, size: int = 128) -> np.ndarray:
    """torchvision ``Resize((size, size))`` on a PIL image: Pillow bilinear, uint8 HWC out."""
    from PIL import Image

    return np.asarray(Image.fromarray(image_hwc).resize((size, size), Image.BILINEAR))


def preprocess_image(image_hwc: np.ndarray, size: int = 128, out: np.ndarray | None = None) -> np.ndarray:
    """One uint8 HWC image → float32 (3, size, size), bit-equal to the seed's torchvision transform.

    Args:
        image_hwc: uint8 (H, W, 3) RGB.
        size: output height = width.
        out: a float32 (3, size, size) buffer to fill instead of allocating one.

    Returns:
        A C-contiguous float32 CHW array (``out`` when given).
    """
    chw = np.ascontiguousarray(resize_uint8(image_hwc, size).transpose(2, 0, 1))
    return np.take(_LEVELS, chw, out=out)


def preprocess_batch(images_hwc: np.ndarray, size: int = 128) -> np.ndarray:
    """Many uint8 HWC images → float32 (N, 3, size, size)."""
    out = np.empty((len(images_hwc), 3, size, size), dtype=np.float32)
    for k, image in enumerate(images_hwc):
        preprocess_image(image, size, out=out[k])
    return out


def iter_preprocessed(
    dataset: CifarTest, *, size: int = 128, limit: int | None = None, batch: int = 64
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Preprocess on the fly, ``batch`` images at a time, without holding the whole set.

    Yields:
        (indices int64 (B,), float32 (B, 3, size, size)); the last batch may be short.
    """
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for start in range(0, count, batch):
        indices = np.arange(start, min(start + batch, count), dtype=np.int64)
        yield indices, preprocess_batch(dataset.images[indices], size)


# --------------------------------------------------------------------------- conversion


def _write_bin(path: Path, tensor: np.ndarray) -> str:
    """Write through ``.{name}.part`` + rename, so a reader never sees half a file; return its CRC-32."""
    tmp = path.with_name(f".{path.name}.part")
    # 0o644 & ~umask: never group/other-writable, which ais_bench (2024) refuses for inputs
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(tensor).cast("B")
        crc = crc32_bytes(view)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return crc


def _convert(images: np.ndarray, indices: list[int], save_path: Path, size: int) -> dict[int, str]:
    out = np.empty((3, size, size), dtype="<f4")  # reused: no 196 KB allocation per image
    return {i: _write_bin(save_path / f"{i}.bin", preprocess_image(images[i], size, out=out)) for i in indices}


def _run_parallel(dataset: CifarTest, todo: list[int], save_path: Path, size: int, workers: int,
                  progress: Progress | None) -> dict[int, str]:
    """Threads: Pillow's resize, numpy's take and file writes release the GIL."""
    chunk = 64
    chunks = [todo[k:k + chunk] for k in range(0, len(todo), chunk)]
    crcs: dict[int, str] = {}
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for finished in pool.map(lambda c: _convert(dataset.images, c, save_path, size), chunks):
            crcs.update(finished)
            if progress:
                progress(len(crcs), len(todo))
    except OSError as exc:  # disk full, folder removed under us, ...
        from bitcli.errors import os_error

        raise os_error(exc, save_path, "--save-path", need=(len(todo) - len(crcs)) * 3 * size * size * 4) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: stop after the chunks in flight
    return crcs


def _write_labels(label_path: Path, labels: str) -> None:
    try:
        write_labels(label_path, labels)
    except OSError as exc:
        from bitcli.errors import os_error

        raise os_error(exc, label_path, "--label-path") from None


def _check_space(save_path: Path, need: int) -> None:
    """Refuse before writing when the files cannot fit on the disk (with both figures)."""
    import shutil

    from bitcli.errors import StorageError, human_bytes

    free = shutil.disk_usage(save_path).free
    if need > free:
        raise StorageError(f"not enough space in {save_path}: about {human_bytes(need)} needed, {human_bytes(free)} free",
                           hint="free some space, choose another --save-path, or convert fewer images with --limit N")


def _expected_manifest(dataset: CifarTest, count: int, size: int) -> dict:
    return {
        "format": "bit-data",
        "preprocess": PREPROCESS_VERSION,
        "source_name": dataset.source.name,
        "source_sha256": sha256_file(dataset.source),
        "image_size": size,
        "count": count,
        "bytes_per_file": 3 * size * size * 4,
        "synthetic": dataset.synthetic,
    }


def _labels_text(dataset: CifarTest, count: int) -> str:
    return "".join(f"{int(label)}\n" for label in dataset.labels[:count])


def _own_count(save_path: Path) -> int | None:
    """How many ``{i}.bin`` bit's manifest (or partial manifest) says it wrote; None: not bit's folder."""
    docs = [read_json_object(save_path / name) for name in (MANIFEST, PARTIAL)]
    counts = [d.get("count") for d in docs if d and isinstance(d.get("count"), int)]
    if counts:
        return max(counts)
    return 0 if any((save_path / n).is_file() for n in (MANIFEST, PARTIAL)) else None


def _prepare_folder(save_path: Path, expected: dict, count: int, force: bool) -> tuple[set[int], dict[int, str]]:
    """Make ``save_path`` ready; return the indices already done by an interrupted identical run, and their CRCs."""
    check_record_files(save_path, (MANIFEST, PARTIAL, DIGESTS))
    own_count = _own_count(save_path)
    bins = numbered_bins(save_path)
    if own_count is None and bins and not force:
        raise DataError(f"save path {save_path} already holds .bin files not written by bit data",
                        hint="choose a new folder (ais_bench reads every .bin in it), or pass --force to overwrite them")
    ours, foreign = extra_bins(bins, count, own_count or 0)
    if foreign:  # --force overwrites 0..count-1 as promised, but never deletes someone's other files
        names = ", ".join(p.name for p in foreign[:SHOWN])
        raise DataError(f"save path {save_path} holds {len(foreign)} .bin file(s) bit data did not write and would "
                        f"not overwrite ({names}{', …' if len(foreign) > SHOWN else ''}); ais_bench would read them too",
                        hint="choose a new folder, or move those files away")
    try:
        save_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create save path {save_path}: {exc.strerror}", hint="choose another --save-path") from None
    for stray in save_path.glob(".*.part"):  # temp files of a killed run
        stray.unlink(missing_ok=True)
    # files of an identical run (interrupted, or complete with some files deleted) are kept
    resume = not force and any(same_data(read_json_object(save_path / name), expected) for name in (PARTIAL, MANIFEST))
    (save_path / MANIFEST).unlink(missing_ok=True)  # the folder is about to change
    if not resume:
        atomic_write_text(save_path / PARTIAL, json.dumps(expected, indent=2, sort_keys=True) + "\n")
    for path in ours:  # bit's own, left from a larger earlier run; ais_bench would read them
        path.unlink()
    if not resume:
        return set(), {}
    want, record = expected["bytes_per_file"], read_digests(save_path)
    kept = {i for i, p in bins.items() if i < count and p.stat().st_size == want
            and (not record or unchanged(p, record.get(p.name)))}  # fmt: skip
    return kept, {i: (record[f"{i}.bin"][2] if f"{i}.bin" in record else crc32_file(bins[i])) for i in kept}


def bins_from_cifar(
    dataset_path: Path,
    save_path: Path,
    label_path: Path,
    *,
    image_size: int = 128,
    limit: int | None = None,
    force: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> DataResult:
    """Write ``SAVE/{i}.bin`` (float32 CHW, reference-exact) and the label file.

    Args:
        dataset_path: CIFAR-10 folder, its ``cifar-10-batches-py`` or the tarball.
        save_path: folder for the ``.bin`` files.
        label_path: label file (line ``i`` = class of ``{i}.bin``).
        image_size: output height = width.
        limit: only the first N images (None: all).
        force: redo even when the outputs are up to date.
        workers: threads (default: every core).
        progress: called with (images done, images to do) as work advances.

    Returns:
        A :class:`DataResult`.

    Raises:
        DataError: for bad input data, a bad limit or unusable output paths.
    """
    started = time.perf_counter()
    save_path, label_path = Path(save_path), Path(label_path)
    check_outputs(save_path, label_path, limit)
    dataset = read_cifar10_test(dataset_path)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    expected = _expected_manifest(dataset, count, image_size)
    labels = _labels_text(dataset, count)

    check_record_files(save_path, (MANIFEST, PARTIAL, DIGESTS))
    check_label_replaceable(label_path, labels, {"--dataset-path": dataset.source})
    reason = "--force" if force else folder_stale_reason(save_path, label_path, expected, labels)

    def result(written: int, skipped: bool, resumed: int = 0) -> DataResult:
        return DataResult(count, written, count * expected["bytes_per_file"], time.perf_counter() - started, skipped,
                          save_path, label_path, dataset.synthetic, save_path / MANIFEST, dataset.source, resumed,
                          None if skipped else reason)

    if reason is None:
        return result(0, True)

    done, crcs = _prepare_folder(save_path, expected, count, force)
    todo = [i for i in range(count) if i not in done]
    _check_space(save_path, len(todo) * expected["bytes_per_file"])
    crcs.update(_run_parallel(dataset, todo, save_path, image_size, workers or os.cpu_count() or 1, progress))
    _write_labels(label_path, labels)
    write_digests(save_path, crcs)
    # where it came from and how big the source is: what reports show, not what decides "up to date"
    from bitcli.provenance import now_iso

    record = {**expected, "source_path": str(Path(dataset_path).resolve()), "source_total": len(dataset),
              "files_sha256": files_digest(save_path), "made_at": now_iso()}
    atomic_write_text(save_path / MANIFEST, json.dumps(record, indent=2, sort_keys=True) + "\n")
    (save_path / PARTIAL).unlink(missing_ok=True)
    return result(len(todo), False, len(done))


def data_stale_reason(dataset_path: Path, save_path: Path, label_path: Path, *, image_size: int = 128,
                      limit: int | None = None) -> str | None:
    """Why :func:`bins_from_cifar` would write now (None: up to date); reads the set, writes nothing."""
    dataset = read_cifar10_test(dataset_path)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    return folder_stale_reason(Path(save_path), Path(label_path), _expected_manifest(dataset, count, image_size),
                               _labels_text(dataset, count))


def dataset_source(
    cfg: "Settings",
    dataset_flag: Path | None = None,
    *,
    download_progress: Progress | None = None,
) -> tuple[Path, str | None]:
    """The data set to convert, as ``bit data`` and ``bit all`` both resolve it.

    A synthetic set (``dataset.synthetic``) is written now (deterministic, so
    rewriting it changes nothing); with ``dataset.download`` the tarball is
    fetched unless CIFAR-10 is already there; otherwise ``dataset.path``.

    Args:
        cfg: resolved settings.
        dataset_flag: an explicit ``--dataset-path`` (where a synthetic set goes).
        download_progress: called with (bytes done, bytes total) while downloading.

    Returns:
        (the path to read, a note for the user or None).
    """
    from bitcli.datasets import cifar

    path = Path(cfg["dataset.path"])
    if cfg["dataset.synthetic"]:
        target = Path(dataset_flag) if dataset_flag else cfg.artifacts.synthetic_data
        written = cifar.write_cifar_layout(cifar.synthetic_cifar10(cfg["dataset.synthetic"]), target)
        return target, f"SYNTHETIC data: {cfg['dataset.synthetic']} generated images (not CIFAR-10) in {written.parent}"
    if not cfg["dataset.download"]:
        return path, None
    try:
        found = cifar.locate(path)
        return path, f"CIFAR-10 already at {found}; not downloading"
    except DataError:
        pass
    return cifar.download_cifar10(path, progress=download_progress), f"downloaded {cifar.CIFAR10_URL} into {path}"
