"""Results per backend and precision: ``result/{slot}/result_bs{N}``, and the move from the old layout.

A result (outputs folder, summary, accuracy record, bench row) belongs to
(backend, precision, bs). Its folder is ``result/{result_slot(backend, precision)}/result_bs{N}``
(:func:`bitcli.artifacts.result_slot`: ``onnxruntime``, ``torch``, ``ascend``,
``onnxruntime-int8``…), so the backends' results live side by side.

Older bits kept one slot per bs: ``result/result_bs{N}`` with its ``_summary.json``,
``_accuracy.json`` and the sidecars ``bit all`` wrote. :func:`migrate_legacy` moves each
such set once into the slot its summary names (its ``backend`` field; precision fp32,
the only one older bits had), by renaming: nothing is deleted, nothing is overwritten
(a slot that already holds that bs keeps its own and the old set stays where it is).
A summary naming no backend bit knows (ais_bench's own, or none) is left in place and
read as it is (:func:`result_dir_for`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bitcli.artifacts import Artifacts, accuracy_path, read_json_object, result_slot, sidecar_path, summary_path

_LEGACY_SUMMARY = re.compile(r"^result_bs(\d+)_summary\.json$")


def slot_for(cfg, backend: str) -> str:
    """The slot of ``backend`` at the profile's precision (``precision``, fp32 by default)."""
    return result_slot(backend, cfg["precision"])


def _known_backends() -> tuple[str, ...]:
    from bitcli.backends.base import REGISTRY

    return tuple(REGISTRY)


def _members(result_dir: Path) -> list[Path]:
    """The files of one result set: folder, summary, accuracy record and bit's sidecars of them."""
    accuracy = accuracy_path(result_dir)
    return [result_dir, summary_path(result_dir), accuracy, sidecar_path(result_dir), sidecar_path(accuracy)]


def legacy_backend(names: Artifacts, bs: int) -> str | None:
    """The backend the old-layout ``result/result_bs{bs}`` summary names, when bit knows it."""
    doc = read_json_object(names.summary_json(bs)) or {}
    backend = doc.get("backend")
    return backend if isinstance(backend, str) and backend in _known_backends() else None


def migrate_legacy(names: Artifacts) -> list[str]:
    """Move every old-layout result set into its slot, once; return one line per set moved or kept.

    Returns:
        Messages such as ``moved result/result_bs1 → result/onnxruntime/result_bs1``; empty
        when there was nothing to move.
    """
    root = names.result_root
    if not root.is_dir():
        return []
    messages = []
    for summary in sorted(root.iterdir()):
        match = _LEGACY_SUMMARY.match(summary.name)
        if not match or not summary.is_file():
            continue
        bs = int(match[1])
        backend = legacy_backend(names, bs)
        if backend is None:
            continue  # ais_bench's own, or unknown: read in place as the legacy folder
        slot = result_slot(backend, "fp32")
        pairs = [(src, dst) for src, dst in zip(_members(names.result_dir(bs)), _members(names.result_dir(bs, slot)))
                 if src.exists() or src.is_symlink()]
        rel = f"result/result_bs{bs}"
        if any(dst.exists() or dst.is_symlink() for _, dst in pairs):
            messages.append(f"kept {rel} where it is: result/{slot}/result_bs{bs} already exists")
            continue
        names.result_dir(bs, slot).parent.mkdir(parents=True, exist_ok=True)
        for src, dst in pairs:
            os.replace(src, dst)
        messages.append(f"moved {rel} → result/{slot}/result_bs{bs} (results are kept per backend and precision now)")
    return messages


def result_dir_for(names: Artifacts, bs: int, slot: str) -> Path:
    """Where the results of ``slot`` for ``bs`` are: the slot's folder, else an unmigrated legacy folder.

    A legacy folder is used only when the slot has none and its summary names no backend bit knows
    (ais_bench's own); one naming a backend was moved by :func:`migrate_legacy`.
    """
    own = names.result_dir(bs, slot)
    legacy = names.result_dir(bs)
    if not own.exists() and legacy.is_dir() and legacy_backend(names, bs) is None:
        return legacy
    return own
