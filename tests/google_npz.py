"""A Google-layout BiT ``.npz`` writer for tests, written from the published layout, not from bitcli.

Facts from google-research/big_transfer (``bit_pytorch/models.py``: ``load_from``
and ``tf2th``): every name starts with ``resnet/``; the root conv is
``root_block/standardized_conv2d/kernel``; unit convs are
``{block}/{unit}/{a,b,c}/standardized_conv2d/kernel`` with
``{a,b,c}/group_norm/{gamma,beta}`` before each (gn1..gn3); the projection is
``{block}/{unit}/a/proj/standardized_conv2d/kernel``; the final norm is
``group_norm/{gamma,beta}`` and the head ``head/conv2d/{kernel,bias}``.
Kernels are TF's HWIO (``tf2th`` turns them to torch's OIHW with
``transpose([3, 2, 0, 1])``).

This deliberately shares nothing with :mod:`bitcli.model.checkpoint`, so a
layout or name bug in the loader cannot be mirrored by its own inverse here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

_LETTER = {"1": "a", "2": "b", "3": "c"}
_FIXED = {
    "root.conv.weight": "resnet/root_block/standardized_conv2d/kernel",
    "head.gn.weight": "resnet/group_norm/gamma",
    "head.gn.bias": "resnet/group_norm/beta",
    "head.conv.weight": "resnet/head/conv2d/kernel",
    "head.conv.bias": "resnet/head/conv2d/bias",
}


def google_name(torch_key: str) -> str:
    """big_transfer's torch parameter name → its name in Google's ``.npz``."""
    if torch_key in _FIXED:
        return _FIXED[torch_key]
    block, unit, leaf = re.fullmatch(r"body\.(block\d)\.(unit\d\d)\.(.+)", torch_key).groups()
    if leaf == "downsample.weight":
        return f"resnet/{block}/{unit}/a/proj/standardized_conv2d/kernel"
    kind, n, what = re.fullmatch(r"(conv|gn)(\d)\.(weight|bias)", leaf).groups()
    if kind == "conv":
        return f"resnet/{block}/{unit}/{_LETTER[n]}/standardized_conv2d/kernel"
    return f"resnet/{block}/{unit}/{_LETTER[n]}/group_norm/{'gamma' if what == 'weight' else 'beta'}"


def oihw_to_hwio(kernel: np.ndarray) -> np.ndarray:
    """Torch conv weight [out, in, kh, kw] → TF kernel [kh, kw, in, out], element by element named."""
    return np.ascontiguousarray(np.einsum("oihw->hwio", kernel))


def google_arrays(state_dict: dict) -> dict[str, np.ndarray]:
    """Every tensor of a big_transfer-named state_dict, by Google's name and layout."""
    out = {}
    for key, value in state_dict.items():
        array = value.detach().cpu().numpy()
        out[google_name(key)] = oihw_to_hwio(array) if array.ndim == 4 else array
    return out


def write_google_npz(state_dict: dict, path: Path) -> Path:
    """Save ``state_dict`` as Google's BiT ``.npz`` at exactly ``path`` (any suffix)."""
    with open(path, "wb") as fh:  # a file object: np.savez would append ".npz" to other names
        np.savez(fh, **google_arrays(state_dict))
    return Path(path)
