"""The one provenance rule (bitcli.provenance): own digests, the reasons, the per-process digest cache."""

from __future__ import annotations

import hashlib
import json
import os

from bitcli import provenance
from bitcli.artifacts import is_current, sidecar_path, write_sidecar
from bitcli.provenance import content_digest, file_digest, folder_digest, stale_reason


def test_file_and_folder_digests_equal_hashlib_on_the_bytes(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "b.bin").write_bytes(b"\x00\x01")
    (tmp_path / "d" / "sub" / "a.txt").write_bytes(b"hello")
    assert file_digest(tmp_path / "d" / "b.bin") == hashlib.sha256(b"\x00\x01").hexdigest()
    b_sha, a_sha = hashlib.sha256(b"\x00\x01").hexdigest(), hashlib.sha256(b"hello").hexdigest()
    listing = f"b.bin\t2\t{b_sha}\nsub/a.txt\t5\t{a_sha}\n"  # sorted by relative path
    assert folder_digest(tmp_path / "d") == hashlib.sha256(listing.encode()).hexdigest()
    assert content_digest(tmp_path / "d") == folder_digest(tmp_path / "d")
    assert content_digest(tmp_path / "absent") is None


def test_the_cache_hashes_once_and_sees_a_same_size_edit_with_its_time_put_back(tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"A" * 1000)
    opened = []
    real_open = open
    monkeypatch.setattr(provenance, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k), raising=False)
    first = file_digest(path)
    assert file_digest(path) == first and len(opened) == 1  # the second ask is served from the cache
    stat = path.stat()
    path.write_bytes(b"B" * 1000)  # same size ...
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... and the same modification time
    assert file_digest(path) == hashlib.sha256(b"B" * 1000).hexdigest() != first and len(opened) == 2


def test_write_sidecar_records_the_own_digest_and_time(tmp_path):
    art = tmp_path / "bit_bs4_sim.onnx"
    art.write_bytes(b"model")
    write_sidecar(art, {"source_digest": "s1"})
    meta = json.loads(sidecar_path(art).read_text())
    assert meta["sha256"] == hashlib.sha256(b"model").hexdigest() and meta["made_at"].endswith("Z")
    assert meta["source_digest"] == "s1"


def test_each_reason_names_what_failed(tmp_path):
    art = tmp_path / "bit_bs4_sim.onnx"
    expected = {"source_digest": "s1", "opset": 13}
    inputs = {"source_digest": "bit.onnx was re-exported"}
    assert stale_reason(art, expected, inputs=inputs) == "bit_bs4_sim.onnx does not exist"
    art.write_bytes(b"model")
    assert "has no sidecar bit_bs4_sim.onnx.json" in stale_reason(art, expected, inputs=inputs)
    sidecar_path(art).write_text(json.dumps(expected))  # an older bit's sidecar: no own digest
    assert stale_reason(art, expected) == "bit_bs4_sim.onnx's sidecar records no content digest (written by an older bit)"
    write_sidecar(art, expected)
    assert stale_reason(art, expected, inputs=inputs) is None and is_current(art, expected)
    assert stale_reason(art, {**expected, "source_digest": "s2"}, inputs=inputs) == (
        "bit.onnx was re-exported after bit_bs4_sim.onnx was made")
    assert stale_reason(art, {**expected, "opset": 17}) == "bit_bs4_sim.onnx was made with opset 13, now 17"
    assert stale_reason(art, {**expected, "opset": 17}, keys=("source_digest",)) is None  # only the keys asked
    art.write_bytes(b"garbage")
    assert stale_reason(art, expected, inputs=inputs) == "bit_bs4_sim.onnx changed since it was written"
    assert not is_current(art, expected)


def test_a_folder_artefact_is_stale_when_a_file_in_it_changes(tmp_path):
    folder = tmp_path / "result_bs1"
    folder.mkdir()
    (folder / "0_0.bin").write_bytes(b"\x01" * 40)
    write_sidecar(folder, {"backend": "onnxruntime"})
    assert sidecar_path(folder).name == "result_bs1.json" and is_current(folder, {"backend": "onnxruntime"})
    (folder / "1_0.bin").write_bytes(b"\x02" * 40)  # an extra output
    assert stale_reason(folder, {"backend": "onnxruntime"}) == "result_bs1 changed since it was written"
