"""Two sources of logits over the same samples → how far apart they are (``bit compare``).

A source is either a **result folder** in ais_bench layout (``{stem}_0.bin``/``.npy``/``.txt``,
multi-device ``device{D}_{i}/`` sub-folders included; read exactly as ``bit eval`` reads them), or a
**backend run now** over the workdir's ``dataset_bin`` (onnxruntime fp32 or int8, the torch checkpoint,
an ascend ``.om``): the run goes through ``bit infer``'s own loop into a temporary result folder, which is
then read like any other, so both kinds of source are aligned by sample stem the same way.

Every figure comes from :mod:`bitcli.logit_metrics` (aggregated: :func:`compare_logits`; per sample:
:func:`per_sample`). Thresholds never raise: they are listed in :attr:`CompareResult.failures` and the
command turns a non-empty list into exit 1, after printing the figures.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bitcli.errors import ConfigError, DataError

SHOWN = 5


@dataclass(frozen=True)
class Thresholds:
    """Limits that make ``bit compare`` exit 1; None = not checked.

    ``atol``/``rtol`` follow numpy's ``allclose``: every value must satisfy
    ``|test − ref| ≤ atol + rtol·|ref|`` (either alone means the other is 0).
    """

    atol: float | None = None
    rtol: float | None = None
    min_agreement: float | None = None
    min_cosine: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"atol": self.atol, "rtol": self.rtol, "min_agreement": self.min_agreement,
                "min_cosine": self.min_cosine}


@dataclass
class CompareResult:
    """The comparison of ``test`` against ``ref`` over ``stems``."""

    ref: str
    test: str
    stems: list[str]
    metrics: Any                          # LogitMetrics
    per_sample: dict[str, Any]            # logit_metrics.per_sample arrays
    thresholds: Thresholds
    failures: list[str] = field(default_factory=list)
    outside_tolerance: int | None = None  # values beyond atol + rtol·|ref| (None: not checked)
    label_path: str | None = None

    @property
    def status(self) -> str:
        return "failed" if self.failures else "done"

    def worst(self) -> list[dict[str, Any]]:
        """The samples with the lowest cosine: index, stem, cosine, max |Δ|, both top-1 classes."""
        rows = []
        for index, _cos in self.metrics.worst:
            cos = self.per_sample["cosine"][index]
            rows.append({"index": index, "stem": self.stems[index], "cosine": _num(cos),
                         "max_abs": _num(self.per_sample["max_abs"][index]),
                         "ref_top1": int(self.per_sample["ref_top1"][index]),
                         "test_top1": int(self.per_sample["test_top1"][index])})
        return rows

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document; non-finite per-sample figures are ``null``."""
        ps = self.per_sample
        return {
            "ref": self.ref, "test": self.test, "samples": len(self.stems), "labels": self.label_path,
            "metrics": self.metrics.to_json(), "worst": self.worst(),
            "thresholds": self.thresholds.to_json(), "outside_tolerance": self.outside_tolerance,
            "status": self.status, "failures": self.failures,
            "per_sample": [{"stem": s, "cosine": _num(c), "max_abs": _num(m), "agree": bool(a)}
                           for s, c, m, a in zip(self.stems, ps["cosine"], ps["max_abs"], ps["agree"])],
        }


def _num(value: Any) -> float | None:
    import math

    value = float(value)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------- sources


def logits_from_dir(folder: Path) -> dict[str, Any]:
    """stem → flat float32 logits of one result folder (and its device sub-folders), as ``bit eval`` reads it."""
    from bitcli.stages.evaluate import output_files, read_output

    return {stem: read_output(path) for stem, path in output_files(Path(folder)).items()}


