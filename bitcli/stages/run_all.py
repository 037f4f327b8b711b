"""`bit all`: the whole flow, make-like, resumable, one row per batch size.

Steps, in order: data → export → simplify (each bs) → atc (each bs, Ascend
only) → infer (each bs) → eval (each bs) → bench (each bs). Each step calls
the same stage function as its single command; nothing is implemented twice.

Skipping: before each step :func:`bitcli.stages.plan.decide` says whether it
is up to date (the same decision ``bit all --dry-run`` prints): a step whose
artefact is current is not called; one that must run is called with the
reason recorded on its row. infer, eval and bench use the same records as the
single commands (:mod:`bitcli.stages.results`): the result folder's sidecar
(``result/onnxruntime/result_bs8.json``), the accuracy record's, and the
``made_from`` of each bench.json row, so changing the weights re-runs export and
everything after it, a new ``--bs`` adds only its rows, a second run does
nothing, and a run after the standalone commands reuses their figures. Results
are kept per backend and precision (:mod:`bitcli.stages.slots`); an older
workdir's layout is moved once at the start (``AllResult.notes`` says so).
``--om-dir`` adopts existing ``.om`` files: used as they are, never rebuilt.

Failures: a failing batch size keeps its row with the reason and the other
sizes go on; a failing global step (data, export) stops the run. Every
artefact is written under a temporary name and renamed, so Ctrl-C leaves no
half-written file and the next run continues where this one stopped.

The report rows are read back from the artefacts on disk after the steps,
so ``--only bench`` still reports the accuracy of the earlier run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from bitcli.artifacts import read_sidecar
from bitcli.config import Settings
from bitcli.errors import BitError, ConfigError, DataError
from bitcli.report_rows import BsRow, collect_rows, run_context

STEPS = ("data", "export", "simplify", "quantize", "atc", "infer", "eval", "bench")
PER_BS = ("simplify", "quantize", "atc", "infer", "eval", "bench")
DEMO_NOTICE = "demo: synthetic data, random weights — accuracy is meaningless; throughput is real"
DEMO_IMAGES = 512

Tick = Callable[[int, "int | None"], None]


class Events(Protocol):
    """What the command's progress display receives (the stage never prints)."""

    def plan(self, steps: tuple[str, ...], batch_sizes: tuple[int, ...]) -> None: ...

    def start(self, step: str, bs: int | None) -> Tick: ...

    def end(self, record: "StepRecord") -> None: ...


class _Silent:
    def plan(self, steps: tuple[str, ...], batch_sizes: tuple[int, ...]) -> None:
        return None

    def start(self, step: str, bs: int | None) -> Tick:
        return lambda done, total: None

    def end(self, record: "StepRecord") -> None:
        return None


@dataclass
class StepRecord:
    """One step (for one batch size, or global) and what happened."""

    step: str
    bs: int | None
    status: str                 # "done" | "up to date" | "failed" | "skipped: <reason>"
    seconds: float = 0.0
    detail: str = ""
    hint: str | None = None     # a failed step's fix
    reason: str | None = None   # why it ran (None: up to date)

    def to_json(self) -> dict[str, Any]:
        doc = {"step": self.step, "bs": self.bs, "status": self.status,
               "seconds": round(self.seconds, 3), "detail": self.detail}
        if self.hint:
            doc["hint"] = self.hint
        if self.reason:
            doc["reason"] = self.reason
        return doc


@dataclass
class AllResult:
    """Everything ``bit all`` did and measured."""

    backend: str
    backend_reason: str
    device: str
    demo: bool
    batch_sizes: tuple[int, ...]
    steps: list[StepRecord] = field(default_factory=list)
    rows: list[BsRow] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    chip: str | None = None     # SoC the .om files were built for (ascend only)
    compare: dict[str, Any] | None = None   # --compare N: this run's backend/precision vs fp32 onnxruntime
    precision: str = "fp32"
    adopted: dict[int, Path] = field(default_factory=dict)  # bs → an existing .om used as it is (--om-dir)
    notes: list[str] = field(default_factory=list)          # one-off messages (old layouts moved)

    @property
    def failed(self) -> bool:
        """A row of this run's backend failed or is incomplete, or a step failed (other slots' rows never fail it)."""
        own = [r for r in self.rows if r.backend in (None, self.backend) and r.precision in (None, self.precision)]
        return any(r.status != "ok" for r in own) or any(s.status == "failed" for s in self.steps)


