"""bit quantize: the int8 file and its sidecar, the guard, the split, memory bounds, staleness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bit_testlib import invoke
from tiny_onnx import SIZE, run, tiny_classifier, tiny_dataset

BS = 4


def _workdir(tmp_path: Path, count: int = 48, *, head_spread: float = 1.0) -> tuple[Path, Path]:
    work = tmp_path / "work"
    tiny_dataset(work, count)
    tiny_classifier(work / f"bit_bs{BS}_sim.onnx", bs=BS, head_spread=head_spread)
    (work / f"bit_bs{BS}_sim.onnx.json").write_text("{}\n")  # bit's own artefact (as bit simplify leaves it)
    profile = tmp_path / "bit.yaml"
    profile.write_text(f"workdir: {work}\nmodel:\n  image_size: {SIZE}\nbatch_sizes: [{BS}]\n")
    return work, profile


def test_split_is_seeded_disjoint_and_whole_batches():
    from bitcli.quant.calib import split_indices

    calib, hold = split_indices(100, 30, 50, seed=7, bs=8)
    assert len(calib) == 24 and len(hold) == 50          # 30 rounded down to whole batches of 8
    assert not set(calib) & set(hold)
    assert (calib, hold) == split_indices(100, 30, 50, seed=7, bs=8)
    assert calib != split_indices(100, 30, 50, seed=8, bs=8)[0]
    assert len(split_indices(40, 32, 496, seed=0, bs=8)[1]) == 8   # the held-out slice takes what is left
    from bitcli.errors import ConfigError

    with pytest.raises(ConfigError, match="leaving none"):
        split_indices(32, 32, 10, seed=0, bs=8)
    with pytest.raises(ConfigError, match="at least one batch"):
        split_indices(5, 256, 10, seed=0, bs=8)


def test_quantize_writes_model_and_sidecar(tmp_path, runner):
    work, profile = _workdir(tmp_path)
    res = invoke(runner, "quantize", "-p", str(profile), "--calib", "16", "--holdout", "24", "--json",
                 "--min-agreement", "0.5", "--max-top1-drop", "1", "--method", "minmax", "--no-keep-ends")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    out = work / f"bit_bs{BS}_int8.onnx"
    meta = json.loads((work / f"bit_bs{BS}_int8.onnx.json").read_text())
    assert out.is_file() and doc["status"] == "done" and meta["accepted_loss"] is False
    assert "calibration memory: minmax: keeps per-tensor min/max only; 16 images in one pass" in res.stderr
    assert sorted(p.name for p in work.iterdir() if p.is_file() and p.name != ".bit.lock") == [  # nothing else beside the model
        "bit_bs4_int8.onnx", "bit_bs4_int8.onnx.json", "bit_bs4_sim.onnx", "bit_bs4_sim.onnx.json", "label.txt"]
    assert meta["recipe"]["format"] == "QDQ" and meta["recipe"]["per_channel"] is True
    assert meta["recipe"]["method"] == "minmax" and meta["calibration"]["count"] == 16
    assert meta["recipe"]["op_types"] == ["Conv"]                  # the profile's default: Conv only
    calib, hold = meta["calibration"]["indices"], meta["guard"]["indices"]
    assert len(hold) == 24 and not set(calib) & set(hold)        # held-out never calibrates
    from bitcli.quant.calib import split_indices

    assert (calib, hold) == split_indices(48, 16, 24, seed=0, bs=BS)
    assert isinstance(meta["cpu_flags"], list) and meta["reduce_range_reason"]
    import onnx

    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # the int8 model computes nearly what fp32 does (by hand, on a held-out batch)
    images = np.stack([np.fromfile(work / "dataset_bin" / f"{i}.bin", np.float32).reshape(3, SIZE, SIZE) for i in hold[:BS]])
    a, b = run(work / f"bit_bs{BS}_sim.onnx", images).astype(np.float64), run(out, images).astype(np.float64)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99 and not np.array_equal(a, b)
    again = invoke(runner, "quantize", "-p", str(profile), "--calib", "16", "--holdout", "24", "--json",
                   "--min-agreement", "0.5", "--max-top1-drop", "1", "--method", "minmax", "--no-keep-ends")
    assert json.loads(again.stdout)["status"] == "up to date"


def test_guard_refuses_then_accept_loss_writes(tmp_path, runner):
    work, profile = _workdir(tmp_path, 64, head_spread=0.002)   # nearly tied logits: int8 noise flips some
    out = work / f"bit_bs{BS}_int8.onnx"
    args = ["quantize", "-p", str(profile), "--calib", "16", "--holdout", "48", "--min-agreement", "1.0",
            "--max-top1-drop", "0", "--method", "minmax", "--no-keep-ends"]
    refused = invoke(runner, *args)
    assert refused.exit_code == 1
    assert "int8 model refused (nothing written): top-1 agreement with fp32" in refused.output
    assert "--accept-loss" in refused.output and "Traceback" not in refused.output
    assert not out.exists() and not list(work.glob("*.part"))
    accepted = invoke(runner, *args, "--accept-loss", "--json")
    assert accepted.exit_code == 0, accepted.output
    assert "ACCURACY LOSS ACCEPTED" in accepted.stderr
    meta = json.loads((work / f"bit_bs{BS}_int8.onnx.json").read_text())
    assert out.is_file() and meta["accepted_loss"] is True and meta["guard"]["passed"] is False
    assert meta["guard"]["agreement"] < 1.0


def test_judge_thresholds():
    from bitcli.logit_metrics import compare_logits
    from bitcli.quant.guard import judge

    ref = np.eye(10)[[0, 1, 2, 3]] * 5.0
    test = ref.copy()
    test[3] = np.eye(10)[4] * 5.0                       # one of four disagrees, and it was right before
    m = compare_logits(ref, test, np.array([0, 1, 2, 3]))
    assert judge(m, min_agreement=0.75, max_top1_drop=0.25) == []
    fails = judge(m, min_agreement=0.76, max_top1_drop=0.24)
    assert len(fails) == 2 and "75.00% < min_agreement 76.00%" in fails[0] and "-25.00 pt" in fails[1]


def test_reduce_range_follows_cpu_flags(tmp_path):
    from bitcli.quant.cpuflags import choose_reduce_range, cpu_flags

    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu sse avx2 fma avx512f avx512_vnni avx512_bf16\n")
    flags = cpu_flags(info)
    assert flags == ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16")
    assert choose_reduce_range(flags)[0] is False
    assert choose_reduce_range(("avx2", "fma"))[0] is True
    assert choose_reduce_range(cpu_flags(tmp_path / "absent"))[0] is True


def test_memory_plan_chunks_histogram_calibration(tmp_path):
    from bitcli.quant.calib import COPIES, activation_bytes, plan_memory

    model = tiny_classifier(tmp_path / "m.onnx", bs=BS)
    # by hand: c1, r1, c2, r2 are 8x8x8 floats, pool 8, head 10, output 10 → 2076 floats per image
    assert activation_bytes(model, BS) == (4 * 512 + 8 + 10 + 10) * 4
    per_batch = 2076 * 4 * COPIES * BS
    plan = plan_memory(model, "percentile", 32, BS, available=2 * 3 * per_batch)   # budget: 3 batches
    assert plan.chunk_images == 2 * BS and plan.chunked                            # 2 divides 8 batches, 3 does not
    assert "chunks of 8" in plan.describe()
    assert plan_memory(model, "minmax", 32, BS, available=1).chunk_images == 32     # minmax keeps min/max only
    from bitcli.errors import DataError

    with pytest.raises(DataError, match="budget"):
        plan_memory(model, "entropy", 32, BS, available=per_batch)


def test_percentile_in_chunks_writes_a_model(tmp_path):
    from bitcli.quant.ort_engine import quantize

    model = tiny_classifier(tmp_path / "m.onnx", bs=BS)
    calib = np.random.default_rng(0).normal(0, 1, (16, 3, SIZE, SIZE)).astype(np.float32)
    recipe = quantize(model, calib, tmp_path / "q.onnx", method="percentile", exclude=("head",),
                      options={"reduce_range": True, "chunk_images": 8})
    assert recipe["chunk_batches"] == 2 and recipe["reduce_range"] is True and recipe["exclude"] == ["head"]
    import onnx

    q = onnx.load(str(tmp_path / "q.onnx"))
    head = next(n for n in q.graph.node if n.name == "head")
    producers = {o: n.op_type for n in q.graph.node for o in n.output}
    assert producers.get(head.input[1]) is None   # the kept head reads its fp32 weight initializer directly


def test_int8_model_missing_or_stale(tmp_path):
    from bitcli.errors import DataError
    from bitcli.quant.model import int8_model

    work, _ = _workdir(tmp_path, 8)
    with pytest.raises(DataError) as exc:
        int8_model(work, BS)
    assert "does not exist" in exc.value.message and f"bit quantize --bs {BS}" in exc.value.hint
    from bitcli.artifacts import sha256_file, write_sidecar

    model = work / f"bit_bs{BS}_int8.onnx"
    model.write_bytes(b"x")
    write_sidecar(model, {"fp32_sha256": sha256_file(work / f"bit_bs{BS}_sim.onnx")})
    assert int8_model(work, BS) == model
    tiny_classifier(work / f"bit_bs{BS}_sim.onnx", bs=BS, seed=9)    # the fp32 model changed
    with pytest.raises(DataError, match="stale"):
        int8_model(work, BS)


def test_engine_method_names_what_each_engine_runs():
    from bitcli.errors import ConfigError
    from bitcli.stages.quantize import engine_method

    assert engine_method("nncf", "percentile") == engine_method("nncf", "entropy") == "mixed"
    assert engine_method("nncf", "performance") == "performance" and engine_method("nncf", "minmax") == "minmax"
    assert engine_method("onnxruntime", "percentile") == "percentile"
    with pytest.raises(ConfigError, match="is an NNCF preset"):
        engine_method("onnxruntime", "mixed")


def test_bit_quantize_engine_nncf_with_the_default_method_writes_a_guarded_model(tmp_path, runner):
    pytest.importorskip("nncf", reason="nncf is not installed (pip install 'bitcli[openvino]', x86_64)")
    work, profile = _workdir(tmp_path)
    res = invoke(runner, "quantize", "-p", str(profile), "--engine", "nncf", "--calib", "16", "--holdout", "24",
                 "--json", "--min-agreement", "0.5", "--max-top1-drop", "1", "--no-keep-ends")
    assert res.exit_code == 0, res.output[-2000:]
    meta = json.loads((work / f"bit_bs{BS}_int8.onnx.json").read_text())
    assert meta["recipe"]["engine"] == "nncf" and meta["recipe"]["preset"] == "MIXED"  # percentile → MIXED, recorded
    assert meta["guard"]["samples"] == 24 and meta["guard"]["agreement"] >= 0.5
    assert "NNCF calibration on 16 images: memory bound" in res.stderr    # NNCF's own bound, said before it starts
    assert "activations per image" not in res.stderr and "(nncf mixed, 16 calibration images)" in res.stderr


def _largest_int8_weight(model_path: Path) -> int:
    """The largest |int8 weight| of a QDQ model, worked out from the file: int8 initializers feeding a
    DequantizeLinear (what NNCF writes), or round(w / scale) of float weights feeding a QuantizeLinear."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model_path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    largest = []
    for node in graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] in init:
            w, scale = init[node.input[0]], init[node.input[1]]
            scale = scale.reshape(-1, *([1] * (w.ndim - 1))) if scale.ndim else scale
            largest.append(int(np.abs(np.round(w / scale)).max()))
        if node.op_type == "DequantizeLinear" and init.get(node.input[0], np.zeros(0)).dtype == np.int8:
            q = init[node.input[0]].astype(np.int32)
            zero = init[node.input[2]].astype(np.int32) if len(node.input) > 2 else np.zeros(1, np.int32)
            largest.append(int(np.abs(q - zero.reshape(-1, *([1] * (q.ndim - 1))) if zero.ndim else q - zero).max()))
    assert largest, f"no quantized weights in {model_path}"
    return max(largest)


