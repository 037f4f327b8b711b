"""The nncf engine on the trained bs-4 model: it writes an int8 model that runs and agrees with fp32."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from runtime_models import real_model_dir

from bitcli.errors import ConfigError, DataError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("nncf") is None or importlib.util.find_spec("openvino") is None,
    reason="nncf/openvino are not installed (pip install 'bitcli[openvino]'; x86_64 only)")


@pytest.fixture
def images(cifar_dir):
    from bitcli.stages.data import iter_preprocessed, read_cifar10_test

    dataset = read_cifar10_test(cifar_dir)
    (_, batch), = list(iter_preprocessed(dataset, size=128, limit=24, batch=24))
    return batch, dataset.labels[:24]


def _logits(model: Path, batch, precision="fp32"):
    from bitcli.backends.base import BackendOptions
    from bitcli.backends.openvino import OpenVinoBackend

    with OpenVinoBackend(BackendOptions(model=model, batch_size=4, precision=precision)) as backend:
        return np.concatenate([backend.infer(batch[i:i + 4]) for i in range(0, len(batch), 4)]), backend


def test_nncf_int8_runs_and_agrees_with_fp32(trained_pth, images, tmp_path):
    from bitcli.logit_metrics import compare_logits
    from bitcli.quant import engine

    fp32 = real_model_dir(trained_pth) / "bit_bs4_sim.onnx"
    out = tmp_path / "bit_bs4_int8.onnx"
    said: list[str] = []
    recipe = engine("nncf")(fp32, images[0][:8], out, method="mixed", exclude=(), options={"say": said.append})
    assert said and said[0].startswith("NNCF calibration on 8 images: memory bound ")
    assert recipe["format"] == "QDQ" and recipe["preset"] == "MIXED" and recipe["calib_images"] == 8
    from bitcli.cpu import detect

    assert recipe["memory_bound_mib"] > 0 and recipe["cpu"]["flags"] == sorted(detect().flags)
    assert not list(tmp_path.glob(".*partial*"))  # written under a temporary name, then renamed

    import onnx

    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # really quantized, not a copy of fp32

    held_out = images[0][8:]  # not the calibration images
    ref, _ = _logits(fp32, held_out)
    got, backend = _logits(out, held_out, precision="int8")
    metrics = compare_logits(ref, got)
    assert metrics.agreement >= 14 / 16 and metrics.nonfinite_test == 0
    assert 0 < metrics.max_abs  # int8 differs from fp32 ...
    assert metrics.sqnr_db > 10  # ... but carries the signal
    assert "int8 layers" in backend.describe()


def test_nncf_refuses_bad_input(trained_pth, images, tmp_path):
    from bitcli.quant.nncf_engine import quantize

    fp32 = real_model_dir(trained_pth) / "bit_bs4_sim.onnx"
    with pytest.raises(ConfigError, match="unknown NNCF method 'entropy'"):
        quantize(fp32, images[0][:8], tmp_path / "q.onnx", method="entropy", exclude=(), options={})
    with pytest.raises(DataError, match="does not split into batches of 4"):
        quantize(fp32, images[0][:6], tmp_path / "q.onnx", method="mixed", exclude=(), options={})
    with pytest.raises(DataError, match="more than the 1 MiB available") as info:
        quantize(fp32, images[0][:8], tmp_path / "q.onnx", method="mixed", exclude=(), options={"memory_limit": 1024**2})
    assert "fewer images" in info.value.hint
    with pytest.raises(ConfigError, match="needs held-out val_images"):
        quantize(fp32, images[0][:8], tmp_path / "q.onnx", method="mixed", exclude=(), options={"max_drop": 0.01})
    assert not (tmp_path / "q.onnx").exists()


def test_memory_bound_counts_calibration_weights_and_activations(trained_pth):
    from bitcli.quant.nncf_engine import RUNTIME_BYTES, WEIGHT_COPIES, memory_bound

    fp32 = real_model_dir(trained_pth) / "bit_bs4_sim.onnx"
    small = memory_bound(fp32, np.zeros((4, 3, 128, 128), np.float32))
    large = memory_bound(fp32, np.zeros((256, 3, 128, 128), np.float32))
    assert large - small == 252 * 3 * 128 * 128 * 4  # grows only by the calibration array
    weights = fp32.stat().st_size  # ~94 MB of float32 weights: the bound holds ten copies
    assert small - RUNTIME_BYTES - 4 * 3 * 128 * 128 * 4 > WEIGHT_COPIES * 0.9 * weights


_PEAK_CHILD = """
import sys
from pathlib import Path
import numpy as np
from bitcli.quant import engine
from bitcli.quant.nncf_engine import memory_bound
calib = np.random.default_rng(0).standard_normal((32, 3, 128, 128)).astype(np.float32)
said = []
engine("nncf")(Path(sys.argv[1]), calib, Path(sys.argv[2]), method="mixed", exclude=(),
               options={"say": said.append, "op_types": ["Conv"], "reduce_range": False})
