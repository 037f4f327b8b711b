"""Ascend NPU backend: drives ``python3 -m ais_bench`` exactly as the seed does.

* ``run_folder``: ``python3 -m ais_bench --model bit_bs{bs}.om --input DIR --output OUT
  --output_dirname result_bs{bs} --outfmt BIN --batchsize {bs} --device {ids}``, then the
  summary JSON (sibling ``OUT/result_bs{bs}_summary.json``; the old ``sumary.json``
  inside the folder is moved there so the folder holds outputs only).
* ``bench_latencies``: ``--loop N --warmup_count W`` pure inference; the throughput
  line must be printed (all three historical formats are parsed), else it failed.
* ``infer``: one batch through ``ais_bench.infer.interface.InferSession`` when the
  Python API is importable in this process.

Multi-device (``ascend.devices: [0, 1]`` → ``--device 0,1``): ais_bench writes
``device{D}_{i}`` (ait 2024) or ``device{D}`` (tools 2023) folders inside the result
folder; the summary returned here sums their throughputs. See
reference/ascend-tools.md §2.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from bitcli import ui
from bitcli.artifacts import atomic_write_text, summary_path
from bitcli.backends.base import Backend
from bitcli.backends.ais_output import ais_failure, parse_run_output
from bitcli.errors import BackendUnavailable, DataError, ToolFailed
from bitcli.tools import cann_env, default_set_env, find_tool, run_tool

WHEELS_HINT = ("install the aclruntime and ais_bench wheels for this Python (ait: ait/components/benchmark, "
               "see its README), source CANN's set_env.sh, or use --backend onnxruntime")


@dataclass(frozen=True)
class AisProbe:
    """How to run ais_bench here: the environment and Python, or why it cannot run."""

    env: dict[str, str] | None
    python: str | None
    reason: str | None
    sourced: bool = False


def set_env_path(extra: dict[str, Any] | None = None) -> str:
    """``ascend.set_env``: the backend options' ``extra['set_env']``, else $BIT_SET_ENV, else CANN's default."""
    return str((extra or {}).get("set_env") or default_set_env())


def probe(set_env: str | None = None) -> AisProbe:
    """Find an environment where ``import ais_bench, aclruntime`` works and CANN is present."""
    set_env = set_env or set_env_path()
    keys = ("PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH")
    return _probe(set_env, tuple(os.environ.get(k, "") for k in keys))


@functools.lru_cache(maxsize=16)
def _probe(set_env: str, _key: tuple[str, ...]) -> AisProbe:
    here = dict(os.environ)
    cann_here = bool(here.get("ASCEND_TOOLKIT_HOME") or here.get("ASCEND_HOME_PATH") or find_tool("atc"))
    error = _import_error(sys.executable, here)
    if error is None and cann_here:
        return AisProbe(here, sys.executable, None)
    if Path(set_env).is_file():
        env = cann_env(set_env)
        pythons = [sys.executable] + [p for p in [find_tool("python3", env)] if p and p != sys.executable]
        for python in pythons:
            sourced_error = _import_error(python, env)
            if sourced_error is None:
                return AisProbe(env, python, None, sourced=True)
            error = sourced_error
        return AisProbe(None, None, f"ais_bench/aclruntime are not importable, even after sourcing {set_env}: {error}")
    if error is not None:
        return AisProbe(None, None, f"ais_bench/aclruntime are not importable by {sys.executable}: {error}")
    return AisProbe(None, None, f"the CANN toolkit was not found (no {set_env}, ASCEND_TOOLKIT_HOME unset)")


def _import_error(python: str, env: dict[str, str]) -> str | None:
    """None when ``python`` can import ais_bench and aclruntime in ``env``, else the error's last line."""
    code = "import ais_bench, aclruntime"
    try:
        proc = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode == 0:
        return None
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit {proc.returncode}"


