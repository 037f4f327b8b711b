"""The stand-in ais_bench's command line, per release (see standin_ais.py for the differences).

Argument types and messages follow the real `__main__.py` of each release
(tools 2022-11/2023 `get_args`, ait 2024 `get_args` with its path-legality types).
"""
from __future__ import annotations

import argparse
import os
import re
import stat

_PATH_CHARS = re.compile(r"^[A-Za-z0-9_\-/.]+$")
NEW = ("2024", "2025")  # the path-security releases


def str2bool(v: str) -> bool:
    if v.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if v.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError("Boolean value expected true, 1, false, 0 with case insensitive.")


def check_positive_integer(value: str) -> int:
    ivalue = int(value)
    if ivalue <= 0:
        raise argparse.ArgumentTypeError(f"{value} is an invalid positive int value")
    return ivalue


def check_nonnegative_integer(value: str) -> int:
    ivalue = int(value)
    if ivalue < 0:
        raise argparse.ArgumentTypeError(f"{value} is an invalid nonnegative int value")
    return ivalue


def check_loop_2025(value: str) -> int:
    ivalue = check_positive_integer(value)
    if ivalue > 100000:
        raise argparse.ArgumentTypeError(f"{value} is an invalid loop value, valid range is [1, 100000]")
    return ivalue


def check_device_range_valid(value: str):
    ids = [int(v) for v in value.split(",")]
    for ivalue in ids:
        if ivalue < 0 or ivalue > 255:
            raise argparse.ArgumentTypeError(f"device:{value} is invalid. valid value range is [0, 255]")
    return ids if "," in value else ids[0]


def check_device_2022_11(value: str) -> int:
    return int(value)  # "0,1" → ValueError → "invalid check_device_2022_11 value"


def path_problem(path: str, *, for_write: bool = False) -> str | None:
    """ait 2024 / tools 2025 path_security_check (§2.8); None when fine."""
    if not _PATH_CHARS.match(os.path.abspath(path)):
        return "path contains invalid characters"
    if os.path.islink(path):
        return "path is a soft link"
    if not os.path.exists(path):
        return None if for_write else "path does not exist"
    st = os.stat(path)
    if st.st_uid != os.getuid() and st.st_gid not in os.getgroups():
        return "path is not owned by the current user or its groups"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "path is writable by group or others"
    return None


def legal_model(value: str) -> str:
    if not value.endswith(".om") or path_problem(value):
        raise argparse.ArgumentTypeError(f"om path:{value} is illegal. Please check.")
    return value


def legal_input(value: str) -> str:
    for item in value.split(","):
        if path_problem(item):
            raise argparse.ArgumentTypeError(f"input path:{item} is illegal. Please check.")
    return value


def legal_output(release: str):
    def check(value: str) -> str:
        bad = path_problem(value, for_write=True)
        if release == "2025" and os.path.isdir(value) and stat.S_IMODE(os.stat(value).st_mode) & ~0o750:
            bad = "mode beyond 0750"  # §8.1: other-read/execute included
        if bad:
            raise argparse.ArgumentTypeError(f"output path:{value} is illegal. Please check.")
        return value
    return check


def get_args(argv: list[str], release: str) -> argparse.Namespace:
    new = release in NEW
    p = argparse.ArgumentParser()  # prog = basename(sys.argv[0]) = __main__.py under -m
    p.add_argument("--model", "--om" if release == "2022-11" else "-m", required=True,
                   type=legal_model if new else str, help="the path of the om model")
    p.add_argument("--input", "-i", default=None, type=legal_input if new else str, help="input file or dir")
    p.add_argument("--output", "-o", default=None, type=legal_output(release) if new else str, help="output path")
    p.add_argument("--output_dirname", default=None, help="actual output directory name")
    p.add_argument("--outfmt", default="BIN", choices=["NPY", "BIN", "TXT"], help="output file format")
    p.add_argument("--loop", "-r" if release == "2022-11" else "-l", default=1,
                   type=check_loop_2025 if release == "2025" else check_positive_integer, help="the round of PureInfer")
    p.add_argument("--debug", type=str2bool, default=False, help="debug switch")
    p.add_argument("--device", "-d", default=0, help="the NPU device ID to use. valid value range is [0, 255]",
                   type=check_device_2022_11 if release == "2022-11" else check_device_range_valid)
    p.add_argument("--dymBatch", type=int, default=0, help="dynamic batch size param")
    p.add_argument("--batchsize", type=check_positive_integer, default=1 if release == "2022-11" else None,
                   help="batch size of input tensor")
    p.add_argument("--pure_data_type", default="zero", choices=["zero", "random"], help="null data type")
    p.add_argument("--output_batchsize_axis", type=check_nonnegative_integer, default=0, help="splitting axis")
    p.add_argument("--run_mode", default="array", choices=["array", "files", "tensor", "full"], help="run mode")
    p.add_argument("--display_all_summary", type=str2bool, default=False, help="display h2d d2h info")
    p.add_argument("--warmup_count", type=check_nonnegative_integer, default=1, help="warmup count before inference")
    if new:
        p.add_argument("--energy_consumption", type=str2bool, default=False, help="obtain power consumption data")
        p.add_argument("--divide_input", type=str2bool, default=False,
                       help="Input datas need to be divided to match multi devices or not, --device should be list")
    args = p.parse_args(argv)
    if args.output_dirname and not args.output:
        p.error("--output_dirname requires --output")
    if release == "2025" and args.warmup_count > 10000:
        raise ValueError(f"warmup_count:{args.warmup_count} is invalid, valid range is [0, 10000]")
    if release == "2025" and args.batchsize is not None and args.batchsize > 4096:
        raise ValueError(f"batchsize:{args.batchsize} is invalid, valid range is [1, 4096]")
    return args


