"""Errors the command line turns into one red line and a fixed exit code.

Library code raises these; only the CLI boundary (:func:`bitcli.cli.boundary`)
prints them, and it takes the exit code from the error's class
(``exit_code``), so no command picks its own. Anything else that escapes is a
bug and shows a traceback with ``--debug`` / ``BIT_DEBUG=1``.

Exit codes (the README's table is this one):

- 0 ``EXIT_OK``: done, or already up to date.
- 1 ``EXIT_FAILED``: the run failed (a tool, a file, a batch size's row, an
  unusable backend). The usual :class:`BitError`.
- 2 ``EXIT_USAGE``: a bad, missing or conflicting flag value, or a bad
  profile / ``BIT_*`` value: :class:`ConfigError` and :class:`UsageError`, and
  typer's own parse errors. Nothing ran. Decision: a path that does not exist
  is a failed run (1), not a usage error: it is usually an earlier step's
  output that is missing, and the fix is to run that step.
- 130 ``EXIT_INTERRUPTED``: Ctrl-C (143 for SIGTERM, the shell's 128 + 15).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class BitError(Exception):
    """A problem the user can fix: ``message`` says what, ``hint`` says how; ``exit_code`` for the CLI."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(BitError):
    """A profile, environment variable or flag has a bad, missing or conflicting value (exit 2)."""

    exit_code = EXIT_USAGE


class UsageError(ConfigError):
    """A flag's value is bad, missing or conflicts with another flag; raised by the commands' checks (exit 2)."""


class DataError(BitError):
    """An input data set, .bin folder, label file or result folder is unusable."""


class CheckpointError(BitError):
    """A weights file cannot be read as a BiT checkpoint."""


class ExportError(BitError):
    """ONNX export, verification or simplification failed."""


class ToolNotFound(BitError):
    """An external tool (atc, npu-smi, ais_bench) is not installed or not on PATH."""


class ToolFailed(BitError):
    """An external tool ran and failed; ``message`` holds its own error lines."""


class BackendUnavailable(BitError):
    """The selected inference backend cannot run on this host."""


class MissingDependency(BitError):
    """A Python package a stage needs (torch, onnx, onnxruntime, ...) is missing."""


def require(module: str, *, extra: str = "", purpose: str = ""):
    """Import ``module`` lazily, turning ImportError into :class:`MissingDependency`.

    Args:
        module: dotted module name, e.g. ``"onnxruntime"``.
        extra: pip requirement that provides it, when it differs from ``module``.
        purpose: what it is needed for, shown in the message.

    Returns:
        The imported module.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f" (needed for {purpose})" if purpose else ""
        raise MissingDependency(
            f"Python package '{module}' is not importable{what}: {exc}",
            hint=f"install it: pip install {extra or module}",
        ) from None


class StorageError(DataError):
    """The file system refused a read or write: full, read-only, no permission, a folder gone."""


def human_bytes(count: float) -> str:
    """``1536`` → ``1.5 KiB`` (binary units, one decimal)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def os_error(exc: OSError, path: object = None, flag: str = "", *, need: int | None = None) -> StorageError:
    """One clear line for an operating-system fault on ``path`` (full disk, read-only, gone, ...).

    Args:
        exc: the OSError raised by the write or read.
        path: the file or folder bit was working on (default: the error's own file name).
        flag: the option that chooses that place, named in the hint (e.g. ``--output``).
        need: bytes the operation needs, for the out-of-space message.

    Returns:
        A :class:`StorageError` to raise.
    """
    import errno
    import os
    import shutil
    from pathlib import Path

    where = Path(str(path if path is not None else (exc.filename or "?")))
    elsewhere = f"choose another {flag}" if flag else "choose another place"
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        folder = where if where.is_dir() else where.parent
        free = ""
        try:
            free = f", {human_bytes(shutil.disk_usage(folder).free)} free"
        except OSError:
            pass
        needed = f"; about {human_bytes(need)} needed" if need else ""
        what = "file size limit reached" if code == errno.EFBIG else "no space left"
        return StorageError(f"{what} while writing in {folder}{needed}{free}",
                            hint=f"free some space or {elsewhere}; nothing older was replaced")
    if code == errno.EROFS:
        return StorageError(f"{where} is on a read-only file system", hint=elsewhere)
    if code in (errno.EACCES, errno.EPERM):
        return StorageError(f"no permission to write {where}", hint=f"fix its permissions or {elsewhere}")
    if code == errno.ENOENT:
        return StorageError(f"{where} does not exist (was its folder deleted while bit ran?)",
                            hint="recreate the folder and run the command again")
    if code in (errno.ENOTDIR, errno.EEXIST):
        blocker = next((p for p in [where, *where.parents] if p.exists() and not p.is_dir()), None)
        if blocker is not None and blocker != where:
            return StorageError(f"cannot create {where}: {blocker} is a file, not a folder", hint=elsewhere)
    if code == errno.EISDIR:
        return StorageError(f"{where} is a folder, not a file", hint=f"name a file, or {elsewhere}")
    reason = exc.strerror or os.strerror(code or 0) or type(exc).__name__
    return StorageError(f"cannot use {where}: {reason}", hint=elsewhere)
