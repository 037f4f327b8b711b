"""Backend over per-sample ``.bin`` files (or the data set itself) → logits, as ais_bench writes them.

The input folder is read exactly as ais_bench reads it (reference
ascend-tools.md §2.3): top-level ``*.bin/*.BIN/*.npy/*.NPY`` only, natural
sort, files per batch = model input bytes ÷ size of the first file, and a
short last batch padded with copies of its own first file (no outputs are
written for the copies). Outputs follow §2.4–2.5: ``OUTPUT/result_bs{N}/{stem}_0.bin``
(raw float32) and the sibling ``OUTPUT/result_bs{N}_summary.json`` with
ais_bench's keys plus ``backend``.

The result folder is built under the sibling ``.result_bs{N}.partial`` and
renamed at the end, so an interrupted run never leaves a half result; the
next identical run continues from the outputs it finished (byte for byte
the same result). Every input is checked before anything computes
(:mod:`bitcli.stages.infer_checks`), and outputs holding NaN/inf are counted
into the summary's ``nonfinite_outputs``. A prefetch thread
reads and decodes the next batch while the current one computes; at most a
few batches are in memory at any time.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from bitcli import ui
from bitcli.artifacts import Artifacts, atomic_write_text, result_dir_path, summary_path
from bitcli.ascend.ais_paths import make_folder
from bitcli.backends.base import Backend, BackendOptions
from bitcli.errors import ConfigError, DataError
from bitcli.stages.infer_io import (  # noqa: F401  (re-exported: the stage's public rules)
    PREFETCH,
    Batch,
    _dataset_batches,
    _prefetch,
    bin_batches,
    files_per_batch,
    input_files,
    make_summary,
    natural_key,
)
from bitcli.timing import mean_ms, throughput

Progress = Callable[[int, int], None]  # (samples done, samples total)


@dataclass
class InferResult:
    """What one ``bit infer`` run for one batch size produced."""

    backend: str
    device: str
    bs: int
    model: str
    result_dir: Path
    summary_path: Path
    samples: int                 # output files written (real samples)
    runs: int                    # batches computed
    files_per_batch: int
    padded: int                  # placeholder copies in the last batch (no outputs)
    compute_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0          # whole loop: reading, compute, writing
    reported_throughput: float | None = None  # a whole-folder tool's own figure (ais_bench, summed over devices)
    resumed: int = 0             # outputs kept from an interrupted run
    nonfinite: list[str] = field(default_factory=list)  # output files holding NaN/inf
    status: str = "done"         # "done" | "up to date" (read back from its record, nothing computed)
    identity: dict[str, Any] = field(default_factory=dict)  # backend, precision, device, model + sha256, weights

    @property
    def mean_compute_ms(self) -> float:
        """Mean compute time per batch (ms); 0.0 when nothing was timed."""
        return mean_ms(self.compute_ms)

    @property
    def throughput(self) -> float:
        """ais_bench's figure: 1000 × bs / mean compute ms."""
        if self.reported_throughput is not None:
            return self.reported_throughput
        return throughput(self.bs, self.mean_compute_ms)

    @property
    def images_per_s(self) -> float:
        """End to end: real samples per second of wall clock."""
        return self.samples / self.wall_s if self.wall_s else 0.0


# --------------------------------------------------------------------------- model and options


def standard_model(backend: str, directory: Path, bs: int, *, weights: str | None = None,
                   precision: str = "fp32") -> Path | str:
    """The model a backend uses by default for ``bs``, by the standard artefact names.

    Args:
        backend: a concrete backend name (not ``auto``).
        directory: the folder holding the models (the workdir).
        bs: the batch size.
        weights: the checkpoint (``model.weights``) for torch.
        precision: the profile's precision; int8 takes ``bit_bs{bs}_int8.onnx`` (``bit quantize``).

    Returns:
        ``bit_bs{bs}.om`` for ascend; ``weights`` for torch; for onnxruntime ``bit_bs{bs}_sim.onnx``
        when it exists, else the dynamic ``bit.onnx`` (``bit_bs{bs}_int8.onnx`` at int8).
    """
    names = Artifacts(Path(directory))
    if backend == "ascend":
        return names.om(bs)
    if backend == "torch":
        return weights or "random"
    if precision == "int8":
        return names.int8_onnx(bs)
    sim = names.sim_onnx(bs)
    # The dynamic model serves any bs; when neither exists, name the one to make.
    return names.onnx if not sim.is_file() and names.onnx.is_file() else sim


