"""`bit atc`: simplified ONNX → Ascend .om per batch size, with the seed's exact atc command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import BsOpt, ForceOpt, JsonOpt, ProfileOpt, WorkdirOpt, lock_workdir, settings


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
    """Convert each bit_bs{bs}_sim.onnx to bit_bs{bs}.om with ATC (CANN sourced from ascend.set_env when needed)."""
    from bitcli.stages.atc import om_from_onnx

    cfg = settings(profile, workdir=workdir, batch_sizes=bs, ascend__chip=chip, ascend__precision_mode=precision_mode)
    lock_workdir(cfg)
    folder = model_dir or cfg.workdir
    if not dry_run:
        ui.info(f"atc for batch sizes {','.join(map(str, cfg.batch_sizes))} in {folder}")
    result = om_from_onnx(
        folder, cfg.batch_sizes, chip=cfg["ascend.chip"], set_env=cfg["ascend.set_env"],
        precision_mode=cfg["ascend.precision_mode"], image_size=cfg["model.image_size"], force=force,
        dry_run=dry_run, log_dir=cfg.artifacts.logs, progress=None if dry_run else ui.info,
    )  # fmt: skip
    if as_json:
        report.print_json(report.atc_summary(result))
    elif dry_run:
        for row in result.rows:
            if row.status != "dry run":
                ui.warn(f"bs {row.bs}: {row.status.removeprefix('dry run (').rstrip(')')}; run `bit simplify --bs {row.bs}` first")
            ui.out.print(row.command, soft_wrap=True, markup=False)
    else:
        report.render_atc(result)
