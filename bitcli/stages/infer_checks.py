"""What ``bit infer`` checks before computing anything, and how it writes and resumes its outputs.

Inputs (every file, before the first batch, so an odd file is named up front):

* two files must not map to one output (``0.bin`` + ``0.npy``, ``1.bin`` + ``1.BIN``);
* every file holds the same number of bytes (the odd one is named);
* ``.npy`` files are float32 arrays (no object/pickled arrays, no int32 of the
  right byte count read as floats);
* a folder written by ``bit data`` (its manifest says so) must hold samples of
  exactly the model's per-sample size; a foreign folder keeps ais_bench's
  files-per-batch rule, with a warning when one file holds several samples;
* the model's input is N x 3 x H x W.

Outputs are written with a checked ``os.write`` loop into a resumable
``.result_bs{N}.partial`` folder, each under a temporary name renamed when
complete, so a file present there is always whole. A killed run leaves that
folder and its ``.resume.json`` key; the next run with the same model, inputs
and batch size keeps those outputs and computes only the batches still missing.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from bitcli import ui
from bitcli.errors import DataError

RESUME_KEY = ".resume.json"
SHOWN = 3


def npy_header(path: Path) -> tuple[tuple[int, ...], Any]:
    """(shape, dtype) of a ``.npy`` file from its header only; a clear error for anything else."""
    import numpy as np

    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(fh)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"input file {path} is not a readable .npy array ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                        hint="write float32 arrays with numpy.save, or use `bit data`'s .bin files") from None  # fmt: skip
    if dtype.hasobject or dtype != np.dtype("<f4"):
        raise DataError(f"input file {path} holds a {dtype} array; bit infer takes float32 only",
                        hint="save it as float32 (array.astype(numpy.float32)) or use `bit data`'s .bin files")
    return tuple(shape), dtype


def sample_bytes_of(path: Path) -> int:
    """The data bytes of one input file (.npy: its array's, checked to be float32)."""
    if path.suffix.lower() == ".npy":
        shape, dtype = npy_header(path)
        count = 1
        for dim in shape:
            count *= int(dim)
        return count * dtype.itemsize
    return path.stat().st_size


def check_input_files(files: list[Path]) -> int:
    """Check every input file before anything runs; return their common size in bytes.

    Raises:
        DataError: two files with one output name, an odd-sized file, a non-float32 .npy.
    """
    from bitcli.stages.infer_io import stem_of

    by_stem: dict[str, list[Path]] = {}
    for path in files:
        by_stem.setdefault(stem_of(path), []).append(path)
    clashes = [paths for paths in by_stem.values() if len(paths) > 1]
    if clashes:
        named = "; ".join(" and ".join(p.name for p in paths) for paths in clashes[:SHOWN])
        raise DataError(f"{len(clashes)} output name(s) would be written twice: {named} (each gives {stem_of(clashes[0][0])}_0.bin)",
                        hint="keep one file per sample name in the input folder")  # fmt: skip
    sizes = {path: sample_bytes_of(path) for path in files}
    common, _ = Counter(sizes.values()).most_common(1)[0]
    odd = [p for p, size in sizes.items() if size != common]
    if odd or common == 0:
        first = odd[0] if odd else files[0]
        raise DataError(
            f"input file {first} is {sizes[first]} bytes, unlike the other {len(files) - len(odd)} files "
            f"({common} bytes each)" + (f"; {len(odd)} such file(s)" if len(odd) > 1 else ""),
            hint="remove the odd file(s) from the input folder, or re-create it with `bit data --force`",
        )
    return common


def check_model_fit(shape: tuple[int, ...], file_bytes: int, manifest: dict[str, Any] | None, input_dir: Path) -> None:
    """The model takes N x 3 x H x W, and a bit-data folder's samples are exactly one model sample each.

    Raises:
        DataError: the model's input layout or the folder's sample size does not fit.
    """
    if len(shape) != 4 or shape[1] != 3 or any(int(d) <= 0 for d in shape):
        raise DataError(f"the model's input is {list(shape)}, not N x 3 x H x W",
                        hint="use the BiT model `bit export` writes (input 'image', N x 3 x S x S)")
    per_sample = 4 * 3 * int(shape[2]) * int(shape[3])
    if manifest is not None and manifest.get("format") == "bit-data":
        if file_bytes != per_sample:
            made = manifest.get("image_size", "?")
            raise DataError(
                f"{input_dir} was written by bit data at {made} px ({file_bytes} bytes a sample), but the model "
                f"takes {shape[2]} x {shape[3]} px ({per_sample} bytes a sample)",
                hint="re-run `bit data --force` with the model's --image-size, or use the model exported at that size",
            )
        return
    if file_bytes > per_sample:
        ui.warn(f"each file in {input_dir} holds {file_bytes // per_sample if file_bytes % per_sample == 0 else file_bytes / per_sample:g} "
                "model samples (ais_bench's files-per-batch rule); outputs are per file, not per sample")  # fmt: skip


def check_batch_memory(backend: Any) -> None:
    """Refuse before allocating when a few batches in flight cannot fit in memory."""
    from bitcli.resources import batch_bytes, check_memory
    from bitcli.stages.infer_io import PREFETCH

    opts = backend.options
    need = batch_bytes(opts.batch_size, opts.image_size) * (PREFETCH + 3)
    check_memory(need, f"bs {opts.batch_size} at {opts.image_size} px ({PREFETCH + 3} batches in flight)",
                 hint="use a smaller --bs (ais_bench's own limit is 4096)")


# --------------------------------------------------------------------------- checked, resumable writes


def write_checked(path: Path, array: Any) -> None:
    """Write ``array``'s bytes to ``path`` via a temporary name; every byte accounted for, close errors raised."""
    import numpy as np

    data = memoryview(np.ascontiguousarray(array)).cast("B")
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = data
        while view:
            written = os.write(fd, view)
            if written <= 0:
                raise OSError(28, "No space left on device", str(tmp))
            view = view[written:]
        if os.fstat(fd).st_size != data.nbytes:
            raise OSError(28, "No space left on device", str(tmp))
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)  # an error here (NFS, full disk on flush) raises too
    os.replace(tmp, path)


