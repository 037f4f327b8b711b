"""Right before fast: onnxruntime and torch agree on real CIFAR-10 images with the trained checkpoint."""

from __future__ import annotations

import numpy as np

from runtime_models import real_model_dir

from bitcli.backends.base import BackendOptions
from bitcli.backends.onnxrt import OnnxRuntimeBackend
from bitcli.backends.torch import TorchBackend


def test_onnxruntime_and_torch_logits_agree_on_real_images(cifar_dir, trained_pth):
    from bitcli.stages.data import iter_preprocessed, read_cifar10_test

    dataset = read_cifar10_test(cifar_dir)
    (_, batch), = list(iter_preprocessed(dataset, size=128, limit=8, batch=8))
    models = real_model_dir(trained_pth)
    with TorchBackend(BackendOptions(model=trained_pth, batch_size=8, num_classes=10)) as ref:
        expected = ref.infer(batch)
    assert not ref.loaded.random
    for model, bs in ((models / "bit_bs4_sim.onnx", 4), (models / "bit.onnx", 8)):
        with OnnxRuntimeBackend(BackendOptions(model=model, batch_size=bs)) as ort_backend:
            got = np.concatenate([ort_backend.infer(np.ascontiguousarray(batch[i:i + bs])) for i in range(0, 8, bs)])
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
        assert (got.argmax(1) == expected.argmax(1)).all()
    # the trained model is meaningful: most of these real images are right
    assert (expected.argmax(1) == dataset.labels[:8]).mean() >= 0.5
