"""One row per backend × precision × bs against onnxruntime fp32, every model made by `bit` itself (issue 16's table).

Prints figures; asserts nothing (STYLE.md: honest benchmarks, no timed tests).

    python tests/bench/bench_precisions.py [--workdir /tmp/bit_bench_precisions] [--bs 1,4,8] [--full-bs 8]
                                           [--rounds 3] [--loop 8] [--reuse] [--bit-all]

Where ``bench_openvino.py`` compares recipes and artefact formats at one bs, this script measures what a user
gets from the product's defaults (``bitcli/default.yaml``), so the table is the one a closing note quotes:

1. Prints the CPU model and flags and the precisions offered (``bench_openvino.cpu_header``).
2. Two workdirs under ``--workdir``, ``onnxruntime/`` and ``openvino/`` (profile: the trained
   ``../shared/data/bit-r50x1-cifar10/bit.pth``, the 10,000 CIFAR-10 test images, ``backend:`` that name):
   ``bit data``, ``bit export``, ``bit simplify --bs …`` in each. Two, because the int8 artefact has one name
   per bs and its engine follows the backend (onnxruntime's quantizer for onnxruntime, NNCF for openvino).
3. ``bit quantize --bs N --force`` once per engine and bs, each in its own process: its wall time and peak RSS
   (the process's own VmHWM) are the row's calibration cost; the guard's figures come from the sidecar.
   ``--reuse`` keeps int8 models (and their recorded costs) from an earlier run of this script.
4. Speed per bs (``bench_openvino.speed``): ``--rounds`` rounds, each timing every row in turn for ``--loop``
   batches after one untimed batch; img/s from the median and best latency, × = median of the per-round ratios
   to onnxruntime fp32, so drifting load hits every row alike.
5. Accuracy against onnxruntime fp32 at the same bs (``bitcli.logit_metrics.compare_logits``): all 10,000 images
   at ``--full-bs``; at the other sizes the guard's own held-out images (from the openvino sidecar), which no
   calibration saw. The fp32 reference logits of all 10,000 are cached in the workdir by model digest.
6. ``--bit-all``: ``bit all --bs …`` over all 10,000 images from empty workdirs, onnxruntime fp32 and then
   ``--backend openvino --precision int8`` (``--all-precision`` to change it), wall time of each and the ratio
   (issue 16: ≤ 50%), with the report's seconds per step.

The table and every figure are also written to ``WORKDIR/bench_precisions.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))
import bench_openvino as bo  # noqa: E402  (the sibling benchmark: CPU header, images, timing)

ENGINE_DIRS = ("onnxruntime", "openvino")  # workdir name = backend; its int8 engine follows (quantize.engine: auto)


# Runs `bit` and writes the process's own high-water mark (bytes) to the file named first: wait4's
# ru_maxrss would do, but Linux carries the parent's peak into a child's ru_maxrss at exec, and this
# benchmark's process holds models and 10,000 logits by the time it starts `bit all`.
_LAUNCH = ("import atexit, runpy, sys; from bitcli.resources import resident_bytes; out = sys.argv.pop(1); "
           "atexit.register(lambda: open(out, 'w').write(str(resident_bytes(peak=True)))); sys.argv[0] = 'bit'; "
           "runpy.run_module('bitcli', run_name='__main__', alter_sys=True)")


def run_child(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run ``bit ARGV`` in ``cwd``: (wall s, peak RSS MiB of that process, stdout); exits on failure."""
    hwm = cwd / ".bench_vmhwm"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _LAUNCH, str(hwm), *argv], cwd=cwd, text=True, capture_output=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"bit {' '.join(argv)} failed (exit {proc.returncode}) in {cwd}:\n{proc.stderr[-3000:]}")
    peak = int(hwm.read_text()) / 1024**2
    hwm.unlink()
    return wall, peak, proc.stdout


def profile(folder: Path, backend: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bit.yaml").write_text(
        f"backend: {backend}\ndataset:\n  path: {bo.CIFAR}\nmodel:\n  weights: {bo.PTH}\n")


def prepare(work: Path, sizes: list[int]) -> dict[str, Path]:
    """``bit data / export / simplify`` in one workdir per engine; returns backend → its ``bit_work`` folder."""
    out = {}
    for backend in ENGINE_DIRS:
        folder = work / backend
        profile(folder, backend)
        start = time.perf_counter()
        for step in (["data"], ["export"], ["simplify", "--bs", ",".join(map(str, sizes))]):
            run_child([*step, "-p", "bit.yaml", "-q"], folder)
        bo.say(f"{backend}/: data, export, simplify --bs {','.join(map(str, sizes))} in {time.perf_counter() - start:.0f} s")
        out[backend] = folder / "bit_work"
    return out


