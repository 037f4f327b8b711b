"""Export and simplify verification on a hand-built ONNX graph (fast: the mutmut selection).

The graph is written node by node with ``onnx.helper`` (Conv → Relu → GlobalAveragePool → Flatten →
Gemm, plus a decoy first output), and the torch model is the same arithmetic built from torch layers
with the same weights, so every figure has an independent expectation: the op counts by
construction, the difference by the one head bias that is perturbed by hand. simplify compares the
models' first outputs (BiT has one), so its graphs here have no decoy. The real-model
versions are tests/stages/test_tolerances.py (R50x1 exports, too slow per mutant).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from bitcli.errors import ConfigError
from bitcli.stages import export as export_stage
from bitcli.stages import simplify as simplify_stage

ABOVE, BELOW = 1.3e-4, 0.7e-4  # both stages' threshold is 1e-4
CLASSES, BUMPED = 10, 7
OPS = {"Conv": 1, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1, "Identity": 1, "Relu": 1}


def _torch_model() -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, kernel_size=3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(), torch.nn.Linear(4, CLASSES),
        ).eval()  # fmt: skip


def _onnx(model: torch.nn.Module, path: Path, *, input_name: str = "image", bias_delta: float = 0.0,
          batch: int | str = "N", decoy: bool = True) -> Path:  # fmt: skip
    """The same arithmetic as ``model`` as an ONNX graph, one head bias moved by ``bias_delta``;
    ``decoy``: a first output "features" before "class" (export reads outputs by name)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    conv, linear = model[0], model[4]
    bias = linear.bias.detach().numpy().copy()
    bias[BUMPED] += np.float32(bias_delta)
    inits = [numpy_helper.from_array(a, n) for n, a in (
        ("cw", conv.weight.detach().numpy()), ("cb", conv.bias.detach().numpy()),
        ("lw", linear.weight.detach().numpy()), ("lb", bias))]  # fmt: skip
    nodes = [
        helper.make_node("Conv", [input_name, "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "lw", "lb"], ["class"], transB=1),
    ] + ([helper.make_node("Identity", ["f"], ["features"])] if decoy else [])
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, 8, 8])],
        # a decoy first: verification must read the output named "class", not the first one
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [batch, 4])] * decoy
        + [helper.make_tensor_value_info("class", TensorProto.FLOAT, [batch, CLASSES])],
        inits,
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    return path


@pytest.fixture(scope="module")
def probes() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((5, 3, 8, 8)).astype(np.float32)


# --------------------------------------------------------------------------- export: verify_onnx


def test_verify_onnx_of_a_faithful_graph(tmp_path, probes):
    model = _torch_model()
    check = export_stage.verify_onnx(model, _onnx(model, tmp_path / "m.onnx"), probes)
    assert set(check) == {"max_abs_diff", "mean_abs_diff", "top1_agree", "nonfinite_ref", "nonfinite_test",
                          "problem", "samples", "op_counts"}  # fmt: skip
    assert check["problem"] == "" and check["samples"] == 5 and check["top1_agree"] == 1.0
    assert check["max_abs_diff"] < 1e-6
    assert check["op_counts"] == OPS and list(check["op_counts"]) == sorted(OPS)
    assert (check["nonfinite_ref"], check["nonfinite_test"]) == (0, 0)


def test_verify_onnx_just_above_the_tolerance_fails_on_one_logit(tmp_path, probes):
    model = _torch_model()
    check = export_stage.verify_onnx(model, _onnx(model, tmp_path / "m.onnx", bias_delta=ABOVE), probes)
    assert check["max_abs_diff"] == pytest.approx(ABOVE, abs=2e-6)
    assert check["mean_abs_diff"] == pytest.approx(ABOVE / CLASSES, abs=2e-6)  # one logit in ten moved
    assert check["problem"] == "max |Δ| 0.00013 > 0.0001 (top-1 agreement 100%)"


def test_verify_onnx_just_below_the_tolerance_passes(tmp_path, probes):
    model = _torch_model()
    check = export_stage.verify_onnx(model, _onnx(model, tmp_path / "m.onnx", bias_delta=BELOW), probes)
    assert check["max_abs_diff"] == pytest.approx(BELOW, abs=2e-6)
    assert check["problem"] == ""


