"""Console output: messages on stderr, results (tables, JSON) on stdout.

Keeping messages on stderr lets ``bit eval --json > acc.json`` stay clean.
The flags of the root command (``--debug``, ``--verbose``, ``--quiet``) land
in :data:`state`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape


@dataclass
class UiState:
    debug: bool = False
    verbose: bool = False
    quiet: bool = False


state = UiState()
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


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
