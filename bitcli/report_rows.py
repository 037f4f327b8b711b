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


def collect_rows(cfg: Settings, backend: str, failed: dict[int, str]) -> list[BsRow]:
    """Read each batch size's accuracy and throughput back from the workdir."""
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
            row.status, row.reason = "failed", failed[bs]
        elif row.topk is None or row.throughput is None:
            row.status, row.reason = "incomplete", "steps not run yet: " + ", ".join(
                n for n, v in (("eval", row.topk), ("bench", row.throughput)) if v is None)
        rows.append(row)
    return rows


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
        "dataset": {"path": str(cfg.artifacts.synthetic_data) if cfg["dataset.synthetic"] else cfg["dataset.path"],
                    "synthetic": bool(manifest.get("synthetic", cfg["dataset.synthetic"])),
                    "samples": manifest.get("count"), "source_sha256": manifest.get("source_sha256")},
        "weights": {"source": cfg["model.weights"], "random": cfg["model.weights"] == "random",
                    "format": export_meta.get("format"), "digest": export_meta.get("weights_digest")},
        "arch": cfg["model.arch"],
        "workdir": str(cfg.workdir),
    }
