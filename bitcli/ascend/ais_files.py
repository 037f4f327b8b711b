"""ais_bench's input-folder rules (reference/ascend-tools.md §2.3): which files, in what order, how many per batch.

The same rules serve two callers: ``bit infer`` on onnxruntime/torch reads a
folder exactly as ais_bench would (:mod:`bitcli.stages.infer_io`), and the
Ascend driver splits a folder between devices in that order
(:mod:`bitcli.ascend.ais_run`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bitcli.artifacts import existing_folder
from bitcli.errors import DataError

INPUT_SUFFIXES = (".bin", ".BIN", ".npy", ".NPY")


def natural_key(text: str) -> list[Any]:
    """Digit runs as integers, text lower-cased (ais_bench's ``natural_sort``)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def input_files(input_dir: Path) -> list[Path]:
    """Top-level ``.bin/.BIN/.npy/.NPY`` files of ``input_dir`` in ais_bench's order.

    Raises:
        DataError: the folder is missing or holds no such file.
    """
    input_dir = existing_folder(input_dir, "input folder", example="--input WORKDIR/dataset_bin",
                                missing_hint="run `bit data` first, or pass --input DIR")
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


def split_between(files: list[Path], parts: int) -> list[list[Path]]:
    """tools 2023's split of an input list between devices: contiguous chunks of ceil(n / parts) files."""
    size = -(-len(files) // parts)
    return [files[i * size:(i + 1) * size] for i in range(parts)]