def test_verify_onnx_names_non_finite_outputs_on_either_side(tmp_path, probes):
    model = _torch_model()
    check = export_stage.verify_onnx(model, _onnx(model, tmp_path / "m.onnx", bias_delta=float("inf")), probes)
    assert check["nonfinite_test"] == 5 and check["nonfinite_ref"] == 0
    assert check["problem"] == "onnxruntime output has 5 non-finite value(s) (NaN/inf), first at [0, 7], [1, 7], [2, 7]"
    onnx_path = _onnx(model, tmp_path / "m.onnx")
    with torch.no_grad():
        model[4].bias[2] = float("nan")
    check = export_stage.verify_onnx(model, onnx_path, probes)
    assert check["problem"] == "torch output has 5 non-finite value(s) (NaN/inf), first at [0, 2], [1, 2], [2, 2]"


# --------------------------------------------------------------------------- export: settings


@pytest.mark.parametrize("opset, ok", [(10, False), (11, True), (13, True), (20, True), (21, False), ("13", False)])
def test_opset_range_is_11_to_20(opset, ok, tmp_path):
    if ok:
        export_stage._check_settings(opset, 32, tmp_path / "bit.onnx")
        return
    with pytest.raises(ConfigError) as err:
        export_stage._check_settings(opset, 32, tmp_path / "bit.onnx")
    assert err.value.message == f"opset {opset} out of range 11..20"


@pytest.mark.parametrize("size, ok", [(31, False), (32, True), (224, True), (32.0, False), ("32", False)])
def test_image_size_at_least_32(size, ok, tmp_path):
    if ok:
        export_stage._check_settings(13, size, tmp_path / "bit.onnx")
        return
    with pytest.raises(ConfigError) as err:
        export_stage._check_settings(13, size, tmp_path / "bit.onnx")
    assert err.value.message == f"image size {size} too small: the network downsamples 32x"


def test_output_that_cannot_be_a_file(tmp_path, monkeypatch):
    def message(output):
        with pytest.raises(ConfigError) as err:
            export_stage._check_settings(13, 32, output)
        return err.value.message

    assert message(tmp_path) == f"--output {tmp_path} is a directory"
    (tmp_path / "afile").write_text("x")
    deep = tmp_path / "afile" / "sub" / "bit.onnx"
    assert message(deep) == f"cannot create {deep}: {tmp_path / 'afile'} is a file, not a folder"
    from bitcli import resources

    seen = []
    monkeypatch.setattr(resources, "writable_problem", lambda folder: seen.append(folder) or "read-only, say")
    from bitcli.errors import StorageError

    with pytest.raises(StorageError) as err:  # the file system's fault: a failed run (1), not a bad flag (2)
        export_stage._check_settings(13, 32, tmp_path / "new" / "bit.onnx")
    assert err.value.message == f"cannot write {tmp_path / 'new' / 'bit.onnx'}: read-only, say"
    assert seen == [tmp_path / "new"]  # the folder the file goes in


# --------------------------------------------------------------------------- simplify: verification


def test_compare_models_reads_the_named_input_at_the_given_shape(tmp_path):
    model = _torch_model()
    a = _onnx(model, tmp_path / "a.onnx", input_name="input.1", decoy=False)
    b = _onnx(model, tmp_path / "b.onnx", input_name="input.1", bias_delta=ABOVE, decoy=False)
    check = simplify_stage._compare_models(a, b, "input.1", (3, 3, 8, 8))
    assert not check.passed and check.atol == 1e-4
    assert check.max_abs_diff == pytest.approx(ABOVE, abs=2e-6)
    assert check.problem("original", "simplified") == "max |Δ| 0.00013 > 0.0001 (top-1 agreement 100%)"
    c = _onnx(model, tmp_path / "c.onnx", input_name="input.1", bias_delta=BELOW, decoy=False)
    assert simplify_stage._compare_models(a, c, "input.1", (2, 3, 8, 8)).passed


def _expected(bs):
    return {"stage": "simplify", "bs": bs, "marker": "from the test"}


