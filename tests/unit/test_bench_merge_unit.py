"""bench.json merging, worked by hand: one row per (backend, bs); nothing of another backend or bs is lost."""

from __future__ import annotations

import json

from bitcli.stages.bench import merge_bench_json, read_bench_json

ORT = {"backend": "onnxruntime", "device": "cpu", "loop": 50, "warmup": 5,
       "results": [{"bs": 1, "throughput": 10.0}, {"bs": 4, "throughput": 30.0}]}


def test_first_run_is_written_as_it_is():
    new = {"backend": "torch", "device": "cpu", "loop": 5, "warmup": 1, "results": [{"bs": 8, "throughput": 2.0}]}
    assert merge_bench_json(None, new) == new
    assert merge_bench_json({}, new) == new


def test_another_backend_moves_under_other_backends_whole():
    new = {"backend": "torch", "device": "cpu", "loop": 50, "warmup": 5, "results": [{"bs": 1, "throughput": None}]}
    merged = merge_bench_json(ORT, new)
    assert merged["backend"] == "torch" and merged["results"] == [{"bs": 1, "throughput": None}]
    assert merged["other_backends"] == {"onnxruntime": ORT}
    back = {"backend": "onnxruntime", "device": "cpu", "loop": 50, "warmup": 5, "results": [{"bs": 4, "throughput": 31.0}]}
    again = merge_bench_json(merged, back)  # the onnxruntime document comes back up, torch's goes down
    assert again["results"] == [{"bs": 1, "throughput": 10.0}, {"bs": 4, "throughput": 31.0}]
    assert again["other_backends"] == {"torch": {k: v for k, v in merged.items() if k != "other_backends"}}


def test_same_backend_replaces_only_its_batch_sizes_and_sorts_by_bs():
    new = {"backend": "onnxruntime", "device": "cpu", "loop": 50, "warmup": 5,
           "results": [{"bs": 16, "throughput": 40.0}, {"bs": 1, "throughput": 11.0}]}
    merged = merge_bench_json(ORT, new)
    assert merged["results"] == [{"bs": 1, "throughput": 11.0}, {"bs": 4, "throughput": 30.0}, {"bs": 16, "throughput": 40.0}]
    assert "other_backends" not in merged


def test_this_runs_order_is_kept_when_nothing_joins():
    new = {"backend": "onnxruntime", "device": "cpu", "loop": 50, "warmup": 5,
           "results": [{"bs": 4, "throughput": 1.0}, {"bs": 1, "throughput": 2.0}]}
    assert [r["bs"] for r in merge_bench_json(ORT, new)["results"]] == [4, 1]


def test_kept_rows_carry_the_settings_they_were_measured_with():
    new = {"backend": "onnxruntime", "device": "npu", "loop": 3, "warmup": 5, "results": [{"bs": 4, "throughput": 1.0}]}
    kept = merge_bench_json(ORT, new)["results"][0]
    assert kept == {"bs": 1, "throughput": 10.0, "device": "cpu", "loop": 50}  # warmup equal: not repeated
    tagged = {**ORT, "results": [{"bs": 1, "throughput": 10.0, "loop": 7}]}
    assert merge_bench_json(tagged, new)["results"][0] == {"bs": 1, "throughput": 10.0, "loop": 7, "device": "cpu"}


def test_junk_in_an_old_file_is_dropped_not_fatal():
    old = {"backend": "onnxruntime", "results": ["junk", {"bs": 2, "throughput": 5.0}],
           "other_backends": {"torch": "junk", "ascend": {"backend": "ascend", "results": []}}}
    new = {"backend": "onnxruntime", "results": [{"bs": 1, "throughput": 1.0}]}
    merged = merge_bench_json(old, new)
    assert merged["results"] == [{"bs": 1, "throughput": 1.0}, {"bs": 2, "throughput": 5.0}]
    assert merged["other_backends"] == {"ascend": {"backend": "ascend", "results": []}}
    assert merge_bench_json({"backend": 3, "results": [{"bs": 9}]}, new) == new  # no backend name: nothing to keep


def test_read_bench_json(tmp_path):
    path = tmp_path / "bench.json"
    assert read_bench_json(path) is None
    path.write_text(json.dumps(ORT))
    assert read_bench_json(path) == ORT
    path.write_text("[1, 2]")
    assert read_bench_json(path) is None
    (tmp_path / "dir.json").mkdir()
    assert read_bench_json(tmp_path / "dir.json") is None