def logits_from_backend(backend: Any, input_dir: Path, *, limit: int | None = None,
                        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run ``backend`` (unopened) over the first ``limit`` samples of ``input_dir``; stem → logits.

    The run is ``bit infer``'s own loop (same batching, padding and checks) into a temporary result
    folder that is removed afterwards. A whole-folder backend (ascend) gets a temporary folder beside
    ``input_dir`` holding hard links to (or, across file systems, copies of) the first ``limit`` files,
    since ais_bench has no limit of its own and refuses symbolic links to files.
    """
    from bitcli.backends.base import Backend
    from bitcli.stages.infer import outputs_from_bins

    whole_folder = bool(limit) and type(backend).run_folder is not Backend.run_folder
    with tempfile.TemporaryDirectory(prefix=".bit-compare-", dir=Path(input_dir).parent if whole_folder else None) as tmp:
        source = Path(input_dir)
        if whole_folder:
            source = _first_files(Path(input_dir), Path(tmp) / "inputs", limit)
            limit = None
        done = outputs_from_bins(backend, source, Path(tmp) / "out", limit=limit, progress=progress, argv=["bit", "compare"])
        return logits_from_dir(done.result_dir)


def _first_files(input_dir: Path, target: Path, limit: int) -> Path:
    import os
    import shutil

    from bitcli.stages.infer_io import input_files

    target.mkdir()
    os.chmod(target, 0o750)  # ais_bench refuses group/other-writable inputs
    for path in input_files(input_dir)[:limit]:
        try:
            os.link(path, target / path.name)
        except OSError:  # another file system, or links not allowed
            shutil.copy2(path, target / path.name)
    return target


# --------------------------------------------------------------------------- alignment and labels


def align(ref: dict[str, Any], test: dict[str, Any], *, ref_name: str, test_name: str,
          limit: int | None = None) -> tuple[list[str], Any, Any]:
    """The common samples in natural order (first ``limit``), as two ``[N, C]`` arrays.

    Raises:
        DataError: a sample missing on one side, or logits of different sizes.
    """
    import numpy as np

    from bitcli.stages.infer_io import natural_key

    stems = sorted(ref, key=natural_key)[:limit] if limit else sorted(ref, key=natural_key)
    missing = [s for s in stems if s not in test]
    if missing:
        raise DataError(f"{len(missing)} of {len(stems)} samples of {ref_name} have no output in {test_name} "
                        f"(e.g. {', '.join(missing[:SHOWN])})",
                        hint="compare results made from the same input folder, or pass --limit N to use the first N")
    if not limit and len(test) != len(ref):
        extra = [s for s in test if s not in ref]
        raise DataError(f"{test_name} has {len(extra)} samples that {ref_name} lacks (e.g. {', '.join(sorted(extra, key=natural_key)[:SHOWN])})",
                        hint="compare results made from the same input folder, or pass --limit N")
    sizes = {ref[s].size for s in stems} | {test[s].size for s in stems}
    if len(sizes) != 1:
        raise DataError(f"the outputs differ in size ({sorted(sizes)} values per sample): they are not the same model's logits",
                        hint="compare two results of the same model and batch layout")
    return stems, np.stack([ref[s] for s in stems]), np.stack([test[s] for s in stems])


def labels_for(label_path: Path, stems: list[str], num_classes: int) -> Any:
    """The class of each stem from a ``bit data`` label file (``index`` or ``{stem} {class}`` lines).

    Raises:
        DataError: a per-batch label file, bad classes, or a stem without a label.
    """
    import numpy as np

    from bitcli.stages.evaluate import _classes, parse_labels

    fmt, entries = parse_labels(Path(label_path))
    if fmt == "batch":
        raise DataError(f"label file {label_path} has several classes per line (per-batch format)",
                        hint="bit compare needs one sample per line: the label.txt `bit data` writes")
    table = _classes(Path(label_path), entries, num_classes)
    missing = [s for s in stems if s not in table]
    if missing:
        raise DataError(f"{len(missing)} samples have no label in {label_path} (e.g. {', '.join(missing[:SHOWN])})",
                        hint="pass the label.txt written with the compared input folder, or leave --label-path out")
    return np.asarray([table[s][0] for s in stems], dtype=np.int64)


# --------------------------------------------------------------------------- the comparison


def compare_sets(ref: dict[str, Any], test: dict[str, Any], *, ref_name: str, test_name: str,
                 thresholds: Thresholds = Thresholds(), label_path: Path | None = None,
                 limit: int | None = None, worst: int = SHOWN) -> CompareResult:
    """Compare two stem → logits mappings; thresholds become :attr:`CompareResult.failures`.

    Args:
        ref, test: stem → flat logits (:func:`logits_from_dir` / :func:`logits_from_backend`).
        ref_name, test_name: how each side is named in messages and the report.
        thresholds: the limits to check.
        label_path: score both sides' top-1/top-5 against these labels (None: no accuracy).
        limit: use only the first ``limit`` samples of ``ref`` (natural order).
        worst: how many of the lowest-cosine samples to name.

    Returns:
        The :class:`CompareResult`.
    """
    from bitcli.logit_metrics import compare_logits, per_sample

    stems, ref_arr, test_arr = align(ref, test, ref_name=ref_name, test_name=test_name, limit=limit)
    classes = ref_arr.shape[1]
    labels = labels_for(label_path, stems, classes) if label_path is not None else None
    metrics = compare_logits(ref_arr, test_arr, labels, worst=worst)
    result = CompareResult(ref=ref_name, test=test_name, stems=stems, metrics=metrics,
                           per_sample=per_sample(ref_arr, test_arr), thresholds=thresholds,
                           label_path=str(label_path) if label_path is not None else None)
    result.failures, result.outside_tolerance = threshold_failures(metrics, ref_arr, test_arr, thresholds)
    return result


def threshold_failures(metrics: Any, ref: Any, test: Any, limits: Thresholds) -> tuple[list[str], int | None]:
    """Each crossed limit as one sentence (with the figure), and the count of values outside atol/rtol.

    NaN/inf in the test logits always fail: a non-finite value is never within any tolerance.
    """
    import numpy as np

    failures: list[str] = []
    if metrics.nonfinite_test or metrics.nonfinite_ref:
        failures.append(f"non-finite values: {metrics.nonfinite_ref} in ref, {metrics.nonfinite_test} in test")
    outside = None
    if limits.atol is not None or limits.rtol is not None:
        atol, rtol = limits.atol or 0.0, limits.rtol or 0.0
        with np.errstate(invalid="ignore"):
            ok = np.abs(test.astype(np.float64) - ref) <= atol + rtol * np.abs(ref.astype(np.float64))
        outside = int(ok.size - int(ok.sum()))
        if outside:
            failures.append(f"{outside} of {ok.size} values differ by more than atol {atol:g} + rtol {rtol:g}·|ref| "
                            f"(max |Δ| {_fmt(metrics.max_abs)})")
    if limits.min_agreement is not None and metrics.agreement < limits.min_agreement:
        failures.append(f"top-1 agreement {metrics.agreement:.2%} is below --min-agreement {limits.min_agreement:.2%}")
    if limits.min_cosine is not None and (metrics.min_cosine is None or metrics.min_cosine < limits.min_cosine):
        failures.append(f"lowest cosine {_fmt(metrics.min_cosine)} (sample {metrics.worst[0][0]}) is below "
                        f"--min-cosine {limits.min_cosine:g}")
    return failures, outside


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def check_limit_options(limits: Thresholds) -> None:
    """Refuse thresholds that cannot mean anything, before any work."""
    for name, value, low, high in (("--atol", limits.atol, 0.0, None), ("--rtol", limits.rtol, 0.0, None),
                                   ("--min-agreement", limits.min_agreement, 0.0, 1.0),
                                   ("--min-cosine", limits.min_cosine, -1.0, 1.0)):
        if value is None:
            continue
        if value != value or (low is not None and value < low) or (high is not None and value > high):
            span = f"{low:g}..{high:g}" if high is not None else f">= {low:g}"
            raise ConfigError(f"{name} {value} is outside {span}", hint=f"give {name} in {span}, e.g. --min-agreement 0.99")


def fp32_reference_figures(cfg: Any, cls: Any, bs: int, samples: int) -> dict[str, Any]:
    """A run's backend and precision against fp32 onnxruntime on the first ``samples`` of dataset_bin.

    What ``bit all --compare N`` puts in report.json/md: agreement, cosine, SQNR, Δtop-1 (with label.txt).
    On an Ascend host this is what ATC's fp16 cost; with ``precision: int8`` what int8 cost.
    """
    from bitcli.backends.base import select_backend
    from bitcli.quant.model import precision_model
    from bitcli.stages.infer import options_from_settings, standard_model

    names = cfg.artifacts
    ref_cls, _ = select_backend("onnxruntime")
    ref_model = standard_model("onnxruntime", cfg.workdir, bs)
    test_model = precision_model(cls.name, cfg.workdir, bs, cfg["precision"], weights=cfg["model.weights"])
    ref = logits_from_backend(ref_cls(options_from_settings(cfg, bs, ref_model)), names.dataset_bin, limit=samples)
    test = logits_from_backend(cls(options_from_settings(cfg, bs, test_model)), names.dataset_bin, limit=samples)
    labels = names.label_txt if names.label_txt.is_file() else None
    ref_name, test_name = "onnxruntime fp32", f"{cls.name} {cfg['precision']}"
    m = compare_sets(ref, test, ref_name=ref_name, test_name=test_name, label_path=labels).metrics.to_json()
    keep = ("samples", "agreement", "top5_overlap", "cosine", "min_cosine", "sqnr_db", "max_abs", "top1_ref",
            "top1_test", "delta_top1", "nonfinite_test")
    return {"status": "done", "ref": f"{ref_name} ({ref_model})", "test": f"{test_name} ({test_model})", "bs": bs,
            **{k: m[k] for k in keep}}
