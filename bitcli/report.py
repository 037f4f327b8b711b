"""Every rich table and the JSON beside it: the only module that renders results.

Stages return dataclasses; commands pass them here. Whatever a table shows
is also available as JSON (``--json`` or a file under the workdir).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from rich.table import Table

from bitcli import ui
from bitcli.datasets import CIFAR10_CLASSES
from bitcli.report_files import SEED_310P3_THROUGHPUT, SEED_310P3_TOP1  # noqa: F401  (the seed's 310P3 figures)
from bitcli.report_rows import data_label as _data_label
from bitcli.report_rows import failure_text


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout and nothing else."""
    print(json.dumps(data, indent=2))


def make_table(title: str, columns: Iterable[str]) -> Table:
    """A table in the house style: title, header, right-aligned numbers are the caller's job."""
    from rich.markup import escape

    table = Table(title=escape(title), title_justify="left", header_style="bold")  # titles carry user paths
    for column in columns:
        table.add_column(column)
    return table


def _plain(text: str) -> str:
    """A user string (path, name) shown literally: rich markup such as ``[bold]`` escaped."""
    from rich.markup import escape

    return escape(text)


def render_settings(settings: Any) -> None:
    """``bit profile show``: each effective value and where it came from."""
    where = f"profile: {settings.profile}" if settings.profile else "profile: none (built-in defaults)"
    table = make_table(f"Effective settings — {where}", ["key", "value", "source"])
    for key, value in settings.values.items():
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        table.add_row(key, _plain(shown), _plain(settings.sources[key]))
    ui.out.print(table)


# --------------------------------------------------------------------------- bit data


def data_summary(result: Any) -> dict[str, Any]:
    """The JSON form of a :class:`~bitcli.stages.data.DataResult`."""
    return {
        "count": result.count, "written": result.written, "bytes": result.bytes,
        "seconds": round(result.seconds, 3), "images_per_s": round(result.images_per_s, 1),
        "status": result.status, "reason": result.reason, "skipped": result.skipped, "resumed": result.resumed,
        "synthetic": result.synthetic,
        "save_path": str(result.save_path), "label_path": str(result.label_path),
        "manifest": str(result.manifest), "source": str(result.source),
    }


def render_data(result: Any, *, as_json: bool = False) -> None:
    """`bit data`: one summary line (count, bytes, seconds; says SYNTHETIC when it is)."""
    if as_json:
        print_json(data_summary(result))
        return
    tag = "SYNTHETIC (not CIFAR-10) " if result.synthetic else ""
    size = f"{result.bytes:,} bytes ({result.bytes / 1e9:.2f} GB)"
    if result.skipped:
        line = (f"up to date: {result.count:,} {tag}images, {size} in {result.save_path}, labels in {result.label_path}"
                f" — made from {result.source}; nothing to do (--force redoes it) [{result.seconds:.1f} s]")
    else:
        kept = f", {result.resumed:,} kept from an interrupted run" if result.resumed else ""
        line = (f"wrote {result.written:,} of {result.count:,} {tag}images{kept}: {size} in {result.save_path},"
                f" labels in {result.label_path}, {result.seconds:.1f} s ({result.images_per_s:,.0f} img/s)"
                + _why(result.reason))
    ui.out.print(line, soft_wrap=True, markup=False)


# --------------------------------------------------------------------------- infer / eval / bench (runtimes)


def render_infer(result: Any) -> None:
    """``bit infer``: one batch size's run (status, what it ran, outputs, compute time, throughput)."""
    status = getattr(result, "status", "done")
    table = make_table(f"Inference — {result.backend} ({result.device}), bs {result.bs}: {status}", ["", "value"])
    _identity_rows(table, getattr(result, "identity", None) or {})
    table.add_row("outputs", _plain(f"{result.samples} in {result.result_dir}"))
    table.add_row("runs", f"{result.runs}" + (f" (last padded with {result.padded} copies)" if result.padded else ""))
    table.add_row("compute mean", f"{result.mean_compute_ms:.3f} ms per batch")
    table.add_row("throughput (compute)", f"{result.throughput:,.2f} samples/s")
    if result.wall_s:
        table.add_row("end to end", f"{result.images_per_s:,.2f} img/s ({result.wall_s:.1f} s)")
    table.add_row("summary", _plain(str(result.summary_path)))
    ui.out.print(table)
    if status == "up to date":
        ui.info(f"bs {result.bs}: up to date — {result.result_dir} was made from this model and data; "
                "nothing to do (--force computes it again)")


