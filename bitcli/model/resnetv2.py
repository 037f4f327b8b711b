"""BiT ResNetV2: pre-activation ResNet with Weight Standardization and GroupNorm.

Provenance:
    Kolesnikov et al., "Big Transfer (BiT): General Visual Representation
    Learning", arXiv:1912.11370. Reference code: google-research/big_transfer,
    ``bit_pytorch/models.py`` (Apache-2.0). Layout, layer order and parameter
    names follow that file exactly (``root.conv.weight``,
    ``body.block1.unit01.gn1.weight``, ``...downsample.weight``,
    ``head.conv.bias``), so state_dicts move between the two unchanged.

Details that matter for numerical parity with the original:
    * Weight Standardization per output channel with the *biased* variance and
      ``WS_EPS = 1e-10`` (timm's port uses 1e-8; we pin the original value).
    * Root: 7x7/2 conv, then a constant pad of 1, then a 3x3/2 max-pool with
      no padding (not the same as a padded max-pool: zeros take part).
    * Head: GroupNorm -> ReLU -> global average pool -> 1x1 conv (with bias).
"""

from __future__ import annotations

import copy
import difflib
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from bitcli.errors import ConfigError

WS_EPS = 1e-10
"""Weight Standardization epsilon of the original BiT code (timm uses 1e-8)."""

GN_GROUPS = 32

KNOWN_MODELS: dict[str, tuple[tuple[int, int, int, int], int]] = OrderedDict(
    [
        ("BiT-M-R50x1", ((3, 4, 6, 3), 1)),
        ("BiT-M-R50x3", ((3, 4, 6, 3), 3)),
        ("BiT-M-R101x1", ((3, 4, 23, 3), 1)),
        ("BiT-M-R101x3", ((3, 4, 23, 3), 3)),
        ("BiT-M-R152x2", ((3, 8, 36, 3), 2)),
        ("BiT-M-R152x4", ((3, 8, 36, 3), 4)),
        ("BiT-S-R50x1", ((3, 4, 6, 3), 1)),
        ("BiT-S-R50x3", ((3, 4, 6, 3), 3)),
        ("BiT-S-R101x1", ((3, 4, 23, 3), 1)),
        ("BiT-S-R101x3", ((3, 4, 23, 3), 3)),
        ("BiT-S-R152x2", ((3, 8, 36, 3), 2)),
        ("BiT-S-R152x4", ((3, 8, 36, 3), 4)),
    ]
)
"""Variant name -> (units per block, width factor)."""

_DEPTH_BY_UNITS = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}


class StdConv2d(nn.Conv2d):
    """Conv2d whose weight is standardized per output channel on every call.

    ``eps`` is a class attribute so that modules unpickled from big_transfer's
    ``StdConv2d`` (which has no such attribute) still find it.
    """

    eps: float = WS_EPS

    def standardized_weight(self) -> torch.Tensor:
        """The weight as the convolution sees it: zero mean, unit (biased) variance."""
        w = self.weight
        var, mean = torch.var_mean(w, dim=[1, 2, 3], keepdim=True, unbiased=False)
        return (w - mean) / torch.sqrt(var + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            x, self.standardized_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups
        )


