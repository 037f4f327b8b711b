"""How far a test model's logits are from a reference's, over the same samples.

One home for the figures ``bit compare``, the int8 accuracy guard and the precision
benchmarks report. Every figure is defined here once:

- ``max_abs`` / ``mean_abs``: over all values finite on both sides.
- ``rel_err``: ``‖test − ref‖₂ / ‖ref‖₂`` over all finite rows (0 when both are zero).
- ``cosine``: per sample, ``ref·test / (‖ref‖‖test‖)``; the aggregate is the mean over finite rows.
- ``sqnr_db``: ``10·log10(Σ ref² / Σ (test − ref)²)`` over finite rows; ``inf`` when identical.
- ``agreement``: fraction of samples whose top-1 class is the same (a row with a NaN/inf never agrees).
- ``top5_overlap``: mean of ``|top5(ref) ∩ top5(test)| / 5``.
- ``top1_ref``/``top5_ref``/``top1_test``/``top5_test``: accuracy against labels, when labels are given.
- ``worst``: the samples with the lowest cosine, as ``(index, cosine)``.

The rows with a non-finite value are counted (``nonfinite_ref``/``nonfinite_test``) and left out of the
distance figures, never silently averaged in as NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

WORST = 5
TOP5 = 5


@dataclass(frozen=True)
class LogitMetrics:
    """The aggregated comparison of two ``[N, C]`` logit arrays; see the module docstring."""

    samples: int
    max_abs: float | None
    mean_abs: float | None
    rel_err: float | None
    cosine: float | None
    min_cosine: float | None
    sqnr_db: float | None
    agreement: float
    top5_overlap: float
    nonfinite_ref: int
    nonfinite_test: int
    top1_ref: float | None = None
    top5_ref: float | None = None
    top1_test: float | None = None
    top5_test: float | None = None
    worst: list[tuple[int, float]] = field(default_factory=list)

    @property
    def delta_top1(self) -> float | None:
        """``top1_test − top1_ref`` (a fraction; None without labels)."""
        if self.top1_ref is None or self.top1_test is None:
            return None
        return self.top1_test - self.top1_ref

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (``inf`` SQNR is written as the string ``"inf"``: JSON has no infinity)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "worst"}
        if out["sqnr_db"] is not None and math.isinf(out["sqnr_db"]):
            out["sqnr_db"] = "inf"
        out["delta_top1"] = self.delta_top1
        out["worst"] = [{"index": i, "cosine": c} for i, c in self.worst]
        return out


def _topk(logits: Any, k: int) -> Any:
    import numpy as np

    k = min(k, logits.shape[1])
    return np.argsort(-logits, axis=1, kind="stable")[:, :k]


def _accuracy(logits: Any, labels: Any, k: int, finite: Any) -> float:
    import numpy as np

    hits = (_topk(logits, k) == labels[:, None]).any(axis=1) & finite
    return float(np.mean(hits))


def compare_logits(ref: Any, test: Any, labels: Any = None, *, worst: int = WORST) -> LogitMetrics:
    """Compare ``test`` with ``ref`` (both ``[N, C]``), optionally scoring both against ``labels``.

    Raises:
        ValueError: the shapes differ, are not two-dimensional, there are no samples, or the
            labels' count is not N.
    """
    import numpy as np

    ref = np.asarray(ref, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if ref.ndim != 2 or ref.shape != test.shape or ref.shape[0] == 0:
        raise ValueError(f"logits must be two [N, C] arrays of the same shape with N > 0, got {ref.shape} and {test.shape}")
    n = ref.shape[0]
    fin_ref = np.isfinite(ref).all(axis=1)
    fin_test = np.isfinite(test).all(axis=1)
    both = fin_ref & fin_test
    agree = (np.argmax(np.nan_to_num(ref), axis=1) == np.argmax(np.nan_to_num(test), axis=1)) & both
    overlap = [len(set(a) & set(b)) / min(TOP5, ref.shape[1])
               for a, b in zip(_topk(np.nan_to_num(ref), TOP5), _topk(np.nan_to_num(test), TOP5))]  # fmt: skip
    overlap = np.where(both, overlap, 0.0)
    dist = _distances(ref[both], test[both])
    cos_all = np.full(n, -np.inf)
    cos_all[both] = dist.pop("per_sample_cosine")
    order = np.argsort(cos_all, kind="stable")[:worst]
    metrics: dict[str, Any] = dict(
        samples=n, agreement=float(np.mean(agree)), top5_overlap=float(np.mean(overlap)),
        nonfinite_ref=int((~np.isfinite(ref)).sum()), nonfinite_test=int((~np.isfinite(test)).sum()),
        worst=[(int(i), float(cos_all[i])) for i in order], **dist,
    )  # fmt: skip
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != n:
            raise ValueError(f"{labels.shape[0]} labels for {n} samples")
        metrics.update(top1_ref=_accuracy(ref, labels, 1, fin_ref), top5_ref=_accuracy(ref, labels, 5, fin_ref),
                       top1_test=_accuracy(test, labels, 1, fin_test), top5_test=_accuracy(test, labels, 5, fin_test))  # fmt: skip
    return LogitMetrics(**metrics)


def _distances(ref: Any, test: Any) -> dict[str, Any]:
    """Distance figures over rows finite on both sides (None for each when there is none)."""
    import numpy as np

    if ref.shape[0] == 0:
        return dict(max_abs=None, mean_abs=None, rel_err=None, cosine=None, min_cosine=None, sqnr_db=None,
                    per_sample_cosine=np.zeros(0))  # fmt: skip
    diff = test - ref
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(test, axis=1)
    dots = np.sum(ref * test, axis=1)
    # Two zero rows are identical (cosine 1); one zero row against a non-zero one shares no direction (0).
    cos = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), np.where((ref == test).all(axis=1), 1.0, 0.0))
    signal, noise = float(np.sum(ref * ref)), float(np.sum(diff * diff))
    ref_norm = math.sqrt(signal)
    return dict(
        max_abs=float(np.max(np.abs(diff))), mean_abs=float(np.mean(np.abs(diff))),
        rel_err=(math.sqrt(noise) / ref_norm) if ref_norm > 0 else (0.0 if noise == 0 else math.inf),
        cosine=float(np.mean(cos)), min_cosine=float(np.min(cos)),
        sqnr_db=math.inf if noise == 0 else (10 * math.log10(signal / noise) if signal > 0 else -math.inf),
        per_sample_cosine=cos,
    )  # fmt: skip


def per_sample(ref: Any, test: Any) -> dict[str, Any]:
    """The per-sample figures behind :func:`compare_logits` (numpy arrays of length N).

    ``cosine`` (``nan`` for a row with a NaN/inf on either side), ``max_abs`` (over the row's values finite
    on both sides; ``nan`` when none is), ``agree`` (bool: same top-1, never for a non-finite row),
    ``ref_top1`` and ``test_top1`` (class indices).
    """
    import numpy as np

    ref = np.asarray(ref, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    both = np.isfinite(ref).all(axis=1) & np.isfinite(test).all(axis=1)
    cos = np.full(ref.shape[0], np.nan)
    if both.any():
        norms = np.linalg.norm(ref[both], axis=1) * np.linalg.norm(test[both], axis=1)
        dots = np.sum(ref[both] * test[both], axis=1)
        same = (ref[both] == test[both]).all(axis=1)
        cos[both] = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), np.where(same, 1.0, 0.0))
    diff = np.abs(test - ref)
    finite = np.isfinite(diff)
    max_abs = np.where(finite.any(axis=1), np.max(np.where(finite, diff, -np.inf), axis=1), np.nan)
    ref_top1 = np.argmax(np.nan_to_num(ref), axis=1)
    test_top1 = np.argmax(np.nan_to_num(test), axis=1)
    return {"cosine": cos, "max_abs": max_abs, "agree": (ref_top1 == test_top1) & both,
            "ref_top1": ref_top1, "test_top1": test_top1}
