"""Multi-device figures and summary reading (bitcli.ascend.ais_results), by hand-worked numbers."""

from __future__ import annotations

import json
import math

import pytest

from bitcli.ascend.ais_results import (combine_devices, device_folders, multi_device_latencies, read_summary,
                                       summed_throughput)
from bitcli.ascend.flavours import AIT_2024, TOOLS_2023
from bitcli.errors import ToolFailed


def test_summed_throughput_is_the_plain_sum():
    assert summed_throughput([100.5, 200.25]) == 300.75
    assert summed_throughput([0.0, 7.0]) == 7.0  # a zero figure is a figure
    assert summed_throughput([]) == 0.0
    assert isinstance(summed_throughput([1, 2]), float)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf")])
def test_summed_throughput_refuses_a_device_figure_that_is_not_a_number(bad):
    with pytest.raises(ToolFailed) as info:
        summed_throughput([10.0, bad])
    assert info.value.message == f"ais_bench reported a device throughput of {bad}"


def test_latencies_of_no_device_and_of_one_device_are_unchanged():
    assert multi_device_latencies([]) == []
    assert multi_device_latencies([[], []]) == []
    assert multi_device_latencies([[1, 2]]) == [1.0, 2.0]
    assert multi_device_latencies([[3], []]) == [3.0]
    assert multi_device_latencies([[0.0, 0.0]]) == [0.0, 0.0]  # one device: passed through, not judged


def test_sub_millisecond_devices_are_combined_too():
    # means 0.5 and 1.0 -> combined 1 / (2 + 1) = 1/3 ms for each time
    times = multi_device_latencies([[0.5], [1.0]])
    assert all(math.isclose(t, 1 / 3) for t in times) and len(times) == 2


def test_two_equal_devices_halve_each_time():
    # means 3 and 3 -> combined 1 / (1/3 + 1/3) = 1.5 -> each time × 1.5 / 3
    assert multi_device_latencies([[2, 4], [3]]) == [1.0, 2.0, 1.5]


def test_unequal_devices_keep_the_summed_throughput():
    # means 10 and 20 -> combined 1 / (1/10 + 1/20) = 20/3
    times = multi_device_latencies([[8, 12], [20]])
    expected = [8 * (20 / 3) / 10, 12 * (20 / 3) / 10, 20 * (20 / 3) / 20]  # 16/3, 8, 20/3
    assert all(math.isclose(a, b) for a, b in zip(times, expected)) and len(times) == 3
    # 1000 × bs / mean equals the sum of the devices' own figures (bs 4): 400 + 200
    assert math.isclose(1000 * 4 / (sum(times) / len(times)), 1000 * 4 / 10 + 1000 * 4 / 20)


@pytest.mark.parametrize("lists", [[[0, 0], [1]], [[-1], [1]], [[float("nan")], [1]], [[1], [float("inf")]]])
def test_latencies_refuse_a_device_mean_that_is_not_positive_and_finite(lists):
    with pytest.raises(ToolFailed) as info:
        multi_device_latencies(lists)
    assert info.value.message.startswith("ais_bench reported non-positive mean compute times [")


def _summary(folder, data):
    folder.parent.mkdir(parents=True, exist_ok=True)
    (folder.parent / f"{folder.name}_summary.json").write_text(json.dumps(data))


def test_read_summary_reads_the_sibling_json(tmp_path):
    _summary(tmp_path / "result_bs8", {"throughput": 5.0})
    assert read_summary(tmp_path / "result_bs8") == {"throughput": 5.0}


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"])
def test_read_summary_refuses_a_missing_or_broken_file(tmp_path, content):
    if content is not None:
        (tmp_path / "result_bs8_summary.json").write_text(content)
    with pytest.raises(ToolFailed) as info:
        read_summary(tmp_path / "result_bs8")
    assert info.value.message == f"ais_bench finished but wrote no readable summary {tmp_path / 'result_bs8_summary.json'}"


def test_device_folders_follow_the_release_naming(tmp_path):
    assert device_folders(tmp_path, (3, 1), AIT_2024) == [tmp_path / "device3_0", tmp_path / "device1_1"]
    assert device_folders(tmp_path, (3, 1), TOOLS_2023) == [tmp_path / "device3", tmp_path / "device1"]


def test_combine_devices_merges_files_times_and_sums_throughput(tmp_path):
    a, b = tmp_path / "r" / "device0_0", tmp_path / "r" / "device1_1"
    _summary(a, {"throughput": 100.0, "npu_compute_time_list": [2, 4],
                 "filesinfo": {"0": {"infiles": ["x0.bin"], "outfiles": ["x0_0.bin"], "extra": 1}}})
    _summary(b, {"throughput": 50.5, "npu_compute_time_list": [3],
                 "filesinfo": {"0": {"infiles": ["y0.bin"], "outfiles": ["y0_0.bin"]},
                               "1": {"infiles": ["y1.bin"]}, "2": {"outfiles": ["z_0.bin"]}}})
    merged = combine_devices([a, b], None)
    assert merged == {
        "filesinfo": {"0": {"infiles": ["x0.bin"], "outfiles": ["x0_0.bin"]},
                      "1": {"infiles": ["y0.bin"], "outfiles": ["y0_0.bin"]},
                      "2": {"infiles": ["y1.bin"], "outfiles": []},
                      "3": {"infiles": [], "outfiles": ["z_0.bin"]}},
        "NPU_compute_time": {"mean": 3.0, "count": 3},  # (2 + 4 + 3) / 3
        "npu_compute_time_list": [2.0, 4.0, 3.0],
        "throughput": 150.5,
        "devices": {"device0_0": 100.0, "device1_1": 50.5},
    }
    assert combine_devices([a, b], 149.0)["throughput"] == 149.0  # ais_bench's printed figure wins
    assert combine_devices([a, b], 0.0)["throughput"] == 0.0


def test_combine_devices_counts_a_device_without_figures_as_zero(tmp_path):
    a, b = tmp_path / "device0", tmp_path / "device1"
    _summary(a, {"throughput": 20.0, "npu_compute_time_list": [5]})
    _summary(b, {"throughput": None})
    merged = combine_devices([a, b], None)
    assert merged["throughput"] == 20.0
    assert merged["devices"] == {"device0": 20.0, "device1": 0.0}
    assert merged["filesinfo"] == {} and merged["NPU_compute_time"] == {"mean": 5.0, "count": 1}
