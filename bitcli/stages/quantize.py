"""fp32 ONNX of one batch size → int8 ONNX, measured before it is published (``bit quantize``).

Steps: split dataset_bin into disjoint calibration / held-out indices (:mod:`bitcli.quant.calib`), bound
calibration memory, let the engine (:data:`bitcli.quant.ENGINES`) write the model under a temporary name,
measure it against fp32 on the held-out images (:mod:`bitcli.quant.guard`), and only then rename it to
``bit_bs{N}_int8.onnx`` with its sidecar: the recipe, the CPU flags, the calibration digest, the held-out
figures. A model that crosses the guard's thresholds is never renamed into place unless ``accept_loss``.

Accuracy control (engine ``nncf``, ``quantize.accuracy_control``): ``on`` quantizes with NNCF's
accuracy-controlled quantization from the start; ``auto`` (the default) quantizes plainly and, only when the
guard refuses that model, quantizes again with accuracy control before judging once more; ``off`` never.
Accuracy control tunes on a third slice of the split (``quantize.validation`` images, disjoint from the
calibration and the held-out images) and its score is top-1 agreement with the fp32 model; it reverts the
layers that cost most to fp32 until that agreement is within half of the guard's allowance
(``1 − (1 − min_agreement) / 2``, e.g. 99.5% for a 99% guard). Half, because a few hundred validation
images measure agreement to about ±0.4 pt, and the guard then judges on other images. Both attempts are
recorded in the sidecar.

The guard runs the models on the runtime that will run the int8 file: onnxruntime for its own engine's
model, OpenVINO for NNCF's (a QDQ file gives different logits, and a fraction of the speed, on the other).

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
    op_types: tuple[str, ...] = ()      # only these op types (empty: every type; profile default [Conv])
    reduce_range: str = "auto"          # auto | on | off
    min_agreement: float = 0.985
    max_top1_drop: float = 0.003
    accuracy_control: str = "auto"      # auto | on | off (engine nncf)
    validation: int = 496               # accuracy-control images (a third, disjoint slice)
    accept_loss: bool = False
    threads: int | None = None

    def key(self) -> dict[str, Any]:
        """The parts of the request that change the model (for the up-to-date check)."""
        return {"engine": self.engine, "method": self.method, "calib": self.calib, "seed": self.seed,
                "exclude": list(self.exclude), "keep_ends": self.keep_ends, "op_types": list(self.op_types),
                "reduce_range": self.reduce_range,
                "holdout": self.holdout, "min_agreement": self.min_agreement, "max_top1_drop": self.max_top1_drop,
                "accuracy_control": self.accuracy_control, "validation": self.validation}

    @property
    def runtime(self) -> str:
        """The runtime the int8 model is made for, on which the guard judges it."""
        return "openvino" if self.engine == "nncf" else "onnxruntime"

    @property
    def control_max_drop(self) -> float:
        """Accuracy control's allowed fall in agreement: half the guard's allowance (module docstring)."""
        return (1.0 - self.min_agreement) / 2


def resolve_engine(cfg: Any) -> str:
    """``quantize.engine``, with ``auto`` resolved: nncf when the int8 model will run on openvino (the
    profile's backend, ``auto`` resolved as ``bit infer`` resolves it) and nncf is installed; else onnxruntime.

    Each engine makes the model its own runtime runs fastest and most accurately (README, OpenVINO section:
    NNCF's QDQ file runs at ~0.7-1× fp32 on onnxruntime, onnxruntime's own at ~1.3×).
    """
    import importlib.util

    from bitcli.errors import BitError

    name = cfg["quantize.engine"]
    if name != "auto":
        return name
    backend = cfg["backend"]
    if backend == "auto":
        from bitcli.backends.base import select_backend

        try:
            backend = select_backend("auto", {"set_env": cfg["ascend.set_env"]})[0].name
        except BitError:
            backend = "onnxruntime"
    return "nncf" if backend == "openvino" and importlib.util.find_spec("nncf") is not None else "onnxruntime"


def request_from_settings(cfg: Any, bs: int, **overrides: Any) -> QuantizeRequest:
    """The request the profile's ``quantize:`` section (and onnxruntime.threads) makes for ``bs``."""
    fields = dict(bs=bs, engine=resolve_engine(cfg), method=cfg["quantize.method"], calib=cfg["quantize.calib"],
                  holdout=cfg["quantize.holdout"], seed=cfg["quantize.seed"], keep_ends=cfg["quantize.keep_ends"],
                  op_types=tuple(cfg["quantize.op_types"]),
                  reduce_range=cfg["quantize.reduce_range"], min_agreement=cfg["quantize.min_agreement"],
                  max_top1_drop=cfg["quantize.max_top1_drop"], accuracy_control=cfg["quantize.accuracy_control"],
                  validation=cfg["quantize.validation"], threads=cfg["onnxruntime.threads"])
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
                ("quantized op types", _op_types_text(recipe.get("op_types"))),
                ("calibration images", str(self.meta["calibration"]["count"])),
                ("held-out images", str(self.meta["guard"]["samples"]))]
        g = self.meta["guard"]
        rows.append(("guard ran on", g.get("runtime", "onnxruntime")))
        control = recipe.get("accuracy_control")
        if control:
            tries = len(self.meta.get("attempts", []))
            rows.append(("accuracy control", f"{control['val_images']} validation images, agreement ≥ "
                         f"{1 - control['max_drop']:.2%}" + (" (after the plain model was refused)" if tries > 1 else "")))
        if g.get("fp32_images_per_s") and g.get("int8_images_per_s"):
            rows.append(("img/s fp32 → int8 (held-out run)",
                         f"{g['fp32_images_per_s']:.1f} → {g['int8_images_per_s']:.1f} "
                         f"(×{g['int8_images_per_s'] / g['fp32_images_per_s']:.2f})"))
        return rows


