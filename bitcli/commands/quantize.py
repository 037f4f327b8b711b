"""`bit quantize`: int8 ONNX per batch size, refused when it costs more accuracy than the profile allows."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import BackendOpt, BsOpt, ForceOpt, JsonOpt, ProfileOpt, WorkdirOpt, lock_workdir, settings


def quantize_cli(
    bs: BsOpt = None,
    method: Annotated[Optional[str], typer.Option("--method", help="Calibration: minmax | entropy | percentile (onnxruntime); mixed | performance (nncf presets) \\[profile: quantize.method].", show_default=False)] = None,
    calib: Annotated[Optional[int], typer.Option("--calib", min=1, help="Calibration images, a seeded random subset of dataset_bin \\[profile: quantize.calib].", show_default=False)] = None,
    holdout: Annotated[Optional[int], typer.Option("--holdout", min=1, help="Held-out images the accuracy guard measures on \\[profile: quantize.holdout].", show_default=False)] = None,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", help="Node name to keep in fp32 (repeat the option for several).", show_default=False)] = None,
    keep_ends: Annotated[Optional[bool], typer.Option("--keep-ends/--no-keep-ends", help="Keep the first and the last Conv in fp32 \\[profile: quantize.keep_ends].", show_default=False)] = None,
    op_types: Annotated[Optional[str], typer.Option("--op-types", help="Quantize only these ONNX op types (both engines), comma-separated, e.g. Conv; '' = every type \\[profile: quantize.op_types].", show_default=False)] = None,
    reduce_range: Annotated[Optional[str], typer.Option("--reduce-range", help="auto (from the CPU's VNNI/AMX) | on | off \\[profile: quantize.reduce_range].", show_default=False)] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", help="auto (nncf when the int8 model runs on --backend openvino, else onnxruntime) | onnxruntime | nncf \\[profile: quantize.engine].", show_default=False)] = None,
    backend: BackendOpt = None,
    min_agreement: Annotated[Optional[float], typer.Option("--min-agreement", help="Guard: least top-1 agreement with fp32 (0..1) \\[profile: quantize.min_agreement].", show_default=False)] = None,
    max_top1_drop: Annotated[Optional[float], typer.Option("--max-top1-drop", help="Guard: largest top-1 loss (0..1; 0.003 = 0.3 pt) \\[profile: quantize.max_top1_drop].", show_default=False)] = None,
    accuracy_control: Annotated[Optional[str], typer.Option("--accuracy-control", help="Engine nncf: auto (when the guard refuses the plain model) | on | off; reverts the costliest layers to fp32 \\[profile: quantize.accuracy_control].", show_default=False)] = None,
    validation: Annotated[Optional[int], typer.Option("--validation", min=1, help="Images accuracy control tunes on, disjoint from calibration and held-out \\[profile: quantize.validation].", show_default=False)] = None,
    accept_loss: Annotated[bool, typer.Option("--accept-loss", help="Write the model even when the guard fails (warns; recorded in the sidecar).")] = False,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the calibration / held-out split \\[profile: quantize.seed].", show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="onnxruntime intra-op threads \\[profile: onnxruntime.threads].", show_default=False)] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Quantize bit_bs{N}_sim.onnx to bit_bs{N}_int8.onnx (QDQ, per-channel), checked on held-out images.

    Calibrates on a seeded random subset of WORKDIR/dataset_bin and measures int8 against fp32 on
    images disjoint from it; the model is written only when top-1 agreement and Δtop-1 stay within
    the profile's thresholds (or with --accept-loss, which warns and is recorded).
    """
    from bitcli.stages.quantize import engine_method, int8_from_onnx, request_from_settings

    cfg = settings(profile, workdir=workdir, batch_sizes=bs, backend=backend, quantize__method=method, quantize__calib=calib,
                   quantize__holdout=holdout, quantize__keep_ends=keep_ends, quantize__op_types=op_types, quantize__reduce_range=reduce_range,
                   quantize__engine=engine, quantize__min_agreement=min_agreement,
                   quantize__max_top1_drop=max_top1_drop, quantize__seed=seed, quantize__accuracy_control=accuracy_control,
                   quantize__validation=validation, onnxruntime__threads=threads)
    lock_workdir(cfg, create=False)
    names = cfg.artifacts
    labels = names.label_txt if names.label_txt.is_file() else None
    if labels is None:
        ui.warn(f"no {names.label_txt}: the guard checks agreement with fp32 only, not Δtop-1")
    docs = []
    for size in cfg.batch_sizes:
        req = request_from_settings(cfg, size, exclude=tuple(exclude or ()), accept_loss=accept_loss)
        ui.info(f"bs {size}: {names.sim_onnx(size)} → {names.int8_onnx(size)} ({req.engine} {engine_method(req.engine, req.method)}, "
                f"{req.calib} calibration images)")
        result = int8_from_onnx(names.sim_onnx(size), names.int8_onnx(size), names.dataset_bin, labels, req,
                                image_size=cfg["model.image_size"], force=force, notify=ui.info)
        for warning in result.warnings:
            ui.warn(f"bs {size}: {warning}; {result.output} is marked accepted_loss in its sidecar")
        docs.append({"bs": size, "status": result.status, "output": str(result.output), **result.meta})
        if not as_json:
            from bitcli.report_compare import render_quantize

            render_quantize(result)
    if as_json:
        report.print_json(docs[0] if len(docs) == 1 else docs)

