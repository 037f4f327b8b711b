"""ONNX (dynamic batch) -> one onnxsim-simplified static-shape model per batch size.

The seed ran ``python3 -m onnxsim bit.onnx bit_bs${bs}_sim.onnx --input-shape
...`` once per batch size; here onnxsim's Python API does all sizes in one
call, each output is checked against the unsimplified model in onnxruntime,
and up-to-date outputs (sidecar matches) are skipped.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bitcli.artifacts import atomic_path, read_sidecar, sha256_file, sim_onnx_path, write_sidecar
from bitcli.errors import ConfigError, ExportError, require

VERIFY_ATOL = 1e-4
SIDECAR_VERSION = 1
_CURRENT_KEYS = ("sidecar_version", "source_digest", "bs", "input_shape", "onnxsim", "onnx")


@dataclass
class SimplifyRow:
    """One batch size's simplified model; ``error`` is set when it failed."""

    bs: int
    path: Path
    skipped: bool = False
    seconds: float = 0.0
    max_abs_diff: float | None = None
    ops_before: dict[str, int] = field(default_factory=dict)
    ops_after: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    reason: str | None = None  # why it was (re)made; None when up to date

    @property
    def status(self) -> str:
        """``failed``, ``up to date`` or ``done`` (the status words of every step)."""
        return "failed" if self.error else ("up to date" if self.skipped else "done")


@dataclass
class SimplifyResult:
    """All batch sizes of one ``bit simplify`` run."""

    model: Path
    image_size: int
    rows: list[SimplifyRow]

    @property
    def ok(self) -> bool:
        return all(r.error is None for r in self.rows)


def simplified_onnx_per_bs(
    model: Path,
    batch_sizes: list[int] | tuple[int, ...],
    output_dir: Path,
    *,
    image_size: int = 128,
    force: bool = False,
) -> SimplifyResult:
    """Simplify ``model`` for each batch size into ``output_dir/{stem}_bs{bs}_sim.onnx``.

    Args:
        model: the dynamic-batch ONNX model (``bit export``'s output).
        batch_sizes: positive batch sizes; each gets a static ``bs x 3 x S x S`` input.
        output_dir: where the simplified models (and sidecars) go.
        image_size: S, used when the model's own input shape leaves it open.
        force: redo outputs that are up to date.

    Returns:
        One row per batch size; a size that failed carries ``error`` (the others still run).

    Raises:
        ConfigError: bad batch sizes.
        ExportError: ``model`` is missing or not ONNX.
    """
    sizes = _check_batch_sizes(batch_sizes)
    onnx_model = _load_onnx(Path(model))
    input_name, size = _input_spec(onnx_model, image_size)
    _check_static_batch(onnx_model, Path(model), sizes)
    digest = sha256_file(model)
    ops_before = op_counts(onnx_model)
    rows = []
    from bitcli.artifacts import check_replaceable

    from bitcli.resources import writable_problem

    problem = writable_problem(Path(output_dir))
    if problem:  # before onnxsim runs for minutes
        raise ExportError(f"cannot write to {output_dir}: {problem}", hint="choose another --output-dir")
    outs = {bs: sim_onnx_path(output_dir, Path(model).stem, bs) for bs in sizes}
    for out in outs.values():  # before any work: bit replaces only its own files
        check_replaceable(out, "--output-dir", inputs={"--model": Path(model)})
    for bs in sizes:
        out = outs[bs]
        expected = _expected_meta(Path(model), digest, bs, size)
        reason = "--force" if force else _stale(out, Path(model), expected)
        if reason is None:
            meta = read_sidecar(out) or {}
            rows.append(SimplifyRow(bs, out, True, 0.0, meta.get("max_abs_diff"), ops_before, meta.get("ops_after", {})))
            continue
        row = _simplify_one(onnx_model, Path(model), out, bs, input_name, size, expected, ops_before)
        row.reason = reason
        rows.append(row)
    return SimplifyResult(Path(model), size, rows)


def simplify_stale_reasons(model: Path, batch_sizes: list[int] | tuple[int, ...], output_dir: Path, *,
                           image_size: int = 128) -> dict[int, str | None]:
    """Why :func:`simplified_onnx_per_bs` would (re)make each bs's model now (None: up to date); writes nothing."""
    model = Path(model)
    if not model.is_file():
        return {bs: f"{model.name} does not exist yet" for bs in batch_sizes}
    size = _input_spec(_load_onnx(model), image_size)[1]
    digest = sha256_file(model)
    return {bs: _stale(sim_onnx_path(output_dir, model.stem, bs), model, _expected_meta(model, digest, bs, size))
            for bs in batch_sizes}


def _stale(out: Path, source: Path, expected: dict[str, Any]) -> str | None:
    """The one provenance rule (:func:`bitcli.provenance.stale_reason`) for a simplified model."""
    from bitcli.provenance import stale_reason

    exported = (read_sidecar(source) or {}).get("stage") == "export"
    changed = f"{source.name} was re-exported" if exported else f"{source.name} changed"
    return stale_reason(out, expected, _CURRENT_KEYS, inputs={"source_digest": changed})


def op_counts(onnx_model: Any) -> dict[str, int]:
    """Node count per op type of a ModelProto's main graph."""
    return dict(sorted(Counter(n.op_type for n in onnx_model.graph.node).items()))