# --------------------------------------------------------------------------- planning


def demo_overrides(cfg: Settings) -> dict[str, Any]:
    """Flags ``--demo`` implies: synthetic images, random weights, onnxruntime on CPU."""
    flags: dict[str, Any] = {
        "dataset.synthetic": cfg["dataset.synthetic"] or DEMO_IMAGES,
        "model.weights": "random",
        "backend": "onnxruntime",
        "onnxruntime.provider": "cpu",
    }
    if cfg.sources["bench.loop"] == "default":
        flags["bench.loop"], flags["bench.warmup"] = 20, 2  # about a minute in all on 2 cores
    if cfg.sources["workdir"] == "default":
        flags["workdir"] = "bit_demo"  # never mix demo artefacts with a real run's
    return flags


def plan_steps(from_step: str | None, only: tuple[str, ...] | None, ascend: bool,
               precision: str = "fp32") -> tuple[str, ...]:
    """The steps to run, in pipeline order.

    Raises:
        ConfigError: an unknown step name (with the nearest), or --from with --only.
    """
    for name in (from_step,) + tuple(only or ()):
        if name is not None and name not in STEPS:
            import difflib

            near = difflib.get_close_matches(name, STEPS, n=1)
            raise ConfigError(f"unknown step '{name}'" + (f" (did you mean '{near[0]}'?)" if near else ""),
                              hint="steps: " + ", ".join(STEPS))
    if from_step and only:
        raise ConfigError("--from and --only both given", hint="use one: --from STEP runs STEP and all after it")
    steps = STEPS[STEPS.index(from_step):] if from_step else tuple(s for s in STEPS if not only or s in only)
    if "atc" in steps and not ascend:
        steps = tuple(s for s in steps if s != "atc")  # .om files only matter to the ascend backend
    if precision != "int8":
        steps = tuple(s for s in steps if s != "quantize")  # the int8 model only matters to precision int8
    return steps


# --------------------------------------------------------------------------- the run


def run_all(
    cfg: Settings,
    *,
    from_step: str | None = None,
    only: tuple[str, ...] | None = None,
    force: bool = False,
    demo: bool = False,
    events: Events | None = None,
    compare: int | None = None,
    om_dir: Path | None = None,
) -> AllResult:
    """Run the pipeline for every batch size of ``cfg`` and write the report files.

    Args:
        cfg: resolved settings (with ``demo_overrides`` already applied for a demo).
        from_step: run this step and every later one.
        only: run just these steps.
        force: redo every step even when up to date.
        demo: label every output as the offline demo.
        events: progress sink (the command's display); None is silent.
        compare: compare this run's backend/precision with fp32 onnxruntime on this many samples.
        om_dir: a folder of existing ``bit_bs{N}.om`` files to use as they are (ascend): never
            rebuilt or overwritten; the atc step says ``skipped: adopted DIR/bit_bs8.om``.

    Returns:
        The :class:`AllResult`; its rows come from the artefacts on disk.

    Raises:
        BitError: a global step failed (data, export) or the settings are unusable.
    """
    from bitcli.backends.base import select_backend

    events = events or _Silent()
    cls, why = select_backend(cfg["backend"], {"set_env": cfg["ascend.set_env"]})
    steps = plan_steps(from_step, only, ascend=cls.name == "ascend", precision=cfg["precision"])
    result = AllResult(backend=cls.name, backend_reason=why, device=cls.name, demo=demo,
                       batch_sizes=cfg.batch_sizes, precision=cfg["precision"])
    if om_dir is not None:
        result.adopted = adopted_oms(Path(om_dir), cfg.batch_sizes, cls.name)
    events.plan(steps, cfg.batch_sizes)
    failed: dict[int, tuple[str, str | None]] = {}  # bs → (reason, fix)
    ran: set[tuple[str, int | None]] = set()  # steps done in this run: their dependents re-run too
    names = cfg.artifacts
    names.workdir.mkdir(parents=True, exist_ok=True)
    result.notes += _migrate(names)
    for step in steps:
        if step in PER_BS:
            for bs in cfg.batch_sizes:
                if bs in failed:
                    result.steps.append(StepRecord(step, bs, f"skipped: bs {bs} failed earlier"))
                    continue
                record, _ = _run_step(step, bs, cfg, cls, force, events, result, ran)
                if record.status == "failed":
                    failed[bs] = (f"{step}: {record.detail}", record.hint)
        else:
            _, error = _run_step(step, None, cfg, cls, force, events, result, ran)
            if error is not None:
                raise error  # nothing after data/export can run without them
    if cls.name == "ascend" and result.chip is None:  # atc not run this time: the .om sidecars know
        oms = [result.adopted.get(bs, names.om(bs)) for bs in cfg.batch_sizes]
        socs = [(read_sidecar(om) or {}).get("soc_version") for om in oms]
        result.chip = next((s for s in socs if s), None)
    result.rows = collect_rows(cfg, cls.name, failed, adopted=result.adopted)
    if result.device == cls.name:  # nothing ran this time: the rows' records know the device
        result.device = next((r.device for r in result.rows if r.backend == cls.name and r.device), result.device)
    result.context = run_context(cfg, result)
    if compare:
        result.compare = compare_with_fp32(cfg, cls, compare)
    return result


