"""Hints that work where they are printed: a flag the running command lacks is said another way.

Stages are shared: ``bit all`` runs export, whose hint says "use --opset 13", but ``bit all``
has no ``--opset``. Rather than each stage knowing every command, the CLI boundary passes each
error through :func:`adapt` with the running command's options. A flag that command has stays; a
flag it lacks becomes the profile key behind it (``model.opset: 13 in the profile``, read from the
``[profile: key]`` of the flag's help), or else the command that has it (`` `bit data --save-path` ``).
A flag inside a quoted command line (`` `bit simplify --bs 4` ``) belongs to that command and stays.

The registry of flags is filled once from the registered commands (:func:`register`), so a
command another module adds is covered by its registration alone.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Callable

# flag → (profile key or None, first command in pipeline order that has it, is an on/off flag)
FLAGS: dict[str, tuple[str | None, str, bool]] = {}
OPTIONS: dict[str, frozenset[str]] = {}  # command → its options ("data" → {"--limit", ...})

FLAG_WITH_VALUE = re.compile(
    r"(?<![\w`-])(--[a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![\w-])"
    r"(?: (\{\}|[A-Z][A-Z_]*|[0-9][\w.,]*|random|auto|onnxruntime|cpu|torch|ascend|[\w./-]+\.(?:pth|npz|onnx|om|yaml)))?"
)
COMMAND_LINE = re.compile(r"\bbit [a-z]+(?: (?:init|show))?\b[^`),;]*")
PROFILE_KEY = re.compile(r"\[profile: ([a-z_]+(?:\.[a-z_]+)?)\]")


def options_of(function: Callable[..., Any]) -> dict[str, tuple[str | None, bool]]:
    """``{--flag: (profile key or None, on/off flag)}`` for every option of a command function."""
    found: dict[str, tuple[str | None, bool]] = {}
    for name, param in inspect.signature(function, eval_str=True).parameters.items():
        info = next((m for m in getattr(param.annotation, "__metadata__", ()) if hasattr(m, "param_decls")), None)
        if info is None or type(info).__name__ != "OptionInfo":
            continue
        # In Annotated[..., typer.Option("--json", "-j")] typer keeps the first name in ``default``.
        given = [info.default, *(info.param_decls or ())]
        decls = [d for d in given if isinstance(d, str) and d.startswith("-")] or [f"--{name.replace('_', '-')}"]
        key = PROFILE_KEY.search(str(getattr(info, "help", "") or "").replace("\\", ""))
        is_bool = getattr(param.annotation, "__origin__", None) is bool
        for decl in decls:
            found[decl] = (key.group(1) if key else None, is_bool)
    return found


def register(command: str, function: Callable[..., Any]) -> None:
    """Record a command's options (called by the CLI for each registration, in pipeline order)."""
    options = options_of(function)
    OPTIONS[command] = frozenset(options)
    for flag, (key, is_bool) in options.items():
        known = FLAGS.get(flag)
        if known is None or (known[0] is None and key is not None):
            FLAGS[flag] = (key, known[1] if known else command, is_bool)


def adapt(text: str | None, command: str | None) -> str | None:
    """``text`` as it should read in ``command``: every flag in it is one that command takes.

    Args:
        text: a message or hint (None passes through).
        command: the running command ("data", "profile init"); None or unknown leaves text as is.

    Returns:
        The text with each foreign flag replaced by its profile key or by the command that has it.
    """
    if not text or command not in OPTIONS:
        return text
    own = OPTIONS[command]
    pieces, last = [], 0
    for quoted in COMMAND_LINE.finditer(text):  # quoted command lines keep their own flags
        pieces.append(_replace(text[last:quoted.start()], own))
        pieces.append(quoted.group(0))
        last = quoted.end()
    pieces.append(_replace(text[last:], own))
    return "".join(pieces)


def _replace(text: str, own: frozenset[str]) -> str:
    def one(match: re.Match) -> str:
        flag, value = match.group(1), match.group(2)
        if flag in own or flag not in FLAGS:
            return match.group(0)
        key, where, is_bool = FLAGS[flag]
        if key and (value or is_bool):
            return f"{key}: {value or 'true'} in the profile"
        if key:
            return f"the profile's {key}"
        return f"`bit {where} {flag}{' ' + value if value else ''}`"

    return FLAG_WITH_VALUE.sub(one, text)
