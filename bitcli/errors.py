"""Errors the command line turns into one red line and exit code 1.

Library code raises these; only :func:`bitcli.cli.main`'s boundary prints
them. Anything else that escapes is a bug and shows a traceback with
``--debug`` / ``BIT_DEBUG=1``.
"""

from __future__ import annotations


class BitError(Exception):
    """A problem the user can fix: ``message`` says what, ``hint`` says how."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(BitError):
    """A profile, environment variable or flag has a bad value."""


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