def resume_key(backend: Any, files_or_source: Any, per_batch: int) -> dict[str, Any]:
    """What a partial result must have been made from to be continued."""
    model = Path(str(backend.options.model))
    try:
        stat = model.stat()
        model_id = [str(model.resolve()), stat.st_size, stat.st_mtime_ns]
    except OSError:
        model_id = [str(backend.options.model)]
    return {"backend": backend.name, "model": model_id, "bs": backend.options.batch_size,
            "per_batch": per_batch, "inputs": files_or_source}  # fmt: skip


def open_partial(partial: Path, key: dict[str, Any], force: bool) -> set[str]:
    """Make ``partial`` ready; return the output names already finished by an identical run."""
    import shutil

    old = None
    try:
        old = json.loads((partial / RESUME_KEY).read_text())
    except (OSError, ValueError):
        pass
    if partial.exists() and (force or old != key):
        shutil.rmtree(partial) if partial.is_dir() else partial.unlink()
    partial.mkdir(parents=True, exist_ok=True)
    for stray in partial.glob(".*.tmp"):
        stray.unlink(missing_ok=True)
    if old == key and not force:
        return {p.name for p in partial.iterdir() if p.name.endswith("_0.bin") and p.is_file()}
    from bitcli.artifacts import atomic_write_text

    atomic_write_text(partial / RESUME_KEY, json.dumps(key))
    return set()


def nonfinite_outputs(result_dir: Path) -> list[str]:
    """Output files of a whole-folder tool (ais_bench) that hold NaN/inf, in natural order."""
    import numpy as np

    from bitcli.stages.infer_io import natural_key

    if not Path(result_dir).is_dir():
        return []
    files = sorted(Path(result_dir).rglob("*_0.bin"), key=lambda p: natural_key(p.name))
    return [p.name for p in files if not np.isfinite(np.fromfile(p, dtype=np.float32)).all()]