def _identity_rows(table: Table, ident: dict[str, Any]) -> None:
    """What a result was measured with: backend + precision, device, model (short sha256), weights."""
    from bitcli.stages.identity import short

    if not ident:
        return
    table.add_row("backend / precision", _plain(f"{ident.get('backend', '?')} / {ident.get('precision', 'fp32')}"))
    table.add_row("device", _plain(str(ident.get("device") or "?")))
    table.add_row("model", _plain(f"{ident.get('model', '?')} (sha256 {short(ident.get('model_sha256'))})"))
    table.add_row("weights", _plain(str(ident.get("weights") or "?")))


def render_accuracy(result: Any) -> None:
    """``bit eval``: top-1..k, then per-class top-1 with the confusion row of each class."""
    table = make_table(f"Accuracy — {result.output_dir} ({result.samples} samples)", ["metric", "value", "310P3 seed"])
    for k, value in result.topk.items():
        table.add_row(f"top-{k}", f"{100 * value:.2f}%", f"{100 * SEED_310P3_TOP1:.2f}%" if k == 1 else "")
    ui.out.print(table)
    names = CIFAR10_CLASSES if result.num_classes == 10 else tuple(str(c) for c in range(result.num_classes))
    per = make_table("Per class top-1; confusion counts (rows: true class, columns: predicted class)",
                     ["class", "n", "top-1", *[str(c) for c in range(result.num_classes)]])
    for column in per.columns[1:]:
        column.justify = "right"
    for c, name in enumerate(names):
        top1 = result.per_class[c]
        per.add_row(f"{c} {name}", str(result.per_class_samples[c]), "—" if top1 is None else f"{100 * top1:.1f}%",
                    *[str(v) for v in result.confusion[c]])
    ui.out.print(per)


def render_bench(result: Any) -> None:
    """``bit bench``: throughput and latency per batch size beside the seed's 310P3 figures, then what was timed."""
    from bitcli.stages.identity import short

    table = make_table(
        f"Throughput — {result.backend} {getattr(result, 'precision', 'fp32')} ({result.device}), {result.loop} timed "
        f"runs after {result.warmup} warm-up",
        ["bs", "samples/s", "mean ms", "p50 ms", "p90 ms", "p99 ms", "310P3 seed samples/s", "status"],
    )
    for row in result.rows:
        ref = SEED_310P3_THROUGHPUT.get(row.bs)
        ref_text = f"{ref:,.2f}" if ref is not None else "—"
        if row.status == "ok":
            lat = row.latency_ms
            table.add_row(str(row.bs), f"{row.throughput:,.2f}", f"{lat['mean']:.3f}", f"{lat['median']:.3f}",
                          f"{lat['percentile(90%)']:.3f}", f"{lat['percentile(99%)']:.3f}", ref_text,
                          getattr(row, "run", "done"))
        else:
            from rich.markup import escape

            table.add_row(str(row.bs), "—", "—", "—", "—", "—", ref_text,
                          f"[red]failed[/red]: {escape(failure_text(row.reason, row.hint))}")
    ui.out.print(table)
    idents = [(r.bs, r.identity) for r in result.rows if getattr(r, "identity", None)]
    if idents:  # the model column would squeeze the reasons: one line per bs instead
        models = "; ".join(f"bs {bs} {Path(str(i.get('model', '?'))).name} ({short(i.get('model_sha256'))})"
                           for bs, i in idents)
        weights = sorted({str(i.get("weights")) for _, i in idents if i.get("weights")})
        ui.out.print(_plain(f"models (sha256): {models}" + (f"; weights: {', '.join(weights)}" if weights else "")),
                     soft_wrap=True)


# --------------------------------------------------------------------------- export / simplify


def _why(reason: Any) -> str:  # " — because <reason>" for a re-run; nothing for a first or up-to-date one
    return f" — because {reason}" if reason and not str(reason).endswith(("does not exist", "exist yet")) else ""


def export_summary(result: Any) -> dict[str, Any]:
    """JSON view of an ExportResult (everything ``render_export`` shows)."""
    meta = result.meta
    return {
        "output": str(result.output), "status": result.status, "reason": result.reason, "arch": meta.get("arch"),
        "num_classes": meta.get("num_classes"), "weights": meta.get("weights_source", meta.get("weights_digest")),
        "format": meta.get("format"), "random": meta.get("random"), "weights_digest": meta.get("weights_digest"),
        "opset": meta.get("opset"), "image_size": meta.get("image_size"), "max_abs_diff": result.max_abs_diff,
        "top1_agree": result.top1_agree, "samples": meta.get("samples"), "seconds": round(result.seconds, 3),
        "notes": list(result.notes),
    }  # fmt: skip


