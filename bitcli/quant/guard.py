"""The accuracy guard: a quantized model is measured against fp32 before anyone gets it.

Engine-agnostic: it runs both ONNX files on the same held-out images (never the calibration images), on the
runtime that will run the int8 model (onnxruntime for the onnxruntime engine's model, OpenVINO for NNCF's:
the same QDQ file gives different logits and speed on the two), and judges the logits with
:func:`bitcli.logit_metrics.compare_logits`:

- top-1 **agreement** of int8 with fp32 must be ≥ ``min_agreement``;
- **Δtop-1** (int8 top-1 − fp32 top-1 against the labels) must be ≥ ``−max_top1_drop``;
- int8 logits must be finite.

A crossed threshold refuses the model (``GuardFailed``, exit 1, the figures and the fix in the message)
unless the user accepts the loss explicitly; then the model is written, a loud warning printed, and the
sidecar records ``accepted_loss: true`` with the failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitcli.errors import BitError


class GuardFailed(BitError):
    """The quantized model lost more accuracy than the profile allows."""


@dataclass
class GuardReport:
    """The held-out measurement of a quantized model."""

    samples: int
    indices: list[int]
    metrics: Any                           # LogitMetrics (ref = fp32, test = int8)
    min_agreement: float
    max_top1_drop: float
    failures: list[str] = field(default_factory=list)
    fp32_ips: float | None = None          # images/s of each model on the held-out run (same process)
    int8_ips: float | None = None
    runtime: str = "onnxruntime"           # what ran both models

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        m = self.metrics.to_json()
        keep = ("agreement", "top5_overlap", "cosine", "min_cosine", "sqnr_db", "max_abs", "top1_ref", "top1_test",
                "delta_top1", "nonfinite_test")
        return {"samples": self.samples, "indices": self.indices, **{k: m[k] for k in keep},
                "thresholds": {"min_agreement": self.min_agreement, "max_top1_drop": self.max_top1_drop},
                "passed": self.passed, "failures": self.failures,
                "fp32_images_per_s": self.fp32_ips, "int8_images_per_s": self.int8_ips, "runtime": self.runtime}


def judge(metrics: Any, *, min_agreement: float, max_top1_drop: float) -> list[str]:
    """Each crossed threshold as a sentence with its figure (empty: the model passes)."""
    failures = []
    if metrics.nonfinite_test:
        failures.append(f"{metrics.nonfinite_test} int8 logits are NaN/inf")
    if metrics.agreement < min_agreement:
        failures.append(f"top-1 agreement with fp32 {metrics.agreement:.2%} < min_agreement {min_agreement:.2%}")
    delta = metrics.delta_top1
    if delta is not None and delta < -max_top1_drop - 1e-12:
        failures.append(f"top-1 {metrics.top1_test:.2%} vs fp32 {metrics.top1_ref:.2%} "
                        f"(Δ {delta * 100:+.2f} pt) drops more than max_top1_drop {max_top1_drop * 100:.2f} pt")
    return failures


def run_onnx(model: Path, samples: Any, bs: int, *, threads: int | None = None, runtime: str = "onnxruntime",
             precision: str = "fp32") -> tuple[Any, float]:
    """Logits of ``samples`` ([N,3,H,W]) through one ONNX file in batches of ``bs``, and compute images/s.

    ``runtime`` is onnxruntime or openvino (``precision`` int8 for a quantized file there, so OpenVINO keeps
    its f32 hint for the rest). A short last batch is padded with copies of its first sample (as ais_bench
    pads); their rows are dropped.
    """
    import numpy as np

    from bitcli.backends.base import BackendOptions

    if runtime == "openvino":
        from bitcli.backends.openvino import OpenVinoBackend as backend_class
    else:
        from bitcli.backends.onnxrt import OnnxRuntimeBackend as backend_class
    size = samples.shape[-1]
    rows, seconds = [], 0.0
    options = BackendOptions(model=model, batch_size=bs, image_size=size, threads=threads,
                             precision=precision if runtime == "openvino" else "fp32")
    with backend_class(options) as be:
        for start in range(0, len(samples), bs):
            batch = samples[start:start + bs]
            real = len(batch)
            if real < bs:
                batch = np.concatenate([batch, np.repeat(batch[:1], bs - real, axis=0)])
            rows.append(np.asarray(be.infer(np.ascontiguousarray(batch)), dtype=np.float32)[:real])
            seconds += be.last_latency_ms / 1000.0
    return np.concatenate(rows), (len(samples) / seconds if seconds else 0.0)


def measure(fp32: Path, int8: Path, samples: Any, labels: Any, indices: list[int], *, bs: int,
            min_agreement: float, max_top1_drop: float, threads: int | None = None,
            runtime: str = "onnxruntime") -> GuardReport:
    """Run both models on the held-out ``samples`` and judge int8 against fp32.

    Args:
        fp32, int8: the two ONNX files.
        samples: float32 ``[N,3,H,W]`` held-out images; ``labels``: their classes (or None).
        indices: their indices in dataset_bin (recorded).
        bs: the models' batch size.
        min_agreement, max_top1_drop: the thresholds (fractions).
        threads: runtime threads (None: all usable cores).
        runtime: onnxruntime | openvino, the runtime that will run the int8 model.
    """
    from bitcli.logit_metrics import compare_logits

    ref, ref_ips = run_onnx(fp32, samples, bs, threads=threads, runtime=runtime)
    test, test_ips = run_onnx(int8, samples, bs, threads=threads, runtime=runtime, precision="int8")
    metrics = compare_logits(ref, test, labels)
    return GuardReport(samples=len(samples), indices=list(indices), metrics=metrics, min_agreement=min_agreement,
                       max_top1_drop=max_top1_drop,
                       failures=judge(metrics, min_agreement=min_agreement, max_top1_drop=max_top1_drop),
                       fp32_ips=ref_ips, int8_ips=test_ips, runtime=runtime)
