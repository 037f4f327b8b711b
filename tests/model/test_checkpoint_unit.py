"""bitcli.model.checkpoint on a tiny BiT (tests/model/tiny_bit.py): fast, so mutmut can run them per mutant.

Every expectation is independent of the loader: key names written out by hand (``TINY_KEYS``, the
tables below), Google's layout from ``tests/google_npz.py`` or an asymmetric kernel indexed by hand,
digests from ``hashlib``, torch's and numpy's own error texts. The R50x1 end-to-end versions of
these tests are in test_checkpoint.py.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile

import numpy as np
import pytest
import torch

from bitcli.errors import CheckpointError, ConfigError
from bitcli.model import checkpoint as ck
from bitcli.model import resnetv2
from bitcli.model.checkpoint import checkpoint_filter_fn, load_checkpoint, npz_to_torch_name, torch_to_npz_name
from bt_reference import plant_big_transfer, remove_big_transfer
from google_npz import google_arrays, write_google_npz
from tiny_bit import TINY_KEYS, tiny_resnetv2

ROOT = "resnet/root_block/standardized_conv2d/kernel"


@pytest.fixture
def tiny(monkeypatch):
    """Every model the loader creates is the tiny structure; the (arch, num_classes) asked for are recorded."""
    calls = []

    def create(arch, num_classes):
        calls.append((arch, num_classes))
        return tiny_resnetv2(num_classes)

    monkeypatch.setattr(resnetv2, "create_model", create)
    return calls


@pytest.fixture(scope="module")
def tiny_sd():
    """Seeded weights of a 10-class tiny model, GroupNorm affine parameters perturbed too."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        model = tiny_resnetv2(10)
        for name, value in model.state_dict().items():
            if ".gn" in name:
                value.copy_(torch.randn_like(value))
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def probe():
    return torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))


def _reference_logits(sd, probe):
    model = tiny_resnetv2(10)
    model.load_state_dict(sd)
    with torch.no_grad():
        return model.eval()(probe)


def _logits(loaded, probe):
    with torch.no_grad():
        return loaded.model(probe)


def _err(path, **kwargs) -> str:
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, **kwargs)
    return err.value.message


# --------------------------------------------------------------------------- every format, same function


def test_tiny_structure_has_the_hand_written_keys():
    assert list(tiny_resnetv2(10).state_dict()) == TINY_KEYS


@pytest.mark.parametrize("flavour", ["plain", "module_prefixed", "train_py", "wrapped_state_dict", "legacy_pickle"])
def test_state_dict_flavours_load_the_same_weights(flavour, tiny, tiny_sd, probe, tmp_path):
    path = tmp_path / "weights.npz"  # a misleading suffix: the format comes from the content
    dp = {f"module.{k}": v for k, v in tiny_sd.items()}
    obj, fmt = {
        "plain": (tiny_sd, "state_dict"),
        "module_prefixed": (dp, "state_dict"),
        "train_py": ({"step": 7, "model": dp, "optim": {"state": {}}}, "train_py"),
        "wrapped_state_dict": ({"epoch": 3, "state_dict": tiny_sd}, "state_dict"),
        "legacy_pickle": (tiny_sd, "state_dict"),
    }[flavour]
    torch.save(obj, path, _use_new_zipfile_serialization=flavour != "legacy_pickle")
    loaded = load_checkpoint(str(path), arch="r50x1")
    assert (loaded.arch, loaded.num_classes, loaded.format, loaded.source) == ("BiT-M-R50x1", 10, fmt, str(path))
    assert loaded.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (loaded.random, loaded.notes) == (False, [])
    assert tiny == [("BiT-M-R50x1", 1), ("BiT-M-R50x1", 10)]  # shapes-only model first, then the real head
    assert not loaded.model.training
    for key in TINY_KEYS:
        assert torch.equal(loaded.model.state_dict()[key], tiny_sd[key]), key
    assert torch.equal(_logits(loaded, probe), _reference_logits(tiny_sd, probe))


