"""`bit status`: one table of every artefact in the workdir, what it was made from, when, and whether it is current."""

from __future__ import annotations

from bitcli import report, ui
from bitcli.commands._common import JsonOpt, ProfileOpt, WorkdirOpt, settings


def status_cli(
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show every artefact of the workdir: what it is, what it was made from, when, and whether it is current (why not).

    Read-only: writes nothing, takes no lock, and does not create the workdir. Exits 0 whatever it finds
    (an empty or missing workdir included); `bit all --dry-run` says what would be redone.
    """
    from rich.markup import escape

    from bitcli.stages.status import workdir_status

    cfg = settings(profile, workdir=workdir)
    result = workdir_status(cfg.workdir)
    if as_json:
        report.print_json(result.to_json())
        return
    if not result.exists:
        ui.out.print(f"{cfg.workdir} does not exist: nothing made yet (start with `bit data` or `bit all`)", markup=False)
        return
    if not result.rows:
        ui.out.print(f"{cfg.workdir} holds no bit artefacts yet (start with `bit data` or `bit all`)", markup=False)
        return
    table = report.make_table(f"bit status — {cfg.workdir}", ["path", "artefact", "made from", "made UTC", "state"])
    table.columns[0].overflow = table.columns[2].overflow = "fold"  # a path is never cut
    styles = {"current": "green", "stale": "red", "unknown": "yellow"}
    for row in result.rows:
        table.add_row(escape(row.to_json(result.workdir)["path"]), escape(row.artifact), escape(row.made_from),
                      (row.made_at or "—")[5:16].replace("T", " "), f"[{styles[row.state]}]{row.state}[/]")
    ui.out.print(table)
    for row in result.rows:  # the reasons under the table: a long one wraps once, not in a narrow cell
        if row.reason:
            ui.out.print(f"{row.to_json(result.workdir)['path']}: {row.state}: {row.reason}", markup=False)
    stale = sum(r.current is False for r in result.rows)
    ui.out.print(f"{len(result.rows)} artefacts, {stale} stale" + (" (`bit all` redoes them; `bit all --dry-run` shows the plan)"
                                                                   if stale else ""), markup=False)
