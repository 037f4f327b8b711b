"""Throughput and latency per batch size: the seed's ``ais_bench --loop 50 --batchsize bs`` mode.

Every figure comes from :func:`bench_one`: warm-up runs are discarded, then
``loop`` timed runs on the backend's own timer (the compute call only, like
ais_bench's ``NPU_compute_time``); throughput and latency statistics come
from :mod:`bitcli.timing` (1000 × bs / mean ms, the seed's formula). A batch size that fails stays in the result as a row with
its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bitcli.artifacts import atomic_write_text
from bitcli.backends.base import Backend, BackendOptions
from bitcli.errors import BitError
from bitcli.timing import latency_stats, throughput

BENCH_PERCENTILES = (90, 99)  # bench shows p90 too; ais_bench's summary has only 99


@dataclass
class BenchRow:
    """One batch size's figures, or why it has none."""

    bs: int
    status: str = "ok"                     # "ok" | "failed"
    reason: str | None = None
    hint: str | None = None                # the fix, for a failed row
    throughput: float | None = None        # samples/s
    latency_ms: dict[str, float] | None = None  # per batch: timing.latency_stats keys (+ percentile(90%))
    runs: int = 0
    model: str = ""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"bs": self.bs, "throughput": self.throughput, "latency_ms": self.latency_ms, "status": self.status}
        if self.reason:
            doc["reason"] = self.reason
        if self.hint:
            doc["hint"] = self.hint
        return doc


@dataclass
class BenchResult:
    """All batch sizes of one ``bit bench`` run."""

    backend: str
    device: str
    loop: int
    warmup: int
    rows: list[BenchRow] = field(default_factory=list)
    json_path: Path | None = None

    @property
    def failed(self) -> list[BenchRow]:
        return [r for r in self.rows if r.status != "ok"]

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "device": self.device,
            "loop": self.loop,
            "warmup": self.warmup,
            "results": [r.to_json() for r in self.rows],
        }


def bench_one(backend: Backend, bs: int, warmup: int, loop: int) -> BenchRow:
    """Time ``loop`` runs of an opened backend after ``warmup`` untimed ones.

    Args:
        backend: an opened backend for batch size ``bs``.
        bs: the batch size (samples per run).
        warmup: untimed runs first (caches, allocator, thread pools).
        loop: timed runs.

    Returns:
        An ``ok`` :class:`BenchRow`.
    """
    times = backend.bench_latencies(loop, warmup)
    if times is None:
        import numpy as np

        # Fixed random input in the preprocessed range (-1..1): content does not
        # change a CNN's cost, but a constant tensor could hit denormal/zero fast paths.
        batch = np.random.default_rng(0).uniform(-1, 1, size=backend.input_shape()).astype(np.float32)
        for _ in range(warmup):
            backend.infer(batch)
        times = []
        for _ in range(loop):
            backend.infer(batch)
            times.append(backend.last_latency_ms)
    stats = latency_stats(times, BENCH_PERCENTILES)
    return BenchRow(bs=bs, throughput=throughput(bs, stats["mean"]), latency_ms=stats, runs=len(times),
                    model=str(backend.options.model))


def throughput_per_bs(
    backend_cls: type[Backend],
    options_for: Callable[[int], BackendOptions],
    batch_sizes: tuple[int, ...],
    *,
    warmup: int,
    loop: int,
    json_path: Path | None = None,
    on_row: Callable[[BenchRow], None] | None = None,
) -> BenchResult:
    """Benchmark each batch size in turn; failures become rows, never stop the run.

    Args:
        backend_cls: the selected backend class.
        options_for: batch size → the backend's options (model path etc.).
        batch_sizes: in the order to run them.
        warmup: untimed runs per batch size.
        loop: timed runs per batch size.
        json_path: where to save the JSON (None: not saved).
        on_row: called after each batch size (e.g. to log progress).

    Returns:
        The :class:`BenchResult`, every batch size present.
    """
    result = BenchResult(backend=backend_cls.name, device="", loop=loop, warmup=warmup)
    for bs in batch_sizes:
        options = options_for(bs)
        try:
            with backend_cls(options) as backend:
                row = bench_one(backend, bs, warmup, loop)
                result.device = result.device or backend.describe()
        except BitError as exc:
            row = BenchRow(bs=bs, status="failed", reason=exc.message, hint=exc.hint, model=str(options.model))
        except Exception as exc:  # a runtime's own error (bad graph, out of memory): keep the row
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            row = BenchRow(bs=bs, status="failed", reason=f"{type(exc).__name__}: {first}", model=str(options.model))
        result.rows.append(row)
        if on_row:
            on_row(row)
    result.device = result.device or backend_cls.name
    if json_path is not None:
        result.json_path = Path(json_path)
        merged = merge_bench_json(read_bench_json(result.json_path), result.to_json())
        atomic_write_text(result.json_path, json.dumps(merged, indent=2) + "\n")
    return result


# --------------------------------------------------------------------------- bench.json: one record, merged


def read_bench_json(path: Path) -> dict[str, Any] | None:
    """bench.json as a JSON object, or None (missing or unreadable: then this run starts it afresh)."""
    from bitcli.artifacts import read_json_object

    return read_json_object(Path(path)) if Path(path).is_file() else None


def merge_bench_json(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """This run's document merged into the earlier bench.json, one row per (backend, bs).

    The file keeps the latest run's shape at the top (backend, device, loop, warmup,
    results) and every other backend's last document under ``other_backends``. A
    row of this run replaces the same backend's row for its bs (a failed row too:
    the old figure no longer stands); rows of other batch sizes stay, each with
    the device, loop and warmup it was measured with when those differ from the
    top's. A run never wipes another backend's or another batch size's rows.
    """
    docs: dict[str, dict[str, Any]] = {}
    if old:
        docs.update({k: v for k, v in (old.get("other_backends") or {}).items() if isinstance(v, dict)})
        if isinstance(old.get("backend"), str):
            docs[old["backend"]] = {k: v for k, v in old.items() if k != "other_backends"}
    earlier = docs.pop(new["backend"], None) or {}
    done = {row["bs"] for row in new["results"]}
    kept = []
    for row in earlier.get("results") or []:
        if not isinstance(row, dict) or row.get("bs") in done:
            continue
        row = dict(row)
        for key in ("device", "loop", "warmup"):
            if row.get(key, earlier.get(key)) != new.get(key):
                row.setdefault(key, earlier.get(key))
        kept.append(row)
    rows = new["results"] + kept  # this run's order; sorted by bs once earlier rows join them
    merged = {**new, "results": sorted(rows, key=lambda r: r.get("bs", 0)) if kept else rows}
    if docs:
        merged["other_backends"] = docs
    return merged
