"""big_transfer's model code as a throw-away module, for parity and pickle tests."""

from __future__ import annotations

import sys
import types

# big_transfer's bit_pytorch/models.py, condensed; the pickle test plants it as a
# throw-away module `bit_pytorch.models`, pickles a model made of these classes,
# then removes the module before loading, as users of the ModelZoo's bit.pth face.
BIG_TRANSFER_MODELS = '''
from collections import OrderedDict
import torch
import torch.nn as nn
import torch.nn.functional as F

class StdConv2d(nn.Conv2d):
  def forward(self, x):
    w = self.weight
    v, m = torch.var_mean(w, dim=[1, 2, 3], keepdim=True, unbiased=False)
    w = (w - m) / torch.sqrt(v + 1e-10)
    return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)

def conv3x3(cin, cout, stride=1, groups=1, bias=False):
  return StdConv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=bias, groups=groups)

def conv1x1(cin, cout, stride=1, bias=False):
  return StdConv2d(cin, cout, kernel_size=1, stride=stride, padding=0, bias=bias)

class PreActBottleneck(nn.Module):
  def __init__(self, cin, cout=None, cmid=None, stride=1):
    super().__init__()
    cout = cout or cin
    cmid = cmid or cout//4
    self.gn1 = nn.GroupNorm(32, cin)
    self.conv1 = conv1x1(cin, cmid)
    self.gn2 = nn.GroupNorm(32, cmid)
    self.conv2 = conv3x3(cmid, cmid, stride)
    self.gn3 = nn.GroupNorm(32, cmid)
    self.conv3 = conv1x1(cmid, cout)
    self.relu = nn.ReLU(inplace=True)
    if (stride != 1 or cin != cout):
      self.downsample = conv1x1(cin, cout, stride)

  def forward(self, x):
    out = self.relu(self.gn1(x))
    residual = x
    if hasattr(self, 'downsample'):
      residual = self.downsample(out)
    out = self.conv1(out)
    out = self.conv2(self.relu(self.gn2(out)))
    out = self.conv3(self.relu(self.gn3(out)))
    return out + residual

class ResNetV2(nn.Module):
  def __init__(self, block_units, width_factor, head_size=21843, zero_head=False):
    super().__init__()
    wf = width_factor
    self.root = nn.Sequential(OrderedDict([
        ('conv', StdConv2d(3, 64*wf, kernel_size=7, stride=2, padding=3, bias=False)),
        ('pad', nn.ConstantPad2d(1, 0)),
        ('pool', nn.MaxPool2d(kernel_size=3, stride=2, padding=0)),
    ]))
    def block(cin, cout, cmid, n, stride):
      return nn.Sequential(OrderedDict(
          [('unit01', PreActBottleneck(cin=cin, cout=cout, cmid=cmid, stride=stride))] +
          [(f'unit{i:02d}', PreActBottleneck(cin=cout, cout=cout, cmid=cmid)) for i in range(2, n + 1)]))
    self.body = nn.Sequential(OrderedDict([
        ('block1', block(64*wf, 256*wf, 64*wf, block_units[0], 1)),
        ('block2', block(256*wf, 512*wf, 128*wf, block_units[1], 2)),
        ('block3', block(512*wf, 1024*wf, 256*wf, block_units[2], 2)),
        ('block4', block(1024*wf, 2048*wf, 512*wf, block_units[3], 2)),
    ]))
    self.zero_head = zero_head
    self.head = nn.Sequential(OrderedDict([
        ('gn', nn.GroupNorm(32, 2048*wf)),
        ('relu', nn.ReLU(inplace=True)),
        ('avg', nn.AdaptiveAvgPool2d(output_size=1)),
        ('conv', nn.Conv2d(2048*wf, head_size, kernel_size=1, bias=True)),
    ]))

  def forward(self, x):
    x = self.head(self.body(self.root(x)))
    assert x.shape[-2:] == (1, 1)
    return x[...,0,0]
'''


def plant_big_transfer(module_name: str = "bit_pytorch.models") -> types.ModuleType:
    """Register a throw-away ``module_name`` holding big_transfer's classes."""
    module = types.ModuleType(module_name)
    module.__dict__["__name__"] = module_name
    exec(compile(BIG_TRANSFER_MODELS, f"<{module_name}>", "exec"), module.__dict__)
    if "." in module_name:
        sys.modules.setdefault(module_name.split(".")[0], types.ModuleType(module_name.split(".")[0]))
    sys.modules[module_name] = module
    return module


def remove_big_transfer(module_name: str = "bit_pytorch.models") -> None:
    """Forget the planted module (and its parent package)."""
    sys.modules.pop(module_name, None)
    if "." in module_name:
        sys.modules.pop(module_name.split(".")[0], None)