def _run_step(step: str, bs: int | None, cfg: Settings, cls: Any, force: bool, events: Events,
              result: AllResult, ran: set[tuple[str, int | None]]) -> tuple[StepRecord, BitError | None]:
    """Run one step when :func:`bitcli.stages.plan.decide` says it must; record what happened."""
    from bitcli.stages.plan import artifact_of, decide

    tick = events.start(step, bs)
    started = time.perf_counter()
    error = reason = None
    try:
        reason = decide(step, bs, cfg, cls.name, force=force, ran=ran, adopted=result.adopted)
        if reason is None:
            status, detail = "up to date", str(artifact_of(step, bs, cfg, cls.name))
        else:  # decided here: the stage redoes it (data keeps its own check: it resumes and guards foreign files)
            status, detail = STEP_FUNCTIONS[step](cfg, bs, cls, force if step == "data" else True, tick, result)
        record = StepRecord(step, bs, status, time.perf_counter() - started, detail, reason=reason)
    except BitError as exc:
        error = exc
        record = StepRecord(step, bs, "failed", time.perf_counter() - started, exc.message, exc.hint, reason)
    if record.status == "done":
        ran.add((step, bs))
    result.steps.append(record)
    events.end(record)
    return record, error


# --------------------------------------------------------------------------- steps (each calls its stage)


def _data(cfg: Settings, bs: None, cls: Any, force: bool, tick: Tick, result: AllResult) -> tuple[str, str]:
    from bitcli.stages import data

    names = cfg.artifacts
    source, _note = data.dataset_source(cfg)
    done = data.bins_from_cifar(source, names.dataset_bin, names.label_txt, image_size=cfg["model.image_size"],
                                limit=cfg["dataset.limit"], force=force, progress=tick)
    kind = "synthetic images" if done.synthetic else "images"
    return ("up to date" if done.skipped else "done"), f"{done.count} {kind} in {names.dataset_bin}"


def _export(cfg: Settings, bs: None, cls: Any, force: bool, tick: Tick, result: AllResult) -> tuple[str, str]:
    from bitcli.stages.export import onnx_from_checkpoint

    dataset = cfg.artifacts.synthetic_data if cfg["dataset.synthetic"] else Path(cfg["dataset.path"])
    done = onnx_from_checkpoint(cfg["model.weights"], cfg.artifacts.onnx, arch=cfg["model.arch"],
                                num_classes=cfg["model.num_classes"], opset=cfg["model.opset"],
                                image_size=cfg["model.image_size"], seed=cfg["model.seed"], force=force,
                                dataset_path=dataset if dataset.exists() else None)
    if done.skipped:
        return "up to date", str(done.output)
    return "done", f"{done.output} (max |Δ| torch vs onnx {done.max_abs_diff:.2e})"


