"""Reading an input folder batch by batch as ais_bench does; the summary format.

The folder rules themselves (which files, order, files per batch) live in
:mod:`bitcli.ascend.ais_files`; reference ascend-tools.md §2.3 and §2.5
(summary JSON). Used by :mod:`bitcli.stages.infer`.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from bitcli.ascend.ais_files import (  # noqa: F401  (ais_bench's input rules, re-exported for the stage)
    INPUT_SUFFIXES,
    file_bytes,
    files_per_batch,
    input_files,
    natural_key,
    stem_of,
)
from bitcli.errors import DataError
from bitcli.timing import latency_stats, throughput

PREFETCH = 2  # batches decoded ahead of the one computing


@dataclass
class Batch:
    """One model input: sample stems (None = padding copy), their source files, the array."""

    stems: list[str | None]      # None: a padding copy, gets no output
    infiles: list[str]
    data: Any                    # numpy float32, the model's input shape


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


def _prefetch(source: Iterator[Batch], depth: int = PREFETCH) -> Iterator[Batch]:
    """Run ``source`` in a thread, ``depth`` items ahead; re-raise its errors here."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        box.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(done)
        except BaseException as exc:  # handed to the consumer
            box.put(exc)

    worker = threading.Thread(target=produce, name="bit-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                box.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def _dataset_batches(chunks: Iterable[tuple[Any, Any]], shape: tuple[int, ...], origin: str) -> Iterator[Batch]:
    import numpy as np

    for indices, array in chunks:
        stems: list[str | None] = [str(int(i)) for i in indices]
        array = np.ascontiguousarray(array, dtype=np.float32)
        pad = shape[0] - array.shape[0]
        if pad > 0:  # as ais_bench: copies of the batch's first sample, no outputs for them
            array = np.concatenate([array, np.repeat(array[:1], pad, axis=0)])
            stems += [None] * pad
        yield Batch(stems, [f"{origin}{s}" for s in stems if s is not None], array)
