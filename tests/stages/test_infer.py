"""bit infer's stage: ais_bench's batching, padding, naming, summary; streaming; atomic results."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from runtime_models import FakeBackend, fake_logits, fake_options, real_model_dir, write_bins

from bitcli.errors import DataError
from bitcli.stages import infer as stage

SUMMARY_KEYS = ["filesinfo", "args", "NPU_compute_time", "H2D_latency", "D2H_latency",
                "npu_compute_time_list", "throughput", "pid", "backend", "resumed", "nonfinite_outputs"]
STAT_KEYS = ["min", "max", "mean", "median", "percentile(99%)", "count"]


def run_fake(inp: Path, out: Path, bs: int, **kwargs):
    return stage.outputs_from_bins(FakeBackend(fake_options(bs)), inp, out, argv=["bit", "infer"], **kwargs)


def test_natural_order_and_only_top_level_bin_npy(tmp_path):
    inp = tmp_path / "in"
    write_bins(inp, 12)
    (inp / "label.txt").write_text("x")
    (inp / "old_summary.json").write_text("{}")
    (inp / "sub").mkdir()
    write_bins(inp / "sub", 1)
    files = stage.input_files(inp)
    assert [p.name for p in files] == [f"{i}.bin" for i in range(12)]  # 2.bin before 10.bin


def test_short_last_batch_padded_with_its_first_file_no_outputs_for_copies(tmp_path):
    data = write_bins(tmp_path / "in", 10)
    backend = FakeBackend(fake_options(4))
    result = stage.outputs_from_bins(backend, tmp_path / "in", tmp_path / "out", argv=["x"])
    assert (result.runs, result.samples, result.padded, result.files_per_batch) == (3, 10, 2, 4)
    assert backend.shapes == [(4, 3, 8, 8)] * 3 and backend.opened and backend.closed
    outputs = sorted(p.name for p in result.result_dir.iterdir())
    assert outputs == sorted(f"{i}_0.bin" for i in range(10))
    expected = fake_logits(data)
    for i in range(10):
        np.testing.assert_array_equal(np.fromfile(result.result_dir / f"{i}_0.bin", dtype=np.float32), expected[i])


def test_summary_is_ais_bench_shaped_sibling(tmp_path):
    write_bins(tmp_path / "in", 6)
    result = run_fake(tmp_path / "in", tmp_path / "out", 4)
    assert result.summary_path == tmp_path / "out" / "result_bs4_summary.json"
    text = result.summary_path.read_text()
    assert "\n" not in text  # one line, like json.dump
    summary = json.loads(text)
    assert list(summary) == SUMMARY_KEYS
    assert list(summary["NPU_compute_time"]) == STAT_KEYS
    assert summary["NPU_compute_time"]["count"] == 2 and summary["npu_compute_time_list"] == [2.0, 2.0]
    assert summary["H2D_latency"]["count"] == 0 and summary["throughput"] == pytest.approx(1000 * 4 / 2.0)
    assert summary["backend"] == "fake" and summary["args"] == ["bit", "infer"]
    assert sorted(summary["filesinfo"], key=int) == [str(i) for i in range(6)]
    assert summary["filesinfo"]["5"] == {"infiles": [str(tmp_path / "in" / "5.bin")],
                                         "outfiles": [str(result.result_dir / "5_0.bin")]}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["result_bs4", "result_bs4_summary.json"]


def test_summary_and_result_throughput_are_bs_over_mean_by_hand(tmp_path):
    write_bins(tmp_path / "in", 12)
    backend = FakeBackend(fake_options(4), latencies=[1.0, 1.0, 7.0])  # 3 batches: mean 3, median 1
    result = stage.outputs_from_bins(backend, tmp_path / "in", tmp_path / "out", argv=["bit", "infer"])
    summary = json.loads(result.summary_path.read_text())
    # 1000 × 4 / 3 = 1333.33 samples/s; without the batch size 333.3, from the median 4000
    assert summary["throughput"] == pytest.approx(4000 / 3) and result.throughput == pytest.approx(4000 / 3)
    assert summary["NPU_compute_time"] == {"min": 1.0, "max": 7.0, "mean": 3.0, "median": 1.0,
                                           "percentile(99%)": pytest.approx(1.0 + 0.98 * 6.0), "count": 3}
    assert result.mean_compute_ms == 3.0 and summary["npu_compute_time_list"] == [1.0, 1.0, 7.0]


def test_infer_result_throughput_has_the_batch_size():
    result = stage.InferResult(backend="fake", device="cpu", bs=8, model="m", result_dir=Path("r"),
                               summary_path=Path("s"), samples=24, runs=3, files_per_batch=8, padded=0,
                               compute_ms=[4.0, 4.0, 16.0], wall_s=2.0)
    assert result.throughput == pytest.approx(1000.0)   # 1000 × 8 / 8 ms
    assert result.images_per_s == 12.0                  # 24 samples in 2 s of wall clock
    assert stage.InferResult(backend="f", device="c", bs=8, model="m", result_dir=Path("r"), summary_path=Path("s"),
                             samples=0, runs=0, files_per_batch=8, padded=0).throughput == 0.0


def test_stem_is_cut_at_first_dot_and_npy_inputs_are_read(tmp_path):
    inp = tmp_path / "in"
    data = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    inp.mkdir()
    np.save(inp / "a.b.npy", data[0])
    data[1].tofile(inp / "c.bin")
    result = run_fake(inp, tmp_path / "out", 1)
    assert sorted(p.name for p in result.result_dir.iterdir()) == ["a_0.bin", "c_0.bin"]
    np.testing.assert_array_equal(np.fromfile(result.result_dir / "a_0.bin", dtype=np.float32), fake_logits(data)[0])


def test_files_per_batch_is_input_bytes_over_file_bytes(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    data = np.random.default_rng(2).standard_normal((6, 3, 8, 8)).astype(np.float32)
    for i in range(3):  # per-batch files of 2 samples each, fed to a bs4 model
        data[2 * i:2 * i + 2].tofile(inp / f"{i}.bin")
    result = run_fake(inp, tmp_path / "out", 4)
    assert (result.files_per_batch, result.runs, result.padded) == (2, 2, 1)
    out = np.fromfile(result.result_dir / "2_0.bin", dtype=np.float32)
    np.testing.assert_array_equal(out, fake_logits(data)[4:6].ravel())  # one output per input file, 2 rows


def test_limit_takes_first_files_in_natural_order(tmp_path):
    write_bins(tmp_path / "in", 12)
    result = run_fake(tmp_path / "in", tmp_path / "out", 4, limit=5)
    assert sorted(int(p.name.split("_")[0]) for p in result.result_dir.iterdir()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("setup, words", [
    (lambda d: d.mkdir(), "holds no input files"),
    (lambda d: (d.mkdir(), (d / "a.txt").write_text("1")), "holds no input files"),
    (lambda d: None, "does not exist"),
])
def test_empty_or_missing_input_folder(tmp_path, setup, words):
    setup(tmp_path / "in")
    with pytest.raises(DataError, match=words) as info:
        run_fake(tmp_path / "in", tmp_path / "out", 1)
    assert "bit data" in info.value.hint
    assert not (tmp_path / "out" / "result_bs1").exists()


def test_file_size_not_dividing_input_is_ais_bench_error(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    np.zeros(100, np.float32).tofile(inp / "0.bin")
    with pytest.raises(DataError, match=r"tensorsize: 768 filesize: 400 not match"):
        run_fake(inp, tmp_path / "out", 1)


def test_one_file_of_the_wrong_size(tmp_path):
    inp = tmp_path / "in"
    write_bins(inp, 8)
    np.zeros(10, np.float32).tofile(inp / "5.bin")
    backend = FakeBackend(fake_options(4))
    with pytest.raises(DataError, match=r"5\.bin is 40 bytes, unlike the other 7 files \(768 bytes each\)"):
        stage.outputs_from_bins(backend, inp, tmp_path / "out", argv=["x"])
    assert backend.calls == 0 and not backend.opened  # checked before anything computed
    assert not (tmp_path / "out").exists()  # nothing written, no temp folder left behind


def test_existing_results_refused_without_force_replaced_with(tmp_path):
    write_bins(tmp_path / "in", 3)
    first = run_fake(tmp_path / "in", tmp_path / "out", 1)
    (first.result_dir / "stale_0.bin").write_bytes(b"x" * 40)
    with pytest.raises(DataError, match="already holds 4 files") as info:
        run_fake(tmp_path / "in", tmp_path / "out", 1)
    assert "--force" in info.value.hint
    again = run_fake(tmp_path / "in", tmp_path / "out", 1, force=True)
    assert sorted(p.name for p in again.result_dir.iterdir()) == ["0_0.bin", "1_0.bin", "2_0.bin"]


def test_interrupted_run_leaves_previous_result_and_no_half_folder(tmp_path):
    write_bins(tmp_path / "in", 6)
    run_fake(tmp_path / "in", tmp_path / "out", 1)
    before = (tmp_path / "out" / "result_bs1_summary.json").read_text()
    with pytest.raises(RuntimeError):
        stage.outputs_from_bins(FakeBackend(fake_options(1), fail_at=3), tmp_path / "in", tmp_path / "out", force=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["result_bs1", "result_bs1_summary.json"]
    assert len(list((tmp_path / "out" / "result_bs1").iterdir())) == 6
    assert (tmp_path / "out" / "result_bs1_summary.json").read_text() == before


def test_prefetch_reads_ahead_boundedly_in_another_thread():
    produced: list[int] = []
    threads: set[str] = set()

    def source():
        for i in range(50):
            threads.add(threading.current_thread().name)
            produced.append(i)
            yield i

    seen = []
    for item in stage._prefetch(source()):
        seen.append(item)
        if item == 4:
            import time

            time.sleep(0.2)  # let the producer run as far ahead as it may
            assert len(produced) <= 5 + stage.PREFETCH + 1
    assert seen == list(range(50)) and threads == {"bit-prefetch"}


def test_prefetch_reraises_producer_errors():
    def source():
        yield 1
        raise DataError("bad file")

    with pytest.raises(DataError, match="bad file"):
        list(stage._prefetch(source()))


def test_on_the_fly_equals_bins_from_data_stage(tmp_path, cifar_dir):
    from bitcli.stages.data import bins_from_cifar

    bins_from_cifar(cifar_dir, tmp_path / "bins", tmp_path / "label.txt", image_size=8, limit=6)
    from_bins = stage.outputs_from_bins(FakeBackend(fake_options(4)), tmp_path / "bins", tmp_path / "a")
    fly = stage.outputs_from_dataset(FakeBackend(fake_options(4)), cifar_dir, tmp_path / "b", limit=6)
    assert (fly.samples, fly.padded) == (6, 2)
    for i in range(6):
        assert (fly.result_dir / f"{i}_0.bin").read_bytes() == (from_bins.result_dir / f"{i}_0.bin").read_bytes()


# --------------------------------------------------------------------------- the real model


@pytest.fixture
def real_bins(tmp_path, cifar_dir, trained_pth):
    from bitcli.stages.data import bins_from_cifar

    bins_from_cifar(cifar_dir, tmp_path / "bins", tmp_path / "label.txt", image_size=128, limit=10)
    return tmp_path / "bins", real_model_dir(trained_pth)


def test_padding_gives_ten_outputs_equal_to_bs1_results(tmp_path, real_bins):
    from bitcli.backends.base import BackendOptions
    from bitcli.backends.onnxrt import OnnxRuntimeBackend

    bins, models = real_bins
    runs = {}
    for bs in (1, 4):
        backend = OnnxRuntimeBackend(BackendOptions(model=models / f"bit_bs{bs}_sim.onnx", batch_size=bs))
        runs[bs] = stage.outputs_from_bins(backend, bins, tmp_path / "out")
    assert (runs[4].samples, runs[4].runs, runs[4].padded) == (10, 3, 2)
    assert sorted(p.name for p in runs[4].result_dir.iterdir()) == sorted(f"{i}_0.bin" for i in range(10))
    for i in range(10):
        a = np.fromfile(runs[1].result_dir / f"{i}_0.bin", dtype=np.float32)
        b = np.fromfile(runs[4].result_dir / f"{i}_0.bin", dtype=np.float32)
        assert a.shape == (10,)
        np.testing.assert_allclose(b, a, atol=1e-4, rtol=0)
        assert a.argmax() == b.argmax()


def test_model_batch_size_mismatch(tmp_path, real_bins):
    from bitcli.backends.base import BackendOptions
    from bitcli.backends.onnxrt import OnnxRuntimeBackend
    from bitcli.errors import ConfigError

    bins, models = real_bins
    backend = OnnxRuntimeBackend(BackendOptions(model=models / "bit_bs4_sim.onnx", batch_size=8))
    with pytest.raises(ConfigError, match="batch-size-4 model, but batch size 8"):
        stage.outputs_from_bins(backend, bins, tmp_path / "out")


class FolderBackend(FakeBackend):
    """Stands in for ais_bench: runs the whole folder itself and returns its summary."""

    name = "folder"

    def run_folder(self, input_dir, output_root, dirname):
        self.ran = (input_dir, output_root, dirname)
        (output_root / dirname).mkdir(parents=True, exist_ok=True)
        (output_root / dirname / "0_0.bin").write_bytes(b"\0" * 40)
        return {"filesinfo": {"0": {}}, "npu_compute_time_list": [4.0, 6.0], "throughput": 1234.5}


def test_whole_folder_backend_runs_the_folder_itself(tmp_path):
    from bitcli.errors import ConfigError

    write_bins(tmp_path / "in", 3)
    backend = FolderBackend(fake_options(8))
    result = stage.outputs_from_bins(backend, tmp_path / "in", tmp_path / "out")
    assert backend.ran == (tmp_path / "in", tmp_path / "out", "result_bs8") and backend.calls == 0
    assert (result.throughput, result.samples, result.runs) == (1234.5, 1, 2)
    with pytest.raises(ConfigError, match="--limit is not supported by the folder backend"):
        stage.outputs_from_bins(FolderBackend(fake_options(8)), tmp_path / "in", tmp_path / "o2", limit=2)
    with pytest.raises(ConfigError, match="reads .bin folders only"):
        stage.outputs_from_dataset(FolderBackend(fake_options(8)), tmp_path, tmp_path / "o3")