def render_export(result: Any) -> None:
    """``bit export``: what was written, from what, and the torch-vs-ONNX check."""
    data = export_summary(result)
    label = "RANDOM weights" if data["random"] else f"{data['weights']} ({data['format']})"
    title = f"Export — {'up to date' if data['status'] == 'up to date' else 'done: exported and verified' + _why(data['reason'])}"
    table = make_table(title, ["item", "value"])
    diff = "—" if data["max_abs_diff"] is None else f"{data['max_abs_diff']:.3g}"
    agree = "—" if data["top1_agree"] is None else f"{data['top1_agree']:.0%}"
    for item, value in (
        ("output", data["output"]), ("weights", label), ("arch / classes", f"{data['arch']} / {data['num_classes']}"),
        ("opset / input", f"{data['opset']} / image N×3×{data['image_size']}×{data['image_size']} → class"),
        ("max |Δ| torch vs ONNX", f"{diff} over {data['samples']} images"), ("top-1 agreement", agree),
        ("time", f"{data['seconds']:.1f} s"),
    ):  # fmt: skip
        table.add_row(item, _plain(str(value)))
    ui.out.print(table)
    for note in data["notes"]:
        ui.warn(note)


def simplify_summary(result: Any) -> dict[str, Any]:
    """JSON view of a SimplifyResult (everything ``render_simplify`` shows)."""
    return {
        "model": str(result.model), "image_size": result.image_size, "ok": result.ok,
        "rows": [
            {"bs": r.bs, "path": str(r.path), "status": r.status, "reason": r.reason, "seconds": round(r.seconds, 3),
             "max_abs_diff": r.max_abs_diff, "ops_before": r.ops_before, "ops_after": r.ops_after, "error": r.error}
            for r in result.rows
        ],
    }  # fmt: skip


def render_simplify(result: Any) -> None:
    """``bit simplify``: one row per batch size, then op counts before/after (like onnxsim's table)."""
    from rich.markup import escape

    table = make_table(f"Simplify — {result.model}", ["bs", "status", "output", "time s", "max |Δ|", "nodes before → after"])
    for r in result.rows:
        status = f"[red]failed[/red]: {escape(r.error)}" if r.error else r.status + escape(_why(r.reason))
        diff = "—" if r.max_abs_diff is None else f"{r.max_abs_diff:.3g}"
        nodes = f"{sum(r.ops_before.values())} → {sum(r.ops_after.values())}" if r.ops_after else "—"
        table.add_row(str(r.bs), status, _plain(str(r.path.name)), f"{r.seconds:.2f}", diff, nodes)
    ui.out.print(table)
    done = [r for r in result.rows if r.ops_after]
    if not done:
        return
    ops = make_table("Op counts", ["op", "original", *[f"bs{r.bs} simplified" for r in done]])
    names = sorted(set(done[0].ops_before).union(*(r.ops_after for r in done)))
    for name in names:
        ops.add_row(name, str(done[0].ops_before.get(name, 0)), *[str(r.ops_after.get(name, 0)) for r in done])
    ops.add_row("[bold]total[/bold]", str(sum(done[0].ops_before.values())), *[str(sum(r.ops_after.values())) for r in done])
    ui.out.print(ops)


# --------------------------------------------------------------------------- bit all: final report


# report.json, report.md and throughput.png are written by bitcli.report_files (no rich there)
from bitcli.report_files import (  # noqa: E402,F401  (re-exported: the report's public names)
    _chip_label,
    _pct,
    all_report_json,
    all_report_markdown,
    throughput_plot,
    write_all_reports,
)


def _backend_cell(result: Any, row: Any) -> str:
    """The row's slot name (``onnxruntime``, ``onnxruntime-int8``; the chip for Ascend): fp32 is implicit here,
    the legend under the table and report.md/json say it."""
    from bitcli.artifacts import result_slot

    backend = row.backend or result.backend
    name = _chip_label(result, row) if backend == "ascend" else backend
    return result_slot(name, row.precision or "fp32")


def _identity_legend(result: Any) -> list[str]:
    """Under the table, once per backend × precision: device, weights and each bs's model with its short sha256.

    Kept out of the table so it stays narrow (the reasons of failed rows need the width).
    """
    from pathlib import Path

    from bitcli.stages.identity import short

    groups: dict[tuple[str, str], list[Any]] = {}
    for row in result.rows:
        groups.setdefault((row.backend or result.backend, row.precision or "fp32"), []).append(row)
    lines = []
    for (backend, precision), rows in groups.items():
        models = ", ".join(f"bs {r.bs} {Path(str(r.model)).name if r.model else '—'} ({short(r.model_sha256)})"
                           for r in rows)
        first = next((r for r in rows if r.device), rows[0])
        lines.append(f"{backend} {precision}: device {first.device or '—'}; weights {first.weights or '—'}; "
                     f"models {models}")
    return lines


