"""Class F: one bit per workdir, stale temporary files of killed runs removed, integrity of bit data's folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bit_testlib import invoke
from fault_lib import bit_env, bit_popen, bit_proc, one_line_failure, tree_state

# --------------------------------------------------------------------------- one bit per workdir


@pytest.fixture
def holder(work):
    """Another process holding WORKDIR's lock (as a running bit does)."""
    code = ("import sys, time; from bitcli.resources import workdir_lock\n"
            "with workdir_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(work)], env=bit_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


LOCKED = ["data", "data --force", "export", "simplify", "infer", "infer --force", "all", "bench", "atc --chip Ascend310P3"]


@pytest.mark.parametrize("command", LOCKED)
def test_a_second_bit_on_the_same_workdir_stops_at_once(runner, tmp_path, work, holder, command):
    before = tree_state(work)
    result = invoke(runner, *command.split())
    one_line_failure(result, f"another bit (pid {holder.pid}) is using {work}", code=1)
    assert tree_state(work) == before


def test_eval_stops_at_once_beside_a_holder(runner, tmp_path, work):
    assert invoke(runner, "infer").exit_code == 0
    code = ("import sys, time; from bitcli.resources import workdir_lock\n"
            "with workdir_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(work)], env=bit_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        one_line_failure(invoke(runner, "eval"), f"another bit (pid {proc.pid})", code=1)
    finally:
        proc.kill()
        proc.wait()


def test_two_real_bit_processes(tmp_path, work, tiny_models):
    inp = tmp_path / "many"
    inp.mkdir()
    for i in range(400):
        (inp / f"{i}.bin").write_bytes(bytes(12288))
    first = bit_popen(["infer", "--input", inp, "--bs", "1", "--threads", "1"], tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not (work / ".bit.lock.pid").exists():
        time.sleep(0.05)
    second = bit_proc(["data", "--force"], tmp_path)
    first.kill()
    first.wait()
    one_line_failure(second, f"another bit (pid {first.pid}) is using", code=1)


def test_the_lock_is_released_after_a_failed_command(runner, tmp_path, work):
    assert invoke(runner, "infer", "--input", str(tmp_path / "nowhere")).exit_code == 1
    assert invoke(runner, "infer").exit_code == 0


# --------------------------------------------------------------------------- stale temporary files


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temps_of_killed_writers_are_removed_live_ones_kept(tmp_path):
    from bitcli.artifacts import atomic_write_text

    dead = _dead_pid()
    (tmp_path / f".bit.onnx.{dead}.abcd1234.part").write_bytes(b"x" * 1000)
    (tmp_path / f".bit.onnx.{os.getppid()}.live0000.part").write_bytes(b"x")  # pytest's parent: alive
    (tmp_path / ".bit.onnx.oldname1.part").write_bytes(b"x")  # an older version's name, fresh: kept
    old = tmp_path / ".bit.onnx.oldname2.part"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))  # two hours old: stale
    atomic_write_text(tmp_path / "bit.onnx", "model")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["bit.onnx", f".bit.onnx.{os.getppid()}.live0000.part", ".bit.onnx.oldname1.part"])


@pytest.mark.parametrize("kind", ["pid", "old"])
def test_stale_partial_result_folders_are_removed_by_the_next_infer(runner, tmp_path, work, kind):
    res = work / "result" / "onnxruntime"  # infer's folder for its backend and precision
    res.mkdir(parents=True)
    stale = res / (f".result_bs2.{_dead_pid()}.x1y2.partial" if kind == "pid" else ".result_bs2.k3j4abcd.partial")
    stale.mkdir()
    (stale / "0_0.bin").write_bytes(b"\0" * 40)
    if kind == "old":
        os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert invoke(runner, "infer").exit_code == 0
    assert not stale.exists()


