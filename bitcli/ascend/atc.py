"""ATC's command line and console verdicts (reference/ascend-tools.md §3, §8.8).

Success is exit status 0 *and* the ``ATC run success`` line *and* the .om on
disk: a non-zero exit is a failure even when "success" was printed.

Failures are read from the error-manager lines: ``E10016: …`` (a code, a colon),
newer CANN with ``[PID: n] <timestamp>`` after the code, ``EZ9999  <detail>``
(two spaces, no colon), and gflags' ``unknown command line flag '…'`` (no code).
"""

from __future__ import annotations

import re
from pathlib import Path

from bitcli.artifacts import MODEL_STEM, Artifacts, sim_onnx_path
from bitcli.errors import ToolFailed
from bitcli.tools import ToolResult

INPUT_NAME = "image"  # bit_pth2onnx.py's input name; --input_shape must use it
SUCCESS_LINE = "ATC run success"
_CODE_LINE = re.compile(r"(?:^|[\s\]])(E[0-9A-Z]\d{4}|EZ\d{4}|EC\d{4})(?::\s*|\s{2,})(.*)$")
_PID_STAMP = re.compile(r"^\[PID:\s*\d+\]\s*(?:\d{4}-\d\d-\d\d[-\s]\d\d:\d\d:\d\d(?:[.:]\d+)*\s*)?")
_UNKNOWN_FLAG = re.compile(r"unknown command line flag '([^']*)'")
_INPUT_SHAPE_HINT = ("the --input_shape name must be the ONNX input name ('image' for BiT) and the shape must match; "
                     "re-export with `bit export --force` and `bit simplify --force`")
# Hints for the failures operators meet most (reference §3.3, §6, §8.8).
HINTS = {
    "E10016": _INPUT_SHAPE_HINT,
    "E10010": "ATC rejected the --log value; bit passes --log=error, so check that this is CANN's own atc",
    "E19010": "ATC cannot parse an operator of this ONNX opset; export with model.opset: 13 (the default), "
              "then `bit export --force`, `bit simplify --force`",
    "E10007": "internal: --framework missing from the atc command line",
    "E10054": "a required atc parameter is empty; check the model folder and --chip",
    "EZ3003": "this SoC has no kernel for an operator; check --chip matches npu-smi info",
    "EC0010": "ATC's Python dependencies are missing: pip install decorator sympy attrs psutil numpy in ATC's Python",
}
E10001_HINT = "an atc flag value is invalid (see the message); check --chip and ascend.precision_mode"
LIBS_HINT = ("the CANN libraries are not on LD_LIBRARY_PATH: source {set_env} (bit does this itself when atc is "
             "not on PATH; set ascend.set_env / BIT_SET_ENV to your set_env.sh) and check the driver under "
             "/usr/local/Ascend/driver")


def atc_argv(model_dir: Path, bs: int, soc: str, *, image_size: int = 128, precision_mode: str | None = None,
             atc: str = "atc") -> list[str]:
    """The seed's atc command line for one batch size (absolute paths: ATC runs in a scratch cwd)."""
    model_dir = Path(model_dir).resolve()
    output = Artifacts(model_dir).om(bs).with_suffix("")  # ATC appends .om itself
    argv = [
        atc,
        "--framework=5",  # 5 = ONNX
        f"--model={sim_onnx_path(model_dir, MODEL_STEM, bs)}",
        "--input_format=NCHW",
        f"--input_shape={INPUT_NAME}:{bs},3,{image_size},{image_size}",
        f"--output={output}",
        "--log=error",  # errors in the CANN log dir; the console verdict is what we parse
        f"--soc_version={soc}",
    ]
    if precision_mode:
        argv.append(f"--precision_mode={precision_mode}")
    return argv


def atc_succeeded(res: ToolResult, om: Path) -> bool:
    """Exit 0, the success verdict, and the .om written: all three."""
    return res.ok and SUCCESS_LINE in res.output and Path(om).is_file()


def error_codes(output: str) -> list[tuple[str, str]]:
    """ATC's error lines as (code, message) in order, without duplicates; an unknown flag has code ''."""
    found: list[tuple[str, str]] = []
    for line in output.splitlines():
        line = line.strip()
        match = _CODE_LINE.search(line)
        if match:
            item = (match.group(1), _PID_STAMP.sub("", match.group(2).strip()).strip())
        elif flag := _UNKNOWN_FLAG.search(line):
            item = ("", f"unknown command line flag '{flag.group(1)}'")
        else:
            continue
        if item not in found:
            found.append(item)
    return found


def _hint_for(codes: list[tuple[str, str]]) -> str:
    for code, message in codes:
        if code in HINTS:
            return HINTS[code]
        if code == "E10001":
            return _INPUT_SHAPE_HINT if "input_shape" in message else E10001_HINT
        if code == "":
            return "atc does not know this flag: check the CANN version (`bit doctor`); bit passes only documented flags"
    return "see the ATC log under $HOME/ascend/log"


def atc_failure(res: ToolResult, om: Path, set_env: str | None) -> ToolFailed:
    """One error naming ATC's codes and messages, the command line, and the likely fix."""
    codes = error_codes(res.output)
    where = f"; full log: {res.log_path}" if res.log_path else ""
    if "error while loading shared libraries" in res.output:
        lib = re.search(r"error while loading shared libraries: (\S+?):", res.output)
        what = f"atc cannot load {lib.group(1) if lib else 'its shared libraries'} (exit {res.returncode})"
        hint = LIBS_HINT.format(set_env=set_env or "/usr/local/Ascend/ascend-toolkit/set_env.sh")
    elif codes:
        shown = " | ".join(f"{c}: {m}" if c else m for c, m in codes)
        what = f"ATC failed (exit {res.returncode}): {shown}"
        hint = _hint_for(codes)
    elif SUCCESS_LINE in res.output and not res.ok:
        what = f"ATC printed '{SUCCESS_LINE}' but exited {res.returncode}, so {om.name} is not trusted"
        hint = "rerun with `bit atc --force`; if it repeats, check free memory and the ATC log under $HOME/ascend/log"
    elif res.ok and SUCCESS_LINE in res.output:
        what = f"ATC reported success but {om} was not written"
        hint = "check free disk space and write permission in the model folder"
    else:
        tail = res.tail(6).replace("\n", " | ")
        what = f"ATC failed (exit {res.returncode}) without an error code: {tail or 'no output'}"
        hint = "rerun the command below by hand after sourcing set_env.sh"
    return ToolFailed(f"{what}; command: {res.command}{where}", hint=hint)