def _op_types_text(op_types: Any) -> str:
    return ", ".join(op_types) if isinstance(op_types, list) and op_types else "every type the engine quantizes"


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
    from bitcli.quant.cpuflags import cpu_flags
    from bitcli.quant.guard import GuardFailed, measure
    from bitcli.stages.infer_io import input_files

    started = time.perf_counter()
    if req.accuracy_control == "on" and req.engine != "nncf":
        raise ConfigError("accuracy control is NNCF's (quantize_with_accuracy_control); the onnxruntime engine has none",
                          hint="pass --engine nncf, or --accuracy-control auto")
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
    reduce_range, reason = _reduce_range(req, flags)
    exclude = tuple(dict.fromkeys(req.exclude + (_ends(fp32_onnx) if req.keep_ends else ())))
    method = engine_method(req.engine, req.method)
    plan = cal.plan_memory(fp32_onnx, method, len(calib_idx), req.bs)
    if notify and req.engine == "onnxruntime":  # NNCF states its own bound (options["say"]) before calibrating
        notify(f"calibration memory: {plan.describe()}")
    holdout = cal.load(files, hold_idx, image_size)
    labels = _labels(label_path, files, hold_idx)
    quantize = engine(req.engine)
    options = {"reduce_range": reduce_range, "chunk_images": plan.chunk_images,
               **({"op_types": list(req.op_types)} if req.op_types else {}),
               **({"say": notify} if notify and req.engine == "nncf" else {})}
    attempts: list[dict[str, Any]] = []
    with atomic_path(out) as tmp:
        def attempt(extra: dict[str, Any]) -> tuple[dict[str, Any], Any]:
            made = quantize(fp32_onnx, calib, tmp, method=method, exclude=exclude, options={**options, **extra})
            judged = measure(fp32_onnx, tmp, holdout, labels, hold_idx, bs=req.bs, min_agreement=req.min_agreement,
                             max_top1_drop=req.max_top1_drop, threads=req.threads, runtime=req.runtime)
            attempts.append({"accuracy_control": made.get("accuracy_control"), "passed": judged.passed,
                             "failures": judged.failures, "agreement": judged.metrics.agreement,
                             "delta_top1": judged.metrics.delta_top1})
            return made, judged

        control = req.engine == "nncf" and req.accuracy_control == "on"
        recipe, report = attempt(_control_options(fp32_onnx, files, req, image_size, notify) if control else {})
        if not report.passed and req.engine == "nncf" and req.accuracy_control == "auto":
            if notify:
                notify(f"guard: {'; '.join(report.failures)}; quantizing again with NNCF accuracy control")
            recipe, report = attempt(_control_options(fp32_onnx, files, req, image_size, notify))
        if not report.passed and not req.accept_loss:
            raise GuardFailed(f"int8 model refused (nothing written): " + "; ".join(report.failures)
                              + f" on {report.samples} held-out images", hint=_refusal_hint(req))
        meta = {"fp32_model": str(fp32_onnx), "fp32_sha256": fp32_sha, "bs": req.bs, "request": req.key(),
                "recipe": recipe, "cpu_flags": list(flags), "reduce_range_reason": reason,
                "calibration": calib_digest, "calibration_memory": {"note": plan.describe(), **plan.to_json()},
                "guard": report.to_json(), "attempts": attempts, "accepted_loss": not report.passed}
    write_sidecar(out, meta)
    warnings = [f"ACCURACY LOSS ACCEPTED: {'; '.join(report.failures)}"] if not report.passed else []
    return QuantizeResult(out, "done", meta, guard=report, memory=plan.describe(), warnings=warnings,
                          seconds=time.perf_counter() - started)


