"""bit bench's stage: warm-up excluded, the backend's own timer, failed rows kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

from runtime_models import FakeBackend, fake_options

from bitcli.errors import DataError
from bitcli.stages.bench import bench_one, throughput_per_bs


class ScriptedBackend(FakeBackend):
    """Reports latencies from a script: warm-up runs first (huge), then the timed ones."""

    script: list[float] = []

    def infer(self, batch):
        out = super().infer(batch)
        self.last_latency_ms = self.script[self.calls - 1]
        return out


def test_warmup_excluded_throughput_from_mean():
    backend = ScriptedBackend(fake_options(4))
    backend.script = [1000.0, 1000.0] + [10.0, 20.0, 30.0, 40.0]
    row = bench_one(backend, 4, warmup=2, loop=4)
    assert backend.calls == 6 and backend.shapes[0] == (4, 3, 8, 8)
    assert row.status == "ok" and row.runs == 4
    assert row.latency_ms["mean"] == pytest.approx(25.0)
    assert row.throughput == pytest.approx(1000 * 4 / 25.0)
    arr = np.array([10.0, 20.0, 30.0, 40.0])
    assert row.latency_ms["percentile(90%)"] == pytest.approx(np.percentile(arr, 90))


def test_asymmetric_latencies_throughput_is_ais_bench_mean_not_median():
    backend = ScriptedBackend(fake_options(8))
    backend.script = [50.0] + [2.0, 3.0, 10.0]  # one warm-up, then mean 5, median 3
    row = bench_one(backend, 8, warmup=1, loop=3)
    assert row.throughput == pytest.approx(1600.0)  # 1000 × 8 / 5 (the median would give 2666.7)
    assert row.latency_ms == {"min": 2.0, "max": 10.0, "mean": 5.0, "median": 3.0, "percentile(90%)": pytest.approx(8.6),
                              "percentile(99%)": pytest.approx(9.86), "count": 3}


def test_a_nan_latency_fails_the_row_not_a_figure():
    class NanTimer(FakeBackend):
        def infer(self, batch):
            out = super().infer(batch)
            self.last_latency_ms = float("nan")
            return out

    result = throughput_per_bs(NanTimer, lambda bs: fake_options(bs), (2,), warmup=0, loop=2)
    assert result.rows[0].status == "failed" and result.rows[0].throughput is None
    assert "not finite" in result.rows[0].reason


def test_backend_own_bench_mode_is_used():
    class Whole(FakeBackend):
        def bench_latencies(self, loop, warmup):
            self.asked = (loop, warmup)
            return [2.0] * loop

    backend = Whole(fake_options(8))
    row = bench_one(backend, 8, warmup=3, loop=5)
    assert backend.asked == (5, 3) and backend.calls == 0
    assert row.throughput == pytest.approx(4000.0)


def test_failed_batch_size_stays_a_row(tmp_path):
    class Picky(FakeBackend):
        def open(self):
            if self.options.batch_size == 4:
                raise DataError("model file not found: bit_bs4_sim.onnx")

    class Crashy(FakeBackend):
        def infer(self, batch):
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION\nmore lines")

    path = tmp_path / "bench.json"
    result = throughput_per_bs(Picky, lambda bs: fake_options(bs), (1, 4, 8), warmup=1, loop=3, json_path=path)
    assert [r.status for r in result.rows] == ["ok", "failed", "ok"]
    assert result.rows[1].reason == "model file not found: bit_bs4_sim.onnx"
    assert [r.bs for r in result.failed] == [4]
    doc = json.loads(path.read_text())
    assert doc["backend"] == "fake" and doc["device"] == "fake"
    assert doc["results"][0] == {"bs": 1, "throughput": pytest.approx(500.0),
                                 "latency_ms": {"min": 2.0, "max": 2.0, "mean": 2.0, "median": 2.0, "percentile(90%)": 2.0,
                                                "percentile(99%)": 2.0, "count": 3}, "status": "ok", "run": "done"}
    assert doc["results"][1]["status"] == "failed" and doc["results"][1]["throughput"] is None
    assert doc["results"][1]["reason"] == "model file not found: bit_bs4_sim.onnx" and "reason" not in doc["results"][0]
    assert result.rows[1].model == "fake.model" and (doc["loop"], doc["warmup"]) == (3, 1)
    crashed = throughput_per_bs(Crashy, lambda bs: fake_options(bs), (2,), warmup=0, loop=1)
    assert crashed.rows[0].reason == "RuntimeError: [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION"


def test_timed_input_is_a_fixed_float32_batch_spanning_minus_one_to_one():
    seen = []

    class Recording(FakeBackend):
        def infer(self, batch):
            seen.append(batch.copy())
            return super().infer(batch)

    bench_one(Recording(fake_options(4)), 4, warmup=1, loop=2)
    bench_one(Recording(fake_options(4)), 4, warmup=0, loop=1)
    assert all(b.dtype == np.float32 and b.shape == (4, 3, 8, 8) for b in seen)
    assert seen[0].min() < -0.95 and seen[0].max() > 0.95 and np.abs(seen[0]).max() <= 1.0  # -1..1, not 0..1
    assert len(np.unique(seen[0])) > 700  # random, not a constant tensor
    assert all(np.array_equal(b, seen[0]) for b in seen)  # the same input every run and every call


def test_rows_and_json_keep_every_field(tmp_path):
    class Described(FakeBackend):
        def describe(self):
            return "fake device 0"

    class Crashy(Described):
        def infer(self, batch):
            raise ValueError("  ")  # a runtime error with no text

    rows = []
    path = tmp_path / "bench.json"
    result = throughput_per_bs(Described, lambda bs: fake_options(bs, model=f"m{bs}.onnx"), (2,), warmup=0, loop=2,
                               json_path=path, on_row=rows.append)
    assert rows == result.rows and rows[0].model == "m2.onnx" and rows[0].bs == 2
    assert result.device == "fake device 0" and result.json_path == path
    text = path.read_text()
    assert text.startswith('{\n  "backend": "fake",\n  "precision": "fp32",\n  "device": "fake device 0",\n  "loop": 2,\n  "warmup": 0,')
    assert text.endswith("}\n")
    crashed = throughput_per_bs(Crashy, lambda bs: fake_options(bs, model="c.onnx"), (8,), warmup=0, loop=1)
    (row,) = crashed.rows
    assert (row.bs, row.status, row.reason, row.model, row.throughput) == (8, "failed", "ValueError: ", "c.onnx", None)
    assert row.to_json() == {"bs": 8, "throughput": None, "latency_ms": None, "status": "failed", "run": "failed",
                             "reason": "ValueError: "}
    assert crashed.device == "fake"  # no row ran: the backend's name
    assert crashed.to_json()["results"] == [row.to_json()]
