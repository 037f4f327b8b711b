"""The torch backend (reference) and backend selection."""

from __future__ import annotations

import numpy as np
import pytest

from bitcli.backends.base import BackendOptions, backend_class, select_backend
from bitcli.backends.torch import TorchBackend
from bitcli.errors import BackendUnavailable, CheckpointError, ConfigError


def test_module_name_does_not_shadow_real_torch():
    import bitcli.backends.torch as ours
    import torch

    assert ours.__name__ == "bitcli.backends.torch" and hasattr(torch, "inference_mode")
    assert TorchBackend.available() is None


def test_random_weights_infer_small_images():
    opts = BackendOptions(model="random", batch_size=2, image_size=32, num_classes=10, seed=1)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with TorchBackend(opts) as backend:
        out = backend.infer(x)
        assert backend.loaded.random and backend.last_latency_ms > 0
        assert "torch eager" in backend.describe()
    assert out.shape == (2, 10) and out.dtype == np.float32
    with TorchBackend(opts) as again:  # same seed, same logits
        np.testing.assert_array_equal(again.infer(x), out)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="weights file not found"):
        TorchBackend(BackendOptions(model=tmp_path / "nope.pth", batch_size=1)).open()


def test_unknown_backend_suggests():
    with pytest.raises(ConfigError, match="unknown backend 'onnxrt'") as info:
        backend_class("onnxrt")
    assert "did you mean 'onnxruntime'" in info.value.hint


def test_unavailable_backend_says_why(monkeypatch):
    from bitcli.backends.onnxrt import OnnxRuntimeBackend

    monkeypatch.setattr(OnnxRuntimeBackend, "available", classmethod(lambda cls, context=None: "no onnxruntime here"))
    with pytest.raises(BackendUnavailable, match="backend 'onnxruntime' is not usable here: no onnxruntime here"):
        select_backend("onnxruntime")


def test_auto_prefers_ascend_else_onnxruntime(monkeypatch):
    from bitcli.backends.ais import AisBackend

    monkeypatch.setattr(AisBackend, "available", classmethod(lambda cls, context=None: "no NPU"))
    cls, why = select_backend("auto")
    assert cls.name == "onnxruntime" and "ascend unavailable — no NPU" in why
    monkeypatch.setattr(AisBackend, "available", classmethod(lambda cls, context=None: None))
    assert select_backend("auto")[0].name == "ascend"