def options_from_settings(settings: Any, bs: int, model: Path | str) -> BackendOptions:
    """Everything a backend needs, from the resolved profile."""
    return BackendOptions(
        model=model,
        batch_size=bs,
        image_size=settings["model.image_size"],
        num_classes=settings["model.num_classes"],
        arch=settings["model.arch"],
        seed=settings["model.seed"],
        provider=settings["onnxruntime.provider"],
        precision=settings["precision"],
        threads=settings["onnxruntime.threads"],
        devices=tuple(settings["ascend.devices"]),
        extra={"set_env": settings["ascend.set_env"]},
    )

# --------------------------------------------------------------------------- the result folder


def check_result_dir(result_dir: Path, force: bool) -> None:
    """Refuse to replace a result folder that already holds files, unless ``force``."""
    if result_dir.exists() and not result_dir.is_dir():
        raise DataError(f"{result_dir} exists and is not a folder", hint="remove it or pass another --output")
    if result_dir.is_dir() and any(result_dir.iterdir()) and not force:
        count = sum(1 for _ in result_dir.iterdir())
        raise DataError(
            f"result folder {result_dir} already holds {count} files",
            hint="pass --force to replace them, or --output another folder",
        )


def _publish(tmp_dir: Path, result_dir: Path, summary: dict[str, Any]) -> None:
    """Swap the finished temporary folder in; write the summary beside it."""
    from bitcli.stages.infer_checks import RESUME_KEY

    (tmp_dir / RESUME_KEY).unlink(missing_ok=True)
    summary_file = summary_path(result_dir)
    summary_file.unlink(missing_ok=True)
    if result_dir.exists():
        old = result_dir.with_name(f".{result_dir.name}.old-{os.getpid()}")
        os.replace(result_dir, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(tmp_dir, result_dir)
    atomic_write_text(summary_file, json.dumps(summary))

# --------------------------------------------------------------------------- the loop


@dataclass
class _Loop:
    """Running totals of one batch loop."""

    filesinfo: dict[str, Any] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    written: int = 0
    runs: int = 0
    padded: int = 0
    resumed: int = 0
    nonfinite: list[str] = field(default_factory=list)   # output names holding NaN/inf


def _run_batches(backend: Backend, batches: Iterable[Batch], result_dir: Path, tmp_dir: Path, total: int,
                 progress: Progress | None, done: set[str]) -> _Loop:  # fmt: skip
    import numpy as np

    from bitcli.stages.infer_checks import write_checked

    loop = _Loop()
    for index, batch in enumerate(_prefetch(iter(batches))):
        names = [f"{stem}_0.bin" for stem in batch.stems if stem is not None]
        group = len(batch.stems)
        loop.padded += group - len(names)
        for pos, name in enumerate(names):
            loop.filesinfo[str(index * group + pos)] = {"infiles": [batch.infiles[pos]], "outfiles": [str(result_dir / name)]}
        if names and all(name in done for name in names):  # finished by the interrupted run: same batch, same bytes
            loop.resumed += len(names)
            loop.nonfinite += [n for n in names if not np.isfinite(np.fromfile(tmp_dir / n, dtype=np.float32)).all()]
            continue
        logits = np.asarray(backend.infer(batch.data), dtype=np.float32)
        loop.latencies.append(backend.last_latency_ms)
        loop.runs += 1
        if logits.shape[0] % group:
            raise DataError(f"model output of shape {logits.shape} cannot be split into {group} samples (ais_bench: 'save out files error')")
        for stem, part in zip(batch.stems, np.split(logits, group)):
            if stem is None:
                continue
            write_checked(tmp_dir / f"{stem}_0.bin", part)
            if not np.isfinite(part).all():
                loop.nonfinite.append(f"{stem}_0.bin")
            loop.written += 1
        if progress:
            progress(loop.written + loop.resumed, total)
    return loop


def _execute(backend: Backend, make_batches: Callable[[], tuple[Iterable[Batch], int, int, Any]], output_root: Path, *,
             force: bool, progress: Progress | None, argv: list[str] | None) -> InferResult:  # fmt: skip
    from bitcli.errors import BitError, os_error
    from bitcli.resources import remove_stale_temps
    from bitcli.stages.infer_checks import open_partial, resume_key

    bs = backend.options.batch_size
    result_dir = result_dir_path(output_root, bs)  # checked by the caller before the model was opened
    batches, total, per_batch, inputs = make_batches()
    tmp_dir = result_dir.with_name(f".{result_dir.name}.partial")
    try:
        make_folder(result_dir.parent)  # 0o750: tools 2025 refuses a later --output with more (ascend.ais_paths)
        remove_stale_temps(result_dir.parent, result_dir.name)  # random-named partials of older versions
        done = open_partial(tmp_dir, resume_key(backend, inputs, per_batch), force)
        if done:
            ui.info(f"resuming: {len(done)} outputs kept from the interrupted run in {tmp_dir}")
        start = time.perf_counter()
        loop = _run_batches(backend, batches, result_dir, tmp_dir, total, progress, done)
        wall = time.perf_counter() - start
        os.chmod(tmp_dir, 0o750)  # ait 2024 creates result folders 0o750
        summary = make_summary(loop.filesinfo, loop.latencies, bs, backend.name, argv if argv is not None else sys.argv)
        summary.update(resumed=loop.resumed, nonfinite_outputs={"count": len(loop.nonfinite), "first": loop.nonfinite[:5]})
        _publish(tmp_dir, result_dir, summary)
    except OSError as exc:  # full disk, read-only, folder removed: finished outputs stay for the next run
        raise os_error(exc, tmp_dir if tmp_dir.exists() else result_dir.parent, "--output",
                       need=total * 4 * int(backend.options.num_classes or 10)) from None
    except (KeyboardInterrupt, BitError):
        raise  # the partial folder stays: the same command continues from it
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return InferResult(
        backend=backend.name, device=backend.describe(), bs=bs, model=str(backend.options.model),
        result_dir=result_dir, summary_path=summary_path(result_dir), samples=loop.written + loop.resumed,
        runs=loop.runs, files_per_batch=per_batch, padded=loop.padded, compute_ms=loop.latencies, wall_s=wall,
        resumed=loop.resumed, nonfinite=loop.nonfinite,
    )


def outputs_from_bins(
    backend: Backend,
    input_dir: Path,
    output_root: Path,
    *,
    limit: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
    argv: list[str] | None = None,
) -> InferResult:
    """Run every per-sample file of ``input_dir`` through ``backend``, writing ais_bench's outputs.

    Every input file is checked before the model opens (sizes, names, dtypes), and
    the model's input against the folder before the first batch computes.

    Args:
        backend: an unopened backend; its ``options.batch_size`` is the batch size.
        input_dir: folder of per-sample ``.bin``/``.npy`` files (``bit data``).
        output_root: ais_bench's ``--output``; results go to ``output_root/result_bs{bs}``.
        limit: use only the first ``limit`` files (natural order).
        force: replace an existing, non-empty result folder (and start over instead of resuming).
        progress: called with (samples done, samples total) after each batch.
        argv: recorded as the summary's ``args`` (default ``sys.argv``).

    Returns:
        The run's :class:`InferResult`.

    Raises:
        DataError: no input files, mismatched sizes, an existing result folder.
    """
    from bitcli.artifacts import DATA_MANIFEST, read_json_object
    from bitcli.stages.infer_checks import check_batch_memory, check_input_files, check_model_fit
    from bitcli.stages.provenance import record_data

    files = input_files(input_dir)[:limit] if limit else input_files(input_dir)
    bs = backend.options.batch_size
    result_dir = result_dir_path(output_root, bs)
    check_result_dir(result_dir, force)
    size = check_input_files(files)
    check_batch_memory(backend)
    manifest = read_json_object(Path(input_dir) / DATA_MANIFEST)
    with backend:
        folder_summary = _run_folder(backend, Path(input_dir), Path(output_root), result_dir, limit, force)
        if folder_summary is not None:
            return record_data(_result_from_summary(backend, result_dir, folder_summary), input_dir, limit)

        def make() -> tuple[Iterable[Batch], int, int, Any]:
            import numpy as np

            shape = tuple(backend.input_shape())
            check_model_fit(shape, size, manifest, Path(input_dir))
            per_batch = files_per_batch(4 * int(np.prod(shape)), files[0])
            ui.detail(f"get filesperbatch files0 size:{size} tensor0size:{4 * int(np.prod(shape))} "
                      f"filesperbatch:{per_batch} runcount:{-(-len(files) // per_batch)}")  # ais_bench's log line
            inputs = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
            return bin_batches(files, per_batch, shape), len(files), per_batch, inputs

        return record_data(_execute(backend, make, output_root, force=force, progress=progress, argv=argv),
                           input_dir, limit)


def _run_folder(backend: Backend, input_dir: Path, output_root: Path, result_dir: Path, limit: int | None, force: bool):
    """Let a whole-folder backend (ais_bench) run it; None when the backend has no such mode."""
    if type(backend).run_folder is Backend.run_folder:
        return None
    if limit:
        raise ConfigError(
            f"--limit is not supported by the {backend.name} backend (it runs the whole folder)",
            hint="write a smaller input folder with `bit data --limit N`",
        )
    if force and result_dir.exists():
        shutil.rmtree(result_dir)
    return backend.run_folder(input_dir, output_root, result_dir.name)


def _result_from_summary(backend: Backend, result_dir: Path, summary: dict[str, Any]) -> InferResult:
    from bitcli.stages.infer_checks import nonfinite_outputs

    times = [float(x) for x in summary.get("npu_compute_time_list", [])]
    outputs = sum(1 for p in result_dir.iterdir() if p.is_file()) if result_dir.is_dir() else 0
    return InferResult(
        backend=backend.name, device=backend.describe(), bs=backend.options.batch_size,
        model=str(backend.options.model), result_dir=result_dir, summary_path=summary_path(result_dir),
        samples=len(summary.get("filesinfo", {})) or outputs, runs=len(times), files_per_batch=0, padded=0,
        compute_ms=times, wall_s=float(summary.get("wall_s") or 0.0),
        reported_throughput=float(summary.get("throughput") or 0.0),
        nonfinite=nonfinite_outputs(result_dir),
    )


def outputs_from_dataset(
    backend: Backend,
    dataset_path: Path,
    output_root: Path,
    *,
    limit: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
    argv: list[str] | None = None,
) -> InferResult:
    """Like :func:`outputs_from_bins`, preprocessing CIFAR-10 test images on the fly.

    The same bit-exact preprocessing as ``bit data``; sample ``i`` is written
    as ``{i}_0.bin``, as if ``dataset_bin/{i}.bin`` had been read. For
    backends that compute batch by batch (not ascend, which runs folders).

    Raises:
        ConfigError: the backend only runs whole folders.
        DataError: unreadable data set, existing result folder.
    """
    if type(backend).run_folder is not Backend.run_folder:
        raise ConfigError(
            f"the {backend.name} backend reads .bin folders only, not --dataset-path",
            hint="write the folder first with `bit data`, then run `bit infer --input DIR`",
        )
    from bitcli.stages.data import iter_preprocessed, read_cifar10_test

    result_dir = result_dir_path(output_root, backend.options.batch_size)
    check_result_dir(result_dir, force)
    from bitcli.stages.infer_checks import check_batch_memory

    dataset = read_cifar10_test(Path(dataset_path))
    check_batch_memory(backend)
    with backend:

        def make() -> tuple[Iterable[Batch], int, int, Any]:
            from bitcli.stages.infer_checks import check_model_fit

            shape = tuple(backend.input_shape())
            check_model_fit(shape, 0, None, Path(dataset_path))
            total = min(limit, len(dataset.labels)) if limit else len(dataset.labels)
            chunks = iter_preprocessed(dataset, size=shape[-1], limit=limit, batch=shape[0])
            source = [str(dataset.source), dataset.source.stat().st_size, total]
            return _dataset_batches(chunks, shape, f"{dataset_path}#"), total, 1, source

        return _execute(backend, make, output_root, force=force, progress=progress, argv=argv)