def test_nncf_reduce_range_auto_keeps_8_bit_weights_and_on_halves_them(tmp_path, runner):
    """auto: full 8-bit weights for NNCF on every CPU (OverflowFix.DISABLE, measured to agree best with fp32
    on OpenVINO); on: 7-bit (OverflowFix.ENABLE). Checked in the written weights, not only the sidecar."""
    pytest.importorskip("nncf", reason="nncf is not installed (pip install 'bitcli[openvino]', x86_64)")
    work, profile = _workdir(tmp_path)
    model = work / f"bit_bs{BS}_int8.onnx"
    common = ("quantize", "-p", str(profile), "--engine", "nncf", "--calib", "16", "--holdout", "16",
              "--min-agreement", "0", "--max-top1-drop", "1", "--accept-loss", "--force", "--no-keep-ends")
    auto = invoke(runner, *common)
    assert auto.exit_code == 0, auto.output[-2000:]
    meta = json.loads(model.with_name(model.name + ".json").read_text())
    assert meta["recipe"]["overflow_fix"] == "disable" and meta["reduce_range_reason"].startswith("off: OpenVINO")
    assert _largest_int8_weight(model) == 127
    on = invoke(runner, *common, "--reduce-range", "on")
    assert on.exit_code == 0, on.output[-2000:]
    assert json.loads(model.with_name(model.name + ".json").read_text())["recipe"]["overflow_fix"] == "enable"
    assert _largest_int8_weight(model) == 64  # half the range: [-64, 63], ±64 after rounding


