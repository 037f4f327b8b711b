"""What `bit all` will do, step by step, and why: the one place its up-to-date decisions are made.

``bit all --dry-run`` prints :func:`plan`; ``bit all`` asks :func:`decide` before each step,
with the same functions, so the two cannot disagree. A step runs when:

* ``--force`` was given;
* a step it depends on runs in this same ``bit all`` (make's rule: a rebuilt input makes its
  dependents rebuild), e.g. a re-export re-runs simplify, atc, infer and bench of every bs;
* its own check says its artefact is not current (:mod:`bitcli.provenance`'s rule, through
  each stage's ``*_stale_reason``): missing, changed since written, or made from other inputs.

Dependencies: simplify ← export; atc ← simplify; infer ← data and the backend's model step
(atc for ascend, simplify for onnxruntime, none for torch); eval ← infer and data; bench ←
the model step. Export does not depend on data (it reads a few images only to verify).

The checks of infer, eval and bench build the same ``expected`` records that run_all's
``_infer``/``_eval``/``_bench`` write in their sidecars (:func:`infer_expected` and friends);
``STEP_CHECKS`` maps each step to its check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bitcli.config import Settings
from bitcli.errors import BitError

PER_BS = ("simplify", "atc", "infer", "eval", "bench")


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


def model_step(backend: str) -> str | None:
    """The step that makes the model a backend runs: atc (.om), simplify (ONNX), none (torch: the checkpoint)."""
    return {"ascend": "atc", "torch": None}.get(backend, "simplify")


def upstream(step: str, backend: str) -> tuple[str, ...]:
    """The steps whose re-run makes ``step`` re-run (same bs for per-bs steps)."""
    model = model_step(backend)
    deps = {"simplify": ("export",), "atc": ("simplify",), "infer": ("data", model), "eval": ("data", "infer"),
            "bench": (model,)}.get(step, ())
    return tuple(d for d in deps if d)


def decide(step: str, bs: int | None, cfg: Settings, backend: str, *, force: bool,
           ran: set[tuple[str, int | None]]) -> str | None:
    """None when ``step`` (for ``bs``) is up to date; else why it must run.

    Args:
        step: a step name.
        bs: its batch size (None for data and export).
        cfg: resolved settings.
        backend: the concrete backend name.
        force: ``--force`` given.
        ran: (step, bs) pairs that run (or, in a plan, would run) earlier in this ``bit all``.
    """
    if force:
        return "--force"
    for dep in upstream(step, backend):
        key = (dep, bs if dep in PER_BS else None)
        if key in ran:
            return f"{dep}{'' if key[1] is None else f' bs {bs}'} runs first"
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


def artifact_of(step: str, bs: int | None, cfg: Settings) -> Path:
    """The artefact a step makes (what an up-to-date row points to)."""
    names = cfg.artifacts
    paths = {"data": lambda: names.dataset_bin, "export": lambda: names.onnx, "simplify": lambda: names.sim_onnx(bs),
             "atc": lambda: names.om(bs), "infer": lambda: names.result_dir(bs), "eval": lambda: names.accuracy_json(bs),
             "bench": lambda: names.bench_record(bs)}
    return paths[step]()


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
    steps = plan_steps(from_step, only, ascend=cls.name == "ascend")
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


# --------------------------------------------------------------------------- infer / eval / bench records


def infer_expected(cfg: Settings, bs: int, backend: str) -> dict[str, Any]:
    """What ``bit all``'s infer records in ``result/result_bs{bs}.json``: model, data, devices."""
    from bitcli.stages.run_all import _data_key, _model_key

    return {"backend": backend, "model_digest": _model_key(cfg, backend, bs)[1], "data": _data_key(cfg),
            "devices": list(cfg["ascend.devices"])}


def eval_expected(cfg: Settings, bs: int) -> dict[str, Any]:
    """What ``bit all``'s eval records beside the accuracy: the outputs' summary, labels and data."""
    from bitcli.report_rows import file_digest

    names = cfg.artifacts
    return {"summary": file_digest(names.summary_json(bs)), "labels": file_digest(names.label_txt),
            "data": file_digest(names.data_manifest)}


def bench_expected(cfg: Settings, bs: int, backend: str) -> dict[str, Any]:
    """What ``bit all``'s bench records beside ``bench/bench_bs{bs}.json``: model, timing settings, devices."""
    from bitcli.stages.run_all import _model_key

    return {"backend": backend, "model_digest": _model_key(cfg, backend, bs)[1], "loop": cfg["bench.loop"],
            "warmup": cfg["bench.warmup"], "devices": list(cfg["ascend.devices"])}


def _infer_check(cfg: Settings, bs: int, backend: str) -> str | None:
    from bitcli.provenance import stale_reason

    names = cfg.artifacts
    model = _model_name(cfg, backend, bs)
    why = stale_reason(names.result_dir(bs), infer_expected(cfg, bs, backend),
                       inputs={"model_digest": f"{model} changed", "data": f"{names.dataset_bin.name} changed"})
    if why is None and not names.summary_json(bs).is_file():
        return f"{names.summary_json(bs).name} does not exist"
    return why


def _eval_check(cfg: Settings, bs: int, backend: str) -> str | None:
    from bitcli.provenance import stale_reason

    names = cfg.artifacts
    return stale_reason(names.accuracy_json(bs), eval_expected(cfg, bs), inputs={
        "summary": f"the outputs of {names.result_dir(bs).name} changed", "labels": f"{names.label_txt.name} changed",
        "data": f"{names.dataset_bin.name} changed"})


def _bench_check(cfg: Settings, bs: int, backend: str) -> str | None:
    from bitcli.provenance import stale_reason

    return stale_reason(cfg.artifacts.bench_record(bs), bench_expected(cfg, bs, backend),
                        inputs={"model_digest": f"{_model_name(cfg, backend, bs)} changed"})


def _model_name(cfg: Settings, backend: str, bs: int) -> str:
    from bitcli.stages.infer import standard_model

    model = standard_model(backend, cfg.workdir, bs, weights=cfg["model.weights"])
    return model if isinstance(model, str) else Path(model).name


STEP_CHECKS: dict[str, Callable[[Settings, Any, str], str | None]] = {
    "data": _data_check, "export": _export_check, "simplify": _simplify_check, "atc": _atc_check,
    "infer": _infer_check, "eval": _eval_check, "bench": _bench_check,
}
