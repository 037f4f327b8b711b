"""What `bit all` will do, step by step, and why: the one place its up-to-date decisions are made.

``bit all --dry-run`` prints :func:`plan`; ``bit all`` asks :func:`decide` before each step,
with the same functions, so the two cannot disagree. A step runs when:

* ``--force`` was given;
* a step it depends on runs in this same ``bit all`` (make's rule: a rebuilt input makes its
  dependents rebuild), e.g. a re-export re-runs simplify, atc, infer and bench of every bs;
* its own check says its artefact is not current (:mod:`bitcli.provenance`'s rule, through
  each stage's ``*_stale_reason``): missing, changed since written, or made from other inputs.

Dependencies: simplify ← export; quantize ← simplify and data (its calibration images); atc ←
simplify; infer ← data and the backend's model step (atc for ascend, quantize at precision int8,
simplify for onnxruntime/openvino, none for torch); eval ← infer and data; bench ← the model step. Export does not depend on data (it reads a few images only to verify).

The checks of infer, eval and bench compute the same "made from" keys that ``bit infer``,
``bit eval``, ``bit bench`` and ``bit all`` record (:mod:`bitcli.stages.results`), so a run after
the standalone commands finds their results up to date; ``STEP_CHECKS`` maps each step to its check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bitcli.artifacts import accuracy_path, summary_path
from bitcli.config import Settings
from bitcli.errors import BitError

PER_BS = ("simplify", "quantize", "atc", "infer", "eval", "bench")


@dataclass
class PlannedStep:
    """One step of the plan: ``reason`` None means up to date."""

    step: str
    bs: int | None
    reason: str | None

    @property
    def status(self) -> str:
        return "up to date" if self.reason is None else "would run"

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "bs": self.bs, "status": self.status, "reason": self.reason}


def model_step(backend: str, precision: str = "fp32") -> str | None:
    """The step that makes the model a backend runs: atc (.om), quantize (int8 ONNX), simplify (ONNX),
    none (torch: the checkpoint)."""
    if backend == "ascend":
        return "atc"
    if backend == "torch":
        return None
    return "quantize" if precision == "int8" else "simplify"


def upstream(step: str, backend: str, precision: str = "fp32") -> tuple[str, ...]:
    """The steps whose re-run makes ``step`` re-run (same bs for per-bs steps)."""
    model = model_step(backend, precision)
    deps = {"simplify": ("export",), "quantize": ("simplify", "data"), "atc": ("simplify",), "infer": ("data", model),
            "eval": ("data", "infer"), "bench": (model,)}.get(step, ())
    return tuple(d for d in deps if d)


def decide(step: str, bs: int | None, cfg: Settings, backend: str, *, force: bool,
           ran: set[tuple[str, int | None]], adopted: dict[int, Path] | None = None) -> str | None:
    """None when ``step`` (for ``bs``) is up to date; else why it must run.

    Args:
        step: a step name.
        bs: its batch size (None for data and export).
        cfg: resolved settings.
        backend: the concrete backend name.
        force: ``--force`` given.
        ran: (step, bs) pairs that run (or, in a plan, would run) earlier in this ``bit all``.
        adopted: bs → an existing ``.om`` ``bit all --om-dir`` runs instead of the workdir's.
    """
    if force:
        return "--force"
    for dep in upstream(step, backend, cfg["precision"]):
        key = (dep, bs if dep in PER_BS else None)
        if key in ran:
            return f"{dep}{'' if key[1] is None else f' bs {bs}'} runs first"
    if step in ("infer", "bench") and adopted and bs in adopted:
        return STEP_CHECKS[step](cfg, bs, backend, adopted[bs])
    return STEP_CHECKS[step](cfg, bs, backend)


def plan(cfg: Settings, steps: tuple[str, ...], backend: str, *, force: bool = False) -> list[PlannedStep]:
    """Every step × batch size ``bit all`` would run now, with its reason; reads only, writes nothing."""
    ran: set[tuple[str, int | None]] = set()
    planned = []
    for step in steps:
        for bs in (cfg.batch_sizes if step in PER_BS else (None,)):
            try:
                reason = decide(step, bs, cfg, backend, force=force, ran=ran)
            except BitError as exc:
                reason = f"would fail: {exc.message}"
            if reason is not None:
                ran.add((step, bs))
            planned.append(PlannedStep(step, bs, reason))
    return planned


def artifact_of(step: str, bs: int | None, cfg: Settings, backend: str) -> Path:
    """The artefact a step makes (what an up-to-date row points to)."""
    names = cfg.artifacts
    paths = {"data": lambda: names.dataset_bin, "export": lambda: names.onnx, "simplify": lambda: names.sim_onnx(bs),
             "quantize": lambda: names.int8_onnx(bs), "atc": lambda: names.om(bs),
             "infer": lambda: _result_dir(cfg, bs, backend), "eval": lambda: accuracy_path(_result_dir(cfg, bs, backend)),
             "bench": lambda: names.bench_json}
    return paths[step]()


def stale_model_warning(cfg: Settings, backend: str, bs: int) -> str | None:
    """One line when the workdir's standard model for ``bs`` is older than what it was made from.

    ``bit infer`` and ``bit bench`` warn with it before they run a model whose source changed
    (a re-export after simplify, an edited file): the figures would belong to the old model.
    None when the model is current, missing (the backend says so when it opens it) or unknown.
    """
    step = model_step(backend, cfg["precision"])
    if step is None or not artifact_of(step, bs, cfg, backend).exists():
        return None
    try:
        why = STEP_CHECKS[step](cfg, bs, backend)
    except BitError:
        return None
    if why is None:
        return None
    name = artifact_of(step, bs, cfg, backend).name
    return f"bs {bs}: {name} is not current ({why}); its figures would be the old model's: run `bit {step} --bs {bs}`"


# --------------------------------------------------------------------------- the dry run


@dataclass
class DryRun:
    """``bit all --dry-run``: the plan, nothing run or written."""

    backend: str
    backend_reason: str
    workdir: Path
    batch_sizes: tuple[int, ...]
    steps: list[Any] = field(default_factory=list)  # PlannedStep

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": True, "workdir": str(self.workdir), "backend": self.backend,
                "batch_sizes": list(self.batch_sizes), "results": [s.to_json() for s in self.steps]}


def dry_run(cfg: Settings, *, from_step: str | None = None, only: tuple[str, ...] | None = None,
            force: bool = False) -> DryRun:
    """What :func:`bitcli.stages.run_all.run_all` would do with the same arguments, step by step with reasons; writes nothing.

    The decisions are :func:`decide`'s, which ``run_all`` asks before each step.
    """
    from bitcli.backends.base import select_backend
    from bitcli.stages.run_all import plan_steps

    cls, why = select_backend(cfg["backend"], {"set_env": cfg["ascend.set_env"]})
    steps = plan_steps(from_step, only, ascend=cls.name == "ascend", precision=cfg["precision"])
    return DryRun(cls.name, why, cfg.workdir, cfg.batch_sizes, plan(cfg, steps, cls.name, force=force))


# --------------------------------------------------------------------------- each step's own check


def _data_check(cfg: Settings, bs: None, backend: str) -> str | None:
    from bitcli.datasets import cifar
    from bitcli.errors import DataError
    from bitcli.stages.data import data_stale_reason

    names = cfg.artifacts
    source = Path(cfg["dataset.path"])
    if cfg["dataset.synthetic"]:
        source, n = names.synthetic_data, cfg["dataset.synthetic"]
        try:
            if len(cifar.read_cifar10_test(source)) != n:
                return f"{n} synthetic images are to be written first"
        except DataError:
            return f"{n} synthetic images are to be written first"
    elif cfg["dataset.download"]:
        try:
            cifar.locate(source)
        except DataError:
            return f"CIFAR-10 is to be downloaded into {source} first"
    try:
        return data_stale_reason(source, names.dataset_bin, names.label_txt, image_size=cfg["model.image_size"],
                                 limit=cfg["dataset.limit"])
    except DataError as exc:
        return f"would fail: {exc.message}"


def _export_check(cfg: Settings, bs: None, backend: str) -> str | None:
    from bitcli.stages.export import export_stale_reason

    return export_stale_reason(cfg["model.weights"], cfg.artifacts.onnx, arch=cfg["model.arch"],
                               num_classes=cfg["model.num_classes"], opset=cfg["model.opset"],
                               image_size=cfg["model.image_size"], seed=cfg["model.seed"])


def _simplify_check(cfg: Settings, bs: int, backend: str) -> str | None:
    from bitcli.stages.simplify import simplify_stale_reasons

    return simplify_stale_reasons(cfg.artifacts.onnx, [bs], cfg.workdir, image_size=cfg["model.image_size"])[bs]


def _atc_check(cfg: Settings, bs: int, backend: str) -> str | None:
    from bitcli.stages.atc import atc_stale_reasons

    return atc_stale_reasons(cfg.workdir, (bs,), chip=cfg["ascend.chip"], set_env=cfg["ascend.set_env"],
                             precision_mode=cfg["ascend.precision_mode"], image_size=cfg["model.image_size"])[bs]


# --------------------------------------------------------------------------- quantize / infer / eval / bench records


def _quantize_check(cfg: Settings, bs: int, backend: str) -> str | None:
    from bitcli.quant.model import int8_status

    return int8_status(cfg.workdir, bs)


def _result_dir(cfg: Settings, bs: int, backend: str) -> Path:
    from bitcli.stages.slots import result_dir_for, slot_for

    return result_dir_for(cfg.artifacts, bs, slot_for(cfg, backend))


def _run_model(cfg: Settings, backend: str, bs: int, model: Path | None) -> Path | str:
    """The model ``bit all`` runs for ``bs`` (an adopted one, else the precision's standard artefact)."""
    from bitcli.stages.infer import standard_model

    # standard_model, not quant.model.precision_model: a missing int8 model is "would run", not an error here
    return model or standard_model(backend, cfg.workdir, bs, weights=cfg["model.weights"], precision=cfg["precision"])


def _infer_check(cfg: Settings, bs: int, backend: str, model: Path | None = None) -> str | None:
    """The same key :func:`bitcli.stages.results.infer_bs` records (``bit infer`` and ``bit all`` alike)."""
    from bitcli.stages.results import changed_inputs, infer_is_current, infer_key

    folder = _result_dir(cfg, bs, backend)
    key = infer_key(cfg, backend, _run_model(cfg, backend, bs, model), cfg.artifacts.dataset_bin, None)
    if infer_is_current(folder, key):
        return None
    if not summary_path(folder).is_file():
        return f"{folder.parent.name}/{folder.name} does not exist"
    return f"{folder.parent.name}/{folder.name} is out of date ({changed_inputs(folder, key)} changed since it was written)"


def _eval_check(cfg: Settings, bs: int, backend: str) -> str | None:
    """The same key :func:`bitcli.stages.results.eval_folder` records."""
    from bitcli.stages.results import eval_is_current, eval_key

    names = cfg.artifacts
    folder = _result_dir(cfg, bs, backend)
    record = accuracy_path(folder)
    if eval_is_current(record, eval_key(folder, names.label_txt, names.data_manifest, None)):
        return None
    if not record.is_file():
        return f"{record.name} does not exist"
    return f"{record.name} was scored from other outputs, labels or data"


def _bench_check(cfg: Settings, bs: int, backend: str, model: Path | None = None) -> str | None:
    """The same ``made_from`` key :func:`bitcli.stages.results.bench_plan` gives bench.json's rows."""
    from bitcli.stages.bench import find_bench_row, read_bench_json
    from bitcli.stages.results import bench_key

    row = find_bench_row(read_bench_json(cfg.artifacts.bench_json), backend, cfg["precision"], bs)
    if row is None:
        return f"{cfg.artifacts.bench_json.name} has no {backend} {cfg['precision']} row for bs {bs}"
    if row.get("status") != "ok":
        return f"its bs {bs} row in {cfg.artifacts.bench_json.name} failed last time"
    if row.get("made_from") != bench_key(cfg, backend, _run_model(cfg, backend, bs, model)):
        return f"its bs {bs} row in {cfg.artifacts.bench_json.name} was measured with another model or settings"
    return None


STEP_CHECKS: dict[str, Callable[..., str | None]] = {
    "data": _data_check, "export": _export_check, "simplify": _simplify_check, "quantize": _quantize_check,
    "atc": _atc_check, "infer": _infer_check, "eval": _eval_check, "bench": _bench_check,
}
