"""The ``nncf`` quantization engine: NNCF post-training int8 (``bit quantize --engine nncf``).

Implements the engine contract of :mod:`bitcli.quant` (``quantize(fp32_onnx, calib, out, *, method,
exclude, options) -> recipe``):

* ``method``: ``mixed`` (NNCF preset MIXED: symmetric weights, asymmetric activations; the accurate one),
  ``performance`` (all symmetric; faster, less accurate) or ``minmax`` (= ``mixed``: NNCF's own ranges are
  min/max based; the name the other engine uses by default).
* ``exclude``: node names kept in fp32 (NNCF ignored scope; a name not in the model is an error).
* ``options["op_types"]``: quantize only in front of these op types (every other type of the model goes
  into the ignored scope). ``bit quantize``'s default ``[Conv]``: on OpenVINO (AVX2 CPU, 2,000 images)
  99.85% agreement with fp32, SQNR 42.6 dB, against 99.55% and 34.1 dB when NNCF quantizes every type it
  would (Adds, pools), at the same speed (80.4 vs 76.3 img/s at bs 8, fp32 42.0).
* ``options["reduce_range"]`` (bool): 7-bit weights in every Conv (NNCF ``OverflowFix.ENABLE``) or the full
  8 bits (``DISABLE``, what ``bit quantize --reduce-range auto`` picks for NNCF on every CPU).
* ``options["max_drop"]`` (float, a fraction, e.g. 0.005): NNCF's accuracy-controlled quantization
  (``quantize_with_accuracy_control``) — it quantizes, scores top-1 on ``options["val_images"]`` against
  ``options["val_labels"]`` (images never used for calibration), and reverts the layers that cost most to
  fp32 until the score is at most ``max_drop`` below the fp32 model's. ``bit quantize`` passes the fp32
  model's own top-1 classes as ``val_labels``, so the score is top-1 agreement with fp32 (fp32 scores 1.0),
  the figure the accuracy guard judges.

The artefact (decision, measured by ``tests/bench/bench_openvino.py`` on an AVX512-VNNI/BF16 EPYC, 2 cores,
bs 8, 256 calibration images, MIXED; see the README's OpenVINO section for the full table): a **QDQ ONNX**,
``bit_bs{bs}_int8.onnx`` (NNCF on the ONNX model). Reasons:

1. It runs on both runtimes and keeps one artefact name for every engine (``Artifacts.int8_onnx``), one
   sidecar, one guard; an OpenVINO IR (``.xml`` + ``.bin``) runs on OpenVINO only.
2. Accuracy: the QDQ ONNX agreed with fp32 more often than the IR quantized from the OpenVINO model
   (here: 99.40% vs 98.79% on 496 held-out images; cpu-precision.md: 99.60% vs 98.79%). On all 10,000
   images the QDQ ONNX run by OpenVINO: 98.68% agreement, −0.03 pt top-1, SQNR 30.7 dB.
3. Speed on OpenVINO is lower than the IR's (here, a heavily shared 2-core machine: 2.02–2.10× vs
   2.33–2.86× ORT fp32; cpu-precision.md: 2.43× vs 2.89×) — the price of (1) and (2); onnxruntime runs the
   same file slowly (0.78–0.97× here, 0.74× there), so the openvino backend is the one to use it.

An IR can still be written for comparison: pass ``out`` ending in ``.xml`` (NNCF then quantizes the
OpenVINO model); the benchmark does this for its table.

Memory: NNCF reduces every activation to per-channel min/max (and means, for bias correction) batch by
batch, so what calibration holds does not grow with the number of images beyond the calibration array
itself. ``quantize`` states the bound before calibration starts, for the process: what it holds
already (its resident memory: the libraries, the calibration array, and in ``bit all`` torch from the export),
plus what calibration adds: ten and a half copies of the weights, three quarters of one batch's activations
and 64 MiB. What calibration adds is refused when it exceeds the memory available. The constants are
measured, not derived (R50x1, peaks as VmHWM): with the default op types, calibration added 875 MiB at bs 1
and 992 MiB at bs 8 to what a standalone ``bit quantize`` held (about 440 MiB); with every op type quantized it
added 899 / 1,022 / 1,293 MiB at bs 1 / 4 / 8. Inside ``bit all`` (906 MiB held, torch among it) the peak at
bs 1 was 1,502 MiB. Earlier formulas were exceeded: a fixed 400 MiB with three weight copies stated 896 MiB
at bs 1 (peak 1,319), a fixed 500 MiB failed inside ``bit all``, and a quarter of the activations failed with
every op type at bs 8 (bound 1,484, peak 1,592 MiB).
Accuracy control compiles and validates further models on top of this; its peak is not covered (an
accuracy-control run on R50x1 takes over 30 minutes on 2 cores and was not measured).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from bitcli.errors import ConfigError, DataError, require

METHODS = ("mixed", "performance", "minmax")
# What calibration adds to the process (module docstring), fitted on R50x1: 9.4-9.6 weight copies (the ONNX
# proto, NNCF's graph copies, the OpenVINO and statistics models, the compiled plugin, the quantized model and
# its serialization) and, per image of batch, 0.17 of its activations with the default op types [Conv] and 0.63
# with every op type (more statistics points); rounded up to cover both.
WEIGHT_COPIES = 10.5
ACTIVATION_SHARE = 0.75
SLACK_BYTES = 64 * 1024**2
EXCLUDE_HINT = "check --exclude against the model's node names (bit compare --per-node lists them)"


def quantize(fp32_onnx: Path, calib: Any, out: Path, *, method: str, exclude: tuple[str, ...],
             options: dict[str, Any]) -> dict[str, Any]:
    """Quantize ``fp32_onnx`` with NNCF, calibrated on ``calib``; write ``out``; return the recipe.

    Args:
        fp32_onnx: a static-batch float model (``bit_bs{N}_sim.onnx``).
        calib: float32 ``[N, 3, H, W]``, N a multiple of the model's batch size.
        out: ``*.onnx`` (QDQ ONNX, the default artefact) or ``*.xml`` (OpenVINO IR, for comparison).
        method: mixed | performance | minmax (= mixed).
        exclude: node names kept in fp32.
        options: ``max_drop`` with ``val_images``/``val_labels`` for accuracy control; ``fast_bias_correction``
            (bool, default True); ``memory_limit`` (bytes; default: MemAvailable); ``say`` (callable taking one
            line, for the memory bound).

    Returns:
        The recipe: engine, versions, format, preset, exclusions, images, accuracy control, memory bound,
        calibration seconds.
    """
    import numpy as np

    if method not in METHODS:
        raise ConfigError(f"unknown NNCF method '{method}'", hint="use " + " | ".join(METHODS))
    nncf = require("nncf", purpose="bit quantize --engine nncf (pip install 'bitcli[openvino]')")
    calib = np.ascontiguousarray(calib, dtype=np.float32)
    name, bs = model_input(Path(fp32_onnx))
    if calib.ndim != 4 or len(calib) == 0 or len(calib) % bs:
        raise DataError(f"calibration array of shape {calib.shape} does not split into batches of {bs}",
                        hint=f"pass N×3×H×W images with N a multiple of {bs}")
    from bitcli.resources import resident_bytes

    held, adds = resident_bytes(), calibration_bytes(Path(fp32_onnx))
    _check_memory(adds, options, bs)
    bound = held + adds
    say = options.get("say")
    if say:
        say(f"NNCF calibration on {len(calib)} images: memory bound {bound / 1024**2:.0f} MiB")
    ir = Path(out).suffix == ".xml"
    model, feed = _load(Path(fp32_onnx), name, ir)
    kwargs = dict(preset=_preset(nncf, method), subset_size=len(calib) // bs,
                  fast_bias_correction=bool(options.get("fast_bias_correction", True)),
                  ignored_scope=_ignored_scope(nncf, _node_types(Path(fp32_onnx)), exclude, options.get("op_types")))
    overflow_fix = _overflow_fix(nncf, options.get("reduce_range"))
    start = time.perf_counter()
    calibration = nncf.Dataset(list(_batches(calib, bs)), feed)
    try:
        with _stdout_kept_clean():
            if options.get("max_drop") is not None:
                quantized = _with_accuracy_control(nncf, model, calibration, feed, bs, options,
                                                   {**kwargs, "advanced_quantization_parameters": overflow_fix})
            else:
                quantized = nncf.quantize(model, calibration, advanced_parameters=overflow_fix, **kwargs)
    except nncf.ValidationError as exc:  # a recipe NNCF rejects (excluded names are checked before, by _ignored_scope)
        raise ConfigError(f"NNCF refused the recipe: {str(exc).splitlines()[0]}",
                          hint=EXCLUDE_HINT) from None
    seconds = time.perf_counter() - start
    _save(quantized, Path(out), ir)
    return _recipe(nncf, method, exclude, options, len(calib), bound, seconds, ir)


def _node_types(path: Path) -> dict[str, str]:
    """Node name → op type of an ONNX model."""
    onnx = require("onnx", purpose="bit quantize")
    return {node.name: node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}


def _ignored_scope(nncf: Any, nodes: dict[str, str], exclude: tuple[str, ...], op_types: Any) -> Any:
    """NNCF's ignored scope: the excluded node names, and with ``op_types`` every other op type of the model
    (NNCF has no "only these types"; ignoring a type keeps its nodes' inputs and outputs in float, so the
    quantizers left are those in front of the chosen types, as onnxruntime's ``op_types_to_quantize``).

    Raises:
        ConfigError: an excluded name that is not a node of the model (checked here: NNCF's own check is off,
            since not every listed type need occur).
    """
    unknown = [name for name in exclude if name not in nodes]
    if unknown:
        raise ConfigError(f"--exclude names no node of the model: {', '.join(unknown)}",
                          hint=EXCLUDE_HINT)
    ignored_types = sorted(set(nodes.values()) - set(op_types)) if op_types else []
    if not exclude and not ignored_types:
        return None
    return nncf.IgnoredScope(names=list(exclude), types=ignored_types, validate=False)


def _overflow_fix(nncf: Any, reduce_range: Any) -> Any:
    """NNCF's form of onnxruntime's ``reduce_range``: ``OverflowFix.ENABLE`` quantizes the weights of every
    Conv/MatMul to half the int8 range (7 bits), so u8×s8 pair sums cannot saturate int16 on a CPU without
    VNNI/AMX; ``DISABLE`` keeps the full range (``bit quantize``'s ``auto`` for NNCF, measured to agree best:
    :func:`bitcli.stages.quantize._reduce_range`). None (not decided): NNCF's own default (the first layer only)."""
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    name = _overflow_fix_name(reduce_range)
    return None if name is None else AdvancedQuantizationParameters(overflow_fix=OverflowFix(name))


def _overflow_fix_name(reduce_range: Any) -> str | None:
    """The ``OverflowFix`` value for ``reduce_range`` (True: enable, False: disable, None: NNCF's default)."""
    return None if reduce_range is None else ("enable" if reduce_range else "disable")


@contextlib.contextmanager
def _stdout_kept_clean() -> Iterator[None]:
    """NNCF logs INFO lines through a handler on the process's stdout and draws progress bars there, which
    broke ``bit quantize --json`` and ``bit all --json`` (their stdout must be JSON only): its logger is
    held to warnings for the call, each of its stdout handlers writes to stderr, and so do prints."""
    import logging
    import sys

    logger = logging.getLogger("nncf")
    level = logger.level
    moved = [h for h in logger.handlers if isinstance(h, logging.StreamHandler) and h.stream is sys.__stdout__]
    logger.setLevel(logging.WARNING)
    for handler in moved:
        handler.setStream(sys.stderr)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        logger.setLevel(level)
        for handler in moved:
            handler.setStream(sys.__stdout__)


def model_input(path: Path) -> tuple[str, int]:
    """The input name and static batch size of an ONNX model."""
    onnx = require("onnx", purpose="bit quantize")
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    dims = inputs[0].type.tensor_type.shape.dim if inputs else []
    if len(inputs) != 1 or len(dims) != 4 or not dims[0].dim_value:
        raise DataError(f"{path.name} is not a static-batch model with one N×3×H×W input",
                        hint="quantize the simplified bit_bs{N}_sim.onnx (bit simplify --bs N)")
    return inputs[0].name, int(dims[0].dim_value)


def calibration_bytes(path: Path) -> int:
    """Bytes calibration adds to the process: weight copies, a share of one batch's activations, slack."""
    onnx = require("onnx", purpose="bit quantize")
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    weights = sum(_nbytes(t.dims, 4) for t in model.graph.initializer)
    activations = sum(_nbytes([d.dim_value for d in v.type.tensor_type.shape.dim], 4)
                      for v in list(model.graph.value_info) + list(model.graph.output))
    return int(WEIGHT_COPIES * weights + ACTIVATION_SHARE * activations + SLACK_BYTES)


def _nbytes(dims: Iterable[int], itemsize: int) -> int:
    total = itemsize
    for d in dims:
        total *= max(int(d), 1)
    return total


def _check_memory(adds: int, options: dict[str, Any], bs: int) -> None:
    limit = options.get("memory_limit") or _available_bytes()
    if limit and adds > limit:
        raise DataError(f"NNCF calibration at bs {bs} needs about {adds / 1024**2:.0f} MiB more than this process "
                        f"holds, more than the {limit / 1024**2:.0f} MiB available",
                        hint="free memory (close other programs), or quantize on a machine with more")


def _available_bytes() -> int | None:
    from bitcli.resources import available_memory

    return available_memory()


def _batches(images: Any, bs: int) -> Iterable[Any]:
    for start in range(0, len(images), bs):
        yield images[start:start + bs]


def _preset(nncf: Any, method: str) -> Any:
    return nncf.QuantizationPreset.PERFORMANCE if method == "performance" else nncf.QuantizationPreset.MIXED


def _load(path: Path, name: str, ir: bool) -> tuple[Any, Any]:
    """The model NNCF quantizes (ONNX ModelProto, or an OpenVINO model for an IR) and its feed function."""
    if ir:
        ov = require("openvino", purpose="an OpenVINO IR int8 model")
        return ov.Core().read_model(str(path)), lambda batch: batch
    onnx = require("onnx", purpose="bit quantize")
    return onnx.load(str(path)), lambda batch: {name: batch}


def _with_accuracy_control(nncf: Any, model: Any, calibration: Any, feed: Any, bs: int,
                           options: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    import numpy as np

    images, labels = options.get("val_images"), options.get("val_labels")
    if images is None or labels is None or len(images) < bs:
        raise ConfigError("NNCF accuracy control (max_drop) needs held-out val_images and val_labels",
                          hint="give at least one batch of held-out images with their labels")
    count = len(images) // bs * bs
    items = [(images[i:i + bs], np.asarray(labels[i:i + bs])) for i in range(0, count, bs)]
    validation = nncf.Dataset(items, lambda item: feed(np.ascontiguousarray(item[0], dtype=np.float32)))
    return nncf.quantize_with_accuracy_control(
        model, calibration, validation, validation_fn=_top1_fn(),
        max_drop=float(options["max_drop"]), drop_type=nncf.DropType.ABSOLUTE, **kwargs)


def _top1_fn() -> Any:
    """NNCF's validation function: top-1 of the model it is given (an ONNX proto or an OpenVINO compiled
    model) on the items of the dataset it is given, with each item's own score.

    NNCF calls it on the whole validation set and then item by item (and on subsets while ranking layers),
    so it scores exactly the items it receives, returns one value per item (NNCF's "metric mode": no
    per-item logits kept), and compiles each model once, not once per call (a 496-image run that compiled
    per call and ignored the subset took 13.5 minutes to collect the initial model's per-item values).
    """
    import numpy as np

    cache: dict[str, Any] = {}

    def validate(model: Any, dataset: Iterable[Any]) -> tuple[float, list[float]]:
        if cache.get("model") is not model:
            cache.update(model=model, run=_runner(model))
        run = cache["run"]
        scores = []
        for images, labels in dataset:
            logits = run(np.ascontiguousarray(images, dtype=np.float32))
            scores.append(float((logits.argmax(1) == np.asarray(labels)).mean()))
        return (float(np.mean(scores)) if scores else 0.0), scores

    return validate


def _runner(model: Any) -> Any:
    if hasattr(model, "create_infer_request"):  # an OpenVINO compiled model
        request = model.create_infer_request()
        return lambda x: request.infer({0: x})[model.outputs[0]]
    ov = require("openvino", purpose="NNCF accuracy control")  # the ONNX proto: run it as the backend will
    compiled = ov.Core().compile_model(ov.Core().read_model(model.SerializeToString(), b""), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "f32"})
    return _runner(compiled)


def _save(quantized: Any, out: Path, ir: bool) -> None:
    """Write to a temporary name, then rename (never a half-written model under the real name)."""
    import os

    out.parent.mkdir(parents=True, exist_ok=True)
    if ir:
        ov = require("openvino", purpose="an OpenVINO IR int8 model")
        tmp = out.with_name(f".{out.stem}.partial.xml")
        ov.save_model(quantized, str(tmp), compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), out.with_suffix(".bin"))
        os.replace(tmp, out)
        return
    onnx = require("onnx", purpose="bit quantize")
    tmp = out.with_name(f".{out.name}.partial")
    onnx.save(quantized, str(tmp))
    os.replace(tmp, out)