def test_validation_slice_is_a_third_disjoint_slice_of_the_same_split():
    from bitcli.errors import ConfigError
    from bitcli.quant.calib import split_indices, validation_indices

    calib, hold = split_indices(100, 30, 20, seed=3, bs=8)
    val = validation_indices(100, 30, 20, seed=3, bs=8, count=50)
    assert len(val) == 48 and not set(val) & (set(calib) | set(hold))  # 100 − 24 − 20 = 56 left: 48 whole batches
    assert set(calib) | set(hold) | set(val) <= set(range(100))
    assert validation_indices(100, 30, 20, seed=3, bs=8, count=16) == sorted(
        int(i) for i in np.random.default_rng(3).permutation(100)[44:60])  # the permutation's next 16, by hand
    with pytest.raises(ConfigError, match="accuracy control needs a batch of 8 validation images"):
        validation_indices(40, 24, 16, seed=0, bs=8, count=100)


def test_accuracy_control_on_is_an_nncf_flag(tmp_path, runner):
    work, profile = _workdir(tmp_path)
    res = invoke(runner, "quantize", "-p", str(profile), "--accuracy-control", "on", "--calib", "16")
    assert res.exit_code == 2 and "accuracy control is NNCF's" in res.output and "--engine nncf" in res.output
    assert not (work / f"bit_bs{BS}_int8.onnx").exists() and "Traceback" not in res.output
    bad = invoke(runner, "quantize", "-p", str(profile), "--accuracy-control", "maybe")
    assert bad.exit_code == 2 and "auto|on|off" in bad.output


