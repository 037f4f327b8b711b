"""ais_bench's file rules, reproduced: which input files, in what order, how many per batch; the summary format.

Reference ascend-tools.md §2.3 (input folder → batches) and §2.5 (summary
JSON). Used by :mod:`bitcli.stages.infer`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from bitcli.errors import DataError
from bitcli.timing import latency_stats, throughput

INPUT_SUFFIXES = (".bin", ".BIN", ".npy", ".NPY")


@dataclass
class Batch:
    """One model input: sample stems (None = padding copy), their source files, the array."""

    stems: list[str | None]      # None: a padding copy, gets no output
    infiles: list[str]
    data: Any                    # numpy float32, the model's input shape


# --------------------------------------------------------------------------- ais_bench's input rules


def natural_key(text: str) -> list[Any]:
    """Digit runs as integers, text lower-cased (ais_bench's ``natural_sort``)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def input_files(input_dir: Path) -> list[Path]:
    """Top-level ``.bin/.BIN/.npy/.NPY`` files of ``input_dir`` in ais_bench's order.

    Raises:
        DataError: the folder is missing or holds no such file.
    """
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise DataError(f"input folder {input_dir} does not exist", hint="run `bit data` first, or pass --input DIR")
    files = sorted(p for p in input_dir.iterdir() if p.suffix in INPUT_SUFFIXES and p.is_file())
    if not files:
        raise DataError(
            f"input folder {input_dir} holds no input files (ais_bench takes *.bin, *.BIN, *.npy, *.NPY)",
            hint="run `bit data` to write one .bin per sample, or point --input at such a folder",
        )
    return sorted(files, key=lambda p: natural_key(str(p)))


def file_bytes(path: Path) -> int:
    """A file's sample size as ais_bench counts it (.npy: the array's nbytes)."""
    if path.suffix.lower() == ".npy":
        import numpy as np

        return int(np.load(path, mmap_mode="r").nbytes)
    return path.stat().st_size


def files_per_batch(tensor_bytes: int, first_file: Path) -> int:
    """Model input bytes ÷ first file bytes, or ais_bench's size error in plain words."""
    size = file_bytes(first_file)
    if size == 0 or tensor_bytes % size:
        raise DataError(
            f"input size mismatch (ais_bench: 'arg0 tensorsize: {tensor_bytes} filesize: {size} not match'): "
            f"{first_file.name} is {size} bytes, but one model input is {tensor_bytes} bytes, "
            "which is not a whole number of such files",
            hint="keep one preprocessed sample per file (`bit data`), at the model's image size and "
            "float32, and a model whose batch size is a multiple of the samples per file",
        )
    return tensor_bytes // size


def stem_of(path: Path | str) -> str:
    """ais_bench's output stem: the base name cut at its first '.' (``a.b.bin`` → ``a``)."""
    return Path(path).name.split(".", 1)[0]


def bin_batches(files: list[Path], per_batch: int, shape: tuple[int, ...]) -> Iterator[Batch]:
    import numpy as np

    for start in range(0, len(files), per_batch):
        group = files[start:start + per_batch]
        array = np.empty(shape, dtype=np.float32)  # filled in place: no join, no extra copy
        buffer = memoryview(array.reshape(-1).view(np.uint8))
        step = buffer.nbytes // per_batch
        for slot in range(per_batch):
            # ais_bench: placeholders of a short last batch take the group's first file
            path = group[slot] if slot < len(group) else group[0]
            _read_into(path, buffer[slot * step:(slot + 1) * step], group[0], array.nbytes)
        pad = per_batch - len(group)
        yield Batch([stem_of(p) for p in group] + [None] * pad, [str(p) for p in group], array)


def _read_into(path: Path, target: memoryview, first: Path, tensor_bytes: int) -> None:
    """Fill ``target`` with the sample bytes of ``path``; any other size is an error."""
    size = file_bytes(path)
    if size != target.nbytes:
        raise DataError(
            f"input file {path} is {size} bytes, unlike {first.name} ({target.nbytes} bytes; ais_bench: "
            f"'ndata size not match {tensor_bytes}')",
            hint="every input file must hold the same number of samples; re-create the folder with `bit data --force`",
        )
    if path.suffix.lower() == ".npy":
        import numpy as np

        target[:] = np.ascontiguousarray(np.load(path)).view(np.uint8).reshape(-1)
        return
    with open(path, "rb", buffering=0) as fh:
        fh.readinto(target)


def make_summary(filesinfo: dict[str, Any], latencies: list[float], bs: int, backend: str, argv: list[str]) -> dict[str, Any]:
    """The summary JSON in ait 2024's key order, plus ``backend``."""
    stats = latency_stats(latencies)
    return {
        "filesinfo": filesinfo,
        "args": list(argv),
        "NPU_compute_time": stats,
        "H2D_latency": latency_stats([]),
        "D2H_latency": latency_stats([]),
        "npu_compute_time_list": list(latencies),
        "throughput": throughput(bs, stats["mean"]),
        "pid": os.getpid(),
        "backend": backend,
    }