@pytest.mark.parametrize("module_name", ["bit_pytorch.models", "models"])
def test_modelzoo_pickle_of_big_transfer_classes_loads_without_them(module_name, tiny, tiny_sd, probe, tmp_path):
    path = tmp_path / "bit.pth"
    bt = plant_big_transfer(module_name)
    try:
        model = tiny_resnetv2(10, bt)
        model.load_state_dict(tiny_sd)
        torch.save(torch.nn.DataParallel(model), path)
    finally:
        remove_big_transfer(module_name)
    loaded = load_checkpoint(path)
    assert loaded.format == "pickle" and loaded.num_classes == 10
    assert type(loaded.model) is resnetv2.ResNetV2
    assert type(loaded.model.root.conv) is resnetv2.StdConv2d
    assert torch.equal(_logits(loaded, probe), _reference_logits(tiny_sd, probe))


def test_pickle_of_our_own_model_loads(tiny, tiny_sd, probe, tmp_path):
    model = tiny_resnetv2(10)
    model.load_state_dict(tiny_sd)
    torch.save(model, tmp_path / "ours.pth")
    loaded = load_checkpoint(tmp_path / "ours.pth")
    assert loaded.format == "pickle"
    assert torch.equal(_logits(loaded, probe), _reference_logits(tiny_sd, probe))


def test_float64_and_float16_checkpoints_load_as_float32(tiny, tiny_sd, tmp_path):
    for dtype in (torch.float64, torch.float16):
        torch.save({k: v.to(dtype) for k, v in tiny_sd.items()}, tmp_path / "w.pth")
        weight = load_checkpoint(tmp_path / "w.pth").model.root.conv.weight
        assert weight.dtype == torch.float32
        assert torch.equal(weight, tiny_sd["root.conv.weight"].to(dtype).to(torch.float32))


def test_filter_strips_only_a_leading_module_prefix_and_keeps_integer_tensors():
    model = tiny_resnetv2(1)
    steps = torch.tensor([3], dtype=torch.int64)
    out = checkpoint_filter_fn({"module.a.module.b": torch.ones(1, dtype=torch.float64), "c": steps}, model)
    assert list(out) == ["a.module.b", "c"]
    assert out["a.module.b"].dtype == torch.float32
    assert out["c"].dtype == torch.int64


def test_mixed_zip_with_a_data_pkl_is_a_torch_file(tiny, tiny_sd, tmp_path):
    """A torch.save zip that also carries a .npy member is still read as torch, not as an npz."""
    path = tmp_path / "mixed.pth"
    torch.save(tiny_sd, path)
    npy = io.BytesIO()
    np.save(npy, np.ones(2))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("mixed/extra.npy", npy.getvalue())  # torch wants members under the archive's folder
    assert load_checkpoint(path).format == "state_dict"


def _as_saved_on_gpu(path):
    """Rewrite a torch.save zip as if its tensors had been saved from cuda:0 (the storage location
    string in data.pkl's persistent ids), as a checkpoint saved on a training GPU is."""
    with zipfile.ZipFile(path) as src:
        members = {name: src.read(name) for name in src.namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for name, data in members.items():
            if name.endswith("/data.pkl"):
                assert b"X\x03\x00\x00\x00cpu" in data
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            dst.writestr(name, data)


def test_checkpoint_saved_on_a_gpu_loads_on_a_cpu_only_host(tiny, tiny_sd, tmp_path):
    path = tmp_path / "gpu.pth"
    torch.save(tiny_sd, path)
    _as_saved_on_gpu(path)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)  # what a load without map_location does here
    model = load_checkpoint(path).model
    assert model.root.conv.weight.device.type == "cpu"
    assert torch.equal(model.root.conv.weight, tiny_sd["root.conv.weight"])


# --------------------------------------------------------------------------- random weights


