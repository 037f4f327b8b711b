"""bit eval's label-file rules and error texts, on small hand-written files.

Each case states the expected split (format, stems, class tokens) or the exact
message, so a changed rule (a stripped line, a swapped token, an off-by-one
line number) fails here rather than as a wrong accuracy later.
"""

from __future__ import annotations

import numpy as np
import pytest

from bitcli.errors import DataError
from bitcli.stages.evaluate import _classes, _match, output_files, parse_labels, read_output


def _labels(tmp_path, text: str):
    path = tmp_path / "label.txt"
    path.write_text(text)
    return parse_labels(path)


@pytest.mark.parametrize("text, fmt, entries", [
    ("3\n5\n\n\n", "index", [("0", ["3"]), ("1", ["5"])]),                      # trailing blank lines dropped
    ("a.bin 3\nb 5\n", "stem", [("a.bin", ["3"]), ("b", ["5"])]),
    ("1 3\nx 5\n", "stem", [("1", ["3"]), ("x", ["5"])]),                         # one non-integer stem decides
    ("0 3\n1 5\n", "ambiguous", [("0", ["3"]), ("1", ["5"])]),
    ("1 2 3\n4 5 6\n", "batch", [("0", ["1", "2", "3"]), ("1", ["4", "5", "6"])]),
    ("1 2 3\n4 5\n", "batch", [("0", ["1", "2", "3"]), ("1", ["4", "5"])]),      # a short last batch
])
def test_label_formats(tmp_path, text, fmt, entries):
    assert _labels(tmp_path, text) == (fmt, entries)


@pytest.mark.parametrize("text, message, hint", [
    ("", "is empty", "point --label-path at the label.txt `bit data` wrote"),
    ("\n\n", "is empty", "point --label-path at the label.txt `bit data` wrote"),
    ("1\n2\n\n3\n", "line 3 is empty", "remove blank lines"),
    ("a 1 2\nb 3\n", "lines have [2, 3] tokens", "use one class per line, '{stem} {class}' lines, or the per-batch format"
                                                  " (classes only)"),
])
def test_label_file_errors(tmp_path, text, message, hint):
    with pytest.raises(DataError) as err:
        _labels(tmp_path, text)
    assert err.value.message == f"label file {tmp_path / 'label.txt'} {message}".replace(" lines have", ": lines have")
    assert err.value.hint == hint


def test_missing_label_file(tmp_path):
    with pytest.raises(DataError) as err:
        parse_labels(tmp_path / "none.txt")
    assert err.value.message == f"label file {tmp_path / 'none.txt'} does not exist"
    assert err.value.hint == "run `bit data` (it writes label.txt), or pass --label-path FILE"


def test_class_tokens_checked_with_line_numbers(tmp_path):
    path = tmp_path / "l.txt"
    assert _classes(path, [("a", ["3"]), ("b", ["0", "9"])], 10) == {"a": [3], "b": [0, 9]}
    with pytest.raises(DataError) as err:
        _classes(path, [("a", ["3"]), ("b", ["4"]), ("a", ["5"])], 10)
    assert err.value.message == f"label file {path}: stem 'a' is listed twice (lines 1 and 3)"
    assert err.value.hint == "keep one line per sample"
    with pytest.raises(DataError) as err:
        _classes(path, [("a", ["3"]), ("b", ["x"])], 10)
    assert err.value.message == f"label file {path} line 2: class 'x' is not an integer"
    assert err.value.hint == "classes are integers 0..num_classes-1"
    for bad in ("10", "-1"):
        with pytest.raises(DataError) as err:
            _classes(path, [("a", [bad])], 10, first_line=5)
        assert err.value.message == f"label file {path} line 5: class {bad} is out of range 0..9"
        assert err.value.hint == "check --label-path, or the model's number of classes (model.num_classes)"


def test_match_names_missing_stems_in_natural_order(tmp_path):
    labels = {s: [0] for s in ("1", "2", "10", "11")}
    outputs = {s: tmp_path / f"{s}_0.bin" for s in ("1", "3", "20", "4")}
    with pytest.raises(DataError) as err:
        _match(labels, outputs, tmp_path / "l.txt", tmp_path / "r")
    assert err.value.message == (f"{tmp_path / 'r'} and {tmp_path / 'l.txt'} do not match: "
                                 "3 labels have no output (e.g. 2, 10, 11); 3 outputs have no label (e.g. 3, 4, 20)")
    assert err.value.hint.startswith("evaluate the result folder made from the same input folder as the labels (a --limit")
    assert _match({"10": [1], "9": [2]}, {"9": None, "10": None}, tmp_path, tmp_path) == ["9", "10"]


