"""`bit simplify`: one onnxsim-simplified, static-shape ONNX per batch size."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import BsOpt, ForceOpt, JsonOpt, ProfileOpt, WorkdirOpt, lock_workdir, settings


def simplify_cli(
    profile: ProfileOpt = None,
    model: Annotated[
        Optional[Path], typer.Option("--model", help="Dynamic-batch ONNX to simplify \\[default: WORKDIR/bit.onnx].", show_default=False)
    ] = None,
    bs: BsOpt = None,
    output_dir: Annotated[
        Optional[Path], typer.Option("--output-dir", help="Where {stem}_bs{bs}_sim.onnx go \\[default: WORKDIR].", show_default=False)
    ] = None,
    workdir: WorkdirOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Simplify the ONNX model with onnxsim for each batch size (static bs×3×S×S) and check each against it."""
    from bitcli.stages.simplify import simplified_onnx_per_bs

    s = settings(profile, workdir=workdir, batch_sizes=bs)
    lock_workdir(s)
    source = model or s.artifacts.onnx
    ui.info(f"simplifying {source} for batch sizes {','.join(map(str, s.batch_sizes))}")
    result = simplified_onnx_per_bs(source, list(s.batch_sizes), output_dir or s.workdir,
                                    image_size=s["model.image_size"], force=force)  # fmt: skip
    if as_json:
        from bitcli.commands._common import emit_json

        doc = report.simplify_summary(result)
        words = {"ok": "done", "skipped": "up to date"}  # the shared status words
        rows = [{**row, "status": words.get(row["status"], row["status"])} for row in doc.pop("rows")]
        emit_json(rows, **doc)
    else:
        report.render_simplify(result)
    if not result.ok:
        raise typer.Exit(1)
