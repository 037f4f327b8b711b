"""A tiny BiT ResNetV2 (32-64 channels, 1-2 units a block) with BiT's module tree and parameter names.

The checkpoint loader's work is names, layouts and dtypes, not size, so its fast tests (the mutmut
selection) load this model instead of a 23.5M-parameter R50x1. It is built from whichever classes
are given (ours, or big_transfer's planted by ``bt_reference``), so a pickle of it names the same
class paths as the ModelZoo's ``bit.pth``. GroupNorm keeps BiT's 32 groups: every width is a
multiple of 32.

``TINY_KEYS`` spells out, by hand, the state_dict names this structure has in big_transfer's
``bit_pytorch/models.py``: the independent expectation the loader's remapping is checked against.
"""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace

from torch import nn

UNITS = (2, 1, 1, 1)
STEM = 32
# (cin, cout, cmid, stride) of each block's first unit; later units are cout -> cout, stride 1
BLOCKS = ((32, 64, 32, 1), (64, 64, 32, 2), (64, 64, 32, 2), (64, 64, 32, 2))
FEATURES = 64  # channels into the head


def _unit_keys(prefix: str, downsample: bool) -> list[str]:
    keys = [f"{prefix}.gn1.weight", f"{prefix}.gn1.bias", f"{prefix}.conv1.weight",
            f"{prefix}.gn2.weight", f"{prefix}.gn2.bias", f"{prefix}.conv2.weight",
            f"{prefix}.gn3.weight", f"{prefix}.gn3.bias", f"{prefix}.conv3.weight"]  # fmt: skip
    return keys + ([f"{prefix}.downsample.weight"] if downsample else [])


TINY_KEYS = (
    ["root.conv.weight"]
    + _unit_keys("body.block1.unit01", True)  # 32 -> 64 channels
    + _unit_keys("body.block1.unit02", False)
    + _unit_keys("body.block2.unit01", True)  # stride 2
    + _unit_keys("body.block3.unit01", True)
    + _unit_keys("body.block4.unit01", True)
    + ["head.gn.weight", "head.gn.bias", "head.conv.weight", "head.conv.bias"]
)


def tiny_resnetv2(num_classes: int, classes: SimpleNamespace | None = None, units: tuple = UNITS) -> nn.Module:
    """A ``classes.ResNetV2`` instance of the tiny structure (``classes``: a module with
    ``ResNetV2``, ``PreActBottleneck`` and ``StdConv2d``; default ours)."""
    if classes is None:
        from bitcli.model import resnetv2 as classes
    model = classes.ResNetV2.__new__(classes.ResNetV2)  # its __init__ hard-codes R50 widths
    nn.Module.__init__(model)
    model.root = nn.Sequential(OrderedDict([
        ("conv", classes.StdConv2d(3, STEM, kernel_size=7, stride=2, padding=3, bias=False)),
        ("pad", nn.ConstantPad2d(1, 0)),
        ("pool", nn.MaxPool2d(kernel_size=3, stride=2, padding=0)),
    ]))  # fmt: skip
    blocks = []
    for b, ((cin, cout, cmid, stride), n) in enumerate(zip(BLOCKS, units), start=1):
        layers = [("unit01", classes.PreActBottleneck(cin=cin, cout=cout, cmid=cmid, stride=stride))]
        layers += [(f"unit{i:02d}", classes.PreActBottleneck(cin=cout, cout=cout, cmid=cmid)) for i in range(2, n + 1)]
        blocks.append((f"block{b}", nn.Sequential(OrderedDict(layers))))
    model.body = nn.Sequential(OrderedDict(blocks))
    model.zero_head = False
    model.head = nn.Sequential(OrderedDict([
        ("gn", nn.GroupNorm(32, FEATURES)),
        ("relu", nn.ReLU(inplace=True)),
        ("avg", nn.AdaptiveAvgPool2d(output_size=1)),
        ("conv", nn.Conv2d(FEATURES, num_classes, kernel_size=1, bias=True)),
    ]))  # fmt: skip
    return model
