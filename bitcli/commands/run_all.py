"""`bit all`: data → export → simplify → atc → infer → eval → bench, then the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import (BackendOpt, BsOpt, ForceOpt, JsonOpt, PrecisionOpt, ProfileOpt, WorkdirOpt, emit_json,
                                     lock_workdir, settings)


def all_cli(
    bs: BsOpt = None,
    backend: BackendOpt = None,
    precision: PrecisionOpt = None,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Checkpoint (bit.pth, big_transfer .pth/.pth.tar, BiT .npz) or 'random' \\[profile: model.weights].", show_default=False)] = None,
    dataset_path: Annotated[Optional[Path], typer.Option("--dataset-path", help="CIFAR-10 folder or tarball \\[profile: dataset.path].", show_default=False)] = None,
    from_step: Annotated[Optional[str], typer.Option("--from", help="Start at this step: data export simplify atc infer eval bench.", show_default=False)] = None,
    only: Annotated[Optional[str], typer.Option("--only", help="Run only these steps, comma-separated (e.g. infer,eval).", show_default=False)] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Offline demo: synthetic images, random weights, onnxruntime on CPU (workdir bit_demo unless given).")] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Use only the first N test images \\[profile: dataset.limit].", show_default=False)] = None,
    om_dir: Annotated[Optional[Path], typer.Option("--om-dir", help="Folder of existing bit_bs{N}.om files (ascend): used as they are, never rebuilt or overwritten; recorded as adopted.", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display: only warnings, errors and the final table (for scripts).")] = False,
    compare: Annotated[Optional[int], typer.Option("--compare", min=1, help="After the run, compare its backend/precision with fp32 onnxruntime on N samples (into report.json/md).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan, each step with why it would run or 'up to date'; run and write nothing.")] = False,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """The whole flow for each batch size; up-to-date steps are skipped; ends with the seed's table.

    Writes WORKDIR/report.json, report.md and throughput.png (with matplotlib).
    """
    from bitcli.stages import run_all as stage

    ui.state.quiet = ui.state.quiet or quiet
    flags = dict(workdir=workdir, batch_sizes=bs, backend=backend, precision=precision, model__weights=weights,
                 dataset__path=dataset_path, dataset__limit=limit)
    cfg = settings(profile, **flags)
    if demo:
        extra = {k.replace(".", "__"): v for k, v in stage.demo_overrides(cfg).items()}
        cfg = settings(profile, **{**extra, **{k: v for k, v in flags.items() if v is not None}})
        ui.warn(stage.DEMO_NOTICE)
    steps_only = tuple(s.strip() for s in only.split(",") if s.strip()) if only else None
    stage.plan_steps(from_step, steps_only, ascend=True)  # check step names before any work
    if dry_run:  # no lock either: nothing is written, not even the workdir
        return _print_plan(cfg, from_step, steps_only, force, as_json)
    lock_workdir(cfg)
    with _Display(demo=demo, quiet=ui.state.quiet) as display:
        result = stage.run_all(cfg, from_step=from_step, only=steps_only, force=force, demo=demo, events=display,
                               compare=compare, om_dir=om_dir)
    ui.info(result.backend_reason)
    for note in result.notes:
        ui.info(note)
    nothing_ran = not result.steps
    skipped = _skipped_atc(result, from_step, steps_only)
    if skipped:  # asked for by name: say so in the output and in the report's steps
        from bitcli.stages.run_all import StepRecord

        ui.info(f"atc: {skipped}")
        result.steps.append(StepRecord("atc", None, skipped))
    if nothing_ran:  # e.g. --only atc off Ascend: the report on disk stays as it was
        report_json = cfg.artifacts.report_json
        if as_json:
            emit_json([], status=skipped or "skipped: no step to run", steps=[s.to_json() for s in result.steps])
        else:
            ui.info(f"nothing ran; {report_json} left as it was" if report_json.exists() else "nothing ran; no report written")
        return
    paths = report.write_all_reports(result, cfg.artifacts)
    if as_json:
        import json

        doc = json.loads(paths["json_text"])
        emit_json(doc.pop("results"), status=_overall(result), **doc)
    else:
        report.render_all(result, paths)
    if result.failed:
        raise typer.Exit(1)


def _skipped_atc(result: Any, from_step: Optional[str], only: Optional[tuple[str, ...]]) -> Optional[str]:
    """``skipped: <reason>`` when atc was asked for by name (--only atc, --from atc) but the backend uses no .om."""
    if result.backend == "ascend" or not ("atc" in (only or ()) or from_step == "atc"):
        return None
    return f"skipped: the {result.backend} backend uses no .om (atc builds them for --backend ascend)"


def _overall(result: Any) -> str:
    """The run's word: failed, up to date (every step was), or done."""
    if result.failed:
        return "failed"
    ran = [s for s in result.steps if not s.status.startswith("skipped")]
    return "up to date" if ran and all(s.status == "up to date" for s in ran) else "done"


