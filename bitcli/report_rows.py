"""What ``bit all`` reports: rows read back from the workdir's artefacts, and the run's context.

Kept apart from the step logic in run_all.py: the rows come from files on
disk (accuracy JSON, bench records, summaries, sidecars), so a report can be
rebuilt after ``--only``/``--from`` runs or an interrupted one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitcli.artifacts import file_hash, read_json_object, read_sidecar

if TYPE_CHECKING:
    from bitcli.config import Settings
    from bitcli.stages.run_all import AllResult


@dataclass
class BsRow:
    """The final table's row for one batch size."""

    bs: int
    status: str = "ok"
    reason: str | None = None
    hint: str | None = None     # the fix for a failed row
    samples: int | None = None
    topk: dict[str, float] | None = None
    throughput: float | None = None
    latency_ms: dict[str, float] | None = None
    infer_throughput: float | None = None
    artifacts: dict[str, str] = field(default_factory=dict)



def file_digest(path: Path) -> str:
    """sha256 of a file (artifacts.file_hash), or ``"missing"``."""
    return file_hash(path) if path.is_file() else "missing"


# --------------------------------------------------------------------------- report rows


def failure_text(reason: Any, hint: Any) -> str:
    """A failed row's status text: the reason, then its fix when there is one."""
    text = str(reason or "no reason recorded")
    return f"{text} — fix: {hint}" if hint else text


def row_status(row: Any) -> str:
    """``ok``, or the row's status with its reason (and fix)."""
    return "ok" if row.status == "ok" else f"{row.status}: {failure_text(row.reason, getattr(row, 'hint', None))}"


def data_label(result: Any) -> str:
    """The data-set cell: report.json's ``dataset.label`` (with the count unless it is the whole test set)."""
    record = result.context.get("dataset", {})
    return record.get("label") or dataset_label(record)


def collect_rows(cfg: Settings, backend: str, failed: dict[int, tuple[str, str | None]]) -> list[BsRow]:
    """Read each batch size's accuracy and throughput back from the workdir.

    A batch size in ``failed`` (bs → (reason, fix)) shows no figure at all: the
    files on disk hold an earlier run's figures, which this run did not confirm.
    """
    names = cfg.artifacts
    rows = []
    for bs in cfg.batch_sizes:
        row = BsRow(bs=bs)
        accuracy = read_json_object(names.accuracy_json(bs))
        if accuracy:
            row.samples, row.topk = accuracy.get("samples"), accuracy.get("topk")
        bench = read_json_object(names.bench_record(bs))
        if bench:
            row.throughput, row.latency_ms = bench.get("throughput"), bench.get("latency_ms")
        summary = read_json_object(names.summary_json(bs))
        if summary:
            row.infer_throughput = summary.get("throughput")
        for label, path in (("sim_onnx", names.sim_onnx(bs)), ("om", names.om(bs))):
            meta = read_sidecar(path)
            if meta is not None:
                row.artifacts[label] = file_digest(path)
        if bs in failed:
            row.status, (row.reason, row.hint) = "failed", failed[bs]
            row.samples = row.topk = row.throughput = row.latency_ms = row.infer_throughput = None
        elif row.topk is None or row.throughput is None:
            row.status, row.reason = "incomplete", "steps not run yet: " + ", ".join(
                n for n, v in (("eval", row.topk), ("bench", row.throughput)) if v is None)
        rows.append(row)
    return rows


CIFAR10_TEST_SIZE = 10_000  # images in CIFAR-10's test split


def dataset_record(cfg: Settings, manifest: dict[str, Any]) -> dict[str, Any]:
    """report.json's data set: path, synthetic flag and counts from one source, the data manifest.

    Without a manifest (no ``bit data`` yet) the settings say what would be used. A manifest
    from an older bit, without ``source_path``, gives no path rather than a guessed one.
    """
    if manifest:
        path, synthetic = manifest.get("source_path"), bool(manifest.get("synthetic"))
    else:
        synthetic = bool(cfg["dataset.synthetic"])
        path = str(cfg.artifacts.synthetic_data) if synthetic else cfg["dataset.path"]
    samples = manifest.get("count")
    record = {"path": path, "synthetic": synthetic, "samples": samples, "source_total": manifest.get("source_total"),
              "test_set_total": None if synthetic else CIFAR10_TEST_SIZE, "source_sha256": manifest.get("source_sha256")}
    record["label"] = dataset_label(record)
    return record


def dataset_label(record: dict[str, Any]) -> str:
    """The data-set line: "CIFAR-10 test" for the whole set, else "CIFAR-10 test, 64 of 10,000 images";
    a synthetic set is always marked and counted."""
    samples = record.get("samples")
    if record.get("synthetic"):
        return "synthetic (demo)" + (f", {samples:,} images" if samples is not None else "")
    if samples is None:
        return "CIFAR-10 test, count unknown (no data manifest)"
    if samples == CIFAR10_TEST_SIZE:
        return "CIFAR-10 test"
    return f"CIFAR-10 test, {samples:,} of {CIFAR10_TEST_SIZE:,} images"


def run_context(cfg: Settings, result: AllResult) -> dict[str, Any]:
    """Host, versions, inputs: what report.json records beside the rows."""
    import platform
    import socket
    from importlib import metadata

    from bitcli import __version__

    versions = {}
    for package in ("torch", "onnx", "onnxruntime", "onnxsim", "numpy", "pillow"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    manifest = read_json_object(cfg.artifacts.data_manifest) or {}
    export_meta = read_sidecar(cfg.artifacts.onnx) or {}
    return {
        "bit_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"hostname": socket.gethostname(), "platform": platform.platform(),
                 "machine": platform.machine(), "python": platform.python_version()},
        "versions": versions,
        "dataset": dataset_record(cfg, manifest),
        "weights": {"source": cfg["model.weights"], "random": cfg["model.weights"] == "random",
                    "format": export_meta.get("format"), "digest": export_meta.get("weights_digest")},
        "arch": cfg["model.arch"],
        "workdir": str(cfg.workdir),
    }
