"""OpenVINO fp32 / bf16 / NNCF int8 against onnxruntime fp32 on this CPU, in one run (issue 16).

Prints figures; asserts nothing (STYLE.md: honest benchmarks, no timed tests).

    python tests/bench/bench_openvino.py [--workdir /tmp/bit_bench_openvino] [--bs 8] [--calib 256]
                                         [--heldout 496] [--full] [--rounds 2] [--loop 8]

1. Prints the CPU model and flags (bitcli.cpu) and the precisions offered.
2. Prepares ``bit_bs{bs}_sim.onnx`` from the trained ``../shared/data/bit-r50x1-cifar10/bit.pth`` (reused
   when present). Images: a seeded permutation (seed 0) of the 10,000 CIFAR-10 test images; the first
   ``--calib`` calibrate, the next ``--heldout`` are the held-out evaluation slice.
3. Quantizes with the nncf engine twice, each in a child process whose own peak RSS (VmHWM) and wall time
   are the calibration figures: the QDQ ONNX (the product's artefact) and an
   OpenVINO IR (NNCF on the OpenVINO model), both preset MIXED.
4. Speed (:func:`speed`): ``--rounds`` rounds, each timing every row in turn for ``--loop`` batches after one
   untimed batch, on the backend's own timer (so load that drifts on a shared machine hits every row alike);
   img/s from the median and the best latency; the ratio to onnxruntime fp32 is the median of the per-round
   ratios. ``--reuse --speed-only`` re-times the models of an earlier run.
5. Accuracy against onnxruntime fp32 logits (bitcli.logit_metrics.compare_logits): every row on the held-out
   slice; with ``--full``, OpenVINO bf16 and the QDQ int8 on all 10,000 images (the onnxruntime fp32
   reference logits of all 10,000 are cached in the workdir by model digest: computing them costs minutes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
CIFAR = SHARED / "cifar10-test"
PTH = SHARED / "bit-r50x1-cifar10" / "bit.pth"


def say(text: str) -> None:
    print(text, flush=True)


def cpu_header() -> None:
    from bitcli.cpu import detect

    info = detect()
    say(f"CPU: {info.model} ({info.arch}), {len(os.sched_getaffinity(0))} usable cores")
    say(f"CPU flags of interest: {info.feature_line()} → precisions {', '.join(info.precisions())}")
    for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
        if line.startswith(("flags", "Features")):
            say("all flags: " + line.partition(":")[2].strip())
            break
    import onnxruntime
    import openvino
    import nncf

    say(f"onnxruntime {onnxruntime.__version__}, openvino {openvino.get_version()}, nncf {nncf.__version__}")


def prepare(workdir: Path, bs: int) -> Path:
    from bitcli.artifacts import Artifacts
    from bitcli.stages.export import onnx_from_checkpoint
    from bitcli.stages.simplify import simplified_onnx_per_bs

    names = Artifacts(workdir)
    if not names.sim_onnx(bs).is_file():
        workdir.mkdir(parents=True, exist_ok=True)
        onnx_from_checkpoint(PTH, names.onnx, arch="BiT-M-R50x1", num_classes=10, image_size=128)
        simplified_onnx_per_bs(names.onnx, (bs,), workdir, image_size=128)
    return names.sim_onnx(bs)


_DATASET: list = []


def images(indices: np.ndarray) -> np.ndarray:
    from bitcli.stages.data import preprocess_batch, read_cifar10_test

    if not _DATASET:  # read the 31 MB pickle once, not once per batch
        _DATASET.append(read_cifar10_test(CIFAR))
    return preprocess_batch(_DATASET[0].images[indices], 128)


def split(calib: int, heldout: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(0).permutation(10_000)
    return order[:calib], order[calib:calib + heldout]


# --------------------------------------------------------------------------- calibration (child processes)


def quantize_child(model: Path, out: Path, calib: int, min_agreement: float | None = None) -> None:
    """In the child: quantize, print the recipe as the last line.

    With ``min_agreement`` the QDQ model is made the way the product makes it: ``bit quantize --engine nncf``'s
    stage (:func:`bitcli.stages.quantize.int8_from_onnx`) on the workdir's dataset_bin, with that guard and
    accuracy control on ``auto``; the recipe then carries the sidecar's guard figures and attempts.
    """
    if min_agreement is not None and out.suffix == ".onnx":
        from bitcli.artifacts import Artifacts
        from bitcli.stages.quantize import QuantizeRequest, int8_from_onnx

        names = Artifacts(model.parent)
        req = QuantizeRequest(bs=int(model.stem.split("_bs")[1].split("_")[0]), engine="nncf", method="mixed",
                              calib=calib, keep_ends=False, min_agreement=min_agreement, accept_loss=True)
        result = int8_from_onnx(model, out, names.dataset_bin, names.label_txt, req, image_size=128, force=True,
                                notify=lambda line: print(line, file=sys.stderr, flush=True))
        print(json.dumps({**result.meta["recipe"], "guard": {k: v for k, v in result.meta["guard"].items() if k != "indices"},
                          "attempts": result.meta["attempts"], "vm_hwm_kib": vm_hwm_kib()}))
        return
    from bitcli.quant import engine

    recipe = engine("nncf")(model, images(split(calib, 0)[0]), out, method="mixed", exclude=(),
                            options={"say": lambda line: print(line, file=sys.stderr)})
    print(json.dumps({**recipe, "vm_hwm_kib": vm_hwm_kib()}))


def vm_hwm_kib() -> int:
    """This process's own peak RSS. Not the parent's ``os.wait4`` ru_maxrss: Linux carries the parent's peak
    into a child's ru_maxrss at exec, and the parent here has exported the model with torch."""
    from bitcli.resources import resident_bytes

    return resident_bytes(peak=True) // 1024