class AisBackend(Backend):
    """ais_bench on Ascend NPUs (``--backend ascend``); the model is ``bit_bs{bs}.om``."""

    name = "ascend"

    @classmethod
    def available(cls, context: Mapping[str, Any] | None = None) -> str | None:
        return probe(set_env_path(dict(context or {}))).reason

    def describe(self) -> str:
        ids = ",".join(map(str, self.options.devices))
        return f"ais_bench, NPU device {ids}"

    def open(self) -> None:
        if self.options.env:  # the caller already sourced CANN
            self._env, self._python = dict(self.options.env), sys.executable
        else:
            found = probe(set_env_path(self.options.extra))
            if found.reason:
                raise BackendUnavailable(f"ais_bench cannot run here: {found.reason}", hint=WHEELS_HINT)
            self._env, self._python = found.env, found.python or sys.executable
        self._session: Any = None
        self.bench_summary: dict[str, Any] | None = None
        om = Path(self.options.model)
        if om.suffix != ".om" or not om.is_file():
            raise DataError(
                f"no Ascend model {om}",
                hint=f"build it with `bit atc --bs {self.options.batch_size}` (ais_bench needs an .om file)",
            )
        self._om = om.resolve()

    def close(self) -> None:
        if self._session is not None:
            getattr(self._session, "free_resource", lambda: None)()
            self._session = None

    # ------------------------------------------------------------------ whole folders (bit infer)

    def _base_argv(self) -> list[str]:
        return [self._python, "-m", "ais_bench", "--model", str(self._om)]

    def _device_arg(self) -> str:
        return ",".join(str(d) for d in self.options.devices)

    def run_folder(self, input_dir: Path, output_root: Path, dirname: str) -> dict[str, Any]:
        """Run every file of ``input_dir``; return the summary (throughput summed over devices)."""
        bs = self.options.batch_size
        input_dir, output_root = Path(input_dir).resolve(), Path(output_root).resolve()
        argv = [*self._base_argv(), "--input", str(input_dir), "--output", str(output_root),
                "--output_dirname", dirname, "--outfmt", "BIN", "--batchsize", str(bs), "--device", self._device_arg()]
        res = run_tool(argv, env=self._env, log_path=output_root.parent / "logs" / f"ais_bench_{dirname}.log")
        parsed = parse_run_output(res.output)
        if not res.ok or parsed.throughput is None:
            raise ais_failure(res, bs=bs, no_throughput=res.ok)
        result_dir = output_root / dirname
        if len(self.options.devices) == 1:
            summary = _read_summary(result_dir)
        else:
            summary = _combine_devices(result_dir, self.options.devices, parsed.summary_throughput)
            atomic_write_text(summary_path(result_dir), json.dumps(summary))
        summary["backend"] = self.name
        ui.detail(f"ais_bench throughput {summary.get('throughput')} samples/s ({dirname})")
        return summary

    # ------------------------------------------------------------------ pure inference (bit bench)

    def bench_latencies(self, loop: int, warmup: int) -> list[float]:
        """Per-run NPU compute times (ms) of ``loop`` runs after ``warmup``, from ais_bench itself.

        ``--output`` points at a scratch folder so ais_bench writes its summary
        with ``npu_compute_time_list``. With several devices running in
        parallel each time is divided by the device count, so ``1000 × bs /
        mean`` is the summed throughput ais_bench reports
        (``self.bench_summary`` keeps the per-device figures).
        """
        bs = self.options.batch_size
        scratch = Path(tempfile.mkdtemp(prefix="bit_ais_bench_"))
        try:
            argv = [*self._base_argv(), "--loop", str(loop), "--batchsize", str(bs), "--device", self._device_arg(),
                    "--warmup_count", str(warmup), "--output", str(scratch), "--output_dirname", f"bench_bs{bs}"]
            res = run_tool(argv, env=self._env)
            parsed = parse_run_output(res.output)
            if not res.ok or parsed.throughput is None:
                raise ais_failure(res, bs=bs, no_throughput=res.ok)
            lists = [json.loads(p.read_text()).get("npu_compute_time_list", [])
                     for p in sorted(scratch.rglob("*summary.json")) + sorted(scratch.rglob("sumary.json"))]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        times = [float(t) for lst in lists for t in lst]
        if not times:
            raise ToolFailed(f"ais_bench wrote no compute times for bs {bs}; command: {res.command}",
                             hint="check the ais_bench version (it should write npu_compute_time_list)")
        ndev = len(self.options.devices)
        self.bench_summary = {"throughput": parsed.summary_throughput or parsed.throughput,
                              "NPU_compute_time": parsed.npu_compute_time, "devices": list(self.options.devices),
                              "per_device_throughput": parsed.device_throughputs, "command": res.command}
        return [t / ndev for t in times]

    # ------------------------------------------------------------------ one batch (Python API)

    def infer(self, batch: Any) -> Any:
        """One batch through ``InferSession`` (needs ais_bench importable in this process)."""
        if self._session is None:
            try:
                from ais_bench.infer.interface import InferSession  # type: ignore[import-not-found]
            except ImportError as exc:
                raise BackendUnavailable(
                    f"per-batch inference on Ascend needs ais_bench's Python API in this process ({exc})",
                    hint="source set_env.sh before starting bit so `import ais_bench` works, or run whole "
                         "folders with `bit infer --backend ascend` (which calls python3 -m ais_bench)",
                ) from None
            try:
                self._session = InferSession(self.options.devices[0], str(self._om))
            except RuntimeError as exc:
                raise ToolFailed(f"ais_bench could not load {self._om} on device {self.options.devices[0]}: {exc}",
                                 hint="check the device id with `npu-smi info` (ascend.devices)") from None
        import numpy as np

        outputs = self._session.infer([np.ascontiguousarray(batch, dtype=np.float32)])
        times = self._session.summary().exec_time_list
        last = times[-1] if times else 0.0
        self.last_latency_ms = float(last[1] - last[0]) if isinstance(last, (tuple, list)) else float(last)
        return outputs[0]


