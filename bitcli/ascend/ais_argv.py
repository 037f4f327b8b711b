"""ais_bench command lines, built for the installed release, and the limits checked before calling.

The seed's command (reference/ascend-tools.md §1 step 5), with the result
folder named and the batch size given::

    python3 -m ais_bench --model bit_bs16.om --input dataset_bin --output result
        --output_dirname result_bs16 --outfmt BIN --batchsize 16 --device 0

Several devices: ``--device 0,1``, plus ``--divide_input true`` on releases
that otherwise give every device the whole folder (ait 2024, tools 2025).
tools 2022-11 takes one integer ``--device``: the caller runs one process per
device (:mod:`bitcli.ascend.ais_run`).
"""

from __future__ import annotations

import os
from pathlib import Path

from bitcli.ascend.flavours import MAX_BATCHSIZE, MAX_FILES, MAX_LOOP, MAX_WARMUP, Flavour
from bitcli.errors import ConfigError, DataError


def device_arg(devices: tuple[int, ...] | list[int]) -> str:
    """``--device`` value: ``0`` or ``0,1``."""
    return ",".join(str(d) for d in devices)


def folder_argv(python: str, om: Path, input_dir: Path, output_root: Path, dirname: str, *, bs: int,
                devices: tuple[int, ...], flavour: Flavour) -> list[str]:
    """Whole-folder inference: one output file per input file, summary beside the result folder."""
    argv = [python, "-m", "ais_bench", "--model", str(om), "--input", str(input_dir), "--output", str(output_root),
            "--output_dirname", dirname, "--outfmt", "BIN", "--batchsize", str(bs), "--device", device_arg(devices)]
    if len(devices) > 1 and flavour.divide_flag:
        argv += ["--divide_input", "true"]  # else every device infers every file
    return argv


def bench_argv(python: str, om: Path, scratch: Path, dirname: str, *, loop: int, warmup: int, bs: int,
               devices: tuple[int, ...]) -> list[str]:
    """Pure inference: ``loop`` timed runs after ``warmup``; ``--output`` so the times are written."""
    return [python, "-m", "ais_bench", "--model", str(om), "--loop", str(loop), "--batchsize", str(bs),
            "--device", device_arg(devices), "--warmup_count", str(warmup), "--output", str(scratch),
            "--output_dirname", dirname]


def check_run_limits(flavour: Flavour, *, bs: int, loop: int | None = None, warmup: int | None = None) -> None:
    """tools 2025's limits on --loop, --warmup_count and --batchsize, before anything runs.

    Raises:
        ConfigError: a value over the limit, with the largest accepted one.
    """
    if not flavour.limits:
        return
    for flag, value, limit, key in (("--loop", loop, MAX_LOOP, "bench.loop"),
                                    ("--warmup_count", warmup, MAX_WARMUP, "bench.warmup"),
                                    ("--batchsize", bs, MAX_BATCHSIZE, "--bs")):
        if value is not None and value > limit:
            raise ConfigError(f"ais_bench ({flavour.label}) accepts {flag} up to {limit}, not {value}",
                              hint=f"lower {key} to {limit} or less")


def check_folder_limit(flavour: Flavour, input_dir: Path) -> None:
    """tools 2025 reads at most 100000 files from one input folder.

    Raises:
        DataError: the folder holds more, with the fix (several folders).
    """
    if not flavour.limits or not Path(input_dir).is_dir():
        return  # a missing folder is ais_bench's own error, explained from its output
    with os.scandir(input_dir) as entries:
        count = sum(1 for _ in entries)
    if count > MAX_FILES:
        raise DataError(
            f"{input_dir} holds {count} files; ais_bench ({flavour.label}) reads at most {MAX_FILES} from one folder",
            hint=f"split the samples into folders of at most {MAX_FILES} files (`bit data --limit`) and infer each",
        )
