"""Throughput and latency per batch size: the seed's ``ais_bench --loop 50 --batchsize bs`` mode.

Every figure comes from :func:`bench_one`: warm-up runs are discarded, then
``loop`` timed runs on the backend's own timer (the compute call only, like
ais_bench's ``NPU_compute_time``); throughput and latency statistics come
from :mod:`bitcli.timing` (1000 × bs / mean ms, the seed's formula). A batch size that fails stays in the result as a row with
its reason.

bench.json is the one bench record, shared by ``bit bench`` and ``bit all``: one row per
(backend, precision, bs) (:func:`merge_bench_json`), each naming what it was measured
with (backend, precision, device, model sha256, weights) and what it was made from
(``made_from``, :func:`bitcli.stages.results.bench_key`). A row whose ``made_from`` equals
today's is "up to date": its figures are reused and nothing is written. A row's ``status``
says whether its figures stand (``ok``/``failed``); ``run`` says what this run did with it
(``done``, ``up to date``, ``failed``). The per-bs records of older ``bit all`` runs
(``bench/bench_bs{N}.json``) are merged into bench.json once and removed
(:func:`migrate_bench_records`).
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
    run: str = "done"                      # "done" | "up to date" | "failed": what this run did
    identity: dict[str, Any] = field(default_factory=dict)  # backend, precision, device, model sha256, weights
    made_from: dict[str, Any] | None = None  # the key that makes the row up to date

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"bs": self.bs, "throughput": self.throughput, "latency_ms": self.latency_ms,
                               "status": self.status, "run": self.run}
        if self.reason:
            doc["reason"] = self.reason
        if self.hint:
            doc["hint"] = self.hint
        doc.update(self.identity)
        if self.made_from is not None:
            doc["made_from"] = self.made_from
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "BenchRow":
        """A row of bench.json read back as "up to date"."""
        ident = {k: doc[k] for k in ("backend", "precision", "device", "model", "model_sha256", "weights") if k in doc}
        return cls(bs=int(doc["bs"]), status=doc.get("status", "ok"), reason=doc.get("reason"), hint=doc.get("hint"),
                   throughput=doc.get("throughput"), latency_ms=doc.get("latency_ms"),
                   runs=int((doc.get("latency_ms") or {}).get("count") or 0), model=str(doc.get("model", "")),
                   run="up to date", identity=ident, made_from=doc.get("made_from"))


@dataclass
class BenchResult:
    """All batch sizes of one ``bit bench`` run."""

    backend: str
    device: str
    loop: int
    warmup: int
    rows: list[BenchRow] = field(default_factory=list)
    json_path: Path | None = None
    precision: str = "fp32"

    @property
    def failed(self) -> list[BenchRow]:
        return [r for r in self.rows if r.status != "ok"]

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "precision": self.precision,
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


@dataclass(frozen=True)
class BenchPlan:
    """What makes rows comparable: precision, each bs's "made from" key and its row identity.

    ``key_for(bs, model)`` gives the row's ``made_from``; ``describe(model, device)`` its identity
    (backend, precision, device, model sha256, weights). ``force`` measures even up-to-date rows.
    """

    precision: str = "fp32"
    key_for: Callable[[int, Any], dict[str, Any]] | None = None
    describe: Callable[[Any, str], dict[str, Any]] | None = None
    force: bool = False


def throughput_per_bs(
    backend_cls: type[Backend],
    options_for: Callable[[int], BackendOptions],
    batch_sizes: tuple[int, ...],
    *,
    warmup: int,
    loop: int,
    json_path: Path | None = None,
    on_row: Callable[[BenchRow], None] | None = None,
    plan: BenchPlan | None = None,
) -> BenchResult:
    """Benchmark each batch size in turn; failures become rows, never stop the run.

    Args:
        backend_cls: the selected backend class.
        options_for: batch size → the backend's options (model path etc.).
        batch_sizes: in the order to run them.
        warmup: untimed runs per batch size.
        loop: timed runs per batch size.
        json_path: bench.json, merged (None: not saved); its up-to-date rows are reused.
        on_row: called after each batch size (e.g. to log progress).
        plan: precision, "made from" keys and row identities (None: fp32, every bs measured).

    Returns:
        The :class:`BenchResult`, every batch size present. When every row was up to date,
        bench.json is not written at all.
    """
    plan = plan or BenchPlan()
    result = BenchResult(backend=backend_cls.name, device="", loop=loop, warmup=warmup, precision=plan.precision)
    old = read_bench_json(Path(json_path)) if json_path is not None else None
    for bs in batch_sizes:
        options = options_for(bs)
        key = plan.key_for(bs, options.model) if plan.key_for else None
        row = _current_row(old, backend_cls.name, plan.precision, bs, key) if key and not plan.force else None
        if row is None:
            row, described = _measure(backend_cls, options, bs, warmup, loop)
            result.device = result.device or described
            row.made_from = key if row.status == "ok" else None
            if plan.describe:
                row.identity = plan.describe(options.model, described or backend_cls.name)
        result.rows.append(row)
        if on_row:
            on_row(row)
    result.device = result.device or next((r.identity.get("device") for r in result.rows if r.identity.get("device")),
                                          backend_cls.name)
    if json_path is not None:
        result.json_path = Path(json_path)
        if any(r.run != "up to date" for r in result.rows):
            merged = merge_bench_json(old, result.to_json())
            atomic_write_text(result.json_path, json.dumps(merged, indent=2) + "\n")
    return result


def _measure(backend_cls: type[Backend], options: BackendOptions, bs: int, warmup: int, loop: int) -> tuple[BenchRow, str]:
    """One batch size timed, or its failed row; with the device the backend described."""
    try:
        with backend_cls(options) as backend:
            return bench_one(backend, bs, warmup, loop), backend.describe()
    except BitError as exc:
        return BenchRow(bs=bs, status="failed", reason=exc.message, hint=exc.hint, model=str(options.model), run="failed"), ""
    except Exception as exc:  # a runtime's own error (bad graph, out of memory): keep the row
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return BenchRow(bs=bs, status="failed", reason=f"{type(exc).__name__}: {first}", model=str(options.model),
                        run="failed"), ""


def _current_row(doc: dict[str, Any] | None, backend: str, precision: str, bs: int,
                 key: dict[str, Any]) -> BenchRow | None:
    """bench.json's ok row for (backend, precision, bs) when it was made from ``key``."""
    found = find_bench_row(doc, backend, precision, bs)
    if found is None or found.get("status") != "ok" or found.get("made_from") != key:
        return None
    return BenchRow.from_json(found)


