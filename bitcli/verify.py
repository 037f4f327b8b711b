"""One non-finite-aware comparison of a reference output with a test output.

Export (torch vs onnxruntime) and simplify (dynamic vs simplified ONNX) both
verify through :func:`compare`, so a NaN or inf on either side is a failure
that says how many there are and where, never a ``max |Δ| nan`` that passes
because ``nan > atol`` is False (Polygraphy checks outputs for NaN/inf by
default; so do we).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHOWN = 3  # first non-finite positions named in a message


@dataclass(frozen=True)
class Comparison:
    """Reference vs test outputs of the same inputs.

    Attributes:
        max_abs_diff: max |ref - test| over positions finite on both sides (None: no such position).
        mean_abs_diff: mean of the same (None likewise).
        top1_agree: fraction of rows whose argmax agrees (rows with a non-finite value never agree).
        atol: the tolerance ``passed`` was judged against.
        nonfinite_ref: how many values of the reference are NaN/inf.
        nonfinite_test: how many values of the test output are NaN/inf.
        first_ref: the first few such positions (index tuples) in the reference.
        first_test: the same for the test output.
        shape_mismatch: the two shapes when they differ, else None.
    """

    max_abs_diff: float | None
    mean_abs_diff: float | None
    top1_agree: float
    atol: float
    nonfinite_ref: int = 0
    nonfinite_test: int = 0
    first_ref: list[tuple[int, ...]] = field(default_factory=list)
    first_test: list[tuple[int, ...]] = field(default_factory=list)
    shape_mismatch: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    @property
    def passed(self) -> bool:
        """Same shape, every value finite on both sides, and max |Δ| <= atol."""
        return (self.shape_mismatch is None and not self.nonfinite_ref and not self.nonfinite_test
                and self.max_abs_diff is not None and self.max_abs_diff <= self.atol)

    def problem(self, ref_name: str = "reference", test_name: str = "test") -> str:
        """Why it failed, in one clause ("" when it passed)."""
        if self.shape_mismatch is not None:
            a, b = self.shape_mismatch
            return f"{ref_name} output shape {a} differs from {test_name} output shape {b}"
        parts = []
        for name, count, first in ((ref_name, self.nonfinite_ref, self.first_ref),
                                   (test_name, self.nonfinite_test, self.first_test)):  # fmt: skip
            if count:
                where = ", ".join(str(list(p)) for p in first)
                parts.append(f"{name} output has {count} non-finite value(s) (NaN/inf), first at {where}")
        if parts:
            return "; ".join(parts)
        if self.max_abs_diff is not None and self.max_abs_diff > self.atol:
            return f"max |Δ| {self.max_abs_diff:.3g} > {self.atol:g} (top-1 agreement {self.top1_agree:.0%})"
        return ""

    def to_json(self) -> dict[str, Any]:
        """The figures a sidecar records."""
        return {"max_abs_diff": self.max_abs_diff, "mean_abs_diff": self.mean_abs_diff, "top1_agree": self.top1_agree,
                "nonfinite_ref": self.nonfinite_ref, "nonfinite_test": self.nonfinite_test}  # fmt: skip


def nonfinite(array: Any, shown: int = SHOWN) -> tuple[int, list[tuple[int, ...]]]:
    """How many values of ``array`` are NaN/inf, and the first ``shown`` positions (C order)."""
    import numpy as np

    bad = ~np.isfinite(np.asarray(array))
    count = int(bad.sum())
    if not count:
        return 0, []
    flat = np.flatnonzero(bad)[:shown]
    return count, [tuple(int(i) for i in np.unravel_index(k, bad.shape)) for k in flat]


def compare(reference: Any, test: Any, *, atol: float) -> Comparison:
    """Compare two output arrays (rows = samples, last axis = classes).

    Args:
        reference: the trusted output (torch, or the unsimplified model).
        test: the output under test.
        atol: largest allowed |Δ|.

    Returns:
        A :class:`Comparison`; ``passed`` is False for any NaN/inf on either side.
    """
    import numpy as np

    ref = np.asarray(reference, dtype=np.float64)
    got = np.asarray(test, dtype=np.float64)
    n_ref, first_ref = nonfinite(ref)
    n_got, first_got = nonfinite(got)
    if ref.shape != got.shape:
        return Comparison(None, None, 0.0, atol, n_ref, n_got, first_ref, first_got, (ref.shape, got.shape))
    both = np.isfinite(ref) & np.isfinite(got)
    delta = np.abs(ref - got)[both]
    max_d = float(delta.max()) if delta.size else None
    mean_d = float(delta.mean()) if delta.size else None
    return Comparison(max_d, mean_d, _top1_agree(ref, got), atol, n_ref, n_got, first_ref, first_got)


def _top1_agree(ref: Any, got: Any) -> float:
    import numpy as np

    if ref.ndim == 0 or ref.size == 0:
        return 0.0
    rows_ref = ref.reshape(-1, ref.shape[-1]) if ref.ndim > 1 else ref.reshape(1, -1)
    rows_got = got.reshape(rows_ref.shape)
    finite = np.isfinite(rows_ref).all(axis=1) & np.isfinite(rows_got).all(axis=1)
    same = rows_ref.argmax(axis=1) == rows_got.argmax(axis=1)
    return float((same & finite).mean())
