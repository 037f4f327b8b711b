"""The onnxruntime engine: static post-training quantization, QDQ format.

Recipe (each choice measured, see README "bit quantize" and tests/bench/bench_int8.py):

- QDQ (QuantizeLinear/DequantizeLinear pairs; onnxruntime fuses them into int8 kernels at load time);
- weights s8 per output channel, activations u8 asymmetric (s8 activations ran at 0.7× fp32 on the
  reference machine: onnxruntime's fast x86 kernels are u8×s8);
- calibration: minmax, entropy or percentile over the calibration images, histogram methods in chunks
  (``options["chunk_images"]``, see :mod:`bitcli.quant.calib`);
- ``reduce_range`` from ``options`` (chosen from the CPU's flags by the stage);
- ``exclude``: node names kept in fp32.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Any, Iterator

from bitcli.errors import ConfigError, DataError, require

METHODS = ("minmax", "entropy", "percentile")


class _Batches:
    """onnxruntime's CalibrationDataReader over an in-memory array, one model batch per call."""

    def __init__(self, name: str, calib: Any, bs: int) -> None:
        self.name, self.calib, self.bs = name, calib, bs
        self.start, self.end = 0, len(calib) // bs
        self.pos = self.start

    def get_next(self) -> dict[str, Any] | None:
        if self.pos >= self.end:
            return None
        batch = self.calib[self.pos * self.bs:(self.pos + 1) * self.bs]
        self.pos += 1
        return {self.name: batch}

    def __len__(self) -> int:
        return len(self.calib) // self.bs

    def set_range(self, start_index: int, end_index: int) -> None:
        self.start, self.end, self.pos = start_index, end_index, start_index


def _reader_class(quantization: Any) -> type:
    """A subclass of onnxruntime's reader ABC (it type-checks the argument) around :class:`_Batches`."""

    class Reader(_Batches, quantization.CalibrationDataReader):
        pass

    return Reader


def _model_input(path: Path) -> tuple[str, int]:
    onnx = require("onnx", purpose="bit quantize")
    model = onnx.load(str(path), load_external_data=False)
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise DataError(f"{path} has {len(inputs)} inputs; bit quantizes single-input classifiers")
    dim = inputs[0].type.tensor_type.shape.dim[0]
    if not dim.dim_value:
        raise ConfigError(f"{path} has a dynamic batch size; calibration needs a static-shape model",
                          hint="quantize the simplified model of one batch size: bit simplify --bs N, then bit quantize --bs N")
    return inputs[0].name, int(dim.dim_value)


def quantize(fp32_onnx: Path, calib: Any, out: Path, *, method: str, exclude: tuple[str, ...],
             options: dict[str, Any]) -> dict[str, Any]:
    """Quantize ``fp32_onnx`` into ``out`` (QDQ) calibrated on ``calib``; return the recipe.

    Args:
        fp32_onnx: a static-batch float model (``bit_bs{N}_sim.onnx``).
        calib: float32 ``[N, 3, H, W]``, N a multiple of the model's batch size.
        out: where the quantized model is written.
        method: minmax | entropy | percentile.
        exclude: node names left in fp32.
        options: ``reduce_range`` (bool), ``chunk_images`` (int, histogram methods), ``percentile`` (float),
            ``op_types`` (list of op types to quantize; None: every type onnxruntime can).

    Returns:
        The recipe actually used (format, types, method, exclusions, reduce_range, chunking).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown calibration method '{method}'", hint="use " + " | ".join(METHODS))
    ort = require("onnxruntime", purpose="bit quantize")
    from onnxruntime import quantization as q

    name, bs = _model_input(Path(fp32_onnx))
    reader = _reader_class(q)(name, calib, bs)
    extra: dict[str, Any] = {}
    chunk = int(options.get("chunk_images") or len(calib))
    if method != "minmax" and chunk < len(calib):
        extra["CalibStridedMinMax"] = max(1, chunk // bs)  # batches per collect_data call; histograms merge
    if method == "percentile":
        extra["CalibPercentile"] = float(options.get("percentile", 99.999))
    calibrate = {"minmax": q.CalibrationMethod.MinMax, "entropy": q.CalibrationMethod.Entropy,
                 "percentile": q.CalibrationMethod.Percentile}[method]
    reduce_range = bool(options.get("reduce_range", False))
    # A loaded model, not its path: given a path, onnxruntime writes "{stem}-inferred.onnx" beside the
    # user's model and deletes it afterwards (a file of that name would be lost, and two runs race on it).
    model = require("onnx", purpose="bit quantize").load(str(fp32_onnx))
    with _quiet():
        q.quantize_static(model, str(out), reader, quant_format=q.QuantFormat.QDQ, per_channel=True,
                          reduce_range=reduce_range, activation_type=q.QuantType.QUInt8,
                          weight_type=q.QuantType.QInt8, nodes_to_exclude=list(exclude), calibrate_method=calibrate,
                          op_types_to_quantize=options.get("op_types"),
                          calibration_providers=["CPUExecutionProvider"], extra_options=extra)
    return {"engine": "onnxruntime", "onnxruntime": ort.__version__, "format": "QDQ", "per_channel": True,
            "activations": "u8 asymmetric", "weights": "s8 symmetric per channel", "method": method,
            "percentile": extra.get("CalibPercentile"), "exclude": list(exclude), "reduce_range": reduce_range,
            "chunk_batches": extra.get("CalibStridedMinMax"), "calib_images": len(calib),
            "op_types": options.get("op_types") or "all"}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """onnxruntime's quantizer logs on the root logger (one warning per GroupNorm bias, a pre-processing
    advert) and prints one progress line per calibration chunk on stdout, which would corrupt ``--json``:
    errors only, and its prints dropped (bit prints its own memory plan before calibrating)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def first_last_conv(fp32_onnx: Path) -> tuple[str, ...]:
    """Names of the first and the last Conv node (topological order): the stem and the classifier head."""
    onnx = require("onnx", purpose="bit quantize")
    model = onnx.load(str(fp32_onnx), load_external_data=False)
    convs = [n.name for n in model.graph.node if n.op_type == "Conv" and n.name]
    if not convs:
        raise DataError(f"{fp32_onnx} has no named Conv node to keep in fp32", hint="pass --exclude NODE names instead")
    return tuple(dict.fromkeys((convs[0], convs[-1])))
