"""Runtime speed on this machine: raw onnxruntime vs `bit bench`, `bit infer` end to end, torch eager.

Prints figures; asserts nothing (STYLE.md: honest benchmarks, no timed tests).

    python tests/bench/bench_runtime.py [--workdir /tmp/bit_bench_runtime] [--loop 20] [--rounds 2]

1. Prepares, with the trained ``../shared/data/bit-r50x1-cifar10/bit.pth``:
   all 10,000 CIFAR-10 test images as .bin (``bit data``), ``bit.onnx``,
   ``bit_bs{1,4,8,16}_sim.onnx`` (reused when up to date).
2. For bs 1, 4, 8, 16, in interleaved rounds (so drifting machine load hits
   both sides alike): raw onnxruntime — a default ``InferenceSession`` on the
   simplified model, ``session.run`` timed alone — against ``bit bench
   --backend onnxruntime --json`` as a user runs it. Median over rounds;
   ratio = bit / raw (target ≥ 0.97).
3. ``bit infer --bs 8`` over all 10,000 images from the .bin folder and on the
   fly (``--dataset-path``): wall-clock img/s of the whole command and its
   ratio to ``bit bench`` at bs 8; ``bit eval`` top-1 of both (must agree).
4. ``bit bench --backend torch`` (PyTorch eager) for the same batch sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
CIFAR = SHARED / "cifar10-test"
PTH = SHARED / "bit-r50x1-cifar10" / "bit.pth"
SIZES = (1, 4, 8, 16)


def say(text: str) -> None:
    print(text, flush=True)


def bit(workdir: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, BIT_WORKDIR=str(workdir), COLUMNS="120")
    env.pop("BIT_BACKEND", None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bitcli", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"bit {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc, wall


def prepare(workdir: Path) -> None:
    from bitcli.artifacts import Artifacts
    from bitcli.stages.data import bins_from_cifar
    from bitcli.stages.export import onnx_from_checkpoint
    from bitcli.stages.simplify import simplified_onnx_per_bs

    names = Artifacts(workdir)
    t = time.perf_counter()
    bins_from_cifar(CIFAR, names.dataset_bin, names.label_txt, image_size=128)
    onnx_from_checkpoint(PTH, names.onnx, arch="BiT-M-R50x1", num_classes=10, image_size=128)
    simplified_onnx_per_bs(names.onnx, SIZES, workdir, image_size=128)
    (workdir / "bench.yaml").write_text(f"model:\n  weights: {PTH}\n")
    say(f"prepared {workdir} in {time.perf_counter() - t:.1f} s (10,000 .bin, bit.onnx, bit_bs{{1,4,8,16}}_sim.onnx)")


def raw_ort(model: Path, bs: int, warmup: int, loop: int) -> float:
    """Raw onnxruntime in a fresh process (nothing else loaded, like `bit bench`)."""
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_runtime as b; " \
           f"print(b.raw_ort_here({str(model)!r}, {bs}, {warmup}, {loop}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def raw_ort_here(model: str, bs: int, warmup: int, loop: int) -> float:
    """A plain default session, the way one would time onnxruntime by hand."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(-1, 1, size=(bs, 3, 128, 128)).astype(np.float32)
    for _ in range(warmup):
        session.run(None, {name: x})
    times = []
    for _ in range(loop):
        start = time.perf_counter()
        session.run(None, {name: x})
        times.append((time.perf_counter() - start) * 1000.0)
    return 1000.0 * bs / statistics.fmean(times)


def bit_bench(workdir: Path, backend: str, sizes: tuple[int, ...], warmup: int, loop: int) -> dict[int, float]:
    proc, _ = bit(workdir, "bench", "--backend", backend, "--bs", ",".join(map(str, sizes)), "--warmup", str(warmup),
                  "--loop", str(loop), "--json", "-p", str(workdir / "bench.yaml"))
    doc = json.loads(proc.stdout)
    return {row["bs"]: row["throughput"] for row in doc["results"]}


