"""`bit compare`: how far apart two sources of logits are, over the same samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import JsonOpt, ProfileOpt, WorkdirOpt, settings

SourceOpt = Optional[str]
DirOpt = Optional[Path]
FloatOpt = Optional[float]


def compare_cli(
    ref: Annotated[SourceOpt, typer.Option("--ref", help="Reference backend run now: onnxruntime | openvino | torch | ascend.", show_default=False)] = None,
    test: Annotated[SourceOpt, typer.Option("--test", help="Test backend run now: onnxruntime | openvino | torch | ascend.", show_default=False)] = None,
    ref_dir: Annotated[DirOpt, typer.Option("--ref-dir", help="Reference result folder in ais_bench layout (device sub-folders included).", show_default=False)] = None,
    test_dir: Annotated[DirOpt, typer.Option("--test-dir", help="Test result folder in ais_bench layout, e.g. one brought back from an Ascend host.", show_default=False)] = None,
    ref_precision: Annotated[str, typer.Option("--ref-precision", help="fp32 | int8 | bf16 (int8: bit_bs{N}_int8.onnx on onnxruntime or openvino; bf16: openvino).")] = "fp32",
    test_precision: Annotated[str, typer.Option("--test-precision", help="fp32 | int8 | bf16 (int8: bit_bs{N}_int8.onnx on onnxruntime or openvino; bf16: openvino).")] = "fp32",
    ref_model: Annotated[Optional[str], typer.Option("--ref-model", help="Model file of --ref (default: the standard name for backend, precision and bs).", show_default=False)] = None,
    test_model: Annotated[Optional[str], typer.Option("--test-model", help="Model file of --test (default: the standard name for backend, precision and bs).", show_default=False)] = None,
    bs: Annotated[int, typer.Option("--bs", min=1, help="Batch size of the models run now.")] = 8,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Compare only the first N samples (default: all).", show_default=False)] = None,
    input_dir: Annotated[Optional[Path], typer.Option("--input", "-i", help="Samples for backends run now (default: WORKDIR/dataset_bin).", show_default=False)] = None,
    label_path: Annotated[Optional[Path], typer.Option("--label-path", "-l", help="Labels, for each side's top-1/top-5 (default: WORKDIR/label.txt when a backend runs now).", show_default=False)] = None,
    atol: Annotated[FloatOpt, typer.Option("--atol", help="Exit 1 when any |test − ref| > atol + rtol·|ref|.", show_default=False)] = None,
    rtol: Annotated[FloatOpt, typer.Option("--rtol", help="Relative tolerance (with --atol, as numpy.allclose).", show_default=False)] = None,
    min_agreement: Annotated[FloatOpt, typer.Option("--min-agreement", help="Exit 1 when top-1 agreement (0..1) is below this.", show_default=False)] = None,
    min_cosine: Annotated[FloatOpt, typer.Option("--min-cosine", help="Exit 1 when any sample's cosine is below this; with --per-node, the node threshold (default 0.99).", show_default=False)] = None,
    worst: Annotated[int, typer.Option("--worst", min=1, help="Name the N samples with the lowest cosine.")] = 5,
    per_node: Annotated[bool, typer.Option("--per-node", help="Two ONNX models: compare same-named nodes' outputs on one batch and name the first that diverges.")] = False,
    as_json: JsonOpt = False,
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Compare the logits of two sources over the same samples: agreement, cosine, SQNR, |Δ|, top-1.

    Each side is a backend run now (--ref/--test, over WORKDIR/dataset_bin) or a result folder
    (--ref-dir/--test-dir). Thresholds (--atol, --rtol, --min-agreement, --min-cosine) exit 1 when
    crossed, after the figures are printed, so the command fits in CI.
    """
    from bitcli.errors import ConfigError
    from bitcli.stages import compare as stage

    limits = stage.Thresholds(atol=atol, rtol=rtol, min_agreement=min_agreement,
                              min_cosine=min_cosine if not per_node else None)
    stage.check_limit_options(stage.Thresholds(atol, rtol, min_agreement, min_cosine))
    _check_sides(ref, ref_dir, "ref")
    _check_sides(test, test_dir, "test")
    for flag, value in (("--ref-precision", ref_precision), ("--test-precision", test_precision)):
        if value not in ("fp32", "int8", "bf16"):
            raise ConfigError(f"{flag} '{value}' is not a precision bit compare runs", hint=f"use {flag} fp32, int8 or bf16")
    cfg = settings(profile, workdir=workdir)
    names = cfg.artifacts
    samples = Path(input_dir) if input_dir is not None else names.dataset_bin
    if per_node:
        _per_node(cfg, ref, test, ref_precision, test_precision, ref_model, test_model, bs, samples,
                  limit, min_cosine, as_json)
        return
    sides = {}
    for role, backend, folder, precision, model in (("ref", ref, ref_dir, ref_precision, ref_model),
                                                    ("test", test, test_dir, test_precision, test_model)):
        sides[role] = _load_side(cfg, role, backend, folder, precision, model, bs, samples, limit)
    labels = label_path
    if labels is None and (ref or test) and names.label_txt.is_file() and samples == names.dataset_bin:
        labels = names.label_txt
    result = stage.compare_sets(sides["ref"][1], sides["test"][1], ref_name=sides["ref"][0],
                                test_name=sides["test"][0], thresholds=limits, label_path=labels,
                                limit=limit, worst=worst)
    if as_json:
        report.print_json(result.to_json())
    else:
        from bitcli.report_compare import render_compare

        render_compare(result)
    if result.failures:
        raise typer.Exit(1)