def _simplify(cfg: Settings, bs: int, cls: Any, force: bool, tick: Tick, result: AllResult) -> tuple[str, str]:
    from bitcli.stages.simplify import simplified_onnx_per_bs

    row = simplified_onnx_per_bs(cfg.artifacts.onnx, [bs], cfg.workdir, image_size=cfg["model.image_size"],
                                 force=force).rows[0]
    if row.error:
        raise BitError(row.error)
    return ("up to date" if row.skipped else "done"), str(row.path)


def _atc(cfg: Settings, bs: int, cls: Any, force: bool, tick: Tick, result: AllResult) -> tuple[str, str]:
    from bitcli.stages.atc import om_from_onnx

    if bs in result.adopted:  # used as it is: never rebuilt, never overwritten
        return f"skipped: adopted {result.adopted[bs]}", "sha256 " + _short_sha(result.adopted[bs])
    done = om_from_onnx(cfg.workdir, (bs,), chip=cfg["ascend.chip"], set_env=cfg["ascend.set_env"],
                        precision_mode=cfg["ascend.precision_mode"], image_size=cfg["model.image_size"],
                        force=force, log_dir=cfg.artifacts.logs)
    row = done.rows[0]
    result.chip = done.soc_version
    return ("up to date" if row.status == "up to date" else "done"), f"{row.om} ({done.soc_version})"


def _quantize(cfg: Settings, bs: int, cls: Any, force: bool, tick: Tick, result: AllResult) -> tuple[str, str]:
    from bitcli.stages.quantize import int8_from_onnx, request_from_settings

    names = cfg.artifacts
    done = int8_from_onnx(names.sim_onnx(bs), names.int8_onnx(bs), names.dataset_bin,
                          names.label_txt if names.label_txt.is_file() else None, request_from_settings(cfg, bs),
                          image_size=cfg["model.image_size"], force=force)
    guard = done.meta["guard"]
    return done.status, f"{done.output} (agreement {guard['agreement']:.2%} on {guard['samples']} held-out images)"


def compare_with_fp32(cfg: Settings, cls: Any, samples: int) -> dict[str, Any]:
    """``bit all --compare N``: the run's backend and precision against fp32 onnxruntime on the first N samples
    (first batch size); a failure is recorded, never raised (the run's own results stand)."""
    from bitcli.stages.compare import fp32_reference_figures

    try:
        return fp32_reference_figures(cfg, cls, cfg.batch_sizes[0], samples)
    except BitError as exc:
        return {"status": "failed", "reason": exc.message, "hint": exc.hint}


def _short_sha(path: Path) -> str:
    from bitcli.stages.identity import model_digest, short

    return short(model_digest(path))


def adopted_oms(om_dir: Path, batch_sizes: tuple[int, ...], backend: str) -> dict[int, Path]:
    """``DIR/bit_bs{N}.om`` for each bs, checked to exist and to be built for that bs (bit's sidecar).

    Raises:
        ConfigError: --om-dir with a backend that runs no .om, a missing folder or file, a wrong batch size.
    """
    from bitcli.artifacts import Artifacts
    from bitcli.ascend.om_batch import check_om_batch, sidecar_batch

    if backend != "ascend":
        raise ConfigError(f"--om-dir is for the ascend backend; {backend} runs no .om",
                          hint="pass --backend ascend, or drop --om-dir")
    if not om_dir.is_dir():
        raise ConfigError(f"--om-dir {om_dir} is not a folder", hint="pass the folder that holds bit_bs{N}.om")
    found = {bs: Artifacts(om_dir).om(bs) for bs in batch_sizes}
    missing = [str(p) for p in found.values() if not p.is_file()]
    if missing:
        raise ConfigError(f"--om-dir has no {', '.join(Path(m).name for m in missing)} ({', '.join(missing)})",
                          hint="name each .om bit_bs{N}.om for its batch size, or choose --bs to match the files")
    for bs, om in found.items():
        check_om_batch(om, bs, sidecar_batch(om))
    return {bs: om.resolve() for bs, om in found.items()}