def _recipe(nncf: Any, method: str, exclude: tuple[str, ...], options: dict[str, Any], images: int,
            bound: int, seconds: float, ir: bool) -> dict[str, Any]:
    from importlib import metadata

    from bitcli.cpu import detect

    cpu = detect()
    return {
        "engine": "nncf", "nncf": nncf.__version__, "openvino": _version(metadata, "openvino"),
        "format": "OpenVINO IR" if ir else "QDQ",
        "preset": "PERFORMANCE" if method == "performance" else "MIXED", "method": method,
        "weights": "s8 symmetric per channel",
        "activations": "s8 symmetric" if method == "performance" else "u8 asymmetric where NNCF chose it",
        "exclude": list(exclude), "calib_images": images,
        "reduce_range": options.get("reduce_range"), "op_types": list(options.get("op_types") or []) or "all",
        "overflow_fix": _overflow_fix_name(options.get("reduce_range")),
        "accuracy_control": None if options.get("max_drop") is None else _control_record(options),
        "memory_bound_mib": round(bound / 1024**2), "calibration_s": round(seconds, 1),
        "cpu": {"model": cpu.model, "flags": sorted(cpu.flags)},
    }  # fmt: skip


def _control_record(options: dict[str, Any]) -> dict[str, Any]:
    record = {"max_drop": float(options["max_drop"]), "val_images": len(options["val_images"])}
    if options.get("val_indices") is not None:
        record["val_indices"] = [int(i) for i in options["val_indices"]]
    return record


def _version(metadata: Any, name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
