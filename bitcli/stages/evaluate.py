"""Outputs + labels → top-1..k accuracy, per-class top-1, confusion matrix (the seed's bit_postprocess.py, done right).

Only files named like ais_bench outputs of model output 0 are read
(``{stem}_0.bin``, ``.npy`` or ``.txt``), so an old ``sumary.json`` or any
other file in the folder is ignored. Multi-device runs keep their outputs in
``device{D}_{i}/`` or ``device{D}/`` sub-folders; those are read as one set.

Label files, detected from their content:

* ``index``: line *i* is the class of ``i.bin`` (what ``bit data`` writes);
* ``stem``: lines ``{stem} {class}``;
* ``batch``: the seed's older per-batch file — line *i* holds the
  space-separated classes of batch file ``i.bin``, whose output holds one row
  of logits per sample (a zero-padded last batch has extra rows, ignored).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitcli.artifacts import accuracy_path, atomic_write_text, existing_folder
from bitcli.errors import ConfigError, DataError

OUTPUT_RE = re.compile(r"^(?P<stem>.+)_0\.(?P<ext>bin|npy|txt)$", re.IGNORECASE)
DEVICE_DIR_RE = re.compile(r"^device\d+(_\d+)?$")
SHOWN = 5  # missing stems named in an error message


@dataclass
class EvalResult:
    """Accuracy of one result folder."""

    output_dir: Path
    label_path: Path
    label_format: str
    samples: int
    num_classes: int
    topk: dict[int, float]
    per_class: list[float | None]
    per_class_samples: list[int]
    confusion: list[list[int]]
    json_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    status: str = "done"         # "done" | "up to date" (read back from its record)
    identity: dict[str, Any] = field(default_factory=dict)  # the result's backend, precision, device, model, weights

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (fractions 0..1), with what the outputs were measured with."""
        doc = {
            "samples": self.samples,
            "topk": {str(k): v for k, v in self.topk.items()},
            "per_class": self.per_class,
            "confusion": self.confusion,
            "num_classes": self.num_classes,
            "label_format": self.label_format,
            "output_dir": str(self.output_dir),
        }
        return {**doc, **self.identity}

    @classmethod
    def from_json(cls, doc: dict[str, Any], output_dir: Path, label_path: Path, json_path: Path) -> "EvalResult | None":
        """An up-to-date record read back (None when it lacks a field this bit needs)."""
        try:
            confusion = [[int(v) for v in row] for row in doc["confusion"]]
            return cls(output_dir=Path(output_dir), label_path=Path(label_path), label_format=str(doc["label_format"]),
                       samples=int(doc["samples"]), num_classes=int(doc["num_classes"]),
                       topk={int(k): float(v) for k, v in doc["topk"].items()}, per_class=list(doc["per_class"]),
                       per_class_samples=[sum(row) for row in confusion], confusion=confusion, json_path=Path(json_path),
                       status="up to date",
                       identity={k: doc[k] for k in ("backend", "precision", "device", "model", "model_sha256",
                                                     "weights") if k in doc})
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


# --------------------------------------------------------------------------- outputs


def output_files(output_dir: Path) -> dict[str, Path]:
    """stem → output file of model output 0, over the folder and its device sub-folders.

    Raises:
        DataError: the folder is missing or holds no output file.
    """
    output_dir = existing_folder(output_dir, "output folder", example="--output-dir WORKDIR/result/result_bs8",
                                 missing_hint="run `bit infer` first, or pass --output-dir DIR")
    folders = [output_dir] + sorted(p for p in output_dir.iterdir() if p.is_dir() and DEVICE_DIR_RE.match(p.name))
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.iterdir()):
            match = OUTPUT_RE.match(path.name)
            if match and path.is_file():
                found.setdefault(match["stem"], path)  # a stem seen on two devices is the same sample
    if not found:
        raise DataError(
            f"{output_dir} holds no inference outputs (files named {{stem}}_0.bin, .npy or .txt)",
            hint="run `bit infer`, or point --output-dir at ais_bench's result folder (e.g. result/result_bs8)",
        )
    return found