def _check_sides(backend: Optional[str], folder: Optional[Path], role: str) -> None:
    from bitcli.errors import ConfigError

    if (backend is None) == (folder is None):
        what = f"both --{role} and --{role}-dir given" if backend is not None else f"neither --{role} nor --{role}-dir given"
        raise ConfigError(what,
                          hint=f"give one source for the {role} side: --{role} BACKEND (run now) or --{role}-dir FOLDER")
    if backend is not None:
        from bitcli.backends.base import REGISTRY, backend_class

        if backend not in REGISTRY:
            backend_class(backend)  # ConfigError with the nearest name


def side_model(cfg: Any, backend: str, precision: str, model: Optional[str], bs: int) -> str:
    """The model a side runs: --X-model, else what the backend runs at that precision (the int8 model checked
    fresh; a precision the backend does not compute is refused, e.g. int8 on torch, bf16 off openvino)."""
    from bitcli.quant.model import BACKEND_PRECISIONS, precision_model

    if model is not None:
        if precision not in BACKEND_PRECISIONS.get(backend, ("fp32",)):
            precision_model(backend, cfg.workdir, bs, precision)  # raises the one-line refusal
        return model
    return str(precision_model(backend, cfg.workdir, bs, precision, weights=cfg["model.weights"]))


def _load_side(cfg: Any, role: str, backend: Optional[str], folder: Optional[Path], precision: str,
               model: Optional[str], bs: int, samples: Path, limit: Optional[int]) -> tuple[str, dict]:
    from bitcli.stages import compare as stage

    if folder is not None:
        return str(folder), stage.logits_from_dir(folder)
    from bitcli.backends.base import select_backend
    from bitcli.stages.infer import options_from_settings

    cls, _why = select_backend(backend, {"set_env": cfg["ascend.set_env"]})
    chosen = side_model(cfg, backend, precision, model, bs)
    name = f"{backend}" + ("" if precision == "fp32" else f" {precision}")
    ui.info(f"{role}: {name} on {chosen} (bs {bs}) over {samples}")
    import dataclasses

    runner = cls(dataclasses.replace(options_from_settings(cfg, bs, chosen), precision=precision))
    with ui.progress(f"{role} {name}") as tick:
        logits = stage.logits_from_backend(runner, samples, limit=limit, progress=tick)
    return name, logits


def _per_node(cfg: Any, ref: Optional[str], test: Optional[str], ref_precision: str, test_precision: str,
              ref_model: Optional[str], test_model: Optional[str], bs: int, samples: Path,
              limit: Optional[int], threshold: Optional[float], as_json: bool) -> None:
    from bitcli.errors import ConfigError
    from bitcli.stages.compare_nodes import nodes_diverge

    if ref != "onnxruntime" or test != "onnxruntime":
        raise ConfigError("--per-node compares two ONNX models run now",
                          hint="use --ref onnxruntime --test onnxruntime [--test-precision int8 | --test-model B.onnx]")
    ref_path = Path(side_model(cfg, "onnxruntime", ref_precision, ref_model, bs))
    test_path = Path(side_model(cfg, "onnxruntime", test_precision, test_model, bs))
    batch = first_batch(samples, bs, limit, cfg["model.image_size"])
    result = nodes_diverge(ref_path, test_path, batch, threshold=0.99 if threshold is None else threshold)
    if as_json:
        report.print_json(result.to_json())
        return
    from bitcli.report_compare import render_nodes

    render_nodes(result)


def first_batch(samples: Path, bs: int, limit: Optional[int], size: int) -> Any:
    """The first ``bs`` samples of a .bin folder as one float32 batch (padded as ais_bench pads)."""
    from bitcli.errors import DataError
    from bitcli.stages.infer_io import bin_batches, input_files

    files = input_files(samples)[: min(bs, limit or bs)]
    if not files:
        raise DataError(f"no samples in {samples}", hint="run `bit data` first")
    return next(bin_batches(files, bs, (bs, 3, size, size))).data
