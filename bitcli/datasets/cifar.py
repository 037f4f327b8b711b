"""The CIFAR-10 test split in its official python layout: read, synthesise, download.

The official ``cifar-10-python.tar.gz`` holds ``cifar-10-batches-py/`` with
``test_batch`` (a pickle: ``b"data"`` uint8 N×3072, each row the R, G, B planes
of one 32×32 image; ``b"labels"``; ``b"batch_label"``; ``b"filenames"``) and
``batches.meta`` (``b"label_names"``). :func:`read_cifar10_test` accepts the
folder above it, the folder itself or the tarball (read in place, never
extracted).

Synthetic sets are written in the same layout so every stage reads them like
the real thing; they carry ``batch_label = b"synthetic ..."`` and a
``SYNTHETIC`` marker file, and :class:`CifarTest.synthetic` says so.
"""

from __future__ import annotations

import http.client
import io
import pickle
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from bitcli.artifacts import atomic_path, atomic_write_bytes, atomic_write_text, file_hash
from bitcli.datasets import CIFAR10_CLASSES
from bitcli.errors import DataError

BATCHES_DIR = "cifar-10-batches-py"
TARBALL = "cifar-10-python.tar.gz"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CLASS_NAMES = CIFAR10_CLASSES  # batches.meta's label_names, when a set has none of its own
SYNTHETIC_MARKER = "SYNTHETIC"
SYNTHETIC_TAG = b"synthetic"

# Progress callback: (done, total) in images or bytes; total may be None.
Progress = Callable[[int, Optional[int]], None]