def test_stale_simplify_temp_is_removed(runner, tmp_path, tiny_models):
    out = tmp_path / "o"
    out.mkdir()
    stale = out / f".bit_bs1_sim.onnx.{_dead_pid()}.zzzz.part"
    stale.write_bytes(b"\0" * 4096)
    result = invoke(runner, "simplify", "--model", str(tiny_models / "bit.onnx"), "--bs", "1", "--output-dir", str(out))
    assert result.exit_code == 0, result.output + result.stderr
    assert not stale.exists() and (out / "bit_bs1_sim.onnx").is_file()


def test_export_killed_mid_write_leaves_a_temp_the_next_export_removes(tmp_path):
    args = ["export", "--weights", "random", "--image-size", "32", "-o", tmp_path / "m.onnx"]
    proc = bit_popen(args, tmp_path)
    deadline = time.time() + 240
    while time.time() < deadline and not list(tmp_path.glob(".m.onnx.*.part")) and proc.poll() is None:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    left = list(tmp_path.glob(".m.onnx.*.part"))
    assert left, "the export finished or never wrote before it could be killed"
    again = bit_proc(args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert not list(tmp_path.glob(".m.onnx.*.part")) and (tmp_path / "m.onnx").is_file()


# --------------------------------------------------------------------------- bit data: digests and --verify


@pytest.fixture
def data_dir(runner, tmp_path, synth_set):
    args = ["data", "--dataset-path", str(synth_set), "--save-path", str(tmp_path / "bins"),
            "--label-path", str(tmp_path / "l.txt")]  # fmt: skip
    assert invoke(runner, *args).exit_code == 0
    return args


def _flip(path, offset, keep_time):
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    if keep_time:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("name", ["0.bin", "9.bin"])
@pytest.mark.parametrize("offset", [0, 6144, 12287])
def test_verify_finds_same_size_same_time_corruption(runner, tmp_path, data_dir, name, offset):
    _flip(tmp_path / "bins" / name, offset, keep_time=True)
    result = invoke(runner, *data_dir, "--verify")
    one_line_failure(result, f"1 file(s) changed since written (first: {name})", "bit data --force", code=1)


@pytest.mark.parametrize("name", ["0.bin", "5.bin"])
def test_rerun_rewrites_a_file_changed_since_written(runner, tmp_path, data_dir, name):
    good = (tmp_path / "bins" / name).read_bytes()
    _flip(tmp_path / "bins" / name, 100, keep_time=False)
    result = invoke(runner, *data_dir)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "bins" / name).read_bytes() == good
    assert invoke(runner, *data_dir, "--verify").exit_code == 0


def test_verify_of_an_intact_folder(runner, tmp_path, data_dir):
    result = invoke(runner, *data_dir, "--verify")
    assert result.exit_code == 0 and "verified 10 files" in result.stderr and "all match" in result.stderr


def test_verify_names_a_missing_file_and_an_edited_label_file(runner, tmp_path, data_dir):
    (tmp_path / "bins" / "3.bin").unlink()
    (tmp_path / "l.txt").write_text("9\n" * 10)
    result = invoke(runner, *data_dir, "--verify")
    one_line_failure(result, "1 file(s) missing (first: 3.bin)", "l.txt changed since written", code=1)


def test_verify_without_a_record(runner, tmp_path):
    (tmp_path / "bins").mkdir()
    result = invoke(runner, "data", "--save-path", str(tmp_path / "bins"), "--verify")
    one_line_failure(result, "has no .digests.json record", code=1)


def test_digests_are_crc32_of_the_bytes(tmp_path, data_dir):
    import json
    import zlib

    record = json.loads((tmp_path / "bins" / ".digests.json").read_text())
    assert record["algorithm"] == "crc32" and len(record["files"]) == 10
    for name, (size, _, crc) in record["files"].items():
        raw = (tmp_path / "bins" / name).read_bytes()
        assert size == len(raw) and crc == f"{zlib.crc32(raw):08x}"

