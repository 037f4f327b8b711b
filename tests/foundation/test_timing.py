"""ais_bench's throughput and latency figures, checked against values worked out by hand.

Latencies are asymmetric on purpose: with equal times (or a symmetric set such
as 10, 20, 30, 40) mean and median agree and a median-for-mean bug hides.
"""

from __future__ import annotations

import math

import pytest

from bitcli.errors import BitError
from bitcli.timing import STAT_KEYS, latency_stats, mean_ms, throughput


def test_throughput_matches_ais_bench_printed_figure():
    # ascend-tools.md §2.6, a real ais_bench log line:
    # throughput 1000*batchsize.mean(64)/NPU_compute_time.mean(13.476432624680307): 4749.03127425521
    assert throughput(64, 13.476432624680307) == pytest.approx(4749.03127425521, rel=1e-12)


def test_throughput_by_hand_and_zero_mean():
    assert throughput(8, 5.0) == 1600.0          # 1000 × 8 / 5
    assert throughput(1, 4.0) == 250.0
    assert throughput(16, 0.0) == 0.0            # ais_bench: 0 when nothing was timed
    assert throughput(4, 0.5) == 8000.0          # sub-millisecond batches are real figures


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_throughput_refuses_a_bad_mean(bad):
    with pytest.raises(BitError, match="not a positive number") as err:
        throughput(8, bad)
    assert err.value.hint == "the backend's timer returned a bad value; rerun with --debug"


def test_latency_stats_asymmetric_by_hand():
    stats = latency_stats([2.0, 10.0, 3.0], percentiles=(90, 99))
    # sorted 2, 3, 10: mean 15/3 = 5, median 3; linear percentile at rank (n-1)·q:
    # p90 → rank 1.8 → 3 + 0.8·7 = 8.6; p99 → rank 1.98 → 3 + 0.98·7 = 9.86
    assert stats == {"min": 2.0, "max": 10.0, "mean": 5.0, "median": 3.0,
                     "percentile(90%)": pytest.approx(8.6), "percentile(99%)": pytest.approx(9.86), "count": 3}
    assert list(latency_stats([1.0])) == list(STAT_KEYS)  # ais_bench's key order


def test_latency_stats_even_count_median_and_one_outlier():
    stats = latency_stats([1.0, 1.0, 1.0, 97.0])
    assert stats["mean"] == 25.0 and stats["median"] == 1.0
    assert stats["percentile(99%)"] == pytest.approx(1.0 + 0.97 * 96.0)  # rank 2.97 between 1 and 97


def test_no_times_is_all_zero_count_zero():
    assert latency_stats([]) == {"min": 0.0, "max": 0.0, "mean": 0.0, "median": 0.0, "percentile(99%)": 0.0, "count": 0}
    assert mean_ms([]) == 0.0


def test_mean_is_exact_for_many_small_values():
    assert mean_ms([0.1] * 10) == pytest.approx(0.1, abs=1e-15)
    assert mean_ms([1.0, 2.0, 6.0]) == 3.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.5])
def test_bad_times_are_failures_not_figures(bad):
    with pytest.raises(BitError, match="1 of 3 compute times") as err:
        latency_stats([1.0, bad, 2.0])
    assert err.value.hint == "the backend's timer returned a bad value; rerun with --debug"


def test_zero_and_sub_millisecond_times_are_figures():
    assert latency_stats([0.0, 0.5, 0.25])["mean"] == 0.25  # a coarse timer may read 0.0 ms
