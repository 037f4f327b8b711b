"""Console output: messages on stderr, results (tables, JSON) on stdout.

Keeping messages on stderr lets ``bit eval --json > acc.json`` stay clean.
The global flags (``--debug``, ``--verbose``, ``--quiet``, given before or
after the command) and the command's ``--json`` land in :data:`state`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from rich.console import Console
from rich.markup import escape


@dataclass
class UiState:
    debug: bool = False
    verbose: bool = False
    quiet: bool = False
    json: bool = False  # the command was given --json: errors also go to stdout as JSON
    json_printed: bool = False  # its result document is out already: stdout keeps that one object


state = UiState()
# emoji=False: a path holding ":x:" must print as typed, not as an emoji (markup is escaped per message)
err = Console(stderr=True, highlight=False, emoji=False)
out = Console(highlight=False, emoji=False)


def info(message: str) -> None:
    """One progress/status line on stderr (hidden by --quiet)."""
    if not state.quiet:
        err.print(escape(message))


def detail(message: str) -> None:
    """A line shown only with --verbose (e.g. the exact external command)."""
    if state.verbose and not state.quiet:
        err.print(f"[dim]{escape(message)}[/dim]")


def warn(message: str) -> None:
    """A warning on stderr; shown even with --quiet."""
    err.print(f"[yellow]warning:[/yellow] {escape(message)}")


def error(message: str, hint: str | None = None) -> None:
    """The one red error line (and its hint) the error boundary prints."""
    text = f"[bold red]error:[/bold red] {escape(message)}"
    if hint:
        text += f" [dim]— {escape(hint)}[/dim]"
    err.print(text, soft_wrap=True)


def error_json(message: str, hint: str | None, exit_code: int) -> None:
    """An error under ``--json``: one JSON object ``{"error", "hint", "exit_code"}`` on stdout."""
    import json
    import sys

    sys.stdout.write(json.dumps({"error": message, "hint": hint, "exit_code": exit_code}, indent=2) + "\n")
    sys.stdout.flush()


def fail(message: str, hint: str | None, exit_code: int) -> None:
    """Report an error the way every command does: the red line on stderr, and JSON on stdout under --json."""
    error(message, hint)
    if state.json and not state.json_printed:
        error_json(message, hint, exit_code)


@contextmanager
def progress(label: str, *, unit: str = "img", show: bool = True) -> Iterator[Callable[[int, Optional[int]], None]]:
    """A transient progress bar on stderr with its rate; yields ``tick(done, total)``.

    Silent under --quiet or when stderr is not a terminal (logs and pipes get
    the command's summary line only).

    Args:
        label: text before the bar.
        unit: ``img`` (shows img/s) or ``B`` (shows MB/s).
        show: False to yield a no-op tick.
    """
    if not show or state.quiet or not err.is_terminal:
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.text import Text

    class _Rate(TextColumn):
        def render(self, task: Any) -> Any:  # average over the run so far
            speed = task.completed / task.elapsed if task.elapsed else 0.0
            return Text(f"{speed:,.1f} img/s" if unit == "img" else f"{speed / 1e6:,.1f} MB/s")

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(""),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True)
    task = bar.add_task(label, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)
