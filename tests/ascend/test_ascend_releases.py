"""Each real ais_bench release (tools 2022-11, tools 2023, ait 2024, tools 2025) through its stand-in.

Issue 11 points 1–8: the release is detected, two devices infer every sample
exactly once, tools 2025's folder mode and limits are checked before calling,
and every refusal is explained with the file and the fix.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from standin_helpers import RELEASES, build_om, make_bins, reference_logits, select_release

from bitcli.ascend.ais_output import ais_failure
from bitcli.ascend.env import probe
from bitcli.backends.ais import AisBackend
from bitcli.backends.base import BackendOptions
from bitcli.errors import BackendUnavailable, ConfigError, DataError, ToolFailed
from bitcli.tools import run_tool

LABELS = {"2022-11": "tools 2022-11", "2023": "tools 2023", "2024": "ait 2024", "2025": "tools 2025"}
DEVICE_DIRS = {"2022-11": ["device0", "device1"], "2023": ["device0", "device1"],
               "2024": ["device0_0", "device1_1"], "2025": ["device0_0", "device1_1"]}


@pytest.fixture
def om4(tmp_path, standins):
    """bit_bs4.om (stand-in atc, tiny 8 px ONNX) and 10 per-sample inputs."""
    om, onnx = build_om(tmp_path / "w")
    return om, onnx, make_bins(tmp_path / "w" / "dataset_bin", 10)


def _backend(om, devices=(0,)):
    return AisBackend(BackendOptions(model=om, batch_size=4, image_size=8, devices=devices))


def _inferred(log: Path) -> list[str]:
    return [line.split("\t")[1] for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("release", RELEASES)
def test_release_is_detected(standins, monkeypatch, release):
    select_release(monkeypatch, release)
    found = probe()
    assert found.reason is None and found.flavour.label == LABELS[release]
    assert found.describe() == f"ais_bench 0.0.2 ({LABELS[release]})"


def test_before_2022_11_there_was_no_package_and_bit_names_the_minimum(standins, monkeypatch):
    select_release(monkeypatch, "2022-09")
    reason = AisBackend.available()
    assert "No module named 'ais_bench'" in reason and "tools 2022-11 or newer" in reason and "ais_infer.py" in reason
    with pytest.raises(BackendUnavailable, match="tools 2022-11 or newer"):
        _backend("x.om").open()


@pytest.mark.parametrize("release", RELEASES)
def test_two_devices_infer_every_sample_exactly_once(om4, tmp_path, monkeypatch, release):
    select_release(monkeypatch, release)
    monkeypatch.setenv("STANDIN_AIS_LOG", str(tmp_path / "inferred.log"))
    om, onnx, bins = om4
    with _backend(om, devices=(0, 1)) as be:
        summary = be.run_folder(bins[0].parent, tmp_path / "result", "result_bs4")
    inferred = _inferred(tmp_path / "inferred.log")
    assert sorted(inferred) == sorted(str(b.resolve()) for b in bins) or \
        sorted(Path(p).name for p in inferred) == sorted(b.name for b in bins)  # 2022-11: through bit's share links
    assert len(inferred) == 10  # each sample once, not once per device
    folder = tmp_path / "result" / "result_bs4"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == DEVICE_DIRS[release]
    outputs = {p.name: p for d in DEVICE_DIRS[release] for p in (folder / d).glob("*_0.bin")}
    assert sorted(outputs) == sorted(f"{i}_0.bin" for i in range(10))
    expected = reference_logits(onnx, bins)
    for i in range(10):
        np.testing.assert_allclose(np.fromfile(outputs[f"{i}_0.bin"], np.float32), expected[i], rtol=1e-5, atol=1e-6)
    parts = [json.loads((folder / f"{d}_summary.json").read_text()) for d in DEVICE_DIRS[release]]
    assert summary["throughput"] == pytest.approx(sum(p["throughput"] for p in parts)) and len(summary["filesinfo"]) == 10
    assert summary["wall_s"] > 0
    commands = [" ".join(p["args"]) for p in parts]  # ais_bench records its own argv
    if release == "2022-11":  # one process per device, each with one integer --device
        assert [c.split("--device ")[1].split()[0] for c in commands] == ["0", "1"]
        assert commands[0] != commands[1]
    else:
        assert commands[0] == commands[1] and "--device 0,1" in commands[0]
        assert ("--divide_input true" in commands[0]) == (release in ("2024", "2025"))
    assert not list((tmp_path / "result").glob(".bit_shares*"))  # 2022-11's share folders are removed


def test_2025_refuses_an_existing_0755_output_and_bit_says_chmod_750(om4, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_AIS_LOG", str(tmp_path / "inferred.log"))
    om, _, bins = om4
    result = tmp_path / "result"
    result.mkdir()
    result.chmod(0o755)  # what an onnxruntime run of an older bit left
    with _backend(om) as be, pytest.raises(DataError) as err:
        be.run_folder(bins[0].parent, result, "result_bs4")
    assert f"chmod 750 {result.resolve()}" in err.value.hint and "mode 755" in err.value.message
    assert oct(result.stat().st_mode & 0o777) == "0o755"  # never loosened or changed silently
    assert _inferred(tmp_path / "inferred.log") == []  # refused before calling ais_bench
    select_release(monkeypatch, "2024")  # ait 2024 accepts 0755 (and tightens it itself)
    with _backend(om) as be:
        assert be.run_folder(bins[0].parent, result, "result_bs4")["throughput"] > 0


def test_bit_creates_the_output_folder_at_0750_so_2025_accepts_it_later(om4, tmp_path):
    om, _, bins = om4
    old = os.umask(0o022)
    try:
        with _backend(om) as be:
            be.run_folder(bins[0].parent, tmp_path / "new" / "result", "result_bs4")
            be.run_folder(bins[0].parent, tmp_path / "new" / "result", "result_bs8")  # the same folder again
    finally:
        os.umask(old)
    assert oct((tmp_path / "new" / "result").stat().st_mode & 0o777) == "0o750"
    assert oct((tmp_path / "new").stat().st_mode & 0o777) == "0o750"


def test_the_2025_refusal_itself_is_explained_with_chmod_750(om4, tmp_path):
    """Without bit's pre-check: ais_bench's own `output path:… is illegal` (exit 2) is diagnosed from the folder."""
    om, _, bins = om4
    result = tmp_path / "result"
    result.mkdir(mode=0o755)
    result.chmod(0o755)
    res = run_tool([sys.executable, "-m", "ais_bench", "--model", str(om), "--input", str(bins[0].parent),
                    "--output", str(result), "--batchsize", "4"])
    assert res.returncode == 2 and f"__main__.py: error: argument --output/-o: output path:{result} is illegal" in res.output
    err = ais_failure(res, bs=4, flavour=probe().flavour)
    assert f"chmod 750 {result}" in err.hint and "go-w" not in err.hint


@pytest.mark.parametrize("problem", ["group-writable", "symlink", "characters", "owner"])
def test_an_illegal_input_file_is_named_with_its_real_reason(om4, tmp_path, problem):
    om, _, bins = om4
    folder = bins[0].parent
    bad = folder / ("a b.bin" if problem == "characters" else "label.txt")
    if problem == "symlink":
        bad.symlink_to(bins[0])
    else:
        bad.write_text("0\n")
        bad.chmod(0o664 if problem == "group-writable" else 0o644)
        if problem == "owner":
            if os.getuid() != 0:
                pytest.skip("changing a file's owner needs root")
            os.chown(bad, 54321, 54321)
    with _backend(om) as be, pytest.raises(ToolFailed) as err:
        be.run_folder(folder, tmp_path / "result", "result_bs4")
    text = err.value.message + " " + (err.value.hint or "")
    assert str(folder.resolve() / bad.name) in err.value.message and "{f_true_path}" not in text
    assert {"group-writable": "chmod -R go-w", "symlink": "because it is a symbolic link",
            "characters": "only letters, digits", "owner": "owned by uid 54321"}[problem] in text


def test_argparse_errors_under_python_m_are_the_reason(om4, monkeypatch):
    select_release(monkeypatch, "2023")
    om, _, _ = om4
    res = run_tool([sys.executable, "-m", "ais_bench", "--model", str(om), "--loop", "0"])
    assert res.returncode == 2
    err = ais_failure(res, bs=4, flavour=probe().flavour)
    assert err.message == "ais_bench (tools 2023) rejected its arguments: argument --loop/-l: 0 is an invalid positive int value"


@pytest.mark.parametrize("loop,warmup,bs,flag", [(100001, 1, 4, "--loop"), (10, 10001, 4, "--warmup_count"),
                                                 (10, 1, 4097, "--batchsize")])
def test_2025_limits_are_checked_before_calling(om4, tmp_path, monkeypatch, loop, warmup, bs, flag):
    monkeypatch.setenv("STANDIN_AIS_LOG", str(tmp_path / "inferred.log"))
    om, _, _ = om4
    with AisBackend(BackendOptions(model=om, batch_size=bs, image_size=8)) as be, pytest.raises(ConfigError) as err:
        be.bench_latencies(loop, warmup)
    assert f"accepts {flag} up to" in err.value.message and "tools 2025" in err.value.message
    # the stand-in itself refuses the same values: argparse (exit 2) for --loop, ValueError (exit 1) otherwise
    res = run_tool([sys.executable, "-m", "ais_bench", "--model", str(om), "--loop", str(loop), "--warmup_count",
                    str(warmup), "--batchsize", str(bs)])
    assert res.returncode == (2 if flag == "--loop" else 1)
    select_release(monkeypatch, "2024")  # no such limits there: bit does not refuse
    with AisBackend(BackendOptions(model=om, batch_size=4, image_size=8)) as be:
        assert len(be.bench_latencies(2, 0)) == 2


def test_2025_refuses_more_than_100000_files_in_one_folder(om4, tmp_path):
    om, _, _ = om4
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(100001):
        (folder / f"{i}.bin").touch()
    with _backend(om) as be, pytest.raises(DataError) as err:
        be.run_folder(folder, tmp_path / "result", "result_bs4")
    assert "holds 100001 files" in err.value.message and "at most 100000" in err.value.message


def test_2024_refuses_a_group_writable_output_and_bit_says_which_mode(om4, tmp_path, monkeypatch):
    select_release(monkeypatch, "2024")
    om, _, bins = om4
    result = tmp_path / "result"
    result.mkdir()
    result.chmod(0o775)  # umask 002
    with _backend(om) as be, pytest.raises(DataError) as err:
        be.run_folder(bins[0].parent, result, "result_bs4")
    assert "(ait 2024)" in err.value.message and f"chmod 755 {result.resolve()}" in err.value.hint
    assert oct(result.stat().st_mode & 0o777) == "0o775"


@pytest.mark.parametrize("release", RELEASES)
def test_fewer_samples_than_devices_is_refused_clearly(om4, tmp_path, monkeypatch, release):
    select_release(monkeypatch, release)
    om, _, bins = om4
    for extra in bins[1:]:
        extra.unlink()
    with _backend(om, devices=(0, 1)) as be, pytest.raises(DataError) as err:
        be.run_folder(bins[0].parent, tmp_path / "result", "result_bs4")
    assert "1 input file(s)" in err.value.message and "at most 1 device(s)" in err.value.hint
