"""Which files in a ``bit data`` folder are bit's, and whether they still hold what was written.

* ``SAVE/.digests.json`` records, at write time, each ``{i}.bin``'s size,
  modification time and CRC-32 (cheap: about 1 GB/s). The up-to-date check
  compares size and time of every file (no reading); ``bit data --verify``
  re-reads every file and compares the CRC, so same-size corruption is found.
* The label file gets a sidecar (``label.txt.json``) with its sha256; an
  existing label file is replaced only when that sidecar says bit wrote it,
  or when it already holds the same labels.
* bit deletes a ``{i}.bin`` only when its manifest says bit wrote it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitcli.artifacts import DATA_MANIFEST, atomic_write_text, read_json_object, sidecar_path
from bitcli.errors import DataError

DIGESTS = ".digests.json"
PARTIAL = ".manifest.partial.json"
SHOWN = 3
_BIN = re.compile(r"^(\d+)\.bin$")


def crc32_bytes(data: Any) -> str:
    """CRC-32 of a bytes-like object, as 8 hex digits."""
    return f"{zlib.crc32(memoryview(data).cast('B')) & 0xFFFFFFFF:08x}"


def crc32_file(path: Path) -> str:
    """CRC-32 of a file's bytes, read in 1 MiB blocks."""
    value = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            value = zlib.crc32(block, value)
    return f"{value & 0xFFFFFFFF:08x}"


def read_digests(save_path: Path) -> dict[str, list]:
    """name → [size, mtime_ns, crc32] as recorded, {} when there is no (readable) record."""
    doc = read_json_object(Path(save_path) / DIGESTS) or {}
    files = doc.get("files")
    return files if isinstance(files, dict) else {}


def write_digests(save_path: Path, crcs: dict[int, str]) -> None:
    """Record size, time and CRC of every ``{i}.bin`` in ``crcs`` (call after the files are final)."""
    files = {}
    for index, crc in sorted(crcs.items()):
        stat = (Path(save_path) / f"{index}.bin").stat()
        files[f"{index}.bin"] = [stat.st_size, stat.st_mtime_ns, crc]
    atomic_write_text(Path(save_path) / DIGESTS, json.dumps({"algorithm": "crc32", "files": files}) + "\n")


def unchanged(path: Path, entry: list | None) -> bool:
    """True when ``path``'s size and time equal the recorded ``entry`` (no read)."""
    if not entry:
        return False
    try:
        stat = path.stat()
    except OSError:
        return False
    return [stat.st_size, stat.st_mtime_ns] == list(entry[:2])


# --------------------------------------------------------------------------- ownership


def check_label_replaceable(label_path: Path, text: str, inputs: dict[str, Path]) -> None:
    """Refuse to write ``label_path`` over an input or a file that is not bit's own unchanged label file.

    Raises:
        DataError: naming the file and the fix.
    """
    from bitcli.artifacts import same_file

    for name, source in inputs.items():
        if same_file(label_path, source):
            raise DataError(f"--label-path {label_path} is the same file as {name} {source}; refusing to overwrite it",
                            hint="choose another --label-path")
    if not label_path.exists() and not label_path.is_symlink():
        return
    if not label_path.is_file():
        raise DataError(f"label path {label_path} is not a regular file", hint="choose another --label-path")
    current = label_path.read_bytes()
    if current == text.encode():
        return
    meta = read_json_object(sidecar_path(label_path)) or {}
    if meta.get("stage") == "data-labels":  # bit wrote it (its sidecar says so): restored even when edited
        return
    raise DataError(f"{label_path} already exists and was not written by bit data (no {sidecar_path(label_path).name} "
                    "sidecar); refusing to overwrite it", hint="move it away yourself, or choose another --label-path")


def write_labels(label_path: Path, text: str) -> None:
    """Write the label file and its sidecar (what lets a later run replace it)."""
    atomic_write_text(label_path, text)
    atomic_write_text(sidecar_path(label_path), json.dumps(
        {"stage": "data-labels", "sha256": hashlib.sha256(text.encode()).hexdigest()}, indent=2) + "\n")


def check_record_files(save_path: Path, names: tuple[str, ...]) -> None:
    """bit's own record files in the folder must be files (a folder named .manifest.json is refused)."""
    for name in names:
        path = Path(save_path) / name
        if (path.exists() or path.is_symlink()) and not path.is_file():
            raise DataError(f"{path} is not a file; bit data keeps its record there",
                            hint="move it away, or choose another --save-path")


def extra_bins(bins: dict[int, Path], count: int, own_count: int) -> tuple[list[Path], list[Path]]:
    """(bit's files past ``count`` to delete, other files past ``count`` bit must not touch)."""
    ours = [p for i, p in sorted(bins.items()) if count <= i < own_count]
    foreign = [p for i, p in sorted(bins.items()) if i >= max(count, own_count)]
    return ours, foreign


def check_outputs(save_path: Path, label_path: Path, limit: int | None) -> None:
    """Fail before any work on a bad limit or unusable output paths.

    Raises:
        DataError: naming the path and the fix.
    """
    if limit is not None and limit <= 0:
        raise DataError(f"--limit must be a positive number of images, got {limit}", hint="e.g. --limit 100, or leave it out for all")
    save_path, label_path = Path(save_path), Path(label_path)
    if save_path.exists() and not save_path.is_dir():
        raise DataError(f"save path {save_path} is a file, not a folder", hint="give --save-path a folder (new or made by bit data)")
    _check_writable(save_path, "save path", "--save-path")
    if label_path.is_dir():
        raise DataError(f"label path {label_path} is a folder", hint="give --label-path a file name, e.g. WORKDIR/label.txt")
    if not label_path.parent.is_dir():
        raise DataError(f"folder {label_path.parent} of the label path does not exist", hint="create it or choose another --label-path")
    _check_writable(label_path.parent, "label folder", "--label-path")


