"""Load every BiT checkpoint flavour users hold into :class:`ResNetV2`.

Formats, detected from the file's content (never its name):

* ``pickle``: a whole model as ``torch.save(model)`` writes it. The ModelZoo's
  ``bit.pth`` is ``torch.nn.DataParallel`` around big_transfer's
  ``bit_pytorch.models.ResNetV2`` (some copies name the module plain
  ``models``). It is read with torch's ``weights_only`` unpickler and an
  allow-list that maps exactly those class paths onto ours; a pickle naming
  any other global is refused, never executed.
* ``state_dict``: plain, or with DataParallel's ``module.`` prefixes.
* ``train_py``: ``{"step", "model", "optim"}`` as big_transfer's ``train.py`` saves.
* ``npz``: Google's original BiT weights (TF names, HWIO kernels).
* ``random``: seeded random weights for demos and benchmarks.

Public downloads (checksums are not published by either source):
    * ModelZoo CIFAR-10 fine-tune: :data:`MODELZOO_BIT_PTH_URL`
    * Google BiT weights: :func:`bit_npz_url` (e.g. ``BiT-M-R50x1.npz``)
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitcli.artifacts import sha256_file
from bitcli.errors import CheckpointError

MODELZOO_BIT_PTH_URL = (
    "https://ascend-repo-modelzoo.obs.cn-east-2.myhuaweicloud.com/model/1_PyTorch_PTH/Big-transfer/PTH/bit.pth"
)
BIT_NPZ_URL_PATTERN = "https://storage.googleapis.com/bit_models/{arch}.npz"
_PICKLE_MODULES = ("bit_pytorch.models", "models")  # where big_transfer's classes were pickled from
_NPZ_SENTINEL = "resnet/root_block/standardized_conv2d/kernel"
_UNIT_LETTER = {"a": "1", "b": "2", "c": "3"}


def bit_npz_url(arch: str) -> str:
    """Google's public download address of the original ``{arch}.npz`` weights."""
    return BIT_NPZ_URL_PATTERN.format(arch=arch)


@dataclass
class LoadedModel:
    """A model ready for inference, and where its weights came from."""

    model: Any  # torch.nn.Module, in eval mode
    arch: str
    num_classes: int
    format: str
    source: str
    digest: str
    random: bool = False
    notes: list[str] = field(default_factory=list)


def load_checkpoint(
    weights: str | Path,
    *,
    arch: str = "BiT-M-R50x1",
    num_classes: int | None = None,
    seed: int = 0,
) -> LoadedModel:
    """Load ``weights`` (a file of any supported format, or ``"random"``).

    Args:
        weights: checkpoint path, or ``"random"`` for seeded random weights.
        arch: variant name; the checkpoint must fit it.
        num_classes: expected head size; None takes it from the checkpoint
            (10 for random weights).
        seed: seed for random weights.

    Returns:
        The model in eval mode with its provenance.

    Raises:
        CheckpointError: unreadable, refused or mismatching checkpoint.
        ConfigError: unknown ``arch``.
    """
    from bitcli.model.resnetv2 import resolve_arch

    arch = resolve_arch(arch)
    if str(weights) == "random":
        return random_model(arch, num_classes or 10, seed)
    path = Path(weights)
    if path.is_dir():
        raise CheckpointError(f"--weights {path} is a folder, not a checkpoint file",
                              hint="pass the .pth/.npz file itself, or --weights random")
    if not path.is_file():
        raise CheckpointError(
            f"weights file not found: {path}",
            hint=f"pass --weights PATH or --weights random; the ModelZoo bit.pth is at {MODELZOO_BIT_PTH_URL}",
        )
    if _is_npz(path):
        return _load_npz(path, arch, num_classes)
    fmt, state_dict = _classify(_safe_torch_load(path), path)
    model = _model_from_state_dict(state_dict, arch, num_classes, path)
    return LoadedModel(model, arch, _head_size(model), fmt, str(path), sha256_file(path))