def test_output_files_read_device_folders_only(tmp_path):
    (tmp_path / "device0").mkdir()
    (tmp_path / "device1_3").mkdir()
    (tmp_path / "other").mkdir()
    for path in (tmp_path / "0_0.bin", tmp_path / "device0" / "1_0.bin", tmp_path / "device1_3" / "2_0.npy",
                 tmp_path / "other" / "3_0.bin", tmp_path / "4_1.bin"):
        path.write_bytes(b"")
    assert sorted(output_files(tmp_path)) == ["0", "1", "2"]
    with pytest.raises(DataError) as err:
        output_files(tmp_path / "other" / "none")
    assert err.value.hint == "run `bit infer` first, or pass --output-dir DIR"


def test_read_output_formats_and_bad_text(tmp_path):
    np.save(tmp_path / "a_0.npy", np.array([[1.5, 2.5]], dtype=np.float64))
    (tmp_path / "b_0.txt").write_text("7.25\n")
    got = read_output(tmp_path / "a_0.npy")
    assert got.dtype == np.float32 and got.tolist() == [1.5, 2.5]
    text = read_output(tmp_path / "b_0.txt")
    assert text.dtype == np.float32 and text.shape == (1,) and text.tolist() == [7.25]
    (tmp_path / "c_0.txt").write_text("x y\n")
    with pytest.raises(DataError) as err:
        read_output(tmp_path / "c_0.txt")
    assert err.value.message.startswith(f"cannot read output {tmp_path / 'c_0.txt'}: ")
    assert err.value.hint == "re-run `bit infer --force`"


# --------------------------------------------------------------------------- accuracy_from_outputs, by hand

def _outputs(folder, rows: dict[str, list[float]]):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, values in rows.items():
        np.asarray(values, dtype=np.float32).tofile(folder / f"{stem}_0.bin")
    return folder


def test_two_integer_lines_are_stems_unless_each_output_holds_two_samples(tmp_path):
    from bitcli.stages.evaluate import accuracy_from_outputs

    # stems 0, 1 with classes 2 and 0; three classes: sample 0 predicts 2 (right), sample 1 predicts 1 (wrong)
    res = _outputs(tmp_path / "stem", {"0": [0, 1, 5], "1": [0, 3, 1]})
    (tmp_path / "l.txt").write_text("0 2\n1 0\n")
    result = accuracy_from_outputs(res, tmp_path / "l.txt", topk=2, num_classes=3, save=False)
    assert (result.label_format, result.samples, result.topk) == ("stem", 2, {1: 0.5, 2: 0.5})
    # batch layout: one output per batch of two samples, both classes on the line
    res = _outputs(tmp_path / "batch", {"0": [0, 1, 5, 9, 0, 0], "1": [0, 3, 1, 0, 0, 7]})
    (tmp_path / "b.txt").write_text("2 0\n1 2\n")
    result = accuracy_from_outputs(res, tmp_path / "b.txt", topk=1, num_classes=3, save=False)
    assert (result.label_format, result.samples, result.topk) == ("batch", 4, {1: 1.0})
    assert result.per_class == [1.0, 1.0, 1.0] and result.per_class_samples == [1, 1, 2]


def test_classes_from_outputs_and_topk_bounds(tmp_path):
    from bitcli.errors import ConfigError
    from bitcli.stages.evaluate import accuracy_from_outputs

    res = _outputs(tmp_path / "r", {"0": [1, 0, 0, 0], "1": [0, 0, 0, 1]})
    (tmp_path / "l.txt").write_text("0\n2\n")
    result = accuracy_from_outputs(res, tmp_path / "l.txt", topk=4, save=False)
    assert result.num_classes == 4 and result.topk == {1: 0.5, 2: 0.5, 3: 0.5, 4: 1.0}
    assert accuracy_from_outputs(res, tmp_path / "l.txt", topk=1, save=False).topk == {1: 0.5}
    for bad in (0, 5):
        with pytest.raises(ConfigError, match=f"--topk {bad} is outside 1..4"):
            accuracy_from_outputs(res, tmp_path / "l.txt", topk=bad, save=False)
    # per-batch labels: 3 classes, outputs of 6 floats for 2 samples
    res = _outputs(tmp_path / "b", {"0": [0, 0, 1, 1, 0, 0, 0, 1, 0]})
    (tmp_path / "b.txt").write_text("2 0 1\n")
    done = accuracy_from_outputs(res, tmp_path / "b.txt", topk=1, save=False)
    assert (done.num_classes, done.samples, done.topk) == (3, 3, {1: 1.0})
    uneven = _outputs(tmp_path / "u", {"0": [1, 0, 0], "1": [1, 0]})
    (tmp_path / "u.txt").write_text("0\n1\n")
    with pytest.raises(DataError, match="outputs differ in size, so the number of classes is unclear"):
        accuracy_from_outputs(uneven, tmp_path / "u.txt", save=False)