def test_simplify_one_writes_a_verified_model_and_its_sidecar(tmp_path):
    import onnx

    from bitcli.artifacts import read_sidecar

    source = _onnx(_torch_model(), tmp_path / "bit.onnx", decoy=False)
    out = tmp_path / "bit_bs2_sim.onnx"
    started = time.perf_counter()
    row = simplify_stage._simplify_one(onnx.load(str(source)), source, out, 2, "image", 8, _expected(2), {"Conv": 1})
    elapsed = time.perf_counter() - started
    assert row.error is None and row.status == "done" and out.is_file()
    assert (row.bs, row.path) == (2, out) and 0 < row.seconds <= elapsed
    assert row.max_abs_diff < 1e-6 and row.ops_before == {"Conv": 1} and sum(row.ops_after.values()) >= 1
    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, 8, 8]
    meta = read_sidecar(out)
    assert meta["marker"] == "from the test" and meta["max_abs_diff"] == row.max_abs_diff
    assert meta["ops_after"] == row.ops_after and meta["seconds"] == row.seconds
    assert meta["ops_before"] == {"Conv": 1} and meta["bs"] == 2


def test_simplify_one_refuses_a_model_just_above_the_tolerance_and_keeps_the_old_one(tmp_path, monkeypatch):
    import onnx
    import onnxsim

    model = _torch_model()
    source = _onnx(model, tmp_path / "bit.onnx", decoy=False)
    bumped = onnx.load(str(_onnx(model, tmp_path / "bumped.onnx", bias_delta=ABOVE, batch=2, decoy=False)))
    monkeypatch.setattr(onnxsim, "simplify", lambda m, **kw: (bumped, True))
    out = tmp_path / "bit_bs2_sim.onnx"
    out.write_bytes(b"an earlier model")
    row = simplify_stage._simplify_one(onnx.load(str(source)), source, out, 2, "image", 8, _expected(2), {})
    assert row.error == "simplified model differs: max |Δ| 0.00013 > 0.0001 (top-1 agreement 100%)"
    assert row.max_abs_diff == pytest.approx(ABOVE, abs=2e-6) and row.status == "failed"
    assert out.read_bytes() == b"an earlier model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bit.onnx", "bit_bs2_sim.onnx", "bumped.onnx"]
    below = onnx.load(str(_onnx(model, tmp_path / "below.onnx", bias_delta=BELOW, batch=2, decoy=False)))
    monkeypatch.setattr(onnxsim, "simplify", lambda m, **kw: (below, True))
    row = simplify_stage._simplify_one(onnx.load(str(source)), source, out, 2, "image", 8, _expected(2), {})
    assert row.error is None and out.read_bytes() != b"an earlier model"


def test_simplify_one_reports_an_onnxsim_failure(tmp_path, monkeypatch):
    import onnx
    import onnxsim

    def fail(model, **kwargs):
        raise RuntimeError("Unsupported op\nsecond line")

    source = _onnx(_torch_model(), tmp_path / "bit.onnx", decoy=False)
    monkeypatch.setattr(onnxsim, "simplify", fail)
    row = simplify_stage._simplify_one(onnx.load(str(source)), source, tmp_path / "o.onnx", 2, "image", 8, {}, {})
    assert row.error == "onnxsim failed: Unsupported op" and not (tmp_path / "o.onnx").exists()
    monkeypatch.setattr(onnxsim, "simplify", lambda m, **kw: (_ for _ in ()).throw(ValueError()))
    row = simplify_stage._simplify_one(onnx.load(str(source)), source, tmp_path / "o.onnx", 2, "image", 8, {}, {})
    assert row.error == "onnxsim failed: ValueError"


