"""Every rich table and the JSON beside it: the only module that renders results.

Stages return dataclasses; commands pass them here. Whatever a table shows
is also available as JSON (``--json`` or a file under the workdir).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from rich.table import Table

from bitcli import ui

# The seed's published ais_bench throughput on a 310P3 (samples/s), top-1 97.62%.
SEED_310P3_THROUGHPUT: dict[int, float] = {1: 537.29, 4: 1388.11, 8: 1707.27, 16: 1758.00, 32: 1655.13, 64: 1619.81}
SEED_310P3_TOP1 = 0.9762


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout and nothing else."""
    print(json.dumps(data, indent=2))


def make_table(title: str, columns: Iterable[str]) -> Table:
    """A table in the house style: title, header, right-aligned numbers are the caller's job."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def render_settings(settings: Any) -> None:
    """``bit profile show``: each effective value and where it came from."""
    where = f"profile: {settings.profile}" if settings.profile else "profile: none (built-in defaults)"
    table = make_table(f"Effective settings — {where}", ["key", "value", "source"])
    for key, value in settings.values.items():
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        table.add_row(key, shown, settings.sources[key])
    ui.out.print(table)