def conv3x3(cin: int, cout: int, stride: int = 1) -> StdConv2d:
    """3x3 weight-standardized conv, padding 1, no bias."""
    return StdConv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> StdConv2d:
    """1x1 weight-standardized conv, no bias."""
    return StdConv2d(cin, cout, kernel_size=1, stride=stride, padding=0, bias=False)


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck unit (ResNet v2), stride on the 3x3 conv."""

    def __init__(
        self,
        cin: int,
        cout: int | None = None,
        cmid: int | None = None,
        stride: int = 1,
    ) -> None:
        super().__init__()
        cout = cout or cin
        cmid = cmid or cout // 4
        self.gn1 = nn.GroupNorm(GN_GROUPS, cin)
        self.conv1 = conv1x1(cin, cmid)
        self.gn2 = nn.GroupNorm(GN_GROUPS, cmid)
        self.conv2 = conv3x3(cmid, cmid, stride)
        self.gn3 = nn.GroupNorm(GN_GROUPS, cmid)
        self.conv3 = conv1x1(cmid, cout)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or cin != cout:
            # Registered only when needed, as in big_transfer (its key set depends on it).
            self.downsample = conv1x1(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.gn1(x))
        residual = self.downsample(out) if "downsample" in self._modules else x
        out = self.conv1(out)
        out = self.conv2(self.relu(self.gn2(out)))
        out = self.conv3(self.relu(self.gn3(out)))
        return out + residual


def _block(cin: int, cout: int, cmid: int, units: int, stride: int) -> nn.Sequential:
    layers = [("unit01", PreActBottleneck(cin=cin, cout=cout, cmid=cmid, stride=stride))]
    layers += [(f"unit{i:02d}", PreActBottleneck(cin=cout, cout=cout, cmid=cmid)) for i in range(2, units + 1)]
    return nn.Sequential(OrderedDict(layers))


class ResNetV2(nn.Module):
    """BiT ResNetV2 (pre-activation, WS convs, GroupNorm(32)), fully convolutional."""

    def __init__(
        self,
        block_units: tuple[int, int, int, int] | list[int],
        width_factor: int,
        head_size: int = 21843,
        zero_head: bool = False,
    ) -> None:
        super().__init__()
        wf = width_factor
        self.root = nn.Sequential(
            OrderedDict(
                [
                    ("conv", StdConv2d(3, 64 * wf, kernel_size=7, stride=2, padding=3, bias=False)),
                    ("pad", nn.ConstantPad2d(1, 0)),
                    ("pool", nn.MaxPool2d(kernel_size=3, stride=2, padding=0)),
                ]
            )
        )
        self.body = nn.Sequential(
            OrderedDict(
                [
                    ("block1", _block(64 * wf, 256 * wf, 64 * wf, block_units[0], 1)),
                    ("block2", _block(256 * wf, 512 * wf, 128 * wf, block_units[1], 2)),
                    ("block3", _block(512 * wf, 1024 * wf, 256 * wf, block_units[2], 2)),
                    ("block4", _block(1024 * wf, 2048 * wf, 512 * wf, block_units[3], 2)),
                ]
            )
        )
        self.zero_head = zero_head
        self.head = nn.Sequential(
            OrderedDict(
                [
                    ("gn", nn.GroupNorm(GN_GROUPS, 2048 * wf)),
                    ("relu", nn.ReLU(inplace=True)),
                    ("avg", nn.AdaptiveAvgPool2d(output_size=1)),
                    ("conv", nn.Conv2d(2048 * wf, head_size, kernel_size=1, bias=True)),
                ]
            )
        )
        if zero_head:
            nn.init.zeros_(self.head.conv.weight)
            nn.init.zeros_(self.head.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.body(self.root(x)))
        return x.flatten(1)


def resolve_arch(name: str) -> str:
    """Canonical variant name for ``name`` (case-insensitive; ``R50x1`` means BiT-M).

    Args:
        name: e.g. ``"BiT-M-R50x1"``, ``"bit-s-r101x3"`` or ``"R50x1"``.

    Returns:
        The key of :data:`KNOWN_MODELS`.

    Raises:
        ConfigError: unknown name; the message suggests the nearest ones.
    """
    by_lower = {k.lower(): k for k in KNOWN_MODELS}
    key = str(name).strip().lower()
    if key in by_lower:
        return by_lower[key]
    if f"bit-m-{key}" in by_lower:
        return by_lower[f"bit-m-{key}"]
    near = difflib.get_close_matches(key, list(by_lower), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(by_lower[n] for n in near)}?" if near else ""
    raise ConfigError(
        f"unknown arch '{name}'; known: {', '.join(KNOWN_MODELS)}",
        hint=hint or "pick one of the known names",
    )


def arch_name(block_units: tuple[int, ...], width_factor: int, family: str = "BiT-M") -> str | None:
    """Variant name for a structure, or None when no known variant has it."""
    depth = _DEPTH_BY_UNITS.get(tuple(block_units))
    name = f"{family}-R{depth}x{width_factor}" if depth else None
    return name if name in KNOWN_MODELS else None


def create_model(arch: str, num_classes: int) -> ResNetV2:
    """A freshly initialised model of variant ``arch`` with a ``num_classes`` head.

    Args:
        arch: variant name (see :func:`resolve_arch`).
        num_classes: output size of the 1x1 head conv.

    Returns:
        The model (in train mode, default init).
    """
    units, wf = KNOWN_MODELS[resolve_arch(arch)]
    if num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
    return ResNetV2(list(units), wf, head_size=num_classes)


def fold_weight_standardization(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose ``StdConv2d`` layers are plain ``nn.Conv2d``.

    The standardized weight is computed once, with the same float32 arithmetic
    the live model uses, so an exported graph holds plain Conv nodes and no
    per-inference weight statistics.

    Args:
        model: a model containing :class:`StdConv2d` layers.

    Returns:
        The folded copy, in eval mode; ``model`` is untouched.
    """
    folded = copy.deepcopy(model).eval()
    for parent in list(folded.modules()):  # copying first keeps `model` untouched
        for name, child in list(parent.named_children()):
            if isinstance(child, StdConv2d):
                parent._modules[name] = _plain_conv(child)
    return folded


def _plain_conv(conv: StdConv2d) -> nn.Conv2d:
    # skip_init: the weights are overwritten at once; a default init of ~23M
    # parameters would cost more than the export itself.
    plain = torch.nn.utils.skip_init(
        nn.Conv2d,
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    with torch.no_grad():
        plain.weight.copy_(conv.standardized_weight())
        if conv.bias is not None:
            plain.bias.copy_(conv.bias)
    return plain
