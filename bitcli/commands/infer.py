"""`bit infer`: run the preprocessed samples through a backend, writing ais_bench's outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import (BackendOpt, BsOpt, JsonOpt, PrecisionOpt, ProfileOpt, WorkdirOpt, emit_json,
                                     lock_workdir, settings)

ProviderOpt = Annotated[
    Optional[str],
    typer.Option("--provider", help="onnxruntime provider: auto | cpu | cuda | a provider name \\[profile: onnxruntime.provider].", show_default=False),
]
ThreadsOpt = Annotated[
    Optional[int],
    typer.Option("--threads", min=1, help="Intra-op threads for onnxruntime/torch (default: all usable cores) \\[profile: onnxruntime.threads].", show_default=False),
]


ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", "-m", help="Model file: .onnx, .om, or for torch a checkpoint (default: the standard name for the backend and bs in --model-dir).", show_default=False),
]
ModelDirOpt = Annotated[
    Optional[Path],
    typer.Option("--model-dir", help="Folder holding the models by their standard names: bit_bs{N}_sim.onnx or bit.onnx, bit_bs{N}.om (default: the workdir).", show_default=False),
]
WeightsOpt = Annotated[
    Optional[str],
    typer.Option("--weights", help="Checkpoint for the torch backend (bit.pth, .npz) or 'random' \\[profile: model.weights].", show_default=False),
]


def infer_cli(
    bs: BsOpt = None,
    input_dir: Annotated[Optional[Path], typer.Option("--input", "-i", help="Folder of per-sample .bin/.npy files (default: WORKDIR/dataset_bin).", show_default=False)] = None,
    dataset_path: Annotated[Optional[Path], typer.Option("--dataset-path", help="Preprocess CIFAR-10 test images on the fly instead of reading --input (not for ascend).", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Result root, like ais_bench --output; writes OUTPUT/result_bs{N}/ (default: WORKDIR/result/{backend}[-{precision}]).", show_default=False)] = None,
    backend: BackendOpt = None,
    precision: PrecisionOpt = None,
    model: ModelOpt = None,
    model_dir: ModelDirOpt = None,
    weights: WeightsOpt = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Use only the first N samples.", show_default=False)] = None,
    provider: ProviderOpt = None,
    threads: ThreadsOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Compute again even when the result is up to date, replacing its folder.")] = False,
    as_json: JsonOpt = False,
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run inference as ais_bench does: {stem}_0.bin per sample plus result_bs{N}_summary.json.

    Runs once per batch size: --bs, else every batch size of the profile. Results are kept per backend and precision (WORKDIR/result/onnxruntime/result_bs8); a result made from the same model, data and settings is "up to date" and not computed again (--force redoes it).
    """
    from bitcli.backends.base import select_backend
    from bitcli.errors import ConfigError, DataError
    from bitcli.quant.model import precision_model
    from bitcli.stages import infer as stage
    from bitcli.stages.results import infer_bs
    from bitcli.stages.slots import slot_for

    if input_dir is not None and dataset_path is not None:
        raise ConfigError("--input and --dataset-path both given", hint="read either the .bin folder or the data set, not both")
    check_backend_name(backend)
    check_model_flags(model, model_dir)
    cfg = settings(profile, workdir=workdir, batch_sizes=bs, backend=backend, precision=precision, model__weights=weights,
                   onnxruntime__provider=provider, onnxruntime__threads=threads)
    from bitcli.ascend.om_batch import check_one_om_per_bs

    check_one_om_per_bs(model, cfg.batch_sizes)
    lock_workdir(cfg)
    cls, why = select_backend(cfg["backend"], {"set_env": cfg["ascend.set_env"]})
    ui.info(why)
    names = cfg.artifacts
    root = output or names.result_root / slot_for(cfg, cls.name)
    if output is None:
        migrate_results(cfg)
    broken: list[str] = []
    rows: list[dict] = []
    for size in cfg.batch_sizes:
        chosen = model or precision_model(cls.name, model_dir or cfg.workdir, size, cfg["precision"],
                                          weights=cfg["model.weights"])
        if model is None and model_dir is None:
            from bitcli.stages.plan import stale_model_warning

            stale = stale_model_warning(cfg, cls.name, size)
            if stale:
                ui.warn(stale)
        source = dataset_path or input_dir or names.dataset_bin
        ui.info(f"bs {size}: {source} → {root / f'result_bs{size}'} (model {chosen})")
        with ui.progress(f"infer bs{size}") as tick:
            result = infer_bs(cfg, cls, size, chosen, root, input_dir=None if dataset_path else source,
                              dataset_path=dataset_path, limit=limit, force=force, progress=tick, announce=ui.info)
        rows.append(_json_row(result)) if as_json else report.render_infer(result)
        if result.resumed:
            ui.info(f"bs {size}: {result.resumed} outputs came from the interrupted run, {result.samples - result.resumed} computed now")
        if result.nonfinite:
            broken.append(f"bs {size}: {len(result.nonfinite)} of {result.samples} outputs hold NaN/inf "
                          f"(first: {', '.join(result.nonfinite[:3])})")
    if as_json:
        emit_json(rows)
    if broken:
        raise DataError("non-finite model outputs: " + "; ".join(broken),
                        hint="the model or its inputs are damaged: re-export the checkpoint (`bit export --force`) "
                        "and check the inputs (`bit data --verify`)")


def check_model_flags(model: Optional[str], model_dir: Optional[Path]) -> None:
    """--model is one file, --model-dir a folder; not both."""
    from bitcli.errors import ConfigError

    if model is not None and model_dir is not None:
        raise ConfigError("--model and --model-dir both given", hint="pass one model file (--model) or one folder of models (--model-dir)")
    if model is not None and Path(model).is_dir():
        raise ConfigError(f"--model {model} is a folder, not a model file",
                          hint=f"pass the .onnx/.om/.pth file itself, or the folder as --model-dir {model}")
    if model_dir is not None and not Path(model_dir).is_dir():
        raise ConfigError(f"--model-dir {model_dir} is not a folder", hint="pass the folder that holds bit_bs{N}_sim.onnx / bit_bs{N}.om")


def migrate_results(cfg) -> None:
    """Move old-layout result folders of the workdir into their backend's slot, once, saying so."""
    from bitcli.stages.slots import migrate_legacy

    for line in migrate_legacy(cfg.artifacts):
        ui.info(line)


def check_backend_name(name: Optional[str]) -> None:
    """An unknown --backend gets the registry's error with the nearest name, before any work."""
    from bitcli.backends.base import REGISTRY, backend_class

    if name is not None and name != "auto" and name not in REGISTRY:
        backend_class(name)  # raises ConfigError: unknown backend 'x'; did you mean ...


def _json_row(result) -> dict:
    """One batch size of ``bit infer --json`` (what the table shows); failed when an output holds NaN/inf."""
    return {"bs": result.bs, "status": "failed" if result.nonfinite else "done", "backend": result.backend,
            "device": result.device, "model": str(result.model), "samples": result.samples, "runs": result.runs,
            "padded": result.padded, "mean_compute_ms": result.mean_compute_ms, "throughput": result.throughput,
            "images_per_s": result.images_per_s if result.wall_s else None, "wall_s": result.wall_s,
            "resumed": result.resumed, "nonfinite": len(result.nonfinite), "result_dir": str(result.result_dir),
            "summary": str(result.summary_path)}
