"""bit data's stage: CIFAR reading, reference-exact preprocessing, .bin writing, reruns, resume, download."""

from __future__ import annotations

import http.server
import json
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bitcli.errors import DataError
from bitcli.datasets import cifar
from bitcli.stages import data as stage
from bitcli.datasets.cifar import read_cifar10_test, synthetic_cifar10, write_cifar_layout
from bitcli.stages.data import bins_from_cifar, iter_preprocessed, preprocess_batch, preprocess_image


def reference(image_hwc: np.ndarray, size: int = 128) -> np.ndarray:
    """The seed's torchvision transform, transcribed op by op in numpy float32."""
    resized = np.array(Image.fromarray(image_hwc).resize((size, size), Image.BILINEAR))  # Resize on PIL
    tensor = resized.transpose(2, 0, 1).astype(np.float32) / np.float32(255)  # ToTensor
    mean = np.full((3, 1, 1), 0.5, dtype=np.float32)
    std = np.full((3, 1, 1), 0.5, dtype=np.float32)
    return (tensor - mean) / std  # Normalize


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    """A 24-image synthetic set in the CIFAR layout."""
    root = tmp_path_factory.mktemp("synth")
    write_cifar_layout(synthetic_cifar10(24, seed=3), root)
    return root


def write_batch(folder: Path, doc: object, raw: bytes | None = None) -> Path:
    """A hand-made test_batch (no SYNTHETIC marker), for bad-input cases."""
    batches = folder / cifar.BATCHES_DIR
    batches.mkdir(parents=True, exist_ok=True)
    (batches / "test_batch").write_bytes(raw if raw is not None else pickle.dumps(doc, protocol=4))
    return folder


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".bin"}


# --------------------------------------------------------------------------- preprocessing


def test_preprocess_equals_reference_transcription_on_real_images(cifar_dir):
    dataset = read_cifar10_test(cifar_dir)
    for index in (0, 1, 4321, 9999):
        got = preprocess_image(dataset.images[index])
        want = reference(dataset.images[index])
        assert got.dtype == np.float32 and got.shape == (3, 128, 128) and got.flags.c_contiguous
        assert got.tobytes() == want.tobytes()


def test_preprocess_equals_torch_tensor_ops():
    torch = pytest.importorskip("torch")
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    pil = Image.fromarray(image).resize((64, 64), Image.BILINEAR)
    tensor = torch.from_numpy(np.array(pil)).permute(2, 0, 1).contiguous().to(torch.float32).div(255)
    tensor = tensor.sub_(torch.full((3, 1, 1), 0.5)).div_(torch.full((3, 1, 1), 0.5))
    assert preprocess_image(image, 64).tobytes() == tensor.numpy().tobytes()


def test_float_interpolation_would_not_be_equal():
    """Guard the premise: resizing in float (not PIL uint8) gives different tensors."""
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    as_float = Image.fromarray(image[..., 0].astype(np.float32)).resize((128, 128), Image.BILINEAR)
    float_path = (np.asarray(as_float) / 255 - 0.5) / 0.5
    assert not np.array_equal(float_path.astype(np.float32), preprocess_image(image)[0])


def test_batch_and_iterator_match_single_images(synth_dir):
    dataset = read_cifar10_test(synth_dir)
    batch = preprocess_batch(dataset.images[:5], 32)
    assert batch.shape == (5, 3, 32, 32)
    seen = []
    for indices, tensors in iter_preprocessed(dataset, size=32, limit=11, batch=4):
        assert tensors.shape == (len(indices), 3, 32, 32)
        for k, i in enumerate(indices):
            assert tensors[k].tobytes() == preprocess_image(dataset.images[i], 32).tobytes()
        seen.extend(indices.tolist())
    assert seen == list(range(11))
    assert np.array_equal(batch[3], preprocess_image(dataset.images[3], 32))


# --------------------------------------------------------------------------- reading


def test_reads_real_set_in_every_accepted_form(cifar_dir):
    dataset = read_cifar10_test(cifar_dir)
    assert dataset.images.shape == (10000, 32, 32, 3) and dataset.images.dtype == np.uint8
    assert dataset.labels.dtype == np.int64 and np.bincount(dataset.labels).tolist() == [1000] * 10
    assert dataset.class_names[0] == "airplane" and dataset.class_names[9] == "truck"
    assert dataset.synthetic is False
    raw = pickle.loads((cifar_dir / cifar.BATCHES_DIR / "test_batch").read_bytes(), encoding="bytes")[b"data"]
    assert np.array_equal(dataset.images[7][:, :, 1], raw[7, 1024:2048].reshape(32, 32))  # row = R,G,B planes
    inner = read_cifar10_test(cifar_dir / cifar.BATCHES_DIR)
    assert np.array_equal(inner.labels, dataset.labels)


