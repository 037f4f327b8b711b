"""Every checkpoint format loads to the same function; bad input is refused clearly."""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import pytest
import torch

from bitcli.errors import CheckpointError, ConfigError
from bitcli.model.checkpoint import (
    MODELZOO_BIT_PTH_URL,
    LoadedModel,
    bit_npz_url,
    load_checkpoint,
    npz_to_torch_name,
    torch_to_npz_name,
)
from bitcli.model.resnetv2 import create_model
from google_npz import google_arrays, google_name, write_google_npz

FORMAT_OF = {
    "state_dict": "state_dict",
    "module_prefixed": "state_dict",
    "train_py": "train_py",
    "npz": "npz",
    "pickle:bit_pytorch.models": "pickle",
    "pickle:models": "pickle",
}


def _logits(loaded: LoadedModel, probe) -> np.ndarray:
    with torch.no_grad():
        return loaded.model(probe).numpy()


@pytest.mark.parametrize("name", list(FORMAT_OF))
def test_every_format_gives_the_same_logits(name, checkpoint_files, probe, reference_logits):
    assert "bit_pytorch" not in sys.modules and "models" not in sys.modules
    loaded = load_checkpoint(checkpoint_files[name])
    assert loaded.format == FORMAT_OF[name]
    assert loaded.num_classes == 10 and loaded.arch == "BiT-M-R50x1"
    assert not loaded.random and not loaded.model.training
    assert len(loaded.digest) == 64 and loaded.source == str(checkpoint_files[name])
    assert np.abs(_logits(loaded, probe) - reference_logits).max() <= 1e-5


def test_random_weights_are_seeded_and_labelled():
    a, b, c = (load_checkpoint("random", seed=s) for s in (1, 1, 2))
    assert a.random and a.format == "random" and a.source == "random" and a.digest == "random:seed=1"
    assert any("RANDOM" in n for n in a.notes)
    assert torch.equal(a.model.root.conv.weight, b.model.root.conv.weight)
    assert not torch.equal(a.model.root.conv.weight, c.model.root.conv.weight)
    gn = a.model.body.block1.unit01.gn1
    assert not torch.allclose(gn.weight, torch.ones_like(gn.weight))
    assert not torch.allclose(gn.bias, torch.zeros_like(gn.bias))
    assert load_checkpoint("random", num_classes=7).num_classes == 7


def test_npz_names_round_trip():
    for key in create_model("BiT-M-R50x1", 10).state_dict():
        assert npz_to_torch_name(torch_to_npz_name(key)) == key
    assert torch_to_npz_name("body.block1.unit01.downsample.weight") == "resnet/block1/unit01/a/proj/standardized_conv2d/kernel"
    assert torch_to_npz_name("body.block1.unit01.gn1.weight") == "resnet/block1/unit01/a/group_norm/gamma"
    assert torch_to_npz_name("head.gn.bias") == "resnet/group_norm/beta"


def test_npz_names_agree_with_the_published_layout():
    for key in create_model("BiT-M-R50x1", 10).state_dict():
        assert npz_to_torch_name(google_name(key)) == key
    assert google_name("body.block4.unit03.conv2.weight") == "resnet/block4/unit03/b/standardized_conv2d/kernel"


def test_npz_hwio_kernels_land_oihw_element_by_element(random_loaded, tmp_path):
    """An asymmetric root kernel written in Google's HWIO layout, read back at hand-computed places."""
    arrays = google_arrays(random_loaded.model.state_dict())
    hwio = np.arange(7 * 7 * 3 * 64, dtype=np.float32).reshape(7, 7, 3, 64)  # value = ((h·7 + w)·3 + i)·64 + o
    arrays["resnet/root_block/standardized_conv2d/kernel"] = hwio
    path = tmp_path / "asym.npz"
    np.savez(path, **arrays)
    weight = load_checkpoint(path).model.root.conv.weight.detach()  # torch [o, i, h, w]
    assert weight.shape == (64, 3, 7, 7)
    assert weight[5, 1, 0, 2].item() == ((0 * 7 + 2) * 3 + 1) * 64 + 5 == 453      # h=0, w=2
    assert weight[5, 1, 2, 0].item() == ((2 * 7 + 0) * 3 + 1) * 64 + 5 == 2757     # h=2, w=0: a transpose swaps these
    assert weight[63, 2, 6, 1].item() == ((6 * 7 + 1) * 3 + 2) * 64 + 63 == 8447
    # a 3×3 unit kernel too: HWIO [kh, kw, in, out] with one marked tap at kh=0, kw=2
    conv2 = np.zeros((3, 3, 64, 64), dtype=np.float32)
    conv2[0, 2, 7, 11] = 1.0
    arrays["resnet/block1/unit01/b/standardized_conv2d/kernel"] = conv2
    np.savez(path, **arrays)
    weight = load_checkpoint(path).model.body.block1.unit01.conv2.weight.detach()
    assert weight[11, 7, 0, 2].item() == 1.0 and float(weight.abs().sum()) == 1.0


