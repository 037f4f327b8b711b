"""`bit profile init|show`: write the commented default profile, show effective values."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bitcli import report, ui
from bitcli.artifacts import atomic_write_text
from bitcli.commands._common import JsonOpt, ProfileOpt, emit_json, settings
from bitcli.config import PROFILE_NAME, default_profile_text
from bitcli.errors import ConfigError

profile_app = typer.Typer(help="Write the commented default profile, or show the effective settings.", no_args_is_help=True)


def init_cli(
    path: Annotated[Optional[Path], typer.Argument(help=f"Where to write it (default ./{PROFILE_NAME}).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the packaged default profile, every key commented with its type and meaning."""
    target = path or Path(PROFILE_NAME)
    if target.is_dir():
        target = target / PROFILE_NAME
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists", hint="pass --force to overwrite it, or give another path")
    if not target.parent.exists():
        raise ConfigError(f"folder {target.parent} does not exist", hint="create it first or choose another path")
    try:
        atomic_write_text(target, default_profile_text())
    except OSError as exc:
        from bitcli.errors import os_error

        raise os_error(exc, target) from None  # the file system refused: a failed run (1), not usage
    if as_json:
        emit_json([{"path": str(target)}], status="done")
        return
    ui.info(f"wrote {target}; edit it, then run commands with -p {target} (or keep it as ./{PROFILE_NAME})")


def show_cli(profile: ProfileOpt = None, as_json: JsonOpt = False) -> None:
    """Print every effective setting and where it came from (default, profile, env, flag)."""
    resolved = settings(profile)
    if as_json:
        rows = [{"key": key, "value": list(value) if isinstance(value, tuple) else value,
                 "source": resolved.sources[key]} for key, value in resolved.values.items()]
        emit_json(rows, status="done", profile=str(resolved.profile) if resolved.profile else None,
                  values=resolved.nested(), sources=dict(resolved.sources))
    else:
        report.render_settings(resolved)
