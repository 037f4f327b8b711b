"""Throughput and latency statistics: ais_bench's formulas, in one place.

Reference ascend-tools.md §2.5 and §2.6: ais_bench reports, per batch, the
compute time statistics ``min, max, mean, median, percentile(99%), count``
(milliseconds) and the throughput ``1000 × batchsize / NPU_compute_time.mean``
(samples/s; 0 when the mean is 0). ``bit infer``'s summary JSON, ``bit
bench``'s rows and the report all take their figures from here, under these
key names (bench also asks for ``percentile(90%)``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from bitcli.errors import BitError

STAT_KEYS = ("min", "max", "mean", "median", "percentile(99%)", "count")


def percentile_key(q: int) -> str:
    """ais_bench's key for the ``q``-th percentile, e.g. ``percentile(99%)``."""
    return f"percentile({q}%)"


def mean_ms(times_ms: Sequence[float]) -> float:
    """Arithmetic mean of per-batch times (ms); 0.0 for none."""
    return math.fsum(times_ms) / len(times_ms) if len(times_ms) else 0.0


def throughput(bs: int, mean: float) -> float:
    """ais_bench's throughput: ``1000 × bs / mean`` samples/s, 0.0 when nothing was timed.

    Args:
        bs: samples per batch.
        mean: mean compute time per batch (ms).

    Raises:
        BitError: the mean is not a finite positive number (or zero): a broken timer, not a figure.
    """
    if not math.isfinite(mean) or mean < 0:
        raise BitError(f"mean compute time is {mean} ms, not a positive number: no throughput can be given",
                       hint="the backend's timer returned a bad value; rerun with --debug")
    return 1000.0 * bs / mean if mean else 0.0


def latency_stats(times_ms: Sequence[float], percentiles: Sequence[int] = (99,)) -> dict[str, Any]:
    """ais_bench's statistics object of per-batch times (ms), all 0.0 with count 0 for none.

    Args:
        times_ms: one compute time per batch.
        percentiles: which ``percentile(q%)`` keys to add (ais_bench prints 99 only).

    Returns:
        ``min, max, mean, median, percentile(q%)..., count`` in that order.

    Raises:
        BitError: a time is NaN, infinite or negative.
    """
    import numpy as np

    if not len(times_ms):
        return {"min": 0.0, "max": 0.0, "mean": 0.0, "median": 0.0, **{percentile_key(q): 0.0 for q in percentiles},
                "count": 0}
    arr = np.asarray(times_ms)  # callers pass Python floats: float64 already
    bad = arr[~np.isfinite(arr) | (arr < 0)]
    if bad.size:
        raise BitError(f"{bad.size} of {arr.size} compute times are not finite non-negative ms (first: {bad[0]})",
                       hint="the backend's timer returned a bad value; rerun with --debug")
    stats: dict[str, Any] = {"min": float(arr.min()), "max": float(arr.max()), "mean": mean_ms(arr.tolist()),
                             "median": float(np.median(arr))}
    for q in percentiles:
        stats[percentile_key(q)] = float(np.percentile(arr, q))
    stats["count"] = int(arr.size)
    return stats