def quantize(model: Path, out: Path, calib: int, reuse: bool = False, min_agreement: float | None = None) -> dict:
    """Run :func:`quantize_child` in a fresh process; its wall time and peak RSS are the calibration cost.

    With ``reuse``, a model quantized by an earlier run (same calibration count) is kept with its recorded figures.
    """
    saved = out.with_name(out.name + ".bench.json")
    if reuse and out.is_file() and saved.is_file() and json.loads(saved.read_text())["calib_images"] == calib:
        say(f"reusing {out.name} quantized by an earlier run (its calibration figures are that run's)")
        return json.loads(saved.read_text())
    start = time.perf_counter()
    child = [sys.executable, __file__, "--child-quantize", str(model), str(out), str(calib)]
    if min_agreement is not None:
        child += ["--min-agreement", str(min_agreement)]
    proc = subprocess.run(child, stdout=subprocess.PIPE, text=True)
    if proc.returncode:
        raise SystemExit(f"quantizing {out.name} failed (exit {proc.returncode})")
    recipe = json.loads(proc.stdout.strip().splitlines()[-1])
    recipe["wall_s"] = time.perf_counter() - start
    recipe["peak_rss_mib"] = recipe["vm_hwm_kib"] / 1024
    say(f"quantized {out.name}: {recipe['wall_s']:.0f} s wall (NNCF {recipe['calibration_s']} s), "
        f"peak RSS {recipe['peak_rss_mib']:.0f} MiB, stated bound {recipe['memory_bound_mib']} MiB")
    for attempt in recipe.get("attempts", []):
        say(f"  guard attempt (accuracy control {attempt['accuracy_control'] or 'off'}): agreement "
            f"{attempt['agreement']:.2%}, Δtop-1 {attempt['delta_top1'] * 100:+.2f} pt, passed {attempt['passed']}")
    saved.write_text(json.dumps(recipe))
    return recipe


# --------------------------------------------------------------------------- rows


def open_rows(bs: int, sim: Path, qdq: Path, ir: Path, ort_int8: Path | None = None) -> dict[str, object]:
    from bitcli.backends.base import BackendOptions
    from bitcli.backends.onnxrt import OnnxRuntimeBackend
    from bitcli.backends.openvino import OpenVinoBackend

    from bitcli.cpu import detect

    specs = {
        "onnxruntime fp32": (OnnxRuntimeBackend, sim, "fp32"),
        "openvino fp32": (OpenVinoBackend, sim, "fp32"),
        "openvino bf16": (OpenVinoBackend, sim, "bf16"),
        "openvino int8 (NNCF QDQ ONNX)": (OpenVinoBackend, qdq, "int8"),
        "openvino int8 (NNCF OpenVINO IR)": (OpenVinoBackend, ir, "int8"),
        "onnxruntime int8 (same QDQ ONNX)": (OnnxRuntimeBackend, qdq, "int8"),
    }
    if ort_int8 is not None:  # bit quantize's onnxruntime model (its own quantizer and recipe)
        specs["onnxruntime int8 (its own quantizer)"] = (OnnxRuntimeBackend, ort_int8, "int8")
    rows = {}
    for name, (cls, model, precision) in specs.items():
        if precision == "bf16" and detect().why_not("bf16"):
            say(f"  {name}: not offered on this CPU ({detect().why_not('bf16')})")
            continue
        backend = cls(BackendOptions(model=model, batch_size=bs, precision=precision))
        backend.open()
        rows[name] = backend
        say(f"  {name}: {backend.describe()}")
    return rows


