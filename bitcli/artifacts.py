"""Standard artefact names under the workdir, and the sidecars beside them.

This module is the only place that builds artefact paths, so every stage and
``bit all`` agree on them::

    workdir/
      dataset_bin/{i}.bin          bit data   (one float32 3x128x128 sample per file)
      dataset_bin/.manifest.json   bit data   (what the folder was made from)
      label.txt                    bit data   (line i = class of i.bin)
      synthetic-cifar10/           bit data --synthetic N (demo set, CIFAR layout)
      bit.onnx (+ .json sidecar)   bit export (dynamic batch)
      bit_bs{bs}_sim.onnx (+.json) bit simplify
      bit_bs{bs}.om (+ .json)      bit atc
      result/{slot}/result_bs{bs}/ bit infer  ({stem}_0.bin outputs, as ais_bench; slot = result_slot())
      result/{slot}/result_bs{bs}_summary.json
      result/{slot}/result_bs{bs}_accuracy.json   bit eval
      bench.json                   bit bench and bit all (one row per backend, precision, bs)
      report.json / report.md / throughput.png   bit all
      logs/                        external tools' logs

A sidecar is ``<artefact>.json`` next to the artefact: a flat JSON object
saying what the artefact was made from (input hashes, settings, tool
versions) and its own content digest. A stage is up to date when its artefact
exists, still has that digest, and its sidecar equals what the stage would
write now: the one rule of :mod:`bitcli.provenance`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

MODEL_STEM = "bit"
DATA_MANIFEST = ".manifest.json"  # ais_bench reads only *.bin/*.npy, so a dot-json in the folder is safe


@dataclass(frozen=True)
class Artifacts:
    """Paths of every artefact under one workdir."""

    workdir: Path

    @property
    def dataset_bin(self) -> Path:
        return self.workdir / "dataset_bin"

    @property
    def data_manifest(self) -> Path:
        return self.dataset_bin / DATA_MANIFEST

    @property
    def label_txt(self) -> Path:
        return self.workdir / "label.txt"

    @property
    def synthetic_data(self) -> Path:
        """Where `bit data --synthetic N` writes its CIFAR-format demo set (no --dataset-path)."""
        return self.workdir / "synthetic-cifar10"

    @property
    def onnx(self) -> Path:
        return self.workdir / f"{MODEL_STEM}.onnx"

    def sim_onnx(self, bs: int) -> Path:
        return sim_onnx_path(self.workdir, MODEL_STEM, bs)

    def om(self, bs: int) -> Path:
        return self.workdir / f"{MODEL_STEM}_bs{bs}.om"

    @property
    def result_root(self) -> Path:
        return self.workdir / "result"

    def result_dir(self, bs: int, slot: str | None = None) -> Path:
        """``result/result_bs{bs}``, or ``result/{slot}/result_bs{bs}`` for a :func:`result_slot`."""
        return result_dir_path(self.result_root if slot is None else self.result_root / slot, bs)

    def summary_json(self, bs: int, slot: str | None = None) -> Path:
        return summary_path(self.result_dir(bs, slot))

    def accuracy_json(self, bs: int, slot: str | None = None) -> Path:
        return accuracy_path(self.result_dir(bs, slot))

    def int8_onnx(self, bs: int) -> Path:
        return int8_onnx_path(self.workdir, MODEL_STEM, bs)

    @property
    def bench_json(self) -> Path:
        return self.workdir / "bench.json"

    def bench_record(self, bs: int) -> Path:
        """One batch size's bench figures as ``bit all`` keeps them (with a sidecar)."""
        return self.workdir / "bench" / f"bench_bs{bs}.json"

    @property
    def report_json(self) -> Path:
        return self.workdir / "report.json"

    @property
    def report_md(self) -> Path:
        return self.workdir / "report.md"

    @property
    def throughput_png(self) -> Path:
        return self.workdir / "throughput.png"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"


def sim_onnx_path(directory: Path, stem: str, bs: int) -> Path:
    """``DIR/{stem}_bs{bs}_sim.onnx``, the simplified static-shape model."""
    return Path(directory) / f"{stem}_bs{bs}_sim.onnx"


def result_dir_path(output_root: Path, bs: int) -> Path:
    """ais_bench's ``--output ROOT --output_dirname result_bs{bs}`` folder: ``ROOT/result_bs{bs}``."""
    return Path(output_root) / f"result_bs{bs}"


def result_slot(backend: str, precision: str = "fp32") -> str:
    """The folder name that keeps one backend × precision's results apart under ``result/``.

    ``onnxruntime`` for fp32, ``onnxruntime-int8`` otherwise: ``result/onnxruntime/result_bs8``,
    ``result/ascend/result_bs8``, ``result/openvino-bf16/result_bs8``.
    """
    return backend if precision == "fp32" else f"{backend}-{precision}"


def int8_onnx_path(directory: Path, stem: str, bs: int) -> Path:
    """``DIR/{stem}_bs{bs}_int8.onnx``, the quantized (QDQ) model ``bit quantize`` writes."""
    return Path(directory) / f"{stem}_bs{bs}_int8.onnx"