def test_random_weights_are_seeded_labelled_and_leave_the_global_rng_alone(tiny):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = load_checkpoint("random", arch="bit-m-r50x1", seed=5)
    assert torch.equal(torch.rand(3), expected_next)  # forked: the caller's random stream is untouched
    b = ck.random_model("BiT-M-R50x1", 10, 5)
    c = ck.random_model("BiT-M-R50x1", 10, 6)
    assert (a.arch, a.num_classes, a.format, a.source, a.digest, a.random) == (
        "BiT-M-R50x1", 10, "random", "random", "random:seed=5", True)  # fmt: skip
    assert a.notes == ["RANDOM weights (seed=5): predictions are meaningless"]
    assert tiny[0] == ("BiT-M-R50x1", 10)
    assert not a.model.training
    assert torch.equal(a.model.root.conv.weight, b.model.root.conv.weight)
    assert not torch.equal(a.model.root.conv.weight, c.model.root.conv.weight)
    assert torch.equal(a.model.head.gn.weight, b.model.head.gn.weight)
    assert not torch.equal(a.model.head.gn.weight, c.model.head.gn.weight)


def test_random_defaults_are_ten_classes_and_seed_zero(tiny):
    loaded = load_checkpoint("random")
    assert (loaded.num_classes, loaded.digest, loaded.model.head.conv.out_channels) == (10, "random:seed=0", 10)
    assert load_checkpoint("random", num_classes=7).model.head.conv.out_channels == 7


def test_random_groupnorm_affine_is_one_plus_noise_and_noise(tiny):
    """weight ~ 1 + 0.1·N(0,1), bias ~ 0.1·N(0,1) over all GroupNorm channels (672 of each)."""
    model = ck.random_model("BiT-M-R50x1", 10, 0).model
    gns = [m for m in model.modules() if isinstance(m, torch.nn.GroupNorm)]
    weight = torch.cat([m.weight.detach() for m in gns])
    bias = torch.cat([m.bias.detach() for m in gns])
    assert weight.numel() == bias.numel() == 672
    # standard errors: mean 0.1/√672 ≈ 0.004, std ≈ 0.003; the bands are 5 of them
    assert abs(weight.mean().item() - 1.0) < 0.02 and abs(weight.std().item() - 0.1) < 0.015
    assert abs(bias.mean().item()) < 0.02 and abs(bias.std().item() - 0.1) < 0.015


# --------------------------------------------------------------------------- Google's .npz


