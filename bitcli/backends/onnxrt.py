"""onnxruntime: the embedded default where no Ascend NPU is present.

Runs ``bit_bs{bs}_sim.onnx`` (static batch) or the dynamic ``bit.onnx``. The
session options below are chosen for throughput of one large convolutional
model fed one batch at a time; each is explained where it is set.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Mapping

from bitcli.backends.base import Backend
from bitcli.errors import BackendUnavailable, ConfigError, DataError, require

# Short names users type → onnxruntime provider names.
PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cann": "CANNExecutionProvider",
}
# "auto" takes the first of these that the installed onnxruntime offers.
PREFERRED = ("CUDAExecutionProvider", "ROCMExecutionProvider", "DmlExecutionProvider", "CPUExecutionProvider")


def usable_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_provider(requested: str, available: list[str]) -> str:
    """Map ``auto``/``cpu``/``cuda``/a full name onto an installed provider.

    Raises:
        BackendUnavailable: the provider is not offered by this onnxruntime build.
    """
    if requested == "auto":
        return next((p for p in PREFERRED if p in available), available[0])
    name = PROVIDER_ALIASES.get(requested.lower(), requested)
    if name not in available:
        raise BackendUnavailable(
            f"onnxruntime provider '{requested}' is not available in this onnxruntime build",
            hint=f"available: {', '.join(available)}; use --provider auto, or install the matching "
            "onnxruntime package (e.g. onnxruntime-gpu for cuda)",
        )
    return name


class OnnxRuntimeBackend(Backend):
    """An onnxruntime InferenceSession over one ONNX file."""

    name = "onnxruntime"

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self._session: Any = None
        self._feed_name = ""
        self._fetch: list[str] = []
        self._shape: tuple[int, ...] = ()
        self._provider = ""
        self._threads = 0

    @classmethod
    def available(cls, context: Mapping[str, Any] | None = None) -> str | None:
        import importlib.util

        if importlib.util.find_spec("onnxruntime") is None:
            return "Python package 'onnxruntime' is not installed (pip install onnxruntime)"
        return None

    def describe(self) -> str:
        if self._provider == "CPUExecutionProvider":
            return f"{self._provider} x{self._threads} threads"
        return self._provider or self.name

    def open(self) -> None:
        ort = require("onnxruntime", purpose="the onnxruntime backend")
        path = Path(self.options.model)
        if not path.is_file():
            raise DataError(
                f"model file not found: {path}",
                hint="run `bit export` and `bit simplify --bs N` first, or pass --model PATH",
            )
        self._provider = resolve_provider(self.options.provider, ort.get_available_providers())
        self._threads = self.options.threads or usable_cores()
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=self._session_options(ort), providers=[self._provider]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise DataError(
                f"onnxruntime cannot load {path}: {str(exc).splitlines()[0]}",
                hint="re-create it with `bit export --force` / `bit simplify --force`",
            ) from None
        self._bind_io(path)

    def _session_options(self, ort: Any) -> Any:
        so = ort.SessionOptions()
        # All graph rewrites (constant folding, Conv+Add/Mul fusion, layout
        # transforms such as NCHWc on x86) — the biggest single win for a CNN.
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One batch at a time through a chain of convolutions: parallelism lives
        # inside each op (intra-op), so give it every usable core ...
        so.intra_op_num_threads = self._threads
        # ... and run nodes in order: a ResNet has almost no independent
        # branches, and a second (inter-op) pool would only compete for cores.
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.inter_op_num_threads = 1
        # Reuse activation buffers between runs instead of malloc/free per batch
        # (the arena and the memory-pattern planner only pay off for repeated
        # same-shape runs, which is exactly our workload).
        so.enable_cpu_mem_arena = True
        so.enable_mem_pattern = True
        # Worker threads spin briefly between ops instead of sleeping: lower
        # per-op latency at the cost of burning idle CPU, right for a
        # dedicated benchmark/inference process.
        so.add_session_config_entry("session.intra_op.allow_spinning", "1")
        so.log_severity_level = 3  # errors only; warnings about unused initialisers are noise here
        return so

    def _bind_io(self, path: Path) -> None:
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise DataError(f"{path} has {len(inputs)} inputs; a BiT classifier has exactly one ('image')")
        self._feed_name = inputs[0].name
        self._fetch = [self._session.get_outputs()[0].name]
        dims = list(inputs[0].shape)
        if len(dims) != 4:
            raise DataError(f"{path}: input '{self._feed_name}' has shape {dims}, expected N,3,H,W")
        bs, size = self.options.batch_size, self.options.image_size
        if isinstance(dims[0], int) and dims[0] != bs:
            raise ConfigError(
                f"{path.name} is a batch-size-{dims[0]} model, but batch size {bs} was asked for",
                hint=f"use --bs {dims[0]}, or simplify a model for bs {bs} (`bit simplify --bs {bs}`)",
            )
        self._shape = (
            bs,
            dims[1] if isinstance(dims[1], int) else 3,
            dims[2] if isinstance(dims[2], int) else size,
            dims[3] if isinstance(dims[3], int) else size,
        )

    def input_shape(self) -> tuple[int, ...]:
        return self._shape or super().input_shape()

    def close(self) -> None:
        self._session = None

    def infer(self, batch: Any) -> Any:
        feed = {self._feed_name: batch}
        start = time.perf_counter()
        out = self._session.run(self._fetch, feed)[0]
        self.last_latency_ms = (time.perf_counter() - start) * 1000.0
        return out
