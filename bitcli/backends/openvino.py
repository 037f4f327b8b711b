"""OpenVINO on the CPU: the fastest CPU path where it is installed (``pip install 'bitcli[openvino]'``).

Reads the same simplified ONNX as onnxruntime (``bit_bs{bs}_sim.onnx``; OpenVINO
parses ONNX directly) and compiles it for the CPU plugin with the profile's
``precision``:

* ``fp32`` — ``INFERENCE_PRECISION_HINT=f32``; OpenVINO would otherwise pick bf16
  by itself on a CPU with AMX or AVX512-BF16, which changes results silently.
* ``bf16`` — ``INFERENCE_PRECISION_HINT=bf16``; refused (one line, naming the
  missing feature) where the CPU lacks AVX512-BF16 and AMX-BF16, because the
  plugin would emulate it, slower than fp32 (:mod:`bitcli.cpu`).
* ``int8`` — runs the int8 artefact ``bit_bs{bs}_int8.onnx`` (the QDQ ONNX that
  ``bitcli.quant.nncf_engine`` writes); quantized layers run in int8, the rest
  in f32 (the hint stays f32 so nothing else is lowered behind the user's back).

The device line (``describe``) names the CPU model and the precision OpenVINO
reports for the compiled model, queried after compiling (``INFERENCE_PRECISION_HINT``,
``EXECUTION_DEVICES``), so a report never claims a precision that did not run.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any, Mapping

from bitcli.backends.base import Backend
from bitcli.errors import BackendUnavailable, ConfigError, DataError

INSTALL_HINT = "pip install 'bitcli[openvino]' (or: pip install openvino)"
HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # precision → INFERENCE_PRECISION_HINT


def import_openvino() -> Any:
    """``import openvino`` or a BackendUnavailable naming the install command."""
    try:
        import openvino  # noqa: PLC0415 (lazy: keeps `bit --help` instant)
    except ImportError as exc:
        raise BackendUnavailable(f"the openvino backend needs the Python package 'openvino' ({exc})",
                                 hint=INSTALL_HINT) from None
    return openvino


class OpenVinoBackend(Backend):
    """An OpenVINO compiled model on the CPU over one ONNX file."""

    name = "openvino"

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self._request: Any = None
        self._compiled: Any = None
        self._shape: tuple[int, ...] = ()
        self.used_precision = ""    # what OpenVINO reports after compiling (f32, bf16)
        self.devices: tuple[str, ...] = ()

    @classmethod
    def available(cls, context: Mapping[str, Any] | None = None) -> str | None:
        if importlib.util.find_spec("openvino") is None:
            return f"Python package 'openvino' is not installed ({INSTALL_HINT})"
        return None

    @property
    def precision(self) -> str:
        return self.options.precision

    def describe(self) -> str:
        from bitcli.cpu import detect

        where = "+".join(self.devices) or "CPU"
        used = f", inference precision {self.used_precision}" if self.used_precision else ""
        if self.precision == "int8":
            used += " (int8 layers from the quantized model)"
        return f"OpenVINO {where} ({detect().model}){used}, {self._threads()} threads"

    def _threads(self) -> int:
        from bitcli.backends.onnxrt import usable_cores

        return self.options.threads or usable_cores()

    def open(self) -> None:
        precision = self.precision
        if precision not in HINTS:
            raise ConfigError(f"the openvino backend has no precision '{precision}'",
                              hint="use precision fp32, bf16 or int8")
        _check_cpu(precision)
        ov = import_openvino()
        path = Path(self.options.model)
        if not path.is_file():
            raise DataError(f"model file not found: {path}", hint=_model_hint(precision, self.options.batch_size))
        core = ov.Core()
        try:
            model = core.read_model(str(path))
            self._compiled = core.compile_model(model, "CPU", self._config())
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with multi-line text
            raise DataError(f"OpenVINO cannot load {path}: {str(exc).strip().splitlines()[0]}",
                            hint="re-create it with `bit export --force` / `bit simplify --force`") from None
        used = self._compiled.get_property("INFERENCE_PRECISION_HINT")  # an ov.Type: f32, bf16
        self.used_precision = used.get_type_name() if hasattr(used, "get_type_name") else str(used)
        self.devices = tuple(self._compiled.get_property("EXECUTION_DEVICES"))
        self._bind_input(path)
        self._request = self._compiled.create_infer_request()

    def _config(self) -> dict[str, Any]:
        return {
            "INFERENCE_PRECISION_HINT": HINTS[self.precision],
            # One batch at a time, synchronously: one stream using every core (LATENCY), the way
            # `bit bench` times every backend; THROUGHPUT would split the cores into parallel streams.
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": self._threads(),
        }

    def _bind_input(self, path: Path) -> None:
        inputs = self._compiled.inputs
        if len(inputs) != 1:
            raise DataError(f"{path} has {len(inputs)} inputs; a BiT classifier has exactly one ('image')")
        shape = inputs[0].get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4:
            raise DataError(f"{path}: input has shape {shape}, expected N,3,H,W")
        dims = [d.get_length() if d.is_static else None for d in shape]
        bs, size = self.options.batch_size, self.options.image_size
        if dims[0] is not None and dims[0] != bs:
            raise ConfigError(f"{path.name} is a batch-size-{dims[0]} model, but batch size {bs} was asked for",
                              hint=f"use --bs {dims[0]}, or simplify a model for bs {bs} (`bit simplify --bs {bs}`)")
        self._shape = (bs, dims[1] or 3, dims[2] or size, dims[3] or size)

    def input_shape(self) -> tuple[int, ...]:
        return self._shape or super().input_shape()

    def close(self) -> None:
        self._request = None
        self._compiled = None

    def infer(self, batch: Any) -> Any:
        import numpy as np

        data = np.ascontiguousarray(batch, dtype=np.float32)
        start = time.perf_counter()
        self._request.infer({0: data})
        self.last_latency_ms = (time.perf_counter() - start) * 1000.0
        return np.array(self._request.get_output_tensor(0).data, dtype=np.float32)  # a copy: the buffer is reused


def _check_cpu(precision: str) -> None:
    from bitcli.cpu import detect

    reason = detect().why_not(precision)
    if reason:
        raise ConfigError(f"precision {precision} is not offered on this CPU: {reason}",
                          hint="use precision fp32 or int8 (see `bit doctor` for the CPU features found)")


def _model_hint(precision: str, bs: int) -> str:
    if precision == "int8":
        return f"quantize it first: `bit quantize --engine nncf --bs {bs}` (writes bit_bs{bs}_int8.onnx)"
    return "run `bit export` and `bit simplify --bs N` first, or pass --model PATH"
