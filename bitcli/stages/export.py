"""Checkpoint -> ONNX (dynamic batch), verified against torch in onnxruntime.

Weight Standardization is folded into plain conv weights before export, so the
graph holds plain Conv nodes and no per-inference weight arithmetic (the seed
script relied on onnxsim to fold it). The exported file only replaces the
previous one after onnxruntime reproduces the torch logits within
:data:`VERIFY_ATOL`; otherwise nothing is left behind.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bitcli.artifacts import atomic_path, read_sidecar, sha256_file, write_sidecar
from bitcli.errors import ConfigError, ExportError, require

DEFAULT_OPSET = 13  # what ATC on CANN 6.x parses reliably
OPSET_RANGE = (11, 20)  # 20 = newest the TorchScript exporter writes; <11 pads differently
VERIFY_ATOL = 1e-4
INPUT_NAME = "image"
OUTPUT_NAME = "class"
RANDOM_PROBES = 4
REAL_PROBES = 8
SIDECAR_VERSION = 1
_CURRENT_KEYS = ("sidecar_version", "arch", "weights_digest", "num_classes_arg", "opset", "image_size", "torch", "onnx")


@dataclass
class ExportResult:
    """What ``bit export`` produced (or found up to date)."""

    output: Path
    skipped: bool
    max_abs_diff: float | None
    top1_agree: float | None
    seconds: float
    meta: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    op_counts: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    real_samples: int = 0
    reason: str | None = None  # why it was (re)exported; None when up to date

    @property
    def status(self) -> str:
        """``up to date`` or ``done`` (the status words of every step)."""
        return "up to date" if self.skipped else "done"


def onnx_from_checkpoint(
    weights: str | Path,
    output: Path,
    *,
    arch: str,
    num_classes: int | None,
    opset: int = DEFAULT_OPSET,
    image_size: int = 128,
    seed: int = 0,
    force: bool = False,
    dataset_path: Path | None = None,
) -> ExportResult:
    """Export ``weights`` to ``output`` as ONNX and prove it computes the same logits.

    Args:
        weights: checkpoint path (any format :func:`load_checkpoint` reads) or ``"random"``.
        output: the ``.onnx`` file to write (its ``.json`` sidecar goes beside it).
        arch: BiT variant name.
        num_classes: expected head size, or None to take it from the checkpoint.
        opset: ONNX opset (default 13, what ATC on CANN 6.x parses reliably).
        image_size: H = W of the ``image`` input.
        seed: seed of random weights and of the random verification input.
        force: export even when the sidecar says ``output`` is current.
        dataset_path: CIFAR-10 folder (or its ``test_batch``) for a few real
            verification images; None or absent uses random input only.

    Returns:
        The result, with verification figures.

    Raises:
        ConfigError: bad opset, image size or arch.
        CheckpointError: the weights cannot be loaded.
        ExportError: export failed, or onnxruntime disagrees with torch.
    """
    from bitcli.model.checkpoint import load_checkpoint
    from bitcli.model.resnetv2 import resolve_arch

    started = time.perf_counter()
    arch = resolve_arch(arch)
    output = Path(output)
    _check_not_an_input(output, weights, dataset_path)  # names the input it would destroy, first
    _check_settings(opset, image_size, output)
    expected = _expected_meta(weights, arch, num_classes, opset, image_size, seed)
    reason = "--force" if force else _stale(output, expected, weights)
    if reason is None:
        meta = read_sidecar(output) or expected
        return ExportResult(output, True, meta.get("max_abs_diff"), meta.get("top1_agree"),
                            time.perf_counter() - started, meta, list(meta.get("notes", [])))  # fmt: skip
    loaded = load_checkpoint(weights, arch=arch, num_classes=num_classes, seed=seed)
    notes = list(loaded.notes)
    real, real_note = real_images(dataset_path, REAL_PROBES, image_size)
    if real_note:
        notes.append(real_note)
    probes = _probes(seed, image_size, real)
    check = _write_verified(loaded.model, output, opset, image_size, probes)
    meta = {**expected, "num_classes": loaded.num_classes, "format": loaded.format, "random": loaded.random,
            "weights_source": loaded.source, "notes": notes, **check}  # fmt: skip
    write_sidecar(output, meta)
    return ExportResult(output, False, check["max_abs_diff"], check["top1_agree"], time.perf_counter() - started,
                        meta, notes, check["op_counts"], len(probes), 0 if real is None else len(real), reason)  # fmt: skip


def export_stale_reason(weights: str | Path, output: Path, *, arch: str, num_classes: int | None, opset: int = DEFAULT_OPSET,
                        image_size: int = 128, seed: int = 0) -> str | None:
    """Why :func:`onnx_from_checkpoint` would export now (None: ``output`` is up to date); writes nothing."""
    from bitcli.model.resnetv2 import resolve_arch

    expected = _expected_meta(weights, resolve_arch(arch), num_classes, opset, image_size, seed)
    return _stale(Path(output), expected, weights)


def _stale(output: Path, expected: dict[str, Any], weights: str | Path) -> str | None:
    """The one provenance rule (:func:`bitcli.provenance.stale_reason`) for an export."""
    from bitcli.provenance import stale_reason

    changed = "the random weights' seed changed" if str(weights) == "random" else f"--weights {weights} changed"
    return stale_reason(output, expected, _CURRENT_KEYS, inputs={"weights_digest": changed})


def _write_verified(model: Any, output: Path, opset: int, image_size: int, probes: np.ndarray) -> dict[str, Any]:
    """Export to a temporary name, verify, and only then rename over ``output``."""
    try:
        with atomic_path(output) as tmp:
            _export(model, tmp, opset, image_size)
            check = verify_onnx(model, tmp, probes)
            problem = check.pop("problem")
            if problem:
                raise ExportError(
                    f"ONNX disagrees with torch: {problem}; {output} not written",
                    hint="non-finite torch outputs mean damaged weights: check the checkpoint"
                    if check.get("nonfinite_ref") else "try another --opset, or report it with --debug output",
                )
    except OSError as exc:
        from bitcli.errors import os_error

        raise os_error(exc, output, "--output", need=_model_bytes(model)) from None
    return check


def _model_bytes(model: Any) -> int:
    """About the size of the ONNX file: the float32 parameters."""
    return 4 * sum(int(p.numel()) for p in model.parameters())


def _check_not_an_input(output: Path, weights: str | Path, dataset_path: Path | None) -> None:
    """The ONNX file never replaces the checkpoint or the data set it is made from."""
    from bitcli.artifacts import check_replaceable

    inputs = {"--dataset-path": dataset_path}
    if str(weights) != "random":
        inputs["--weights"] = Path(str(weights))
    check_replaceable(output, "--output", inputs=inputs)


def _check_settings(opset: int, image_size: int, output: Path) -> None:
    lo, hi = OPSET_RANGE
    if not isinstance(opset, int) or not lo <= opset <= hi:
        raise ConfigError(f"opset {opset} out of range {lo}..{hi}", hint=f"use --opset {DEFAULT_OPSET} for ATC on CANN 6.x")
    if not isinstance(image_size, int) or image_size < 32:
        raise ConfigError(f"image size {image_size} too small: the network downsamples 32x", hint="use --image-size 128")
    if output.is_dir():
        raise ConfigError(f"--output {output} is a directory", hint=f"name a file, e.g. {output / 'bit.onnx'}")
    blocker = next((p for p in output.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:  # before loading anything
        raise ConfigError(f"cannot create {output}: {blocker} is a file, not a folder", hint="choose another --output")
    from bitcli.resources import writable_problem

    problem = writable_problem(output.parent)
    if problem:  # before the checkpoint is loaded and the graph traced; the file system's fault: a failed run (1)
        from bitcli.errors import StorageError

        raise StorageError(f"cannot write {output}: {problem}", hint="choose another --output")


def _tool_versions() -> dict[str, str]:
    torch, onnx = require("torch", purpose="export"), require("onnx", purpose="export")
    ort = require("onnxruntime", purpose="verifying the export")
    import bitcli

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__, "bitcli": bitcli.__version__}


def _expected_meta(weights, arch, num_classes, opset, image_size, seed) -> dict[str, Any]:
    """The sidecar keys that decide whether an existing export is current."""
    path = Path(str(weights))
    if str(weights) == "random":
        digest = f"random:seed={seed}"
    elif path.is_file():
        digest = sha256_file(path)
    else:
        digest = f"missing:{path}"  # load_checkpoint raises the real error
    return {
        "stage": "export", "sidecar_version": SIDECAR_VERSION, "arch": arch, "weights_digest": digest,
        "made_from": {"random" if str(weights) == "random" else path.name: digest},
        "num_classes_arg": num_classes, "opset": opset, "image_size": image_size,
        "input": INPUT_NAME, "output": OUTPUT_NAME, "input_shape": ["N", 3, image_size, image_size],
        **_tool_versions(),
    }  # fmt: skip


def _export(model: Any, path: Path, opset: int, image_size: int) -> None:
    """TorchScript-based ``torch.onnx.export`` of the WS-folded model, dynamic batch."""
    import torch

    from bitcli.model.resnetv2 import fold_weight_standardization

    onnx = require("onnx", purpose="export")
    folded = fold_weight_standardization(model)
    dummy = torch.zeros(1, 3, image_size, image_size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                folded, (dummy,), str(path),
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
                opset_version=opset, do_constant_folding=True, dynamo=False,
            )  # fmt: skip
        except OSError:
            raise  # full disk, read-only, ...: the caller names the place and the fix
        except Exception as exc:  # the exporter raises many types; all mean "export failed"
            import re

            found = re.search(r"\[Errno (\d+)\]", str(exc))  # a file-system fault wrapped by the exporter
            if found:
                raise OSError(int(found.group(1)), str(exc), str(path)) from None
            raise ExportError(f"torch.onnx.export failed at opset {opset}: {exc}") from None
    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"exported model fails onnx.checker: {exc}") from None


def verify_onnx(model: Any, onnx_path: Path, probes: np.ndarray) -> dict[str, Any]:
    """Run ``probes`` through torch and onnxruntime and compare the logits.

    Args:
        model: the torch model (un-folded: the reference function).
        onnx_path: the exported model.
        probes: float32 N x 3 x H x W input.

    Returns:
        :func:`bitcli.verify.compare`'s figures (``max_abs_diff``, ``top1_agree``, non-finite
        counts), ``problem`` ("" when within :data:`VERIFY_ATOL` and finite), ``samples``
        and the graph's ``op_counts``.
    """
    from bitcli.verify import compare

    import torch

    onnx = require("onnx", purpose="op counts")
    ort = require("onnxruntime", purpose="verifying the export")
    with torch.no_grad():
        expected = model(torch.from_numpy(probes)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: probes})[0]
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    result = compare(expected, got, atol=VERIFY_ATOL)
    return {
        **result.to_json(),
        "problem": result.problem("torch", "onnxruntime"),
        "samples": int(len(probes)),
        "op_counts": dict(sorted(Counter(n.op_type for n in graph.node).items())),
    }


def _probes(seed: int, image_size: int, real: np.ndarray | None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((RANDOM_PROBES, 3, image_size, image_size)).astype(np.float32)
    return noise if real is None else np.concatenate([noise, real.astype(np.float32)])


def real_images(dataset_path: Path | None, n: int = REAL_PROBES, image_size: int = 128) -> tuple[np.ndarray | None, str]:
    """The first ``n`` CIFAR-10 test images, preprocessed as the seed does.

    The same reader and bit-exact preprocessing as ``bit data``.

    Args:
        dataset_path: anything ``bit data`` reads (CIFAR-10 folder, its
            ``cifar-10-batches-py``, ``test_batch`` or the tarball); None for none.
        n: how many images.
        image_size: output H = W.

    Returns:
        (float32 n x 3 x S x S array or None, a note saying why there are none or "").
    """
    if dataset_path is None:
        return None, ""
    from bitcli.errors import DataError
    from bitcli.stages.data import preprocess_batch, read_cifar10_test

    try:
        dataset = read_cifar10_test(Path(dataset_path))
    except DataError as exc:
        return None, f"no real verification images: {dataset_path} has no CIFAR-10 test_batch ({exc.message})"
    return preprocess_batch(dataset.images[:n], image_size), ""
