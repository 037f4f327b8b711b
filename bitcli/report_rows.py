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

from bitcli.artifacts import accuracy_path, read_json_object, read_sidecar, sha256_file, summary_path

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
    backend: str | None = None  # what the row was measured with (identity.py): backend, precision,
    precision: str | None = None  # device, model file + sha256, weights source
    device: str | None = None
    model: str | None = None
    model_sha256: str | None = None
    weights: str | None = None

    def identity(self) -> dict[str, Any]:
        return {"backend": self.backend, "precision": self.precision, "device": self.device, "model": self.model,
                "model_sha256": self.model_sha256, "weights": self.weights}



def file_digest(path: Path) -> str:
    """sha256 of a file, or ``"missing"`` (hashed once per unchanged file: :func:`bitcli.provenance.file_digest`)."""
    return sha256_file(path) if path.is_file() else "missing"


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


def collect_rows(cfg: Settings, backend: str, failed: dict[int, tuple[str, str | None]],
                 adopted: dict[int, Path] | None = None) -> list[BsRow]:
    """Read each batch size's accuracy and throughput back from the workdir, this backend's slot first.

    A batch size in ``failed`` (bs → (reason, fix)) shows no figure at all: the
    files on disk hold an earlier run's figures, which this run did not confirm.
    Rows of other slots (another backend or precision) that hold figures for the same
    batch sizes follow, so the report shows them side by side; they never fail the run.
    """
    from bitcli.stages.bench import bench_documents, read_bench_json
    from bitcli.stages.slots import slot_for

    names = cfg.artifacts
    bench_doc = read_bench_json(names.bench_json)
    own = slot_for(cfg, backend)
    rows = []
    for bs in cfg.batch_sizes:
        row = _slot_row(cfg, bs, backend, cfg["precision"], bench_doc, (adopted or {}).get(bs))
        if bs in failed:
            row.status, (row.reason, row.hint) = "failed", failed[bs]
            row.samples = row.topk = row.throughput = row.latency_ms = row.infer_throughput = None
            _name_attempted_model(cfg, row, backend, (adopted or {}).get(bs))
        elif row.topk is None or row.throughput is None:
            row.status, row.reason = "incomplete", "steps not run yet: " + ", ".join(
                n for n, v in (("eval", row.topk), ("bench", row.throughput)) if v is None)
        rows.append(row)
    others = sorted(({p.name for p in names.result_root.iterdir() if p.is_dir()} if names.result_root.is_dir() else set())
                    | set(bench_documents(bench_doc)))
    for slot in (s for s in others if s != own):
        other_backend, precision = split_slot(slot)
        for bs in cfg.batch_sizes:
            row = _slot_row(cfg, bs, other_backend, precision, bench_doc, None, standard=False)
            if row.topk is None and row.throughput is None:
                continue
            if row.topk is None or row.throughput is None:
                row.status, row.reason = "incomplete", "not measured: " + ", ".join(
                    n for n, v in (("eval", row.topk), ("bench", row.throughput)) if v is None)
            rows.append(row)
    return rows


def _name_attempted_model(cfg: Settings, row: BsRow, backend: str, adopted: Path | None) -> None:
    """A failed row names the model it tried (not an earlier run's), and no device it did not reach."""
    from bitcli.stages.identity import model_digest, weights_source
    from bitcli.stages.infer import standard_model

    model = adopted or standard_model(backend, cfg.workdir, row.bs, weights=cfg["model.weights"],
                                      precision=cfg["precision"])
    row.model, row.device = str(model), None
    row.model_sha256 = model_digest(model, seed=cfg["model.seed"], arch=cfg["model.arch"])
    row.weights = weights_source(model, backend, cfg["model.weights"])


def split_slot(slot: str) -> tuple[str, str]:
    """``onnxruntime-int8`` → (onnxruntime, int8); ``torch`` → (torch, fp32)."""
    from bitcli.config import PRECISIONS

    backend, _, precision = slot.rpartition("-")
    return (backend, precision) if backend and precision in PRECISIONS else (slot, "fp32")


def _slot_row(cfg: Settings, bs: int, backend: str, precision: str, bench_doc: dict[str, Any] | None,
              adopted: Path | None, *, standard: bool = True) -> BsRow:
    """One (backend, precision, bs) row from its accuracy record, summary and bench.json row."""
    from bitcli.artifacts import result_slot
    from bitcli.stages.bench import find_bench_row
    from bitcli.stages.slots import result_dir_for

    names = cfg.artifacts
    folder = result_dir_for(names, bs, result_slot(backend, precision))
    row = BsRow(bs=bs, backend=backend, precision=precision)
    accuracy = read_json_object(accuracy_path(folder))
    if accuracy:
        row.samples, row.topk = accuracy.get("samples"), accuracy.get("topk")
    bench = find_bench_row(bench_doc, backend, precision, bs)
    if bench and bench.get("status") == "ok":
        row.throughput, row.latency_ms = bench.get("throughput"), bench.get("latency_ms")
    summary = read_json_object(summary_path(folder)) or {}
    row.infer_throughput = summary.get("throughput")
    for source in (bench or {}, accuracy or {}, summary):  # the newest measurement names itself first
        for key in ("device", "model", "model_sha256", "weights"):
            if getattr(row, key) is None and source.get(key):
                setattr(row, key, source[key])
    if standard:
        for label, path in (("sim_onnx", names.sim_onnx(bs)), ("om", adopted or names.om(bs))):
            if read_sidecar(path) is not None or (label == "om" and adopted is not None):
                row.artifacts[label] = file_digest(path)
        if adopted is not None:
            row.artifacts["om_adopted"] = str(adopted)
    return row


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
