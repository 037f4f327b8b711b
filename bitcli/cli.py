"""The `bit` command line: root options, one registration block, one error boundary.

Commands are registered below in pipeline order (typer keeps creation order,
so ``bit --help`` reads as the pipeline). Every command goes through
:func:`boundary`: a :class:`~bitcli.errors.BitError` becomes one red line and
exit 1; usage errors keep typer's exit 2; anything else is a bug, shown with
its traceback only under ``--debug`` / ``BIT_DEBUG=1``.
"""

from __future__ import annotations

import functools
import os
from typing import Annotated, Any, Callable

import typer

from bitcli import __version__, ui
from bitcli.errors import BitError

app = typer.Typer(
    name="bit",
    help="BiT (ResNetV2-R50x1) CIFAR-10: checkpoint → ONNX → Ascend .om → inference → top-1..5 and throughput.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"bit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", envvar="BIT_DEBUG", help="Show tracebacks of unexpected errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show external command lines and details.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors, warnings and results.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """BiT CIFAR-10 on Ascend NPUs (onnxruntime or PyTorch elsewhere)."""
    ui.state.debug = debug
    ui.state.verbose = verbose
    ui.state.quiet = quiet


# What commands raise on purpose and typer turns into its own exit codes: Exit(n), Abort (exit 1) and
# BadParameter (a usage error, exit 2). Only typer's public names: click is not a dependency (typer >= 0.26
# carries its own copy), and these names are the same objects in older typers that still use click.
_TYPER_EXITS = (typer.Exit, typer.Abort, typer.BadParameter)


def boundary(command: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command: known errors → one line + exit 1; bugs → hint (or traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except _TYPER_EXITS:
            raise
        except BitError as exc:
            ui.error(exc.message, exc.hint)
            raise typer.Exit(1) from None
        except BrokenPipeError:  # `bit eval --json | head`: the reader is gone, nothing to report
            _silence_stdout()
            raise typer.Exit(1) from None
        except KeyboardInterrupt as exc:
            signame = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
            ui.error(f"interrupted ({signame}); no half-written file was published",
                     "run the same command again: bit data and bit infer continue from the files they finished")
            raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None
        except OSError as exc:  # a fault of the file system that no stage turned into a BitError
            from bitcli.errors import os_error

            known = os_error(exc)
            ui.error(known.message, known.hint)
            raise typer.Exit(1) from None
        except Exception as exc:  # a bug: say so, and how to see it
            if ui.state.debug or os.environ.get("BIT_DEBUG", "") not in ("", "0"):
                raise
            ui.error(f"internal error: {type(exc).__name__}: {exc}", "rerun with --debug (or BIT_DEBUG=1) for the traceback")
            raise typer.Exit(1) from None
        finally:
            from bitcli.resources import release_held

            release_held()

    return wrapper


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so it unwinds exactly like Ctrl-C (temp files removed)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# --------------------------------------------------------------------------- registration, pipeline order
from bitcli.commands.data import data_cli  # noqa: E402
from bitcli.commands.export import export_cli  # noqa: E402
from bitcli.commands.simplify import simplify_cli  # noqa: E402
from bitcli.commands.atc import atc_cli  # noqa: E402
from bitcli.commands.infer import infer_cli  # noqa: E402
from bitcli.commands.evaluate import eval_cli  # noqa: E402
from bitcli.commands.bench import bench_cli  # noqa: E402
from bitcli.commands.run_all import all_cli  # noqa: E402
from bitcli.commands.status import status_cli  # noqa: E402
from bitcli.commands.profile import init_cli, profile_app, show_cli  # noqa: E402
from bitcli.commands.doctor import doctor_cli  # noqa: E402

app.command("data")(boundary(data_cli))
app.command("export")(boundary(export_cli))
app.command("simplify")(boundary(simplify_cli))
app.command("atc")(boundary(atc_cli))
app.command("infer")(boundary(infer_cli))
app.command("eval")(boundary(eval_cli))
app.command("bench")(boundary(bench_cli))
app.command("all")(boundary(all_cli))
app.command("status")(boundary(status_cli))
profile_app.command("init")(boundary(init_cli))
profile_app.command("show")(boundary(show_cli))
app.add_typer(profile_app, name="profile")
app.command("doctor")(boundary(doctor_cli))


def main() -> None:
    """Console-script entry point (``bit``)."""
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app(prog_name="bit")
    except BrokenPipeError:
        _silence_stdout()
        raise SystemExit(1) from None