def summary_path(result_dir: Path) -> Path:
    """ais_bench's sibling summary: ``result/result_bs8`` → ``result/result_bs8_summary.json``."""
    result_dir = Path(result_dir)
    return result_dir.with_name(result_dir.name + "_summary.json")


def accuracy_path(result_dir: Path) -> Path:
    """``bit eval``'s sibling output: ``result/result_bs8_accuracy.json``."""
    result_dir = Path(result_dir)
    return result_dir.with_name(result_dir.name + "_accuracy.json")


# --------------------------------------------------------------------------- sidecars


def existing_folder(path: Path, what: str, *, example: str, missing_hint: str) -> Path:
    """``path`` when it is a folder; else a DataError saying whether it is a file or absent.

    Args:
        path: the folder a command was given.
        what: its role in the message, e.g. "input folder".
        example: the flag with an example value, for the "is a file" hint.
        missing_hint: what to do when it does not exist.
    """
    from bitcli.errors import DataError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(f"{what} {path} is a file, not a folder", hint=f"pass the folder itself, e.g. {example}")
    if not path.is_dir():
        raise DataError(f"{what} {path} does not exist", hint=missing_hint)
    return path


def sidecar_path(artifact: Path) -> Path:
    """``bit_bs8.om`` → ``bit_bs8.om.json``."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def read_sidecar(artifact: Path) -> dict[str, Any] | None:
    """The sidecar of ``artifact``, or None when it or the artefact is missing/corrupt."""
    if not Path(artifact).exists():
        return None
    return read_json_object(sidecar_path(artifact))


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON file holding an object, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_sidecar(artifact: Path, meta: dict[str, Any]) -> Path:
    """Write ``meta`` as the sidecar of ``artifact`` (atomically), with the artefact's own digest.

    Call it after the artefact is final: the sidecar records its content digest (``sha256``)
    and ``made_at`` (:func:`bitcli.provenance.stamp`), so a later change to it is seen.
    """
    from bitcli.provenance import stamp

    path = sidecar_path(artifact)
    atomic_write_text(path, json.dumps(stamp(artifact, meta), indent=2, sort_keys=True) + "\n")
    return path


def is_current(artifact: Path, expected: dict[str, Any], keys: tuple[str, ...] | None = None) -> bool:
    """True when ``artifact`` exists, still has its recorded digest, and its sidecar matches ``expected``.

    The one rule of :func:`bitcli.provenance.stale_reason` (which also says why not).

    Args:
        artifact: the artefact path.
        expected: the sidecar content the stage would write now.
        keys: compare only these keys (default: every key of ``expected``).
    """
    from bitcli.provenance import stale_reason

    return stale_reason(artifact, expected, keys) is None


# --------------------------------------------------------------------------- hashing / atomic writes


def file_hash(path: Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file's bytes (``algorithm``: any hashlib name), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes (hashed once per process while unchanged: provenance.file_digest)."""
    from bitcli.provenance import file_digest

    return file_digest(path)


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` on success.

    On any exception the temporary file is removed and ``final`` is untouched,
    so readers only ever see complete files. The temporary name carries this
    process's pid (``.NAME.PID.xxxx.part``); such files left by a killed
    writer of the same artefact are removed first.
    """
    from bitcli.resources import remove_stale_temps, temp_prefix

    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final.parent, final.name)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(final.name), suffix=".part", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes 0600; artefacts are shared read-only data (ais_bench of 2024
    # refuses group/other-writable inputs, so never wider than 0644).
    os.chmod(tmp_path, 0o644)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary name and a rename."""
    atomic_write_bytes(path, text.encode())


# --------------------------------------------------------------------------- never destroy a user's file


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one existing file (links and ``..`` included)."""
    try:
        return Path(a).exists() and Path(b).exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_replaceable(path: Path, flag: str, *, inputs: dict[str, Path] | None = None) -> None:
    """Refuse to write ``path`` over an input, a folder, or a file bit did not write.

    bit overwrites only its own artefacts, which carry a ``.json`` sidecar.

    Args:
        path: the file about to be (re)written.
        flag: the option that names it (for the hint), e.g. ``--output``.
        inputs: option → path of the inputs of the same command.

    Raises:
        DataError: naming the file and the fix.
    """
    from bitcli.errors import DataError

    path = Path(path)
    for name, source in (inputs or {}).items():
        if source is not None and (same_file(path, source) or Path(path).resolve() == Path(source).resolve()):
            raise DataError(f"{flag} {path} is the same file as {name} {source}; refusing to overwrite an input",
                            hint=f"choose another {flag}")
    if path.is_dir():
        raise DataError(f"{flag} {path} is a folder, not a file", hint=f"name a file, e.g. {path / 'bit.onnx'}")
    if (path.exists() or path.is_symlink()) and not sidecar_path(path).is_file():
        raise DataError(f"{path} exists and was not written by bit (it has no {sidecar_path(path).name} sidecar); "
                        "refusing to overwrite it", hint=f"move it away yourself, or choose another {flag}")
