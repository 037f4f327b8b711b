"""`bit bench`: throughput and latency per batch size (ais_bench --loop pure-inference mode)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import (BackendOpt, BsOpt, JsonOpt, PrecisionOpt, ProfileOpt, WorkdirOpt, emit_json,
                                     lock_workdir, settings)
from bitcli.commands.infer import (ModelDirOpt, ModelOpt, ProviderOpt, ThreadsOpt, WeightsOpt, check_backend_name,
                                   check_model_flags)


def bench_cli(
    bs: BsOpt = None,
    loop: Annotated[Optional[int], typer.Option("--loop", min=1, help="Timed runs per batch size \\[profile: bench.loop].", show_default=False)] = None,
    warmup: Annotated[Optional[int], typer.Option("--warmup", min=0, help="Untimed warm-up runs per batch size \\[profile: bench.warmup].", show_default=False)] = None,
    backend: BackendOpt = None,
    precision: PrecisionOpt = None,
    model: ModelOpt = None,
    model_dir: ModelDirOpt = None,
    weights: WeightsOpt = None,
    provider: ProviderOpt = None,
    threads: ThreadsOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Measure again even when bench.json holds an up-to-date row.")] = False,
    as_json: JsonOpt = False,
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Throughput (1000 × bs / mean ms) and latency per batch size, beside the seed's 310P3 figures.

    Merged into WORKDIR/bench.json, one row per (backend, precision, bs): other backends and batch sizes keep their rows. A row measured with the same model and settings is "up to date" and reused (--force measures again). Exits 1 after the table when any batch size failed.
    """
    from bitcli.backends.base import select_backend
    from bitcli.quant.model import precision_model
    from bitcli.stages.bench import migrate_bench_records, throughput_per_bs
    from bitcli.stages.infer import options_from_settings
    from bitcli.stages.results import bench_plan

    check_backend_name(backend)
    check_model_flags(model, model_dir)
    cfg = settings(profile, workdir=workdir, batch_sizes=bs, backend=backend, precision=precision, bench__loop=loop, bench__warmup=warmup,
                   model__weights=weights, onnxruntime__provider=provider, onnxruntime__threads=threads)
    from bitcli.ascend.om_batch import check_one_om_per_bs

    check_one_om_per_bs(model, cfg.batch_sizes)
    lock_workdir(cfg)
    cls, why = select_backend(cfg["backend"], {"set_env": cfg["ascend.set_env"]})
    ui.info(why)
    for line in migrate_bench_records(cfg.artifacts):
        ui.info(line)
    where = model_dir or cfg.workdir

    def options_for(size: int):
        chosen = model or precision_model(cls.name, where, size, cfg["precision"], weights=cfg["model.weights"])
        if model is None and model_dir is None:
            from bitcli.stages.plan import stale_model_warning

            stale = stale_model_warning(cfg, cls.name, size)
            if stale:
                ui.warn(stale)
        return options_from_settings(cfg, size, chosen)

    def log(row) -> None:
        if row.status == "ok":
            ui.info(f"bs {row.bs}: {row.run} — {row.throughput:,.2f} samples/s")
        else:
            ui.info(f"bs {row.bs}: failed: {row.reason}")

    result = throughput_per_bs(cls, options_for, cfg.batch_sizes, warmup=cfg["bench.warmup"], loop=cfg["bench.loop"],
                               json_path=cfg.artifacts.bench_json, on_row=log,
                               plan=bench_plan(cfg, cls.name, force))
    if as_json:
        doc = result.to_json()
        emit_json(doc.pop("results"), **doc)
    else:
        report.render_bench(result)
        fresh = any(r.run != "up to date" for r in result.rows)
        ui.info(f"saved {result.json_path}" if fresh else
                f"up to date: {result.json_path} holds these rows for this model and settings; nothing to do "
                "(--force measures again)")
    if result.failed:
        raise typer.Exit(1)
