"""Every hint that names a flag works when pasted into the command that printed it (issue 14 §5).

The test reads bitcli's source: every ``hint=`` value, every variable named ``hint``/``fix``,
and the message of every error raised (``SomethingError("...")``). From each string it takes the
``--flags``. A flag inside a quoted command line (`` `bit simplify --bs 4` ``) must be an option
of that command; any other flag must be an option of every command that can print the string:

- a string in ``cli.py``, ``commands/_common.py`` or outside any function belongs to every command;
- any other string belongs to every command whose function reaches the function holding the
  string through the call graph. The graph is built by name (a call ``x.load(...)`` reaches every
  function called ``load``), so it over-approximates: it errs on the safe side.

The CLI boundary passes every error through :func:`bitcli.hints.adapt` for the running command
(a flag it lacks becomes its profile key, or the command that has it), so the check is made on the
text as that command prints it. What remains to catch: a flag no command has (a typo, a removed
or renamed flag), and a quoted `` `bit X --flag` `` whose command X lacks the flag.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import typer

from bit_testlib import REPO

PACKAGE = REPO / "bitcli"
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![\w-])")
# A bit command line inside the text: from "bit CMD" to the next backtick, bracket, comma or semicolon.
QUOTED_COMMAND = re.compile(r"\bbit ([a-z]+(?: (?:init|show))?)\b([^`),;]*)")
# Flags that are other programs' own, quoted in messages about those programs (not bit's options).
FOREIGN: set[str] = set()  # none so far: atc's and ais_bench's flags are spelt with "_" or live in FOREIGN_MODULES
# Modules whose strings describe another program's command line, never a bit flag to paste.
FOREIGN_MODULES = {"bitcli/ascend/ais_argv.py", "bitcli/ascend/atc.py"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {_module_name(p): (p, ast.parse(p.read_text())) for p in sorted(PACKAGE.rglob("*.py"))}
ENTRY: dict[str, str] = {}  # command → the name of its function (data_cli, ...)


def _command_options() -> dict[str, set[str]]:
    from bitcli.cli import app

    found: dict[str, set[str]] = {}

    def walk(group, prefix: str) -> None:
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                walk(command, f"{prefix}{name} ")
            else:
                found[f"{prefix}{name}"] = {o for p in command.params for o in getattr(p, "opts", [])}
                ENTRY[f"{prefix}{name}"] = getattr(command.callback, "__wrapped__", command.callback).__name__

    walk(typer.main.get_command(app), "")
    return found


OPTIONS = _command_options()


def _called_names(function: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.add(node.id)  # a function passed as a value (callbacks, dispatch tables)
    return names - {""}


FUNCTIONS: dict[str, list[ast.AST]] = {}  # name → every function of that name in bitcli
for _path, _tree in SOURCES.values():
    for _node in ast.walk(_tree):
        if isinstance(_node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            FUNCTIONS.setdefault(_node.name, []).append(_node)
    for _node in _tree.body:  # module-level tables of functions (bit all's step dispatch) reach what they name
        if isinstance(_node, (ast.Assign, ast.AnnAssign)) and _node.value is not None:
            for _target in _node.targets if isinstance(_node, ast.Assign) else [_node.target]:
                if isinstance(_target, ast.Name):
                    FUNCTIONS.setdefault(_target.id, []).append(_node.value)


def _reached(entry: str) -> set[int]:
    """ids of the function nodes a command's function can reach by calls."""
    seen: set[int] = set()
    todo = list(FUNCTIONS.get(entry, []))
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for name in _called_names(node):
            todo.extend(FUNCTIONS.get(name, []))
    return seen


REACHED = {command: _reached(entry) for command, entry in ENTRY.items()}