def test_nncf_accuracy_control_auto_requantizes_what_the_guard_refused(tmp_path, runner):
    """Nearly tied logits: plain NNCF int8 flips some held-out images, the guard (agreement 1.0) refuses it,
    accuracy control (on validation images, scored against fp32's own classes) puts layers back in fp32."""
    pytest.importorskip("nncf", reason="nncf is not installed (pip install 'bitcli[openvino]', x86_64)")
    work, profile = _workdir(tmp_path, 96, head_spread=0.002)
    res = invoke(runner, "quantize", "-p", str(profile), "--engine", "nncf", "--calib", "16", "--holdout", "40",
                 "--validation", "32", "--min-agreement", "0.99", "--max-top1-drop", "1", "--no-keep-ends", "--json")
    assert res.exit_code == 0, res.output[-3000:]
    meta = json.loads((work / f"bit_bs{BS}_int8.onnx.json").read_text())
    first, second = meta["attempts"]
    assert first["accuracy_control"] is None and first["passed"] is False and first["agreement"] < 1.0
    assert second["passed"] is True and meta["guard"]["agreement"] == 1.0 and meta["accepted_loss"] is False
    control = meta["recipe"]["accuracy_control"]
    assert control["max_drop"] == pytest.approx(0.005) and control["val_images"] == 32  # half of (1 − 0.99)
    val, calib, hold = set(control["val_indices"]), set(meta["calibration"]["indices"]), set(meta["guard"]["indices"])
    assert len(val) == 32 and not val & (calib | hold)                  # tuned on neither calibration nor judge images
    assert meta["guard"]["runtime"] == "openvino"                       # judged where an NNCF model runs
    assert "quantizing again with NNCF accuracy control" in res.stderr
    off = invoke(runner, "quantize", "-p", str(profile), "--engine", "nncf", "--calib", "16", "--holdout", "40",
                 "--min-agreement", "0.99", "--max-top1-drop", "1", "--no-keep-ends", "--accuracy-control", "off",
                 "--force")
    assert off.exit_code == 1 and "int8 model refused" in off.output and "--accuracy-control on" in off.output
    assert json.loads((work / f"bit_bs{BS}_int8.onnx.json").read_text()) == meta  # the refused model replaced nothing


