"""Image layout and class names, checked against hand-worked values, not against the code's own inverse.

``tests/data/cifar-tiny`` (committed; see its README) has pixels given by a
formula, so the reader, the CIFAR writer and the ``.bin`` writer are checked
on any machine; the real set (``../shared``) is checked too when present.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from bitcli import report, ui
from bitcli.datasets import CIFAR10_CLASSES, cifar
from bitcli.datasets.cifar import CifarTest, read_cifar10_test, write_cifar_layout

TINY = Path(__file__).resolve().parents[1] / "data" / "cifar-tiny"
# CIFAR-10's label_names in batches.meta order, typed out here (not imported).
LITERAL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def test_class_names_are_one_list_equal_to_the_literal():
    assert CIFAR10_CLASSES == LITERAL_NAMES
    assert tuple(cifar.CLASS_NAMES) == LITERAL_NAMES
    assert CIFAR10_CLASSES[3] == "cat" and CIFAR10_CLASSES[5] == "dog"


def test_class_names_equal_the_real_batches_meta(cifar_dir):
    meta = pickle.loads((cifar_dir / "cifar-10-batches-py" / "batches.meta").read_bytes(), encoding="bytes")
    assert tuple(n.decode() for n in meta[b"label_names"]) == CIFAR10_CLASSES
    assert tuple(read_cifar10_test(cifar_dir).class_names) == CIFAR10_CLASSES


def test_per_class_rows_name_the_right_class(monkeypatch):
    from rich.console import Console

    from bitcli.stages.evaluate import EvalResult

    buffer = io.StringIO()
    monkeypatch.setattr(ui, "out", Console(file=buffer, width=240, highlight=False))
    confusion = [[0] * 10 for _ in range(10)]
    confusion[3][3], confusion[5][3] = 1, 1  # one cat right, one dog called a cat
    per_class = [None] * 10
    per_class[3], per_class[5] = 1.0, 0.0
    samples = [0] * 10
    samples[3] = samples[5] = 1
    result = EvalResult(output_dir=Path("r"), label_path=Path("l"), label_format="txt", samples=2, num_classes=10,
                        topk={1: 0.5}, per_class=per_class, per_class_samples=samples, confusion=confusion)
    report.render_accuracy(result)
    cells = [[c.strip() for c in line.replace("┃", "│").split("│")[1:-1]] for line in buffer.getvalue().splitlines()]
    rows = {row[0]: row[1:3] for row in cells if row}
    assert rows["3 cat"] == ["1", "100.0%"] and rows["5 dog"] == ["1", "0.0%"]


def test_reader_on_the_committed_sample_by_hand():
    data = read_cifar10_test(TINY)
    assert data.images.shape == (2, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.images[1][2, 5].tolist() == [16, 40, 150]    # R = 8·y, G = 8·x, B = 100 + 50·k
    assert data.images[1][5, 2].tolist() == [40, 16, 150]    # rows and columns not swapped
    assert data.images[0][3, 3].tolist() == [24, 24, 101]    # the diagonal mark is in B only
    assert data.images[0][31, 0].tolist() == [248, 0, 100]
    assert data.labels.tolist() == [3, 5] and [data.class_names[i] for i in data.labels] == ["cat", "dog"]
    assert data.synthetic is False


def test_cifar_writer_puts_planes_where_the_format_says(tmp_path):
    images = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    images[0, 2, 5] = (11, 22, 33)  # HWC: row 2, column 5, (R, G, B)
    write_cifar_layout(CifarTest(images, np.array([5]), list(CIFAR10_CLASSES), Path("x"), True), tmp_path)
    raw = pickle.loads((tmp_path / "cifar-10-batches-py" / "test_batch").read_bytes(), encoding="bytes")[b"data"]
    offset = 2 * 32 + 5
    assert (raw[0, offset], raw[0, 1024 + offset], raw[0, 2048 + offset]) == (11, 22, 33)
    assert int(raw.sum()) == 11 + 22 + 33


def test_bin_writer_is_chw_float_of_the_committed_sample(tmp_path):
    from bitcli.stages.data import bins_from_cifar

    bins_from_cifar(TINY, tmp_path / "bins", tmp_path / "label.txt", image_size=32, workers=1)
    tensor = np.fromfile(tmp_path / "bins" / "1.bin", dtype=np.float32)
    assert tensor.size == 3 * 32 * 32
    offset = 2 * 32 + 5  # row 2, column 5 of each channel plane: R 16, G 40, B 150 → 2·v/255 − 1
    got = [tensor[c * 1024 + offset] for c in range(3)]
    assert got == pytest.approx([2 * 16 / 255 - 1, 2 * 40 / 255 - 1, 2 * 150 / 255 - 1], abs=1e-6)
    assert (tmp_path / "label.txt").read_text().split() == ["3", "5"]


def test_real_set_pixels_match_the_raw_planes(cifar_dir):
    data = read_cifar10_test(cifar_dir)
    raw = pickle.loads((cifar_dir / "cifar-10-batches-py" / "test_batch").read_bytes(), encoding="bytes")[b"data"]
    for k, y, x in ((0, 0, 0), (123, 4, 27), (9999, 31, 30)):
        offset = y * 32 + x
        assert data.images[k][y, x].tolist() == [raw[k, offset], raw[k, 1024 + offset], raw[k, 2048 + offset]]
