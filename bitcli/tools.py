"""Every external tool (atc, npu-smi, python3 -m ais_bench) runs through here.

One helper, :func:`run_tool`, so every call gets the same treatment: the tool
is looked up on the PATH of the environment it will run in *before* any
expensive work, argv is a list (never ``shell=True``), the exact command line
is logged (``--verbose``), ``--dry-run`` stops before running, the output goes
to a log file and its tail is kept for the error message.

CANN puts its tools on PATH only after ``source set_env.sh``; :func:`cann_env`
sources the script in a child bash and returns the resulting environment, and
:func:`tool_env` decides whether that is needed for a given tool.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from bitcli import ui
from bitcli.errors import ToolFailed, ToolNotFound

TAIL_LINES = 25
DEFAULT_SET_ENV = "/usr/local/Ascend/ascend-toolkit/set_env.sh"


@dataclass
class ToolResult:
    """What one tool run produced (stdout and stderr interleaved in ``output``)."""

    argv: list[str]
    returncode: int
    output: str = ""
    seconds: float = 0.0
    dry_run: bool = False
    log_path: Path | None = None
    env: Mapping[str, str] | None = field(default=None, repr=False)

    @property
    def command(self) -> str:
        """The command line as a user would type it."""
        return shlex.join(self.argv)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last ``lines`` non-empty lines of output (progress dots and ``\\r`` bars dropped)."""
        kept = [ln.rsplit("\r", 1)[-1].rstrip() for ln in self.output.split("\n")]
        kept = [ln for ln in kept if ln.strip(" .")]
        return "\n".join(kept[-lines:])


def find_tool(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """Full path of ``name`` on the PATH of ``env`` (default: this process), or None."""
    path = (env if env is not None else os.environ).get("PATH", "")
    return shutil.which(name, path=path)


def cann_env(set_env_path: str | os.PathLike[str]) -> dict[str, str]:
    """The environment after ``source set_env.sh``, computed in a child bash.

    Args:
        set_env_path: the CANN script (e.g. /usr/local/Ascend/ascend-toolkit/set_env.sh).

    Returns:
        A copy of the whole environment with CANN's variables set.

    Raises:
        ToolNotFound: the script does not exist.
        ToolFailed: sourcing it failed.
    """
    path = Path(set_env_path)
    if not path.is_file():
        raise ToolNotFound(
            f"CANN environment script {path} does not exist",
            hint="install the CANN toolkit, or point ascend.set_env (env BIT_SET_ENV) at its set_env.sh",
        )
    stat = path.stat()
    return dict(_cann_env_cached(str(path.resolve()), stat.st_mtime_ns, tuple(sorted(os.environ.items()))))


@functools.lru_cache(maxsize=8)
def _cann_env_cached(path: str, _mtime: int, base_env: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    # "$1" is the script; the user's path never passes through a shell parser.
    argv = ["bash", "-c", 'source "$1" >/dev/null && env -0', "_", path]
    ui.detail("$ " + shlex.join(argv))
    try:
        proc = subprocess.run(argv, capture_output=True, env=dict(base_env), timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolFailed(f"could not source {path}: {exc}", hint="check the CANN installation") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise ToolFailed(
            f"sourcing {path} failed (exit {proc.returncode}): {' | '.join(tail) or 'no output'}",
            hint="run `bash -c 'source " + path + "'` yourself to see why; fix or reinstall the CANN toolkit",
        )
    pairs = []
    for item in proc.stdout.split(b"\0"):
        name, sep, value = item.decode(errors="replace").partition("=")
        if sep and name:
            pairs.append((name, value))
    return tuple(pairs)


def default_set_env() -> str:
    """``ascend.set_env`` when no settings are at hand: $BIT_SET_ENV, else CANN's default path."""
    return os.environ.get("BIT_SET_ENV") or DEFAULT_SET_ENV


def tool_env(tool: str, set_env: str | os.PathLike[str] | None = None) -> tuple[dict[str, str], str]:
    """The environment in which ``tool`` is found: this one, else the sourced CANN one.

    Args:
        tool: executable name, e.g. ``"atc"``.
        set_env: path of CANN's set_env.sh (None: :func:`default_set_env`).

    Returns:
        (environment, full path of the tool).

    Raises:
        ToolNotFound: with the fix (install CANN / point ascend.set_env at it).
    """
    here = find_tool(tool)
    if here:
        return dict(os.environ), here
    set_env = set_env or default_set_env()
    if set_env and Path(set_env).is_file():
        env = cann_env(set_env)
        found = find_tool(tool, env)
        if found:
            ui.detail(f"{tool} found after sourcing {set_env}: {found}")
            return env, found
        raise ToolNotFound(
            f"'{tool}' is not on PATH, not even after sourcing {set_env}",
            hint="the CANN toolkit looks incomplete; reinstall it or point ascend.set_env at the right set_env.sh",
        )
    where = f"no CANN script at {set_env}"
    raise ToolNotFound(
        f"'{tool}' is not on PATH and {where}",
        hint="on an Ascend host: source /usr/local/Ascend/ascend-toolkit/set_env.sh or set ascend.set_env "
        "(env BIT_SET_ENV); elsewhere run on the CPU instead (`bit all --backend onnxruntime`)",
    )


def run_tool(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    timeout: float | None = None,
) -> ToolResult:
    """Run one external tool and capture its output; never raises on a non-zero exit.

    Args:
        argv: the command as a list; ``argv[0]`` is looked up on ``env``'s PATH.
        env: the environment (default: this process's).
        cwd: working folder (ATC litters it with kernel_meta/ and fusion_result.json).
        log_path: where to write the full output (folder created).
        dry_run: only log and return (returncode 0, ``dry_run=True``).
        timeout: seconds before the tool is killed (None: no limit).

    Returns:
        The :class:`ToolResult`; callers decide what counts as success.

    Raises:
        ToolNotFound: ``argv[0]`` is not on PATH.
    """
    argv = [str(a) for a in argv]
    run_env = dict(env) if env is not None else dict(os.environ)
    ui.detail("$ " + shlex.join(argv))
    if dry_run:
        return ToolResult(argv, 0, dry_run=True, env=run_env)
    exe = argv[0] if os.sep in argv[0] else find_tool(argv[0], run_env)
    if not exe or not Path(exe).exists():
        raise ToolNotFound(
            f"'{argv[0]}' not found on PATH",
            hint="source the CANN set_env.sh (or set ascend.set_env) and retry",
        )
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [exe, *argv[1:]], env=run_env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        raise ToolFailed(f"{argv[0]} did not finish within {timeout:.0f} s: {shlex.join(argv)}",
                         hint="see the log: " + str(log_path) if log_path else None) from None
    except OSError as exc:
        raise ToolFailed(f"cannot start {argv[0]}: {exc.strerror}", hint="check that it is executable") from None
    output = proc.stdout.decode(errors="replace")
    result = ToolResult(argv, proc.returncode, output, time.perf_counter() - start, env=run_env)
    if log_path is not None:
        log = Path(log_path)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {result.command}\n# cwd: {cwd or os.getcwd()}\n{output}\n# exit {proc.returncode}\n")
        result.log_path = log
    return result
