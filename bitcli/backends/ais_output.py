"""Reading ais_bench's stdout, and turning its known failures into one line with the fix.

Formats (reference/ascend-tools.md §2.6): the throughput line changed twice,
so all three are matched::

    throughput 1000*batchsize.mean(16)/NPU_compute_time.mean(9.1): 1758.0   (tools 2023, ait 2024)
    throughput 1000*batchsize(16)/NPU_compute_time.mean(9.1): 1758.0        (ais_infer 2022-09/11)
    throughput (1000*batchsize/NPU_compute_time): 1758.0                    (ais_infer 2022-06)
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from bitcli.errors import ToolFailed
from bitcli.tools import ToolResult

THROUGHPUT = re.compile(r"throughput 1000\*batchsize(?:\.mean)?\(([^)]*)\)/NPU_compute_time\.mean\(([^)]*)\): (\S+)")
THROUGHPUT_2022_06 = re.compile(r"throughput \(1000\*batchsize/NPU_compute_time\): (\S+)")
NPU_COMPUTE = re.compile(r"NPU_compute_time \(ms\): (.*)$")
STAT_PAIR = re.compile(r"([A-Za-z]+(?:\(\d+%\))?) = ([-+0-9.eE]+|nan|inf)")
SUMMARY_THROUGHPUT = re.compile(r"summary throughput:\s*(\S+)")
DEVICE_THROUGHPUT = re.compile(r"i:(\d+)\s+device_(\d+)\s+throughput:\s*(\S+)")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_\-/.]+$")


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
        return float(text.rstrip(",;"))
    except ValueError:
        return None


def parse_run_output(text: str) -> RunOutput:
    """Parse the throughput, NPU_compute_time, multi-device and ``[ERROR]`` lines of a run."""
    out = RunOutput()
    for raw in text.split("\n"):
        line = raw.rsplit("\r", 1)[-1].strip()
        if (m := THROUGHPUT.search(line)) is not None:
            out.batchsize, out.throughput = m.group(1), _number(m.group(3))
        elif (m := THROUGHPUT_2022_06.search(line)) is not None:
            out.throughput = _number(m.group(1))
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


def ais_failure(res: ToolResult, *, bs: int, no_throughput: bool = False) -> ToolFailed:
    """One error for a failed ais_bench run: what went wrong, the fix, and the command line."""
    parsed = parse_run_output(res.output)
    what, hint = explain(res.output, bs)
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


def explain(output: str, bs: int) -> tuple[str | None, str | None]:
    """Map ais_bench's known error messages to (one-line explanation, fix); (None, None) if unknown."""
    if m := re.search(r"tensorsize: (\d+) filesize: (\d+) not match", output):
        tensor, size = int(m.group(1)), int(m.group(2))
        return (f"input files are {size} bytes each but the bs{bs} model takes {tensor} bytes per batch, "
                f"not a whole number of files (ais_bench: tensorsize/filesize not match)",
                "keep one sample per .bin file (what `bit data` writes) at the image size the model was "
                "exported for (model.image_size); re-run `bit data` or rebuild the model")
    if "not find valid file" in output:
        return ("the input folder holds no .bin/.npy files (ais_bench: invalid input folder)",
                "run `bit data` to write one .bin per sample, or point --input at such a folder")
    if m := re.search(r"input path:(\S+) is not a valid dir", output):
        return (f"input folder {m.group(1)} does not exist (ais_bench: invalid input folder)",
                "run `bit data` first, or pass an existing --input folder")
    if m := re.search(r"(?:input data|input path|output path|model path|om path):(\S+?) is illegal", output):
        return _illegal_path(m.group(1))
    if m := re.search(r"acl open device (\d+) failed|507033", output):
        dev = m.group(1) if m.group(1) else "?"
        return (f"ais_bench could not open NPU device {dev}",
                "check the logical device ids with `npu-smi info` and set ascend.devices; check the driver")
    if re.search(r"libascendcl\.so|No module named '?(ais_bench|aclruntime)", output):
        return ("ais_bench cannot load CANN (libascendcl.so) or is not installed for this Python",
                "source /usr/local/Ascend/ascend-toolkit/set_env.sh (or set ascend.set_env) and install the "
                "aclruntime and ais_bench wheels")
    if "dynamic batch om model detected" in output:
        return ("the .om has a dynamic batch but ais_bench was not told which batch to use",
                "rebuild a static .om with `bit atc --force` (bit builds one .om per batch size)")
    if "save out files error" in output:
        return ("ais_bench could not split the output back into per-file results (files are not one sample each)",
                "keep one sample per .bin file (`bit data`)")
    if m := re.search(r"ais_bench: error: (.*)", output):
        return f"ais_bench rejected its arguments: {m.group(1).strip()}", "check the ais_bench version (bit drives the ait/tools flags)"
    return None, None


def _illegal_path(path: str) -> tuple[str, str]:
    """ait 2024's path-security refusals (reference §2.8), explained by looking at the path itself."""
    p = Path(path)
    if not _SAFE_PATH.match(os.path.abspath(path)):
        return (f"ais_bench refuses the path {path}: only letters, digits, _ - / . are allowed",
                "move the workdir/data to a path without spaces or other special characters")
    if not p.exists() and not p.is_symlink():
        return (f"{path} does not exist (ais_bench: invalid input or output path)",
                "run `bit data` first, or pass an existing --input folder")
    if p.is_symlink():
        return (f"ais_bench refuses {path} because it is a symbolic link",
                "replace the link by the real file or folder (copy it, or point --input/--workdir at the target)")
    try:
        mode = p.stat().st_mode
    except OSError:
        mode = 0
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        where = p.parent if p.is_file() else p
        return (f"ais_bench refuses {path} because it is writable by group or others (mode {stat.filemode(mode)})",
                f"chmod -R go-w {where} (and use umask 022 when writing data)")
    return (f"ais_bench refuses the path {path} (ownership or permissions)",
            "make it owned by you, not writable by group/others (chmod go-w), and not a symlink")