def test_accuracy_control_scores_against_fp32s_own_classes(tmp_path):
    pytest.importorskip("openvino", reason="openvino is not installed (pip install 'bitcli[openvino]', x86_64)")
    from bitcli.quant.calib import validation_indices
    from bitcli.stages.infer_io import input_files
    from bitcli.stages.quantize import QuantizeRequest, _control_options

    work, _ = _workdir(tmp_path, 64, head_spread=0.002)
    req = QuantizeRequest(bs=BS, engine="nncf", calib=16, holdout=16, validation=24, min_agreement=0.98)
    files = input_files(work / "dataset_bin")
    options = _control_options(work / f"bit_bs{BS}_sim.onnx", files, req, SIZE, None)
    assert options["max_drop"] == pytest.approx(0.01)
    val = validation_indices(64, 16, 16, 0, BS, 24)
    assert options["val_indices"] == val and len(val) == 24
    images = np.stack([np.fromfile(files[i], np.float32).reshape(3, SIZE, SIZE) for i in val])
    fp32 = np.concatenate([run(work / f"bit_bs{BS}_sim.onnx", images[i:i + BS]) for i in range(0, 24, BS)])
    assert (options["val_labels"] == fp32.argmax(1)).all()      # fp32's classes (onnxruntime), not label.txt
    labels = np.array([int(line.split()[-1]) for line in (work / "label.txt").read_text().split("\n") if line.strip()])
    assert (options["val_labels"] != labels[val]).any()


def test_op_types_quantize_only_those_ops(tmp_path, runner):
    import onnx
    from onnx import numpy_helper

    work, profile = _workdir(tmp_path)
    common = ["quantize", "-p", str(profile), "--calib", "16", "--holdout", "24", "--min-agreement", "0",
              "--max-top1-drop", "1", "--method", "minmax", "--no-keep-ends"]

    def quantized(op_types: str) -> tuple[set[str], int]:
        """(op types whose output a QuantizeLinear reads, count of int8 weight tensors) of the written model."""
        res = invoke(runner, *common, "--op-types", op_types, "--force")
        assert res.exit_code == 0, res.output
        graph = onnx.load(str(work / f"bit_bs{BS}_int8.onnx")).graph
        made_by = {out: node.op_type for node in graph.node for out in node.output}
        q_of = {made_by.get(n.input[0], "input") for n in graph.node if n.op_type == "QuantizeLinear"}
        inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        int8 = sum(n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].dtype == np.int8
                   and inits[n.input[0]].ndim == 4 for n in graph.node)  # int8 Conv weights (O,I,kh,kw)
        return q_of, int8

    assert quantized("GlobalAveragePool") == ({"Relu", "GlobalAveragePool"}, 0)  # the pool's in/out only, no weights
    conv_only, weights = quantized("Conv")
    assert weights == 3 and "input" in conv_only                                 # three Conv weights in int8
    meta = json.loads((work / f"bit_bs{BS}_int8.onnx.json").read_text())
    assert meta["recipe"]["op_types"] == ["Conv"] and meta["request"]["op_types"] == ["Conv"]
    assert quantized("")[1] == 3 and json.loads((work / f"bit_bs{BS}_int8.onnx.json").read_text())["recipe"]["op_types"] == "all"
    odd = invoke(runner, *common, "--op-types", "Conv;Relu")
    assert odd.exit_code == 2 and "quantize.op_types" in odd.output


