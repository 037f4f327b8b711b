"""Reading ais_bench's stdout, and turning its known failures into one line with the fix.

Formats (reference/ascend-tools.md §2.6) of the releases bit drives::

    throughput 1000*batchsize.mean(16)/NPU_compute_time.mean(9.1): 1758.0   (tools 2023, ait 2024, tools 2025)
    throughput 1000*batchsize(16)/NPU_compute_time.mean(9.1): 1758.0        (tools 2022-11)

Multi-device runs add ``i:{i} device_{D} throughput:{t} ...`` per device and
``summary throughput:{sum}``. A figure that is not a finite number counts as
not printed (NaN is a failure, not a value).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from bitcli.ascend.ais_paths import illegal_path
from bitcli.ascend.flavours import Flavour
from bitcli.errors import ToolFailed
from bitcli.tools import ToolResult

THROUGHPUT = re.compile(r"throughput 1000\*batchsize(?:\.mean)?\(([^)]*)\)/NPU_compute_time\.mean\(([^)]*)\): (\S+)")
NPU_COMPUTE = re.compile(r"NPU_compute_time \(ms\): (.*)$")
STAT_PAIR = re.compile(r"([A-Za-z]+(?:\(\d+%\))?) = ([-+0-9.eE]+|nan|inf)")
SUMMARY_THROUGHPUT = re.compile(r"summary throughput:\s*(\S+)")
DEVICE_THROUGHPUT = re.compile(r"i:(\d+)\s+device_(\d+)\s+throughput:\s*(\S+)")
# The exception text at the end of a traceback; the raise's own source line above it holds the
# unformatted template (`input data:{f_true_path} is illegal`), hence the last match, never a brace.
ILLEGAL = re.compile(r"(input data|input path|output path|model path|om path):([^{}\n]+?) is illegal")
# argparse names the program after the file run: `__main__.py` under `python3 -m ais_bench`.
ARGPARSE = re.compile(r"^[\w.-]+: error: (.*)$", re.MULTILINE)


@dataclass
class RunOutput:
    """What one ais_bench run printed."""

    throughput: float | None = None          # the last Performance Summary's figure
    batchsize: str | None = None
    npu_compute_time: dict[str, float] = field(default_factory=dict)
    summary_throughput: float | None = None  # multi-device: sum over devices
    device_throughputs: dict[int, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _number(text: str) -> float | None:
    try:
        value = float(text.rstrip(",;"))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_run_output(text: str) -> RunOutput:
    """Parse the throughput, NPU_compute_time, multi-device and ``[ERROR]`` lines of a run."""
    out = RunOutput()
    for raw in text.split("\n"):
        line = raw.rsplit("\r", 1)[-1].strip()
        if (m := THROUGHPUT.search(line)) is not None:
            out.batchsize, out.throughput = m.group(1), _number(m.group(3))
        elif (m := NPU_COMPUTE.search(line)) is not None:
            out.npu_compute_time = {k: float(v) for k, v in STAT_PAIR.findall(m.group(1))}
        elif (m := SUMMARY_THROUGHPUT.search(line)) is not None:
            out.summary_throughput = _number(m.group(1))
        elif (m := DEVICE_THROUGHPUT.search(line)) is not None:
            value = _number(m.group(3))
            if value is not None:
                out.device_throughputs[int(m.group(2))] = value
        if line.startswith("[ERROR]"):
            out.errors.append(line[len("[ERROR]"):].strip())
    return out


def ais_failure(res: ToolResult, *, bs: int, no_throughput: bool = False, flavour: Flavour | None = None) -> ToolFailed:
    """One error for a failed ais_bench run: what went wrong, the fix, and the command line.

    A non-zero exit is a failure even when a throughput was printed (one device of several failed).
    """
    parsed = parse_run_output(res.output)
    what, hint = explain(res.output, bs, flavour)
    if what is None:
        if no_throughput:
            what = "ais_bench exited 0 but printed no throughput line (a failed run, not a zero)"
            hint = "run the command below by hand and check its Performance Summary"
        else:
            detail = parsed.errors[-1] if parsed.errors else res.tail(3).replace("\n", " | ") or "no output"
            what = f"ais_bench failed (exit {res.returncode}): {detail}"
            hint = hint or "see the log for the full output"
    # The command goes in the hint, so a failed `bit bench` row stays one short reason.
    log = f"; log: {res.log_path}" if res.log_path else ""
    return ToolFailed(what, hint=f"{hint}; command: {res.command}{log}")


def explain(output: str, bs: int, flavour: Flavour | None = None) -> tuple[str | None, str | None]:
    """Map ais_bench's known error messages to (one-line explanation, fix); (None, None) if unknown."""
    for rule in (_sizes, _folders, _illegal, _device, _environment, _argparse, _model):
        found = rule(output, bs, flavour)
        if found is not None:
            return found
    return None, None