def test_npz_other_head_is_zeroed(random_loaded, tmp_path, probe):
    sd = random_loaded.model.state_dict()
    sd["head.conv.weight"] = torch.randn(21, 2048, 1, 1) * 0.01  # stands in for BiT-M's 21843 classes
    sd["head.conv.bias"] = torch.randn(21)
    path = write_google_npz(sd, tmp_path / "BiT-M-R50x1.npz")
    loaded = load_checkpoint(path, num_classes=10)
    assert loaded.num_classes == 10 and any("zero" in n for n in loaded.notes)
    assert torch.count_nonzero(loaded.model.head.conv.weight) == 0
    assert np.abs(_logits(loaded, probe)).max() == 0
    assert torch.equal(loaded.model.root.conv.weight, random_loaded.model.root.conv.weight)
    assert load_checkpoint(path).num_classes == 21  # None: take it from the head


def test_download_addresses_are_documented():
    assert MODELZOO_BIT_PTH_URL.endswith("/Big-transfer/PTH/bit.pth")
    assert bit_npz_url("BiT-M-R50x1") == "https://storage.googleapis.com/bit_models/BiT-M-R50x1.npz"


def test_trained_modelzoo_checkpoint_loads_without_big_transfer(trained_pth):
    assert "bit_pytorch" not in sys.modules
    loaded = load_checkpoint(trained_pth)
    assert loaded.format == "pickle" and loaded.num_classes == 10
    assert loaded.digest == "0aeae22bb1bdd78327331209cabcb6aa6ded3d18b56847eb1ef01a0db259185a"


# --------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="weights file not found"):
        load_checkpoint(tmp_path / "nope.pth")


def test_text_file_named_pth(tmp_path):
    path = tmp_path / "bit.pth"
    path.write_text("<html>404 Not Found</html>\n")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(path)


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_of_unknown_class_is_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = _Payload()
    payload.marker = marker
    path = tmp_path / "evil.pth"
    torch.save({"model": payload}, path)
    with pytest.raises(CheckpointError, match="refused to unpickle.*allow-list") as err:
        load_checkpoint(path)
    assert "system" in str(err.value)
    assert not marker.exists()


def test_plain_pickle_of_unknown_class_is_refused(tmp_path):
    path = tmp_path / "legacy.pth"
    payload = _Payload()
    payload.marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(CheckpointError, match="refused to unpickle|cannot read"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_state_dict_of_another_architecture(random_loaded, tmp_path):
    path = tmp_path / "r101.pth"
    torch.save(create_model("BiT-M-R101x1", 10).state_dict(), path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, arch="BiT-M-R50x1")
    text = str(err.value)
    assert "does not fit BiT-M-R50x1" in text and "unexpected" in text and "+" in text
    assert "--arch BiT-M-R101x1" in text
    path2 = tmp_path / "foreign.pth"
    torch.save({"fc.weight": torch.zeros(2, 2), "head.conv.bias": torch.zeros(10)}, path2)
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(path2)


def test_npz_missing_keys(random_loaded, tmp_path):
    arrays = google_arrays(random_loaded.model.state_dict())
    del arrays["resnet/block2/unit03/b/group_norm/gamma"]
    path = tmp_path / "broken.npz"
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match=r"1 missing \(resnet/block2/unit03/b/group_norm/gamma\)"):
        load_checkpoint(path)


def test_num_classes_disagreeing_with_checkpoint(checkpoint_files):
    with pytest.raises(CheckpointError, match="10-class head but --num-classes is 100"):
        load_checkpoint(checkpoint_files["state_dict"], num_classes=100)


def test_unknown_arch_suggests_nearest(checkpoint_files):
    with pytest.raises(ConfigError, match="did you mean.*BiT-M-R50x1"):
        load_checkpoint(checkpoint_files["state_dict"], arch="BiT-M-R05x1")


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="holds a list"):
        load_checkpoint(path)
