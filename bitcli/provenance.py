"""One provenance rule for every artefact bit writes, and the digests it rests on.

Every sidecar (``<artefact>.json``, :func:`bitcli.artifacts.write_sidecar`) records:

* what the artefact was made from: its inputs' content digests and the settings and tool
  versions that change it (the keys each stage puts in its ``expected`` dict; ``made_from``
  names the inputs, ``{"bit.onnx": "<sha256>"}``, for ``bit status``);
* its own content digest, ``sha256`` (a folder's is the digest of its file list: each
  file's relative name, size and sha256), and ``made_at`` (UTC, ISO 8601).

An artefact is current only when it exists, its sidecar exists, its content still has the
recorded digest, and every recorded input and setting equals today's. :func:`stale_reason`
answers with None or one line saying which of those failed, e.g.
"bit_bs4_sim.onnx changed since it was written" or
"bit.onnx was re-exported after bit_bs4_sim.onnx was made".

Digests are cached per process by (path, device, inode, size, mtime, ctime): a file is
hashed once however many steps ask, and any write (which moves ctime, which ``touch`` or
``os.utime`` cannot set back) makes it be hashed again.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

OWN_DIGEST = "sha256"
MADE_AT = "made_at"
MADE_FROM = "made_from"

_CACHE: dict[tuple, str] = {}


def _identity(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (str(Path(path).resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, hashed once per process while the file is unchanged.

    Raises:
        OSError: the file cannot be read.
    """
    key = _identity(path)
    if key is not None and key in _CACHE:
        return _CACHE[key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    value = digest.hexdigest()
    if key is not None and _identity(path) == key:  # not changed while being read
        _CACHE[key] = value
    return value


def folder_digest(folder: Path) -> str:
    """sha256 of a folder's file list: one ``name<TAB>size<TAB>sha256`` line per file, sorted."""
    folder = Path(folder)
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        lines.append(f"{path.relative_to(folder).as_posix()}\t{path.stat().st_size}\t{file_digest(path)}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def content_digest(path: Path) -> str | None:
    """The artefact's own digest (file or folder), or None when it does not exist."""
    path = Path(path)
    if path.is_dir():
        return folder_digest(path)
    if path.is_file():
        return file_digest(path)
    return None


def digest_or_missing(path: Path) -> str:
    """:func:`content_digest`, or ``"missing"`` (an input that is not there yet)."""
    return content_digest(path) or "missing"


def stamp(artifact: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with the artefact's own digest and the time it was made (what write_sidecar records)."""
    return {**meta, OWN_DIGEST: content_digest(artifact), MADE_AT: now_iso()}


def now_iso() -> str:
    """The current UTC time, to the second, ISO 8601 (``2026-12-02T10:40:00Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def stale_reason(
    artifact: Path,
    expected: dict[str, Any] | None = None,
    keys: tuple[str, ...] | None = None,
    *,
    inputs: dict[str, str] | None = None,
) -> str | None:
    """None when ``artifact`` is current; else one line saying why not.

    Args:
        artifact: the artefact (file or folder).
        expected: what its sidecar would record if it were made now (inputs' digests, settings).
        keys: compare only these keys of ``expected`` (default: all of them).
        inputs: key → what changed when that key differs, e.g.
            ``{"source_digest": "bit.onnx was re-exported"}``; other keys are settings.

    Returns:
        None, or e.g. "bit_bs4_sim.onnx changed since it was written".
    """
    from bitcli.artifacts import read_json_object, sidecar_path

    artifact = Path(artifact)
    name = artifact.name
    if not artifact.exists():
        return f"{name} does not exist"
    meta = read_json_object(sidecar_path(artifact))
    if meta is None:
        return f"{name} has no sidecar {sidecar_path(artifact).name} (not written by bit, or its writing was interrupted)"
    recorded = meta.get(OWN_DIGEST)
    if not recorded:
        return f"{name}'s sidecar records no content digest (written by an older bit)"
    if content_digest(artifact) != recorded:
        return f"{name} changed since it was written"
    expected = expected or {}
    for key in keys or tuple(expected):
        if meta.get(key) != expected.get(key):
            if inputs and key in inputs:
                return f"{inputs[key]} after {name} was made"
            return f"{name} was made with {key} {_short(meta.get(key))}, now {_short(expected.get(key))}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        text = value[:12]  # a digest: its head is enough to tell two apart
    return text if len(text) <= 60 else text[:57] + "..."
