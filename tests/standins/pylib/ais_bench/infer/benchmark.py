"""The stand-in `python3 -m ais_bench` run: argparse, input batching, outputs, summary, stdout.

Each rule cites reference/ascend-tools.md. Logging goes to stdout as
`[LEVEL] message`; failures print `[ERROR] ...` then raise (exit 1);
argparse problems exit 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import stat
import sys
import time
from pathlib import Path

import numpy as np

VERSION = os.environ.get("STANDIN_AIS_VERSION", "2024")
NEW = VERSION in ("2024", "2023")
_PATH_CHARS = re.compile(r"^[A-Za-z0-9_\-/.]+$")


def log(level: str, msg: str) -> None:
    print(f"[{level}] {msg}", flush=True)


def die(msg: str) -> None:
    log("ERROR", msg)
    raise RuntimeError(msg)


def str2bool(v: str) -> bool:
    if v.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if v.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError("Boolean value expected true, 1, false, 0 with case insensitive.")


def pos_int(v: str) -> int:
    if not v.isdigit() or int(v) <= 0:
        raise argparse.ArgumentTypeError(f"{v} is an invalid positive int value")
    return int(v)


def nonneg_int(v: str) -> int:
    if not v.isdigit():
        raise argparse.ArgumentTypeError(f"{v} is an invalid nonnegative int value")
    return int(v)


def device_list(v: str):
    try:
        ids = [int(x) for x in v.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"device id:{v} is invalid. valid value range is [0, 255]") from None
    if any(i < 0 or i > 255 for i in ids):
        raise argparse.ArgumentTypeError(f"device id:{v} is invalid. valid value range is [0, 255]")
    return ids[0] if len(ids) == 1 else ids


def path_problem(path: str, *, for_write: bool = False) -> str | None:
    """ait 2024 path_security_check (§2.8); None when fine."""
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


def model_path(v: str) -> str:
    if VERSION == "2024":
        if not v.endswith(".om"):
            raise argparse.ArgumentTypeError(f"model path:{v} is not an .om file")
        problem = path_problem(v)
        if problem:
            log("ERROR", f"model path:{v} is illegal: {problem}")
            print("[SOLUTION] visit https://gitee.com/ascend/ait/wikis for detailed solution", flush=True)
            raise argparse.ArgumentTypeError(f"om path:{v} is illegal. Please check.")
    return v


def get_args(argv):
    p = argparse.ArgumentParser(prog="ais_bench")
    p.add_argument("--model", "-m", required=True, type=model_path)
    p.add_argument("--input", "-i", default=None)
    p.add_argument("--output", "-o", default=None)
    p.add_argument("--output_dirname", default=None)
    p.add_argument("--outfmt", default="BIN", choices=["NPY", "BIN", "TXT"])
    p.add_argument("--loop", "-l", type=pos_int, default=1)
    p.add_argument("--debug", type=str2bool, default=False)
    p.add_argument("--device", "-d", type=device_list, default=0)
    p.add_argument("--dymBatch", type=int, default=0)
    p.add_argument("--batchsize", type=pos_int, default=1 if VERSION in ("2022-09", "2022-06") else None)
    p.add_argument("--pure_data_type", default="zero", choices=["zero", "random"])
    p.add_argument("--output_batchsize_axis", type=nonneg_int, default=0)
    p.add_argument("--run_mode", default="array", choices=["array", "files", "tensor", "full"])
    p.add_argument("--display_all_summary", type=str2bool, default=False)
    p.add_argument("--warmup_count", "--warmup-count", type=nonneg_int, default=1)
    args = p.parse_args(argv)
    if args.output_dirname and not args.output:
        p.error("--output_dirname requires --output")
    if VERSION == "2024" and args.output_dirname and os.path.isabs(args.output_dirname):
        p.error("--output_dirname must be a relative name")
    return args


def natural_key(path: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path)]


def list_input_files(directory: str) -> list[str]:
    """§2.3 step 1-2 (and §2.8 for every entry in 2024)."""
    if not os.path.isdir(directory):
        die(f"input path:{directory} is not a valid dir or file")
    entries = sorted(os.listdir(directory))
    if VERSION == "2024":
        for name in entries:
            full = os.path.join(directory, name)
            problem = path_problem(full)
            if problem:
                log("ERROR", f"input data:{full} is illegal ({problem})")
                print("[SOLUTION] visit https://gitee.com/ascend/ait/wikis for detailed solution", flush=True)
                raise RuntimeError(f"input data:{full} is illegal")
    files = [os.path.join(directory, n) for n in entries
             if n.endswith((".bin", ".BIN", ".npy", ".NPY")) and os.path.isfile(os.path.join(directory, n))]
    if not files:
        die(f"{directory} of input args not find valid file,valid file format:[*.npy *.NPY *.bin *.BIN]")
    return sorted(files, key=natural_key)


def file_bytes(path: str) -> int:
    return int(np.load(path).nbytes) if path.lower().endswith(".npy") else os.path.getsize(path)


def load_file(path: str) -> bytes:
    return np.load(path).tobytes() if path.lower().endswith(".npy") else Path(path).read_bytes()


PAD = "padding_infer_fake_file"


def make_groups(files: list[str], tensor_size: int) -> tuple[list[list[str]], int]:
    """§2.3 steps 3-5: byte-based files per batch, ceil run count, placeholder padding."""
    size = file_bytes(files[0])
    if size == 0 or tensor_size % size != 0:
        die(f"arg0 tensorsize: {tensor_size} filesize: {size} not match")
    per_batch = tensor_size // size
    runs = math.ceil(len(files) / per_batch)
    log("INFO", f"get filesperbatch files0 size:{size} tensor0size:{tensor_size} filesperbatch:{per_batch} runcount:{runs}")
    groups = [files[i * per_batch:(i + 1) * per_batch] for i in range(runs)]
    groups[-1] = groups[-1] + [PAD] * (per_batch - len(groups[-1]))
    return groups, per_batch


def group_array(group: list[str], desc: dict) -> np.ndarray:
    data = b"".join(load_file(group[0] if f == PAD else f) for f in group)
    need = int(np.prod(desc["shape"])) * np.dtype(desc["dtype"]).itemsize
    if len(data) != need:
        die(f"ndata size:{len(data)} not match {need}")
    return np.frombuffer(data, dtype=desc["dtype"]).reshape(desc["shape"])


def save_output(arr: np.ndarray, path: str, fmt: str) -> None:
    if fmt == "BIN":
        arr.tofile(path)
    elif fmt == "NPY":
        np.save(path, arr)
    else:
        rows = arr.reshape(-1, arr.shape[-1]) if arr.ndim else arr.reshape(1, 1)
        spec = "%f" if arr.dtype.kind == "f" else "%d"
        with open(path, "w") as fh:
            for row in rows:
                fh.write("".join((spec % v) + " " for v in row) + "\n")


def stats(times: list[float]) -> dict:
    if not times:
        return {"min": 0.0, "max": 0.0, "mean": 0.0, "median": 0.0, "percentile(99%)": 0.0, "count": 0}
    a = np.array(times)
    return {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean()), "median": float(np.median(a)),
            "percentile(99%)": float(np.percentile(a, 99)), "count": len(times)}


def throughput_line(bs, mean, tp) -> str:
    if VERSION in ("2024", "2023"):
        return f"throughput 1000*batchsize.mean({bs})/NPU_compute_time.mean({mean}): {tp}"
    if VERSION in ("2022-11", "2022-09"):
        return f"throughput 1000*batchsize({bs})/NPU_compute_time.mean({mean}): {tp}"
    return f"throughput (1000*batchsize/NPU_compute_time): {tp}"


def display(s: dict, bs, all_summary: bool) -> None:
    log("INFO", "-----------------Performance Summary------------------")
    line = "{0} (ms): min = {1}, max = {2}, mean = {3}, median = {4}, percentile(99%) = {5}"
    keys = ["NPU_compute_time"] if not all_summary else ["H2D_latency", "NPU_compute_time", "D2H_latency"]
    for key in keys:
        v = s[key]
        log("INFO", line.format(key, v["min"], v["max"], v["mean"], v["median"], v["percentile(99%)"]))
    log("INFO", throughput_line(bs, s["NPU_compute_time"]["mean"], s["throughput"]))
    log("INFO", "-" * 54)


class Session:
    """One device's model (wraps the stand-in om + onnxruntime)."""

    def __init__(self, device: int, model: str):
        from ais_bench.infer.interface import InferSession

        log("INFO", "acl init success")
        try:
            self.s = InferSession(device, model)
        except RuntimeError as exc:
            die(str(exc))
        except (ValueError, OSError) as exc:
            die(f"load model from file failed, model file is {model} ({exc})")
        log("INFO", f"open device {device} success")
        log("INFO", "create new context")
        log("INFO", f"load model {model} success")
        log("INFO", "create model description success")
        self.device, self.meta = device, self.s.meta
        self.times: list[float] = []

    def run(self, arrays, loop: int, record: bool = True, show_loop: bool = False):
        feed = {d["name"]: a for d, a in zip(self.meta["inputs"], arrays)}
        outs = None
        for i in range(loop):
            t0 = time.perf_counter()
            outs = self.s._sess.run(None, feed)
            if record:
                self.times.append((time.perf_counter() - t0) * 1000.0)
            if show_loop:
                sys.stdout.write(f"\rloop inference exec: ({i + 1}/{loop})")
        if show_loop:
            sys.stdout.write("\n")
        return outs


