"""AisBackend against the stand-in `python -m ais_bench`: seed command, outputs, summaries, throughput, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from standin_helpers import RELEASES, STANDIN_PYLIB, ais_release_dir, build_om, make_bins, reference_logits, select_release

from bitcli.ascend.ais_output import ais_failure, parse_run_output
from bitcli.ascend.env import probe
from bitcli.backends.ais import AisBackend
from bitcli.backends.base import BackendOptions
from bitcli.errors import BackendUnavailable, DataError, ToolFailed
from bitcli.tools import ToolResult


@pytest.fixture
def om4(tmp_path, standins):
    """bit_bs4.om built by the stand-in atc from a tiny 8 px ONNX, plus 10 per-sample inputs."""
    om, onnx = build_om(tmp_path / "w")
    return om, onnx, make_bins(tmp_path / "w" / "dataset_bin", 10)


def _backend(om, devices=(0,), bs=4):
    return AisBackend(BackendOptions(model=om, batch_size=bs, image_size=8, devices=devices))


def _outputs(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.fromfile(p, dtype=np.float32) for p in folder.iterdir()}


def test_run_folder_outputs_match_onnxruntime(om4, tmp_path, capsys):
    from bitcli import ui

    om, onnx, bins = om4
    ui.state.verbose = True
    with _backend(om) as be:
        summary = be.run_folder(bins[0].parent, tmp_path / "result", "result_bs4")
    cmd = capsys.readouterr().err
    assert f"-m ais_bench --model {om.resolve()} --input {bins[0].parent.resolve()} --output {(tmp_path / 'result').resolve()} " \
           "--output_dirname result_bs4 --outfmt BIN --batchsize 4 --device 0" in " ".join(cmd.split())
    folder = tmp_path / "result" / "result_bs4"
    got = _outputs(folder)
    # 10 samples in batches of 4: 3 runs, the last padded with copies, which get no output
    assert sorted(got) == sorted(f"{i}_0.bin" for i in range(10))
    expected = reference_logits(onnx, bins)
    for i in range(10):
        np.testing.assert_allclose(got[f"{i}_0.bin"], expected[i], rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "result" / "result_bs4_summary.json").read_text())["throughput"] == summary["throughput"]
    assert summary["NPU_compute_time"]["count"] == 3 == len(summary["npu_compute_time_list"])
    mean = np.mean(summary["npu_compute_time_list"])
    assert summary["throughput"] == pytest.approx(1000 * 4 / mean)
    assert len(summary["filesinfo"]) == 10 and summary["backend"] == "ascend"


@pytest.mark.parametrize("release", RELEASES)
def test_bench_reads_the_times_of_every_release(om4, monkeypatch, release, capsys):
    from bitcli import ui

    select_release(monkeypatch, release)
    monkeypatch.setenv("STANDIN_AIS_LATENCY_MS", "0:1,2,6")
    om, _, _ = om4
    ui.state.verbose = True
    with _backend(om) as be:
        times = be.bench_latencies(loop=7, warmup=2)
    assert times == [1, 2, 6, 1, 2, 6, 1]  # ais_bench's own npu_compute_time_list, after warm-up
    assert "--loop 7 --batchsize 4 --device 0 --warmup_count 2" in " ".join(capsys.readouterr().err.split())


def test_throughput_lines_of_each_release():
    new = parse_run_output("[INFO] throughput 1000*batchsize.mean(64)/NPU_compute_time.mean(13.476432624680307): 4749.03127425521")
    assert (new.batchsize, new.throughput) == ("64", 4749.03127425521)
    mid = parse_run_output("[INFO] throughput 1000*batchsize(16)/NPU_compute_time.mean(9.1): 1758.0")
    assert (mid.batchsize, mid.throughput) == ("16", 1758.0)
    assert parse_run_output("[INFO] throughput 1000*batchsize(16)/NPU_compute_time.mean(0.0): nan").throughput is None
    npu = parse_run_output("[INFO] NPU_compute_time (ms): min = 13.38, max = 13.64, mean = 13.47, median = 13.47, "
                           "percentile(99%) = 13.55")  # fmt: skip
    assert npu.npu_compute_time == {"min": 13.38, "max": 13.64, "mean": 13.47, "median": 13.47, "percentile(99%)": 13.55}
    assert parse_run_output("[INFO] warm up 1 done\n").throughput is None


def test_a_run_without_throughput_is_a_failure_not_zero():
    res = ToolResult(["python3", "-m", "ais_bench", "--loop", "5"], 0, "[INFO] acl init success\n")
    err = ais_failure(res, bs=4, no_throughput=True)
    assert "printed no throughput line" in err.message and "python3 -m ais_bench --loop 5" in err.hint


def _fail(om, input_dir, tmp_path, devices=(0,)):
    with _backend(om, devices=devices) as be, pytest.raises(ToolFailed) as err:
        be.run_folder(input_dir, tmp_path / "result", "result_bs4")
    return " ".join([err.value.message, err.value.hint or ""])


def test_error_tensorsize_filesize_not_match(om4, tmp_path):
    om, _, _ = om4
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "0.bin").write_bytes(b"\0" * 100)
    text = _fail(om, odd, tmp_path)
    assert "input files are 100 bytes each but the bs4 model takes 3072 bytes per batch" in text
    assert "one sample per .bin" in text


def test_error_invalid_input_folder(om4, tmp_path):
    om, _, _ = om4
    (tmp_path / "empty").mkdir()
    assert "holds no .bin/.npy files" in _fail(om, tmp_path / "empty", tmp_path)
    assert "does not exist" in _fail(om, tmp_path / "missing", tmp_path)


def test_error_group_writable_file_in_input(om4, tmp_path):
    om, _, bins = om4
    (bins[0].parent / "label.txt").write_text("0\n")
    (bins[0].parent / "label.txt").chmod(0o664)  # what umask 002 makes; ait 2024 refuses it
    text = _fail(om, bins[0].parent, tmp_path)
    assert "writable by group or others" in text and "chmod -R go-w" in text


def test_symlinked_input_folder_is_resolved_but_linked_files_are_explained(om4, tmp_path):
    om, _, bins = om4
    link = tmp_path / "linked"
    link.symlink_to(bins[0].parent)
    with _backend(om) as be:  # the driver passes the real path, so ait 2024 accepts it
        assert be.run_folder(link, tmp_path / "result", "result_bs4")["throughput"] > 0
    (bins[0].parent / "10.bin").symlink_to(bins[0])
    text = _fail(om, bins[0].parent, tmp_path)
    assert "because it is a symbolic link" in text and "replace the link" in text


def test_error_illegal_characters_in_output(om4, tmp_path):
    om, _, bins = om4
    with _backend(om) as be, pytest.raises(ToolFailed) as err:
        be.run_folder(bins[0].parent, tmp_path / "my results", "result_bs4")
    assert "only letters, digits, _ - / . are allowed" in err.value.message


def test_error_missing_device(om4, tmp_path):
    om, _, bins = om4
    assert "could not open NPU device 7" in _fail(om, bins[0].parent, tmp_path, devices=(7,))


def test_older_versions_accept_what_ait_2024_refuses(om4, tmp_path, monkeypatch):
    select_release(monkeypatch, "2023")
    om, _, bins = om4
    (bins[0].parent / "label.txt").write_text("0\n")
    (bins[0].parent / "label.txt").chmod(0o664)
    with _backend(om) as be:
        assert be.run_folder(bins[0].parent, tmp_path / "result", "result_bs4")["throughput"] > 0


def test_missing_om_names_bit_atc(standins, tmp_path):
    with pytest.raises(DataError) as err:
        _backend(tmp_path / "bit_bs4.om").open()
    assert "bit atc --bs 4" in err.value.hint


def test_available_reasons(no_ascend):
    reason = AisBackend.available()
    assert reason and "ais_bench/aclruntime are not importable" in reason


def test_available_after_sourcing_set_env(sourced):
    assert AisBackend.available() is None
    found = probe()
    assert found.sourced and "ASCEND_TOOLKIT_HOME" in found.env


def test_run_folder_after_sourcing_set_env(om4, sourced, tmp_path):
    om, _, bins = om4
    with _backend(om) as be:
        assert be.run_folder(bins[0].parent, tmp_path / "result", "result_bs4")["throughput"] > 0


@pytest.mark.parametrize("release", ["2022-11", "2023", "2024", "2025"])
def test_infer_one_batch_through_python_api(om4, monkeypatch, release):
    """tools 2022-11/2023 have only sumary() (durations), ait 2024/tools 2025 summary() (start, end pairs)."""
    om, onnx, bins = om4
    select_release(monkeypatch, release)
    for name in [m for m in sys.modules if m == "ais_bench" or m.startswith("ais_bench.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(ais_release_dir(release)))
    monkeypatch.syspath_prepend(str(STANDIN_PYLIB))
    from ais_bench.infer.interface import InferSession

    assert hasattr(InferSession, "summary") == (release in ("2024", "2025")) != hasattr(InferSession, "sumary")
    batch = np.stack([np.fromfile(p, dtype=np.float32).reshape(3, 8, 8) for p in bins[:4]])
    with _backend(om) as be:
        out = be.infer(batch)
        assert be.last_latency_ms > 0
    np.testing.assert_allclose(out, reference_logits(onnx, bins[:4]), rtol=1e-5, atol=1e-6)


def test_infer_without_python_api_explains(om4, monkeypatch):
    om, _, _ = om4
    for name in [m for m in sys.modules if m == "ais_bench" or m.startswith("ais_bench.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ais_bench", None)
    with _backend(om) as be, pytest.raises(BackendUnavailable) as err:
        be.infer(np.zeros((4, 3, 8, 8), np.float32))
    assert "Python API" in err.value.message and "python3 -m ais_bench" in err.value.hint


def test_profile_set_env_decides_availability(no_ascend, tmp_path):
    """ascend.set_env from a profile (not only $BIT_SET_ENV) is what `auto`/`ascend` selection sources."""
    import pytest as _pytest

    from bitcli.backends.base import select_backend
    from bitcli.errors import BackendUnavailable

    standin_set_env = Path(__file__).resolve().parents[1] / "standins" / "set_env.sh"
    with _pytest.raises(BackendUnavailable):
        select_backend("ascend", {"set_env": str(tmp_path / "missing" / "set_env.sh")})
    cls, why = select_backend("ascend", {"set_env": str(standin_set_env)})
    assert cls.name == "ascend" and "requested" in why
    assert select_backend("auto", {"set_env": str(standin_set_env)})[0].name == "ascend"
    assert select_backend("auto", {})[0].name == "onnxruntime"
