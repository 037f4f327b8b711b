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


def lock_workdir(cfg: Settings, *, create: bool = True) -> None:
    """One bit per workdir: stop at once with "another bit (pid N) is using WORKDIR" (held until the command ends)."""
    from bitcli.resources import hold_workdir

    hold_workdir(cfg.workdir, create=create)


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
