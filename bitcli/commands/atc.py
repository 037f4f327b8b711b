"""`bit atc`: simplified ONNX → Ascend .om per batch size, with the seed's exact atc command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import BsOpt, ForceOpt, JsonOpt, ProfileOpt, WorkdirOpt, emit_json, lock_workdir, settings


def atc_cli(
    bs: BsOpt = None,
    chip: Annotated[Optional[str], typer.Option("--chip", help="auto (read npu-smi info), or 310P3 / Ascend310P3 / 910B4 ... \\[profile: ascend.chip].", show_default=False)] = None,
    model_dir: Annotated[Optional[Path], typer.Option("--model-dir", help="Folder with bit_bs{bs}_sim.onnx; the .om files go beside them \\[default: WORKDIR].", show_default=False)] = None,
    precision_mode: Annotated[Optional[str], typer.Option("--precision-mode", help="ATC --precision_mode, e.g. force_fp32 (default: ATC's own, force_fp16) \\[profile: ascend.precision_mode].", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the atc command lines and stop.")] = False,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Convert each bit_bs{bs}_sim.onnx to bit_bs{bs}.om with ATC (CANN sourced from ascend.set_env when needed).

    Every batch size is tried; one that fails keeps its row with the reason, and the command
    exits 1 after the table.
    """
    from bitcli.stages.atc import om_from_onnx

    cfg = settings(profile, workdir=workdir, batch_sizes=bs, ascend__chip=chip, ascend__precision_mode=precision_mode)
    lock_workdir(cfg)
    folder = model_dir or cfg.workdir
    common = dict(set_env=cfg["ascend.set_env"], precision_mode=cfg["ascend.precision_mode"],
                  image_size=cfg["model.image_size"], force=force, log_dir=cfg.artifacts.logs)
    if dry_run:
        result = om_from_onnx(folder, cfg.batch_sizes, chip=cfg["ascend.chip"], dry_run=True, **common)
        failures: dict[int, tuple[str, str | None]] = {}
    else:
        ui.info(f"atc for batch sizes {','.join(map(str, cfg.batch_sizes))} in {folder}")
        result, failures = _convert_each(folder, cfg.batch_sizes, cfg["ascend.chip"], common)
    if as_json:
        doc = report.atc_summary(result)
        rows = [_json_row(r, failures.get(r["bs"])) for r in doc.pop("rows")]
        emit_json(rows, status="done" if dry_run and rows else None, **doc)
    elif dry_run:
        for row in result.rows:
            if row.status != "dry run":
                ui.warn(f"bs {row.bs}: {row.status.removeprefix('dry run (').rstrip(')')}; run `bit simplify --bs {row.bs}` first")
            ui.out.print(row.command, soft_wrap=True, markup=False)
    else:
        report.render_atc(result)
    if failures:
        raise typer.Exit(1)


def _convert_each(folder: Path, sizes: tuple[int, ...], chip: str, common: dict[str, Any]):
    """Run ATC per batch size, so one failure does not stop the others.

    The chip is resolved once (``auto`` asks npu-smi); a chip or CANN problem stops the command
    at once, since no batch size could succeed.

    Returns:
        The :class:`~bitcli.stages.atc.AtcResult` with a row per batch size, and
        ``{bs: (reason, hint)}`` for those that failed (their row's status is ``failed``).
    """
    from bitcli.ascend.npu_smi import resolve_chip, soc_version
    from bitcli.artifacts import Artifacts
    from bitcli.errors import BitError, ConfigError, ToolNotFound
    from bitcli.stages.atc import AtcResult, AtcRow, om_from_onnx

    chip_name = resolve_chip(chip, common["set_env"])
    result = AtcResult(chip_name, soc_version(chip_name), Path(folder).resolve())
    failures: dict[int, tuple[str, str | None]] = {}
    for size in sizes:
        try:
            one = om_from_onnx(folder, (size,), chip=chip_name, progress=ui.info, **common)
            result.rows.extend(one.rows)
        except (ToolNotFound, ConfigError):
            raise  # no atc, or a bad chip: every batch size would fail the same way
        except BitError as exc:
            ui.error(f"bs {size}: {exc.message}", exc.hint)
            failures[size] = (exc.message, exc.hint)
            reason = exc.message + (f" — {exc.hint}" if exc.hint else "")
            result.rows.append(AtcRow(size, Artifacts(result.model_dir).om(size), f"failed: {reason}"))
    return result, failures


def _json_row(row: dict[str, Any], failure: tuple[str, str | None] | None) -> dict[str, Any]:
    """A row of ``bit atc --json`` in the shared words: done | up to date | failed (with reason, hint)."""
    row = {**row, "status": {"built": "done"}.get(row["status"], row["status"])}
    if failure is not None:
        row.update(status="failed", reason=failure[0], hint=failure[1])
    return row
