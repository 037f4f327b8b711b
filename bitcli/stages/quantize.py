"""fp32 ONNX of one batch size → int8 ONNX, measured before it is published (``bit quantize``).

Steps: split dataset_bin into disjoint calibration / held-out indices (:mod:`bitcli.quant.calib`), bound
calibration memory, let the engine (:data:`bitcli.quant.ENGINES`) write the model under a temporary name,
measure it against fp32 on the held-out images (:mod:`bitcli.quant.guard`), and only then rename it to
``bit_bs{N}_int8.onnx`` with its sidecar: the recipe, the CPU flags, the calibration digest, the held-out
figures. A model that crosses the guard's thresholds is never renamed into place unless ``accept_loss``.

Up to date: when the model exists and its sidecar records the same fp32 digest, recipe request and
calibration digest, nothing is redone (``force`` redoes it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bitcli.artifacts import atomic_path, check_replaceable, read_sidecar, sha256_file, write_sidecar
from bitcli.errors import ConfigError, DataError


@dataclass(frozen=True)
class QuantizeRequest:
    """What the user asked for (profile ``quantize:`` + flags)."""

    bs: int
    engine: str = "onnxruntime"
    method: str = "percentile"
    calib: int = 256
    holdout: int = 496
    seed: int = 0
    exclude: tuple[str, ...] = ()
    keep_ends: bool = True
    reduce_range: str = "auto"          # auto | on | off
    min_agreement: float = 0.985
    max_top1_drop: float = 0.003
    accept_loss: bool = False
    threads: int | None = None

    def key(self) -> dict[str, Any]:
        """The parts of the request that change the model (for the up-to-date check)."""
        return {"engine": self.engine, "method": self.method, "calib": self.calib, "seed": self.seed,
                "exclude": list(self.exclude), "keep_ends": self.keep_ends, "reduce_range": self.reduce_range,
                "holdout": self.holdout, "min_agreement": self.min_agreement, "max_top1_drop": self.max_top1_drop}


def request_from_settings(cfg: Any, bs: int, **overrides: Any) -> QuantizeRequest:
    """The request the profile's ``quantize:`` section (and onnxruntime.threads) makes for ``bs``."""
    fields = dict(bs=bs, engine=cfg["quantize.engine"], method=cfg["quantize.method"], calib=cfg["quantize.calib"],
                  holdout=cfg["quantize.holdout"], seed=cfg["quantize.seed"], keep_ends=cfg["quantize.keep_ends"],
                  reduce_range=cfg["quantize.reduce_range"], min_agreement=cfg["quantize.min_agreement"],
                  max_top1_drop=cfg["quantize.max_top1_drop"], threads=cfg["onnxruntime.threads"])
    return QuantizeRequest(**{**fields, **overrides})


@dataclass
class QuantizeResult:
    """What ``bit quantize`` wrote (or found up to date) for one batch size."""

    output: Path
    status: str                          # done | up to date
    meta: dict[str, Any]                 # the sidecar
    guard: Any = None                    # GuardReport (None when up to date)
    memory: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary_rows(self) -> list[tuple[str, str]]:
        recipe = self.meta["recipe"]
        rows = [("status", self.status), ("engine / method", f"{recipe['engine']} / {recipe['method']}"),
                ("reduce_range", f"{recipe['reduce_range']} ({self.meta['reduce_range_reason']})"),
                ("kept in fp32", ", ".join(recipe["exclude"]) or "none"),
                ("calibration images", str(self.meta["calibration"]["count"])),
                ("held-out images", str(self.meta["guard"]["samples"]))]
        g = self.meta["guard"]
        if g.get("fp32_images_per_s") and g.get("int8_images_per_s"):
            rows.append(("img/s fp32 → int8 (held-out run)",
                         f"{g['fp32_images_per_s']:.1f} → {g['int8_images_per_s']:.1f} "
                         f"(×{g['int8_images_per_s'] / g['fp32_images_per_s']:.2f})"))
        return rows


def engine_method(engine_name: str, method: str) -> str:
    """The calibration method as the engine names it.

    onnxruntime calibrates with minmax, entropy or percentile. NNCF has presets instead: mixed
    (symmetric weights, asymmetric activations, the accurate one) and performance. NNCF has no
    entropy/percentile histogram calibration, so those (the profile default is percentile) run
    as its MIXED preset, and the sidecar's recipe records the preset actually used.

    Raises:
        ConfigError: an NNCF preset asked of the onnxruntime engine.
    """
    if engine_name == "nncf":
        return "mixed" if method in ("entropy", "percentile") else method
    if method in ("mixed", "performance"):
        raise ConfigError(f"method {method} is an NNCF preset; the onnxruntime engine calibrates with "
                          "minmax, entropy or percentile", hint="pass --engine nncf, or --method percentile")
    return method


