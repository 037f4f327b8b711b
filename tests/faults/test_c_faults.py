"""Class C: every ordinary fault is one clear line, never "internal error" — read-only file systems,
a folder deleted mid-run, odd files, sizes that cannot fit, a static model asked for another batch size."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bit_testlib import invoke
from fault_lib import bit_proc, one_line_failure, read_only_copy, tree_state
from runtime_models import FakeBackend, fake_options, write_bins

from bitcli.errors import DataError
from bitcli.stages import infer as stage

# --------------------------------------------------------------------------- read-only file systems


RO_COMMANDS = [
    (["infer"], "read-only file system"),
    (["infer", "--force", "--bs", "1"], "read-only file system"),
    (["data", "--force"], "read-only file system"),
    (["export", "--force"], "read-only file system"),
    (["simplify", "--force"], "read-only file system"),
    (["all", "--only", "infer"], "read-only file system"),
]


@pytest.mark.parametrize("args, words", RO_COMMANDS)
def test_read_only_workdir_is_one_line(tmp_path, work, args, words):
    shutil.copy(tmp_path / "bit.yaml", tmp_path / "keep.yaml")
    with read_only_copy(tmp_path, tmp_path / "ro") as ro:
        before = tree_state(ro)
        proc = bit_proc(args, ro)
        if args[0] == "all":  # the table is printed, the failed row says why, exit 1
            assert proc.returncode == 1 and "Traceback" not in proc.stderr and "internal error" not in proc.stderr
            assert words in proc.stdout + proc.stderr
        else:
            one_line_failure(proc, words, code=1)
        assert tree_state(ro) == before


def test_read_only_current_folder_with_default_workdir(tmp_path, synth_set):
    (tmp_path / "src").mkdir()
    with read_only_copy(tmp_path / "src", tmp_path / "ro") as ro:
        proc = bit_proc(["data", "--dataset-path", synth_set, "--limit", "2"], ro)
        one_line_failure(proc, "read-only file system", code=1)


def test_eval_on_a_read_only_result_folder_skips_its_json_with_a_note(tmp_path, work):
    assert bit_proc(["infer"], tmp_path).returncode == 0
    with read_only_copy(tmp_path, tmp_path / "ro") as ro:
        proc = bit_proc(["eval"], ro)
        assert proc.returncode == 0, proc.stderr
        assert "top-1" in proc.stdout and "not saved" in proc.stderr and "read-only" in proc.stderr
        json_doc = bit_proc(["eval", "--json"], ro)
        assert json_doc.returncode == 0 and json_doc.stdout.lstrip().startswith("{")


# --------------------------------------------------------------------------- a folder deleted mid-run


class DeletingBackend(FakeBackend):
    """Removes the folder it is writing into after its second batch (as `rm -rf` from another shell would)."""

    target = None

    def infer(self, batch):
        if self.calls == 2:
            shutil.rmtree(self.target)
        return super().infer(batch)


def test_result_folder_deleted_while_infer_runs(tmp_path):
    write_bins(tmp_path / "in", 8)
    backend = DeletingBackend(fake_options(1))
    backend.target = tmp_path / "out"
    with pytest.raises(DataError, match="does not exist \\(was its folder deleted while bit ran\\?\\)"):
        stage.outputs_from_bins(backend, tmp_path / "in", tmp_path / "out")


def test_input_folder_deleted_while_infer_runs(tmp_path):
    write_bins(tmp_path / "in", 8)
    backend = DeletingBackend(fake_options(1))
    backend.target = tmp_path / "in"
    with pytest.raises(DataError):
        stage.outputs_from_bins(backend, tmp_path / "in", tmp_path / "out")
    assert not (tmp_path / "out" / "result_bs1").exists()


# --------------------------------------------------------------------------- odd files


@pytest.mark.parametrize("array", [np.array([{"a": 1}], dtype=object), np.array(["x", "y"]), np.zeros(3, "V8")],
                         ids=["object", "unicode", "void"])
def test_odd_npy_in_the_input_folder_is_one_line(runner, tmp_path, work, array):
    np.save(work / "dataset_bin" / "odd.npy", array, allow_pickle=True)
    result = invoke(runner, "infer")
    one_line_failure(result, "odd.npy", code=1)
    assert not (work / "result" / "onnxruntime" / "result_bs2").exists()


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", b"PK\x03\x04\0\0binary", b"\0\0\0\0"])
def test_binary_label_file_is_one_line(runner, tmp_path, work, content):
    assert invoke(runner, "infer").exit_code == 0
    (tmp_path / "lab.bin").write_bytes(content)
    one_line_failure(invoke(runner, "eval", "--label-path", str(tmp_path / "lab.bin")), "is a binary file, not text", code=1)


def test_non_utf8_label_file_is_one_line(runner, tmp_path, work):
    assert invoke(runner, "infer").exit_code == 0
    (tmp_path / "lab.txt").write_bytes("0\n1\n\xe9\n".encode("latin-1"))
    one_line_failure(invoke(runner, "eval", "--label-path", str(tmp_path / "lab.txt")), "is not UTF-8 text (byte 0xe9",
                     code=1)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_label_file_with_a_utf8_bom_is_read(runner, tmp_path, work, newline):
    assert invoke(runner, "infer").exit_code == 0
    text = (work / "label.txt").read_text()
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + newline.join(text.splitlines()).encode() + newline.encode())
    plain = invoke(runner, "eval", "--json")
    bom = invoke(runner, "eval", "--json", "--label-path", str(tmp_path / "bom.txt"))
    assert bom.exit_code == 0, bom.output
    assert bom.stdout == plain.stdout


@pytest.mark.parametrize("name", [".manifest.json", ".digests.json", ".manifest.partial.json"])
def test_a_folder_where_bit_data_keeps_its_record(runner, tmp_path, synth_set, name):
    save = tmp_path / "bins"
    (save / name).mkdir(parents=True)
    result = invoke(runner, "data", "--dataset-path", str(synth_set), "--save-path", str(save),
                    "--label-path", str(tmp_path / "l.txt"), "--limit", "2")
    one_line_failure(result, f"{name} is not a file", code=1)
    assert not list(save.glob("*.bin"))


# --------------------------------------------------------------------------- sizes that cannot fit


SIZE_CASES = [
    (["infer", "--bs", "100000", "--limit", "8"], "above ais_bench's largest batch size, 4096", 2),
    (["infer", "--bs", "4097"], "above ais_bench's largest batch size, 4096", 2),
    (["bench", "--bs", "100000"], "4096", 2),
    (["simplify", "--bs", "100000"], "4096", 2),
    (["atc", "--bs", "5000"], "4096", 2),
    (["all", "--bs", "8192"], "4096", 2),
    (["eval", "--bs", "99999"], "4096", 2),
    (["export", "--image-size", "100000"], "up to 1024", 2),  # a flag value out of range: usage error
    (["export", "--image-size", "1025"], "up to 1024", 2),  # a flag value out of range: usage error
    (["data", "--synthetic", "100000000"], "up to 1,000,000", 2),  # a flag value out of range: usage error
    (["data", "--synthetic", "1000001"], "up to 1,000,000", 2),  # a flag value out of range: usage error
]


@pytest.mark.parametrize("args, words, code", SIZE_CASES)
def test_sizes_that_cannot_fit_are_refused_before_allocating(runner, tmp_path, args, words, code):
    result = invoke(runner, *args)
    one_line_failure(result, words, code=code)
    assert not (tmp_path / "bit_work" / "dataset_bin").exists()


def test_memory_estimate_refuses_before_allocating(monkeypatch):
    from bitcli.errors import ConfigError
    from bitcli.resources import batch_bytes, check_memory

    assert batch_bytes(4096, 128) == 805_306_368  # 4096 x 3 x 128 x 128 x 4 bytes, worked out by hand
    # bs 100000 at 128 px: 19,660,800,000 bytes = 18.31 GiB
    monkeypatch.setattr("bitcli.resources.available_memory", lambda: 10 * 2**30)
    with pytest.raises(ConfigError, match=r"needs about 18\.3 GiB of memory, 10\.0 GiB is available"):
        check_memory(batch_bytes(100000, 128) * 1, "bs 100000", hint="smaller --bs")
    check_memory(batch_bytes(8, 128), "bs 8", hint="")  # 1.5 MiB fits


def test_resident_bytes_follows_what_the_process_touches():
    """The NNCF memory bound starts from this figure: 256 MiB written must show up as ~256 MiB more."""
    import numpy as np

    from bitcli.resources import resident_bytes

    before = resident_bytes()
    block = np.ones(256 * 2**20 // 8)  # written, so every page is resident
    grown = resident_bytes() - before
    assert 0.9 * block.nbytes <= grown <= 1.2 * block.nbytes, grown / 2**20
    assert resident_bytes(peak=True) >= before + 0.9 * block.nbytes  # the high-water mark saw it too
    del block


def test_infer_batch_memory_is_checked_against_the_real_host(tmp_path):
    from bitcli.resources import available_memory

    have = available_memory()
    assert have is not None and have > 0
    write_bins(tmp_path / "in", 2)
    too_big = int(2 * have // (4 * 3 * 8 * 8 * 5))  # five batches at 8 px: twice what is free now
    backend = FakeBackend(fake_options(too_big))
    from bitcli.errors import ConfigError

    with pytest.raises(ConfigError, match="of memory"):
        stage.outputs_from_bins(backend, tmp_path / "in", tmp_path / "out")
    assert backend.calls == 0


def test_simplify_of_a_static_model_for_another_bs(runner, tmp_path, tiny_models):
    result = invoke(runner, "simplify", "--model", str(tiny_models / "bit_bs1_sim.onnx"), "--bs", "2",
                    "--output-dir", str(tmp_path))
    one_line_failure(result, "has a static batch size of 1", "cannot serve bs 2", "--bs 1", code=2)  # --bs conflicts with --model
    assert not list(tmp_path.glob("*.onnx"))
