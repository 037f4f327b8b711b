"""Finding the int8 model of a batch size, and refusing it when it is missing or stale.

``bit_bs{N}_int8.onnx``'s sidecar names the sha256 of the fp32 model it was quantized from
(``fp32_sha256``). When that fp32 model (``bit_bs{N}_sim.onnx``) has changed since, the int8 model
describes weights that no longer exist: infer, bench, eval and all refuse it with the fix.
"""

from __future__ import annotations

from pathlib import Path

from bitcli.artifacts import Artifacts, read_sidecar, sha256_file
from bitcli.errors import ConfigError, DataError


def int8_status(workdir: Path, bs: int) -> str | None:
    """None when ``bit_bs{bs}_int8.onnx`` is present and made from the current fp32 model, else why not."""
    names = Artifacts(Path(workdir))
    model, fp32 = names.int8_onnx(bs), names.sim_onnx(bs)
    if not model.is_file():
        return f"{model} does not exist"
    meta = read_sidecar(model)
    if meta is None or "fp32_sha256" not in meta:
        return f"{model} has no bit sidecar saying which fp32 model it came from"
    if not fp32.is_file():
        return f"its fp32 model {fp32} does not exist"
    if meta["fp32_sha256"] != sha256_file(fp32):
        return f"{model} is stale: {fp32} changed since it was quantized"
    return None


def int8_model(workdir: Path, bs: int) -> Path:
    """``bit_bs{bs}_int8.onnx`` when it is current.

    Raises:
        DataError: missing or stale, with the command that makes it.
    """
    reason = int8_status(workdir, bs)
    if reason:  # a missing or stale artefact: the run cannot go on (1), not a bad flag (2)
        raise DataError(f"precision int8, bs {bs}: {reason}",
                          hint=f"run `bit quantize --bs {bs}` (after `bit simplify --bs {bs}`)")
    return Artifacts(Path(workdir)).int8_onnx(bs)


INT8_BACKENDS = ("onnxruntime", "openvino")  # runtimes that read the QDQ ONNX
# What each backend computes at each profile precision (ascend's own is ATC's ascend.precision_mode).
BACKEND_PRECISIONS = {"onnxruntime": ("fp32", "int8"), "openvino": ("fp32", "bf16", "int8"),
                      "torch": ("fp32",), "ascend": ("fp32",)}


def precision_model(backend: str, workdir: Path, bs: int, precision: str, *, weights: str | None = None) -> Path | str:
    """The model ``backend`` runs at ``precision`` for ``bs``: the int8 model (checked current) for int8,
    else the standard fp32 artefact (:func:`bitcli.stages.infer.standard_model`; bf16 is a runtime hint on it).

    Raises:
        ConfigError: a precision the backend does not compute, or the int8 model missing/stale.
    """
    from bitcli.stages.infer import standard_model

    offered = BACKEND_PRECISIONS.get(backend, ("fp32",))
    if precision not in offered:
        others = [b for b, p in BACKEND_PRECISIONS.items() if precision in p]
        raise ConfigError(f"precision {precision} does not run on the {backend} backend (it offers {', '.join(offered)})",
                          hint=(f"use --backend {others[0]}, or " if others else "use ") + "precision: fp32 in the profile"
                          + (" (ascend: ascend.precision_mode)" if backend == "ascend" else ""))
    if precision != "int8":
        return standard_model(backend, workdir, bs, weights=weights)
    return int8_model(workdir, bs)
