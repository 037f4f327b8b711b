"""`bit eval`: top-1..k accuracy of inference outputs against the labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import BsOpt, JsonOpt, ProfileOpt, WorkdirOpt, emit_json, lock_workdir, settings


def eval_cli(
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", "-d", help="Result folder of ais_bench or `bit infer`, e.g. result/result_bs8 (default: WORKDIR/result/result_bs{N} for each batch size).", show_default=False)] = None,
    label_path: Annotated[Optional[Path], typer.Option("--label-path", "-l", help="Labels: line i = class of i.bin, '{stem} {class}' lines, or the seed's per-batch lines (default: WORKDIR/label.txt).", show_default=False)] = None,
    topk: Annotated[int, typer.Option("--topk", min=1, help="Report top-1 … top-k accuracy.")] = 5,
    bs: BsOpt = None,
    allow_nonfinite: Annotated[bool, typer.Option("--allow-nonfinite", help="Score outputs holding NaN/inf (counted as never predicted) instead of refusing them.")] = False,
    as_json: JsonOpt = False,
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Top-1..k accuracy, per-class top-1 and the confusion matrix; saved as RESULT_accuracy.json.

    Without --output-dir: evaluates WORKDIR/result/result_bs{N} for each --bs
    (all must exist), else for each profile batch size whose folder exists.
    --json prints only JSON: one object, or {folder: object} for several folders.
    """
    from bitcli.errors import DataError
    from bitcli.stages.evaluate import accuracy_from_outputs

    cfg = settings(profile, workdir=workdir, batch_sizes=bs)
    lock_workdir(cfg, create=False)
    names = cfg.artifacts
    if output_dir is not None:
        folders = [output_dir]
    else:
        folders = [names.result_dir(b) for b in cfg.batch_sizes]
        if bs is None:
            folders = [f for f in folders if f.is_dir()]
        if not folders:
            raise DataError(
                f"no result folders under {names.result_root} for batch sizes {','.join(map(str, cfg.batch_sizes))}",
                hint="run `bit infer` first, or pass --output-dir DIR",
            )
    labels = label_path or names.label_txt
    if Path(labels).resolve() == names.label_txt.resolve():  # the workdir's labels go with its dataset_bin
        from bitcli.stages.provenance import check_data

        by_dir = {names.result_dir(b).resolve(): b for b in cfg.batch_sizes}
        notes = [check_data(f, names.data_manifest, bs=by_dir.get(Path(f).resolve())) for f in folders]
        for note in filter(None, notes):
            ui.warn(note)
    results = [accuracy_from_outputs(f, labels, topk=topk, num_classes=cfg["model.num_classes"],
                                     allow_nonfinite=allow_nonfinite) for f in folders]  # fmt: skip
    for result in results:
        bad = result.extra.get("nonfinite_files")
        if bad:
            ui.warn(f"{result.output_dir}: {len(bad)} output files hold NaN/inf (first: {', '.join(bad[:3])}); "
                    "scored with --allow-nonfinite, NaN counted as never predicted")
        if result.extra.get("not_saved"):
            ui.warn(result.extra["not_saved"])
    if as_json:  # one row per folder; a single folder's fields also at the top, as before
        by_dir = {names.result_dir(b).resolve(): b for b in cfg.batch_sizes}
        docs = [{"bs": by_dir.get(Path(r.output_dir).resolve()), "status": "done", "output_dir": str(r.output_dir),
                 **r.to_json()} for r in results]
        emit_json(docs, **({k: v for k, v in docs[0].items() if k != "status"} if len(docs) == 1 else {}))
        return
    for result in results:
        report.render_accuracy(result)
        if result.json_path is not None:
            ui.info(f"saved {result.json_path}")
