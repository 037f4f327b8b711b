"""The stand-in `python3 -m ais_bench`, for the four releases that existed (reference/ascend-tools.md §2, §8).

Each release package under tests/standins/ais_bench/<release>/ calls
``main(argv, release)``. What differs (and nothing else):

  2022-11  tools  `--model/--om`, `--loop/-r`, one integer `--device` (a list is an argparse
                  error), `--batchsize` default 1, throughput line `1000*batchsize(N)`, no path checks,
                  result folders 0755, summary with `throughput` before the time list
  2023     tools  `-m`, `-l`, `--device 0,1` always splits the files, folders `device{D}`,
                  per-device line printed without `[INFO] `, folders 0755
  2024     ait    `--divide_input` (without it every device runs the whole input), folders
                  `device{D}_{i}`, path-security checks (§2.8), result folders 0750 and an existing
                  --output chmodded to 0750, `input data:… is illegal` raised without logging the path
  2025     tools  as 2024, plus: an existing --output with any mode bit beyond 0750 is refused
                  (exit 2), --loop ≤ 100000 (exit 2), --warmup_count ≤ 10000 and --batchsize ≤ 4096
                  (ValueError, exit 1), at most 100000 files in an input folder

argparse errors read `__main__.py: error: …` (the program is named after the file run).
Logging goes to stdout as `[LEVEL] message`; failures raise (exit 1, traceback on stderr).

Test knobs (environment), none of which changes what a release accepts:
  STANDIN_NPU_DEVICES        comma list of device ids that exist (default 0,1,2,3)
  STANDIN_AIS_LATENCY_MS     hand-chosen NPU compute times per device, cycled: "0:1,2,6;1:4,4,10"
                             (outputs are still computed; only the recorded times are these)
  STANDIN_AIS_NO_SUMMARY_LINE=1  multi-device: do not print `summary throughput:` (bit must sum itself)
  STANDIN_AIS_LOG            append "device<TAB>input file" for every real sample inferred
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import sys
import time

import numpy as np
import standin_om
from standin_ais_args import NEW, get_args, path_problem

PAD = "padding_infer_fake_file"


def log(level: str, msg: str) -> None:
    print(f"[{level}] {msg}", flush=True)


def die(msg: str) -> None:
    log("ERROR", msg)
    raise RuntimeError(msg)


# --------------------------------------------------------------------------- inputs (§2.3)


def natural_key(path: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path)]


def list_input_files(directory: str, release: str) -> list[str]:
    if not os.path.isdir(directory):
        die(f"input path:{directory} is not a valid dir or file")
    entries = sorted(os.listdir(directory))
    if release == "2025" and len(entries) > 100000:
        die(f"the number of files in {directory} exceeds 100000")
    if release in NEW:
        for name in entries:
            f_true_path = os.path.join(directory, name)
            if path_problem(f_true_path):
                raise RuntimeError(f"input data:{f_true_path} is illegal")  # §8.2: not logged first
    files = [os.path.join(directory, n) for n in entries
             if n.endswith((".bin", ".BIN", ".npy", ".NPY")) and os.path.isfile(os.path.join(directory, n))]
    if not files:
        die(f"{directory} of input args not find valid file,valid file format:[*.npy *.NPY *.bin *.BIN]")
    return sorted(files, key=natural_key)


def file_bytes(path: str) -> int:
    return int(np.load(path).nbytes) if path.lower().endswith(".npy") else os.path.getsize(path)


def load_file(path: str) -> bytes:
    return np.load(path).tobytes() if path.lower().endswith(".npy") else open(path, "rb").read()


def make_groups(files: list[str], tensor_size: int) -> tuple[list[list[str]], int]:
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


def split_files(files: list[str], jobs: int) -> list[list[str]]:
    """tools 2023 `split_inputs_new` / ait `--divide_input`: contiguous chunks of ceil(n / jobs)."""
    size = math.ceil(len(files) / jobs)
    return [files[i * size:(i + 1) * size] for i in range(jobs)]


# --------------------------------------------------------------------------- outputs and summary (§2.4–2.6)


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


def display(s: dict, bs, release: str) -> None:
    log("INFO", "-----------------Performance Summary------------------")
    v = s["NPU_compute_time"]
    log("INFO", f"NPU_compute_time (ms): min = {v['min']}, max = {v['max']}, mean = {v['mean']}, "
                f"median = {v['median']}, percentile(99%) = {v['percentile(99%)']}")
    what = "batchsize" if release == "2022-11" else "batchsize.mean"
    log("INFO", f"throughput 1000*{what}({bs})/NPU_compute_time.mean({v['mean']}): {s['throughput']}")
    log("INFO", "-" * 54)


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
        stem = os.path.basename(infile).split(".")[0]
        outfiles = []
        for k, split in enumerate(parts):
            path = os.path.join(result_dir, f"{stem}_{k}.{args.outfmt.lower()}")
            save_output(split[j], path, args.outfmt)
            outfiles.append(path)
        filesinfo[str(b * per_batch + j)] = {"infiles": [infile], "outfiles": outfiles}


# --------------------------------------------------------------------------- one device


class Session:
    """One device's model: the stand-in .om run by onnxruntime, timed (or the hand-chosen times)."""

    def __init__(self, device: int, model: str):
        log("INFO", "acl init success")
        allowed = [int(x) for x in os.environ.get("STANDIN_NPU_DEVICES", "0,1,2,3").split(",") if x]
        if device not in allowed:
            die(f"acl open device {device} failed")
        try:
            self.meta, onnx_bytes = standin_om.read_om(model)
        except (ValueError, OSError) as exc:
            die(f"load model from file failed, model file is {model} ({exc})")
        self.sess = standin_om.session(onnx_bytes)
        log("INFO", f"open device {device} success")
        log("INFO", f"load model {model} success")
        self.device, self.times = device, []
        self.fixed = _fixed_latencies(device)

    def run(self, arrays, loop: int, record: bool = True):
        feed = {d["name"]: a for d, a in zip(self.meta["inputs"], arrays)}
        outs = None
        for i in range(loop):
            t0 = time.perf_counter()
            outs = self.sess.run(None, feed)
            took = (time.perf_counter() - t0) * 1000.0
            if record:
                self.times.append(next(self.fixed) if self.fixed else took)
            if loop > 1:
                sys.stdout.write(f"\rloop inference exec: ({i + 1}/{loop})")
        if loop > 1:
            sys.stdout.write("\n")
        return outs


