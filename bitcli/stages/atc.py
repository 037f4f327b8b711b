"""ONNX → Ascend .om with ATC, one static-shape model per batch size.

The command is exactly the seed's (reference/ascend-tools.md §1 step 4, §3)::

    atc --framework=5 --model=DIR/bit_bs{bs}_sim.onnx --input_format=NCHW
        --input_shape=image:{bs},3,128,128 --output=DIR/bit_bs{bs} --log=error
        --soc_version=Ascend{chip} [--precision_mode=MODE]

Success means exit 0 *and* the ``ATC run success`` verdict *and* the .om on
disk (:func:`bitcli.ascend.atc.atc_succeeded`). ATC runs in a scratch folder (it drops ``kernel_meta/`` and
``fusion_result.json`` in its cwd); an .om whose sidecar matches the ONNX
hash, SoC and precision mode is skipped.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bitcli.artifacts import MODEL_STEM, Artifacts, check_replaceable, sha256_file, sidecar_path, sim_onnx_path, write_sidecar
from bitcli.ascend.atc import INPUT_NAME, atc_argv, atc_failure, atc_succeeded
from bitcli.ascend.npu_smi import resolve_chip, soc_version
from bitcli.errors import ExportError
from bitcli.tools import run_tool, tool_env

@dataclass
class AtcRow:
    """One batch size: what was (or would be) run, and how it went."""

    bs: int
    om: Path
    status: str            # done | up to date | dry run
    seconds: float = 0.0
    command: str = ""
    log: Path | None = None
    reason: str | None = None  # why it was (re)built; None when up to date


@dataclass
class AtcResult:
    """The .om files for every requested batch size."""

    chip: str
    soc_version: str
    model_dir: Path
    rows: list[AtcRow] = field(default_factory=list)


def om_from_onnx(
    model_dir: Path,
    batch_sizes: tuple[int, ...],
    *,
    chip: str = "auto",
    set_env: str | None = None,
    precision_mode: str | None = None,
    image_size: int = 128,
    force: bool = False,
    dry_run: bool = False,
    log_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> AtcResult:
    """Convert ``bit_bs{bs}_sim.onnx`` to ``bit_bs{bs}.om`` for each batch size.

    Args:
        model_dir: folder holding the simplified ONNX files; the .om files go beside them.
        batch_sizes: batch sizes to convert, in order.
        chip: ``auto`` (npu-smi) or a chip name (310P3 / Ascend310P3).
        set_env: CANN's set_env.sh, sourced when atc/npu-smi are not on PATH.
        precision_mode: ATC ``--precision_mode`` (None: ATC's default).
        image_size: input height = width.
        force: rebuild even when up to date.
        dry_run: resolve everything, build the command lines, run nothing.
        log_dir: where each run's full output goes (``atc_bs{bs}.log``).
        progress: called with one line per batch size.

    Returns:
        :class:`AtcResult` with one row per batch size.

    Raises:
        ExportError: a simplified ONNX is missing.
        ToolNotFound / ToolFailed / ConfigError: atc or the chip cannot be used; ATC failed.
    """
    model_dir = Path(model_dir).resolve()
    missing = [bs for bs in batch_sizes if not sim_onnx_path(model_dir, MODEL_STEM, bs).is_file()]
    if missing and not dry_run:
        raise ExportError(
            f"no simplified ONNX for batch size {', '.join(map(str, missing))} in {model_dir} "
            f"(expected {sim_onnx_path(model_dir, MODEL_STEM, missing[0]).name})",
            hint=f"run `bit simplify --bs {','.join(map(str, missing))}` first (or pass --model-dir)",
        )
    chip_name = resolve_chip(chip, set_env)
    soc = soc_version(chip_name)
    result = AtcResult(chip_name, soc, model_dir)
    env, exe = (None, "atc") if dry_run else tool_env("atc", set_env)
    for bs in batch_sizes:
        argv = atc_argv(model_dir, bs, soc, image_size=image_size, precision_mode=precision_mode)
        om = Artifacts(model_dir).om(bs)
        row = AtcRow(bs, om, "", command=shlex.join(argv))
        if dry_run:
            row.status = "dry run" if bs not in missing else f"dry run ({sim_onnx_path(model_dir, MODEL_STEM, bs).name} missing)"
            result.rows.append(row)
            continue
        meta = _om_meta(model_dir, bs, soc, precision_mode, image_size)
        row.reason = "--force" if force else _stale(om, meta)
        if row.reason is None:
            row.status = "up to date"
        else:
            check_replaceable(om, "--model-dir")  # an .om bit did not write (no sidecar) is the user's
            log = Path(log_dir) / f"atc_bs{bs}.log" if log_dir else None
            row.seconds = _run_one([exe, *argv[1:]], om, env, log, set_env)
            write_sidecar(om, {**meta, "command": row.command, "om_sha256": sha256_file(om)})
            row.status, row.log = "done", log
        result.rows.append(row)
        if progress:
            took = f" built in {row.seconds:.1f} s" if row.status == "done" else ""
            progress(f"bs {bs}: {om.name} {took.strip() if took else row.status}")
    return result


def atc_stale_reasons(model_dir: Path, batch_sizes: tuple[int, ...], *, chip: str = "auto", set_env: str | None = None,
                      precision_mode: str | None = None, image_size: int = 128) -> dict[int, str | None]:
    """Why :func:`om_from_onnx` would (re)build each bs's .om now (None: up to date); runs no ATC, writes nothing."""
    model_dir = Path(model_dir).resolve()
    soc = soc_version(resolve_chip(chip, set_env))
    reasons: dict[int, str | None] = {}
    for bs in batch_sizes:
        onnx = sim_onnx_path(model_dir, MODEL_STEM, bs)
        reasons[bs] = (f"{onnx.name} does not exist yet" if not onnx.is_file()
                       else _stale(Artifacts(model_dir).om(bs), _om_meta(model_dir, bs, soc, precision_mode, image_size)))
    return reasons


def _stale(om: Path, meta: dict) -> str | None:
    """The one provenance rule (:func:`bitcli.provenance.stale_reason`) for an .om."""
    from bitcli.provenance import stale_reason

    keys = tuple(k for k in meta if k != "made_from")
    return stale_reason(om, meta, keys, inputs={"onnx_sha256": f"{meta['onnx']} changed"})


def _om_meta(model_dir: Path, bs: int, soc: str, precision_mode: str | None, image_size: int) -> dict:
    """What an .om was built from: a later run with the same meta is up to date."""
    onnx = sim_onnx_path(model_dir, MODEL_STEM, bs)
    return {
        "batch_size": bs,
        "onnx": onnx.name,
        "onnx_sha256": sha256_file(onnx),
        "made_from": {onnx.name: sha256_file(onnx)},
        "soc_version": soc,
        "precision_mode": precision_mode or "default (force_fp16)",
        "input_shape": f"{INPUT_NAME}:{bs},3,{image_size},{image_size}",
    }


def _run_one(argv: list[str], om: Path, env: dict[str, str] | None, log: Path | None, set_env: str | None) -> float:
    """Run ATC for one .om in a scratch folder; keep any previous .om if it fails."""
    # ATC writes the .om in place. Move the old one and its sidecar aside and restore them on
    # failure (nothing on disk lost); a run killed midway leaves no sidecar, so it is rebuilt.
    pairs = [(om, om.with_name(f".{om.name}.prev")), (sidecar_path(om), sidecar_path(om).with_name(f".{sidecar_path(om).name}.prev"))]
    for path, backup in pairs:
        if path.exists():
            path.replace(backup)
    start = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="bit_atc_"))
    try:
        res = run_tool(argv, env=env, cwd=scratch, log_path=log)
        if not atc_succeeded(res, om):
            raise atc_failure(res, om, set_env)
    except BaseException:
        om.unlink(missing_ok=True)
        for path, backup in pairs:
            if backup.exists():
                backup.replace(path)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for _, backup in pairs:
        backup.unlink(missing_ok=True)
    return time.perf_counter() - start
