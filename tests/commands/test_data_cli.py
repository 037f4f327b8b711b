"""`bit data` on the command line: defaults from the profile, summaries, reruns and every bad input."""

from __future__ import annotations

import json
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
from bit_testlib import invoke

from bitcli.datasets import cifar


def one_error_line(result, fragment: str) -> str:
    """Assert a failed run printed exactly one error line holding ``fragment``, and no traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert fragment in errors[0], result.stderr
    assert "—" in errors[0]  # a hint with the fix follows
    return errors[0]


def make_batch(folder: Path, raw: bytes) -> Path:
    (folder / cifar.BATCHES_DIR).mkdir(parents=True)
    (folder / cifar.BATCHES_DIR / "test_batch").write_bytes(raw)
    return folder


def test_real_set_with_limit_then_up_to_date_then_force(runner, cifar_dir, tmp_path):
    args = ["data", "--dataset-path", str(cifar_dir), "--workdir", str(tmp_path / "w"), "--limit", "20"]
    first = invoke(runner, *args)
    assert first.exit_code == 0, first.output
    bins = sorted((tmp_path / "w" / "dataset_bin").glob("*.bin"))
    assert len(bins) == 20 and {p.stat().st_size for p in bins} == {196_608}
    assert len((tmp_path / "w" / "label.txt").read_text().splitlines()) == 20
    assert "wrote 20 of 20 images" in first.stdout and "3,932,160 bytes" in first.stdout
    assert "synthetic" not in first.stdout.lower()
    second = invoke(runner, *args)
    assert second.exit_code == 0 and "up to date: 20 images" in second.stdout and "nothing to do" in second.stdout
    forced = invoke(runner, *args, "--force")
    assert forced.exit_code == 0 and "wrote 20 of 20" in forced.stdout


def test_defaults_come_from_the_profile(runner, cifar_dir, tmp_path):
    (tmp_path / "bit.yaml").write_text(
        f"workdir: out\ndataset: {{path: {cifar_dir}, limit: 3}}\nmodel: {{image_size: 32}}\n"
    )
    result = invoke(runner, "data", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "done" and len(doc["results"]) == 1
    summary = doc["results"][0]
    assert summary["count"] == 3 and summary["bytes"] == 3 * 3 * 32 * 32 * 4 and summary["synthetic"] is False
    assert Path(summary["save_path"]) == tmp_path / "out" / "dataset_bin"
    assert (tmp_path / "out" / "label.txt").is_file()


def test_synthetic_is_labelled_everywhere(runner, tmp_path):
    result = invoke(runner, "data", "--synthetic", "12", "--workdir", "w", "--save-path", "bins", "--label-path", "l.txt")
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.stderr and "SYNTHETIC" in result.stdout
    assert "wrote 12 of 12 SYNTHETIC (not CIFAR-10) images" in result.stdout
    assert len(list((tmp_path / "bins").glob("*.bin"))) == 12
    assert (tmp_path / "w" / "synthetic-cifar10" / cifar.BATCHES_DIR / cifar.SYNTHETIC_MARKER).is_file()
    again = invoke(runner, "data", "--synthetic", "12", "--workdir", "w", "--save-path", "bins", "--label-path", "l.txt")
    assert again.exit_code == 0 and "up to date: 12 SYNTHETIC" in again.stdout
    as_json = invoke(runner, "data", "--synthetic", "12", "--workdir", "w", "--save-path", "bins", "--label-path", "l.txt", "--json")
    doc = json.loads(as_json.stdout)
    assert doc["status"] == "up to date" and doc["results"][0]["synthetic"] is True


def test_quiet_hides_progress_and_info_but_keeps_the_summary(runner, tmp_path):
    result = invoke(runner, "--quiet", "data", "--synthetic", "4", "--workdir", "w")
    assert result.exit_code == 0, result.output
    assert "wrote 4 of 4" in result.stdout
    assert "→" not in result.stderr and "img/s" not in result.stderr


def test_synthetic_into_a_real_set_is_refused(runner, tmp_path):
    real = make_batch(tmp_path / "real", pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}))
    before = (real / cifar.BATCHES_DIR / "test_batch").read_bytes()
    result = invoke(runner, "data", "--synthetic", "4", "--dataset-path", str(real), "--workdir", "w")
    one_error_line(result, "already holds a real CIFAR-10 test set")
    assert (real / cifar.BATCHES_DIR / "test_batch").read_bytes() == before


@pytest.mark.parametrize(
    "setup, extra, fragment",
    [
        (lambda d: None, ["--dataset-path", "absent"], "does not exist"),
        (lambda d: (d / "empty").mkdir(), ["--dataset-path", "empty"], "no CIFAR-10 test set"),
        (lambda d: make_batch(d / "ds", pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 4})[:64]),
         ["--dataset-path", "ds"], "not a readable CIFAR-10 pickle"),
        (lambda d: make_batch(d / "ds", b"PK\x03\x04 a zip, not a pickle"), ["--dataset-path", "ds"], "not a readable CIFAR-10 pickle"),
        (lambda d: make_batch(d / "ds", pickle.dumps({b"data": np.zeros((4, 32, 32, 3), np.uint8), b"labels": [0] * 4})),
         ["--dataset-path", "ds"], "'data' must be uint8 N×3072"),
        (lambda d: (d / cifar.TARBALL).write_bytes(b"<html>captive portal</html>"), ["--dataset-path", "."], "not a readable gzip tarball"),
        (lambda d: None, ["--synthetic", "3", "--limit", "0"], "--limit must be a positive number"),
        (lambda d: None, ["--synthetic", "3", "--limit", "-2"], "--limit must be a positive number"),
        (lambda d: None, ["--synthetic", "0"], "--synthetic must be a positive number"),
        (lambda d: (d / "taken").write_text("keep"), ["--synthetic", "3", "--save-path", "taken"], "is a file, not a folder"),
        (lambda d: (d / "taken").write_text("keep"), ["--synthetic", "3", "--save-path", "taken/sub"], "is a file, not a folder"),
        (lambda d: None, ["--synthetic", "3", "--save-path", "/proc/bit-data"], "save path /proc/bit-data"),
        (lambda d: None, ["--synthetic", "3", "--label-path", "missing/label.txt"], "does not exist"),
        (lambda d: (d / "taken").write_text("keep"), ["--synthetic", "3", "--workdir", "taken/w"], "is a file, not a folder"),
        (lambda d: None, ["--synthetic", "3", "--download"], "--synthetic and --download both given"),
        (lambda d: (d / "bins").mkdir() or (d / "bins" / "0.bin").write_text("keep"), ["--synthetic", "3", "--save-path", "bins"],
         "not written by bit data"),
    ],
    ids=["missing-folder", "no-test-batch", "truncated", "not-pickle", "wrong-shape", "tarball-not-gzip", "limit-0",
         "limit-negative", "synthetic-0", "save-is-file", "save-under-file", "save-unwritable", "label-folder-missing",
         "workdir-under-file", "synthetic-and-download", "foreign-bins"],
)
def test_bad_input_is_one_line_exit_1_nothing_damaged(runner, tmp_path, setup, extra, fragment):
    setup(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = invoke(runner, "data", *extra)
    one_error_line(result, fragment)
    flag_values = ("--limit must", "--synthetic must", "both given")  # bad flag values: usage errors
    assert result.exit_code == (2 if fragment.startswith(flag_values) or "both given" in fragment else 1)
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / "bit_work" / "dataset_bin").exists() or "foreign" in fragment


def test_profile_limit_of_wrong_type_is_a_config_error(runner, tmp_path):
    (tmp_path / "bit.yaml").write_text("dataset: {limit: lots}\n")
    one_error_line(invoke(runner, "data"), "'dataset.limit' must be positive int or null")


def test_download_without_network_says_where_to_put_the_file(runner, tmp_path, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(cifar, "CIFAR10_URL", f"http://127.0.0.1:{port}/cifar-10-python.tar.gz")
    result = invoke(runner, "data", "--download", "--dataset-path", "incoming", "--workdir", "w")
    line = one_error_line(result, "cannot download")
    assert f"place {cifar.TARBALL} in {tmp_path / 'incoming'}" in line
    assert not (tmp_path / "incoming" / cifar.TARBALL).exists()


def test_download_is_skipped_when_the_set_is_present(runner, cifar_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "CIFAR10_URL", "http://127.0.0.1:9/never-used")
    result = invoke(runner, "data", "--download", "--dataset-path", str(cifar_dir), "--workdir", "w", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert "not downloading" in result.stderr


def test_no_download_unless_asked(runner, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network used without --download")

    monkeypatch.setattr(cifar.urllib.request, "urlopen", refuse)
    one_error_line(invoke(runner, "data", "--dataset-path", "absent"), "does not exist")