def _fixed_latencies(device: int):
    for part in filter(None, os.environ.get("STANDIN_AIS_LATENCY_MS", "").split(";")):
        dev, _, values = part.partition(":")
        if int(dev) == device:
            return itertools.cycle([float(v) for v in values.split(",")])
    return None


def run_device(args, release: str, device: int, files: list[str] | None, result_dir: str | None) -> dict:
    sess = Session(device, args.model)
    desc = sess.meta["inputs"][0]
    batchsize = args.batchsize
    if batchsize is None:
        batchsize = desc["shape"][0]
        log("INFO", f"try get model batchsize:{batchsize}")
    if result_dir:
        os.makedirs(result_dir, mode=0o750 if release in NEW else 0o755, exist_ok=True)
        log("INFO", f"output path:{result_dir}")
    filesinfo: dict = {}
    if files is None:  # pure inference (§2.6 --loop)
        arrays = [np.zeros(d["shape"], dtype=d["dtype"]) for d in sess.meta["inputs"]]
        for _ in range(args.warmup_count):
            sess.run(arrays, 1, record=False)
        log("INFO", f"warm up {args.warmup_count} done")
        outs = sess.run(arrays, args.loop)
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
            _log_inferred(device, [f for f in group if f != PAD])
            if result_dir:
                write_group(args, b, group, per_batch, outs, result_dir, filesinfo)
        print(f"Inference array Processing: 100%|##########| {len(groups)}/{len(groups)} [00:01<00:00]", flush=True)
    s = summary(filesinfo, sess.times, batchsize, release)
    display(s, batchsize, release)
    if result_dir:
        with open(result_dir.rstrip("/") + "_summary.json", "w") as fh:  # §2.4: sibling, every release here
            json.dump(s, fh)
    log("INFO", f"end to reset device {device}")
    return s


def summary(filesinfo: dict, times: list[float], batchsize: int, release: str) -> dict:
    st = stats(times)
    s = {"filesinfo": filesinfo, "args": sys.argv, "NPU_compute_time": st, "H2D_latency": stats([]),
         "D2H_latency": stats([]), "npu_compute_time_list": list(times),
         "throughput": 1000 * batchsize / st["mean"] if st["mean"] else 0, "pid": os.getpid()}
    if release not in NEW:  # tools 2022-11 / 2023 key order: throughput before the list
        order = ["filesinfo", "args", "NPU_compute_time", "H2D_latency", "D2H_latency", "throughput",
                 "npu_compute_time_list", "pid"]
        s = {k: s[k] for k in order}
    return s


def _log_inferred(device: int, files: list[str]) -> None:
    target = os.environ.get("STANDIN_AIS_LOG")
    if target:
        with open(target, "a") as fh:
            fh.writelines(f"{device}\t{f}\n" for f in files)


# --------------------------------------------------------------------------- the program


def main(argv: list[str], release: str) -> int:
    args = get_args(argv, release)
    devices = args.device if isinstance(args.device, list) else [args.device]
    files = list_input_files(args.input, release) if args.input else None
    result_dir = None
    if args.output:
        os.makedirs(args.output, mode=0o750 if release in NEW else 0o755, exist_ok=True)
        if release == "2024":
            os.chmod(args.output, 0o750)  # ait 2024 tightens --output itself (§2.4)
        result_dir = os.path.join(args.output, args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S"))
    if len(devices) == 1:
        run_device(args, release, devices[0], files, result_dir)
        return 0
    return multidevice(args, release, devices, files, result_dir)


def multidevice(args, release: str, devices: list[int], files, result_dir) -> int:
    """§2.6 / §8.7: per-device folders and summaries; exit 1 unless every device reported back."""
    log("INFO", f"multidevice:{devices} run begin")
    divide = release == "2023" or getattr(args, "divide_input", False)
    shares = split_files(files, len(devices)) if files is not None and divide else [files] * len(devices)
    results = []
    for i, dev in enumerate(devices):
        sub = f"device{dev}" if release == "2023" else f"device{dev}_{i}"
        start = time.time()
        try:
            s = run_device(args, release, dev, shares[i], os.path.join(result_dir, sub) if result_dir else None)
        except RuntimeError as exc:
            log("ERROR", f"subprocess run failed error_callback:{exc}")
            continue
        results.append((i, dev, s["throughput"], start, time.time()))
    ok = len(results) == len(devices)
    log("INFO", f"multidevice run end qsize:{2 * len(results)} result:{0 if ok else 1}")
    prefix = "" if release == "2023" else "[INFO] "  # tools 2023 print()s this line
    for i, dev, tp, start, end in results:
        print(f"{prefix}i:{i} device_{dev} throughput:{tp}            start_time:{start} end_time:{end}", flush=True)
    if not os.environ.get("STANDIN_AIS_NO_SUMMARY_LINE"):
        log("INFO", f"summary throughput:{sum(r[2] for r in results)}")
    return 0 if ok else 1
