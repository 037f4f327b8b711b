"""The in-house BiT ResNetV2: names, structure, epsilon and parity with big_transfer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bitcli.errors import ConfigError
from bitcli.model import resnetv2
from bitcli.model.resnetv2 import KNOWN_MODELS, StdConv2d, create_model, fold_weight_standardization, resolve_arch
from bt_reference import plant_big_transfer, remove_big_transfer


def test_ws_epsilon_is_the_original_bits():
    assert resnetv2.WS_EPS == 1e-10
    assert StdConv2d.eps == 1e-10


def test_ws_epsilon_is_what_forward_uses():
    conv = StdConv2d(1, 1, kernel_size=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(0.5)  # zero variance: the output is 0 / sqrt(eps) = 0, finite
    x = torch.ones(1, 1, 2, 2)
    assert torch.equal(conv(x), torch.zeros(1, 1, 2, 2))
    w = torch.tensor([1.0, 3.0]).reshape(2, 1, 1, 1).repeat(1, 2, 1, 1)
    w[:, 1] += 1e-3
    conv2 = StdConv2d(2, 2, kernel_size=1, bias=False)
    with torch.no_grad():
        conv2.weight.copy_(w)
    var, mean = torch.var_mean(w, dim=[1, 2, 3], keepdim=True, unbiased=False)
    expected = (w - mean) / torch.sqrt(var + 1e-10)
    other = (w - mean) / torch.sqrt(var + 1e-8)
    assert torch.allclose(conv2.standardized_weight(), expected, atol=0, rtol=1e-6)
    assert not torch.allclose(conv2.standardized_weight(), other, atol=0, rtol=1e-4)


def test_known_models_structure():
    assert KNOWN_MODELS["BiT-M-R50x1"] == ((3, 4, 6, 3), 1)
    assert KNOWN_MODELS["BiT-S-R101x3"] == ((3, 4, 23, 3), 3)
    assert KNOWN_MODELS["BiT-M-R152x4"] == ((3, 8, 36, 3), 4)


def test_parameter_names_match_big_transfer():
    sd = create_model("BiT-M-R50x1", 10).state_dict()
    for key in (
        "root.conv.weight",
        "body.block1.unit01.gn1.weight",
        "body.block1.unit01.conv1.weight",
        "body.block1.unit01.downsample.weight",
        "body.block4.unit03.conv3.weight",
        "head.gn.weight",
        "head.conv.weight",
        "head.conv.bias",
    ):
        assert key in sd, key
    assert "body.block1.unit02.downsample.weight" not in sd
    assert sd["head.conv.weight"].shape == (10, 2048, 1, 1)


def test_parity_with_big_transfer_code(random_loaded, probe, reference_logits):
    bt = plant_big_transfer("bit_pytorch.models")
    try:
        theirs = bt.ResNetV2([3, 4, 6, 3], 1, head_size=10)
        theirs.load_state_dict(random_loaded.model.state_dict(), strict=True)
        with torch.no_grad():
            logits = theirs.eval()(probe).numpy()
    finally:
        remove_big_transfer("bit_pytorch.models")
    assert np.abs(logits - reference_logits).max() <= 1e-5


def test_root_pool_is_pad_then_unpadded_pool():
    model = create_model("BiT-M-R50x1", 10)
    assert isinstance(model.root.pad, torch.nn.ConstantPad2d) and model.root.pad.padding == (1, 1, 1, 1)
    assert model.root.pool.padding == 0 and model.root.pool.kernel_size == 3 and model.root.pool.stride == 2
    # 128 px -> conv/2 = 64 -> pad 66 -> pool/2 = 32
    assert model.root(torch.zeros(1, 3, 128, 128)).shape == (1, 64, 32, 32)


def test_fold_weight_standardization_keeps_function(random_loaded, probe, reference_logits):
    folded = fold_weight_standardization(random_loaded.model)
    assert not any(isinstance(m, StdConv2d) for m in folded.modules())
    assert any(isinstance(m, StdConv2d) for m in random_loaded.model.modules())  # original untouched
    with torch.no_grad():
        assert np.abs(folded(probe).numpy() - reference_logits).max() <= 1e-5


@pytest.mark.parametrize("name,canonical", [("BiT-M-R50x1", "BiT-M-R50x1"), ("bit-s-r101x3", "BiT-S-R101x3"), ("R50x1", "BiT-M-R50x1")])
def test_resolve_arch(name, canonical):
    assert resolve_arch(name) == canonical


def test_resolve_arch_suggests_nearest():
    with pytest.raises(ConfigError) as err:
        resolve_arch("BiT-M-R50x2")
    assert "unknown arch 'BiT-M-R50x2'" in str(err.value)
    assert "did you mean" in str(err.value) and "BiT-M-R50x1" in str(err.value)


def test_wider_variant_builds():
    model = create_model("BiT-M-R50x3", 5)
    assert model.root.conv.out_channels == 192 and model.head.conv.in_channels == 6144