def quantize(folder: Path, bs: int, reuse: bool) -> dict:
    """``bit quantize --bs BS`` in its own process; the sidecar plus this run's wall time and peak RSS."""
    model = folder / f"bit_bs{bs}_int8.onnx"
    saved = folder.parent / f"bench_quantize_bs{bs}.json"
    if reuse and model.is_file() and saved.is_file():
        bo.say(f"  reusing {folder.parent.name}/{model.name} (calibration figures of the run that made it)")
        return json.loads(saved.read_text())
    wall, peak, _ = run_child(["quantize", "-p", "bit.yaml", "--bs", str(bs), "--force", "-q"], folder.parent)
    sidecar = json.loads(model.with_name(model.name + ".json").read_text())
    cost = {"wall_s": wall, "peak_rss_mib": peak, "engine": sidecar["recipe"]["engine"],
            "memory_bound_mib": stated_bound_mib(sidecar), "guard": sidecar["guard"],
            "reduce_range": sidecar["recipe"].get("reduce_range"), "op_types": sidecar["recipe"].get("op_types")}
    saved.write_text(json.dumps(cost))
    g = cost["guard"]
    bo.say(f"  {folder.parent.name}/{model.name}: {wall:.0f} s, peak RSS {peak:.0f} MiB (bound "
           f"{cost['memory_bound_mib']} MiB); guard on {g['samples']} held-out: agreement {g['agreement']:.2%}, "
           f"Δtop-1 {g['delta_top1'] * 100:+.2f} pt, passed {g['passed']}")
    return cost


def stated_bound_mib(sidecar: dict) -> int | None:
    """The memory figure `bit quantize` said before calibrating: NNCF's bound for the process, or onnxruntime's
    estimate of its histogram chunks' activations (``bitcli.quant.calib.MemoryPlan``; none for minmax)."""
    from bitcli.quant.calib import COPIES, HISTOGRAM_METHODS

    if sidecar["recipe"].get("memory_bound_mib") is not None:
        return sidecar["recipe"]["memory_bound_mib"]
    plan = sidecar.get("calibration_memory") or {}
    if sidecar["recipe"].get("method") not in HISTOGRAM_METHODS or not plan.get("per_image_bytes"):
        return None
    return round(plan["per_image_bytes"] * COPIES * plan["chunk_images"] / 1024**2)


def open_rows(bs: int, dirs: dict[str, Path]) -> dict[str, object]:
    from bitcli.backends.base import BackendOptions
    from bitcli.backends.onnxrt import OnnxRuntimeBackend
    from bitcli.backends.openvino import OpenVinoBackend
    from bitcli.cpu import detect

    ort, ov = dirs["onnxruntime"], dirs["openvino"]
    specs = {
        "onnxruntime fp32": (OnnxRuntimeBackend, ort / f"bit_bs{bs}_sim.onnx", "fp32"),
        "onnxruntime int8": (OnnxRuntimeBackend, ort / f"bit_bs{bs}_int8.onnx", "int8"),
        "openvino fp32": (OpenVinoBackend, ov / f"bit_bs{bs}_sim.onnx", "fp32"),
        "openvino bf16": (OpenVinoBackend, ov / f"bit_bs{bs}_sim.onnx", "bf16"),
        "openvino int8": (OpenVinoBackend, ov / f"bit_bs{bs}_int8.onnx", "int8"),
    }
    rows = {}
    for name, (cls, model, precision) in specs.items():
        if precision == "bf16" and detect().why_not("bf16"):
            bo.say(f"  {name}: not offered on this CPU ({detect().why_not('bf16')})")
            continue
        backend = cls(BackendOptions(model=model, batch_size=bs, precision=precision))
        backend.open()
        rows[name] = backend
        bo.say(f"  bs {bs} {name}: {backend.describe()}")
    return rows


def accuracy(rows: dict, indices: np.ndarray, ref: np.ndarray, labels: np.ndarray, bs: int) -> dict[str, dict]:
    out = {}
    for name, backend in rows.items():
        test = ref if name == "onnxruntime fp32" else bo.logits(backend, indices, bs)
        out[name] = bo.metrics_line(name, ref, test, labels[indices])
        m = out[name]
        bo.say(f"  bs {bs} {name} on {len(indices):,} images: agreement {m['agreement']:.2%}, "
               f"Δtop-1 {m['delta_top1_pt']:+.2f} pt, SQNR {m['sqnr_db']:.1f} dB, non-finite {m['nonfinite']}")
    return out


def one_bs(bs: int, dirs: dict[str, Path], costs: dict, labels: np.ndarray, args) -> list[dict]:
    rows = open_rows(bs, dirs)
    try:
        ips = bo.speed(rows, bs, args.rounds, args.loop)
        if bs == args.full_bs:
            indices = np.arange(10_000)
            ref = bo.reference(rows["onnxruntime fp32"], dirs["onnxruntime"] / f"bit_bs{bs}_sim.onnx", args.workdir, bs)
        else:
            indices = np.asarray(costs[("openvino", bs)]["guard"]["indices"])
            ref = bo.logits(rows["onnxruntime fp32"], indices, bs)
        acc = accuracy(rows, indices, ref, labels, bs)
    finally:
        for backend in rows.values():
            backend.close()
    table = []
    for name in rows:
        engine = name.split()[0]
        cost = costs.get((engine, bs)) if name.endswith("int8") else None
        table.append({"row": name, "bs": bs, **ips[name], **acc[name],
                      "calib_s": cost and cost["wall_s"], "peak_rss_mib": cost and cost["peak_rss_mib"],
                      "memory_bound_mib": cost and cost["memory_bound_mib"]})
    return table


