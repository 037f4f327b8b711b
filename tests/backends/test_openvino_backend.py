"""The openvino backend: precision hints, the CPU check for bf16, its device line, parity with PyTorch."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from runtime_models import real_model_dir

from bitcli import cpu
from bitcli.backends.base import BackendOptions, auto_order, select_backend
from bitcli.backends.openvino import OpenVinoBackend
from bitcli.errors import BackendUnavailable, ConfigError, DataError

HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
needs_openvino = pytest.mark.skipif(not HAS_OPENVINO, reason="openvino is not installed (pip install 'bitcli[openvino]'; x86_64 only)")
AVX2_ONLY = cpu.parse_cpuinfo("model name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n", "x86_64")
BF16_CPU = cpu.parse_cpuinfo("model name\t: Test Xeon\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16\n", "x86_64")


def test_missing_openvino_names_the_extra(monkeypatch, tmp_path):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real_find_spec(name, *a))
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    assert "pip install 'bitcli[openvino]'" in OpenVinoBackend.available()
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(BackendUnavailable, match="needs the Python package 'openvino'") as info:
        OpenVinoBackend(BackendOptions(model=tmp_path / "m.onnx", batch_size=1)).open()
    assert "bitcli[openvino]" in info.value.hint
    with pytest.raises(BackendUnavailable, match="backend 'openvino' is not usable here"):
        select_backend("openvino")


def test_bf16_is_refused_on_a_cpu_without_bf16(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu, "detect", lambda: AVX2_ONLY)
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(ConfigError) as info:
        OpenVinoBackend(BackendOptions(model=tmp_path / "m.onnx", batch_size=1, precision="bf16")).open()
    message = info.value.message
    assert "\n" not in message and "bf16" in message and "AVX512-BF16" in message and "AMD EPYC 7B12" in message
    assert "fp32 or int8" in info.value.hint


def test_unknown_precision_and_missing_int8_model(tmp_path):
    with pytest.raises(ConfigError, match="no precision 'fp16'"):
        OpenVinoBackend(BackendOptions(model=tmp_path / "m.onnx", batch_size=1, precision="fp16")).open()
    if HAS_OPENVINO:
        with pytest.raises(DataError, match="model file not found") as info:
            OpenVinoBackend(BackendOptions(model=tmp_path / "bit_bs8_int8.onnx", batch_size=8, precision="int8")).open()
        assert "bit quantize --engine nncf --bs 8" in info.value.hint


@pytest.mark.openvino_auto
def test_auto_order_keeps_onnxruntime_on_aarch64():
    assert auto_order("x86_64") == ("ascend", "openvino", "onnxruntime")
    assert auto_order("aarch64") == ("ascend", "onnxruntime")


@pytest.mark.openvino_auto
def test_auto_picks_openvino_when_installed_else_onnxruntime(monkeypatch):
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    monkeypatch.setattr("bitcli.backends.ais.AisBackend.available", classmethod(lambda cls, ctx=None: "no NPU"))
    cls, why = select_backend("auto", {})
    if HAS_OPENVINO:
        assert cls.name == "openvino" and why == "backend: openvino (auto: ascend unavailable — no NPU)"
    monkeypatch.setattr(OpenVinoBackend, "available", classmethod(lambda cls, ctx=None: "not installed"))
    cls, why = select_backend("auto", {})
    assert cls.name == "onnxruntime" and "openvino unavailable — not installed" in why
    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    monkeypatch.setattr(OpenVinoBackend, "available", classmethod(lambda cls, ctx=None: None))
    assert select_backend("auto", {})[0].name == "onnxruntime"


@pytest.fixture
def models(trained_pth):
    return real_model_dir(trained_pth)


@pytest.fixture
def real_batch(cifar_dir):
    from bitcli.stages.data import iter_preprocessed, read_cifar10_test

    dataset = read_cifar10_test(cifar_dir)
    (_, batch), = list(iter_preprocessed(dataset, size=128, limit=16, batch=16))
    return batch, dataset.labels[:16]


@pytest.fixture
def torch_logits(trained_pth, real_batch):
    from bitcli.backends.torch import TorchBackend

    with TorchBackend(BackendOptions(model=trained_pth, batch_size=16, num_classes=10)) as ref:
        return ref.infer(real_batch[0])


def _run(model, bs, batch, **kw):
    with OpenVinoBackend(BackendOptions(model=model, batch_size=bs, **kw)) as backend:
        out = np.concatenate([backend.infer(np.ascontiguousarray(batch[i:i + bs])) for i in range(0, len(batch), bs)])
        return out, backend


@needs_openvino
def test_fp32_matches_pytorch_tightly(models, real_batch, torch_logits):
    got, backend = _run(models / "bit_bs4_sim.onnx", 4, real_batch[0], threads=1)
    np.testing.assert_allclose(got, torch_logits, atol=2e-3, rtol=0)  # f32 kernels differ in summation order only
    assert (got.argmax(1) == torch_logits.argmax(1)).all()
    assert backend.used_precision == "f32" and backend.devices == ("CPU",)
    assert backend.last_latency_ms > 0 and backend.input_shape() == (4, 3, 128, 128)
    line = backend.describe()
    assert line.startswith("OpenVINO CPU (") and cpu.detect().model in line and "inference precision f32" in line
    assert "1 threads" in line


@needs_openvino
@pytest.mark.skipif(not cpu.detect().native_bf16, reason="this CPU has neither AVX512-BF16 nor AMX-BF16")
def test_bf16_agrees_with_pytorch(models, real_batch, torch_logits):
    from bitcli.logit_metrics import compare_logits

    got, backend = _run(models / "bit_bs4_sim.onnx", 4, real_batch[0], precision="bf16")
    assert backend.used_precision == "bf16" and "inference precision bf16" in backend.describe()
    metrics = compare_logits(torch_logits, got, real_batch[1])
    assert metrics.agreement >= 15 / 16 and metrics.min_cosine > 0.99
    assert 0 < metrics.max_abs < 1.0  # really bf16 (not f32), and still close


@needs_openvino
def test_batch_size_mismatch_and_bad_file(models, tmp_path):
    with pytest.raises(ConfigError, match="batch-size-4 model, but batch size 8"):
        OpenVinoBackend(BackendOptions(model=models / "bit_bs4_sim.onnx", batch_size=8)).open()
    (tmp_path / "bit.onnx").write_bytes(b"not onnx")
    with pytest.raises(DataError, match="OpenVINO cannot load") as info:
        OpenVinoBackend(BackendOptions(model=tmp_path / "bit.onnx", batch_size=1)).open()
    assert "\n" not in info.value.message
