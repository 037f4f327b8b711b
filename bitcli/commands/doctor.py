"""`bit doctor`: check this host for every stage; exit 1 when the chosen backend cannot run."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bitcli import report
from bitcli.commands._common import BackendOpt, JsonOpt, ProfileOpt, WorkdirOpt, emit_json, settings


def doctor_cli(
    backend: BackendOpt = None,
    as_json: JsonOpt = False,
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Show Python packages, CANN/atc, npu-smi chips, ais_bench and disk space, and what each missing part blocks."""
    from bitcli.stages.doctor import check_host

    cfg = settings(profile, workdir=workdir, backend=backend)
    result = check_host(backend=cfg["backend"], set_env=cfg["ascend.set_env"], workdir=cfg.workdir,
                        devices=tuple(cfg["ascend.devices"]))
    if as_json:  # results: one row per check; "checks" stays as their old name for scripts that read it
        doc = report.doctor_summary(result)
        emit_json(doc["checks"], status="done" if result.backend_ok else "failed", **doc)
    else:
        report.render_doctor(result)
    if not result.backend_ok:
        raise typer.Exit(1)
