"""Tables of ``bit compare`` and ``bit quantize`` (rendering only; the figures come from the stages).

A module beside :mod:`bitcli.report` so the two commands' tables live in one place without growing
``report.py`` past its size; it uses ``report.make_table`` for the house style.
"""

from __future__ import annotations

import math
from typing import Any

from bitcli import ui
from bitcli.report import make_table


def _f(value: Any, spec: str = ".4g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return format(value, spec)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _pt(delta: Any) -> str:
    return "n/a" if delta is None else f"{delta * 100:+.2f} pt"


def metric_rows(m: Any) -> list[tuple[str, str]]:
    """(figure, value) for every aggregated figure of a LogitMetrics."""
    rows = [("samples", f"{m.samples:,}"), ("top-1 agreement", _pct(m.agreement)),
            ("top-5 overlap", _pct(m.top5_overlap)), ("cosine (mean)", _f(m.cosine, ".6f")),
            ("cosine (lowest)", _f(m.min_cosine, ".6f")), ("SQNR", f"{_f(m.sqnr_db, '.1f')} dB"),
            ("max |Δ|", _f(m.max_abs)), ("mean |Δ|", _f(m.mean_abs)), ("relative error", _f(m.rel_err)),
            ("non-finite values (ref / test)", f"{m.nonfinite_ref} / {m.nonfinite_test}")]
    if m.top1_ref is not None:
        rows += [("top-1 ref / test", f"{_pct(m.top1_ref)} / {_pct(m.top1_test)}"),
                 ("top-5 ref / test", f"{_pct(m.top5_ref)} / {_pct(m.top5_test)}"),
                 ("Δtop-1 (test − ref)", _pt(m.delta_top1))]
    return rows


def render_compare(result: Any) -> None:
    """``bit compare``: the figures, the worst samples, and each crossed threshold."""
    table = make_table(f"{result.test} vs {result.ref}", ["figure", "value"])
    table.columns[1].justify = "right"
    for name, value in metric_rows(result.metrics):
        table.add_row(name, value)
    if result.outside_tolerance is not None:
        table.add_row("values outside atol + rtol·|ref|", f"{result.outside_tolerance:,}")
    ui.out.print(table)
    worst = make_table("lowest-cosine samples", ["index", "sample", "cosine", "max |Δ|", "ref top-1", "test top-1"])
    for row in result.worst():
        worst.add_row(str(row["index"]), row["stem"], _f(row["cosine"], ".6f"), _f(row["max_abs"]),
                      str(row["ref_top1"]), str(row["test_top1"]))
    ui.out.print(worst)
    ui.out.print(f"status: {result.status}" + "".join(f"\n  crossed: {f}" for f in result.failures), markup=False)


def render_nodes(result: Any, shown: int = 12) -> None:
    """``bit compare --per-node``: the first divergent node and the nodes around it."""
    first = result.first_divergent
    rows = result.rows
    at = rows.index(first) if first else len(rows)
    window = rows[max(0, at - shown // 2): at + shown // 2 + 1] if first else rows[-shown:]
    table = make_table(f"per node: {result.test_model} vs {result.ref_model} ({result.samples} samples, "
                       f"{len(rows)} nodes in common)", ["#", "node", "op", "cosine", "lowest", "max |Δ|"])
    for row in window:
        mark = " ←" if row is first else ""
        table.add_row(str(rows.index(row)), row.name + mark, row.op_type, _f(row.cosine, ".6f"),
                      _f(row.min_cosine, ".6f"), _f(row.max_abs))
    ui.out.print(table)
    if first:
        ui.out.print(f"first node below cosine {result.threshold:g}: {first.name} ({first.op_type}, "
                     f"cosine {_f(first.cosine, '.6f')})", markup=False)
    else:
        ui.out.print(f"every common node stays at cosine >= {result.threshold:g}", markup=False)


def render_quantize(result: Any) -> None:
    """``bit quantize``: the recipe and the guard's figures on the held-out images (from the sidecar)."""
    g = result.meta["guard"]
    table = make_table(f"int8 {result.output} (vs fp32 on {g['samples']} held-out images)", ["figure", "value"])
    table.columns[1].justify = "right"
    for name, value in result.summary_rows():
        table.add_row(name, value)
    sqnr = g["sqnr_db"]
    table.add_row("top-1 agreement", _pct(g["agreement"]))
    table.add_row("cosine (mean / lowest)", f"{_f(g['cosine'], '.6f')} / {_f(g['min_cosine'], '.6f')}")
    table.add_row("SQNR", f"{sqnr if isinstance(sqnr, str) else _f(sqnr, '.1f')} dB")
    if g["top1_ref"] is not None:
        table.add_row("top-1 fp32 → int8", f"{_pct(g['top1_ref'])} → {_pct(g['top1_test'])} ({_pt(g['delta_top1'])})")
    verdict = "passed" if g["passed"] else "FAILED, written with --accept-loss"
    table.add_row("guard", f"{verdict} (min agreement {_pct(g['thresholds']['min_agreement'])}, "
                           f"max drop {g['thresholds']['max_top1_drop'] * 100:.2f} pt)")
    ui.out.print(table)