def bit_all(args, sizes: list[int]) -> dict:
    """``bit all`` from an empty workdir: onnxruntime fp32, then the fast path; wall time of each."""
    runs = {}
    for label, extra in (("onnxruntime fp32", ["--backend", "onnxruntime", "--precision", "fp32"]),
                         (f"openvino {args.all_precision}", ["--backend", "openvino", "--precision", args.all_precision])):
        folder = args.workdir / ("all_" + label.replace(" ", "_"))
        shutil.rmtree(folder, ignore_errors=True)
        profile(folder, extra[1])
        wall, peak, stdout = run_child(["all", "-p", "bit.yaml", "--bs", ",".join(map(str, sizes)), *extra, "--json"],
                                       folder)
        report = json.loads(stdout)
        steps = [(s["step"], s["bs"], s["seconds"]) for s in report["steps"] if s["seconds"] >= 1]
        top1 = {r["bs"]: (r.get("topk") or {}).get("top1") for r in report["results"]}
        runs[label] = {"wall_s": wall, "peak_rss_mib": peak, "steps": steps, "top1": top1}
        bo.say(f"bit all --bs {','.join(map(str, sizes))} {' '.join(extra)}: {wall:.1f} s wall, peak RSS {peak:.0f} MiB; "
               + ", ".join(f"{s}{'' if b is None else f' bs{b}'} {t:.1f}" for s, b, t in steps))
    base, fast = runs.values()
    bo.say(f"bit all ratio: {fast['wall_s']:.1f} / {base['wall_s']:.1f} s = {fast['wall_s'] / base['wall_s']:.1%} "
           "of the onnxruntime fp32 wall time (issue 16 asks ≤ 50%)")
    return runs


def report(table: list[dict], args) -> None:
    bo.say(f"\nspeed: {args.rounds} rounds of {args.loop} batches per row and bs, img/s from the median (best) latency, "
           "× = median per-round ratio to onnxruntime fp32 at the same bs; accuracy against onnxruntime fp32 at the same bs; "
           "calibration = one `bit quantize` process (wall s, peak RSS MiB, the bound bit stated)")
    bo.say("| backend × precision | bs | img/s (best) | × ORT fp32 | images | agreement | Δtop-1 | SQNR | top-1 | calibration s | peak RSS MiB (bound) |")
    bo.say("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(table, key=lambda r: (r["row"], r["bs"])):
        sqnr = "∞" if r["sqnr_db"] in (None, float("inf")) else f"{r['sqnr_db']:.1f} dB"
        cal = "–" if r["calib_s"] is None else f"{r['calib_s']:.0f}"
        mem = "–" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.0f} ({r['memory_bound_mib']})"
        bo.say(f"| {r['row']} | {r['bs']} | {r['img_s']:.1f} ({r['best_img_s']:.1f}) | ×{r['ratio']:.2f} | {r['n']:,} | "
               f"{r['agreement']:.2%} | {r['delta_top1_pt']:+.2f} pt | {sqnr} | {r['top1_test']:.2%} | {cal} | {mem} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bit_bench_precisions"))
    parser.add_argument("--bs", default="1,4,8")
    parser.add_argument("--full-bs", type=int, default=None, help="the bs measured on all 10,000 images (default: the largest)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", type=int, default=8)
    parser.add_argument("--reuse", action="store_true", help="keep int8 models quantized by an earlier run")
    parser.add_argument("--bit-all", action="store_true", help="also time `bit all` fp32 against the fast path")
    parser.add_argument("--all-precision", default="int8", choices=("int8", "bf16", "fp32"))
    parser.add_argument("--only-bit-all", action="store_true", help="skip the table")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.bs.split(",")})
    args.full_bs = args.full_bs or sizes[-1]
    args.workdir = args.workdir.resolve()
    if not (bo.CIFAR.is_dir() and bo.PTH.is_file()):
        raise SystemExit(f"needs {bo.CIFAR} and {bo.PTH} (../shared/data)")
    bo.cpu_header()
    bo.say(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    doc: dict = {"bs": sizes}
    if not args.only_bit_all:
        dirs = prepare(args.workdir, sizes)
        costs = {(engine, bs): quantize(dirs[engine], bs, args.reuse) for bs in sizes for engine in ENGINE_DIRS}
        from bitcli.stages.data import read_cifar10_test

        labels = np.asarray(read_cifar10_test(bo.CIFAR).labels)
        table = [row for bs in sizes for row in one_bs(bs, dirs, costs, labels, args)]
        report(table, args)
        doc["table"] = table
    if args.bit_all or args.only_bit_all:
        doc["bit_all"] = bit_all(args, sizes)
    bo.say(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    (args.workdir / "bench_precisions.json").write_text(json.dumps(doc, default=str, indent=1))


if __name__ == "__main__":
    main()