def run_device(args, device: int, files: list[str] | None, result_dir: str | None) -> dict:
    sess = Session(device, args.model)
    desc = sess.meta["inputs"][0]
    batchsize = args.batchsize
    if batchsize is None:
        batchsize = desc["shape"][0]
        log("INFO", f"try get model batchsize:{batchsize}")
    if result_dir:
        os.makedirs(result_dir, mode=0o750 if VERSION == "2024" else 0o755, exist_ok=True)
        log("INFO", f"output path:{result_dir}")
    filesinfo: dict = {}
    if files is None:  # pure inference (§2.6 --loop)
        fill = np.zeros if args.pure_data_type == "zero" else (lambda s, dtype: np.random.randint(0, 256, s).astype(dtype))
        arrays = [fill(d["shape"], dtype=d["dtype"]) for d in sess.meta["inputs"]]
        for _ in range(args.warmup_count):
            sess.run(arrays, 1, record=False)
        log("INFO", f"warm up {args.warmup_count} done")
        outs = sess.run(arrays, args.loop, show_loop=True)
        if result_dir:
            for k, out in enumerate(outs):
                save_output(out, os.path.join(result_dir, f"pure_infer_data_{k}.{args.outfmt.lower()}"), args.outfmt)
    else:
        tensor_size = int(np.prod(desc["shape"])) * np.dtype(desc["dtype"]).itemsize
        groups, per_batch = make_groups(files, tensor_size)
        for _ in range(args.warmup_count):
            sess.run([group_array(groups[0], desc)], 1, record=False)
        log("INFO", f"warm up {args.warmup_count} done")
        for b, group in enumerate(groups):
            outs = sess.run([group_array(group, desc)], args.loop)
            if result_dir:
                write_group(args, b, group, per_batch, outs, result_dir, filesinfo)
        print(f"Inference array Processing: 100%|##########| {len(groups)}/{len(groups)} [00:01<00:00]", flush=True)
    s = {"filesinfo": filesinfo, "args": sys.argv, "NPU_compute_time": stats(sess.times),
         "H2D_latency": stats([]), "D2H_latency": stats([])}
    mean = s["NPU_compute_time"]["mean"]
    s["throughput"] = 1000 * batchsize / mean if mean else 0
    s["npu_compute_time_list"] = list(sess.times)
    if VERSION != "2024":  # tools 2023 key order: throughput before the list
        s = {k: s[k] for k in ["filesinfo", "args", "NPU_compute_time", "H2D_latency", "D2H_latency", "throughput", "npu_compute_time_list"]}
    s["pid"] = os.getpid()
    display(s, batchsize, args.display_all_summary)
    if result_dir:
        write_summary(s, result_dir)
    log("INFO", "unload model success, model Id is 1")
    log("INFO", f"end to reset device {device}")
    log("INFO", "end to finalize acl")
    return s


