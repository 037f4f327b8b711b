"""`bit all` wall time, step by step, on the real CIFAR-10 test set; then a fully up-to-date rerun.

Prints figures; asserts nothing (benchmarks are not tests).

    python tests/bench/bench_all.py [--workdir /tmp/bit_bench_all] [--bs 1,4,8] [--weights random]

Also times `bit --help` and `bit all --demo --bs 1,4,8` in a fresh folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CIFAR = REPO.parent / "shared" / "data" / "cifar10-test"


def timed(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    return time.perf_counter() - started, proc


def bit(*args: str) -> list[str]:
    return [sys.executable, "-m", "bitcli", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bit_bench_all"))
    parser.add_argument("--bs", default="1,4,8")
    parser.add_argument("--weights", default="random")
    parser.add_argument("--skip-full", action="store_true", help="only --help and the demo")
    args = parser.parse_args()
    work = args.workdir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    helps = [timed(bit("--help"), work)[0] for _ in range(5)]
    print(f"bit --help: min {min(helps):.3f} s, median {sorted(helps)[2]:.3f} s over 5 runs (python -m bitcli)")
    (work / "demo").mkdir()
    seconds, proc = timed(bit("all", "--demo", "--bs", args.bs, "-q"), work / "demo")
    print(f"bit all --demo --bs {args.bs}: {seconds:.1f} s wall, exit {proc.returncode}")
    if args.skip_full:
        return
    full = bit("all", "--bs", args.bs, "--weights", args.weights, "--dataset-path", str(CIFAR), "-w", str(work / "full"),
               "--backend", "onnxruntime", "--json")
    for label in ("first run", "second run (up to date)"):
        seconds, proc = timed(full, work)
        if proc.returncode != 0:
            print(f"{label}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
            return
        report = json.loads(proc.stdout)
        print(f"bit all --bs {args.bs} --weights {args.weights} on {report['dataset']['samples']} images, {label}: "
              f"{seconds:.1f} s wall")
        for step in report["steps"]:
            bs = f" bs{step['bs']}" if step["bs"] is not None else ""
            print(f"    {step['step']}{bs:<5} {step['status']:<11} {step['seconds']:8.1f} s  {step['detail']}")
    for row in report["results"]:
        print(f"  bs {row['bs']}: top-1 {row['topk']['1']:.4f} top-5 {row['topk']['5']:.4f} "
              f"bench {row['throughput']:.2f} img/s, infer compute {row['infer_throughput']:.2f} img/s")


if __name__ == "__main__":
    main()
