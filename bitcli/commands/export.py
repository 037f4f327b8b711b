"""`bit export`: checkpoint (any format) → ONNX, verified against torch in onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import ForceOpt, JsonOpt, ProfileOpt, WorkdirOpt, lock_workdir, settings


def export_cli(
    profile: ProfileOpt = None,
    weights: Annotated[
        Optional[str],
        typer.Option(
            "--weights",
            help="Checkpoint: ModelZoo bit.pth (pickled model), state_dict, big_transfer train.py checkpoint, "
            "BiT .npz — detected from content — or 'random' \\[profile: model.weights].",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="ONNX file to write \\[default: WORKDIR/bit.onnx].", show_default=False)
    ] = None,
    arch: Annotated[
        Optional[str], typer.Option("--arch", help="BiT variant, e.g. BiT-M-R50x1 \\[profile: model.arch].", show_default=False)
    ] = None,
    num_classes: Annotated[
        Optional[int],
        typer.Option("--num-classes", help="Classes of the head; must match the checkpoint (.npz: other heads are zeroed) "
                     "\\[profile: model.num_classes].", show_default=False),  # fmt: skip
    ] = None,
    opset: Annotated[
        Optional[int],
        typer.Option("--opset", help="ONNX opset, 11..20; 13 is what ATC on CANN 6.x parses reliably \\[profile: model.opset].",
                     show_default=False),  # fmt: skip
    ] = None,
    image_size: Annotated[
        Optional[int], typer.Option("--image-size", help="Input height = width \\[profile: model.image_size].", show_default=False)
    ] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed for --weights random \\[profile: model.seed].", show_default=False)] = None,
    workdir: WorkdirOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Export the checkpoint to ONNX (input `image` N×3×S×S, output `class`), with WS folded, and verify it."""
    from bitcli.stages.export import onnx_from_checkpoint

    s = settings(profile, workdir=workdir, model__weights=weights, model__arch=arch, model__num_classes=num_classes,
                 model__opset=opset, model__image_size=image_size, model__seed=seed)  # fmt: skip
    lock_workdir(s)
    target = output or s.artifacts.onnx
    dataset = Path(s["dataset.path"])
    ui.info(f"exporting {s['model.weights']} ({s['model.arch']}) → {target}")
    result = onnx_from_checkpoint(
        s["model.weights"], target, arch=s["model.arch"], num_classes=s["model.num_classes"], opset=s["model.opset"],
        image_size=s["model.image_size"], seed=s["model.seed"], force=force, dataset_path=dataset if dataset.exists() else None,
    )  # fmt: skip
    if as_json:
        from bitcli.commands._common import emit_json

        doc = report.export_summary(result)  # one row: its fields also at the top
        emit_json([doc], **doc)
    else:
        report.render_export(result)