def compare_ort(workdir: Path, rounds: int, warmup: int, loop: int) -> dict[int, float]:
    from bitcli.artifacts import Artifacts

    raw: dict[int, list[float]] = {bs: [] for bs in SIZES}
    ours: dict[int, list[float]] = {bs: [] for bs in SIZES}
    for r in range(rounds):
        for bs in SIZES:
            raw[bs].append(raw_ort(Artifacts(workdir).sim_onnx(bs), bs, warmup, loop))
            ours[bs].append(bit_bench(workdir, "onnxruntime", (bs,), warmup, loop)[bs])
            say(f"  round {r + 1} bs {bs}: raw {raw[bs][-1]:.2f}  bit bench {ours[bs][-1]:.2f} samples/s")
    say(f"\nonnxruntime, {loop} timed runs after {warmup} warm-up, {rounds} interleaved rounds (samples/s)")
    say("ratio = median over rounds of bit/raw measured back to back (load changes between rounds cancel out)")
    say(f"{'bs':>4} {'raw ORT med':>12} {'bit bench med':>14} {'paired ratio':>13} {'per round':>24}")
    medians = {}
    for bs in SIZES:
        a, b = statistics.median(raw[bs]), statistics.median(ours[bs])
        pairs = [o / r for o, r in zip(ours[bs], raw[bs])]
        medians[bs] = b
        shown = " ".join(f"{x:.3f}" for x in pairs)
        say(f"{bs:>4} {a:>12.2f} {b:>14.2f} {statistics.median(pairs):>13.3f} {shown:>24}")
    return medians


def infer_end_to_end(workdir: Path, bench_bs8: float) -> None:
    say("\nbit infer --bs 8 --backend onnxruntime over all 10,000 images (wall clock of the whole command)")
    tops = {}
    for mode, extra in (("bins", []), ("on the fly", ["--dataset-path", str(CIFAR)])):
        out = workdir / ("result" if mode == "bins" else "result_fly")
        _, wall = bit(workdir, "-q", "infer", "--bs", "8", "--backend", "onnxruntime", "--output", str(out), "--force", *extra)
        summary = json.loads((out / "result_bs8_summary.json").read_text())
        proc, _ = bit(workdir, "eval", "--output-dir", str(out / "result_bs8"), "--json")
        tops[mode] = json.loads(proc.stdout)["topk"]
        ips = 10000 / wall
        say(f"  {mode:<10}: {wall:7.1f} s  {ips:7.2f} img/s  ratio to bench bs8 {ips / bench_bs8:.3f}  "
            f"(compute-only throughput in its summary {summary['throughput']:.2f}, end-to-end/compute "
            f"{ips / summary['throughput']:.3f}; "
            f"top-1 {100 * tops[mode]['1']:.2f}%, top-5 {100 * tops[mode]['5']:.2f}%)")
    say(f"  top-k identical between bins and on the fly: {tops['bins'] == tops['on the fly']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bit_bench_runtime"))
    parser.add_argument("--loop", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--torch-loop", type=int, default=10)
    parser.add_argument("--skip-infer", action="store_true", help="skip the 2 x 10,000-image infer runs")
    args = parser.parse_args()
    if not PTH.is_file() or not (CIFAR / "cifar-10-batches-py" / "test_batch").is_file():
        raise SystemExit(f"needs {PTH} and {CIFAR}")
    import onnxruntime as ort

    say(f"host: {os.cpu_count()} cpus, onnxruntime {ort.__version__}, python {sys.version.split()[0]}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    prepare(args.workdir)
    medians = compare_ort(args.workdir, args.rounds, args.warmup, args.loop)
    if not args.skip_infer:
        infer_end_to_end(args.workdir, medians[8])
    say(f"\nbit bench --backend torch (eager), {args.torch_loop} timed runs after {args.warmup} warm-up (samples/s)")
    for bs, value in bit_bench(args.workdir, "torch", SIZES, args.warmup, args.torch_loop).items():
        say(f"{bs:>4} {value:>10.2f}   (onnxruntime bit bench: {medians[bs]:.2f})")


if __name__ == "__main__":
    main()
