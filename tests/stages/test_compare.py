"""bit compare: figures against values worked out by hand with numpy, thresholds, sources, per node."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bit_testlib import invoke
from tiny_onnx import SIZE, tiny_classifier, tiny_dataset

N, C = 12, 10


def _pair(tmp_path: Path):
    """Two result folders: ref as .bin, test as .npy in two device folders; sample 3 disagrees on purpose."""
    rng = np.random.default_rng(5)
    ref = rng.normal(0, 2, (N, C)).astype(np.float32)
    test = (ref + rng.normal(0, 0.05, (N, C))).astype(np.float32)
    top = int(np.argmax(ref[3]))
    test[3, top] = ref[3].min() - 1.0  # its top-1 moves elsewhere
    ref_dir, test_dir = tmp_path / "ref" / "result_bs4", tmp_path / "test" / "result_bs4"
    ref_dir.mkdir(parents=True)
    for i in range(N):
        ref[i].tofile(ref_dir / f"{i}_0.bin")
        device = test_dir / ("device0_0" if i < N // 2 else "device1_0")
        device.mkdir(parents=True, exist_ok=True)
        np.save(device / f"{i}_0.npy", test[i])
    labels = rng.integers(0, C, N)
    label_path = tmp_path / "label.txt"
    label_path.write_text("".join(f"{c}\n" for c in labels))
    return ref, test, labels, ref_dir, test_dir, label_path


def _by_hand(ref: np.ndarray, test: np.ndarray, labels: np.ndarray) -> dict:
    r, t = ref.astype(np.float64), test.astype(np.float64)
    cos = [float(r[i] @ t[i] / math.sqrt((r[i] @ r[i]) * (t[i] @ t[i]))) for i in range(len(r))]
    noise = sum(float(((t[i] - r[i]) ** 2).sum()) for i in range(len(r)))
    signal = sum(float((r[i] ** 2).sum()) for i in range(len(r)))
    agree = sum(int(np.argmax(r[i]) == np.argmax(t[i])) for i in range(len(r))) / len(r)
    top1_ref = sum(int(np.argmax(r[i]) == labels[i]) for i in range(len(r))) / len(r)
    top1_test = sum(int(np.argmax(t[i]) == labels[i]) for i in range(len(r))) / len(r)
    return {"cos": cos, "sqnr": 10 * math.log10(signal / noise), "agree": agree,
            "max_abs": float(max(abs(t - r).max(axis=1))), "top1_ref": top1_ref, "top1_test": top1_test}


def test_dir_pair_figures_match_hand_computed_values(tmp_path, runner):
    ref, test, labels, ref_dir, test_dir, label_path = _pair(tmp_path)
    want = _by_hand(ref, test, labels)
    res = invoke(runner, "compare", "--ref-dir", str(ref_dir), "--test-dir", str(test_dir),
                 "--label-path", str(label_path), "--json", "--worst", "3")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    m = doc["metrics"]
    assert doc["samples"] == N and doc["status"] == "done" and doc["failures"] == []
    assert m["agreement"] == pytest.approx(want["agree"]) and m["agreement"] == pytest.approx(11 / 12)
    assert m["cosine"] == pytest.approx(np.mean(want["cos"]), rel=1e-9)
    assert m["min_cosine"] == pytest.approx(min(want["cos"]), rel=1e-9)
    assert m["sqnr_db"] == pytest.approx(want["sqnr"], rel=1e-9)
    assert m["max_abs"] == pytest.approx(want["max_abs"], rel=1e-6)
    assert m["top1_ref"] == pytest.approx(want["top1_ref"]) and m["top1_test"] == pytest.approx(want["top1_test"])
    assert m["delta_top1"] == pytest.approx(want["top1_test"] - want["top1_ref"])
    # the worst samples: lowest cosine first, named by stem, the planted one among them
    order = np.argsort(want["cos"])[:3]
    assert [w["stem"] for w in doc["worst"]] == [str(i) for i in order]
    assert doc["worst"][0]["stem"] == "3" and doc["worst"][0]["ref_top1"] != doc["worst"][0]["test_top1"]
    per = {p["stem"]: p for p in doc["per_sample"]}
    assert per["3"]["agree"] is False and per["0"]["cosine"] == pytest.approx(want["cos"][0], rel=1e-9)


def test_thresholds_exit_1_after_printing_the_figures(tmp_path, runner):
    _ref, _test, _labels, ref_dir, test_dir, _ = _pair(tmp_path)
    base = ["compare", "--ref-dir", str(ref_dir), "--test-dir", str(test_dir)]
    crossed = invoke(runner, *base, "--min-agreement", "0.95")
    assert crossed.exit_code == 1
    assert "top-1 agreement 91.67% is below --min-agreement 95.00%" in crossed.stdout
    assert "Traceback" not in crossed.output
    assert invoke(runner, *base, "--min-agreement", "0.9").exit_code == 0
    assert invoke(runner, *base, "--atol", "1e-6").exit_code == 1
    assert invoke(runner, *base, "--atol", "100").exit_code == 0
    assert invoke(runner, *base, "--min-cosine", "0.9999").exit_code == 1
    doc = json.loads(invoke(runner, *base, "--atol", "1e-6", "--json").stdout)
    assert doc["status"] == "failed" and doc["outside_tolerance"] > 0
    assert invoke(runner, *base, "--min-agreement", "1.5").exit_code == 2  # a meaningless limit is a bad flag value


def test_nonfinite_test_logits_fail(tmp_path, runner):
    _ref, test, _labels, ref_dir, test_dir, _ = _pair(tmp_path)
    bad = test[5].copy()
    bad[2] = np.nan
    np.save(test_dir / "device0_0" / "5_0.npy", bad)
    res = invoke(runner, "compare", "--ref-dir", str(ref_dir), "--test-dir", str(test_dir), "--json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["metrics"]["nonfinite_test"] == 1 and doc["metrics"]["agreement"] == pytest.approx(10 / 12)
    assert any("non-finite" in f for f in doc["failures"])


def test_missing_sample_is_one_line_error(tmp_path, runner):
    _ref, _test, _labels, ref_dir, test_dir, _ = _pair(tmp_path)
    (test_dir / "device1_0" / "11_0.npy").unlink()
    res = invoke(runner, "compare", "--ref-dir", str(ref_dir), "--test-dir", str(test_dir))
    assert res.exit_code == 1
    assert "1 of 12 samples" in res.output and "Traceback" not in res.output
    both = invoke(runner, "compare", "--ref", "onnxruntime", "--ref-dir", str(ref_dir), "--test-dir", str(test_dir))
    assert both.exit_code == 2 and "both --ref and --ref-dir" in both.output  # conflicting flags


def _tiny_workdir(tmp_path: Path, count: int = 10) -> tuple[Path, Path]:
    work = tmp_path / "work"
    tiny_dataset(work, count)
    (tmp_path / "bit.yaml").write_text(f"workdir: {work}\nmodel:\n  image_size: {SIZE}\n  num_classes: 10\n")
    return work, tmp_path / "bit.yaml"


def test_backends_run_now_compare_two_models(tmp_path, runner):
    work, profile = _tiny_workdir(tmp_path)
    a = tiny_classifier(tmp_path / "a.onnx", bs=4, seed=0)
    b = tiny_classifier(tmp_path / "b.onnx", bs=4, seed=3)
    res = invoke(runner, "compare", "-p", str(profile), "--ref", "onnxruntime", "--ref-model", str(a),
                 "--test", "onnxruntime", "--test-model", str(b), "--bs", "4", "--limit", "6", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    images = np.stack([np.fromfile(work / "dataset_bin" / f"{i}.bin", dtype=np.float32).reshape(3, SIZE, SIZE)
                       for i in range(8)])
    import onnxruntime as ort

    def logits(path):
        s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.concatenate([s.run(None, {"image": images[i:i + 4]})[0] for i in (0, 4)])[:6]

    ra, rb = logits(a).astype(np.float64), logits(b).astype(np.float64)
    agree = np.mean(np.argmax(ra, 1) == np.argmax(rb, 1))
    assert doc["samples"] == 6 and doc["metrics"]["agreement"] == pytest.approx(agree)
    assert doc["metrics"]["max_abs"] == pytest.approx(float(np.abs(ra - rb).max()), rel=1e-5)
    assert doc["labels"] == str(work / "label.txt")  # a backend run scores both sides against the workdir's labels


def test_per_node_names_the_perturbed_node(tmp_path, runner):
    import onnx
    from onnx import numpy_helper

    work, profile = _tiny_workdir(tmp_path)
    ref = tiny_classifier(tmp_path / "ref.onnx", bs=4)
    model = onnx.load(str(ref))
    for init in model.graph.initializer:
        if init.name == "w2":  # conv2's weights, off by a lot
            w = numpy_helper.to_array(init).copy()
            w[:, :, 1, 1] *= -3.0
            init.CopyFrom(numpy_helper.from_array(w, "w2"))
    onnx.save(model, str(tmp_path / "test.onnx"))
    res = invoke(runner, "compare", "-p", str(profile), "--ref", "onnxruntime", "--ref-model", str(ref),
                 "--test", "onnxruntime", "--test-model", str(tmp_path / "test.onnx"), "--bs", "4",
                 "--per-node", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["first_divergent"] == "conv2"
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert [n["name"] for n in doc["nodes"]] == ["conv1", "relu1", "conv2", "relu2", "pool", "head", "flat"]
    assert nodes["conv1"]["cosine"] == pytest.approx(1.0) and nodes["relu1"]["max_abs"] == 0.0
    assert nodes["conv2"]["cosine"] < 0.99
    table = invoke(runner, "compare", "-p", str(profile), "--ref", "onnxruntime", "--ref-model", str(ref),
                   "--test", "onnxruntime", "--test-model", str(tmp_path / "test.onnx"), "--bs", "4", "--per-node")
    assert "first node below cosine 0.99: conv2 (Conv" in table.stdout


def test_openvino_int8_side_runs_the_int8_model_at_its_own_precision(tmp_path, runner, monkeypatch):
    """--test openvino --test-precision int8 runs bit_bs4_int8.onnx on OpenVINO (not the profile's precision)."""
    pytest.importorskip("openvino", reason="openvino is not installed (pip install 'bitcli[openvino]', x86_64)")
    work, profile = _tiny_workdir(tmp_path)
    tiny_classifier(work / "bit_bs4_sim.onnx", bs=4, seed=0)
    (work / "bit_bs4_sim.onnx.json").write_text("{}\n")
    made = invoke(runner, "quantize", "-p", str(profile), "--bs", "4", "--engine", "onnxruntime", "--calib", "4",
                  "--holdout", "4", "--min-agreement", "0", "--max-top1-drop", "1", "--method", "minmax", "--no-keep-ends")
    assert made.exit_code == 0, made.output
    monkeypatch.setenv("BIT_PRECISION", "fp32")  # the side's own precision wins over the profile's
    res = invoke(runner, "compare", "-p", str(profile), "--ref", "onnxruntime", "--test", "openvino",
                 "--test-precision", "int8", "--bs", "4", "--limit", "8", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["test"].endswith("bit_bs4_int8.onnx") or "int8" in doc["test"]
    import openvino as ov

    images = np.stack([np.fromfile(work / "dataset_bin" / f"{i}.bin", dtype=np.float32).reshape(3, SIZE, SIZE)
                       for i in range(8)])
    compiled = ov.Core().compile_model(str(work / "bit_bs4_int8.onnx"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = np.concatenate([compiled(images[i:i + 4])[0] for i in (0, 4)]).astype(np.float64)
    import onnxruntime as ort

    fp32 = ort.InferenceSession(str(work / "bit_bs4_sim.onnx"), providers=["CPUExecutionProvider"])
    ref = np.concatenate([fp32.run(None, {"image": images[i:i + 4]})[0] for i in (0, 4)]).astype(np.float64)
    assert doc["metrics"]["max_abs"] == pytest.approx(float(np.abs(got - ref).max()), rel=1e-3, abs=1e-6)
    assert doc["metrics"]["max_abs"] > 0                                   # really the int8 model
    refused = invoke(runner, "compare", "-p", str(profile), "--ref", "onnxruntime", "--test", "torch",
                     "--test-precision", "int8", "--bs", "4", "--limit", "4")
    assert refused.exit_code == 2 and "precision int8 does not run on the torch backend" in refused.output