def find_bench_row(doc: dict[str, Any] | None, backend: str, precision: str, bs: int) -> dict[str, Any] | None:
    """The row of (backend, precision, bs) in a bench.json document, with its document's device/loop/warmup."""
    for part in bench_documents(doc).get(_slot(backend, precision), {}).get("results") or []:
        if isinstance(part, dict) and part.get("bs") == bs:
            return part
    return None


def bench_documents(doc: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """slot → that slot's document (backend, precision, device, loop, warmup, results) in a bench.json."""
    docs: dict[str, dict[str, Any]] = {}
    if not doc:
        return docs
    docs.update({k: v for k, v in (doc.get("other_backends") or {}).items() if isinstance(v, dict)})
    if isinstance(doc.get("backend"), str):
        docs[_slot(doc["backend"], doc.get("precision", "fp32"))] = {k: v for k, v in doc.items() if k != "other_backends"}
    return docs


def _slot(backend: str, precision: str | None) -> str:
    from bitcli.artifacts import result_slot

    return result_slot(backend, precision or "fp32")


# --------------------------------------------------------------------------- bench.json: one record, merged


def read_bench_json(path: Path) -> dict[str, Any] | None:
    """bench.json as a JSON object, or None (missing or unreadable: then this run starts it afresh)."""
    from bitcli.artifacts import read_json_object

    return read_json_object(Path(path)) if Path(path).is_file() else None


def merge_bench_json(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """This run's document merged into the earlier bench.json, one row per (backend, precision, bs).

    The file keeps the latest run's shape at the top (backend, precision, device, loop, warmup,
    results) and every other slot's last document under ``other_backends``, keyed by its
    :func:`~bitcli.artifacts.result_slot` (``onnxruntime``, ``onnxruntime-int8``). A
    row of this run replaces the same backend's row for its bs (a failed row too:
    the old figure no longer stands); rows of other batch sizes stay, each with
    the device, loop and warmup it was measured with when those differ from the
    top's. A run never wipes another backend's or another batch size's rows.
    """
    docs = bench_documents(old)
    earlier = docs.pop(_slot(new["backend"], new.get("precision")), None) or {}
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


def migrate_bench_records(names: Any) -> list[str]:
    """Merge older ``bit all``'s ``bench/bench_bs{N}.json`` records into bench.json once, then remove them.

    Only records bit wrote (with their sidecar, which names the backend) are read; a row
    bench.json already holds for that backend and bs wins. Returns one line per record.
    """
    import re

    from bitcli.artifacts import read_json_object, read_sidecar, sidecar_path

    folder = Path(names.bench_json).parent / "bench"
    if not folder.is_dir():
        return []
    messages, doc = [], read_bench_json(names.bench_json)
    for path in sorted(folder.glob("bench_bs*.json")):
        match, meta, row = re.fullmatch(r"bench_bs(\d+)\.json", path.name), read_sidecar(path), read_json_object(path)
        if not match or not meta or not isinstance(meta.get("backend"), str) or not row:
            continue  # not bit's record: left alone
        backend, bs = meta["backend"], int(match[1])
        if find_bench_row(doc, backend, "fp32", bs) is None:
            part = {"backend": backend, "precision": "fp32", "device": row.get("device", backend),
                    "loop": meta.get("loop"), "warmup": meta.get("warmup"),
                    "results": [{k: v for k, v in row.items() if k != "device"}]}
            doc = merge_bench_json(doc, part)
            atomic_write_text(names.bench_json, json.dumps(doc, indent=2) + "\n")
        path.unlink()
        sidecar_path(path).unlink(missing_ok=True)
        messages.append(f"merged bench/{path.name} into bench.json (one bench record for bit bench and bit all now)")
    if not any(folder.iterdir()):
        folder.rmdir()
    return messages
