"""Class A: no wrong number with exit 0 — NaN/inf, unchecked writes, inputs that do not fit, duplicate stems."""

from __future__ import annotations

import os
import numpy as np
import pytest

from bit_testlib import invoke
from fault_lib import bit_proc, one_line_failure, small_fs, tree_state
from runtime_models import FakeBackend, fake_options, write_bins

from bitcli.errors import DataError, ExportError
from bitcli.stages import infer as stage
from bitcli.verify import compare

NAN, INF = float("nan"), float("inf")


# --------------------------------------------------------------------------- the one comparison helper


@pytest.mark.parametrize("bad, side, count, first", [
    (NAN, "ref", 1, [(0, 2)]), (NAN, "test", 1, [(0, 2)]), (INF, "ref", 1, [(0, 2)]),
    (INF, "test", 1, [(0, 2)]), (-INF, "ref", 1, [(0, 2)]), (-INF, "test", 1, [(0, 2)]),
])  # fmt: skip
def test_compare_counts_and_places_one_nonfinite(bad, side, count, first):
    ref = np.arange(12, dtype=np.float32).reshape(3, 4)
    test = ref.copy()
    (ref if side == "ref" else test)[0, 2] = bad
    result = compare(ref, test, atol=1e-4)
    assert not result.passed
    assert (result.nonfinite_ref, result.nonfinite_test) == ((count, 0) if side == "ref" else (0, count))
    assert (result.first_ref if side == "ref" else result.first_test) == first
    assert result.max_abs_diff == 0.0  # the finite positions agree exactly
    assert result.top1_agree == pytest.approx(2 / 3)  # row 0 has a non-finite value: never agrees
    assert "non-finite" in result.problem() and "[0, 2]" in result.problem()


