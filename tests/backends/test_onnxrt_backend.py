"""The onnxruntime backend: provider choice, session options, batch-size checks, its timer."""

from __future__ import annotations

import numpy as np
import pytest

from runtime_models import real_model_dir

from bitcli.backends.base import BackendOptions
from bitcli.backends.onnxrt import OnnxRuntimeBackend, resolve_provider, usable_cores
from bitcli.errors import BackendUnavailable, ConfigError, DataError


def test_provider_resolution():
    assert resolve_provider("auto", ["AzureExecutionProvider", "CPUExecutionProvider"]) == "CPUExecutionProvider"
    assert resolve_provider("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == "CUDAExecutionProvider"
    assert resolve_provider("cpu", ["CPUExecutionProvider"]) == "CPUExecutionProvider"
    with pytest.raises(BackendUnavailable, match="provider 'cuda' is not available") as info:
        resolve_provider("cuda", ["CPUExecutionProvider"])
    assert "available: CPUExecutionProvider" in info.value.hint


def test_missing_model_file(tmp_path):
    with pytest.raises(DataError, match="model file not found") as info:
        OnnxRuntimeBackend(BackendOptions(model=tmp_path / "bit_bs1_sim.onnx", batch_size=1)).open()
    assert "bit simplify" in info.value.hint


def test_not_an_onnx_file(tmp_path):
    (tmp_path / "bit.onnx").write_bytes(b"not onnx")
    with pytest.raises(DataError, match="onnxruntime cannot load"):
        OnnxRuntimeBackend(BackendOptions(model=tmp_path / "bit.onnx", batch_size=1)).open()


@pytest.fixture
def models(trained_pth):
    return real_model_dir(trained_pth)


def test_session_options_and_timer(models):
    import onnxruntime as ort

    opts = BackendOptions(model=models / "bit_bs4_sim.onnx", batch_size=4, threads=1)
    with OnnxRuntimeBackend(opts) as backend:
        so = backend._session.get_session_options()
        assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        assert so.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
        assert (so.intra_op_num_threads, so.inter_op_num_threads) == (1, 1)
        assert backend.describe() == "CPUExecutionProvider x1 threads"
        assert backend.input_shape() == (4, 3, 128, 128)
        out = backend.infer(np.zeros((4, 3, 128, 128), np.float32))
        assert out.shape == (4, 10) and out.dtype == np.float32
        assert backend.last_latency_ms > 0
    assert backend._session is None


def test_default_threads_are_all_usable_cores(models):
    with OnnxRuntimeBackend(BackendOptions(model=models / "bit_bs1_sim.onnx", batch_size=1)) as backend:
        assert backend._session.get_session_options().intra_op_num_threads == usable_cores()


def test_static_model_refuses_other_batch_size_dynamic_takes_any(models):
    with pytest.raises(ConfigError, match="batch-size-4 model, but batch size 8") as info:
        OnnxRuntimeBackend(BackendOptions(model=models / "bit_bs4_sim.onnx", batch_size=8)).open()
    assert "--bs 4" in info.value.hint
    with OnnxRuntimeBackend(BackendOptions(model=models / "bit.onnx", batch_size=3)) as backend:
        assert backend.input_shape() == (3, 3, 128, 128)
        assert backend.infer(np.zeros((3, 3, 128, 128), np.float32)).shape == (3, 10)