def render_all(result: Any, paths: dict[str, Any]) -> None:
    """The seed's table in the terminal, with the 310P3 reference column."""
    from rich.markup import escape

    from bitcli.stages.run_all import DEMO_NOTICE

    # one data set for every row: its line (with the count) heads the table instead of a column
    ui.out.print(f"data set: {escape(_data_label(result))}")
    title = "bit all" + (" (demo: synthetic data, random weights)" if result.demo else "")
    table = make_table(title, ["backend", "bs", "top-1", "top-5", "img/s", "310P3 img/s", "status"])
    cells = [_backend_cell(result, row) for row in result.rows]
    table.columns[0].no_wrap = True  # the backend name whole at 80 columns, never "onnxru…"
    table.columns[0].min_width = max(map(len, cells), default=len("backend"))
    notes = []  # a failed row's reason and fix go under the table, where they wrap at full width
    for row, cell in zip(result.rows, cells):
        ref = SEED_310P3_THROUGHPUT.get(row.bs)
        status = "ok"
        if row.status != "ok":
            notes.append(f"[red]bs {row.bs} {row.status}[/red]: {escape(failure_text(row.reason, row.hint))}")
            status = f"[red]{row.status}[/red] (see below)"
        table.add_row(escape(cell), str(row.bs), _pct(row.topk, "1"), _pct(row.topk, "5"),
                      f"{row.throughput:,.2f}" if row.throughput else "—", f"{ref:,.2f}" if ref else "—", status)
    ui.out.print(table)
    for note in notes:
        ui.out.print(note)
    for line in _identity_legend(result):
        ui.out.print(escape(line), soft_wrap=True)
    if result.demo:
        ui.out.print(f"[bold yellow]{DEMO_NOTICE}[/bold yellow]")
    if result.backend != "ascend":
        ui.out.print(f"Not an Ascend run: backend {result.backend} ({result.device}); "
                     "the 310P3 column is the seed's published figure (top-1 97.62%).")
    written = [str(paths["json"]), str(paths["md"])] + ([str(paths["png"])] if paths.get("png") else [])
    ui.out.print("report: " + ", ".join(written))
    if paths.get("plot_skipped"):
        ui.warn(paths["plot_skipped"])


# --------------------------------------------------------------------------- bit atc / bit doctor


def atc_summary(result: Any) -> dict[str, Any]:
    """JSON view of an AtcResult (everything ``render_atc`` shows)."""
    return {
        "chip": result.chip, "soc_version": result.soc_version, "model_dir": str(result.model_dir),
        "rows": [{"bs": r.bs, "om": str(r.om), "status": r.status, "reason": r.reason, "seconds": round(r.seconds, 3),
                  "command": r.command} for r in result.rows],
    }  # fmt: skip


def render_atc(result: Any) -> None:
    """``bit atc``: one row per batch size with its .om, status and ATC time."""
    table = make_table(f"ATC — {result.soc_version} — {result.model_dir}", ["bs", "om", "status", "time s"])
    for r in result.rows:
        table.add_row(str(r.bs), _plain(r.om.name), r.status, f"{r.seconds:.1f}" if r.seconds else "—")
    ui.out.print(table)


def doctor_summary(result: Any) -> dict[str, Any]:
    """JSON view of a DoctorResult."""
    return {
        "backend": result.backend, "backend_ok": result.backend_ok, "backend_reason": result.backend_reason,
        "checks": [{"name": c.name, "status": c.status, "found": c.found, "affects": c.affects, "fix": c.fix}
                   for c in result.checks],
    }  # fmt: skip


def render_doctor(result: Any) -> None:
    """``bit doctor``: what this host has, what each missing part blocks, and the fix."""
    from rich.markup import escape

    colour = {"ok": "green", "missing": "red", "broken": "red", "warn": "yellow", "info": "dim"}
    table = make_table("bit doctor — this host", ["check", "status", "found", "affects", "fix"])
    for column in table.columns:
        column.overflow = "fold"  # paths and fixes must stay whole, never "…"
    for c in result.checks:
        status = f"[{colour.get(c.status, 'white')}]{c.status}[/]"
        table.add_row(c.name, status, escape(c.found), escape(c.affects or ""), escape(c.fix or ""))
    ui.out.print(table)
    verdict = "can run" if result.backend_ok else f"cannot run: {result.backend_reason}"
    ui.out.print(f"backend {result.backend}: {escape(verdict)}", soft_wrap=True)
