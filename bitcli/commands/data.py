"""`bit data`: CIFAR-10 test set → WORKDIR/dataset_bin/{i}.bin + WORKDIR/label.txt (the seed's bit_preprocess.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import ForceOpt, JsonOpt, ProfileOpt, WorkdirOpt, lock_workdir, settings


def data_cli(
    dataset_path: Annotated[Optional[Path], typer.Option("--dataset-path", help="Folder holding cifar-10-batches-py/, that folder, or cifar-10-python.tar.gz \\[profile: dataset.path].", show_default=False)] = None,
    save_path: Annotated[Optional[Path], typer.Option("--save-path", help="Folder for the {i}.bin tensors (default: WORKDIR/dataset_bin).", show_default=False)] = None,
    label_path: Annotated[Optional[Path], typer.Option("--label-path", help="Label file, line i = class of {i}.bin (default: WORKDIR/label.txt).", show_default=False)] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Use only the first N test images \\[profile: dataset.limit].", show_default=False)] = None,
    download: Annotated[bool, typer.Option("--download", help="Fetch cifar-10-python.tar.gz (md5-checked, resumable) into the dataset path when missing \\[profile: dataset.download].")] = False,
    synthetic: Annotated[Optional[int], typer.Option("--synthetic", help="Write N deterministic synthetic images in CIFAR layout (into --dataset-path, else WORKDIR/synthetic-cifar10) and convert those; demo only \\[profile: dataset.synthetic].", show_default=False)] = None,
    force: ForceOpt = False,
    verify: Annotated[bool, typer.Option("--verify", help="Re-read every .bin and the label file and compare with the digests recorded when they were written; change nothing.")] = False,
    as_json: JsonOpt = False,
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Turn the CIFAR-10 test set into float32 3×128×128 .bin files (bit-exact to the seed) and a label file."""
    from bitcli.errors import UsageError
    from bitcli.datasets import cifar
    from bitcli.stages import data as stage

    for name, value in (("--limit", limit), ("--synthetic", synthetic)):
        if value is not None and value <= 0:
            raise UsageError(f"{name} must be a positive number of images, got {value}", hint=f"e.g. {name} 100")
    if synthetic is not None and download:
        raise UsageError("--synthetic and --download both given", hint="--synthetic makes its own data; drop one of them")
    cfg = settings(profile, workdir=workdir, dataset__path=dataset_path, dataset__limit=limit,
                   dataset__download=True if download else None, dataset__synthetic=synthetic)
    lock_workdir(cfg)
    if cfg["dataset.synthetic"]:  # images, their pickle and its copy in memory at once
        from bitcli.resources import check_memory

        check_memory(cfg["dataset.synthetic"] * 3072 * 3, f"--synthetic {cfg['dataset.synthetic']}",
                     hint="ask for fewer synthetic images")
    names = cfg.artifacts
    save = save_path or names.dataset_bin
    labels = label_path or names.label_txt
    if verify:
        return _verify(save, labels)
    if label_path is None:
        _make_folder(names.workdir)
    stage.check_outputs(save, labels, cfg["dataset.limit"])
    downloading = cfg["dataset.download"] and not cfg["dataset.synthetic"]
    with ui.progress("download", unit="B", show=downloading) as tick:
        source, note = stage.dataset_source(cfg, dataset_path, download_progress=tick)
    if note:
        (ui.warn if note.startswith("SYNTHETIC") else ui.info)(note)
    cifar.locate(source)  # a missing set fails here, before any output line
    ui.info(f"{source} → {save}/{{i}}.bin + {labels}")
    with ui.progress("data", unit="img") as tick:
        result = stage.bins_from_cifar(source, save, labels, image_size=cfg["model.image_size"],
                                       limit=cfg["dataset.limit"], force=force, progress=tick)
    if as_json:
        from bitcli.commands._common import emit_json

        doc = report.data_summary(result)  # one row: its fields also at the top
        emit_json([doc], **doc)
    else:
        report.render_data(result)


def _verify(save: Path, labels: Path) -> None:
    """`bit data --verify`: one line when everything matches, else the first bad files and exit 1."""
    from bitcli.errors import DataError
    from bitcli.stages.data_files import verify_folder

    found = verify_folder(save, labels)
    if found.ok and ui.state.json:
        from bitcli.commands._common import emit_json

        emit_json([{"checked": found.checked, "save_path": str(save), "label_path": str(labels),
                    "labels_ok": found.labels_ok}], status="done")
    elif found.ok:
        extra = "" if found.labels_ok is None else f" and {labels}"
        ui.info(f"verified {found.checked} files in {save}{extra}: all match what bit data wrote")
        return
    problems = []
    if found.bad:
        problems.append(f"{len(found.bad)} file(s) changed since written (first: {', '.join(found.bad[:3])})")
    if found.missing:
        problems.append(f"{len(found.missing)} file(s) missing (first: {', '.join(found.missing[:3])})")
    if found.labels_ok is False:
        problems.append(f"{labels} changed since written")
    raise DataError(f"{save}: " + "; ".join(problems), hint="rewrite the folder with `bit data --force`")


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from bitcli.errors import os_error

        raise os_error(exc, folder, "--workdir") from None