# ---------------------------------------------------------------------- summaries


def _read_summary(result_dir: Path) -> dict[str, Any]:
    """The sibling ``<dir>_summary.json``; an old ``<dir>/sumary.json`` is moved there first."""
    sibling = summary_path(result_dir)
    old = result_dir / "sumary.json"
    if old.is_file():
        os.replace(old, sibling)  # keeps the result folder outputs-only (bit_postprocess.py trap)
    if not sibling.is_file():
        raise ToolFailed(f"ais_bench finished but wrote no summary ({sibling.name} or {result_dir.name}/sumary.json)",
                         hint="check the ais_bench version and that --output is writable")
    return json.loads(sibling.read_text())


def device_folders(result_dir: Path, devices: tuple[int, ...]) -> list[Path]:
    """Per-device result folders: ``device{D}_{i}`` (ait 2024) or ``device{D}`` (tools 2023)."""
    found = []
    for i, dev in enumerate(devices):
        for name in (f"device{dev}_{i}", f"device{dev}"):
            if (result_dir / name).is_dir():
                found.append(result_dir / name)
                break
    return found


def _combine_devices(result_dir: Path, devices: tuple[int, ...], reported: float | None) -> dict[str, Any]:
    """One summary for a multi-device run: summed throughput, merged files and times."""
    folders = device_folders(result_dir, devices)
    if len(folders) != len(devices):
        raise ToolFailed(f"ais_bench wrote {len(folders)} device folders in {result_dir} for devices {list(devices)}",
                         hint="check each device with `npu-smi info`")
    parts = [_read_summary(folder) for folder in folders]
    times = [float(t) for p in parts for t in p.get("npu_compute_time_list", [])]
    filesinfo: dict[str, Any] = {}
    by_infile: dict[str, str] = {}
    for part in parts:
        for entry in part.get("filesinfo", {}).values():
            key = by_infile.setdefault(str(entry.get("infiles")), str(len(by_infile)))
            merged = filesinfo.setdefault(key, {"infiles": entry.get("infiles", []), "outfiles": []})
            merged["outfiles"] = merged["outfiles"] + list(entry.get("outfiles", []))
    throughput = reported if reported is not None else sum(float(p.get("throughput", 0)) for p in parts)
    return {
        "filesinfo": filesinfo,
        "NPU_compute_time": {"mean": statistics.fmean(times) if times else 0.0, "count": len(times)},
        "npu_compute_time_list": times,
        "throughput": throughput,
        "devices": {folder.name: part.get("throughput", 0) for folder, part in zip(folders, parts)},
    }