def _check_batch_sizes(batch_sizes) -> list[int]:
    sizes = list(batch_sizes or [])
    bad = [b for b in sizes if isinstance(b, bool) or not isinstance(b, int) or b < 1]
    if not sizes or bad:
        raise ConfigError(f"batch sizes must be positive integers, got {sizes!r}", hint="e.g. --bs 1,4,8")
    return list(dict.fromkeys(sizes))


def _load_onnx(path: Path) -> Any:
    onnx = require("onnx", purpose="simplify")
    if path.is_dir():
        raise ExportError(f"--model {path} is a folder, not an ONNX file", hint="pass the .onnx file `bit export` wrote")
    if not path.is_file():
        raise ExportError(f"ONNX model not found: {path}", hint="run `bit export` first, or pass --model FILE")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise ExportError(f"{path} is not an ONNX model: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                          hint="pass the .onnx file `bit export` wrote") from None  # fmt: skip
    if not model.graph.node or not model.graph.input:
        raise ExportError(f"{path} is not an ONNX model (no graph)", hint="pass the .onnx file `bit export` wrote")
    return model


def _input_spec(onnx_model: Any, image_size: int) -> tuple[str, int]:
    """The graph input's name and its spatial size (the model's own when static)."""
    inits = {i.name for i in onnx_model.graph.initializer}
    inputs = [i for i in onnx_model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ExportError(f"expected one image input, found {[i.name for i in inputs]}")
    dims = inputs[0].type.tensor_type.shape.dim
    static = [d.dim_value for d in dims[2:4] if d.dim_value > 0]
    return inputs[0].name, static[0] if len(static) == 2 else image_size


def _check_static_batch(onnx_model: Any, path: Path, sizes: list[int]) -> None:
    """A model with a fixed batch size serves only that size; an N x 3 x H x W input is required."""
    inits = {i.name for i in onnx_model.graph.initializer}
    dims = next(i for i in onnx_model.graph.input if i.name not in inits).type.tensor_type.shape.dim
    shape = [d.dim_value if d.dim_value > 0 else (d.dim_param or "?") for d in dims]
    if len(dims) != 4 or (dims[1].dim_value and dims[1].dim_value != 3):
        raise ExportError(f"{path}'s input is {shape}, not N x 3 x H x W", hint="pass the .onnx file `bit export` wrote")
    fixed = dims[0].dim_value
    others = [b for b in sizes if fixed > 0 and b != fixed]
    if others:
        raise ConfigError(f"{path} has a static batch size of {fixed} (input {shape}); it cannot serve bs "
                          f"{','.join(map(str, others))}",
                          hint=f"simplify the dynamic-batch model `bit export` wrote (bit.onnx), or use --bs {fixed}")


def _expected_meta(model: Path, digest: str, bs: int, size: int) -> dict[str, Any]:
    onnx, onnxsim = require("onnx", purpose="simplify"), require("onnxsim", purpose="simplify")
    return {
        "stage": "simplify", "sidecar_version": SIDECAR_VERSION, "source": str(model), "source_digest": digest,
        "made_from": {model.name: digest}, "bs": bs, "input_shape": [bs, 3, size, size], "onnx": onnx.__version__,
        "onnxsim": getattr(onnxsim, "__version__", "unknown"),
    }  # fmt: skip


def _simplify_one(onnx_model, source: Path, out: Path, bs: int, input_name: str, size: int,
                  expected: dict, ops_before: dict) -> SimplifyRow:  # fmt: skip
    """Simplify, verify and write one batch size; failures become the row's ``error``."""
    onnx, onnxsim = require("onnx"), require("onnxsim")
    started = time.perf_counter()
    row = SimplifyRow(bs, out, ops_before=ops_before)
    try:
        simplified, _ = onnxsim.simplify(onnx_model, overwrite_input_shapes={input_name: [bs, 3, size, size]})
    except Exception as exc:  # onnxsim raises bare RuntimeErrors/ValueErrors from C++
        row.error = f"onnxsim failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        return row
    row.ops_after = op_counts(simplified)
    try:
        with atomic_path(out) as tmp:
            onnx.save(simplified, str(tmp))
            check = _compare_models(source, tmp, input_name, (bs, 3, size, size))
            row.max_abs_diff = check.max_abs_diff
            if not check.passed:
                raise ExportError("simplified model differs: " + check.problem("original", "simplified"))
    except ExportError as exc:
        row.error = exc.message
        return row
    except OSError as exc:
        row.error = f"cannot write {out}: {exc.strerror or exc}"
        return row
    row.seconds = time.perf_counter() - started
    write_sidecar(out, {**expected, "max_abs_diff": row.max_abs_diff, "ops_before": ops_before, "ops_after": row.ops_after,
                        "seconds": row.seconds})  # fmt: skip
    return row


def _compare_models(reference: Path, candidate: Path, input_name: str, shape: tuple[int, ...]):
    """The two models' outputs on one seeded random batch, compared (:func:`bitcli.verify.compare`)."""
    from bitcli.verify import compare

    ort = require("onnxruntime", purpose="verifying the simplified model")
    x = np.random.default_rng(shape[0]).standard_normal(shape).astype(np.float32)
    outs = []
    for path in (reference, candidate):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outs.append(session.run(None, {input_name: x})[0])
    return compare(outs[0], outs[1], atol=VERIFY_ATOL)