def _reduce_range(req: QuantizeRequest, flags: tuple[str, ...]) -> tuple[bool, str]:
    """7-bit weights or 8, with the reason the sidecar records.

    ``auto``: for onnxruntime, from the CPU (:func:`bitcli.quant.cpuflags.choose_reduce_range`); for NNCF
    (``OverflowFix``), off on every CPU: OpenVINO's int8 model agreed with fp32 more often with full-range
    weights even on an AVX2 CPU without VNNI (2,000 images: 99.55% with 8-bit weights, 99.15% with 7-bit,
    99.40% with NNCF's default of 7 bits in the first layer only).
    """
    from bitcli.quant.cpuflags import choose_reduce_range

    if req.reduce_range != "auto":
        return req.reduce_range == "on", f"{req.reduce_range}: set by the user"
    if req.engine == "nncf":
        return False, "off: OpenVINO's int8 model agrees best with full-range weights, VNNI or not (measured on AVX2)"
    return choose_reduce_range(flags)


def _control_options(fp32_onnx: Path, files: list[Path], req: QuantizeRequest, image_size: int,
                     notify: Callable[[str], None] | None) -> dict[str, Any]:
    """NNCF accuracy-control options: the validation slice, scored against fp32's own top-1 classes."""
    from bitcli.quant import calib as cal
    from bitcli.quant.guard import run_onnx

    indices = cal.validation_indices(len(files), req.calib, req.holdout, req.seed, req.bs, req.validation)
    images = cal.load(files, indices, image_size)
    reference, _ = run_onnx(fp32_onnx, images, req.bs, threads=req.threads, runtime=req.runtime)
    if notify:
        notify(f"accuracy control: {len(indices)} validation images (not calibration, not held-out); layers go back "
               f"to fp32 until agreement with fp32 is ≥ {1 - req.control_max_drop:.2%}")
    return {"max_drop": req.control_max_drop, "val_images": images, "val_labels": reference.argmax(axis=1),
            "val_indices": indices}


def _refusal_hint(req: QuantizeRequest) -> str:
    bs = req.bs
    if req.engine == "nncf":
        tries = (f"`bit quantize --bs {bs} --engine nncf --accuracy-control on --validation 1000` or "
                 if req.accuracy_control == "off" else "a larger --validation or --calib, ")
        return tries + "`--exclude NODE` (see `bit compare --per-node`); or pass --accept-loss to write it anyway"
    return (f"try `bit quantize --bs {bs} --method percentile`, `bit quantize --bs {bs} --keep-ends`, "
            f"`bit quantize --bs {bs} --exclude NODE` (see `bit compare --per-node`) or `--engine nncf` "
            "(accuracy control); or pass --accept-loss to write it anyway")


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
