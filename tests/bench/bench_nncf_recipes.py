"""NNCF int8 recipes on OpenVINO: agreement with OpenVINO fp32, SQNR and img/s, in one run (issue 16).

Prints figures; asserts nothing (STYLE.md: honest benchmarks, no timed tests).

    python tests/bench/bench_nncf_recipes.py --workdir WORKDIR [--bs 8] [--images 2000] [--only A,C]

WORKDIR holds what ``bit data`` and ``bit simplify --bs N`` wrote from the trained checkpoint
(``dataset_bin/``, ``bit_bs{N}_sim.onnx``); a ``bit_bs{N}_int8.onnx`` written by the onnxruntime engine is
also timed and scored, as row F. Calibration: the 256 images of ``bit quantize``'s own split (seed 0);
evaluation: the first ``--images`` images outside them. Every recipe keeps the first and last Conv in fp32
(``keep_ends``, the product default) and uses preset MIXED. The rows:

A NNCF's defaults (``OverflowFix.FIRST_LAYER``, every op type NNCF quantizes)
B 7-bit weights everywhere (``OverflowFix.ENABLE``, onnxruntime's ``reduce_range``)
C 8-bit weights (``OverflowFix.DISABLE``)
D B + mean-quantile activation ranges
E B + Adds left in float
G C + Adds left in float
H C + only Conv quantized (every other op type ignored): what ``bit quantize --engine nncf`` does by default

img/s: each model timed in turn at the end (3 warm-up and 25 timed batches, two rounds), LATENCY hint,
every core; fp32 in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def say(text: str) -> None:
    print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--bs", type=int, default=8)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--only", default="", help="comma-separated row letters")
    args = parser.parse_args()

    import nncf
    import onnx
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    from bitcli.cpu import detect
    from bitcli.quant import calib as cal
    from bitcli.quant.nncf_engine import _stdout_kept_clean
    from bitcli.quant.ort_engine import first_last_conv
    from bitcli.stages.infer_io import input_files

    cpu = detect()
    say(f"CPU: {cpu.model}, {len(os.sched_getaffinity(0))} usable cores; flags: {' '.join(sorted(cpu.flags))}")
    say(f"openvino {ov.__version__}, nncf {nncf.__version__}")
    bs, work = args.bs, args.workdir
    sim = work / f"bit_bs{bs}_sim.onnx"
    files = input_files(work / "dataset_bin")
    calib_idx, _hold = cal.split_indices(len(files), 256, 496, 0, bs)
    image_size = onnx.load(str(sim), load_external_data=False).graph.input[0].type.tensor_type.shape.dim[2].dim_value
    calib = cal.load(files, calib_idx, image_size)
    taken = set(calib_idx)
    eval_idx = [i for i in range(len(files)) if i not in taken][: args.images // bs * bs]
    images = cal.load(files, eval_idx, image_size)
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}

    def logits(path: Path) -> np.ndarray:
        compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        request = compiled.create_infer_request()
        return np.concatenate([request.infer({0: images[s:s + bs]})[compiled.outputs[0]].copy()
                               for s in range(0, len(images), bs)])

    fp32_model = onnx.load(str(sim))
    reference = logits(sim)
    name = fp32_model.graph.input[0].name
    dataset = nncf.Dataset([calib[i:i + bs] for i in range(0, len(calib), bs)], lambda b: {name: b})
    ends = list(first_last_conv(sim))
    every_type_but_conv = sorted({n.op_type for n in fp32_model.graph.node} - {"Conv"})
    mean_quantile = RangeEstimatorParametersSet.MEAN_QUANTILE
    rows = {
        "A": ("NNCF defaults", OverflowFix.FIRST_LAYER, [], None),
        "B": ("7-bit weights", OverflowFix.ENABLE, [], None),
        "C": ("8-bit weights", OverflowFix.DISABLE, [], None),
        "D": ("7-bit weights, mean-quantile ranges", OverflowFix.ENABLE, [], mean_quantile),
        "E": ("7-bit weights, Adds in float", OverflowFix.ENABLE, ["Add"], None),
        "G": ("8-bit weights, Adds in float", OverflowFix.DISABLE, ["Add"], None),
        "H": ("8-bit weights, only Conv (bit's default)", OverflowFix.DISABLE, every_type_but_conv, None),
    }
    only = set(filter(None, args.only.split(",")))
    models: dict[str, Path] = {"fp32": sim}
    say(f"\nbs {bs}: 256 calibration images, {len(images)} evaluation images; agreement with OpenVINO fp32")
    say("| row | recipe | agreement | SQNR | quantize s |\n|---|---|---|---|---|")
    for key, (title, overflow, ignored_types, ranges) in rows.items():
        if only and key not in only:
            continue
        start = time.perf_counter()
        advanced = AdvancedQuantizationParameters(overflow_fix=overflow, **(
            {"activations_range_estimator_params": ranges} if ranges else {}))
        with _stdout_kept_clean():
            quantized = nncf.quantize(fp32_model, dataset, preset=nncf.QuantizationPreset.MIXED,
                                      subset_size=len(calib) // bs, advanced_parameters=advanced,
                                      ignored_scope=nncf.IgnoredScope(names=ends, types=ignored_types, validate=False))
        seconds = time.perf_counter() - start
        models[key] = work / f"bench_nncf_{key}.onnx"
        onnx.save(quantized, str(models[key]))
        say(_row(key, title, reference, logits(models[key]), f"{seconds:.0f}"))
    ort_int8 = work / f"bit_bs{bs}_int8.onnx"
    if ort_int8.is_file() and (not only or "F" in only):
        models["F"] = ort_int8
        say(_row("F", "onnxruntime's own int8 file (bit quantize --backend onnxruntime)", reference, logits(ort_int8), "–"))
    say("\nimg/s, each model timed in turn (two rounds):")
    batch = np.random.default_rng(0).standard_normal((bs, 3, image_size, image_size)).astype(np.float32)
    compiled = {key: core.compile_model(core.read_model(str(path)), "CPU", config) for key, path in models.items()}
    speeds: dict[str, list[float]] = {key: [] for key in compiled}
    for _round in range(2):
        for key, model in compiled.items():
            request = model.create_infer_request()
            for _ in range(3):
                request.infer({0: batch})
            start = time.perf_counter()
            for _ in range(25):
                request.infer({0: batch})
            speeds[key].append(25 * bs / (time.perf_counter() - start))
    base = float(np.mean(speeds["fp32"]))
    for key, values in speeds.items():
        say(f"  {key}: {' / '.join(f'{v:.1f}' for v in values)} img/s (×{np.mean(values) / base:.2f})")


def _row(key: str, title: str, reference: np.ndarray, test: np.ndarray, seconds: str) -> str:
    from bitcli.logit_metrics import compare_logits

    metrics = compare_logits(reference, test)
    return f"| {key} | {title} | {metrics.agreement:.2%} | {metrics.sqnr_db:.1f} dB | {seconds} |"


if __name__ == "__main__":
    main()
