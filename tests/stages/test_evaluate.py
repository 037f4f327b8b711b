"""bit eval's stage: top-1..k, per-class, confusion — against a direct numpy computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bitcli.artifacts import accuracy_path
from bitcli.errors import ConfigError, DataError
from bitcli.stages.evaluate import accuracy_from_outputs


def direct(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Top-k the obvious way: is the label among the k largest logits."""
    top = np.argsort(-logits, axis=1)[:, :k]
    return float(np.mean([labels[i] in top[i] for i in range(len(labels))]))


def make_outputs(folder: Path, logits: np.ndarray, fmt: str = "bin", stems: list[str] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(logits):
        stem = stems[i] if stems else str(i)
        if fmt == "bin":
            row.astype(np.float32).tofile(folder / f"{stem}_0.bin")
        elif fmt == "npy":
            np.save(folder / f"{stem}_0.npy", row.astype(np.float32))
        else:  # ais_bench TXT: rows of the last dim, '%f ' per value, newline
            (folder / f"{stem}_0.txt").write_text("".join(f"{v:f} " for v in row) + "\n")


@pytest.fixture
def case(tmp_path):
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((60, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 60)
    labels[:30] = logits[:30].argmax(1)  # half right, so top-1 is not trivial
    (tmp_path / "label.txt").write_text("".join(f"{c}\n" for c in labels))
    return tmp_path, logits, labels


@pytest.mark.parametrize("fmt", ["bin", "npy", "txt"])
def test_topk_per_class_confusion_equal_numpy(case, fmt):
    tmp, logits, labels = case
    make_outputs(tmp / "res", logits, fmt)
    if fmt == "txt":
        logits = np.array([np.loadtxt(tmp / "res" / f"{i}_0.txt") for i in range(60)], dtype=np.float32)
    result = accuracy_from_outputs(tmp / "res", tmp / "label.txt", topk=5, num_classes=10)
    assert result.samples == 60 and result.label_format == "index"
    for k in range(1, 6):
        assert result.topk[k] == pytest.approx(direct(logits, labels, k))
    pred = logits.argmax(1)
    for c in range(10):
        mask = labels == c
        assert result.per_class[c] == (pytest.approx(float(np.mean(pred[mask] == c))) if mask.any() else None)
        assert result.confusion[c] == [int(np.sum(pred[mask] == p)) for p in range(10)]
    saved = json.loads(accuracy_path(tmp / "res").read_text())
    assert saved == json.loads(json.dumps(result.to_json()))
    assert list(saved) == ["samples", "topk", "per_class", "confusion", "num_classes", "label_format", "output_dir"] and list(saved["topk"]) == ["1", "2", "3", "4", "5"]


def test_ignores_summary_and_other_files_reads_device_subfolders(case):
    tmp, logits, labels = case
    make_outputs(tmp / "res" / "device0_0", logits[:30], stems=[str(i) for i in range(30)])
    make_outputs(tmp / "res" / "device1_1", logits[30:], stems=[str(i) for i in range(30, 60)])
    (tmp / "res" / "sumary.json").write_text("{}")
    (tmp / "res" / "notes.txt").write_text("hello")
    (tmp / "res" / "5_1.bin").write_bytes(b"\0" * 8)  # output index 1: not ours
    result = accuracy_from_outputs(tmp / "res", tmp / "label.txt", num_classes=10)
    assert result.samples == 60
    assert result.topk[1] == pytest.approx(direct(logits, labels, 1))


def test_stem_class_labels(case):
    tmp, logits, labels = case
    stems = [f"img_{i}" for i in range(60)]
    make_outputs(tmp / "res", logits, stems=stems)
    order = np.random.default_rng(0).permutation(60)  # any line order
    (tmp / "stems.txt").write_text("".join(f"{stems[i]} {labels[i]}\n" for i in order))
    result = accuracy_from_outputs(tmp / "res", tmp / "stems.txt", topk=3)
    assert result.label_format == "stem" and result.num_classes == 10
    assert result.topk[3] == pytest.approx(direct(logits, labels, 3))


def test_seed_per_batch_labels_with_zero_padded_last_batch(case):
    tmp, logits, labels = case
    out = tmp / "res"
    out.mkdir()
    bs = 16  # 60 samples → 4 batch files, the last padded with 4 rows
    padded = np.concatenate([logits, np.zeros((4, 10), np.float32)])
    lines = []
    for b in range(4):
        padded[b * bs:(b + 1) * bs].tofile(out / f"{b}_0.bin")
        lines.append(" ".join(str(c) for c in labels[b * bs:(b + 1) * bs]))
    (tmp / "batch.txt").write_text("\n".join(lines) + "\n")
    result = accuracy_from_outputs(out, tmp / "batch.txt", num_classes=10)
    assert result.label_format == "batch" and result.samples == 60
    for k in (1, 5):
        assert result.topk[k] == pytest.approx(direct(logits, labels, k))


@pytest.mark.parametrize("text, words", [
    ("0\ncat\n", "line 2: class 'cat' is not an integer"),
    ("0\n10\n", "line 2: class 10 is out of range 0..9"),
    ("0\n-1\n", "class -1 is out of range"),
    ("a 1\nb 2\na 3\n", "stem 'a' is listed twice"),
])
def test_bad_label_files(tmp_path, text, words):
    make_outputs(tmp_path / "res", np.zeros((3, 10), np.float32), stems=["a", "b", "c"])
    (tmp_path / "label.txt").write_text(text)
    with pytest.raises(DataError, match=words):
        accuracy_from_outputs(tmp_path / "res", tmp_path / "label.txt", num_classes=10)


def test_counts_mismatch_names_a_few_missing(case):
    tmp, logits, _ = case
    make_outputs(tmp / "res", logits[:50])
    with pytest.raises(DataError, match=r"10 labels have no output \(e\.g\. 50, 51, 52, 53, 54\)"):
        accuracy_from_outputs(tmp / "res", tmp / "label.txt", num_classes=10)
    make_outputs(tmp / "res2", logits)
    (tmp / "short.txt").write_text("1\n2\n")
    with pytest.raises(DataError, match="58 outputs have no label"):
        accuracy_from_outputs(tmp / "res2", tmp / "short.txt", num_classes=10)


def test_outputs_with_wrong_number_of_floats(case):
    tmp, logits, _ = case
    make_outputs(tmp / "res", logits)
    np.zeros(12, np.float32).tofile(tmp / "res" / "7_0.bin")
    with pytest.raises(DataError, match=r"7_0\.bin holds 12 floats, expected 10"):
        accuracy_from_outputs(tmp / "res", tmp / "label.txt", num_classes=10)
    with pytest.raises(DataError, match="differ in size"):
        accuracy_from_outputs(tmp / "res", tmp / "label.txt")


def test_missing_folder_no_outputs_bad_topk(case):
    tmp, logits, _ = case
    with pytest.raises(DataError, match="does not exist"):
        accuracy_from_outputs(tmp / "nope", tmp / "label.txt")
    (tmp / "empty").mkdir()
    (tmp / "empty" / "sumary.json").write_text("{}")
    with pytest.raises(DataError, match="holds no inference outputs"):
        accuracy_from_outputs(tmp / "empty", tmp / "label.txt")
    make_outputs(tmp / "res", logits)
    with pytest.raises(ConfigError, match="--topk 11 is outside 1..10"):
        accuracy_from_outputs(tmp / "res", tmp / "label.txt", topk=11)