def test_reads_tarball_in_place(synth_dir, tmp_path):
    tarball = tmp_path / cifar.TARBALL
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(synth_dir / cifar.BATCHES_DIR, arcname=cifar.BATCHES_DIR)
    from_tar = read_cifar10_test(tarball)
    from_dir = read_cifar10_test(synth_dir)
    assert from_tar.source == tarball and from_tar.synthetic
    assert np.array_equal(from_tar.images, from_dir.images) and np.array_equal(from_tar.labels, from_dir.labels)
    assert read_cifar10_test(tmp_path).source == tarball  # a folder holding only the tarball


def test_synthetic_is_deterministic_and_labelled(synth_dir, tmp_path):
    a, b, c = synthetic_cifar10(24, seed=3), synthetic_cifar10(24, seed=3), synthetic_cifar10(24, seed=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    assert sorted(np.bincount(a.labels, minlength=10)) == [2] * 6 + [3] * 4
    read = read_cifar10_test(synth_dir)
    assert read.synthetic and np.array_equal(read.images, a.images)
    batch = pickle.loads((synth_dir / cifar.BATCHES_DIR / "test_batch").read_bytes(), encoding="bytes")
    assert batch[b"batch_label"].startswith(b"synthetic")
    assert (synth_dir / cifar.BATCHES_DIR / cifar.SYNTHETIC_MARKER).is_file()


def test_synthetic_writer_never_overwrites_a_real_set(tmp_path):
    real = write_batch(tmp_path, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]})
    before = (real / cifar.BATCHES_DIR / "test_batch").read_bytes()
    with pytest.raises(DataError, match="real CIFAR-10"):
        write_cifar_layout(synthetic_cifar10(4), real)
    assert (real / cifar.BATCHES_DIR / "test_batch").read_bytes() == before


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: d / "absent", "does not exist"),
        (lambda d: d, "no CIFAR-10 test set"),
        (lambda d: write_batch(d, None, raw=pickle.dumps({b"data": np.zeros((3, 3072), np.uint8)})[:50]), "not a readable"),
        (lambda d: write_batch(d, None, raw=b"hello, not a pickle"), "not a readable"),
        (lambda d: write_batch(d, None, raw=b"cos\nsystem\n(S'echo owned'\ntR."), "not a readable"),
        (lambda d: write_batch(d, {b"data": np.zeros((3, 32, 32, 3), np.uint8), b"labels": [0, 1, 2]}), "N×3072"),
        (lambda d: write_batch(d, {b"data": np.zeros((3, 3072), np.float32), b"labels": [0, 1, 2]}), "N×3072"),
        (lambda d: write_batch(d, {b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}), "labels of shape"),
        (lambda d: write_batch(d, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}), "labels outside"),
        (lambda d: write_batch(d, [1, 2, 3]), "lacks the 'data'"),
    ],
    ids=["missing", "no-test-batch", "truncated", "not-pickle", "code-in-pickle", "wrong-shape", "wrong-dtype",
         "label-count", "label-range", "not-a-dict"],
)
def test_bad_datasets_raise_data_error_with_a_fix(tmp_path, make, fragment):
    with pytest.raises(DataError, match=fragment) as info:
        read_cifar10_test(make(tmp_path))
    assert info.value.hint


def test_tarball_that_is_not_gzip(tmp_path):
    (tmp_path / cifar.TARBALL).write_bytes(b"<html>proxy login page</html>")
    with pytest.raises(DataError, match="not a readable gzip tarball"):
        read_cifar10_test(tmp_path)


# --------------------------------------------------------------------------- bins_from_cifar


def test_bins_are_reference_exact_and_labels_line_up(synth_dir, tmp_path):
    save, labels = tmp_path / "bins", tmp_path / "label.txt"
    result = bins_from_cifar(synth_dir, save, labels, image_size=32, limit=10, workers=2)
    dataset = read_cifar10_test(synth_dir)
    assert (result.count, result.written, result.skipped, result.synthetic) == (10, 10, False, True)
    assert result.bytes == 10 * 3 * 32 * 32 * 4
    assert sorted(folder_bytes(save)) == sorted(f"{i}.bin" for i in range(10))
    for i in range(10):
        path = save / f"{i}.bin"
        assert path.read_bytes() == reference(dataset.images[i], 32).astype("<f4").tobytes()
        assert path.stat().st_mode & 0o777 == 0o644
    assert labels.read_text().splitlines() == [str(x) for x in dataset.labels[:10]]
    manifest = json.loads((save / stage.MANIFEST).read_text())
    assert manifest["count"] == 10 and manifest["image_size"] == 32 and manifest["synthetic"] is True
    assert not (save / stage.PARTIAL).exists() and not list(save.glob(".*.part"))


