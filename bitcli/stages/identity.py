"""What a result was measured with: backend, precision, device, model digest and weights source.

Every row bit shows (``bit infer``, ``bit eval``, ``bit bench``, report.json/md and
``bit all``'s table) carries these five facts, computed here once:

* ``backend`` and ``precision`` (the profile's ``precision``, fp32 by default) name the
  result's slot (:func:`bitcli.artifacts.result_slot`);
* ``device``: what the backend says it ran on, with the CPU model for the CPU backends
  (``/proc/cpuinfo``'s ``model name``) or the chip an ``.om`` was built for;
* ``model_sha256``: the sha256 of the model file's bytes (``random:seed=N:ARCH`` for the
  torch backend's random weights), shown short (12 hex digits);
* ``weights``: the checkpoint the model was made from, followed through bit's sidecars
  (``bit_bs8.om`` → ``bit_bs8_sim.onnx`` → ``bit.onnx`` → ``weights_source``); a model
  bit did not make says ``unknown (not made by bit)``.

The same digests are the "made from" keys that decide whether an infer result, an
accuracy record or a bench row is up to date, so the standalone commands and
``bit all`` agree on it.
"""

from __future__ import annotations

import functools
import json
import platform
from pathlib import Path
from typing import Any

from bitcli.artifacts import read_sidecar, sha256_file

SHORT = 12  # hex digits of a digest shown in tables
NOT_BITS = "unknown (not made by bit)"


def short(digest: str | None) -> str:
    """The first 12 hex digits of a sha256 (``random:seed=N`` for random weights); "—" for none."""
    if not digest:
        return "—"
    if all(c in "0123456789abcdef" for c in digest):
        return digest[:SHORT]
    return ":".join(digest.split(":")[:2])  # random:seed=0 (the arch is in the report)


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """This host's CPU model, as :mod:`bitcli.cpu` reads it (whitespace collapsed), else the machine type."""
    from bitcli.cpu import detect

    model = " ".join(detect().model.split())
    return platform.machine() or model if model == "unknown CPU" else model


def device_label(backend: str, described: str, chip: str | None = None) -> str:
    """The device cell: the backend's own description, plus the CPU model (CPU backends) or chip."""
    if backend == "ascend":
        return f"{chip}, {described}" if chip and chip not in described else described
    return f"{described} on {cpu_model()}"


def model_digest(model: Path | str, *, seed: int = 0, arch: str = "") -> str:
    """sha256 of a model file's bytes; ``random:seed=N:ARCH`` for random weights; ``missing:PATH``."""
    if str(model) == "random":
        return f"random:seed={seed}:{arch}"
    path = Path(str(model))
    return sha256_file(path) if path.is_file() else f"missing:{path}"  # hashed once per unchanged file (provenance)


def weights_source(model: Path | str, backend: str, weights: str | None = None) -> str:
    """The checkpoint a model was made from (see the module docstring); the torch backend's is the model."""
    if backend == "torch" or str(model) == "random":
        return str(model if model else weights)
    path = Path(str(model))
    for _ in range(4):  # .om → _sim.onnx → bit.onnx at most
        meta = read_sidecar(path)
        if not meta:
            return NOT_BITS
        if meta.get("weights_source") or meta.get("random"):
            return "random" if meta.get("random") else str(meta["weights_source"])
        parent = meta.get("source") or meta.get("onnx")
        if not parent:
            return NOT_BITS
        parent_path = Path(parent)
        path = parent_path if parent_path.is_absolute() else path.parent / parent_path
    return NOT_BITS


def row_identity(backend: str, precision: str, device: str, model: Path | str, *, seed: int = 0, arch: str = "",
                 weights: str | None = None) -> dict[str, Any]:
    """The five facts every row carries (plus the model's path), as JSON."""
    return {"backend": backend, "precision": precision, "device": device, "model": str(model),
            "model_sha256": model_digest(model, seed=seed, arch=arch),
            "weights": weights_source(model, backend, weights)}


def identity_line(ident: dict[str, Any]) -> str:
    """One line naming a row's identity: ``onnxruntime fp32 on DEVICE, model NAME (sha256 abc…), weights W``."""
    name = Path(str(ident.get("model", ""))).name or "—"
    return (f"{ident.get('backend', '?')} {ident.get('precision', 'fp32')} on {ident.get('device') or '?'}; "
            f"model {name} (sha256 {short(ident.get('model_sha256'))}); weights {ident.get('weights') or '?'}")


def digest_of(obj: Any) -> str:
    """sha256 of a JSON-able object (canonical form): a "made from" key in one string."""
    import hashlib

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