print(memory_bound(Path(sys.argv[1]), calib), said[0])
"""


def test_memory_bound_holds_the_peak_of_a_real_calibration(trained_pth, tmp_path):
    """The bound said before calibrating is above the process's measured peak RSS, at bs 1 where the first
    formula (three weight copies, twice the activations) was exceeded, and not so loose that it refuses a
    machine where calibration fits (within 1.6x)."""
    import os
    import subprocess
    import sys

    fp32 = real_model_dir(trained_pth) / "bit_bs1_sim.onnx"
    proc = subprocess.Popen([sys.executable, "-c", _PEAK_CHILD, str(fp32), str(tmp_path / "q.onnx")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    assert status == 0, out
    bound, said = out.split(maxsplit=1)
    peak = usage.ru_maxrss * 1024  # Linux: KiB
    assert f"memory bound {int(bound) / 1024**2:.0f} MiB" in said
    assert peak <= int(bound) <= 1.6 * peak, (peak / 1024**2, int(bound) / 1024**2)


def test_accuracy_control_validates_on_held_out_images(trained_pth, images, tmp_path):
    from bitcli.quant.nncf_engine import quantize

    fp32 = real_model_dir(trained_pth) / "bit_bs4_sim.onnx"
    out = tmp_path / "bit_bs4_int8.onnx"
    options = {"max_drop": 0.5, "val_images": images[0][8:16], "val_labels": images[1][8:16]}
    recipe = quantize(fp32, images[0][:8], out, method="mixed", exclude=(), options=options)
    assert recipe["accuracy_control"] == {"max_drop": 0.5, "val_images": 8}
    import onnx

    assert "QuantizeLinear" in {node.op_type for node in onnx.load(str(out)).graph.node}


def test_validation_fn_scores_the_items_it_is_given_and_compiles_each_model_once():
    """NNCF validates item by item and on subsets: each call must score only its items (by hand here)."""
    from bitcli.quant.nncf_engine import _top1_fn

    class Compiled:  # an OpenVINO compiled model that returns fixed logits: class = first pixel value
        outputs = ["out"]
        requests = 0

        def create_infer_request(self):
            Compiled.requests += 1
            return self

        def infer(self, feed):
            batch = feed[0]
            logits = np.zeros((len(batch), 10), np.float32)
            logits[np.arange(len(batch)), batch[:, 0, 0, 0].astype(int)] = 1.0
            return {"out": logits}

    def item(classes, labels):
        images = np.zeros((len(classes), 3, 2, 2), np.float32)
        images[:, 0, 0, 0] = classes
        return images, np.array(labels)

    items = [item([1, 2], [1, 2]), item([3, 4], [3, 0]), item([5, 6], [0, 0])]
    validate, model = _top1_fn(), Compiled()
    assert validate(model, items) == (pytest.approx(3 / 6), [1.0, 0.5, 0.0])
    assert validate(model, items[1:2]) == (0.5, [0.5])          # a subset: only its items
    assert validate(model, [items[0]]) == (1.0, [1.0])
    assert Compiled.requests == 1                                # one compile (request) per model, not per call
    validate(Compiled(), [items[2]])
    assert Compiled.requests == 2
