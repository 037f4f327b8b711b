"""Class D: messages that tell the truth — odd inputs named before computing, no advice to delete or to
unpickle unsafely, Ctrl-C/SIGTERM handled and resumed, user strings printed literally, folder vs file."""

from __future__ import annotations

import pickle
import signal
import time

import numpy as np
import pytest

from bit_testlib import invoke
from fault_lib import bit_popen, bit_proc, one_line_failure, tree_state

# --------------------------------------------------------------------------- an odd file, named up front


@pytest.mark.parametrize("name, payload", [("notes.bin", b"9 bytes!!"), ("zz.bin", b"\0" * 100), ("README.BIN", b"hi"),
                                           ("x.y.bin", b"\0" * 12)])  # fmt: skip
def test_stray_file_is_named_before_anything_computes(runner, work, name, payload):
    (work / "dataset_bin" / name).write_bytes(payload)
    result = invoke(runner, "infer")
    one_line_failure(result, f"{name} is {len(payload)} bytes, unlike the other 10 files (12288 bytes each)", code=1)
    assert not (work / "result").exists()  # not one batch ran before the message


# --------------------------------------------------------------------------- never suggest deleting a user's file


@pytest.mark.parametrize("target", ["/etc/passwd", "/etc/hostname", "notes.txt", "photo.tar.gz"])
def test_dataset_path_that_is_not_cifar_never_suggests_deleting_it(runner, tmp_path, target):
    if not target.startswith("/"):
        (tmp_path / target).write_bytes(b"my own notes\n" * 10)
    path = tmp_path / target if not target.startswith("/") else target
    before = open(path, "rb").read()
    result = invoke(runner, "data", "--dataset-path", str(path), "--limit", "2")
    text = one_line_failure(result, "neither CIFAR-10's test_batch nor a gzip tarball", code=1)
    assert "delete" not in text.lower() and "remove" not in text.lower()
    assert open(path, "rb").read() == before


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch PAYLOAD_RAN",))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_malicious_pickle_is_refused_without_unsafe_advice(runner, tmp_path, protocol):
    with open(tmp_path / "evil.pth", "wb") as fh:
        pickle.dump({"state_dict": _Payload()}, fh, protocol=protocol)
    result = invoke(runner, "export", "--weights", "evil.pth", "--image-size", "32", "-o", "m.onnx")
    text = one_line_failure(result, "refused to unpickle", "allow-list", code=1)
    assert "weights_only" not in text and "False" not in text
    assert not (tmp_path / "PAYLOAD_RAN").exists() and not (tmp_path / "m.onnx").exists()


# --------------------------------------------------------------------------- Ctrl-C, SIGTERM, SIGKILL: the truth, then resume


@pytest.fixture(scope="module")
def many_inputs(tmp_path_factory):
    """1200 float32 3x32x32 samples (a foreign folder) and an uninterrupted result of them as the reference."""
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(7)
    (root / "in").mkdir()
    for i in range(1200):
        rng.standard_normal((3, 32, 32)).astype(np.float32).tofile(root / "in" / f"{i}.bin")
    return root


def _infer_args(tiny_models, inp, out):
    return ["infer", "--backend", "onnxruntime", "--model", tiny_models / "bit_bs1_sim.onnx", "--bs", "1",
            "--threads", "1", "--input", inp, "--output", out, "--workdir", out.parent / "w"]


@pytest.fixture(scope="module")
def reference(many_inputs, tiny_models):
    out = many_inputs / "ref"
    proc = bit_proc(_infer_args(tiny_models, many_inputs / "in", out), many_inputs)
    assert proc.returncode == 0, proc.stderr
    return out / "result_bs1"


@pytest.mark.parametrize("sig, code, words", [
    (signal.SIGINT, 130, "interrupted (Ctrl-C)"), (signal.SIGTERM, 143, "interrupted (SIGTERM)"),
    (signal.SIGKILL, -9, None),
])  # fmt: skip
def test_interrupted_infer_keeps_its_outputs_and_resumes_byte_identical(tmp_path, many_inputs, tiny_models, reference,
                                                                        sig, code, words):
    out = tmp_path / "out"
    args = _infer_args(tiny_models, many_inputs / "in", out)
    proc = bit_popen(args, tmp_path)
    partial = out / ".result_bs1.partial"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(partial.glob("*_0.bin"))) < 30 and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    if words:
        assert words in stderr and "continue from the files they finished" in stderr
    kept = len(list(partial.glob("*_0.bin")))
    assert kept >= 30 and not (out / "result_bs1").exists()  # the finished outputs are there, as promised
    again = bit_proc(args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"resuming: {kept} outputs kept" in again.stderr
    assert tree_state(out / "result_bs1") == tree_state(reference)  # byte for byte the uninterrupted result
    assert not partial.exists()


# --------------------------------------------------------------------------- user strings printed literally


@pytest.mark.parametrize("name", ["a:x:b", "[bold]b", "c[red]x[/red]", "d:thumbs_up:[/]"])
@pytest.mark.parametrize("command", ["infer --input", "eval --output-dir", "data --dataset-path"])
def test_paths_with_markup_or_emoji_codes_print_literally(tmp_path, name, command):
    proc = bit_proc([*command.split(), tmp_path / name, "--workdir", tmp_path / "w"], tmp_path)
    one_line_failure(proc, str(tmp_path / name), code=1)


# --------------------------------------------------------------------------- folder where a file belongs, and back


FOLDER_FILE = [
    ("infer --input {file}", "is a file, not a folder"),
    ("eval --output-dir {file}", "is a file, not a folder"),
    ("eval --label-path {dir} --output-dir {dir}", "is a folder, not a file"),
    ("export --weights {dir} --image-size 32", "is a folder, not a checkpoint file"),
    ("export --weights random -o {dir} --image-size 32", "is a folder, not a file"),
    ("simplify --model {dir}", "is a folder, not an ONNX file"),
    ("data --save-path {file} --synthetic 2", "is a file, not a folder"),
    ("data --label-path {dir} --synthetic 2", "is a folder"),
    ("infer --model {dir} --input {dir}", "is a folder, not a model file"),
]


@pytest.mark.parametrize("template, words", FOLDER_FILE)
def test_folder_versus_file_is_said_as_such(runner, tmp_path, template, words):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    args = template.format(dir=tmp_path / "adir", file=tmp_path / "afile").split()
    usage = "not a model file" in words  # a flag naming a folder where a file belongs: exit 2 (bitcli/errors.py)
    text = one_line_failure(invoke(runner, *args), words, code=2 if usage else 1)
    assert "does not exist" not in text and "not found" not in text