@pytest.mark.parametrize("n_bad", [1, 3, 5, 12])
def test_compare_names_the_first_three_positions(n_bad):
    ref = np.zeros((3, 4), dtype=np.float32)
    test = ref.copy()
    test.reshape(-1)[:n_bad] = NAN
    result = compare(ref, test, atol=1.0)
    assert result.nonfinite_test == n_bad and not result.passed
    expected = [(k // 4, k % 4) for k in range(min(n_bad, 3))]  # C order, by hand
    assert result.first_test == expected


def test_compare_all_nan_has_no_difference_figure():
    result = compare(np.full((2, 3), NAN), np.full((2, 3), NAN), atol=1.0)
    assert result.max_abs_diff is None and result.mean_abs_diff is None and not result.passed
    assert result.top1_agree == 0.0


@pytest.mark.parametrize("delta, atol, passed", [(0.0, 1e-4, True), (5e-5, 1e-4, True), (1e-4, 1e-4, True),
                                                 (2e-4, 1e-4, False), (1.0, 1e-4, False)])  # fmt: skip
def test_compare_tolerance_by_hand(delta, atol, passed):
    ref = np.array([[0.0, 1.0, 2.0], [3.0, 2.0, 1.0]])
    test = ref + np.array([[delta, 0, 0], [0, 0, -delta / 2]])
    result = compare(ref, test, atol=atol)
    assert result.passed is passed
    assert result.max_abs_diff == pytest.approx(delta)
    assert result.mean_abs_diff == pytest.approx((delta + delta / 2) / 6)


def test_compare_shape_mismatch_fails():
    result = compare(np.zeros((2, 10)), np.zeros((2, 11)), atol=1.0)
    assert not result.passed and "shape" in result.problem()


def test_compare_top1_agreement_by_hand():
    ref = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float)
    test = np.array([[1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=float)
    assert compare(ref, test, atol=10).top1_agree == 0.5


# --------------------------------------------------------------------------- export / simplify verification


def test_export_of_a_checkpoint_with_nan_weights_fails_and_writes_nothing(tmp_path):
    import torch

    from bitcli.model.checkpoint import random_model
    from bitcli.stages.export import onnx_from_checkpoint

    loaded = random_model("BiT-M-R50x1", 10, 0)
    state = loaded.model.state_dict()
    key = next(k for k in state if k.endswith("head.conv.weight") or k.endswith("fc.weight") or "head" in k)
    state[key].view(-1)[:7] = float("nan")  # seven corrupted floats, as a few flipped bytes would give
    torch.save(state, tmp_path / "corrupt.pth")
    with pytest.raises(ExportError, match=r"torch output has \d+ non-finite value\(s\) \(NaN/inf\), first at \[0, "):
        onnx_from_checkpoint(tmp_path / "corrupt.pth", tmp_path / "bit.onnx", arch="BiT-M-R50x1", num_classes=10,
                             image_size=32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.pth"]


def _poisoned(source, target, value):
    """A copy of the ONNX model ``source`` with one whole filter of its largest weight set to ``value``."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    init = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    array = numpy_helper.to_array(init).copy()
    array[0] = value  # one whole filter (at 32 px a corner tap would only meet padding)
    init.CopyFrom(numpy_helper.from_array(array, init.name))
    onnx.save(model, str(target))
    return target


@pytest.mark.parametrize("value", [NAN, INF])
def test_simplify_of_a_model_with_a_nonfinite_weight_is_a_failed_row(tmp_path, tiny_models, value):
    from bitcli.stages.simplify import simplified_onnx_per_bs

    _poisoned(tiny_models / "bit.onnx", tmp_path / "bad.onnx", value)
    result = simplified_onnx_per_bs(tmp_path / "bad.onnx", [1], tmp_path / "out", image_size=32)
    assert not result.ok and "non-finite" in result.rows[0].error
    assert not (tmp_path / "out" / "bad_bs1_sim.onnx").exists()


# --------------------------------------------------------------------------- eval refuses NaN/inf


def _outputs(folder, logits, ext="bin"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(logits):
        row = np.asarray(row, dtype=np.float32)
        if ext == "bin":
            row.tofile(folder / f"{i}_0.bin")
        elif ext == "npy":
            np.save(folder / f"{i}_0.npy", row)
        else:
            np.savetxt(folder / f"{i}_0.txt", row)


LOGITS = np.eye(10, dtype=np.float32)[[3, 1, 4, 1, 5, 9]]  # predictions 3 1 4 1 5 9
LABELS = [3, 1, 4, 0, 5, 0]                                 # 4 of 6 right


@pytest.mark.parametrize("ext", ["bin", "npy", "txt"])
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
@pytest.mark.parametrize("rows", [[0], [5], [0, 2, 4], list(range(6))])
def test_eval_refuses_nonfinite_outputs_naming_them(runner, tmp_path, ext, bad, rows):
    logits = LOGITS.copy()
    for r in rows:
        logits[r, 7] = bad
    _outputs(tmp_path / "res", logits, ext)
    (tmp_path / "label.txt").write_text("".join(f"{c}\n" for c in LABELS))
    before = tree_state(tmp_path)
    result = invoke(runner, "eval", "--output-dir", str(tmp_path / "res"), "--label-path", str(tmp_path / "label.txt"))
    names = ", ".join(f"{r}_0.{ext}" for r in rows[:5])  # the first five are named
    one_line_failure(result, f"{len(rows)} of 6 output files hold NaN/inf values (first: {names})", "--allow-nonfinite",
                     code=1)
    assert tree_state(tmp_path) == before  # no accuracy JSON from made-up numbers


@pytest.mark.parametrize("bad, rows, top1", [
    (NAN, [0], 4 / 6),        # NaN at class 7 never predicted: row 0 still says 3 (right)
    (INF, [0], 3 / 6),        # +inf at class 7 is a real maximum: row 0 says 7 (wrong)
    (-INF, [3], 4 / 6),       # -inf changes nothing
    (NAN, list(range(6)), 4 / 6),
])  # fmt: skip
def test_eval_allow_nonfinite_scores_with_a_warning(runner, tmp_path, bad, rows, top1):
    logits = LOGITS.copy()
    for r in rows:
        logits[r, 7] = bad
    _outputs(tmp_path / "res", logits)
    (tmp_path / "label.txt").write_text("".join(f"{c}\n" for c in LABELS))
    result = invoke(runner, "eval", "--output-dir", str(tmp_path / "res"), "--label-path", str(tmp_path / "label.txt"),
                    "--allow-nonfinite", "--json")
    assert result.exit_code == 0, result.output
    import json

    assert json.loads(result.stdout)["topk"]["1"] == pytest.approx(top1)
    assert "hold NaN/inf" in result.stderr and "--allow-nonfinite" in result.stderr


def test_all_nan_logits_are_not_scored_as_an_accuracy(runner, tmp_path):
    _outputs(tmp_path / "res", np.full((6, 10), NAN))
    (tmp_path / "label.txt").write_text("".join(f"{c}\n" for c in LABELS))
    result = invoke(runner, "eval", "--output-dir", str(tmp_path / "res"), "--label-path", str(tmp_path / "label.txt"))
    one_line_failure(result, "6 of 6 output files hold NaN/inf", code=1)
    assert "%" not in result.stdout


# --------------------------------------------------------------------------- infer counts NaN/inf


class NanBackend(FakeBackend):
    """Fake model that returns NaN logits for the samples whose first pixel is above ``cut``."""

    cut = 1.0

    def infer(self, batch):
        out = super().infer(batch)
        out[batch.reshape(batch.shape[0], -1)[:, 0] > self.cut] = np.nan
        return out


@pytest.mark.parametrize("bs", [1, 2, 4])
def test_infer_counts_nonfinite_outputs_into_its_summary(tmp_path, bs):
    import json

    data = write_bins(tmp_path / "in", 9)
    expected = [f"{i}_0.bin" for i in range(9) if data[i].reshape(-1)[0] > 1.0]  # by hand from the inputs
    assert expected, "the seed gives no sample above the cut"
    result = stage.outputs_from_bins(NanBackend(fake_options(bs)), tmp_path / "in", tmp_path / "out", argv=["x"])
    assert result.nonfinite == expected
    summary = json.loads(result.summary_path.read_text())
    assert summary["nonfinite_outputs"] == {"count": len(expected), "first": expected[:5]}


@pytest.mark.parametrize("bad_rows", [[], [1], [0, 10], [2, 3, 11]])
def test_whole_folder_outputs_are_scanned_for_nonfinite(tmp_path, bad_rows):
    from bitcli.stages.infer_checks import nonfinite_outputs

    (tmp_path / "device0").mkdir()
    for i in range(12):  # ais_bench layout, one multi-device folder included
        row = np.zeros(10, dtype=np.float32)
        if i in bad_rows:
            row[4] = np.nan if i % 2 else np.inf
        row.tofile(tmp_path / ("device0" if i == 11 else "") / f"{i}_0.bin")
    assert nonfinite_outputs(tmp_path) == [f"{i}_0.bin" for i in sorted(bad_rows)]


def test_infer_and_eval_on_a_model_giving_nan_exit_1(runner, tmp_path, work, tiny_models):
    import json

    bad = _poisoned(tiny_models / "bit_bs2_sim.onnx", tmp_path / "bad.onnx", NAN)
    result = invoke(runner, "infer", "--model", str(bad))
    one_line_failure(result, "non-finite model outputs: bs 2: 10 of 10 outputs hold NaN/inf (first: 0_0.bin, 1_0.bin, 2_0.bin)",
                     code=1)
    summary = json.loads((work / "result" / "onnxruntime" / "result_bs2_summary.json").read_text())
    assert summary["nonfinite_outputs"]["count"] == 10
    one_line_failure(invoke(runner, "eval"), "10 of 10 output files hold NaN/inf", code=1)


# --------------------------------------------------------------------------- checked writes: a full disk


def test_infer_on_a_full_disk_keeps_the_old_result(tmp_path, work):
    fs = tmp_path / "fs"
    with small_fs(fs, "64k"):
        good = bit_proc(["infer", "--output", fs / "out", "--limit", "4"], tmp_path)
        assert good.returncode == 0, good.stderr
        before = tree_state(fs / "out")
        filler = fs / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill the disk: the new run cannot finish
        try:
            while os.write(fd, b"\0" * 1024):
                pass
        except OSError:
            pass
        os.close(fd)
        full = bit_proc(["infer", "--output", fs / "out", "--force"], tmp_path)
        one_line_failure(full, "no space left while writing in", "about", "nothing older was replaced", code=1)
        filler.unlink()
        after = {k: v for k, v in tree_state(fs / "out").items() if not k.startswith(".result_bs2.partial/")}
        assert after == before  # the complete old result is intact (the partial one waits for a rerun)


def test_infer_with_a_file_size_limit_never_publishes_empty_outputs(tmp_path, work):
    proc = bit_proc(["infer"], tmp_path, fsize=20)  # every 40-byte output is over the limit
    one_line_failure(proc, "file size limit reached while writing in", code=1)
    assert not (work / "result" / "onnxruntime" / "result_bs2").exists()
    assert not (work / "result" / "onnxruntime" / "result_bs2_summary.json").exists()


def test_export_with_a_file_size_limit_is_one_line_and_leaves_nothing(tmp_path, tiny_models):
    import re

    proc = bit_proc(["export", "--weights", "random", "--image-size", "32", "-o", tmp_path / "m.onnx"], tmp_path,
                    fsize=1 << 20)
    text = one_line_failure(proc, "file size limit reached while writing in", "MiB needed", code=1)
    estimate = float(re.search(r"about ([\d.]+) MiB needed", text).group(1)) * 2**20
    real = (tiny_models / "bit.onnx").stat().st_size  # the same export, written without a limit
    assert abs(estimate - real) / real < 0.02
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".m.onnx", "m.onnx"))]


def test_data_on_a_disk_too_small_is_refused_before_writing(tmp_path, synth_set):
    fs = tmp_path / "fs"
    with small_fs(fs, "32k"):
        proc = bit_proc(["data", "--dataset-path", synth_set, "--save-path", fs / "bins", "--label-path",
                         tmp_path / "l.txt"], tmp_path)
        one_line_failure(proc, "not enough space in", "1.9 MiB needed", code=1)  # 10 x 196,608 B by hand
        assert not list((fs / "bins").glob("*.bin"))


def test_data_write_fault_midway_then_resume(tmp_path, synth_set):
    args = ["data", "--dataset-path", synth_set, "--save-path", tmp_path / "bins", "--label-path", tmp_path / "l.txt"]
    proc = bit_proc(args, tmp_path, fsize=1000)  # each .bin is 196,608 bytes
    one_line_failure(proc, "file size limit reached while writing in", code=1)
    assert not (tmp_path / "l.txt").exists() and not (tmp_path / "bins" / ".manifest.json").exists()
    again = bit_proc(args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(list((tmp_path / "bins").glob("*.bin"))) == 10


# --------------------------------------------------------------------------- inputs that do not fit the model


@pytest.mark.parametrize("dtype", ["int32", "float64", "float16", "uint8", "int64", "bool", "complex64", ">f4"])
def test_npy_inputs_must_be_float32(tmp_path, dtype):
    write_bins(tmp_path / "in", 3)
    np.save(tmp_path / "in" / "3.npy", np.zeros(3 * 8 * 8 * 4 // np.dtype(dtype).itemsize, dtype=dtype))
    backend = FakeBackend(fake_options(1))
    with pytest.raises(DataError, match=f"3.npy holds a {np.dtype(dtype)} array; bit infer takes float32 only"):
        stage.outputs_from_bins(backend, tmp_path / "in", tmp_path / "out")
    assert backend.calls == 0 and not (tmp_path / "out").exists()


class ShapeBackend(FakeBackend):
    shape: tuple = ()

    def input_shape(self):
        return self.shape


@pytest.mark.parametrize("shape", [(2, 192), (2, 1, 8, 24), (2, 3, 8), (2, 3, 8, 8, 1), (2, 4, 8, 6), (2, 3, 0, 8)])
def test_model_input_must_be_n_3_h_w(tmp_path, shape):
    write_bins(tmp_path / "in", 4)
    backend = ShapeBackend(fake_options(2))
    backend.shape = shape
    with pytest.raises(DataError, match="not N x 3 x H x W"):
        stage.outputs_from_bins(backend, tmp_path / "in", tmp_path / "out")
    assert backend.calls == 0


def test_bit_data_folder_at_another_image_size_is_refused(tmp_path, work, synth_set):
    from bitcli.stages.data import bins_from_cifar

    bins_from_cifar(synth_set, tmp_path / "b64", tmp_path / "l64.txt", image_size=64, limit=4)  # 4 x 32px samples a file
    proc = bit_proc(["infer", "--input", tmp_path / "b64"], tmp_path)
    one_line_failure(proc, "was written by bit data at 64 px (49152 bytes a sample)", "takes 32 x 32 px (12288 bytes",
                     code=1)
    assert not (work / "result").exists()


def test_foreign_folder_with_two_samples_a_file_warns(tmp_path):
    write_bins(tmp_path / "in", 4, size=8)
    pairs = np.fromfile(tmp_path / "in" / "0.bin", dtype=np.float32)
    for i in range(4):
        (tmp_path / "in" / f"{i}.bin").unlink()
    for i in range(2):
        np.concatenate([pairs, pairs]).tofile(tmp_path / "in" / f"{i}.bin")
    result = stage.outputs_from_bins(FakeBackend(fake_options(2)), tmp_path / "in", tmp_path / "out", argv=["x"])
    assert result.files_per_batch == 1 and result.samples == 2


# --------------------------------------------------------------------------- duplicate stems


@pytest.mark.parametrize("names", [("0.bin", "0.npy"), ("1.bin", "1.BIN"), ("2.npy", "2.NPY"), ("a.x.bin", "a.y.bin"),
                                   ("3.bin", "3.tar.bin"), ("b.bin", "b.NPY"), ("7.BIN", "7.npy")])
def test_two_files_for_one_output_are_refused_before_running(tmp_path, names):
    inp = tmp_path / "in"
    write_bins(inp, 2, names=["k0.bin", "k1.bin"])
    for name in names:
        sample = np.zeros((3, 8, 8), dtype=np.float32)
        np.save(inp / name, sample) if name.lower().endswith(".npy") else sample.tofile(inp / name)
    backend = FakeBackend(fake_options(1))
    stem = names[0].split(".")[0]
    with pytest.raises(DataError, match=f"would be written twice: .*each gives {stem}_0.bin"):
        stage.outputs_from_bins(backend, inp, tmp_path / "out")
    assert backend.calls == 0 and not (tmp_path / "out").exists()

