"""int8 on the CPU: recipes against fp32 in one run, then the chosen recipe on all 10,000 images.

Prints figures; asserts nothing (STYLE.md: honest benchmarks, no timed tests).

    python tests/bench/bench_int8.py [--workdir /tmp/bit_bench_int8] [--sizes 8] [--iters 20]

1. Prints the CPU's int8-relevant flags and onnxruntime's version.
2. Prepares, with the trained ``../shared/data/bit-r50x1-cifar10/bit.pth``: all 10,000 CIFAR-10 test images
   as .bin (``bit data``), ``bit.onnx``, ``bit_bs{N}_sim.onnx`` (reused when up to date).
3. For each batch size: the recipe table. Calibration on 256 images and measurement on the 496 held-out
   images of the product's own split (seed 0: :func:`bitcli.quant.calib.split_indices`); methods minmax /
   percentile × reduce_range off/on × first+last conv fp32 or not, plus Conv-only quantization.
   Columns: agreement with fp32, Δtop-1, SQNR, img/s (median of ``--iters`` timed batches after warm-up,
   fp32 timed before and after the recipes, same process) and the ratio to fp32.
4. The best recipe by held-out agreement (ties: Δtop-1, then speed) through the product: ``bit quantize``
   with it, then ``bit compare`` fp32 vs int8 on all 10,000 images (agreement, Δtop-1, SQNR), and
   ``bit compare --ref torch --test onnxruntime`` on ``--torch-limit`` images.
5. Where the speed goes: onnxruntime's optimized graph of fp32 and int8 (op counts after fusion).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_openvino as bo  # noqa: E402  (interleaved-block timing, shared with the OpenVINO benchmarks)

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
CIFAR = SHARED / "cifar10-test"
PTH = SHARED / "bit-r50x1-cifar10" / "bit.pth"
RECIPES = [  # (method, reduce_range, keep ends, op types)
    ("minmax", False, False, None), ("minmax", True, False, None), ("minmax", False, True, None),
    ("percentile", False, False, None), ("percentile", False, True, None), ("minmax", False, False, ["Conv"]),
    ("minmax", True, True, None), ("percentile", True, False, None), ("percentile", True, True, None),
    ("percentile", False, True, ["Conv"]), ("percentile", True, True, ["Conv"]),  # the last: the default on a CPU without VNNI
]


def say(text: str) -> None:
    print(text, flush=True)


def bit(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, BIT_WORKDIR=str(workdir), COLUMNS="120")
    proc = subprocess.run([sys.executable, "-m", "bitcli", *args], env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"bit {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def prepare(workdir: Path, sizes: list[int]) -> None:
    from bitcli.artifacts import Artifacts
    from bitcli.stages.data import bins_from_cifar
    from bitcli.stages.export import onnx_from_checkpoint
    from bitcli.stages.simplify import simplified_onnx_per_bs

    names = Artifacts(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    bins_from_cifar(CIFAR, names.dataset_bin, names.label_txt, image_size=128)
    onnx_from_checkpoint(PTH, names.onnx, arch="BiT-M-R50x1", num_classes=10, image_size=128)
    simplified_onnx_per_bs(names.onnx, sizes, workdir, image_size=128)


def speed(model: Path, batch: np.ndarray, iters: int, warmup: int = 3) -> float:
    """img/s from the median compute time of ``iters`` runs of one batch."""
    from bitcli.backends.base import BackendOptions
    from bitcli.backends.onnxrt import OnnxRuntimeBackend

    times = []
    with OnnxRuntimeBackend(BackendOptions(model=model, batch_size=len(batch), image_size=batch.shape[-1])) as be:
        for i in range(warmup + iters):
            be.infer(batch)
            if i >= warmup:
                times.append(be.last_latency_ms)
    return 1000.0 * len(batch) / statistics.median(times)


STRUCTURES = [  # (label, first+last conv fp32, op types): what changes the graph, hence the speed
    ("every op type", False, None), ("ends fp32", True, None), ("only Conv", False, ["Conv"]),
    ("only Conv, ends fp32", True, ["Conv"]),
]


def speed_table(workdir: Path, sizes: list[int], rounds: int) -> None:
    """img/s of fp32 and each int8 graph structure per bs, timed in interleaved blocks in one process.

    Calibration values do not change the graph onnxruntime runs, so these models calibrate with minmax on
    4 batches (seconds). Four rounds, each timing every model in turn for ``rounds // 4`` batches after one
    untimed batch (``bench_openvino.speed``: not one batch per model in turn, which measured the previous
    session's spinning threads), so load that drifts hits every row alike; img/s from the median latency,
    × fp32 the median of the per-round ratios.
    """
    from bitcli.artifacts import Artifacts
    from bitcli.backends.base import BackendOptions
    from bitcli.backends.onnxrt import OnnxRuntimeBackend
    from bitcli.quant import calib as cal
    from bitcli.quant.ort_engine import first_last_conv, quantize
    from bitcli.stages.infer_io import input_files

    names = Artifacts(workdir)
    files = input_files(names.dataset_bin)
    say(f"\n## speed: onnxruntime fp32 vs int8 QDQ graphs, 4 interleaved rounds of {max(1, rounds // 4)} batches per bs")
    say("| bs | model | img/s (median) | img/s (best) | × fp32 |")
    say("|---|---|---|---|---|")
    for bs in sizes:
        fp32 = names.sim_onnx(bs)
        calib = cal.load(files, list(range(4 * bs)), 128)
        models = {"fp32": fp32}
        for i, (label, ends, ops) in enumerate(STRUCTURES):
            out = workdir / "speed" / f"bs{bs}_{i}.onnx"
            out.parent.mkdir(exist_ok=True)
            if not out.is_file():
                quantize(fp32, calib, out, method="minmax", exclude=first_last_conv(fp32) if ends else (),
                         options={"reduce_range": True, "op_types": ops})
            models[f"int8, {label}"] = out
        batch = np.ascontiguousarray(calib[:bs])
        backends = {k: OnnxRuntimeBackend(BackendOptions(model=m, batch_size=bs, image_size=128)) for k, m in models.items()}
        for be in backends.values():
            be.open()
            for _ in range(3):
                be.infer(batch)
        figures = bo.speed(backends, bs, rounds=4, loop=max(1, rounds // 4), base="fp32", batch=batch)
        for k, be in backends.items():
            be.close()
            f = figures[k]
            say(f"| {bs} | {k} | {f['img_s']:.1f} | {f['best_img_s']:.1f} | ×{f['ratio']:.2f} |")


def recipe_name(method: str, rr: bool, ends: bool, ops) -> str:
    return f"{method}, reduce_range {'on' if rr else 'off'}, ends {'fp32' if ends else 'int8'}" + (
        f", only {'+'.join(ops)}" if ops else "")


def recipe_table(workdir: Path, bs: int, iters: int, recipes: int) -> list[dict]:
    from bitcli.artifacts import Artifacts
    from bitcli.logit_metrics import compare_logits
    from bitcli.quant import calib as cal
    from bitcli.quant.guard import run_onnx
    from bitcli.quant.ort_engine import first_last_conv, quantize
    from bitcli.stages.infer_io import input_files

    names = Artifacts(workdir)
    fp32 = names.sim_onnx(bs)
    files = input_files(names.dataset_bin)
    calib_idx, hold_idx = cal.split_indices(len(files), 256, 496, 0, bs)
    calib, hold = cal.load(files, calib_idx, 128), cal.load(files, hold_idx, 128)
    labels = np.array([int(x) for x in names.label_txt.read_text().split()])[hold_idx]
    ref, _ = run_onnx(fp32, hold, bs)
    timing = hold[:bs]
    fp32_ips = [speed(fp32, timing, iters)]
    rows = []
    say(f"\n## bs {bs}: 256 calibration images, 496 held-out images (seed 0), onnxruntime QDQ per-channel u8/s8")
    say("| recipe | agreement | Δtop-1 | SQNR | img/s | × fp32 | calib s |")
    say("|---|---|---|---|---|---|---|")
    for method, rr, ends, ops in RECIPES[:recipes]:
        plan = cal.plan_memory(fp32, method, len(calib), bs)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "q.onnx"
            start = time.perf_counter()
            quantize(fp32, calib, out, method=method, exclude=first_last_conv(fp32) if ends else (),
                     options={"reduce_range": rr, "chunk_images": plan.chunk_images, "op_types": ops})
            calib_s = time.perf_counter() - start
            test, _ = run_onnx(out, hold, bs)
            ips = speed(out, timing, iters)
        m = compare_logits(ref, test, labels)
        row = {"bs": bs, "recipe": recipe_name(method, rr, ends, ops), "method": method, "reduce_range": rr,
               "keep_ends": ends, "ops": ops, "agreement": m.agreement, "delta_top1": m.delta_top1,
               "sqnr_db": m.sqnr_db, "ips": ips, "calib_s": calib_s}
        rows.append(row)
        say(f"| {row['recipe']} | {m.agreement:.2%} | {m.delta_top1 * 100:+.1f} pt | {m.sqnr_db:.1f} dB | "
            f"{ips:.1f} | – | {calib_s:.0f} |")
    fp32_ips.append(speed(fp32, timing, iters))
    base = statistics.mean(fp32_ips)
    say(f"fp32 at bs {bs}: {fp32_ips[0]:.1f} and {fp32_ips[1]:.1f} img/s (before / after the recipes); × fp32 below uses their mean {base:.1f}")
    for row in rows:
        row["ratio"] = row["ips"] / base
        say(f"  {row['recipe']}: ×{row['ratio']:.2f}")
    return rows


def best(rows: list[dict]) -> dict:
    return max(rows, key=lambda r: (round(r["agreement"], 4), round(r["delta_top1"], 4), r["ips"]))


def full_fixture(workdir: Path, bs: int, row: dict, torch_limit: int, full_limit: int | None) -> None:
    flags = ["--bs", str(bs), "--method", row["method"], "--reduce-range", "on" if row["reduce_range"] else "off",
             "--keep-ends" if row["keep_ends"] else "--no-keep-ends", "--force"]
    say(f"\n## chosen recipe at bs {bs}: {row['recipe']}")
    q = bit(workdir, "quantize", *flags, "--accept-loss", "--json")
    if q.returncode:  # e.g. another bit holds the workdir: say so instead of failing on empty JSON
        say(f"bit quantize {' '.join(flags)} failed: {q.stderr.strip()[-400:]}")
        return
    g = json.loads(q.stdout)["guard"]
    say(f"bit quantize {' '.join(flags)}: held-out {g['samples']} images: agreement {g['agreement']:.2%}, "
        f"Δtop-1 {g['delta_top1'] * 100:+.2f} pt, SQNR {g['sqnr_db']:.1f} dB, guard passed: {g['passed']}")
    start = time.perf_counter()
    limit = ["--limit", str(full_limit)] if full_limit else []
    cmp = bit(workdir, "compare", "--ref", "onnxruntime", "--test", "onnxruntime", "--test-precision", "int8",
              "--bs", str(bs), *limit)
    say(f"bit compare --ref onnxruntime --test onnxruntime --test-precision int8 --bs {bs} {' '.join(limit)} "
        f"({full_limit or 'all 10,000'} images, {time.perf_counter() - start:.0f} s):\n{cmp.stdout}")
    start = time.perf_counter()
    tc = bit(workdir, "compare", "--ref", "torch", "--test", "onnxruntime", "--bs", str(bs), "--limit", str(torch_limit),
             "--profile", str(write_profile(workdir)))
    say(f"bit compare --ref torch --test onnxruntime --bs {bs} --limit {torch_limit} "
        f"({time.perf_counter() - start:.0f} s):\n{tc.stdout}{tc.stderr[-400:] if tc.returncode else ''}")


def write_profile(workdir: Path) -> Path:
    path = workdir / "bench.yaml"
    path.write_text(f"model:\n  weights: {PTH}\n")
    return path


def optimized_ops(model: Path) -> dict:
    """Op counts of onnxruntime's optimized graph (what actually runs after fusions)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # ALL adds NCHWc, not savable as ONNX
        so.optimized_model_filepath = str(Path(tmp) / "opt.onnx")
        ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        graph = onnx.load(so.optimized_model_filepath, load_external_data=False).graph
        return dict(collections.Counter(n.op_type for n in graph.node).most_common())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bit_bench_int8"))
    parser.add_argument("--sizes", default="8")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--torch-limit", type=int, default=1000)
    parser.add_argument("--recipes", type=int, default=len(RECIPES), help="only the first N recipes (a loaded machine)")
    parser.add_argument("--full-limit", type=int, default=None, help="images for the full comparison (default: all)")
    parser.add_argument("--speed", type=int, default=0, metavar="BATCHES",
                        help="only the speed table (fp32 vs int8 graph structures per bs), BATCHES timed batches per model")
    args = parser.parse_args()
    import onnxruntime

    from bitcli.quant.cpuflags import choose_reduce_range, cpu_flags

    flags = cpu_flags()
    model_name = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                       if l.startswith("model name")), "?")
    say(f"CPU: {model_name}, {len(os.sched_getaffinity(0))} usable cores; flags: {' '.join(flags) or 'unknown'}")
    say(f"reduce_range auto → {choose_reduce_range(flags)}; onnxruntime {onnxruntime.__version__}")
    sizes = [int(s) for s in args.sizes.split(",")]
    prepare(args.workdir, sizes)
    if args.speed:
        return speed_table(args.workdir, sizes, args.speed)
    all_rows = []
    for bs in sizes:
        all_rows += recipe_table(args.workdir, bs, args.iters, args.recipes)
    (args.workdir / "bench_int8.json").write_text(json.dumps(all_rows, indent=2))
    chosen = best([r for r in all_rows if r["bs"] == sizes[-1]])
    full_fixture(args.workdir, sizes[-1], chosen, args.torch_limit, args.full_limit)
    from bitcli.artifacts import Artifacts

    names = Artifacts(args.workdir)
    say("\n## onnxruntime's optimized graph (ORT_ENABLE_EXTENDED), op counts")
    say(f"fp32: {optimized_ops(names.sim_onnx(sizes[-1]))}")
    say(f"int8: {optimized_ops(names.int8_onnx(sizes[-1]))}")


if __name__ == "__main__":
    main()