def _migrate(names: Any) -> list[str]:
    """Old layouts moved once: result/result_bs{N} into its slot, bench/bench_bs{N}.json into bench.json."""
    from bitcli.stages.bench import migrate_bench_records
    from bitcli.stages.slots import migrate_legacy

    return migrate_legacy(names) + migrate_bench_records(names)


def model_for(cfg: Settings, backend: str, bs: int, result: AllResult) -> Path | str:
    """The model ``bs`` runs: an adopted ``.om`` (``--om-dir``), else the backend's standard one."""
    from bitcli.quant.model import precision_model

    if bs in result.adopted:
        return result.adopted[bs]
    return precision_model(backend, cfg.workdir, bs, cfg["precision"], weights=cfg["model.weights"])


def _infer(cfg: Settings, bs: int, cls: Any, force: bool, tick: Tick, result: AllResult) -> tuple[str, str]:
    from bitcli.stages.results import infer_bs
    from bitcli.stages.slots import slot_for

    names = cfg.artifacts
    root = names.result_root / slot_for(cfg, cls.name)
    done = infer_bs(cfg, cls, bs, model_for(cfg, cls.name, bs, result), root, input_dir=names.dataset_bin,
                    force=force, progress=tick)
    if done.status == "up to date":
        return "up to date", str(done.result_dir)
    result.device = done.device
    if done.nonfinite:  # no sidecar: the outputs are not "up to date" for eval, bench or a rerun
        raise DataError(
            f"{len(done.nonfinite)} of {done.samples} outputs hold NaN/inf (first: {', '.join(done.nonfinite[:3])})",
            hint="the model computes non-finite logits: check the weights (`bit export --force` verifies them)")
    return "done", f"{done.samples} outputs, {done.throughput:,.1f} img/s compute"


def _eval(cfg: Settings, bs: int, cls: Any, force: bool, tick: Tick, result: AllResult) -> tuple[str, str]:
    from bitcli.stages.provenance import check_data
    from bitcli.stages.results import eval_folder
    from bitcli.stages.slots import result_dir_for, slot_for

    names = cfg.artifacts
    folder = result_dir_for(names, bs, slot_for(cfg, cls.name))
    note = check_data(folder, names.data_manifest, bs=bs)  # refuses outputs of other data
    done = eval_folder(folder, names.label_txt, names.data_manifest, num_classes=cfg["model.num_classes"], force=force)
    if done.status == "up to date":
        return "up to date", str(done.json_path)
    return "done", f"top-1 {done.topk[1]:.2%} on {done.samples}" + (" (provenance unknown)" if note else "")


def _bench(cfg: Settings, bs: int, cls: Any, force: bool, tick: Tick, result: AllResult) -> tuple[str, str]:
    from bitcli.stages import infer
    from bitcli.stages.bench import throughput_per_bs
    from bitcli.stages.results import bench_plan

    model = model_for(cfg, cls.name, bs, result)
    done = throughput_per_bs(cls, lambda size: infer.options_from_settings(cfg, size, model), (bs,),
                             warmup=cfg["bench.warmup"], loop=cfg["bench.loop"], json_path=cfg.artifacts.bench_json,
                             plan=bench_plan(cfg, cls.name, force))
    row = done.rows[0]
    if row.status != "ok":
        raise BitError(row.reason or "bench failed", hint=row.hint)
    if row.run != "up to date":
        result.device = done.device
    return row.run, f"{row.throughput:,.1f} img/s"


STEP_FUNCTIONS: dict[str, Callable[..., tuple[str, str]]] = {
    "data": _data, "export": _export, "simplify": _simplify, "quantize": _quantize, "atc": _atc,
    "infer": _infer, "eval": _eval, "bench": _bench,
}
