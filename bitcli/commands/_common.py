"""Option types shared by every command, and the flag → config-key bridge."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bitcli.config import Settings, batch_size_problems, resolve_config

ProfileOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--profile",
        "-p",
        help="YAML profile (default: $BIT_PROFILE, else ./bit.yaml when present, else built-in defaults).",
        show_default=False,
    ),
]
WorkdirOpt = Annotated[
    Optional[Path],
    typer.Option("--workdir", "-w", help="Folder for every artefact \\[profile: workdir].", show_default=False),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Redo the work even when the outputs are up to date.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]


def _check_bs(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    problems = batch_size_problems(value.split(",")) if value.strip() else ["it is empty"]
    if problems:
        raise typer.BadParameter("; ".join(problems) + " (give distinct positive integers, e.g. --bs 1,4,8)")
    return value


BsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--bs",
        help="Batch sizes, comma-separated, e.g. 1,4,8 \\[profile: batch_sizes].",
        callback=_check_bs,
        show_default=False,
    ),
]


BackendOpt = Annotated[
    Optional[str],
    typer.Option("--backend", "-b", help="auto | ascend | onnxruntime | openvino | torch \\[profile: backend].",
                 show_default=False),
]
PrecisionOpt = Annotated[
    Optional[str],
    typer.Option("--precision", help="fp32 | int8 | bf16: which model and inference precision a CPU backend runs "
                 "(int8: bit_bs{N}_int8.onnx from bit quantize; bf16: openvino on an AVX512-BF16/AMX CPU) "
                 "\\[profile: precision, env BIT_PRECISION].", show_default=False),
]


def lock_workdir(cfg: Settings, *, create: bool = True) -> None:
    """One bit per workdir: stop at once with "another bit (pid N) is using WORKDIR" (held until the command ends).

    A workdir this call creates is remembered: when the command ends (failed, or with nothing to
    write) and the folder holds nothing but bit's lock, the CLI boundary removes it again
    (:func:`forget_created_workdirs`). A folder that existed before is never removed.
    """
    from bitcli.resources import hold_workdir

    folder = Path(cfg.workdir).resolve()
    top = next((p for p in reversed([folder, *folder.parents]) if not p.exists()), None) if create else None
    hold_workdir(cfg.workdir, create=create)
    if top is not None and folder.is_dir():
        _CREATED.append((folder, top))


_CREATED: list[tuple[Path, Path]] = []  # (workdir, topmost folder this command created for it)
_LOCK_FILES = (".bit.lock", ".bit.lock.pid")


def forget_created_workdirs(*, remove_if_empty: bool) -> list[Path]:
    """End of a command: forget the workdirs it created, removing those left empty when it failed.

    Args:
        remove_if_empty: remove each created folder (and the parents created with it) that holds
            nothing but bit's lock files.

    Returns:
        The folders removed.
    """
    removed: list[Path] = []
    while _CREATED:
        folder, top = _CREATED.pop()
        if not remove_if_empty or not folder.is_dir():
            continue
        try:
            if any(p.name not in _LOCK_FILES for p in folder.iterdir()):
                continue
            for name in _LOCK_FILES:
                (folder / name).unlink(missing_ok=True)
            for path in [folder, *folder.parents]:
                path.rmdir()  # only empty folders go; stops at the first that is not
                removed.append(path)
                if path == top:
                    break
        except OSError:
            pass
    return removed


def overall_status(rows: list[dict[str, Any]]) -> str:
    """One word for a command's rows, in the shared vocabulary: done | up to date | failed | skipped: <reason>."""
    words = [str(r.get("status", "done")) for r in rows]
    if any(w == "failed" or w.startswith("failed") for w in words):
        return "failed"
    if words and all(w == "up to date" for w in words):
        return "up to date"
    if words and all(w.startswith("skipped") for w in words):
        return words[0]
    return "done"


def emit_json(results: list[dict[str, Any]], *, status: str | None = None, **fields: Any) -> None:
    """Print a command's ``--json`` document, the same shape on every command.

    ``{"status": ..., "results": [...], **fields}``: ``results`` holds one entry per row (each with
    ``bs`` where a row is a batch size), ``status`` is the overall word (default: from the rows, see
    :func:`overall_status`). An error is ``{"error", "hint", "exit_code"}`` instead (the CLI boundary).
    """
    import json
    import sys

    from bitcli import ui

    ui.state.json_printed = True
    doc = {"status": status or overall_status(results), "results": results, **fields}
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def settings(profile: Optional[Path], **flags: Any) -> Settings:
    """Resolve the configuration with the given flags (dotted keys as ``model__arch``).

    Args:
        profile: the ``--profile`` value (None: look for one).
        **flags: config keys with ``.`` written as ``__``; None means "flag not given".
            ``batch_sizes`` may be the raw ``--bs`` string.

    Returns:
        The resolved :class:`~bitcli.config.Settings`.
    """
    dotted: dict[str, Any] = {}
    for name, value in flags.items():
        if name == "batch_sizes" and isinstance(value, str):
            value = [int(x) for x in value.split(",")]
        if isinstance(value, Path):
            value = str(value)
        dotted[name.replace("__", ".")] = value
    return resolve_config(profile, dotted)