def _text(node: ast.AST) -> str | None:
    """A string literal, f-string (placeholders as {}) or + of them; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None and right is None else (left or "{}") + (right or "{}")
    if isinstance(node, ast.IfExp):
        return " / ".join(filter(None, (_text(node.body), _text(node.orelse))))
    return None


ERROR_CALLS = ("Error", "NotFound", "Failed", "Unavailable", "Dependency", "Busy")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every hint and error message in a module or function."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found += [(node.lineno, _text(k.value)) for k in node.keywords if k.arg == "hint"]
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if node.args and (called.endswith(ERROR_CALLS) or called in ("fail", "error")):
                found += [(node.lineno, _text(a)) for a in node.args[:2]]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if any(n in ("hint", "fix") or n.endswith("_hint") for n in names):
                found.append((node.lineno, _text(node.value)))
    return [(line, text) for line, text in found if text]


def _owners(tree: ast.Module) -> list[tuple[ast.AST | None, list[tuple[int, str]]]]:
    """The strings of each outermost function of a module (None: those outside any function)."""
    parts, inside = [], set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and id(node) not in inside:
            inside.update(id(inner) for inner in ast.walk(node))
            parts.append((node, _strings(node)))
    outside = [(line, text) for line, text in _strings(tree)
               if not any(f.lineno <= line <= f.end_lineno for f, _ in parts)]
    return parts + [(None, outside)]


def _check(rel: str, strings: list[tuple[int, str]], raisers: set[str]) -> list[str]:
    from bitcli.hints import adapt

    problems = []
    for line, source in strings:
        for command in sorted(raisers):
            problems += _check_one(rel, line, adapt(source, command), {command})
    return problems


def _check_one(rel: str, line: int, text: str, raisers: set[str]) -> list[str]:
    """The flags of one text as printed: quoted command lines against their command, the rest against ours."""
    problems, quoted_spans = [], []
    for match in QUOTED_COMMAND.finditer(text):
        quoted_spans.append(match.span())
        command = match.group(1) if match.group(1) in OPTIONS else match.group(1).split()[0]
        for flag in FLAG.findall(match.group(2)):
            if command in OPTIONS and flag not in OPTIONS[command]:
                problems.append(f"{rel}:{line}: `bit {command}` has no {flag}: {text!r}")
    loose = text
    for start, end in reversed(quoted_spans):
        loose = loose[:start] + loose[end:]
    for flag in FLAG.findall(loose):
        if flag in FOREIGN:
            continue
        lacking = sorted(c for c in raisers if flag not in OPTIONS[c])
        if lacking:
            problems.append(f"{rel}:{line}: {flag} is not an option of {', '.join(lacking)}: {text!r}")
    return problems


def _problems() -> list[str]:
    problems = []
    for module, (path, tree) in SOURCES.items():
        rel = str(path.relative_to(REPO))
        if rel in FOREIGN_MODULES:
            continue
        for function, strings in _owners(tree):
            if module in ("bitcli.cli", "bitcli.commands._common") or function is None:
                raisers = set(OPTIONS)
            else:
                inner = {id(n) for n in ast.walk(function)}
                raisers = {c for c, reached in REACHED.items() if reached & inner}
            problems += _check(rel, strings, raisers)
    return sorted(set(problems))


def test_the_collector_finds_the_hints():
    """Guards the test itself: known hints of several kinds are collected and attributed."""
    texts = [t for _, (_, tree) in SOURCES.items() for _, t in _strings(tree)]
    assert len(texts) > 150
    assert any("bit simplify --bs" in t for t in texts)  # a hint= keyword with a quoted command
    assert any("--debug" in t for t in texts)  # the internal-error hint in cli.py
    export = FUNCTIONS["onnx_from_checkpoint"][0]
    assert {c for c, reached in REACHED.items() if id(export) in reached} >= {"export", "all"}
    assert not any(id(export) in REACHED[c] for c in ("eval", "doctor", "profile show"))


def test_every_flag_in_a_hint_exists_where_the_hint_can_appear():
    problems = _problems()
    assert problems == [], "\n".join(problems)


# ---------------------------------------------------------------------------------------- the rewording


def test_adapt_rewrites_only_the_flags_the_command_lacks():
    import bitcli.cli  # noqa: F401  (registers the commands)
    from bitcli.hints import adapt

    assert adapt("use --opset 13 for ATC on CANN 6.x", "export") == "use --opset 13 for ATC on CANN 6.x"
    assert adapt("use --opset 13 for ATC on CANN 6.x", "all") == "use model.opset: 13 in the profile for ATC on CANN 6.x"
    assert adapt("choose another --save-path", "all") == "choose another `bit data --save-path`"
    assert adapt("pass --download", "all") == "pass dataset.download: true in the profile"
    assert adapt("run `bit simplify --bs 4` first (or pass --model-dir)", "all") == \
        "run `bit simplify --bs 4` first (or pass `bit atc --model-dir`)"
    assert adapt("rerun the same command with --debug", "profile init") == "rerun the same command with --debug"
    assert adapt(None, "all") is None and adapt("--opset 13", "not a command") == "--opset 13"


def test_a_stage_hint_printed_by_bit_all_names_what_bit_all_takes(runner, tmp_path):
    """export's "use --opset 13", raised inside bit all (no --opset there), says the profile key instead."""
    from bit_testlib import invoke

    (tmp_path / "p.yaml").write_text("model: {opset: 99, weights: random, image_size: 32}\n")
    direct = invoke(runner, "export", "-p", "p.yaml", "-w", "w")
    assert direct.exit_code == 2 and "use --opset 13" in direct.stderr
    result = invoke(runner, "all", "-p", "p.yaml", "-w", "w", "--only", "export", "--backend", "onnxruntime")
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert "model.opset: 13 in the profile" in err and "--opset" not in err