def test_real_images_bin_bytes_match_reference(cifar_dir, tmp_path):
    result = bins_from_cifar(cifar_dir, tmp_path / "bins", tmp_path / "label.txt", limit=6)
    dataset = read_cifar10_test(cifar_dir)
    assert result.synthetic is False and result.count == 6
    for i in range(6):
        data = (tmp_path / "bins" / f"{i}.bin").read_bytes()
        assert len(data) == 196_608
        assert data == reference(dataset.images[i]).astype("<f4").tobytes()
    assert (tmp_path / "label.txt").read_text() == "".join(f"{x}\n" for x in dataset.labels[:6])


def test_rerun_skips_force_redoes_and_settings_change_rebuilds(synth_dir, tmp_path):
    save, labels = tmp_path / "bins", tmp_path / "label.txt"
    bins_from_cifar(synth_dir, save, labels, image_size=32, limit=12)
    stamp = (save / "3.bin").stat().st_mtime_ns
    again = bins_from_cifar(synth_dir, save, labels, image_size=32, limit=12)
    assert again.skipped and again.written == 0 and (save / "3.bin").stat().st_mtime_ns == stamp
    labels.write_text("damaged\n")
    restored = bins_from_cifar(synth_dir, save, labels, image_size=32, limit=12)  # not up to date: labels changed
    assert (restored.skipped, restored.written, restored.resumed) == (False, 0, 12)  # the bins are kept
    assert restored.reason == "label.txt changed since it was written" and restored.status == "done"
    assert len(labels.read_text().splitlines()) == 12 and (save / "3.bin").stat().st_mtime_ns == stamp
    forced = bins_from_cifar(synth_dir, save, labels, image_size=32, limit=12, force=True)
    assert not forced.skipped and forced.written == 12
    smaller = bins_from_cifar(synth_dir, save, labels, image_size=32, limit=5)
    assert smaller.written == 5 and sorted(folder_bytes(save)) == sorted(f"{i}.bin" for i in range(5))
    assert len(labels.read_text().splitlines()) == 5
    bigger = bins_from_cifar(synth_dir, save, labels, image_size=16, limit=5)
    assert bigger.written == 5 and (save / "0.bin").stat().st_size == 3 * 16 * 16 * 4


def test_killed_run_resumes_to_byte_identical_output(synth_dir, tmp_path):
    fresh = tmp_path / "fresh"
    bins_from_cifar(synth_dir, fresh, tmp_path / "fresh.txt", image_size=32, limit=16)
    save, labels = tmp_path / "bins", tmp_path / "label.txt"
    bins_from_cifar(synth_dir, save, labels, image_size=32, limit=16)
    # What a kill half-way leaves: the in-progress record, no manifest, some files missing, a temp file.
    (save / stage.MANIFEST).rename(save / stage.PARTIAL)
    for i in (3, 9, 15):
        (save / f"{i}.bin").unlink()
    (save / ".7.bin.part").write_bytes(b"\0" * 100)
    labels.unlink()
    kept = (save / "0.bin").stat().st_mtime_ns
    result = bins_from_cifar(synth_dir, save, labels, image_size=32, limit=16)
    assert (result.written, result.resumed) == (3, 13)
    assert (save / "0.bin").stat().st_mtime_ns == kept
    assert folder_bytes(save) == folder_bytes(fresh)
    assert labels.read_bytes() == (tmp_path / "fresh.txt").read_bytes()
    assert (save / stage.MANIFEST).is_file() and not (save / stage.PARTIAL).exists()
    assert not list(save.glob(".*.part"))


def test_interrupted_run_with_other_settings_is_redone(synth_dir, tmp_path):
    save, labels = tmp_path / "bins", tmp_path / "label.txt"
    bins_from_cifar(synth_dir, save, labels, image_size=16, limit=8)
    (save / stage.MANIFEST).rename(save / stage.PARTIAL)  # killed run of 16 px
    result = bins_from_cifar(synth_dir, save, labels, image_size=32, limit=8)
    assert (result.written, result.resumed) == (8, 0)
    assert {p.stat().st_size for p in save.glob("*.bin")} == {3 * 32 * 32 * 4}