def _check_writable(path: Path, what: str, flag: str) -> None:
    from bitcli.resources import writable_problem

    problem = writable_problem(path)
    if problem:
        raise DataError(f"{what} {path} cannot be written: {problem}", hint=f"choose another {flag}")


# --------------------------------------------------------------------------- bit data --verify


@dataclass
class VerifyResult:
    """What ``bit data --verify`` found."""

    save_path: Path
    checked: int = 0
    bad: list[str] = field(default_factory=list)       # content differs from what was written
    missing: list[str] = field(default_factory=list)
    labels_ok: bool | None = None                       # None: no label sidecar to check against

    @property
    def ok(self) -> bool:
        return not self.bad and not self.missing and self.labels_ok is not False


def verify_folder(save_path: Path, label_path: Path) -> VerifyResult:
    """Re-read every file ``bit data`` recorded and compare its CRC-32 (and the label file's sha256).

    Raises:
        DataError: the folder has no record to verify against.
    """
    save_path = Path(save_path)
    record = read_digests(save_path)
    if not record:
        raise DataError(f"{save_path} has no {DIGESTS} record to verify against (not written by this bit data)",
                        hint="run `bit data --force` to rewrite the folder with a record")
    result = VerifyResult(save_path)
    for name, entry in sorted(record.items(), key=lambda kv: int(kv[0].split(".")[0])):
        path = save_path / name
        if not path.is_file():
            result.missing.append(name)
            continue
        result.checked += 1
        if path.stat().st_size != entry[0] or crc32_file(path) != entry[2]:
            result.bad.append(name)
    meta = read_json_object(sidecar_path(label_path))
    if meta and label_path.is_file():
        result.labels_ok = hashlib.sha256(label_path.read_bytes()).hexdigest() == meta.get("sha256")
    elif meta:
        result.labels_ok = False
    return result


# --------------------------------------------------------------------------- the manifest's identity

INFO_KEYS = ("source_path", "source_total", "files_sha256", "made_at")  # recorded; not part of the data's identity


def data_identity(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the data is (source digest, preprocessing, size, count, synthetic), without info-only keys."""
    return {k: v for k, v in manifest.items() if k not in INFO_KEYS}


def same_data(recorded: dict[str, Any] | None, expected: dict[str, Any]) -> bool:
    """The manifest describes the data ``expected`` asks for (info-only keys aside)."""
    return recorded is not None and data_identity(recorded) == expected


def data_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's identity (canonical JSON): equal digests, equal data."""
    text = json.dumps(data_identity(manifest), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- is the folder current?


def numbered_bins(folder: Path) -> dict[int, Path]:
    """``{i: folder/i.bin}`` for every numbered ``.bin`` in ``folder`` ({} when it is absent)."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {int(m.group(1)): p for p in folder.iterdir() if (m := _BIN.match(p.name))}


def files_digest(save_path: Path) -> str:
    """The folder's own digest: sha256 of its file record (each ``{i}.bin``'s size, time and CRC-32)."""
    text = json.dumps(read_digests(save_path), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def complete(save_path: Path, manifest: dict) -> bool:
    """Every file present, of the right size, and untouched since written (size and time as recorded)."""
    bins = numbered_bins(save_path)
    want = manifest["bytes_per_file"]
    record = read_digests(save_path)
    return len(bins) == manifest["count"] and all(
        i in bins and bins[i].stat().st_size == want and unchanged(bins[i], record.get(f"{i}.bin"))
        for i in range(manifest["count"])
    )


def folder_stale_reason(save_path: Path, label_path: Path, expected: dict[str, Any], labels: str) -> str | None:
    """None when ``save_path`` and the label file hold what ``expected`` asks for, untouched; else why not.

    The data folder's form of :func:`bitcli.provenance.stale_reason`: its manifest records the
    source's digest and settings, its file record (``.digests.json``, whose digest the manifest
    keeps) each file's size, time and CRC-32.
    """
    save_path, label_path = Path(save_path), Path(label_path)
    name = save_path.name
    manifest = read_json_object(save_path / DATA_MANIFEST)
    if manifest is None:
        if (save_path / PARTIAL).is_file():
            return f"{name} is incomplete (an earlier bit data was interrupted)"
        return f"{name} does not exist" if not save_path.is_dir() else f"{name} has no manifest (not made by bit data)"
    if not same_data(manifest, expected):
        recorded = data_identity(manifest)
        key = next(k for k in sorted(set(recorded) | set(expected)) if recorded.get(k) != expected.get(k))
        if key in ("source_sha256", "source_name", "synthetic"):
            return f"{name} was made from other data ({manifest.get('source_path') or manifest.get('source_name')})"
        return f"{name} was made with {key} {recorded.get(key)!r}, now {expected.get(key)!r}"
    if manifest.get("files_sha256") not in (None, files_digest(save_path)):
        return f"{name}/{DIGESTS} changed since it was written"
    if not complete(save_path, manifest):
        return f"{name}: files changed or missing since they were written"
    if not label_path.is_file():
        return f"{label_path.name} does not exist"
    if label_path.read_text() != labels:
        return f"{label_path.name} changed since it was written"
    return None
