"""The Backend protocol and the name → class registry.

A backend runs one batch at a time and times only its own compute call, so
``bit bench`` figures compare across backends the way ais_bench's
``NPU_compute_time`` does (host wall clock around one synchronous execute,
excluding data loading and Python overhead around it).

Backends that drive a whole external tool (ais_bench runs the full data set
in its own process) additionally implement :meth:`Backend.run_folder`; the
infer stage prefers it when present. Modules are imported lazily through
:data:`REGISTRY` so ``bit --help`` never imports torch or onnxruntime.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

from bitcli.errors import BackendUnavailable, BitError, ConfigError

# name -> "module:Class"; ``auto`` is resolved by :func:`select_backend`.
REGISTRY: dict[str, str] = {
    "ascend": "bitcli.backends.ais:AisBackend",
    "onnxruntime": "bitcli.backends.onnxrt:OnnxRuntimeBackend",
    "openvino": "bitcli.backends.openvino:OpenVinoBackend",
    "torch": "bitcli.backends.torch:TorchBackend",
}
# ``auto``: the fastest correct path for the host. OpenVINO (when installed) beats onnxruntime
# on x86 at every precision (cpu-precision.md). On aarch64 (Kunpeng Ascend hosts) auto keeps
# onnxruntime: OpenVINO's Arm build has not passed our accuracy check there; pick it by name.
AUTO_ORDER = ("ascend", "openvino", "onnxruntime")
AUTO_SKIP_ON = {"openvino": ("aarch64", "arm64")}


@dataclass
class BackendOptions:
    """Everything a backend may need to open a model for one batch size."""

    model: Path | str                     # .om / .onnx / checkpoint (or "random" for torch)
    batch_size: int
    image_size: int = 128
    num_classes: int | None = None
    arch: str = "BiT-M-R50x1"
    seed: int = 0
    provider: str = "auto"                 # onnxruntime
    precision: str = "fp32"                # fp32 | int8 | bf16 (profile `precision`; CPU backends)
    threads: int | None = None             # onnxruntime / torch
    devices: tuple[int, ...] = (0,)        # ascend
    env: dict[str, str] | None = None      # ascend: environment with CANN sourced
    extra: dict[str, Any] = field(default_factory=dict)


class Backend:
    """One inference runtime. Subclasses set ``name`` and override the hooks.

    Use as a context manager::

        with OnnxRuntimeBackend(opts) as be:
            logits = be.infer(batch)      # (bs, 3, H, W) float32 → (bs, classes)
            be.last_latency_ms            # the compute call only
    """

    name: ClassVar[str] = "base"

    def __init__(self, options: BackendOptions) -> None:
        self.options = options
        self.last_latency_ms: float = 0.0

    @classmethod
    def available(cls, context: Mapping[str, Any] | None = None) -> str | None:
        """None when this backend can run here, else the reason it cannot.

        ``context`` carries host settings a backend may need to decide
        (``set_env``: CANN's set_env.sh from the profile).
        """
        return None

    def describe(self) -> str:
        """The device/provider this backend runs on, for reports (e.g. 'CPUExecutionProvider x2 threads')."""
        return self.name

    def open(self) -> None:
        """Load the model; raise a BitError naming the problem and the fix."""

    def close(self) -> None:
        """Release the model and device."""

    def input_shape(self) -> tuple[int, ...]:
        """The model's input 0 shape once opened (NCHW); ais_bench sizes batches from its bytes."""
        size = self.options.image_size
        return (self.options.batch_size, 3, size, size)

    def infer(self, batch: Any) -> Any:
        """Run one batch (numpy float32 NCHW) and return logits; set ``last_latency_ms``."""
        raise NotImplementedError

    # ---- optional capabilities, for backends that drive an external tool (ais_bench)

    def run_folder(self, input_dir: Path, output_root: Path, dirname: str) -> dict[str, Any] | None:
        """Run the whole ``input_dir`` of per-sample .bin files in one go.

        Returns ais_bench's summary dict (written as ``output_root/dirname_summary.json``),
        or None when this backend has no such mode and the caller should feed
        batches to :meth:`infer` itself (onnxruntime, torch).
        """
        return None

    def bench_latencies(self, loop: int, warmup: int) -> list[float] | None:
        """Per-run compute times (ms) of ``loop`` pure-inference runs after ``warmup``.

        Returns None when the caller should time :meth:`infer` itself.
        """
        return None

    def __enter__(self) -> "Backend":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def backend_class(name: str) -> type[Backend]:
    """The class registered under ``name`` (imports its module lazily)."""
    if name not in REGISTRY:
        import difflib

        near = difflib.get_close_matches(name, list(REGISTRY) + ["auto"], n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise ConfigError(f"unknown backend '{name}'", hint=f"{hint}choose one of auto, {', '.join(REGISTRY)}")
    module_name, _, cls_name = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), cls_name)


def select_backend(name: str, context: Mapping[str, Any] | None = None) -> tuple[type[Backend], str]:
    """Resolve ``auto`` and check availability.

    Args:
        name: ``auto`` or a registered backend name.
        context: host settings passed to ``available`` (``{"set_env": ...}``).

    Returns:
        The backend class and one line saying which was chosen and why.

    Raises:
        BackendUnavailable: the named backend cannot run here (with the reason).
    """
    if name != "auto":
        cls = backend_class(name)
        reason = cls.available(context)
        if reason:
            raise BackendUnavailable(f"backend '{name}' is not usable here: {reason}", hint=_fallback_hint(name))
        return cls, f"backend: {name} (requested)"
    skipped: list[str] = []
    for candidate in auto_order():
        cls = backend_class(candidate)
        try:
            reason = cls.available(context)
        except BitError as exc:  # e.g. the profile's set_env.sh fails: auto falls back and says why
            reason = exc.message
        if reason is None:
            why = "; ".join(skipped)
            return cls, f"backend: {candidate} (auto{': ' + why if why else ''})"
        skipped.append(f"{candidate} unavailable — {reason}")
    raise BackendUnavailable("no backend is usable: " + "; ".join(skipped), hint="pip install onnxruntime")


def auto_order(machine: str | None = None) -> tuple[str, ...]:
    """The backends ``auto`` tries on this host, in order (see :data:`AUTO_ORDER`)."""
    import platform

    machine = (machine or platform.machine()).lower()
    return tuple(name for name in AUTO_ORDER if machine not in AUTO_SKIP_ON.get(name, ()))


def _fallback_hint(name: str) -> str:
    if name == "ascend":
        return "run on an Ascend host with CANN and ais_bench, or use --backend onnxruntime"
    return "see `bit doctor`, or choose another --backend"