def _print_plan(cfg: Any, from_step: Optional[str], only: Optional[tuple[str, ...]], force: bool, as_json: bool) -> None:
    """`bit all --dry-run`: one row per step and batch size, "would run: <reason>" or "up to date"."""
    from rich.markup import escape

    from bitcli.stages.plan import dry_run

    planned = dry_run(cfg, from_step=from_step, only=only, force=force)
    if as_json:
        doc = planned.to_json()
        emit_json(doc.pop("results"), status="dry run", **doc)
        return
    ui.info(planned.backend_reason)
    table = report.make_table(f"bit all --dry-run — {planned.workdir} ({planned.backend}); nothing was run",
                              ["step", "bs", "plan"])
    for step in planned.steps:
        text = "up to date" if step.reason is None else f"would run: {step.reason}"
        table.add_row(step.step, "" if step.bs is None else str(step.bs),
                      f"[dim]{escape(text)}[/dim]" if step.reason is None else escape(text))
    ui.out.print(table)
    runs = sum(s.reason is not None for s in planned.steps)
    ui.out.print(f"{runs} of {len(planned.steps)} steps would run", markup=False)


class _Display:
    """One overall bar (steps × batch sizes) with the running step's own bar under it."""

    def __init__(self, *, demo: bool, quiet: bool) -> None:
        self.prefix = "[demo] " if demo else ""
        self.quiet = quiet
        self.progress: Any = None

    def __enter__(self) -> "_Display":
        if not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=ui.err,
                                     transient=True)
            self.progress.__enter__()
            self.overall = self.progress.add_task(f"{self.prefix}bit all", total=None, rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def plan(self, steps: tuple[str, ...], batch_sizes: tuple[int, ...]) -> None:
        from bitcli.stages.run_all import PER_BS

        if self.progress is not None:
            units = sum(len(batch_sizes) if s in PER_BS else 1 for s in steps)
            self.progress.update(self.overall, total=units)

    def start(self, step: str, bs: Optional[int]) -> Any:
        if self.progress is None:
            return lambda done, total: None
        label = f"{self.prefix}  {step}" + (f" bs{bs}" if bs is not None else "")
        import time

        task = self.progress.add_task(label, total=None, rate="")
        self.task, started = task, time.perf_counter()

        def tick(done: int, total: Optional[int]) -> None:
            elapsed = time.perf_counter() - started
            rate = f"{done / elapsed:,.0f}/s" if elapsed > 0 and step in ("data", "infer") else ""
            self.progress.update(task, completed=done, total=total, rate=rate)

        return tick

    def end(self, record: Any) -> None:
        line = f"{self.prefix}{record.step}" + (f" bs{record.bs}" if record.bs is not None else "")
        line += f": {record.status} ({record.seconds:.1f} s)" + (f" — {record.detail}" if record.detail else "")
        if self.progress is not None:
            self.progress.remove_task(self.task)
            self.progress.advance(self.overall)
            style = {"failed": "red", "up to date": "dim"}.get(record.status, "")
            self.progress.console.print(f"[{style}]{_escape(line)}[/{style}]" if style else _escape(line))
        elif record.status == "failed":
            ui.warn(line)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