def read_output(path: Path) -> Any:
    """One output file as a flat float array (BIN raw float32, NPY, or ais_bench TXT)."""
    import numpy as np

    ext = path.suffix.lower()
    try:
        if ext == ".npy":
            return np.load(path).astype(np.float32).ravel()
        if ext == ".txt":
            return np.loadtxt(path, dtype=np.float32, ndmin=1).ravel()
        return np.fromfile(path, dtype=np.float32)
    except ValueError as exc:
        raise DataError(f"cannot read output {path}: {exc}", hint="re-run `bit infer --force`") from None


# --------------------------------------------------------------------------- labels


def parse_labels(label_path: Path) -> tuple[str, list[tuple[str, list[str]]]]:
    """Split a label file into (format, [(stem, class tokens)]) without checking classes yet.

    The format is ``index`` (one token per line), ``stem`` (two tokens, the
    first not an integer somewhere) or ``ambiguous`` (two integers per line,
    resolved against the outputs) or ``batch`` (more tokens).
    """
    label_path = Path(label_path)
    if label_path.is_dir():
        raise DataError(f"label path {label_path} is a folder, not a file", hint="pass --label-path FILE, e.g. WORKDIR/label.txt")
    if not label_path.is_file():
        raise DataError(f"label file {label_path} does not exist", hint="run `bit data` (it writes label.txt), or pass --label-path FILE")
    lines = [line.split() for line in _label_text(label_path).splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise DataError(f"label file {label_path} is empty", hint="point --label-path at the label.txt `bit data` wrote")
    widths = {len(tokens) for tokens in lines}
    if 0 in widths:
        blank = next(i for i, t in enumerate(lines) if not t) + 1
        raise DataError(f"label file {label_path} line {blank} is empty", hint="remove blank lines")
    if widths == {1}:
        return "index", [(str(i), tokens) for i, tokens in enumerate(lines)]
    if widths == {2} and not all(_is_int(t[0]) for t in lines):
        return "stem", [(t[0], [t[1]]) for t in lines]
    if widths == {2}:
        return "ambiguous", [(t[0], [t[1]]) for t in lines]
    if any(not _is_int(t[0]) for t in lines):
        raise DataError(
            f"label file {label_path}: lines have {sorted(widths)} tokens",
            hint="use one class per line, '{stem} {class}' lines, or the per-batch format (classes only)",
        )
    return "batch", [(str(i), tokens) for i, tokens in enumerate(lines)]


def _label_text(label_path: Path) -> str:
    """The label file as text: UTF-8, a leading BOM dropped; a binary file is a clear error."""
    data = label_path.read_bytes()
    if b"\0" in data[:4096]:
        raise DataError(f"label file {label_path} is a binary file, not text",
                        hint="point --label-path at the label.txt `bit data` wrote (one class per line)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"label file {label_path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                        hint="point --label-path at the label.txt `bit data` wrote (one class per line)") from None


def _is_int(text: str) -> bool:
    return re.fullmatch(r"[+-]?\d+", text) is not None


def _classes(label_path: Path, entries: list[tuple[str, list[str]]], num_classes: int, first_line: int = 1) -> dict[str, list[int]]:
    """stem → classes, checking integers, range and duplicate stems."""
    table: dict[str, list[int]] = {}
    where: dict[str, int] = {}
    for lineno, (stem, tokens) in enumerate(entries, start=first_line):
        if stem in table:
            raise DataError(
                f"label file {label_path}: stem '{stem}' is listed twice (lines {where[stem]} and {lineno})",
                hint="keep one line per sample",
            )
        classes = []
        for token in tokens:
            if not _is_int(token):
                raise DataError(f"label file {label_path} line {lineno}: class '{token}' is not an integer",
                                hint="classes are integers 0..num_classes-1")
            value = int(token)
            if not 0 <= value < num_classes:
                raise DataError(f"label file {label_path} line {lineno}: class {value} is out of range 0..{num_classes - 1}",
                                hint="check --label-path, or the model's number of classes (model.num_classes)")
            classes.append(value)
        table[stem] = classes
        where[stem] = lineno
    return table


def _match(labels: dict[str, Any], outputs: dict[str, Path], label_path: Path, output_dir: Path) -> list[str]:
    """The common stems, in natural order; error when either side has extras."""
    from bitcli.stages.infer_io import natural_key

    no_output = [s for s in labels if s not in outputs]
    no_label = [s for s in outputs if s not in labels]
    problems = []
    if no_output:
        problems.append(f"{len(no_output)} labels have no output (e.g. {', '.join(sorted(no_output, key=natural_key)[:SHOWN])})")
    if no_label:
        problems.append(f"{len(no_label)} outputs have no label (e.g. {', '.join(sorted(no_label, key=natural_key)[:SHOWN])})")
    if problems:
        raise DataError(
            f"{output_dir} and {label_path} do not match: " + "; ".join(problems),
            hint="evaluate the result folder made from the same input folder as the labels "
            "(a --limit run needs its own labels), or rerun `bit infer --force`",
        )
    return sorted(labels, key=natural_key)


# --------------------------------------------------------------------------- accuracy


def accuracy_from_outputs(
    output_dir: Path,
    label_path: Path,
    *,
    topk: int = 5,
    num_classes: int | None = None,
    save: bool = True,
    allow_nonfinite: bool = False,
    limit: int | None = None,
) -> EvalResult:
    """Top-1..``topk`` accuracy, per-class top-1 and the confusion matrix of a result folder.

    Args:
        output_dir: ais_bench/``bit infer`` result folder (``result/result_bs8``).
        label_path: label file in any of the three formats.
        topk: highest k reported.
        num_classes: logits per sample; None takes it from the outputs.
        save: write the JSON as ``{output_dir}_accuracy.json``; a folder that cannot take it
            (read-only) is skipped with a note in ``extra["not_saved"]``.
        allow_nonfinite: score outputs holding NaN/inf (NaN counts as -inf, never predicted)
            instead of refusing them.
        limit: score only the first ``limit`` labels (file order) and their outputs: a
            ``bit infer --limit N`` run against the full label file, without rewriting dataset_bin.

    Returns:
        The :class:`EvalResult`.

    Raises:
        DataError: missing/unreadable files, bad labels, outputs and labels that do not match,
            outputs holding NaN/inf (unless ``allow_nonfinite``).
        ConfigError: ``topk`` outside 1..num_classes.
    """
    output_dir, label_path = Path(output_dir), Path(label_path)
    if label_path.is_dir():  # both paths are checked before any output is read
        raise DataError(f"label path {label_path} is a folder, not a file", hint="pass --label-path FILE, e.g. WORKDIR/label.txt")
    outputs = output_files(output_dir)
    fmt, entries = parse_labels(label_path)
    if limit is not None:  # the first N labels, and only their outputs (index/stem/batch stems are the first token)
        entries = entries[:limit]
        wanted = {stem for stem, _ in entries} | ({str(i) for i in range(len(entries))} if fmt == "ambiguous" else set())
        outputs = {s: p for s, p in outputs.items() if s in wanted}
    arrays = {stem: read_output(path) for stem, path in outputs.items()}
    nonfinite = _nonfinite_outputs(arrays, outputs, allow_nonfinite)
    sizes = {a.size for a in arrays.values()}
    if fmt == "ambiguous":  # two integers per line: '{stem} {class}' unless outputs hold 2 rows each
        fmt = "batch" if num_classes and sizes == {2 * num_classes} else "stem"
        if fmt == "batch":
            entries = [(str(i), [s, c[0]]) for i, (s, c) in enumerate(entries)]
    classes_n = num_classes or _classes_from(arrays, outputs, fmt, entries)
    if not 1 <= topk <= classes_n:
        raise ConfigError(f"--topk {topk} is outside 1..{classes_n}", hint=f"give --topk between 1 and {classes_n}")
    labels = _classes(label_path, entries, classes_n)
    stems = _match(labels, outputs, label_path, output_dir)
    logits, truth = _stack(stems, labels, arrays, outputs, classes_n, padded_rows=fmt == "batch")
    result = _score(logits, truth, classes_n, topk)
    result = EvalResult(output_dir=output_dir, label_path=label_path, label_format=fmt, **result)
    if nonfinite:
        result.extra["nonfinite_files"] = nonfinite
    if save:
        save_accuracy(result)
    return result


def save_accuracy(result: EvalResult) -> None:
    """Write the JSON beside the folder; a read-only place is a note, not a failure (the table is the result)."""
    path = accuracy_path(result.output_dir)
    try:
        atomic_write_text(path, json.dumps(result.to_json(), indent=2) + "\n")
        result.json_path = path
    except OSError as exc:
        from bitcli.errors import os_error

        result.extra["not_saved"] = f"{path} not saved: {os_error(exc, path).message} (use --json > FILE to keep the figures)"


def _nonfinite_outputs(arrays: dict[str, Any], outputs: dict[str, Path], allow: bool) -> list[str]:
    """Names of output files holding NaN/inf; refused unless ``allow`` (then NaN becomes -inf in place)."""
    import numpy as np

    from bitcli.stages.infer_io import natural_key

    bad = sorted((s for s, a in arrays.items() if not np.isfinite(a).all()), key=natural_key)
    if not bad:
        return []
    names = [outputs[s].name for s in bad]
    if not allow:
        raise DataError(
            f"{len(bad)} of {len(arrays)} output files hold NaN/inf values (first: {', '.join(names[:SHOWN])}); "
            "accuracy from them would be meaningless",
            hint="check the model and its inputs (`bit export` verifies the model), or pass --allow-nonfinite "
            "to score them anyway (NaN counts as never predicted)",
        )
    for stem in bad:
        arrays[stem] = np.nan_to_num(arrays[stem], nan=-np.inf)
    return names


def _classes_from(arrays: dict[str, Any], outputs: dict[str, Path], fmt: str, entries: list) -> int:
    if fmt != "batch":
        sizes = {a.size for a in arrays.values()}
        if len(sizes) == 1:
            return sizes.pop()
    else:
        lengths = {stem: len(tokens) for stem, tokens in entries}
        stem, arr = next((s, a) for s, a in arrays.items() if s in lengths)
        if lengths[stem] and arr.size % lengths[stem] == 0:
            return arr.size // lengths[stem]
    raise DataError(
        "outputs differ in size, so the number of classes is unclear",
        hint="pass the model's classes (model.num_classes in the profile), or rerun `bit infer --force`",
    )


def _stack(stems: list[str], labels: dict[str, list[int]], arrays: dict[str, Any], outputs: dict[str, Path], n: int,
           *, padded_rows: bool):
    import numpy as np

    rows, truth = [], []
    for stem in stems:
        arr, classes = arrays[stem], labels[stem]
        short = arr.size // n < len(classes) if padded_rows else arr.size != n * len(classes)
        if arr.size % n or short:
            raise DataError(
                f"output {outputs[stem]} holds {arr.size} floats, expected {n * len(classes)} "
                f"({len(classes)} sample(s) x {n} classes)",
                hint="the outputs come from another model or batch layout; rerun `bit infer --force`",
            )
        rows.append(arr.reshape(-1, n)[: len(classes)])
        truth.extend(classes)
    return np.concatenate(rows), np.asarray(truth, dtype=np.int64)


def _score(logits: Any, truth: Any, n: int, topk: int) -> dict[str, Any]:
    import numpy as np

    order = np.argsort(-logits, axis=1, kind="stable")
    hits = order == truth[:, None]
    accuracy = {k: float(hits[:, :k].any(axis=1).mean()) for k in range(1, topk + 1)}
    pred = order[:, 0]
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (truth, pred), 1)
    counts = confusion.sum(axis=1)
    per_class = [float(confusion[c, c] / counts[c]) if counts[c] else None for c in range(n)]
    return {
        "samples": int(truth.size), "num_classes": n, "topk": accuracy, "per_class": per_class,
        "per_class_samples": [int(c) for c in counts], "confusion": confusion.tolist(),
    }
