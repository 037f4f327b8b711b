"""`bit eval`: top-1..k accuracy of inference outputs against the labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import (BackendOpt, BsOpt, JsonOpt, PrecisionOpt, ProfileOpt, WorkdirOpt, emit_json,
                                     lock_workdir, settings)
from bitcli.commands.infer import check_backend_name


def eval_cli(
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", "-d", help="Result folder of ais_bench or `bit infer`, e.g. result/onnxruntime/result_bs8 (default: WORKDIR/result/{backend}[-{precision}]/result_bs{N} for each batch size).", show_default=False)] = None,
    label_path: Annotated[Optional[Path], typer.Option("--label-path", "-l", help="Labels: line i = class of i.bin, '{stem} {class}' lines, or the seed's per-batch lines (default: WORKDIR/label.txt).", show_default=False)] = None,
    topk: Annotated[int, typer.Option("--topk", min=1, help="Report top-1 … top-k accuracy.")] = 5,
    bs: BsOpt = None,
    backend: BackendOpt = None,
    precision: PrecisionOpt = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Score only the first N labels and their outputs (a `bit infer --limit N` run).", show_default=False)] = None,
    allow_nonfinite: Annotated[bool, typer.Option("--allow-nonfinite", help="Score outputs holding NaN/inf (counted as never predicted) instead of refusing them.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Score again even when the accuracy record is up to date.")] = False,
    as_json: JsonOpt = False,
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Top-1..k accuracy, per-class top-1 and the confusion matrix; saved as RESULT_accuracy.json.

    Without --output-dir: evaluates WORKDIR/result/{backend}/result_bs{N} for each --bs (all must exist), else for each profile batch size whose folder exists. A record made from the same outputs and labels is "up to date" and read back (--force scores again). --json prints only JSON: one object, or {folder: object} for several folders.
    """
    from bitcli.stages.results import eval_folder

    check_backend_name(backend)
    cfg = settings(profile, workdir=workdir, batch_sizes=bs, backend=backend, precision=precision)
    lock_workdir(cfg, create=False)
    names = cfg.artifacts
    by_dir = {} if output_dir is not None else _slot_folders(cfg, explicit_bs=bs is not None)
    folders = [output_dir] if output_dir is not None else list(by_dir)
    labels = label_path or names.label_txt
    if Path(labels).resolve() == names.label_txt.resolve():  # the workdir's labels go with its dataset_bin
        from bitcli.stages.provenance import check_data

        notes = [check_data(f, names.data_manifest, bs=by_dir.get(f)) for f in folders]
        for note in filter(None, notes):
            ui.warn(note)
    results = [eval_folder(f, labels, names.data_manifest, topk=topk, num_classes=cfg["model.num_classes"],
                           allow_nonfinite=allow_nonfinite, limit=limit, force=force) for f in folders]  # fmt: skip
    for result in results:
        bad = result.extra.get("nonfinite_files")
        if bad:
            ui.warn(f"{result.output_dir}: {len(bad)} output files hold NaN/inf (first: {', '.join(bad[:3])}); "
                    "scored with --allow-nonfinite, NaN counted as never predicted")
        if result.extra.get("not_saved"):
            ui.warn(result.extra["not_saved"])
    if as_json:  # one row per folder; a single folder's fields also at the top, as before
        bs_of = {Path(f).resolve(): b for f, b in by_dir.items()}
        docs = [{"bs": bs_of.get(Path(r.output_dir).resolve()), "status": r.status, "output_dir": str(r.output_dir), **r.to_json()}
                for r in results]
        emit_json(docs, **({k: v for k, v in docs[0].items() if k != "status"} if len(docs) == 1 else {}))
        return
    for result in results:
        report.render_accuracy(result)
        if result.status == "up to date":
            ui.info(f"up to date: {result.json_path} was scored from these outputs and labels; nothing to do "
                    "(--force scores again)")
        elif result.json_path is not None:
            ui.info(f"saved {result.json_path}")


def _slot_folders(cfg, *, explicit_bs: bool) -> dict[Path, int]:
    """The result folders of the backend's slot for each batch size (old-layout ones moved first)."""
    from bitcli.backends.base import select_backend
    from bitcli.commands.infer import migrate_results
    from bitcli.errors import DataError
    from bitcli.stages.slots import result_dir_for, slot_for

    names = cfg.artifacts
    backend = cfg["backend"]
    if backend == "auto":  # the backend `bit infer` would pick here, so eval reads what infer wrote
        backend = select_backend(backend, {"set_env": cfg["ascend.set_env"]})[0].name
    migrate_results(cfg)
    slot = slot_for(cfg, backend)
    folders = {result_dir_for(names, b, slot): b for b in cfg.batch_sizes}
    existing = {f: b for f, b in folders.items() if f.is_dir()}
    if not explicit_bs:
        folders = existing
    if not existing:  # nothing at all in this slot: say which slots do hold results
        others = sorted(p.name for p in names.result_root.glob("*") if p.is_dir() and p.name != slot
                        and any(p.glob("result_bs*")))
        raise DataError(
            f"no result folders under {names.result_root / slot} for batch sizes {','.join(map(str, cfg.batch_sizes))}",
            hint=(f"results exist for {', '.join(others)}: pass {_slot_flags(others[0])}" if others else
                  "run `bit infer` first, or pass --output-dir DIR"),
        )
    return folders


def _slot_flags(slot: str) -> str:
    """The flags that select a result slot: onnxruntime-int8 → --backend onnxruntime --precision int8."""
    backend, _, precision = slot.partition("-")
    return f"--backend {backend}" + (f" --precision {precision}" if precision else "")