def speed(rows: dict, bs: int, rounds: int, loop: int, base: str = "onnxruntime fp32",
          batch: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Interleaved blocks: each round runs every row in turn for one untimed batch and ``loop`` timed ones.

    Not one batch per row in turn: onnxruntime's intra-op threads spin-wait after a run, and the row timed
    right after an onnxruntime session ran at about half its speed (measured: onnxruntime int8 bs 1 at 23.8
    img/s after an fp32 session's run, 53.7 alone; 49.2 with spinning off). Blocks keep that, and the cache
    eviction of switching models, to the untimed batch, so the figures are what `bit infer` and `bit bench`
    see, while load that drifts on a shared machine still hits every row within each round.

    Returns per row: img/s from the median and from the best latency, and the median over rounds of the
    per-round ratio of median latencies to ``base``.
    """
    batch = images(np.arange(bs)) if batch is None else batch
    lat: dict[str, list[list[float]]] = {name: [] for name in rows}
    for round_ in range(rounds):
        for name, backend in rows.items():
            backend.infer(batch)  # untimed: the previous row's threads settle, this model's weights come back
            block = []
            for _ in range(loop):
                backend.infer(batch)
                block.append(backend.last_latency_ms)
            lat[name].append(block)
        say(f"  speed round {round_ + 1}/{rounds} ({loop} batches per row): " + ", ".join(
            f"{n.split(' (')[0]} {1000 * bs / statistics.median(v[-1]):.1f}" for n, v in lat.items()))
    out = {}
    for name, blocks in lat.items():
        every = [t for block in blocks for t in block]
        ratio = statistics.median(statistics.median(b) / statistics.median(t) for b, t in zip(lat[base], blocks))
        out[name] = {"img_s": 1000 * bs / statistics.median(every), "best_img_s": 1000 * bs / min(every), "ratio": ratio}
    return out


def logits(backend, indices: np.ndarray, bs: int) -> np.ndarray:
    out = []
    for start in range(0, len(indices), bs):
        chunk = images(indices[start:start + bs])
        if len(chunk) < bs:  # a static-batch model: pad the last batch with copies of its first image
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], bs - len(chunk), axis=0)])
        out.append(backend.infer(np.ascontiguousarray(chunk))[: min(bs, len(indices) - start)])
    return np.concatenate(out)


def reference(backend, sim: Path, workdir: Path, bs: int) -> np.ndarray:
    """onnxruntime fp32 logits of all 10,000 images in order, cached by the model's digest."""
    digest = hashlib.sha256(sim.read_bytes()).hexdigest()[:16]
    cache = workdir / f"reference_onnxruntime_fp32_bs{bs}_{digest}.npy"
    if cache.is_file():
        say(f"  onnxruntime fp32 reference logits of all 10,000 images: cached {cache.name}")
        return np.load(cache)
    ref = logits(backend, np.arange(10_000), bs)
    np.save(cache, ref)
    return ref


def metrics_line(name: str, ref: np.ndarray, test: np.ndarray, labels: np.ndarray) -> dict:
    from bitcli.logit_metrics import compare_logits

    m = compare_logits(ref, test, labels)
    return {"row": name, "n": len(labels), "agreement": m.agreement, "delta_top1_pt": 100 * m.delta_top1,
            "sqnr_db": m.sqnr_db, "top1_ref": m.top1_ref, "top1_test": m.top1_test,
            "nonfinite": m.nonfinite_test, "min_cosine": m.min_cosine}


def ref_or_none(rows: dict, sim: Path, args) -> np.ndarray:
    return reference(rows["onnxruntime fp32"], sim, args.workdir, args.bs)


def full_set(rows: dict, ref: np.ndarray, labels: np.ndarray, ips: dict, args) -> list[dict]:
    """bf16 and the QDQ int8 on all 10,000 images, alternating in chunks of 400: the held-out images first
    (calibration images last), and the figures so far written after each chunk, so a run stopped early
    (a shared machine) still leaves figures on held-out images only."""
    calib, held = split(args.calib, 10_000)
    order = np.concatenate([held, calib])
    names = tuple(n for n in ("openvino bf16", "openvino int8 (NNCF QDQ ONNX)") if n in rows)
    done: dict[str, list[np.ndarray]] = {n: [] for n in names}
    start = time.perf_counter()
    for at in range(0, 10_000, 400):
        chunk = order[at:at + 400]
        for name in names:
            done[name].append(logits(rows[name], chunk, args.bs))
        seen = order[:at + len(chunk)]
        lines = [metrics_line(n, ref[seen], np.concatenate(done[n]), labels[seen]) | ips[n] for n in names]
        say(f"  {len(seen):,} images ({time.perf_counter() - start:.0f} s): "
            + "; ".join(f"{l['row']} agreement {l['agreement']:.2%} Δtop-1 {l['delta_top1_pt']:+.2f}" for l in lines))
        (args.workdir / "bench_openvino_full_partial.json").write_text(json.dumps(lines, default=str))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bit_bench_openvino"))
    parser.add_argument("--bs", type=int, default=8)
    parser.add_argument("--calib", type=int, default=256)
    parser.add_argument("--heldout", type=int, default=496)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--loop", type=int, default=8)
    parser.add_argument("--full", action="store_true", help="bf16 and QDQ int8 on all 10,000 images")
    parser.add_argument("--reuse", action="store_true", help="keep int8 models quantized by an earlier run")
    parser.add_argument("--speed-only", action="store_true", help="no accuracy passes")
    parser.add_argument("--min-agreement", type=float, default=None,
                        help="make the QDQ model through bit quantize's stage (guard + accuracy control auto) at this "
                             "agreement; needs the workdir's dataset_bin/label.txt (bench_int8.py writes them)")
    parser.add_argument("--ort-int8", type=Path, default=None,
                        help="also time (and check) this onnxruntime int8 model, e.g. one `bit quantize --engine onnxruntime` wrote")
    parser.add_argument("--child-quantize", nargs=3, metavar=("MODEL", "OUT", "CALIB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_quantize:
        model, out, calib = args.child_quantize
        return quantize_child(Path(model), Path(out), int(calib), args.min_agreement)
    cpu_header()
    sim = prepare(args.workdir, args.bs)
    bs = args.bs
    qdq, ir = args.workdir / f"bit_bs{bs}_int8.onnx", args.workdir / f"bit_bs{bs}_int8_ir.xml"
    recipes = {"openvino int8 (NNCF QDQ ONNX)": quantize(sim, qdq, args.calib, args.reuse, args.min_agreement),
               "openvino int8 (NNCF OpenVINO IR)": quantize(sim, ir, args.calib, args.reuse)}
    recipes["onnxruntime int8 (same QDQ ONNX)"] = recipes["openvino int8 (NNCF QDQ ONNX)"]
    rows = open_rows(bs, sim, qdq, ir, args.ort_int8)
    ips = speed(rows, bs, args.rounds, args.loop)
    if args.speed_only:
        return report([{"row": n, "n": 0, **v} for n, v in ips.items()], recipes, bs, args)
    from bitcli.stages.data import read_cifar10_test

    labels = np.asarray(read_cifar10_test(CIFAR).labels)
    _, held = split(args.calib, args.heldout)
    ref_held = logits(rows["onnxruntime fp32"], held, bs) if len(held) else None
    table = []
    for name, backend in rows.items() if len(held) else ():
        test = ref_held if name == "onnxruntime fp32" else logits(backend, held, bs)
        table.append(metrics_line(name, ref_held, test, labels[held]) | ips[name])
        say(f"  held-out {name}: agreement {table[-1]['agreement']:.2%}")
    if args.full:
        table += full_set(rows, ref_or_none(rows, sim, args), labels, ips, args)
    report(table, recipes, bs, args)


def report(table: list[dict], recipes: dict, bs: int, args) -> None:
    say(f"\nbs {bs}; calibration {args.calib} images (MIXED); speed: {args.rounds} rounds of {args.loop} batches per row, "
        "img/s from the median (best) latency, × = median per-round ratio; accuracy against onnxruntime fp32")
    say("| row | images | img/s (best) | × ORT fp32 | agreement | Δtop-1 (pt) | SQNR (dB) | top-1 | calibration s | peak RSS MiB (bound) |")
    say("|---|---|---|---|---|---|---|---|---|---|")
    for r in table:
        rec = recipes.get(r["row"])
        cal = f"{rec['wall_s']:.0f}" if rec else "–"
        mem = f"{rec['peak_rss_mib']:.0f} ({rec['memory_bound_mib']})" if rec else "–"
        acc = "| – | – | – | – " if not r["n"] else (
            f"| {r['agreement']:.2%} | {r['delta_top1_pt']:+.2f} | "
            f"{'∞' if r['sqnr_db'] in (None, float('inf')) else format(r['sqnr_db'], '.1f')} | {r['top1_test']:.2%} ")
        say(f"| {r['row']} | {r['n']:,} | {r['img_s']:.1f} ({r['best_img_s']:.1f}) | {r['ratio']:.2f} {acc}| {cal} | {mem} |")
    name = "bench_openvino_speed.json" if args.speed_only else "bench_openvino.json"
    (args.workdir / name).write_text(json.dumps({"rows": table, "recipes": recipes}, default=str))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
