"""The `bit` command line: root options, one registration block, one error boundary.

Commands are registered below in pipeline order (typer keeps creation order,
so ``bit --help`` reads as the pipeline). Every command goes through
:func:`boundary`, which is the one place that maps outcomes to exit codes
(:mod:`bitcli.errors` lists them): a :class:`~bitcli.errors.BitError` becomes
one red line and its class's ``exit_code`` (1 failed run, 2 usage); typer's
parse errors keep exit 2; Ctrl-C is 130; anything else is a bug, shown with
its traceback only under ``--debug`` / ``BIT_DEBUG=1``.

:func:`boundary` also gives every command the global options ``-q``, ``-v``
and ``--debug`` (so they work after the subcommand as well as before it), and
under ``--json`` it prints an error as ``{"error", "hint", "exit_code"}`` on
stdout besides the red line on stderr; :class:`BitGroup` does the same for
typer's own parse errors. A command registered here gets all of it for free.
"""

from __future__ import annotations

import functools
import inspect
import os
from contextlib import contextmanager
from typing import Annotated, Any, Callable, Iterator

import typer
from typer.core import TyperGroup

from bitcli import __version__, ui
from bitcli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED, BitError

# typer's parse errors (unknown option, bad int, BadParameter from a callback) are click's ClickException;
# found through a public typer name because click itself is not a dependency (typer >= 0.26 carries a copy).
_CLICK_ERROR: type = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class BitGroup(TyperGroup):
    """The root group: under ``--json`` a parse error is also printed as the JSON error object on stdout."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        import sys

        self._bit_args = list(sys.argv[1:] if args is None else args)
        return super().main(args, *rest, **kwargs)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with self._json_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with self._json_usage_errors():
            return super().invoke(ctx)

    @contextmanager
    def _json_usage_errors(self) -> Iterator[None]:
        try:
            yield
        except _CLICK_ERROR as exc:
            given = getattr(self, "_bit_args", [])
            if "--json" in (given[: given.index("--")] if "--" in given else given):
                where = getattr(getattr(exc, "ctx", None), "command_path", "bit")
                ui.error_json(exc.format_message(), f"see `{where} --help`", exc.exit_code)
            raise  # typer prints its usage message on stderr and exits with exc.exit_code (2)


app = typer.Typer(
    name="bit",
    cls=BitGroup,
    help="BiT (ResNetV2-R50x1) CIFAR-10: checkpoint → ONNX → Ascend .om → inference → top-1..5 and throughput.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"bit {__version__}")
        raise typer.Exit()


DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors (also BIT_DEBUG=1).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show external command lines and details.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors, warnings and results.")]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", envvar="BIT_DEBUG", help="Show tracebacks of unexpected errors.")] = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """BiT CIFAR-10 on Ascend NPUs (onnxruntime or PyTorch elsewhere).

    -q, -v and --debug work before or after the command (bit -v data … or bit data … -v).
    """
    ui.state.debug = debug
    ui.state.verbose = verbose
    ui.state.quiet = quiet
    ui.state.json = False


# What commands raise on purpose and typer turns into its own exit codes: Exit(n), Abort (exit 1) and
# BadParameter (a usage error, exit 2). Only typer's public names: click is not a dependency (typer >= 0.26
# carries its own copy), and these names are the same objects in older typers that still use click.
_TYPER_EXITS = (typer.Exit, typer.Abort, typer.BadParameter)

# The global options every command also takes after its name; a command that has its own (bit all -q) keeps it.
_GLOBAL_PARAMS = [
    inspect.Parameter("debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DebugOpt),
    inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=VerboseOpt),
    inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=QuietOpt),
]


def _with_global_options(command: Callable[..., Any], wrapper: Callable[..., Any]) -> tuple[set[str], str | None]:
    """Give ``wrapper`` the command's signature plus the global options it lacks.

    Returns:
        The names of the parameters added, and the name of the command's ``--json`` parameter (or None).
    """
    signature = inspect.signature(command, eval_str=True)
    added = [p for p in _GLOBAL_PARAMS if p.name not in signature.parameters]
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *added])  # type: ignore[attr-defined]
    json_param = next((name for name, param in signature.parameters.items()
                       if any(getattr(m, "default", None) == "--json" or "--json" in (getattr(m, "param_decls", None) or ())
                              for m in getattr(param.annotation, "__metadata__", ()))), None)
    return {p.name for p in added}, json_param


def _take_global_options(kwargs: dict[str, Any], added: set[str], json_param: str | None) -> None:
    """Apply the global options given after the command (or-ed with the root's) and the command's --json."""
    for name in ("debug", "verbose", "quiet"):
        value = kwargs.pop(name) if name in added else kwargs.get(name, False)
        if value:
            setattr(ui.state, name, True)
    ui.state.json = bool(json_param and kwargs.get(json_param, False))
    ui.state.json_printed = False


def boundary(command: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
    """Wrap a command: global options, exit codes, errors as one line (and JSON under --json).

    Args:
        command: the command function (``data_cli``).
        name: the command as typed (``"profile init"``); default: the function's name without ``_cli``.
            Its error lines are passed through :func:`bitcli.hints.adapt`, so a hint names only
            flags this command takes.
    """
    from bitcli import hints

    name = name or command.__name__.removesuffix("_cli")

    def fail(message: str, hint: str | None, code: int) -> None:
        ui.fail(hints.adapt(message, name) or message, hints.adapt(hint, name), code)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _take_global_options(kwargs, added, json_param)
        try:
            return command(*args, **kwargs)
        except _TYPER_EXITS:
            raise
        except BitError as exc:
            fail(exc.message, exc.hint, exc.exit_code)
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:  # `bit eval --json | head`: the reader is gone, nothing to report
            _silence_stdout()
            raise typer.Exit(EXIT_FAILED) from None
        except KeyboardInterrupt as exc:
            code = EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
            signame = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
            fail(f"interrupted ({signame}); no half-written file was published",
                    "run the same command again: bit data and bit infer continue from the files they finished", code)
            raise typer.Exit(code) from None
        except OSError as exc:  # a fault of the file system that no stage turned into a BitError
            from bitcli.errors import os_error

            known = os_error(exc)
            fail(known.message, known.hint, known.exit_code)
            raise typer.Exit(known.exit_code) from None
        except Exception as exc:  # a bug: say so, and how to see it
            if ui.state.debug or os.environ.get("BIT_DEBUG", "") not in ("", "0"):
                raise
            fail(f"internal error: {type(exc).__name__}: {exc}",
                    "rerun the same command with --debug (or BIT_DEBUG=1) for the traceback", EXIT_FAILED)
            raise typer.Exit(EXIT_FAILED) from None
        finally:
            from bitcli.commands._common import forget_created_workdirs
            from bitcli.resources import release_held

            release_held()
            forget_created_workdirs(remove_if_empty=True)  # a workdir it made and left empty goes again

    added, json_param = _with_global_options(command, wrapper)
    hints.register(name, wrapper)
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
from bitcli.commands.quantize import quantize_cli  # noqa: E402
from bitcli.commands.atc import atc_cli  # noqa: E402
from bitcli.commands.infer import infer_cli  # noqa: E402
from bitcli.commands.evaluate import eval_cli  # noqa: E402
from bitcli.commands.bench import bench_cli  # noqa: E402
from bitcli.commands.compare import compare_cli  # noqa: E402
from bitcli.commands.run_all import all_cli  # noqa: E402
from bitcli.commands.status import status_cli  # noqa: E402
from bitcli.commands.profile import init_cli, profile_app, show_cli  # noqa: E402
from bitcli.commands.doctor import doctor_cli  # noqa: E402

app.command("data")(boundary(data_cli))
app.command("export")(boundary(export_cli))
app.command("simplify")(boundary(simplify_cli))
app.command("quantize")(boundary(quantize_cli))
app.command("atc")(boundary(atc_cli))
app.command("infer")(boundary(infer_cli))
app.command("eval")(boundary(eval_cli))
app.command("bench")(boundary(bench_cli))
app.command("compare")(boundary(compare_cli))
app.command("all")(boundary(all_cli))
profile_app.command("init")(boundary(init_cli, "profile init"))
profile_app.command("show")(boundary(show_cli, "profile show"))
app.command("status")(boundary(status_cli))
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