def write_group(args, b, group, per_batch, outs, result_dir, filesinfo) -> None:
    """§2.4: one file per input file per output, `<stem>_<k>.<fmt>`; placeholders get none."""
    parts = []
    for out in outs:
        if out.shape[args.output_batchsize_axis] % len(group):
            die(f"save out files error array shape:{out.shape} filesinfo:{group} files_count_perbatch:{len(group)}")
        parts.append(np.split(out, len(group), axis=args.output_batchsize_axis))
    for j, infile in enumerate(group):
        if infile == PAD:
            continue
        sample = b * per_batch + j
        stem = os.path.basename(infile).split(".")[0]
        outfiles = []
        for k, split in enumerate(parts):
            name = f"sample_id_{sample}_output_{k}" if VERSION == "2022-06" else f"{stem}_{k}"
            path = os.path.join(result_dir, f"{name}.{args.outfmt.lower()}")
            save_output(split[j], path, args.outfmt)
            outfiles.append(path)
        filesinfo[str(sample)] = {"infiles": [infile], "outfiles": outfiles}


def write_summary(s: dict, result_dir: str) -> None:
    """§2.4: sumary.json inside the folder (2022-06/09), else the sibling <dir>_summary.json."""
    if VERSION in ("2022-09", "2022-06"):
        path = os.path.join(result_dir, "sumary.json")
    else:
        path = result_dir.rstrip("/") + "_summary.json"
    with open(path, "w") as fh:
        json.dump(s, fh)