def _npz(sd: dict, path, **changes):
    arrays = google_arrays(sd)
    arrays.update(changes)
    with open(path, "wb") as fh:
        np.savez(fh, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_npz_loads_the_same_function(tiny, tiny_sd, probe, tmp_path):
    path = write_google_npz(tiny_sd, tmp_path / "BiT-M-R50x1.pth")  # a torch suffix: sniffed, not named
    loaded = load_checkpoint(path)
    assert (loaded.format, loaded.arch, loaded.num_classes, loaded.source, loaded.random, loaded.notes) == (
        "npz", "BiT-M-R50x1", 10, str(path), False, [])  # fmt: skip
    assert loaded.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert tiny == [("BiT-M-R50x1", 10)]
    assert not loaded.model.training
    assert torch.allclose(_logits(loaded, probe), _reference_logits(tiny_sd, probe), atol=1e-6, rtol=0)


def test_npz_hwio_kernels_land_oihw_element_by_element(tiny, tiny_sd, tmp_path):
    """Asymmetric kernels in Google's HWIO layout, read back at hand-computed places."""
    root = np.arange(7 * 7 * 3 * 32, dtype=np.float32).reshape(7, 7, 3, 32)  # value = ((h·7 + w)·3 + i)·32 + o
    proj = np.arange(32 * 64, dtype=np.float32).reshape(1, 1, 32, 64)  # 1x1, in 32 != out 64
    path = _npz(tiny_sd, tmp_path / "asym.npz", **{ROOT: root, "resnet/block1/unit01/a/proj/standardized_conv2d/kernel": proj})
    model = load_checkpoint(path).model
    weight = model.root.conv.weight.detach()  # torch [o, i, h, w]
    assert weight.shape == (32, 3, 7, 7)
    assert weight[5, 1, 0, 2].item() == ((0 * 7 + 2) * 3 + 1) * 32 + 5 == 229
    assert weight[5, 1, 2, 0].item() == ((2 * 7 + 0) * 3 + 1) * 32 + 5 == 1381  # h, w swapped: a transpose shows
    assert weight[31, 2, 6, 1].item() == ((6 * 7 + 1) * 3 + 2) * 32 + 31 == 4223
    down = model.body.block1.unit01.downsample.weight.detach()
    assert down.shape == (64, 32, 1, 1) and down[3, 2, 0, 0].item() == 2 * 64 + 3


def test_npz_float64_arrays_and_extra_entries(tiny, tiny_sd, tmp_path):
    arrays = {k: v.astype(np.float64) for k, v in google_arrays(tiny_sd).items()}
    arrays["global_step"] = np.array(1000)  # not a weight: only resnet/ names are taken
    with open(tmp_path / "w.npz", "wb") as fh:
        np.savez(fh, **arrays)
    model = load_checkpoint(tmp_path / "w.npz").model
    assert model.head.gn.bias.dtype == torch.float32
    assert torch.equal(model.head.gn.bias, tiny_sd["head.gn.bias"])


def test_npz_of_another_head_size_is_zeroed(tiny, tiny_sd, tmp_path, probe):
    sd = dict(tiny_sd, **{"head.conv.weight": torch.ones(21, 64, 1, 1), "head.conv.bias": torch.ones(21)})
    path = write_google_npz(sd, tmp_path / "BiT-M-R50x1.npz")
    loaded = load_checkpoint(path, num_classes=10)
    assert loaded.num_classes == 10 and tiny == [("BiT-M-R50x1", 10)]
    assert loaded.notes == ["npz head has 21 classes, not 10: body loaded, head zeroed (BiT zero_head)"]
    assert loaded.model.head.conv.weight.shape == (10, 64, 1, 1)
    assert torch.count_nonzero(loaded.model.head.conv.weight) == 0
    assert torch.count_nonzero(loaded.model.head.conv.bias) == 0 and loaded.model.head.conv.bias.shape == (10,)
    assert torch.equal(_logits(loaded, probe), torch.zeros(2, 10))
    assert torch.equal(loaded.model.body.block4.unit01.conv2.weight, tiny_sd["body.block4.unit01.conv2.weight"])
    assert load_checkpoint(path).num_classes == 21  # no --num-classes: the npz's own head
    assert load_checkpoint(path, num_classes=21).notes == []


def test_npz_without_a_head_needs_num_classes(tiny, tiny_sd, tmp_path):
    path = _npz(tiny_sd, tmp_path / "headless.npz",
                **{"resnet/head/conv2d/kernel": None, "resnet/head/conv2d/bias": None})  # fmt: skip
    assert _err(path) == f"{path} has no head (resnet/head/conv2d/bias); pass --num-classes to zero-init one"
    loaded = load_checkpoint(path, num_classes=4)
    assert loaded.num_classes == 4 and torch.count_nonzero(loaded.model.head.conv.weight) == 0
    assert loaded.notes == ["npz head has None classes, not 4: body loaded, head zeroed (BiT zero_head)"]


def test_npz_fit_problems_are_named_in_google_terms(tiny, tiny_sd, tmp_path):
    path = _npz(tiny_sd, tmp_path / "broken.npz", **{
        "resnet/block2/unit01/b/group_norm/gamma": None,
        ROOT: np.zeros((3, 3, 3, 32), np.float32),
        "resnet/block9/unit01/a/group_norm/beta": np.zeros(4, np.float32),
    })  # fmt: skip
    assert _err(path) == (
        f"{path} does not fit BiT-M-R50x1: 1 missing (resnet/block2/unit01/b/group_norm/gamma); "
        "1 unexpected (resnet/block9/unit01/a/group_norm/beta); "
        "1 shape mismatch (resnet/root_block/standardized_conv2d/kernel: (32, 3, 3, 3) vs (32, 3, 7, 7))"
    )


def test_npz_without_the_root_kernel_is_not_bit(tmp_path):
    np.savez(tmp_path / "other.npz", kernel=np.ones(3))
    assert _err(tmp_path / "other.npz") == f"{tmp_path / 'other.npz'} is an .npz but not BiT weights: no '{ROOT}'"


def test_npz_with_an_object_array_is_refused_unread(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, kernel=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError) as numpy_says, np.load(path, allow_pickle=False) as npz:
        npz["kernel"]
    assert _err(path) == f"cannot read {path} as .npz: {numpy_says.value}"


# --------------------------------------------------------------------------- npz names, by hand

NAMES = {  # Google's .npz name -> big_transfer's torch name (bit_pytorch/models.py load_from)
    "resnet/root_block/standardized_conv2d/kernel": "root.conv.weight",
    "resnet/group_norm/gamma": "head.gn.weight",
    "resnet/group_norm/beta": "head.gn.bias",
    "resnet/head/conv2d/kernel": "head.conv.weight",
    "resnet/head/conv2d/bias": "head.conv.bias",
    "resnet/block1/unit01/a/proj/standardized_conv2d/kernel": "body.block1.unit01.downsample.weight",
    "resnet/block3/unit23/a/standardized_conv2d/kernel": "body.block3.unit23.conv1.weight",
    "resnet/block4/unit03/b/standardized_conv2d/kernel": "body.block4.unit03.conv2.weight",
    "resnet/block2/unit08/c/standardized_conv2d/kernel": "body.block2.unit08.conv3.weight",
    "resnet/block1/unit02/a/group_norm/gamma": "body.block1.unit02.gn1.weight",
    "resnet/block1/unit02/a/group_norm/beta": "body.block1.unit02.gn1.bias",
    "resnet/block2/unit01/b/group_norm/gamma": "body.block2.unit01.gn2.weight",
    "resnet/block2/unit01/b/group_norm/beta": "body.block2.unit01.gn2.bias",
    "resnet/block4/unit01/c/group_norm/gamma": "body.block4.unit01.gn3.weight",
    "resnet/block4/unit01/c/group_norm/beta": "body.block4.unit01.gn3.bias",
}


@pytest.mark.parametrize("google, ours", list(NAMES.items()))
def test_npz_names_both_ways(google, ours):
    assert npz_to_torch_name(google) == ours
    assert torch_to_npz_name(ours) == google


@pytest.mark.parametrize("name", [
    "global_step", "resnet/head/conv2d/bias_1", "xresnet/group_norm/gamma", "resnet/block1/unit01/d/group_norm/gamma",
    "resnet/block1/unit01/a/group_norm/moving_mean", "resnet/block1/unit01/b/proj/standardized_conv2d/kernel",
    "resnet/blockA/unit01/a/group_norm/gamma", "resnet/block1/unitA/a/group_norm/gamma",
])  # fmt: skip
def test_unknown_npz_names_pass_through_unchanged(name):
    assert npz_to_torch_name(name) == name


@pytest.mark.parametrize("name", [
    "fc.weight", "root.conv.bias", "body.block1.unit01.conv4.weight", "body.block1.unit01.gn0.weight", "body.block1.unit01.gn1.running_mean",
    "body.block1.unit01.downsample.bias", "xbody.block1.unit01.gn1.weight", "body.block1.unitX.gn1.weight",
    "body.block1.unit01.gn1.weight.x",
])  # fmt: skip
def test_unknown_torch_names_pass_through_unchanged(name):
    assert torch_to_npz_name(name) == name


# --------------------------------------------------------------------------- what the file is


def test_text_file_is_not_a_checkpoint(tmp_path):
    (tmp_path / "bit.pth").write_text("<html>404 Not Found</html>\n")
    assert _err(tmp_path / "bit.pth") == (
        f"{tmp_path / 'bit.pth'} is not a checkpoint: neither a torch.save file nor a .npz (starts with b'<htm')")


def test_damaged_zip(tmp_path):
    (tmp_path / "bit.pth").write_bytes(b"PK\x03\x04 then nothing of a zip")
    assert _err(tmp_path / "bit.pth") == f"{tmp_path / 'bit.pth'} is a damaged zip file: File is not a zip file"


def test_zip_of_something_else_is_read_as_torch_and_refused(tmp_path):
    path = tmp_path / "notes.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(RuntimeError) as torch_says:
        torch.load(path, weights_only=True)
    first = str(torch_says.value).strip().splitlines()[0]
    assert _err(path) == f"cannot read {path} as a PyTorch checkpoint: {first}"


@pytest.mark.parametrize("data, what", [
    (b"\x80\x02", "EOFError"),  # torch's EOFError has no text: its type is named
    (b"\x80", None), (b"\x80\x02junkjunk", None),  # IndexError / KeyError deep in the unpickler
])  # fmt: skip
def test_truncated_or_garbled_pickles_are_unreadable_files(data, what, tmp_path):
    path = tmp_path / "cut.pth"
    path.write_bytes(data)
    message = _err(path)
    assert message.startswith(f"cannot read {path} as a PyTorch checkpoint: ")
    if what:
        assert message.endswith(f": {what}")


def test_download_addresses():
    assert ck.bit_npz_url("BiT-S-R101x3") == "https://storage.googleapis.com/bit_models/BiT-S-R101x3.npz"


def test_missing_file_and_folder(tmp_path):
    assert _err(tmp_path / "nope.pth") == f"weights file not found: {tmp_path / 'nope.pth'}"
    assert _err(tmp_path) == f"--weights {tmp_path} is a folder, not a checkpoint file"


def test_unknown_arch_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown arch 'R05x1'"):
        load_checkpoint(tmp_path / "nope.pth", arch="R05x1")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_pickle_naming_another_global_is_refused_unexecuted(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": _Payload(marker)}, tmp_path / "evil.pth")
    import os

    assert _err(tmp_path / "evil.pth") == (
        f"refused to unpickle {tmp_path / 'evil.pth'}: it names '{os.system.__module__}.system', which is not on the "
        "allow-list (tensors, containers, torch.nn layers and big_transfer's ResNetV2 classes)")
    assert not marker.exists()


def test_pickle_is_refused_even_when_torch_is_told_to_trust_pickles(tmp_path, monkeypatch):
    """TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD turns torch.load's default into weights_only=False: ours is explicit."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    torch.save({"model": _Payload(marker)}, tmp_path / "evil.pth")
    assert _err(tmp_path / "evil.pth").startswith(f"refused to unpickle {tmp_path / 'evil.pth'}: it names ")
    assert not marker.exists()


def test_pickle_opcode_outside_the_allow_list_is_named(tmp_path):
    (tmp_path / "old.pth").write_bytes(b"\x80\x02K\x01K\x02R.")  # protocol 2: call 1 with argument 2 (REDUCE)
    assert _err(tmp_path / "old.pth") == (
        f"refused to unpickle {tmp_path / 'old.pth'}: it uses a pickle instruction or object "
        "(Trying to call reduce for unrecognized function 1) that is not on the allow-list "
        "(tensors, containers, torch.nn layers and big_transfer's ResNetV2 classes)")


def test_unpickling_error_without_details_says_unknown(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise pickle.UnpicklingError("no details")

    monkeypatch.setattr(torch, "load", refuse)
    (tmp_path / "w.pth").write_bytes(b"\x80\x02.")
    assert "(unknown) that is not on the allow-list" in _err(tmp_path / "w.pth")


@pytest.mark.parametrize("obj, kind", [([1, 2], "list"), ({}, "dict"), ({"a": torch.ones(1), "b": 3}, "dict"),
                                       ({"model": torch.ones(1), "step": 1}, "dict"), (torch.ones(2), "Tensor")])
def test_objects_that_are_not_checkpoints(obj, kind, tmp_path):
    torch.save(obj, tmp_path / "w.pth")
    assert _err(tmp_path / "w.pth") == (
        f"{tmp_path / 'w.pth'} holds a {kind}, not a model, a state_dict or a train.py checkpoint")


# --------------------------------------------------------------------------- does it fit


def test_checkpoint_head_against_num_classes(tiny, tiny_sd, tmp_path):
    torch.save(tiny_sd, tmp_path / "w.pth")
    assert _err(tmp_path / "w.pth", num_classes=100) == f"{tmp_path / 'w.pth'} has a 10-class head but --num-classes is 100"
    assert load_checkpoint(tmp_path / "w.pth", num_classes=10).num_classes == 10


def test_checkpoint_without_a_head_bias(tiny, tiny_sd, tmp_path):
    sd = {k: v for k, v in tiny_sd.items() if k != "head.conv.bias"}
    torch.save(sd, tmp_path / "w.pth")
    assert _err(tmp_path / "w.pth") == (  # judged against the 1-class shapes-only model
        f"{tmp_path / 'w.pth'} has no head.conv.bias: 1 missing (head.conv.bias); "
        "1 shape mismatch (head.conv.weight: (10, 64, 1, 1) vs (1, 64, 1, 1))")


def test_fit_problems_list_three_names_then_a_count(tiny, tiny_sd, tmp_path):
    gone = ["body.block1.unit01.gn1.bias", "body.block1.unit02.conv3.weight", "body.block3.unit01.gn2.weight"]
    extra = ["fc.weight", "fc.bias", "head.fc.weight", "pre_logits.weight"]
    sd = {k: v for k, v in tiny_sd.items() if k not in gone}
    sd.update({k: torch.zeros(1) for k in extra})
    sd["body.block2.unit01.conv2.weight"] = torch.zeros(32, 32, 1, 1)
    torch.save(sd, tmp_path / "w.pth")
    assert _err(tmp_path / "w.pth") == (
        f"{tmp_path / 'w.pth'} does not fit BiT-M-R50x1: 3 missing ({', '.join(gone)}); "
        "4 unexpected (fc.weight, fc.bias, head.fc.weight, +1 more); "
        "1 shape mismatch (body.block2.unit01.conv2.weight: (32, 32, 1, 1) vs (32, 32, 3, 3))")


def _structure_sd(units, width, family_classes=10):
    """Names and root width of a (units, width) BiT, with 1-element tensors (only names and the root count)."""
    sd = {"root.conv.weight": torch.zeros(64 * width, 1, 1, 1)}
    for b, n in enumerate(units, start=1):
        for u in range(1, n + 1):
            sd[f"body.block{b}.unit{u:02d}.gn1.weight"] = torch.zeros(1)
            sd[f"body.block{b}.unit{u:02d}.conv1.weight"] = torch.zeros(1)
    sd["head.conv.bias"] = torch.zeros(family_classes)
    return sd


@pytest.mark.parametrize("units, width, arch, hint", [
    ((3, 4, 23, 3), 1, "BiT-M-R50x1", "it looks like BiT-M-R101x1: pass --arch BiT-M-R101x1"),
    ((3, 8, 36, 3), 2, "BiT-M-R50x1", "it looks like BiT-M-R152x2: pass --arch BiT-M-R152x2"),
    ((3, 4, 6, 3), 3, "BiT-S-R50x1", "it looks like BiT-S-R50x3: pass --arch BiT-S-R50x3"),
    ((3, 4, 6, 3), 1, "BiT-M-R50x1", None),  # the structure asked for: something else is wrong
    ((3, 4, 6, 2), 1, "BiT-M-R50x1", None),  # no known variant
    ((3, 4, 6, 3), 5, "BiT-M-R50x1", None),
])  # fmt: skip
def test_a_checkpoint_of_another_variant_names_it(units, width, arch, hint, tiny, tmp_path):
    torch.save(_structure_sd(units, width), tmp_path / "w.pth")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "w.pth", arch=arch)
    assert err.value.message.startswith(f"{tmp_path / 'w.pth'} does not fit {arch}: ")
    assert err.value.hint == (hint or "is this a BiT ResNetV2 checkpoint? see `bit export --help` for the formats")


def test_no_root_kernel_gives_the_generic_hint(tiny, tmp_path):
    torch.save({"fc.weight": torch.zeros(2, 2), "head.conv.bias": torch.zeros(10)}, tmp_path / "w.pth")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "w.pth")
    assert err.value.message.startswith(f"{tmp_path / 'w.pth'} does not fit BiT-M-R50x1: {len(TINY_KEYS) - 1} missing (")
    assert err.value.hint == "is this a BiT ResNetV2 checkpoint? see `bit export --help` for the formats"