@dataclass(frozen=True)
class CifarTest:
    """The decoded test split.

    Attributes:
        images: uint8 (N, 32, 32, 3), HWC, RGB.
        labels: int64 (N,), class indices.
        class_names: names from ``batches.meta`` (``label_names``).
        source: the ``test_batch`` file or the tarball it came from.
        synthetic: True for sets made by :func:`synthetic_cifar10`.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    source: Path
    synthetic: bool

    def __len__(self) -> int:
        return int(self.labels.shape[0])


# --------------------------------------------------------------------------- reading


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickle dicts, lists, bytes and numpy arrays only: a data file must not run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(_numpy_core_here(module), name)


def _numpy_core_here(module: str) -> str:
    """``numpy.core.x`` ↔ ``numpy._core.x``, whichever the installed numpy has.

    numpy 2 renamed ``numpy.core`` to ``numpy._core``: a pickle written under numpy 2 (such as a re-made
    test_batch) names ``numpy._core``, which numpy 1.x lacks; the official 2009 file names ``numpy.core``,
    which numpy 2 keeps only as a deprecated alias.
    """
    import numpy as np

    numpy2 = int(np.__version__.split(".")[0]) >= 2
    if numpy2 and module.startswith("numpy.core."):
        return "numpy._core." + module[len("numpy.core."):]
    if not numpy2 and module.startswith("numpy._core."):
        return "numpy.core." + module[len("numpy._core."):]
    return module


def _unpickle(data: bytes, where: str) -> object:
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # truncated, not a pickle, foreign objects: all the same to the user
        why = " ".join(str(exc).split())[:120]  # one line, whatever the unpickler said
        raise DataError(
            f"{where} is not a readable CIFAR-10 pickle ({type(exc).__name__}: {why})",
            hint="the file is damaged or not CIFAR-10; fetch cifar-10-python.tar.gz again (bit data --download)",
        ) from None


def locate(dataset_path: Path) -> Path:
    """The ``test_batch`` file or tarball that ``dataset_path`` designates.

    Raises:
        DataError: when neither is there, with what to do.
    """
    path = Path(dataset_path)
    fix = "give --dataset-path DIR holding cifar-10-batches-py/ or cifar-10-python.tar.gz, pass --download, or use --synthetic N"
    if not path.exists():
        raise DataError(f"dataset path {path} does not exist", hint=fix)
    if path.is_file():
        if path.name == "test_batch":
            return path
        return path  # a tarball under any name; opened as gzip tar
    for candidate in (path / BATCHES_DIR / "test_batch", path / "test_batch", path / TARBALL):
        if candidate.is_file():
            return candidate
    raise DataError(f"no CIFAR-10 test set in {path} (no {BATCHES_DIR}/test_batch, test_batch or {TARBALL})", hint=fix)


def _read_members(source: Path) -> tuple[bytes, bytes | None, bool]:
    """(test_batch bytes, batches.meta bytes or None, SYNTHETIC marker present)."""
    if source.name == "test_batch":
        meta = source.with_name("batches.meta")
        marker = source.with_name(SYNTHETIC_MARKER).exists()
        return source.read_bytes(), meta.read_bytes() if meta.is_file() else None, marker
    try:
        with tarfile.open(source, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            if "test_batch" not in members:
                raise DataError(f"{source} holds no test_batch", hint="it is not cifar-10-python.tar.gz; fetch it again")
            data = tar.extractfile(members["test_batch"]).read()
            meta = tar.extractfile(members["batches.meta"]).read() if "batches.meta" in members else None
            return data, meta, SYNTHETIC_MARKER in members
    except (tarfile.TarError, OSError, EOFError) as exc:
        if source.name != TARBALL:  # a file the user named, not a download of ours: never suggest deleting it
            raise DataError(f"{source} is neither CIFAR-10's test_batch nor a gzip tarball ({exc})",
                            hint="point --dataset-path at the folder holding cifar-10-batches-py/ or at "
                            f"{TARBALL}") from None  # fmt: skip
        raise DataError(
            f"{source} is not a readable gzip tarball ({exc})",
            hint="it is damaged: move it away and fetch cifar-10-python.tar.gz again (bit data --download)",
        ) from None


def _class_names(meta: bytes | None, where: str) -> list[str]:
    if meta is None:
        return list(CLASS_NAMES)
    doc = _unpickle(meta, where)
    names = doc.get(b"label_names", doc.get("label_names")) if isinstance(doc, dict) else None
    if not isinstance(names, list) or not names:
        raise DataError(f"{where} has no label_names list", hint="the file is not CIFAR-10's batches.meta")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _get(doc: dict, key: str):
    return doc.get(key.encode(), doc.get(key))


def read_cifar10_test(dataset_path: Path) -> CifarTest:
    """Read the CIFAR-10 test split from a folder, its batches folder or the tarball.

    Args:
        dataset_path: ``DIR`` holding ``cifar-10-batches-py/``, that folder
            itself, or ``cifar-10-python.tar.gz``.

    Returns:
        The decoded :class:`CifarTest`.

    Raises:
        DataError: for a missing, truncated, foreign or mis-shaped file.
    """
    source = locate(dataset_path)
    data, meta, marker = _read_members(source)
    where = f"{source}" if source.name == "test_batch" else f"test_batch in {source}"
    doc = _unpickle(data, where)
    if not isinstance(doc, dict) or _get(doc, "data") is None or _get(doc, "labels") is None:
        raise DataError(f"{where} lacks the 'data'/'labels' entries of a CIFAR-10 batch", hint="it is not CIFAR-10's test_batch")
    raw, labels = _get(doc, "data"), _get(doc, "labels")
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 2 or raw.shape[1] != 3 * 32 * 32:
        shape = getattr(raw, "shape", type(raw).__name__)
        raise DataError(f"{where}: 'data' must be uint8 N×3072, got {shape} {getattr(raw, 'dtype', '')}".rstrip(),
                        hint="it is not CIFAR-10's test_batch (32×32 RGB images)")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != raw.shape[0] or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: {raw.shape[0]} images but labels of shape {labels.shape} ({labels.dtype})",
                        hint="it is not a consistent CIFAR-10 batch")
    names = _class_names(meta, f"batches.meta beside {where}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
        raise DataError(f"{where}: labels outside 0..{len(names) - 1}", hint="it is not a consistent CIFAR-10 batch")
    tag = _get(doc, "batch_label") or b""
    synthetic = marker or (isinstance(tag, bytes) and tag.startswith(SYNTHETIC_TAG))
    images = raw.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # rows are CHW planes → HWC
    return CifarTest(np.ascontiguousarray(images), labels.astype(np.int64), names, source, bool(synthetic))


# --------------------------------------------------------------------------- synthetic


def synthetic_cifar10(n: int, seed: int = 0) -> CifarTest:
    """N deterministic 32×32 images: a class colour, a gradient and noise (demo data, not CIFAR-10).

    Args:
        n: number of images (> 0).
        seed: random seed; the same (n, seed) always gives the same bytes.

    Returns:
        A :class:`CifarTest` with ``synthetic=True`` and ``source`` ``Path("<synthetic>")``.
    """
    if n <= 0:
        raise DataError(f"--synthetic must be a positive number of images, got {n}", hint="e.g. --synthetic 64")
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % 10
    rng.shuffle(labels)
    palette = rng.integers(30, 226, size=(10, 3)).astype(np.float32)
    ramp = np.linspace(-25, 25, 32, dtype=np.float32)
    gradient = ramp[None, :, None, None] + ramp[None, None, :, None] * ((labels % 3) - 1)[:, None, None, None]
    noise = rng.normal(0, 12, size=(n, 32, 32, 3)).astype(np.float32)
    images = np.clip(palette[labels][:, None, None, :] + gradient + noise, 0, 255).astype(np.uint8)
    return CifarTest(images, labels, list(CLASS_NAMES), Path("<synthetic>"), True)


def write_cifar_layout(dataset: CifarTest, dest: Path, *, note: str = "") -> Path:
    """Save ``dataset`` as ``dest/cifar-10-batches-py/{test_batch,batches.meta}`` (+ SYNTHETIC marker).

    Refuses to overwrite a real (non-synthetic) set.

    Returns:
        The written ``test_batch`` path.
    """
    folder = Path(dest) / BATCHES_DIR
    if folder.exists() and (folder / "test_batch").exists() and not (folder / SYNTHETIC_MARKER).exists():
        raise DataError(f"{folder} already holds a real CIFAR-10 test set; not overwriting it with synthetic data",
                        hint="give --synthetic another --dataset-path (default: WORKDIR/synthetic-cifar10)")
    label = SYNTHETIC_TAG + f" CIFAR-10-format demo set, {len(dataset)} images, NOT CIFAR-10 {note}".rstrip().encode()
    doc = {
        b"batch_label": label,
        b"labels": [int(x) for x in dataset.labels],
        b"data": np.ascontiguousarray(dataset.images.transpose(0, 3, 1, 2)).reshape(len(dataset), -1),
        b"filenames": [f"synthetic_{i}.png".encode() for i in range(len(dataset))],
    }
    meta = {b"num_cases_per_batch": len(dataset), b"label_names": [s.encode() for s in dataset.class_names], b"num_vis": 3072}
    marker = "Synthetic images written by `bit data --synthetic`; not CIFAR-10.\n".encode()
    files = ((SYNTHETIC_MARKER, marker), ("batches.meta", pickle.dumps(meta, protocol=4)),
             ("test_batch", pickle.dumps(doc, protocol=4)))  # the marker first: never a real-looking half set
    for name, data in files:
        target = folder / name
        if not (target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data):
            atomic_write_bytes(target, data)  # unchanged bytes are left alone: a rerun changes nothing
    return folder / "test_batch"


# --------------------------------------------------------------------------- download


# pragma: no mutate block  (network code to the end of the file: outside `make mutate`'s reader/writer scope)
def md5_file(path: Path) -> str:
    """Hex md5 of a file's bytes (what the CIFAR-10 site publishes)."""
    return file_hash(path, "md5")


