"""When an infer result, an accuracy record or a bench row is up to date: one rule for the commands and ``bit all``.

Each result records what it was made from (its "made from" key) and is up to date
when today's key is the same:

* infer, in the result folder's sidecar (``result/onnxruntime/result_bs8.json``): backend,
  precision, the model file's sha256, the input data's digest (the data manifest's identity),
  ``--limit`` and the Ascend devices;
* eval, in the accuracy record's sidecar: the summary's and labels' digests, the data
  manifest's, ``--limit`` and the output files' names, sizes and mtimes;
* bench, on its row of bench.json (``made_from``): backend, precision, model sha256, loop,
  warm-up, devices, provider and threads.

``bit infer``/``bit eval``/``bit bench`` and ``bit all`` compute the keys with these
functions, so after the standalone chain ``bit all`` says "up to date" and reuses the
figures, and a second ``bit infer`` says "up to date" and changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from bitcli.artifacts import (DATA_MANIFEST, atomic_write_text, is_current, read_json_object, read_sidecar,
                              sidecar_path, summary_path, write_sidecar)
from bitcli.stages.identity import digest_of, model_digest

UP_TO_DATE = "up to date"
DONE = "done"


def data_key(input_dir: Path | str) -> str:
    """The identity of the input data: the bit-data manifest's digest, else the files' names, sizes and mtimes."""
    from bitcli.stages.data_files import data_digest

    folder = Path(input_dir)
    manifest = read_json_object(folder / DATA_MANIFEST)
    if manifest is not None and manifest.get("format") == "bit-data":
        return data_digest(manifest)
    if folder.is_file():  # a data set file (--dataset-path tarball)
        stat = folder.stat()
        return digest_of([str(folder.resolve()), stat.st_size, stat.st_mtime_ns])
    if not folder.is_dir():
        return f"missing:{folder}"
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return digest_of([[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files])


def infer_key(cfg: Any, backend: str, model: Path | str, input_dir: Path | str, limit: int | None) -> dict[str, Any]:
    """What an infer result is made from (see the module docstring)."""
    return {"backend": backend, "precision": cfg["precision"],
            "model_sha256": model_digest(model, seed=cfg["model.seed"], arch=cfg["model.arch"]),
            "data": data_key(input_dir), "limit": limit, "devices": list(cfg["ascend.devices"])}


def infer_is_current(result_dir: Path, key: dict[str, Any]) -> bool:
    """True when ``result_dir`` was made by bit from ``key`` (its sidecar) and its summary is there."""
    return is_current(result_dir, key) and summary_path(result_dir).is_file()


def infer_made_by_bit(result_dir: Path) -> bool:
    """True when bit wrote ``result_dir`` (so a stale one may be computed again): its sidecar, or a summary
    naming a bit backend (``bit infer`` before sidecars; ais_bench's own names none)."""
    from bitcli.backends.base import REGISTRY

    if not Path(result_dir).is_dir():
        return False
    summary = read_json_object(summary_path(result_dir)) or {}
    return sidecar_path(result_dir).is_file() or summary.get("backend") in REGISTRY


def record_infer(result_dir: Path, key: dict[str, Any], identity: dict[str, Any]) -> None:
    """After a run: the identity into the summary (beside ais_bench's keys), the key into the sidecar."""
    summary = read_json_object(summary_path(result_dir))
    if summary is not None:
        summary.update(identity)
        atomic_write_text(summary_path(result_dir), json.dumps(summary))
    write_sidecar(result_dir, key)


def forget_infer(result_dir: Path) -> None:
    """Drop the sidecar of outputs that must not count as up to date (NaN/inf)."""
    sidecar_path(result_dir).unlink(missing_ok=True)


def eval_key(result_dir: Path, label_path: Path, manifest_path: Path, limit: int | None) -> dict[str, Any]:
    """What an accuracy record is made from: the summary, the labels, the data manifest, ``--limit``."""
    from bitcli.report_rows import file_digest

    return {"summary": file_digest(summary_path(result_dir)), "labels": file_digest(Path(label_path)),
            "data": file_digest(Path(manifest_path)), "limit": limit, "outputs": outputs_stamp(result_dir)}


def outputs_stamp(result_dir: Path) -> str:
    """The output files' names, sizes and mtimes in one digest: an output changed since it was scored shows."""
    folder = Path(result_dir)
    if not folder.is_dir():
        return "missing"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return digest_of([[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in files])


def eval_is_current(accuracy_json: Path, key: dict[str, Any]) -> bool:
    """True when the accuracy record exists and was made from ``key``."""
    return is_current(accuracy_json, key)


def bench_key(cfg: Any, backend: str, model: Path | str) -> dict[str, Any]:
    """What a bench row is made from (another device set or thread count is another measurement)."""
    return {"backend": backend, "precision": cfg["precision"],
            "model_sha256": model_digest(model, seed=cfg["model.seed"], arch=cfg["model.arch"]),
            "loop": cfg["bench.loop"], "warmup": cfg["bench.warmup"], "devices": list(cfg["ascend.devices"]),
            "provider": cfg["onnxruntime.provider"], "threads": cfg["onnxruntime.threads"]}


def bench_plan(cfg: Any, backend: str, force: bool) -> Any:
    """The :class:`~bitcli.stages.bench.BenchPlan` of ``bit bench`` and ``bit all``: keys and identities alike."""
    from bitcli.stages.bench import BenchPlan
    from bitcli.stages.identity import device_label

    return BenchPlan(precision=cfg["precision"], force=force, key_for=lambda bs, model: bench_key(cfg, backend, model),
                     describe=lambda model, device: identity_of(cfg, backend, device_label(backend, device, om_chip(model)),
                                                                model))


def identity_of(cfg: Any, backend: str, device: str, model: Path | str) -> dict[str, Any]:
    """The row identity (backend, precision, device, model + sha256, weights) for ``model``."""
    from bitcli.stages.identity import row_identity

    return row_identity(backend, cfg["precision"], device, model, seed=cfg["model.seed"], arch=cfg["model.arch"],
                        weights=cfg["model.weights"])


def om_chip(model: Path | str) -> str | None:
    """The SoC an ``.om`` was built for, from bit's sidecar (None for other models)."""
    meta = read_sidecar(Path(str(model))) if str(model).lower().endswith(".om") else None
    return (meta or {}).get("soc_version")


def summary_identity(result_dir: Path) -> dict[str, Any]:
    """The identity fields a result's summary records (empty for ais_bench's own)."""
    doc = read_json_object(summary_path(result_dir)) or {}
    keys = ("backend", "precision", "device", "model", "model_sha256", "weights")
    return {k: doc[k] for k in keys if k in doc}


# --------------------------------------------------------------------------- one batch size of bit infer


def changed_inputs(result_dir: Path, key: dict[str, Any]) -> str:
    """Which recorded inputs differ from today's, in words."""
    old = read_sidecar(result_dir) or {}
    words = {"model_sha256": "the model", "data": "dataset_bin", "limit": "--limit", "precision": "the precision",
             "backend": "the backend", "devices": "the devices"}
    changed = [words.get(k, k) for k in key if old.get(k) != key.get(k)]
    return ", ".join(changed) or "its record"


def recorded_result(result_dir: Path, bs: int, model: Path | str, backend: str) -> Any:
    """The InferResult of an up-to-date folder, read back from its summary (nothing computed)."""
    from bitcli.stages.infer import InferResult

    doc = read_json_object(summary_path(result_dir)) or {}
    times = [float(x) for x in doc.get("npu_compute_time_list", [])]
    nonfinite = doc.get("nonfinite_outputs") or {}
    return InferResult(backend=backend, device=str(doc.get("device") or backend), bs=bs, model=str(model),
                       result_dir=Path(result_dir), summary_path=summary_path(result_dir),
                       samples=len(doc.get("filesinfo") or {}), runs=len(times), files_per_batch=0, padded=0,
                       compute_ms=times, reported_throughput=doc.get("throughput"),
                       nonfinite=list(nonfinite.get("first") or []) if nonfinite.get("count") else [],
                       status=UP_TO_DATE, identity=summary_identity(result_dir))


def infer_bs(cfg: Any, cls: Any, bs: int, model: Path | str, root: Path, *, input_dir: Path | None = None,
             dataset_path: Path | None = None, limit: int | None = None, force: bool = False,
             progress: Any = None, announce: Announce | None = None) -> Any:
    """Infer one batch size into ``root/result_bs{bs}``, or say it is up to date.

    Up to date (same key in the folder's sidecar): nothing is computed or written. A folder bit
    wrote from other inputs is computed again (``announce`` says why); a folder bit did not write
    is refused unless ``force`` (:func:`bitcli.stages.infer.check_result_dir`).

    Returns:
        The :class:`~bitcli.stages.infer.InferResult` with ``status`` and ``identity`` set.
    """
    from bitcli.artifacts import result_dir_path
    from bitcli.stages import infer as stage
    from bitcli.stages.identity import device_label

    result_dir = result_dir_path(root, bs)
    key = infer_key(cfg, cls.name, model, dataset_path or input_dir, limit)
    if not force and infer_is_current(result_dir, key):
        return recorded_result(result_dir, bs, model, cls.name)
    redo = force
    if not force and infer_made_by_bit(result_dir):
        if announce:
            announce(f"bs {bs}: {result_dir} is out of date ({changed_inputs(result_dir, key)} changed since it was "
                     "written); computing it again")
        redo = True
    # The old sidecar stays until the new folder is published: a failed run leaves the old result and its
    # record intact, and a stale record never matches today's key, so nothing half-done looks up to date.
    runner = cls(stage.options_from_settings(cfg, bs, model))
    if dataset_path is not None:
        result = stage.outputs_from_dataset(runner, dataset_path, root, limit=limit, force=redo, progress=progress)
    else:
        result = stage.outputs_from_bins(runner, input_dir, root, limit=limit, force=redo, progress=progress)
    result.identity = identity_of(cfg, cls.name, device_label(cls.name, result.device, om_chip(model)), model)
    if result.nonfinite:  # no sidecar: never "up to date" for eval, bench or a rerun
        record_infer(result_dir, key, result.identity)
        forget_infer(result_dir)
    else:
        record_infer(result_dir, key, result.identity)
    return result


# --------------------------------------------------------------------------- one result folder of bit eval


def eval_folder(result_dir: Path, label_path: Path, manifest_path: Path, *, topk: int = 5,
                num_classes: int | None = None, allow_nonfinite: bool = False, limit: int | None = None,
                force: bool = False) -> Any:
    """Score ``result_dir`` against ``label_path``, or read the record back when it is up to date.

    The record (``result_bs8_accuracy.json``) carries the result's identity (backend, precision,
    device, model sha256, weights, from its summary) and a sidecar with its "made from" key.

    Returns:
        The :class:`~bitcli.stages.evaluate.EvalResult` (``status`` "done" or "up to date").
    """
    from bitcli.artifacts import accuracy_path
    from bitcli.errors import DataError
    from bitcli.stages.evaluate import EvalResult, accuracy_from_outputs, save_accuracy

    record = accuracy_path(result_dir)
    key = eval_key(result_dir, label_path, manifest_path, limit)
    if not force and topk == 5 and eval_is_current(record, key):
        again = EvalResult.from_json(read_json_object(record) or {}, result_dir, label_path, record)
        if again is not None:
            return again
    try:
        result = accuracy_from_outputs(result_dir, label_path, topk=topk, num_classes=num_classes, save=False,
                                       allow_nonfinite=allow_nonfinite, limit=limit)
    except DataError as exc:
        recorded = (read_json_object(summary_path(result_dir)) or {}).get("data_limit")
        if limit is None and isinstance(recorded, int) and "do not match" in exc.message:
            raise DataError(exc.message, hint=f"{result_dir} is a `--limit {recorded}` run: score it with "
                            f"`bit eval --limit {recorded}`") from None
        raise
    result.identity = summary_identity(result_dir)
    try:
        sidecar_path(record).unlink(missing_ok=True)  # the old key no longer describes what is saved next
    except OSError:
        pass  # a read-only place: save_accuracy says "not saved" and no record claims to be current
    save_accuracy(result)
    if result.json_path is not None and not result.extra.get("nonfinite_files"):
        write_sidecar(record, key)
    return result


Announce = Callable[[str], None]