def test_nncf_op_types_leave_quantizers_only_in_front_of_those_ops(tmp_path, runner):
    """NNCF has no "only these types": bit ignores every other op type of the model, so with [Conv] every
    dequantized activation feeds a Conv; with every type NNCF also quantizes the pool's input."""
    pytest.importorskip("nncf", reason="nncf is not installed (pip install 'bitcli[openvino]', x86_64)")
    import onnx

    work, profile = _workdir(tmp_path)
    common = ("quantize", "-p", str(profile), "--engine", "nncf", "--calib", "16", "--holdout", "16",
              "--min-agreement", "0", "--max-top1-drop", "1", "--accept-loss", "--force", "--no-keep-ends")

    def readers_of_dequantized_activations(op_types: str) -> set[str]:
        res = invoke(runner, *common, "--op-types", op_types)
        assert res.exit_code == 0, res.output[-2000:]
        graph = onnx.load(str(work / f"bit_bs{BS}_int8.onnx")).graph
        inits = {t.name for t in graph.initializer}
        dq = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] not in inits
              and not any(m.output[0] == n.input[0] and m.input[0] in inits for m in graph.node)}
        return {n.op_type for n in graph.node if set(n.input) & dq}

    assert readers_of_dequantized_activations("Conv") == {"Conv"}
    meta = json.loads((work / f"bit_bs{BS}_int8.onnx.json").read_text())
    assert meta["recipe"]["op_types"] == ["Conv"]
    assert readers_of_dequantized_activations("") == {"Conv", "GlobalAveragePool"}
    bad = invoke(runner, *common, "--exclude", "no_such_node")
    assert bad.exit_code == 2 and "no_such_node" in bad.output and "Traceback" not in bad.output


def test_engine_auto_follows_the_runtime_that_will_run_the_model(tmp_path, monkeypatch):
    import importlib.util

    from bitcli.commands._common import settings
    from bitcli.stages.quantize import request_from_settings

    have_nncf = importlib.util.find_spec("nncf") is not None
    profile = tmp_path / "bit.yaml"
    cases = [("backend: openvino\n", "nncf" if have_nncf else "onnxruntime", ("Conv",)),
             ("backend: onnxruntime\n", "onnxruntime", ("Conv",)),
             ("backend: openvino\nquantize: {engine: onnxruntime}\n", "onnxruntime", ("Conv",)),
             ("backend: onnxruntime\nquantize: {engine: nncf, op_types: []}\n", "nncf", ())]  # [] = every type
    for text, engine, op_types in cases:
        profile.write_text(text)
        req = request_from_settings(settings(profile), 8)
        assert (req.engine, req.op_types) == (engine, op_types), text


def test_nncf_quantize_json_stdout_is_json_only(tmp_path):
    """NNCF logs and draws progress on the process's own stdout (not what CliRunner captures): a real process."""
    import os
    import subprocess
    import sys

    pytest.importorskip("nncf", reason="nncf is not installed (pip install 'bitcli[openvino]', x86_64)")
    work, profile = _workdir(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIT_")}
    proc = subprocess.run([sys.executable, "-m", "bitcli", "quantize", "-p", str(profile), "--engine", "nncf",
                           "--calib", "16", "--holdout", "24", "--min-agreement", "0", "--max-top1-drop", "1",
                           "--no-keep-ends", "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)                       # nothing but the JSON document on stdout
    assert doc["recipe"]["engine"] == "nncf" and doc["status"] == "done"
    assert "Statistics collection" in proc.stderr or "NNCF calibration on 16 images" in proc.stderr
