"""`bit bench`: throughput and latency per batch size (ais_bench --loop pure-inference mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bitcli import report, ui
from bitcli.commands._common import BsOpt, JsonOpt, ProfileOpt, WorkdirOpt, emit_json, lock_workdir, settings
from bitcli.commands.infer import BackendOpt, ProviderOpt, ThreadsOpt, check_backend_name


def bench_cli(
    bs: BsOpt = None,
    loop: Annotated[Optional[int], typer.Option("--loop", min=1, help="Timed runs per batch size \\[profile: bench.loop].", show_default=False)] = None,
    warmup: Annotated[Optional[int], typer.Option("--warmup", min=0, help="Untimed warm-up runs per batch size \\[profile: bench.warmup].", show_default=False)] = None,
    backend: BackendOpt = None,
    model_dir: Annotated[Optional[Path], typer.Option("--model-dir", help="Folder holding the models by their standard names: bit_bs{N}_sim.onnx or bit.onnx, bit_bs{N}.om (default: the workdir). torch uses model.weights.", show_default=False)] = None,
    provider: ProviderOpt = None,
    threads: ThreadsOpt = None,
    as_json: JsonOpt = False,
    workdir: WorkdirOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Throughput (1000 × bs / mean ms) and latency per batch size, beside the seed's 310P3 figures.

    Merged into WORKDIR/bench.json, one row per (backend, bs): other backends and batch sizes keep
    their rows. Exits 1 after the table when any batch size failed.
    """
    from bitcli.backends.base import select_backend
    from bitcli.stages.bench import throughput_per_bs
    from bitcli.quant.model import precision_model
    from bitcli.stages.infer import options_from_settings

    check_backend_name(backend)
    cfg = settings(profile, workdir=workdir, batch_sizes=bs, backend=backend, bench__loop=loop, bench__warmup=warmup,
                   onnxruntime__provider=provider, onnxruntime__threads=threads)
    lock_workdir(cfg)
    cls, why = select_backend(cfg["backend"], {"set_env": cfg["ascend.set_env"]})
    ui.info(why)
    where = model_dir or cfg.workdir

    def options_for(size: int):
        return options_from_settings(cfg, size, precision_model(cls.name, where, size, cfg["precision"], weights=cfg["model.weights"]))

    def log(row) -> None:
        shown = f"{row.throughput:,.2f} samples/s" if row.status == "ok" else f"failed: {row.reason}"
        ui.info(f"bs {row.bs}: {shown}")

    result = throughput_per_bs(cls, options_for, cfg.batch_sizes, warmup=cfg["bench.warmup"], loop=cfg["bench.loop"],
                               json_path=cfg.artifacts.bench_json, on_row=log)
    if as_json:
        doc = result.to_json()
        emit_json(doc.pop("results"), **doc)
    else:
        report.render_bench(result)
        ui.info(f"saved {result.json_path}")
    if result.failed:
        raise typer.Exit(1)
