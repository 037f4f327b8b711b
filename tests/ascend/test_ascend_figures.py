"""The Ascend figures a user reads, against values worked out by hand from ais_bench's own formulas.

ais_bench: per device, throughput = 1000 × batchsize / mean(NPU_compute_time);
several devices: ``summary throughput`` = the sum of the per-device figures
(reference/ascend-tools.md §2.5–2.6). The stand-in records hand-chosen,
asymmetric compute times per device (STANDIN_AIS_LATENCY_MS), so every
expected number below is arithmetic on those times, never bit's own code.
A non-zero exit of ATC or of any one ais_bench device is a failure even when
"success" or a throughput was printed.
"""

from __future__ import annotations

import json

import pytest
from bit_testlib import invoke
from standin_helpers import build_om, make_bins, make_onnx, select_release

from bitcli.backends.ais import AisBackend
from bitcli.backends.base import BackendOptions
from bitcli.errors import ToolFailed

# device 0: 1, 2, 6 ms (mean 3); device 1: 4, 4, 10 ms (mean 6); bs 4
SLOW_FAST = "0:1,2,6;1:4,4,10"
BS4_DEVICE0 = 1000 * 4 / 3     # 1333.33 samples/s
BS4_DEVICE1 = 1000 * 4 / 6     # 666.67 samples/s


@pytest.fixture
def om4(tmp_path, standins):
    om, _ = build_om(tmp_path / "w")
    return om, make_bins(tmp_path / "w" / "dataset_bin", 16)


def _backend(om, devices):
    return AisBackend(BackendOptions(model=om, batch_size=4, image_size=8, devices=devices))


@pytest.mark.parametrize("release", ["2022-11", "2023", "2025"])
def test_two_unequal_devices_bench_to_the_summed_throughput(om4, monkeypatch, release):
    select_release(monkeypatch, release)
    monkeypatch.setenv("STANDIN_AIS_LATENCY_MS", SLOW_FAST)
    om, _ = om4
    with _backend(om, (0, 1)) as be:
        times = be.bench_latencies(loop=3, warmup=2)
    assert len(times) == 6
    assert 1000 * 4 / (sum(times) / len(times)) == pytest.approx(BS4_DEVICE0 + BS4_DEVICE1)  # 2000.0
    # each device keeps its own spread: 1:2:6 and 4:4:10, scaled to the combined 2 ms per batch
    assert sorted(times) == pytest.approx(sorted([2 / 3, 4 / 3, 4.0, 4 / 3, 4 / 3, 10 / 3]))


def test_one_device_bench_is_1000_bs_over_the_mean(om4, monkeypatch):
    monkeypatch.setenv("STANDIN_AIS_LATENCY_MS", SLOW_FAST)
    om, _ = om4
    with _backend(om, (1,)) as be:
        assert be.bench_latencies(loop=3, warmup=0) == [4, 4, 10]


def test_bit_bench_cli_shows_the_summed_figure(runner, om4, monkeypatch, tmp_path):
    monkeypatch.setenv("STANDIN_AIS_LATENCY_MS", SLOW_FAST)
    monkeypatch.setenv("BIT_DEVICES", "0,1")
    om, _ = om4
    (tmp_path / "p.yaml").write_text("model: {image_size: 8}\nbench: {loop: 3, warmup: 1}\n")
    result = invoke(runner, "bench", "--bs", "4", "--backend", "ascend", "-w", str(om.parent), "-p",
                    str(tmp_path / "p.yaml"), "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["results"][0]
    assert row["throughput"] == pytest.approx(2000.0)


@pytest.mark.parametrize("summary_line", [True, False])
@pytest.mark.parametrize("release", ["2023", "2024", "2025"])
def test_infer_on_two_devices_sums_their_throughputs(om4, monkeypatch, tmp_path, release, summary_line):
    """16 samples, bs 4, split 8/8: two batches per device. Without ais_bench's summed line bit sums itself."""
    select_release(monkeypatch, release)
    monkeypatch.setenv("STANDIN_AIS_LATENCY_MS", "0:2,3;1:8,12")  # means 2.5 and 10 ms
    if not summary_line:
        monkeypatch.setenv("STANDIN_AIS_NO_SUMMARY_LINE", "1")
    om, bins = om4
    with _backend(om, (0, 1)) as be:
        summary = be.run_folder(bins[0].parent, tmp_path / "result", "result_bs4")
    assert summary["throughput"] == pytest.approx(1000 * 4 / 2.5 + 1000 * 4 / 10)  # 1600 + 400 = 2000, not max 1600
    written = json.loads((tmp_path / "result" / "result_bs4_summary.json").read_text())  # bit's combined summary
    assert written["npu_compute_time_list"] == [2, 3, 8, 12] and written["throughput"] == summary["throughput"]


def test_bit_infer_cli_shows_the_summed_figure(runner, om4, monkeypatch, tmp_path):
    monkeypatch.setenv("STANDIN_AIS_LATENCY_MS", "0:2,3;1:8,12")
    monkeypatch.setenv("STANDIN_AIS_NO_SUMMARY_LINE", "1")
    monkeypatch.setenv("BIT_DEVICES", "0,1")
    om, bins = om4
    (tmp_path / "p.yaml").write_text("model: {image_size: 8}\n")
    result = invoke(runner, "infer", "--bs", "4", "--backend", "ascend", "-w", str(om.parent), "-p",
                    str(tmp_path / "p.yaml"), "--input", str(bins[0].parent))
    assert result.exit_code == 0, result.output
    assert "2,000.00 samples/s" in result.stdout and "outputs" in result.stdout and " 16 in " in result.stdout


@pytest.mark.parametrize("release", ["2022-11", "2023", "2025"])
def test_one_failing_device_fails_the_run(om4, monkeypatch, tmp_path, release):
    """Device 1 does not exist: device 0 still prints a throughput, but the run is a failure."""
    select_release(monkeypatch, release)
    monkeypatch.setenv("STANDIN_NPU_DEVICES", "0")
    om, bins = om4
    with _backend(om, (0, 1)) as be, pytest.raises(ToolFailed) as err:
        be.run_folder(bins[0].parent, tmp_path / "result", "result_bs4")
    assert "could not open NPU device 1" in err.value.message
    assert not (tmp_path / "result" / "result_bs4_summary.json").exists()
    with _backend(om, (0, 1)) as be, pytest.raises(ToolFailed, match="device 1"):
        be.bench_latencies(loop=2, warmup=0)


def test_atc_exit_code_decides_even_after_success_was_printed(runner, standins, tmp_path, monkeypatch):
    work = tmp_path / "w"
    make_onnx(work / "bit_bs4_sim.onnx", 4)
    (tmp_path / "p.yaml").write_text("model: {image_size: 8}\n")
    monkeypatch.setenv("STANDIN_ATC_CRASH_AFTER_SUCCESS", "134")
    result = invoke(runner, "atc", "--bs", "4", "-p", str(tmp_path / "p.yaml"), "-w", str(work))
    assert result.exit_code == 1
    err = " ".join(result.stderr.split())
    assert "ATC printed 'ATC run success' but exited 134" in err
    assert not (work / "bit_bs4.om").exists() and not (work / "bit_bs4.om.json").exists()