def test_output_of_the_wrong_size_is_named(tmp_path):
    from bitcli.stages.evaluate import accuracy_from_outputs

    res = _outputs(tmp_path / "r", {"0": [1, 0, 0, 0, 0]})
    (tmp_path / "l.txt").write_text("0\n")
    with pytest.raises(DataError) as err:
        accuracy_from_outputs(res, tmp_path / "l.txt", topk=1, num_classes=4, save=False)
    assert err.value.message == f"output {res / '0_0.bin'} holds 5 floats, expected 4 (1 sample(s) x 4 classes)"


def test_ties_go_to_the_lowest_class_and_json_is_indented(tmp_path):
    from bitcli.stages.evaluate import accuracy_from_outputs

    res = _outputs(tmp_path / "r", {str(i): [1.0] * 12 for i in range(3)})  # all tied: top-1 predicts class 0
    (tmp_path / "l.txt").write_text("0\n1\n11\n")
    result = accuracy_from_outputs(res, tmp_path / "l.txt", topk=2, num_classes=12)
    assert result.topk == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3)}
    assert result.confusion[1][0] == 1 and result.per_class[5] is None and result.per_class_samples[11] == 1
    assert result.json_path.read_text().startswith('{\n  "samples": 3,\n  "topk": {\n    "1": 0.333')


def test_paths_and_defaults_reach_the_result_and_the_messages(tmp_path):
    from bitcli.stages.evaluate import accuracy_from_outputs

    res = _outputs(tmp_path / "r", {"0": list(range(10)), "1": list(range(10))})
    (tmp_path / "l.txt").write_text("9\n3\n")
    result = accuracy_from_outputs(res, tmp_path / "l.txt", save=False)
    assert list(result.topk) == [1, 2, 3, 4, 5] and result.output_dir == res and result.label_path == tmp_path / "l.txt"
    assert isinstance(result.confusion[9][9], int) and result.confusion[9][9] == 1
    (tmp_path / "bad.txt").write_text("12\n3\n")
    with pytest.raises(DataError) as err:
        accuracy_from_outputs(res, tmp_path / "bad.txt", save=False)
    assert err.value.message == f"label file {tmp_path / 'bad.txt'} line 1: class 12 is out of range 0..9"
    (tmp_path / "more.txt").write_text("1\n2\n3\n")
    with pytest.raises(DataError) as err:
        accuracy_from_outputs(res, tmp_path / "more.txt", save=False)
    assert err.value.message.startswith(f"{res} and {tmp_path / 'more.txt'} do not match: 1 labels have no output (e.g. 2)")


def test_outputs_with_too_few_or_too_many_samples(tmp_path):
    from bitcli.stages.evaluate import accuracy_from_outputs

    res = _outputs(tmp_path / "b", {"0": [0, 0, 1, 1, 0, 0, 0, 1]})  # 8 floats: not a whole number of 3-class rows
    (tmp_path / "b.txt").write_text("2 0 1\n")
    with pytest.raises(DataError) as err:
        accuracy_from_outputs(res, tmp_path / "b.txt", topk=1, save=False)
    assert err.value.message == "outputs differ in size, so the number of classes is unclear"
    short = _outputs(tmp_path / "s", {"0": [0, 0, 1, 1, 0, 0]})  # 2 samples for a line of 3 labels
    with pytest.raises(DataError, match=r"holds 6 floats, expected 9 \(3 sample\(s\) x 3 classes\)"):
        accuracy_from_outputs(short, tmp_path / "b.txt", topk=1, num_classes=3, save=False)
    double = _outputs(tmp_path / "d", {"0": [1, 0, 0, 0, 1, 0, 0, 0]})  # two rows for a one-label stem
    (tmp_path / "d.txt").write_text("0\n")
    with pytest.raises(DataError, match=r"holds 8 floats, expected 4 \(1 sample\(s\) x 4 classes\)"):
        accuracy_from_outputs(double, tmp_path / "d.txt", topk=1, num_classes=4, save=False)


def test_ties_among_many_classes_go_to_the_lowest(tmp_path):
    from bitcli.stages.evaluate import accuracy_from_outputs

    res = _outputs(tmp_path / "r", {"0": [0.5] * 100})
    (tmp_path / "l.txt").write_text("0\n")
    assert accuracy_from_outputs(res, tmp_path / "l.txt", topk=1, num_classes=100, save=False).topk == {1: 1.0}
