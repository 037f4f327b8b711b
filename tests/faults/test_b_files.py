"""Class B: bit overwrites or deletes only files it wrote itself (manifests and sidecars say which)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bit_testlib import invoke
from fault_lib import one_line_failure, tree_state


@pytest.fixture
def state_dict_pth(tmp_path):
    """A small file standing in for a checkpoint (bit must refuse before reading it)."""
    path = tmp_path / "m.pth"
    path.write_bytes(b"PK\x03\x04 a checkpoint the user cares about")
    return path


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "absolute"])
def test_export_never_writes_over_its_own_weights(runner, tmp_path, state_dict_pth, spelling):
    (tmp_path / "sub").mkdir()
    target = {"same": "m.pth", "dotdot": "sub/../m.pth", "absolute": str(state_dict_pth), "symlink": "link.pth"}[spelling]
    if spelling == "symlink":
        (tmp_path / "link.pth").symlink_to(state_dict_pth)
    before = tree_state(tmp_path)
    result = invoke(runner, "export", "--weights", "m.pth", "-o", target, "--image-size", "32")
    one_line_failure(result, "is the same file as --weights", "refusing to overwrite an input", code=1)
    assert tree_state(tmp_path) == before


@pytest.mark.parametrize("name, content", [
    ("notes.onnx", b"my own model, no sidecar"), ("bit.yaml", b"workdir: w\n"), ("other.pth", b"PK\x03\x04 weights"),
    ("data.bin", b"\0" * 64), ("README", b"text"),
])  # fmt: skip
def test_export_refuses_an_existing_file_it_did_not_write(runner, tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    before = tree_state(tmp_path)
    result = invoke(runner, "export", "--weights", "random", "-o", name, "--image-size", "32")
    one_line_failure(result, f"{name} exists and was not written by bit", f"{name}.json", code=1)
    assert tree_state(tmp_path) == before


@pytest.mark.parametrize("bs", ["1", "2", "1,2"])
def test_simplify_refuses_a_foreign_file_at_its_output_name(runner, tmp_path, tiny_models, bs):
    out = tmp_path / "out"
    out.mkdir()
    (out / "bit_bs2_sim.onnx").write_bytes(b"someone's model")
    (out / "bit_bs1_sim.onnx").write_bytes(b"someone else's model")
    before = tree_state(out)
    result = invoke(runner, "simplify", "--model", str(tiny_models / "bit.onnx"), "--output-dir", str(out), "--bs", bs)
    one_line_failure(result, "exists and was not written by bit", code=1)
    assert tree_state(out) == before


LABEL_VICTIMS = ["checkpoint", "profile", "test_batch", "text", "bin", "folder", "symlink-to-profile"]


@pytest.mark.parametrize("victim", LABEL_VICTIMS)
def test_data_label_path_never_replaces_a_file_it_did_not_write(runner, tmp_path, synth_set, victim):
    import shutil

    data = tmp_path / "cifar"
    shutil.copytree(synth_set, data)
    files = {"checkpoint": tmp_path / "bit.pth", "profile": tmp_path / "bit.yaml", "text": tmp_path / "notes.txt",
             "bin": tmp_path / "x.bin", "folder": tmp_path / "adir", "symlink-to-profile": tmp_path / "lnk",
             "test_batch": data / "cifar-10-batches-py" / "test_batch"}  # fmt: skip
    (tmp_path / "bit.pth").write_bytes(b"PK\x03\x04 weights")
    (tmp_path / "bit.yaml").write_text("model:\n  image_size: 32\n")
    (tmp_path / "notes.txt").write_text("0\n1\n")
    (tmp_path / "x.bin").write_bytes(b"\0" * 16)
    (tmp_path / "adir").mkdir()
    (tmp_path / "lnk").symlink_to(tmp_path / "bit.yaml")
    before = tree_state(tmp_path)
    result = invoke(runner, "data", "--dataset-path", str(data), "--save-path", str(tmp_path / "bins"),
                    "--label-path", str(files[victim]), "--limit", "3")
    one_line_failure(result, code=1)
    assert str(files[victim].name) in result.stderr
    assert tree_state(tmp_path) == before  # nothing changed, not even a .bin written


def test_data_force_limit_never_deletes_someone_elses_bins(runner, tmp_path, synth_set):
    save = tmp_path / "bins"
    save.mkdir()
    for i in range(10):
        np.full(5, i, dtype=np.float32).tofile(save / f"{i}.bin")
    before = tree_state(tmp_path)
    result = invoke(runner, "data", "--dataset-path", str(synth_set), "--save-path", str(save),
                    "--label-path", str(tmp_path / "l.txt"), "--force", "--limit", "3", "--workdir", str(tmp_path / "w"))
    one_line_failure(result, "holds 7 .bin file(s) bit data did not write", "3.bin, 4.bin, 5.bin", code=1)
    assert {k: v for k, v in tree_state(tmp_path).items() if not k.startswith("w/")} == before


def test_data_without_force_refuses_a_foreign_folder(runner, tmp_path, synth_set):
    save = tmp_path / "bins"
    save.mkdir()
    (save / "0.bin").write_bytes(b"mine")
    before = tree_state(save)
    result = invoke(runner, "data", "--dataset-path", str(synth_set), "--save-path", str(save),
                    "--label-path", str(tmp_path / "l.txt"), "--limit", "3")
    one_line_failure(result, "already holds .bin files not written by bit data", code=1)
    assert tree_state(save) == before


def test_data_own_folder_shrinks_but_foreign_extra_file_is_refused(runner, tmp_path, synth_set):
    save, labels = tmp_path / "bins", tmp_path / "l.txt"
    args = ["data", "--dataset-path", str(synth_set), "--save-path", str(save), "--label-path", str(labels)]
    assert invoke(runner, *args, "--limit", "6").exit_code == 0
    (save / "20.bin").write_bytes(b"someone's")
    before = tree_state(tmp_path)
    result = invoke(runner, *args, "--limit", "3")
    one_line_failure(result, "20.bin", "did not write", code=1)
    assert tree_state(tmp_path) == before
    (save / "20.bin").unlink()
    assert invoke(runner, *args, "--limit", "3").exit_code == 0  # its own 3.bin .. 5.bin go
    assert sorted(p.name for p in save.glob("*.bin")) == ["0.bin", "1.bin", "2.bin"]


def test_data_label_file_of_its_own_is_replaced(runner, tmp_path, synth_set):
    args = ["data", "--dataset-path", str(synth_set), "--save-path", str(tmp_path / "b"), "--label-path",
            str(tmp_path / "l.txt")]  # fmt: skip
    assert invoke(runner, *args, "--limit", "4").exit_code == 0
    assert (tmp_path / "l.txt.json").is_file()
    assert invoke(runner, *args, "--limit", "2").exit_code == 0
    assert len((tmp_path / "l.txt").read_text().splitlines()) == 2


@pytest.mark.parametrize("flag", ["--input", "--dataset-path"])
def test_infer_output_over_its_input_folder_is_refused(runner, tmp_path, work, flag):
    res = work / "result" / "onnxruntime" / "result_bs2"
    res.mkdir(parents=True)
    (res / "mine.txt").write_text("keep")
    before = tree_state(work)
    src = str(work / "dataset_bin") if flag == "--input" else str(tmp_path)
    result = invoke(runner, "infer", flag, src)
    one_line_failure(result, code=1)
    assert tree_state(work) == before
    assert os.path.exists(res / "mine.txt")
