"""Ascend NPU backend (``--backend ascend``): a thin Backend over :mod:`bitcli.ascend`.

* ``run_folder``: ``python3 -m ais_bench`` over the whole input folder (bit infer);
* ``bench_latencies``: ais_bench's ``--loop`` pure-inference mode (bit bench);
* ``infer``: one batch through ``ais_bench.infer.interface.InferSession`` when the
  Python API is importable in this process.

The ais_bench release is detected once (:func:`bitcli.ascend.env.probe`) and the
command lines follow it; the model is ``bit_bs{bs}.om``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from bitcli.ascend.ais_run import AisRun
from bitcli.ascend.env import WHEELS_HINT, probe, probe_env, set_env_path
from bitcli.backends.base import Backend
from bitcli.errors import BackendUnavailable, DataError, ToolFailed


class AisBackend(Backend):
    """ais_bench on Ascend NPUs; the model is ``bit_bs{bs}.om``."""

    name = "ascend"

    @classmethod
    def available(cls, context: Mapping[str, Any] | None = None) -> str | None:
        return probe(set_env_path(dict(context or {}))).reason

    def describe(self) -> str:
        ids = ",".join(map(str, self.options.devices))
        release = f"{self._probe.describe()}, " if getattr(self, "_probe", None) else "ais_bench, "
        return f"{release}NPU device {ids}"

    def open(self) -> None:
        if self.options.env:  # the caller already sourced CANN
            found = probe_env(dict(self.options.env), sys.executable)
        else:
            found = probe(set_env_path(self.options.extra))
        if found.reason or found.flavour is None or found.env is None:
            raise BackendUnavailable(f"ais_bench cannot run here: {found.reason}", hint=WHEELS_HINT)
        self._probe = found
        self._session: Any = None
        om = Path(self.options.model)
        if om.suffix != ".om" or not om.is_file():
            raise DataError(
                f"no Ascend model {om}",
                hint=f"build it with `bit atc --bs {self.options.batch_size}` (ais_bench needs an .om file)",
            )
        self._run = AisRun(found.python or sys.executable, found.env, found.flavour, om.resolve(),
                           self.options.batch_size, tuple(self.options.devices))
        self._batch_checked = False

    def _check_batch(self) -> None:
        """Before the first run: refuse an .om built for another batch size (ais_bench would scale its
        throughput by --bs)."""
        if self._batch_checked:
            return
        om = self._run.om
        from bitcli import ui
        from bitcli.ascend.ais_argv import check_run_limits
        from bitcli.ascend.om_batch import check_om_batch, om_batch

        check_run_limits(self._run.flavour, bs=self.options.batch_size)  # a value this release refuses comes first
        found, unreported = om_batch(om, self._run.probe_batch)
        if unreported:
            ui.warn(f"ais_bench ({self._probe.describe()}) does not report {om.name}'s batch size and it has no "
                    f"bit sidecar: its throughput assumes the .om takes bs {self.options.batch_size}")
        check_om_batch(om, self.options.batch_size, found)
        self._batch_checked = True

    def close(self) -> None:
        if getattr(self, "_session", None) is not None:
            getattr(self._session, "free_resource", lambda: None)()
            self._session = None

    def run_folder(self, input_dir: Path, output_root: Path, dirname: str) -> dict[str, Any]:
        """Every file of ``input_dir`` through ais_bench; the summary (throughput summed over devices)."""
        self._check_batch()
        summary = self._run.run_folder(input_dir, output_root, dirname)
        summary["backend"] = self.name
        return summary

    def bench_latencies(self, loop: int, warmup: int) -> list[float]:
        """Per-batch NPU compute times (ms) from ais_bench's ``--loop`` mode, combined over devices."""
        self._check_batch()
        return self._run.bench_latencies(loop, warmup)

    def infer(self, batch: Any) -> Any:
        """One batch through ``InferSession`` (needs ais_bench importable in this process)."""
        if self._session is None:
            self._check_batch()
            self._session = self._open_session()
        import numpy as np

        outputs = self._session.infer([np.ascontiguousarray(batch, dtype=np.float32)])
        # ait 2024 / tools 2025: summary(), (start, end) pairs; tools 2022-11 / 2023: sumary(), durations
        summary = getattr(self._session, "summary", None) or self._session.sumary
        times = summary().exec_time_list
        last = times[-1] if times else 0.0
        self.last_latency_ms = float(last[1] - last[0]) if isinstance(last, (tuple, list)) else float(last)
        return outputs[0]

    def _open_session(self) -> Any:
        try:
            from ais_bench.infer.interface import InferSession  # type: ignore[import-not-found]
        except ImportError as exc:
            raise BackendUnavailable(
                f"per-batch inference on Ascend needs ais_bench's Python API in this process ({exc})",
                hint="source set_env.sh before starting bit so `import ais_bench` works, or run whole "
                     "folders with `bit infer --backend ascend` (which calls python3 -m ais_bench)",
            ) from None
        device = self.options.devices[0]
        try:
            return InferSession(device, str(self._run.om))
        except RuntimeError as exc:
            raise ToolFailed(f"ais_bench could not load {self._run.om} on device {device}: {exc}",
                             hint="check the device id with `npu-smi info` (ascend.devices)") from None
