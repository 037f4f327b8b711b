"""The CIFAR-10 reader's rules and messages, on small hand-made batches (no ../shared needed).

Every case writes its own pickle in the official layout (bytes or str keys,
numpy ``data``), so the expected images, names and messages are known exactly.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from bitcli.datasets import CIFAR10_CLASSES
from bitcli.datasets.cifar import TARBALL, read_cifar10_test, synthetic_cifar10, write_cifar_layout
from bitcli.errors import DataError

NAMES = [f"c{i}".encode() for i in range(10)]


def _batch(n: int = 2, *, labels=None, keys=bytes, data=None, label=b"testing batch 1 of 1") -> bytes:
    k = (lambda s: s.encode()) if keys is bytes else (lambda s: s)
    rows = np.arange(n * 3072, dtype=np.int64).reshape(n, 3072).astype(np.uint8) if data is None else data
    return pickle.dumps({k("batch_label"): label, k("labels"): list(range(n)) if labels is None else labels,
                         k("data"): rows}, protocol=2)


def _folder(tmp_path: Path, batch: bytes, meta: object | None = None) -> Path:
    inner = tmp_path / "cifar-10-batches-py"
    inner.mkdir(parents=True, exist_ok=True)
    (inner / "test_batch").write_bytes(batch)
    if meta is not None:
        (inner / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return tmp_path


def _error(path) -> DataError:
    with pytest.raises(DataError) as err:
        read_cifar10_test(path)
    return err.value


def test_names_come_from_batches_meta_beside_test_batch(tmp_path):
    folder = _folder(tmp_path, _batch(), {b"label_names": NAMES})
    data = read_cifar10_test(folder / "cifar-10-batches-py" / "test_batch")
    assert data.class_names == [f"c{i}" for i in range(10)] and data.source.name == "test_batch"
    assert data.synthetic is False and data.labels.tolist() == [0, 1]
    assert data.images[1][0, 0].tolist() == [0, 0, 0]  # row 1 starts at 3072 % 256 = 0 in each plane
    assert data.images[0][0, 1].tolist() == [1, 1024 % 256 + 1, 2048 % 256 + 1]


def test_str_keys_and_str_names_are_read_too(tmp_path):
    folder = _folder(tmp_path, _batch(keys=str), {"label_names": [n.decode() for n in NAMES]})
    data = read_cifar10_test(folder)
    assert data.class_names[9] == "c9" and data.labels.tolist() == [0, 1]


def test_without_meta_the_one_list_of_names(tmp_path):
    assert read_cifar10_test(_folder(tmp_path, _batch())).class_names == list(CIFAR10_CLASSES)


def test_tarball_members_meta_and_marker(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, blob in (("cifar-10-batches-py/test_batch", _batch(3)),
                           ("cifar-10-batches-py/batches.meta", pickle.dumps({b"label_names": NAMES}))):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    path = tmp_path / "any-name.tgz"
    path.write_bytes(buffer.getvalue())
    data = read_cifar10_test(path)
    assert len(data) == 3 and data.class_names[0] == "c0" and data.synthetic is False and data.source == path


def test_batch_label_synthetic_tag_marks_a_set_synthetic(tmp_path):
    assert read_cifar10_test(_folder(tmp_path, _batch(label=b"synthetic demo"))).synthetic is True


@pytest.mark.parametrize("meta, words", [
    ({b"other": 1}, "has no label_names list"),
    ({b"label_names": []}, "has no label_names list"),
    ([1, 2], "has no label_names list"),
])
def test_bad_meta(tmp_path, meta, words):
    err = _error(_folder(tmp_path, _batch(), meta))
    assert err.message == f"batches.meta beside test_batch in {tmp_path / 'cifar-10-batches-py' / 'test_batch'} {words}" \
        or err.message == f"batches.meta beside {tmp_path / 'cifar-10-batches-py' / 'test_batch'} {words}"


def test_messages_name_the_file_and_the_problem(tmp_path):
    batch_file = tmp_path / "cifar-10-batches-py" / "test_batch"
    _folder(tmp_path, _batch(data=np.zeros((2, 100), np.uint8)))
    assert _error(tmp_path).message == f"{batch_file}: 'data' must be uint8 N×3072, got (2, 100) uint8"
    _folder(tmp_path, pickle.dumps({b"data": [1, 2], b"labels": [0]}))
    assert _error(tmp_path).message == f"{batch_file}: 'data' must be uint8 N×3072, got list"
    _folder(tmp_path, _batch(2, labels=[0, 1, 2]))
    assert _error(tmp_path).message == f"{batch_file}: 2 images but labels of shape (3,) (int64)"
    _folder(tmp_path, _batch(2, labels=[0, 10]))
    assert _error(tmp_path).message == f"{batch_file}: labels outside 0..9"
    _folder(tmp_path, _batch(2, labels=[-1, 3]))
    assert _error(tmp_path).message == f"{batch_file}: labels outside 0..9"
    _folder(tmp_path, pickle.dumps({b"labels": [0]}))
    assert _error(tmp_path).message == f"{batch_file} lacks the 'data'/'labels' entries of a CIFAR-10 batch"
    _folder(tmp_path, pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}))
    assert "lacks the 'data'/'labels' entries" in _error(tmp_path).message
    _folder(tmp_path, b"\x80\x02not a pickle at all" + b"x" * 300)
    message = _error(tmp_path).message
    assert message.startswith(f"{batch_file} is not a readable CIFAR-10 pickle (") and len(message) < len(str(batch_file)) + 180


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("x",))

    _folder(tmp_path, pickle.dumps({b"data": Evil(), b"labels": [0]}, protocol=2))
    assert "(UnpicklingError: refusing to load __builtin__.print)" in _error(tmp_path).message


def test_locate_errors(tmp_path):
    assert _error(tmp_path / "absent").message == f"dataset path {tmp_path / 'absent'} does not exist"
    (tmp_path / "empty").mkdir()
    assert _error(tmp_path / "empty").message == (
        f"no CIFAR-10 test set in {tmp_path / 'empty'} (no cifar-10-batches-py/test_batch, test_batch or {TARBALL})")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "test_batch").write_bytes(_batch(1))
    assert len(read_cifar10_test(tmp_path / "flat")) == 1


@pytest.mark.parametrize("n", [0, -3])
def test_synthetic_needs_a_positive_count(n):
    with pytest.raises(DataError, match=f"--synthetic must be a positive number of images, got {n}"):
        synthetic_cifar10(n)


def test_synthetic_set_is_deterministic_and_labelled():
    one = synthetic_cifar10(1)
    assert len(one) == 1 and one.synthetic is True and one.source == Path("<synthetic>")
    a, b = synthetic_cifar10(30, seed=4), synthetic_cifar10(30, seed=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert a.images.dtype == np.uint8 and a.labels.dtype == np.int64 and np.bincount(a.labels).tolist() == [3] * 10
    assert a.class_names == list(CIFAR10_CLASSES)


def test_writer_fields_and_refusal(tmp_path):
    data = synthetic_cifar10(3)
    path = write_cifar_layout(data, tmp_path, note="(seed 0)")
    doc = pickle.loads(path.read_bytes(), encoding="bytes")
    meta = pickle.loads((path.parent / "batches.meta").read_bytes(), encoding="bytes")
    assert doc[b"batch_label"] == b"synthetic CIFAR-10-format demo set, 3 images, NOT CIFAR-10 (seed 0)"
    assert doc[b"filenames"] == [b"synthetic_0.png", b"synthetic_1.png", b"synthetic_2.png"]
    assert doc[b"labels"] == data.labels.tolist() and doc[b"data"].shape == (3, 3072)
    assert meta == {b"num_cases_per_batch": 3, b"label_names": [n.encode() for n in CIFAR10_CLASSES], b"num_vis": 3072}
    assert (path.parent / "SYNTHETIC").read_text() == "Synthetic images written by `bit data --synthetic`; not CIFAR-10.\n"
    assert path.read_bytes()[:2] == b"\x80\x04"  # protocol 4, like the files bit has always written
    mtime = path.stat().st_mtime_ns
    write_cifar_layout(data, tmp_path, note="(seed 0)")
    assert path.stat().st_mtime_ns == mtime  # unchanged bytes are left alone
    write_cifar_layout(synthetic_cifar10(4), tmp_path)
    assert path.stat().st_mtime_ns != mtime and len(read_cifar10_test(tmp_path)) == 4
    real = tmp_path / "real"
    _folder(real, _batch())
    with pytest.raises(DataError, match="already holds a real CIFAR-10 test set; not overwriting it with synthetic data"):
        write_cifar_layout(data, real)
    assert len(read_cifar10_test(real)) == 2


def test_long_unpickler_errors_are_cut_to_one_short_line(tmp_path):
    module = "m" * 150
    _folder(tmp_path, b"\x80\x02c" + module.encode() + b"\nX\n.")
    why = f"refusing to load {module}.X"[:120]
    assert _error(tmp_path).message.endswith(f"(UnpicklingError: {why})")


def test_locate_hint_and_marker_and_meta_paths(tmp_path):
    err = _error(tmp_path / "absent")
    assert err.hint == ("give --dataset-path DIR holding cifar-10-batches-py/ or cifar-10-python.tar.gz, pass --download,"
                        " or use --synthetic N")
    folder = _folder(tmp_path / "marked", _batch())
    (folder / "cifar-10-batches-py" / "SYNTHETIC").write_text("x")
    assert read_cifar10_test(folder).synthetic is True  # the marker alone says synthetic
    bad_meta = _folder(tmp_path / "badmeta", _batch())
    (bad_meta / "cifar-10-batches-py" / "batches.meta").write_bytes(b"garbage")
    assert _error(bad_meta).message.startswith(
        f"batches.meta beside {bad_meta / 'cifar-10-batches-py' / 'test_batch'} is not a readable CIFAR-10 pickle (")


def test_tarball_without_meta_and_with_bad_data(tmp_path):
    def tarball(path, batch):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
            info.size = len(batch)
            tar.addfile(info, io.BytesIO(batch))
        path.write_bytes(buffer.getvalue())
        return path

    good = tarball(tmp_path / "a.tar.gz", _batch(2))
    assert read_cifar10_test(good).class_names == list(CIFAR10_CLASSES)
    bad = tarball(tmp_path / "b.tar.gz", _batch(2, labels=[0, 1, 2]))
    assert _error(bad).message == f"test_batch in {bad}: 2 images but labels of shape (3,) (int64)"


def test_synthetic_defaults_and_writer_without_note(tmp_path):
    assert np.array_equal(synthetic_cifar10(5).images, synthetic_cifar10(5, seed=0).images)
    path = write_cifar_layout(synthetic_cifar10(2), tmp_path)
    doc = pickle.loads(path.read_bytes(), encoding="bytes")
    assert doc[b"batch_label"] == b"synthetic CIFAR-10-format demo set, 2 images, NOT CIFAR-10"
    assert (path.parent / "batches.meta").read_bytes()[:2] == b"\x80\x04"