def test_progress_reports_every_image(synth_dir, tmp_path):
    calls = []
    bins_from_cifar(synth_dir, tmp_path / "b", tmp_path / "l.txt", image_size=16, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (24, 24) and [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.parametrize(
    "save, label, limit, fragment",
    [
        ("bins", "label.txt", 0, "positive"),
        ("bins", "label.txt", -4, "positive"),
        ("afile", "label.txt", None, "is a file"),
        ("afile/sub", "label.txt", None, "is a file, not a folder"),
        ("bins", "nowhere/label.txt", None, "does not exist"),
        ("bins", ".", None, "is a folder"),
    ],
    ids=["limit-0", "limit-negative", "save-is-file", "save-under-file", "label-folder-missing", "label-is-folder"],
)
def test_bad_outputs_fail_before_any_work(synth_dir, tmp_path, save, label, limit, fragment):
    (tmp_path / "afile").write_text("keep me\n")
    with pytest.raises(DataError, match=fragment):
        bins_from_cifar(synth_dir, tmp_path / save, tmp_path / label, image_size=16, limit=limit)
    assert (tmp_path / "afile").read_text() == "keep me\n"
    assert not (tmp_path / "bins").exists()


def test_foreign_bin_folder_is_not_touched_without_force(synth_dir, tmp_path):
    save = tmp_path / "theirs"
    save.mkdir()
    (save / "0.bin").write_bytes(b"their data")
    with pytest.raises(DataError, match="not written by bit data"):
        bins_from_cifar(synth_dir, save, tmp_path / "l.txt", image_size=16, limit=2)
    assert (save / "0.bin").read_bytes() == b"their data"
    assert bins_from_cifar(synth_dir, save, tmp_path / "l.txt", image_size=16, limit=2, force=True).written == 2


# --------------------------------------------------------------------------- download


class _Server:
    """A local HTTP server for one body, honouring Range; records the requests' Range headers."""

    def __init__(self, body: bytes, *, short_by: int = 0):
        self.body, self.ranges = body, []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                start = 0
                ranged = self.headers.get("Range")
                owner.ranges.append(ranged)
                if ranged:
                    start = int(ranged.split("=")[1].rstrip("-"))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:len(body) - short_by])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cifar-10-python.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_tarball(synth_dir, tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("tar") / cifar.TARBALL
    with tarfile.open(path, "w:gz") as tar:
        tar.add(synth_dir / cifar.BATCHES_DIR, arcname=cifar.BATCHES_DIR)
    return path.read_bytes()


def _serve(monkeypatch, body: bytes, **kwargs) -> _Server:
    import hashlib

    server = _Server(body, **kwargs)
    monkeypatch.setattr(cifar, "CIFAR10_URL", server.url)
    monkeypatch.setattr(cifar, "CIFAR10_MD5", hashlib.md5(body).hexdigest())
    return server


def test_download_verifies_md5_and_is_readable(monkeypatch, tmp_path, fake_tarball):
    server = _serve(monkeypatch, fake_tarball)
    seen = []
    try:
        path = cifar.download_cifar10(tmp_path / "data", progress=lambda d, t: seen.append((d, t)))
    finally:
        server.close()
    assert path == tmp_path / "data" / cifar.TARBALL and path.read_bytes() == fake_tarball
    assert seen[-1] == (len(fake_tarball), len(fake_tarball)) and server.ranges == [None]
    assert read_cifar10_test(tmp_path / "data").synthetic
    assert not list((tmp_path / "data").glob("*.part"))


def test_download_resumes_a_partial_file(monkeypatch, tmp_path, fake_tarball):
    server = _serve(monkeypatch, fake_tarball)
    half = len(fake_tarball) // 2
    (tmp_path / (cifar.TARBALL + ".part")).write_bytes(fake_tarball[:half])
    try:
        path = cifar.download_cifar10(tmp_path)
    finally:
        server.close()
    assert server.ranges == [f"bytes={half}-"] and path.read_bytes() == fake_tarball


def test_download_interrupted_keeps_part_for_resume(monkeypatch, tmp_path, fake_tarball):
    server = _serve(monkeypatch, fake_tarball, short_by=1000)
    try:
        with pytest.raises(DataError, match="interrupted"):
            cifar.download_cifar10(tmp_path)
    finally:
        server.close()
    assert (tmp_path / (cifar.TARBALL + ".part")).stat().st_size == len(fake_tarball) - 1000
    server = _serve(monkeypatch, fake_tarball)
    try:
        assert cifar.download_cifar10(tmp_path).read_bytes() == fake_tarball
    finally:
        server.close()


def test_download_with_wrong_md5_is_deleted(monkeypatch, tmp_path, fake_tarball):
    server = _serve(monkeypatch, fake_tarball)
    monkeypatch.setattr(cifar, "CIFAR10_MD5", "0" * 32)
    try:
        with pytest.raises(DataError, match="md5"):
            cifar.download_cifar10(tmp_path)
    finally:
        server.close()
    assert not any(tmp_path.iterdir())


def test_download_without_network_says_where_to_put_the_file(monkeypatch, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(cifar, "CIFAR10_URL", f"http://127.0.0.1:{port}/cifar-10-python.tar.gz")
    with pytest.raises(DataError) as info:
        cifar.download_cifar10(tmp_path / "data", timeout=5)
    assert "cannot download" in info.value.message
    assert f"place {cifar.TARBALL} in {tmp_path / 'data'}" in info.value.hint
    assert not list((tmp_path / "data").glob(cifar.TARBALL))


def test_disk_full_is_a_data_error_and_the_run_can_continue(synth_dir, tmp_path, monkeypatch):
    save, labels = tmp_path / "bins", tmp_path / "label.txt"
    real_write = stage._write_bin

    def full_after_five(path, tensor):
        if int(path.stem) >= 5:
            raise OSError(28, "No space left on device")
        return real_write(path, tensor)

    monkeypatch.setattr(stage, "_write_bin", full_after_five)
    with pytest.raises(DataError, match="no space left while writing in .*bins; about 30.0 KiB needed"):
        bins_from_cifar(synth_dir, save, labels, image_size=16, limit=10, workers=1)
    assert not (save / stage.MANIFEST).exists() and not labels.exists()
    monkeypatch.setattr(stage, "_write_bin", real_write)
    result = bins_from_cifar(synth_dir, save, labels, image_size=16, limit=10)
    assert result.resumed == 5 and result.written == 5


def test_deleted_files_of_a_complete_run_are_the_only_ones_redone(synth_dir, tmp_path):
    save, labels = tmp_path / "bins", tmp_path / "label.txt"
    bins_from_cifar(synth_dir, save, labels, image_size=16, limit=8)
    reference_bytes = folder_bytes(save)
    (save / "2.bin").unlink()
    result = bins_from_cifar(synth_dir, save, labels, image_size=16, limit=8)
    assert (result.skipped, result.written, result.resumed) == (False, 1, 7)
    assert folder_bytes(save) == reference_bytes


@pytest.mark.parametrize("core", ["numpy.core", "numpy._core"])
def test_reads_pickles_of_numpy_1_and_numpy_2(tmp_path, core):
    """The official 2009 test_batch names numpy.core, one re-made under numpy 2 names numpy._core:
    both read under whichever numpy is installed (numpy 1.x has no numpy._core)."""
    images = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    doc = {b"data": images, b"labels": [3, 5], b"filenames": [b"a.png", b"b.png"], b"batch_label": b"x"}
    raw = pickle.dumps(doc, protocol=2)
    for name in (b"numpy._core.multiarray", b"numpy.core.multiarray"):  # protocol 2: GLOBAL "module\nname"
        raw = raw.replace(name + b"\n", core.encode() + b".multiarray\n")
    assert core.encode() + b".multiarray\n" in raw
    got = read_cifar10_test(write_batch(tmp_path, None, raw=raw))
    assert got.labels.tolist() == [3, 5]
    assert got.images[1, 0, 0].tolist() == [images[1, 0], images[1, 1024], images[1, 2048]]  # CHW rows → HWC


@pytest.mark.parametrize("version, module, expected", [
    ("1.26.4", "numpy._core.multiarray", "numpy.core.multiarray"),
    ("1.26.4", "numpy.core.multiarray", "numpy.core.multiarray"),
    ("2.4.6", "numpy.core.numeric", "numpy._core.numeric"),
    ("2.4.6", "numpy._core.numeric", "numpy._core.numeric"),
    ("1.24.2", "numpy", "numpy"),
])
def test_numpy_core_module_is_renamed_for_the_installed_numpy(monkeypatch, version, module, expected):
    monkeypatch.setattr(np, "__version__", version)
    assert cifar._numpy_core_here(module) == expected