def int8_from_onnx(fp32_onnx: Path, out: Path, input_dir: Path, label_path: Path | None, req: QuantizeRequest, *,
                   image_size: int, force: bool = False,
                   notify: Callable[[str], None] | None = None) -> QuantizeResult:
    """Quantize ``fp32_onnx`` to ``out`` if the guard passes (or the loss is accepted).

    Args:
        fp32_onnx: the static-batch fp32 model (``bit_bs{N}_sim.onnx``).
        out: ``bit_bs{N}_int8.onnx``.
        input_dir: dataset_bin (calibration and held-out images).
        label_path: label.txt for Δtop-1 (None: agreement only).
        req: the recipe request and the guard's thresholds.
        image_size: the model's input size.
        force: redo even when up to date.
        notify: called with the calibration memory bound before calibration starts.

    Raises:
        GuardFailed: the model crossed a threshold and ``accept_loss`` is off (nothing written).
        DataError, ConfigError: missing inputs, too few images, memory bound impossible.
    """
    from bitcli.quant import calib as cal
    from bitcli.quant import engine
    from bitcli.quant.cpuflags import choose_reduce_range, cpu_flags
    from bitcli.quant.guard import GuardFailed, measure
    from bitcli.stages.infer_io import input_files

    started = time.perf_counter()
    fp32_onnx, out = Path(fp32_onnx), Path(out)
    if not fp32_onnx.is_file():
        raise DataError(f"fp32 model {fp32_onnx} does not exist", hint=f"run `bit simplify --bs {req.bs}` first")
    check_replaceable(out, "--output", inputs={"--model": fp32_onnx})
    files = input_files(Path(input_dir))
    calib_idx, hold_idx = cal.split_indices(len(files), req.calib, req.holdout, req.seed, req.bs)
    calib = cal.load(files, calib_idx, image_size)
    fp32_sha = sha256_file(fp32_onnx)
    calib_digest = {**cal.digest(calib_idx, calib), "seed": req.seed, "indices": calib_idx}
    current = read_sidecar(out)
    if not force and current and current.get("fp32_sha256") == fp32_sha and current.get("request") == req.key() \
            and current.get("calibration", {}).get("data_sha256") == calib_digest["data_sha256"]:
        return QuantizeResult(out, "up to date", current, seconds=time.perf_counter() - started)
    flags = cpu_flags()
    reduce_range, reason = choose_reduce_range(flags) if req.reduce_range == "auto" else (req.reduce_range == "on", f"{req.reduce_range}: set by the user")
    exclude = tuple(dict.fromkeys(req.exclude + (_ends(fp32_onnx) if req.keep_ends else ())))
    plan = cal.plan_memory(fp32_onnx, req.method, len(calib_idx), req.bs)
    if notify:
        notify(f"calibration memory: {plan.describe()}")
    holdout = cal.load(files, hold_idx, image_size)
    labels = _labels(label_path, files, hold_idx)
    quantize = engine(req.engine)
    method = engine_method(req.engine, req.method)
    with atomic_path(out) as tmp:
        recipe = quantize(fp32_onnx, calib, tmp, method=method, exclude=exclude,
                          options={"reduce_range": reduce_range, "chunk_images": plan.chunk_images})
        report = measure(fp32_onnx, tmp, holdout, labels, hold_idx, bs=req.bs, min_agreement=req.min_agreement,
                         max_top1_drop=req.max_top1_drop, threads=req.threads)
        if not report.passed and not req.accept_loss:
            raise GuardFailed(f"int8 model refused (nothing written): " + "; ".join(report.failures)
                              + f" on {report.samples} held-out images",
                              hint=f"try `bit quantize --bs {req.bs} --method percentile`, `bit quantize --bs {req.bs} --keep-ends` or `bit quantize --bs {req.bs} --exclude NODE` (see `bit compare --per-node`); "
                              "or pass --accept-loss to write it anyway")
        meta = {"fp32_model": str(fp32_onnx), "fp32_sha256": fp32_sha, "bs": req.bs, "request": req.key(),
                "recipe": recipe, "cpu_flags": list(flags), "reduce_range_reason": reason,
                "calibration": calib_digest, "calibration_memory": {"note": plan.describe(), **plan.to_json()},
                "guard": report.to_json(), "accepted_loss": not report.passed}
    write_sidecar(out, meta)
    warnings = [f"ACCURACY LOSS ACCEPTED: {'; '.join(report.failures)}"] if not report.passed else []
    return QuantizeResult(out, "done", meta, guard=report, memory=plan.describe(), warnings=warnings,
                          seconds=time.perf_counter() - started)


def _ends(fp32_onnx: Path) -> tuple[str, ...]:
    from bitcli.quant.ort_engine import first_last_conv

    return first_last_conv(fp32_onnx)


def _labels(label_path: Path | None, files: list[Path], indices: list[int]) -> Any:
    """The classes of the held-out files (None without a label file)."""
    if label_path is None or not Path(label_path).is_file():
        return None
    from bitcli.stages.compare import labels_for
    from bitcli.stages.infer_io import stem_of

    return labels_for(Path(label_path), [stem_of(files[i]) for i in indices], num_classes=_classes(label_path))


def _classes(label_path: Path) -> int:
    """Enough classes to accept every label in the file (the model's count is checked by the logits)."""
    from bitcli.stages.evaluate import parse_labels

    _fmt, entries = parse_labels(Path(label_path))
    values = [int(t) for _, tokens in entries for t in tokens if t.lstrip("+-").isdigit()]
    return max(values, default=0) + 1