def main(argv) -> int:
    args = get_args(argv)
    allowed = [int(x) for x in os.environ.get("STANDIN_NPU_DEVICES", "0,1,2,3").split(",") if x]
    devices = args.device if isinstance(args.device, list) else [args.device]
    if VERSION == "2024":
        for p in [args.input] if args.input else []:
            problem = path_problem(p)
            if problem:
                log("ERROR", f"input path:{p} is illegal ({problem})")
                raise RuntimeError(f"input path:{p} is illegal")
        if args.output:
            problem = path_problem(args.output, for_write=True)
            if problem:
                log("ERROR", f"output path:{args.output} is illegal ({problem})")
                print("[SOLUTION] visit https://gitee.com/ascend/ait/wikis for detailed solution", flush=True)
                raise RuntimeError(f"output path:{args.output} is illegal")
    files = list_input_files(args.input) if args.input else None
    result_dir = None
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        if VERSION == "2024":
            os.chmod(args.output, 0o750)
        result_dir = os.path.join(args.output, args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S"))
    if len(devices) == 1:
        if devices[0] not in allowed:
            die(f"acl open device {devices[0]} failed")
        run_device(args, devices[0], files, result_dir)
        return 0
    return multidevice(args, devices, allowed, files, result_dir)


def multidevice(args, devices, allowed, files, result_dir) -> int:
    """§2.4 / §2.6 multi-device: per-device folders, per-device summaries, summed throughput."""
    prefix = "[INFO] " if VERSION == "2024" else ""
    print(f"{prefix}multidevice:{devices} run begin", flush=True)
    total, ok = 0.0, True
    for i, dev in enumerate(devices):
        if dev not in allowed:
            log("ERROR", f"acl open device {dev} failed")
            ok = False
            continue
        if VERSION == "2024":
            sub, chunk = f"device{dev}_{i}", files
        else:  # tools 2023 split the input between devices
            sub = f"device{dev}"
            chunk = None if files is None else files[i * math.ceil(len(files) / len(devices)):(i + 1) * math.ceil(len(files) / len(devices))]
        start = time.time()
        s = run_device(args, dev, chunk, os.path.join(result_dir, sub) if result_dir else None)
        total += s["throughput"]
        print(f"{prefix}i:{i} device_{dev} throughput:{s['throughput']}        start_time:{start} end_time:{time.time()}", flush=True)
    print(f"{prefix}multidevice run end qsize:{len(devices)} result:{ok}", flush=True)
    print(f"{prefix}summary throughput:{total}", flush=True)
    return 0 if ok else 1