def test_simplify_one_names_non_finite_outputs_of_either_model(tmp_path, monkeypatch):
    import onnx
    import onnxsim

    model = _torch_model()
    out = tmp_path / "bit_bs2_sim.onnx"
    nan = onnx.load(str(_onnx(model, tmp_path / "nan.onnx", bias_delta=float("nan"), batch=2, decoy=False)))
    source = _onnx(model, tmp_path / "bit.onnx", decoy=False)
    monkeypatch.setattr(onnxsim, "simplify", lambda m, **kw: (nan, True))
    row = simplify_stage._simplify_one(onnx.load(str(source)), source, out, 2, "image", 8, _expected(2), {})
    assert row.error == ("simplified model differs: simplified output has 2 non-finite value(s) (NaN/inf), "
                         "first at [0, 7], [1, 7]")  # fmt: skip
    bad_source = tmp_path / "nan.onnx"
    fine = onnx.load(str(_onnx(model, tmp_path / "fine.onnx", batch=2, decoy=False)))
    monkeypatch.setattr(onnxsim, "simplify", lambda m, **kw: (fine, True))
    row = simplify_stage._simplify_one(onnx.load(str(bad_source)), bad_source, out, 2, "image", 8, _expected(2), {})
    assert row.error == ("simplified model differs: original output has 2 non-finite value(s) (NaN/inf), "
                         "first at [0, 7], [1, 7]")  # fmt: skip
    assert not out.exists()


def test_simplify_one_says_why_it_cannot_write(tmp_path):
    import onnx

    source = _onnx(_torch_model(), tmp_path / "bit.onnx", decoy=False)
    out = tmp_path / "bit_bs2_sim.onnx"
    out.mkdir()  # a folder where the model would go: the final rename fails
    (out / "keep.txt").write_text("a user's file")
    row = simplify_stage._simplify_one(onnx.load(str(source)), source, out, 2, "image", 8, _expected(2), {})
    assert row.error == f"cannot write {out}: Is a directory"
    assert (out / "keep.txt").read_text() == "a user's file"


def test_compare_models_is_repeatable(tmp_path):
    """Same models, same shape: the same random batch, so the same figure (a weight, not a bias, differs)."""
    import onnx
    from onnx import numpy_helper

    model = _torch_model()
    a = _onnx(model, tmp_path / "a.onnx", decoy=False)
    proto = onnx.load(str(a))
    conv = next(t for t in proto.graph.initializer if t.name == "cw")
    weight = numpy_helper.to_array(conv).copy()
    weight[0, 0, 1, 1] += 0.01
    conv.CopyFrom(numpy_helper.from_array(weight, "cw"))
    onnx.save(proto, str(tmp_path / "b.onnx"))
    figures = {simplify_stage._compare_models(a, tmp_path / "b.onnx", "image", (2, 3, 8, 8)).max_abs_diff
               for _ in range(3)}  # fmt: skip
    assert len(figures) == 1 and figures.pop() > 0


@pytest.mark.parametrize("missing, call, purpose", [
    ("onnx", "export", "op counts"),
    ("onnxruntime", "export", "verifying the export"),
    ("onnxruntime", "simplify", "verifying the simplified model"),
])  # fmt: skip
def test_a_missing_runtime_is_named_with_what_it_is_for(missing, call, purpose, tmp_path, monkeypatch, probes):
    from bitcli.errors import MissingDependency

    model = _torch_model()
    path = _onnx(model, tmp_path / "m.onnx", decoy=False)
    monkeypatch.setitem(sys.modules, missing, None)  # import now fails, as when it is not installed
    with pytest.raises(MissingDependency) as err:
        if call == "export":
            export_stage.verify_onnx(model, path, probes)
        else:
            simplify_stage._compare_models(path, path, "image", (1, 3, 8, 8))
    assert err.value.message.startswith(f"Python package '{missing}' is not importable (needed for {purpose}): ")


def test_verification_runs_on_onnxruntime_cpu_provider(tmp_path, monkeypatch, probes):
    """Both checks name the CPU provider: an onnxruntime with GPU/CANN providers refuses a session
    without ``providers`` (since ORT 1.9), and the reference comparison must not move to an accelerator."""
    import onnxruntime

    asked = []
    real = onnxruntime.InferenceSession

    def spy(path, *args, **kwargs):
        asked.append(kwargs.get("providers"))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", spy)
    model = _torch_model()
    path = _onnx(model, tmp_path / "m.onnx", decoy=False)
    export_stage.verify_onnx(model, path, probes)
    simplify_stage._compare_models(path, path, "image", (1, 3, 8, 8))
    assert asked == [["CPUExecutionProvider"]] * 3
