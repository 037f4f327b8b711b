"""Time `bit data`'s stage on all 10,000 CIFAR-10 test images (target: ≤ 15 s on 2 cores).

Usage: python tests/bench/bench_data.py [DATASET_DIR] [--workers N ...]

Prints, per worker count, the wall time of ``bins_from_cifar`` (forced, into a
temporary folder) and images/s, plus the preprocessing-only rate for scale.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bitcli.datasets.cifar import read_cifar10_test
from bitcli.stages.data import bins_from_cifar, preprocess_image

DEFAULT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10-test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--workers", type=int, nargs="+", default=[os.cpu_count() or 1])
    args = parser.parse_args()

    dataset = read_cifar10_test(args.dataset)
    started = time.perf_counter()
    for image in dataset.images[:2000]:
        preprocess_image(image)
    rate = 2000 / (time.perf_counter() - started)
    print(f"preprocess only (1 thread, no writes): {rate:,.0f} img/s")

    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
            result = bins_from_cifar(args.dataset, Path(tmp) / "dataset_bin", Path(tmp) / "label.txt",
                                     force=True, workers=workers)
            print(f"bins_from_cifar, {workers} worker(s): {result.count:,} images, {result.bytes / 1e9:.2f} GB "
                  f"in {result.seconds:.2f} s = {result.count / result.seconds:,.0f} img/s "
                  f"(target ≤ 15 s: {'met' if result.seconds <= 15 else 'MISSED'})")


if __name__ == "__main__":
    main()