def _sizes(output: str, bs: int, _flavour: Flavour | None) -> tuple[str, str] | None:
    if m := re.search(r"tensorsize: (\d+) filesize: (\d+) not match", output):
        tensor, size = int(m.group(1)), int(m.group(2))
        return (f"input files are {size} bytes each but the bs{bs} model takes {tensor} bytes per batch, "
                f"not a whole number of files (ais_bench: tensorsize/filesize not match)",
                "keep one sample per .bin file (what `bit data` writes) at the image size the model was "
                "exported for (model.image_size); re-run `bit data` or rebuild the model")
    if "save out files error" in output:
        return ("ais_bench could not split the output back into per-file results (files are not one sample each)",
                "keep one sample per .bin file (`bit data`)")
    return None


def _folders(output: str, _bs: int, _flavour: Flavour | None) -> tuple[str, str] | None:
    if "not find valid file" in output:
        return ("the input folder holds no .bin/.npy files (ais_bench: invalid input folder)",
                "run `bit data` to write one .bin per sample, or point --input at such a folder")
    if m := re.search(r"input path:(\S+) is not a valid dir", output):
        return (f"input folder {m.group(1)} does not exist (ais_bench: invalid input folder)",
                "run `bit data` first, or pass an existing --input folder")
    return None


def _illegal(output: str, _bs: int, flavour: Flavour | None) -> tuple[str, str] | None:
    matches = ILLEGAL.findall(output)
    if not matches:
        return None
    kind, path = matches[-1]  # the exception text at the end names the file; nothing before it does
    return illegal_path(path.strip(), for_output=kind == "output path", flavour=flavour)


def _device(output: str, _bs: int, _flavour: Flavour | None) -> tuple[str, str] | None:
    if m := re.search(r"acl open device (\d+) failed|507033", output):
        dev = m.group(1) if m.group(1) else "?"
        return (f"ais_bench could not open NPU device {dev}",
                "check the logical device ids with `npu-smi info` and set ascend.devices; check the driver")
    return None


def _environment(output: str, _bs: int, _flavour: Flavour | None) -> tuple[str, str] | None:
    if re.search(r"libascendcl\.so|No module named '?(ais_bench|aclruntime)", output):
        return ("ais_bench cannot load CANN (libascendcl.so) or is not installed for this Python",
                "source /usr/local/Ascend/ascend-toolkit/set_env.sh (or set ascend.set_env) and install the "
                "aclruntime and ais_bench wheels")
    return None


def _argparse(output: str, _bs: int, flavour: Flavour | None) -> tuple[str, str] | None:
    matches = ARGPARSE.findall(output)
    if not matches:
        return None
    release = f" ({flavour.label})" if flavour else ""
    return (f"ais_bench{release} rejected its arguments: {matches[-1].strip()}",
            "check the installed ais_bench release with `bit doctor` (bit adapts its flags to it)")


def _model(output: str, _bs: int, _flavour: Flavour | None) -> tuple[str, str] | None:
    if "dynamic batch om model detected" in output:
        return ("the .om has a dynamic batch but ais_bench was not told which batch to use",
                "rebuild a static .om with `bit atc --force` (bit builds one .om per batch size)")
    return None
