"""Where two ONNX models diverge: ``bit compare --per-node``.

For every node that has the same name in both models (the int8 QDQ model keeps the fp32 model's node
names: the quantizer only inserts QuantizeLinear/DequantizeLinear pairs around them), the node's first
output is added as a graph output on an in-memory copy of each model, both copies run on the same batch
in onnxruntime, and the two tensors are compared per sample (cosine of the flattened tensor, max |Δ|).
The first node, in the test model's topological order (ONNX stores nodes topologically sorted), whose
mean cosine drops below the threshold is named: that is where the error enters.

Sessions run with basic graph optimisations only, so fusions cannot remove a tensor being compared;
the figures are those of the unfused graph, which is what the question "which node" is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitcli.errors import DataError, require


@dataclass
class NodeRow:
    """One same-named node of both models and how far apart its outputs are."""

    name: str
    op_type: str
    output: str
    cosine: float | None        # mean over the batch's samples; None when not finite
    min_cosine: float | None
    max_abs: float | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class NodeCompare:
    """The per-node comparison of two models on one batch."""

    ref_model: str
    test_model: str
    threshold: float
    samples: int
    rows: list[NodeRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # same name, different output shape

    @property
    def first_divergent(self) -> NodeRow | None:
        """The first node (topological order) whose mean cosine is below the threshold (or not finite)."""
        return next((r for r in self.rows if r.cosine is None or r.cosine < self.threshold), None)

    def to_json(self) -> dict[str, Any]:
        first = self.first_divergent
        return {"ref_model": self.ref_model, "test_model": self.test_model, "threshold": self.threshold,
                "samples": self.samples, "first_divergent": first.name if first else None,
                "nodes": [r.to_json() for r in self.rows], "skipped": self.skipped}


def common_nodes(ref: Any, test: Any) -> list[tuple[Any, Any]]:
    """(test node, ref node) pairs with the same non-empty name, in the test model's node order (Constants left out)."""
    by_name = {n.name: n for n in ref.graph.node if n.name and n.output and n.op_type != "Constant"}
    return [(n, by_name[n.name]) for n in test.graph.node if n.name in by_name and n.output]


def _with_outputs(model: Any, names: list[str]) -> bytes:
    """A serialized copy of ``model`` that also outputs the tensors ``names`` (type left to onnxruntime)."""
    onnx = require("onnx", purpose="bit compare --per-node")
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    present = {o.name for o in copy.graph.output}
    for name in names:
        if name not in present:
            copy.graph.output.append(onnx.ValueInfoProto(name=name))
    return copy.SerializeToString()


def _run(blob: bytes, batch: Any, fetch: list[str], path: Path) -> dict[str, Any]:
    ort = require("onnxruntime", purpose="bit compare --per-node")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.log_severity_level = 3
    try:
        session = ort.InferenceSession(blob, sess_options=so, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: batch}
        return dict(zip(fetch, session.run(fetch, feed)))
    except Exception as exc:  # onnxruntime's own error types
        raise DataError(f"onnxruntime cannot run {path} with its intermediate outputs exposed: {str(exc).splitlines()[0]}",
                        hint="compare the final logits without --per-node") from None


def nodes_diverge(ref_path: Path, test_path: Path, batch: Any, *, threshold: float = 0.99) -> NodeCompare:
    """Compare the outputs of same-named nodes of two ONNX models on ``batch``.

    Args:
        ref_path, test_path: the two ONNX files (e.g. ``bit_bs8_sim.onnx`` and ``bit_bs8_int8.onnx``).
        batch: one model input, float32 NCHW, the models' batch size.
        threshold: a node whose mean cosine is below this is "divergent".

    Returns:
        The :class:`NodeCompare`; its rows follow the test model's topological order.

    Raises:
        DataError: unreadable models, or no node name in common.
    """
    import numpy as np

    onnx = require("onnx", purpose="bit compare --per-node")
    models = []
    for path in (ref_path, test_path):
        try:
            models.append(onnx.load(str(path)))
        except Exception as exc:
            raise DataError(f"cannot read ONNX model {path}: {exc}", hint="--per-node compares two .onnx files") from None
    pairs = common_nodes(models[0], models[1])
    if not pairs:
        raise DataError(f"{ref_path} and {test_path} have no node name in common",
                        hint="--per-node compares a model with one derived from it (simplified, quantized)")
    ref_out = _run(_with_outputs(models[0], [r.output[0] for _, r in pairs]), batch, [r.output[0] for _, r in pairs], ref_path)
    test_out = _run(_with_outputs(models[1], [t.output[0] for t, _ in pairs]), batch, [t.output[0] for t, _ in pairs], test_path)
    result = NodeCompare(str(ref_path), str(test_path), threshold, int(batch.shape[0]))
    for test_node, ref_node in pairs:
        a = np.asarray(ref_out[ref_node.output[0]], dtype=np.float64)
        b = np.asarray(test_out[test_node.output[0]], dtype=np.float64)
        if a.shape != b.shape or a.ndim == 0:
            result.skipped.append(test_node.name)
            continue
        result.rows.append(_row(test_node, a, b))
    return result


def _row(node: Any, ref: Any, test: Any) -> NodeRow:
    import numpy as np

    from bitcli.logit_metrics import per_sample

    n = ref.shape[0]
    stats = per_sample(ref.reshape(n, -1), test.reshape(n, -1))
    cos, diff = stats["cosine"], stats["max_abs"]
    finite = bool(np.isfinite(cos).all())
    return NodeRow(name=node.name, op_type=node.op_type, output=node.output[0],
                   cosine=float(np.mean(cos)) if finite else None,
                   min_cosine=float(np.min(cos)) if finite else None,
                   max_abs=float(np.max(diff)) if np.isfinite(diff).all() else None)
