"""Benchmark `bit export` + `bit simplify` on the trained bit.pth (not collected by pytest).

Prints export time, simplify time per batch size, max |Δ| torch vs ONNX vs
simplified, and op counts before/after. With ``--all-formats`` the trained
checkpoint is also re-saved as state_dict, train.py checkpoint and BiT .npz,
and each is exported and simplified the same way.

    python tests/bench/bench_export.py [--weights PATH] [--bs 1,4,8] [--workdir DIR] [--all-formats]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

TRAINED = Path(__file__).resolve().parents[3] / "shared" / "data" / "bit-r50x1-cifar10" / "bit.pth"
CIFAR = TRAINED.parents[1] / "cifar10-test"


def torch_vs_sim(model, sim_path: Path, bs: int, size: int) -> float:
    """max |Δ| of torch logits vs the simplified ONNX on one seeded random batch."""
    import onnxruntime as ort
    import torch

    x = np.random.default_rng(100 + bs).standard_normal((bs, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(sim_path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    return float(np.abs(ref - got).max())


def bench_one(weights: Path, workdir: Path, sizes: list[int], label: str) -> None:
    from bitcli.model.checkpoint import load_checkpoint
    from bitcli.stages.export import onnx_from_checkpoint
    from bitcli.stages.simplify import simplified_onnx_per_bs

    onnx_path = workdir / "bit.onnx"
    exp = onnx_from_checkpoint(weights, onnx_path, arch="BiT-M-R50x1", num_classes=10, force=True,
                               dataset_path=CIFAR if CIFAR.is_dir() else None)  # fmt: skip
    print(f"\n## {label}: {weights}")
    print(f"format={exp.meta['format']} classes={exp.meta['num_classes']} notes={exp.notes or '-'}")
    print(f"export: {exp.seconds:.2f} s (load + export + verify), {exp.samples} images ({exp.real_samples} real), "
          f"max |Δ| torch vs ONNX = {exp.max_abs_diff:.3g}, top-1 agreement {exp.top1_agree:.0%}")  # fmt: skip
    started = time.perf_counter()
    sim = simplified_onnx_per_bs(onnx_path, sizes, workdir, force=True)
    total = time.perf_counter() - started
    model = load_checkpoint(weights, num_classes=10).model
    print("| bs | simplify s | max |Δ| ONNX vs sim | max |Δ| torch vs sim | nodes before → after |")
    print("|---|---|---|---|---|")
    for r in sim.rows:
        if r.error:
            print(f"| {r.bs} | failed: {r.error} | | | |")
            continue
        print(f"| {r.bs} | {r.seconds:.2f} | {r.max_abs_diff:.3g} | {torch_vs_sim(model, r.path, r.bs, sim.image_size):.3g} "
              f"| {sum(r.ops_before.values())} → {sum(r.ops_after.values())} |")  # fmt: skip
    print(f"simplify total for {len(sizes)} sizes: {total:.2f} s")
    done = [r for r in sim.rows if not r.error]
    if done:
        names = sorted(set(done[0].ops_before) | set(done[0].ops_after))
        print("op counts (original → simplified bs%d): " % done[0].bs
              + ", ".join(f"{n} {done[0].ops_before.get(n, 0)}→{done[0].ops_after.get(n, 0)}" for n in names))  # fmt: skip


def other_formats(weights: Path, root: Path) -> dict[str, Path]:
    """Re-save the trained model as state_dict, train.py checkpoint and BiT .npz."""
    import torch

    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the Google-layout writer
    from google_npz import write_google_npz

    from bitcli.model.checkpoint import load_checkpoint

    sd = load_checkpoint(weights).model.state_dict()
    files = {"state_dict": root / "sd.pth", "train_py": root / "train.pth.tar", "npz": root / "BiT-M-R50x1.npz"}
    torch.save({f"module.{k}": v for k, v in sd.items()}, files["state_dict"])
    torch.save({"step": 500, "model": {f"module.{k}": v for k, v in sd.items()}, "optim": {}}, files["train_py"])
    write_google_npz(sd, files["npz"])
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=TRAINED)
    parser.add_argument("--bs", default="1,4,8")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--all-formats", action="store_true")
    args = parser.parse_args()
    if not args.weights.is_file():
        raise SystemExit(f"trained checkpoint absent at {args.weights}; pass --weights PATH")
    sizes = [int(b) for b in args.bs.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        bench_one(args.weights, root / "pickle", sizes, "ModelZoo pickle")
        if args.all_formats:
            for name, path in other_formats(args.weights, root).items():
                bench_one(path, root / name, sizes, name)


if __name__ == "__main__":
    main()