def random_model(arch: str, num_classes: int, seed: int) -> LoadedModel:
    """Seeded random weights; GroupNorm affine parameters are perturbed too."""
    import torch

    from bitcli.model.resnetv2 import create_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_model(arch, num_classes)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.GroupNorm):
                    module.weight.copy_(1.0 + 0.1 * torch.randn_like(module.weight))
                    module.bias.copy_(0.1 * torch.randn_like(module.bias))
    note = f"RANDOM weights (seed={seed}): predictions are meaningless"
    return LoadedModel(model.eval(), arch, num_classes, "random", "random", f"random:seed={seed}", True, [note])


# --------------------------------------------------------------------------- reading files


def _is_npz(path: Path) -> bool:
    """True for a zip of ``.npy`` arrays, False for a torch.save file (zip or legacy pickle)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(path).namelist()
        except zipfile.BadZipFile as exc:
            raise CheckpointError(f"{path} is a damaged zip file: {exc}") from None
        return not any(n.endswith("data.pkl") for n in names) and any(n.endswith(".npy") for n in names)
    if head[:1] == b"\x80":  # pickle protocol >= 2: legacy (non-zip) torch.save
        return False
    raise CheckpointError(
        f"{path} is not a checkpoint: neither a torch.save file nor a .npz (starts with {head!r})",
        hint="pass the ModelZoo bit.pth, a state_dict .pth, a train.py checkpoint or a BiT .npz",
    )


def _allowed_globals() -> list:
    from torch import nn

    from bitcli.model import resnetv2 as ours

    allowed: list = [
        nn.DataParallel, nn.Sequential, nn.Conv2d, nn.GroupNorm, nn.ReLU,
        nn.MaxPool2d, nn.ConstantPad2d, nn.AdaptiveAvgPool2d,
        ours.ResNetV2, ours.PreActBottleneck, ours.StdConv2d,
    ]  # fmt: skip
    for module in _PICKLE_MODULES:
        for cls in (ours.ResNetV2, ours.PreActBottleneck, ours.StdConv2d):
            allowed.append((cls, f"{module}.{cls.__name__}"))
    return allowed


def _safe_torch_load(path: Path) -> Any:
    """``torch.load`` restricted to tensors, containers and the BiT classes."""
    import torch

    with torch.serialization.safe_globals(_allowed_globals()):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))
            # torch's own text advises weights_only=False (arbitrary code execution): never quote it
            detail = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n|$)", str(exc))
            what = (f"it names '{found.group(1)}', which is" if found else
                    f"it uses a pickle instruction or object ({detail.group(1) if detail else 'unknown'}) that is")
            raise CheckpointError(
                f"refused to unpickle {path}: {what} not on the allow-list "
                "(tensors, containers, torch.nn layers and big_transfer's ResNetV2 classes)",
                hint="save a state_dict instead: torch.save(model.state_dict(), 'bit_sd.pth')",
            ) from None
        except Exception as exc:  # noqa: BLE001 - on a damaged file torch's unpickler raises anything
            # (EOFError, IndexError, KeyError, RuntimeError, ...): each is this file's problem, said in one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"cannot read {path} as a PyTorch checkpoint: {first}") from None


def _classify(obj: Any, path: Path) -> tuple[str, dict]:
    """(format, state_dict) of whatever ``torch.load`` returned."""
    from torch import Tensor, nn

    if isinstance(obj, nn.Module):
        return "pickle", obj.state_dict()
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        return "train_py", obj["model"]
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        return "state_dict", obj["state_dict"]
    if isinstance(obj, dict) and obj and all(isinstance(v, Tensor) for v in obj.values()):
        return "state_dict", obj
    raise CheckpointError(
        f"{path} holds a {type(obj).__name__}, not a model, a state_dict or a train.py checkpoint",
        hint="expected torch.save(model), torch.save(model.state_dict()) or {'step', 'model', 'optim'}",
    )


# --------------------------------------------------------------------------- remapping


def checkpoint_filter_fn(state_dict: dict, model: Any) -> dict:
    """Remap a checkpoint of any flavour to ``model``'s parameter names and layout.

    Flavours are spotted by sentinel keys: BiT ``.npz`` names (HWIO kernels are
    transposed to OIHW), DataParallel's ``module.`` prefix, or plain names.

    Args:
        state_dict: the checkpoint's name -> tensor/array mapping.
        model: the target model (used for the target dtype).

    Returns:
        A state_dict with big_transfer/our names and torch tensors.
    """
    import numpy as np
    import torch

    dtype = next(model.parameters()).dtype
    if _NPZ_SENTINEL in state_dict:
        out = {}
        for key, value in state_dict.items():
            if key.startswith("resnet/"):
                array = np.asarray(value)
                if array.ndim == 4:
                    array = array.transpose(3, 2, 0, 1)  # HWIO -> OIHW
                out[npz_to_torch_name(key)] = torch.from_numpy(np.ascontiguousarray(array)).to(dtype)
        return out
    return {k.removeprefix("module."): v.to(dtype) if v.is_floating_point() else v for k, v in state_dict.items()}


def npz_to_torch_name(key: str) -> str:
    """``resnet/block1/unit01/a/group_norm/gamma`` -> ``body.block1.unit01.gn1.weight``."""
    rules = [
        (r"resnet/root_block/standardized_conv2d/kernel", "root.conv.weight"),
        (r"resnet/group_norm/gamma", "head.gn.weight"),
        (r"resnet/group_norm/beta", "head.gn.bias"),
        (r"resnet/head/conv2d/kernel", "head.conv.weight"),
        (r"resnet/head/conv2d/bias", "head.conv.bias"),
        (r"resnet/(block\d)/(unit\d+)/a/proj/standardized_conv2d/kernel", r"body.\1.\2.downsample.weight"),
    ]
    for pattern, repl in rules:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, repl, key)
    unit = re.fullmatch(r"resnet/(block\d)/(unit\d+)/([abc])/(standardized_conv2d/kernel|group_norm/gamma|group_norm/beta)", key)
    if unit:
        block, name, letter, what = unit.groups()
        n = _UNIT_LETTER[letter]
        leaf = {"standardized_conv2d/kernel": f"conv{n}.weight", "group_norm/gamma": f"gn{n}.weight"}.get(
            what, f"gn{n}.bias"
        )
        return f"body.{block}.{name}.{leaf}"
    return key  # unknown: reported as unexpected by the fit check


def torch_to_npz_name(key: str) -> str:
    """Inverse of :func:`npz_to_torch_name`."""
    fixed = {
        "root.conv.weight": "resnet/root_block/standardized_conv2d/kernel",
        "head.gn.weight": "resnet/group_norm/gamma",
        "head.gn.bias": "resnet/group_norm/beta",
        "head.conv.weight": "resnet/head/conv2d/kernel",
        "head.conv.bias": "resnet/head/conv2d/bias",
    }
    if key in fixed:
        return fixed[key]
    m = re.fullmatch(r"body\.(block\d)\.(unit\d+)\.(conv|gn)([123])\.(weight|bias)", key)
    if m:
        block, unit, kind, n, leaf = m.groups()
        letter = "abc"[int(n) - 1]
        what = "standardized_conv2d/kernel" if kind == "conv" else f"group_norm/{'gamma' if leaf == 'weight' else 'beta'}"
        return f"resnet/{block}/{unit}/{letter}/{what}"
    m = re.fullmatch(r"body\.(block\d)\.(unit\d+)\.downsample\.weight", key)
    if m:
        return f"resnet/{m.group(1)}/{m.group(2)}/a/proj/standardized_conv2d/kernel"
    return key


# --------------------------------------------------------------------------- building the model


def _head_size(model: Any) -> int:
    return int(model.head.conv.out_channels)


def _structure(state_dict: dict) -> tuple[tuple[int, ...], int] | None:
    """(units per block, width factor) a (remapped) state_dict describes, if any."""
    root = state_dict.get("root.conv.weight")
    if root is None:
        return None
    units = []
    for b in range(1, 5):
        names = {k.split(".")[2] for k in state_dict if k.startswith(f"body.block{b}.unit")}
        units.append(len(names))
    return tuple(units), int(root.shape[0]) // 64


def _fit_problems(state_dict: dict, model: Any) -> list[str]:
    """Short descriptions of missing/unexpected keys and shape mismatches."""
    want = model.state_dict()
    missing = [k for k in want if k not in state_dict]
    unexpected = [k for k in state_dict if k not in want]
    shapes = [
        f"{k}: {tuple(state_dict[k].shape)} vs {tuple(want[k].shape)}"
        for k in want
        if k in state_dict and tuple(state_dict[k].shape) != tuple(want[k].shape)
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if items:
            more = f", +{len(items) - 3} more" if len(items) > 3 else ""
            problems.append(f"{len(items)} {label} ({', '.join(items[:3])}{more})")
    return problems


def _arch_hint(state_dict: dict, arch: str) -> str:
    from bitcli.model.resnetv2 import arch_name

    found = _structure(state_dict)
    guess = arch_name(found[0], found[1], family=arch[:5]) if found else None
    if guess and guess != arch:
        return f"it looks like {guess}: pass --arch {guess}"
    return "is this a BiT ResNetV2 checkpoint? see `bit export --help` for the formats"


def _model_from_state_dict(state_dict: dict, arch: str, num_classes: int | None, path: Path) -> Any:
    """A fresh ``arch`` model holding ``state_dict``; its head size comes from the checkpoint."""
    import torch

    from bitcli.model.resnetv2 import create_model

    with torch.device("meta"):  # shapes only: the checkpoint supplies every value
        model = create_model(arch, 1)
    state_dict = checkpoint_filter_fn(state_dict, model)
    head = state_dict.get("head.conv.bias")
    classes = int(head.shape[0]) if head is not None else None
    if classes is None:
        raise CheckpointError(f"{path} has no head.conv.bias: {'; '.join(_fit_problems(state_dict, model))}",
                              hint=_arch_hint(state_dict, arch))  # fmt: skip
    if num_classes is not None and num_classes != classes:
        raise CheckpointError(
            f"{path} has a {classes}-class head but --num-classes is {num_classes}",
            hint=f"drop --num-classes (or set model.num_classes: {classes} in the profile)",
        )
    with torch.device("meta"):
        model = create_model(arch, classes)
    problems = _fit_problems(state_dict, model)
    if problems:
        raise CheckpointError(f"{path} does not fit {arch}: {'; '.join(problems)}", hint=_arch_hint(state_dict, arch))
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model.eval()


def _load_npz(path: Path, arch: str, num_classes: int | None) -> LoadedModel:
    """Google's original BiT weights; a head of the wrong size is zeroed (``zero_head``)."""
    import numpy as np
    import torch

    from bitcli.model.resnetv2 import create_model

    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"cannot read {path} as .npz: {exc}") from None
    if _NPZ_SENTINEL not in arrays:
        raise CheckpointError(f"{path} is an .npz but not BiT weights: no '{_NPZ_SENTINEL}'")
    head_bias = arrays.get("resnet/head/conv2d/bias")
    npz_classes = int(head_bias.shape[0]) if head_bias is not None else None
    classes = num_classes or npz_classes
    if classes is None:
        raise CheckpointError(f"{path} has no head (resnet/head/conv2d/bias); pass --num-classes to zero-init one")
    with torch.device("meta"):  # shapes only: the npz (or zeros) supplies every value
        model = create_model(arch, classes)
    state_dict = checkpoint_filter_fn(arrays, model)
    notes = []
    if npz_classes != classes:
        state_dict["head.conv.weight"] = torch.zeros(tuple(model.head.conv.weight.shape))
        state_dict["head.conv.bias"] = torch.zeros(classes)
        notes.append(f"npz head has {npz_classes} classes, not {classes}: body loaded, head zeroed (BiT zero_head)")
    problems = _fit_problems(state_dict, model)
    if problems:
        named = [re.sub(r"[\w.]+\.(weight|bias)", lambda m: torch_to_npz_name(m.group(0)), p) for p in problems]
        raise CheckpointError(f"{path} does not fit {arch}: {'; '.join(named)}", hint=_arch_hint(state_dict, arch))
    model.load_state_dict(state_dict, strict=True, assign=True)
    return LoadedModel(model.eval(), arch, classes, "npz", str(path), sha256_file(path), False, notes)