def download_cifar10(dest: Path, *, progress: Progress | None = None, timeout: float = 30.0) -> Path:
    """Fetch ``cifar-10-python.tar.gz`` into ``dest`` (a folder, or the tarball path), md5-checked.

    A partial ``<tarball>.part`` from an interrupted run is resumed with an HTTP
    Range request. Uses :data:`CIFAR10_URL` and :data:`CIFAR10_MD5`.

    Returns:
        The verified tarball path.

    Raises:
        DataError: without network (saying where to put the file by hand) or on a bad checksum.
    """
    dest = Path(dest)
    target = dest if dest.name.endswith(".tar.gz") else dest / TARBALL
    if target.is_file() and md5_file(target) == CIFAR10_MD5:
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {target.parent}: {exc.strerror}", hint="choose a writable --dataset-path") from None
    part = target.with_name(target.name + ".part")
    _fetch(part, progress, timeout, by_hand=target)
    digest = md5_file(part)
    if digest != CIFAR10_MD5:
        part.unlink(missing_ok=True)
        raise DataError(f"downloaded {target.name} has md5 {digest}, expected {CIFAR10_MD5}; deleted it",
                        hint=f"run again, or place the official {TARBALL} in {target.parent} by hand")
    with atomic_path(target) as tmp:
        part.replace(tmp)
    return target


def _fetch(part: Path, progress: Progress | None, timeout: float, *, by_hand: Path) -> None:
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(CIFAR10_URL, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = response.status == 206
            length = response.headers.get("Content-Length")
            total = (have if resumed else 0) + int(length) if length else None
            done = have if resumed else 0
            with open(part, "ab" if resumed else "wb") as fh:
                while block := response.read(1 << 16):
                    fh.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
        if total is not None and done < total:
            raise http.client.IncompleteRead(b"", total - done)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the .part is complete
            return
        raise DataError(f"cannot download {CIFAR10_URL}: HTTP {exc.code} {exc.reason}",
                        hint=f"place {TARBALL} in {by_hand.parent} by hand") from None
    except http.client.HTTPException as exc:  # connection dropped mid-body: keep the .part for a resume
        raise DataError(f"download of {CIFAR10_URL} interrupted ({type(exc).__name__}); kept {part}",
                        hint="run the same command again to resume") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"cannot download {CIFAR10_URL} ({reason}); no network?",
                        hint=f"fetch it elsewhere and place {TARBALL} in {by_hand.parent}, then run again") from None
