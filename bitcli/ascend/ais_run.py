"""Running ``python3 -m ais_bench`` over a folder or in pure-inference mode, on one or several devices.

Every sample is inferred exactly once whatever the release:

* tools 2023 splits a ``--device 0,1`` run between devices itself;
* ait 2024 and tools 2025 get ``--divide_input true`` (else each device runs the whole folder);
* tools 2022-11 takes one device per process, so bit splits the files the way
  tools 2023 does (contiguous shares in ais_bench's order), links each share
  into a folder of its own and runs one process per device in parallel.

A run succeeds only when ais_bench exits 0 *and* printed its throughput *and*
wrote every device's summary; a device that failed fails the run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitcli import ui
from bitcli.artifacts import atomic_write_text, summary_path
from bitcli.ascend.ais_argv import bench_argv, check_folder_limit, check_run_limits, folder_argv
from bitcli.ascend.ais_files import input_files, split_between
from bitcli.ascend.ais_output import ais_failure, parse_run_output
from bitcli.ascend.ais_paths import make_folder, output_folder_problem
from bitcli.ascend.ais_results import (
    combine_devices, device_folders, multi_device_latencies, read_summary, summed_throughput,
)
from bitcli.ascend.flavours import Flavour
from bitcli.errors import DataError, ToolFailed
from bitcli.tools import ToolResult, run_tool


@dataclass(frozen=True)
class AisRun:
    """One model on one or more devices, driven through one ais_bench installation."""

    python: str
    env: dict[str, str]
    flavour: Flavour
    om: Path
    bs: int
    devices: tuple[int, ...]

    # ------------------------------------------------------------------ whole folders (bit infer)

    def run_folder(self, input_dir: Path, output_root: Path, dirname: str) -> dict[str, Any]:
        """Infer every file of ``input_dir`` into ``output_root/dirname``; return the run's summary.

        The summary has ais_bench's keys, ``throughput`` summed over devices and
        ``wall_s``, the seconds the whole run took.

        Raises:
            ConfigError / DataError: a limit of this release, or an output folder it would refuse.
            ToolFailed: ais_bench (or one device of it) failed.
        """
        input_dir, output_root = Path(input_dir).resolve(), Path(output_root).resolve()
        check_run_limits(self.flavour, bs=self.bs)
        check_folder_limit(self.flavour, input_dir)
        if len(self.devices) > 1 and input_dir.is_dir():
            count = len(input_files(input_dir))
            if count < len(self.devices):
                raise DataError(f"{count} input file(s) in {input_dir} cannot be shared by devices {list(self.devices)}",
                                hint=f"use at most {count} device(s) (ascend.devices), or more samples")
        make_folder(output_root)
        for folder in (output_root, output_root / dirname):
            problem = output_folder_problem(folder, self.flavour)
            if problem is not None:
                raise problem
        start = time.perf_counter()
        if len(self.devices) > 1 and not self.flavour.device_list:
            reported = self._one_process_per_device(input_dir, output_root, dirname)
        else:
            argv = folder_argv(self.python, self.om, input_dir, output_root, dirname, bs=self.bs,
                               devices=self.devices, flavour=self.flavour)
            reported = self._checked(run_tool(argv, env=self.env, log_path=_log(output_root, dirname)))
        summary = self._summary(output_root / dirname, reported)
        summary["wall_s"] = time.perf_counter() - start
        if len(self.devices) > 1:  # ais_bench writes one summary per device; bit writes the combined one
            atomic_write_text(summary_path(output_root / dirname), json.dumps(summary))
        ui.detail(f"ais_bench throughput {summary['throughput']} samples/s ({dirname}, {summary['wall_s']:.1f} s)")
        return summary

    def _checked(self, res: ToolResult) -> float | None:
        """The run's reported throughput (summed figure for several devices); raise unless it fully succeeded."""
        parsed = parse_run_output(res.output)
        if not res.ok or parsed.throughput is None:
            raise ais_failure(res, bs=self.bs, no_throughput=res.ok, flavour=self.flavour)
        return parsed.summary_throughput if len(self.devices) > 1 else parsed.throughput

    def _summary(self, result_dir: Path, reported: float | None) -> dict[str, Any]:
        if len(self.devices) == 1:
            return read_summary(result_dir)
        folders = device_folders(result_dir, self.devices, self.flavour)
        missing = [f.name for f in folders if not f.is_dir()]
        if missing:
            raise ToolFailed(f"ais_bench wrote no result folder {', '.join(missing)} in {result_dir} "
                             f"for devices {list(self.devices)}", hint="check each device with `npu-smi info`")
        summary = combine_devices(folders, reported)
        infiles = [str(e["infiles"]) for e in summary["filesinfo"].values()]
        if len(set(infiles)) != len(infiles):
            raise ToolFailed(f"ais_bench ({self.flavour.label}) inferred some samples on several devices",
                             hint="report this ais_bench release; run on one device meanwhile (ascend.devices)")
        return summary

    def _one_process_per_device(self, input_dir: Path, output_root: Path, dirname: str) -> float:
        """tools 2022-11: bit's own split, one ``--device D`` process per share, run in parallel."""
        shares = split_between(input_files(input_dir), len(self.devices))
        work = Path(tempfile.mkdtemp(prefix=f".bit_shares_{dirname}.", dir=output_root))
        try:
            argvs = []
            for index, (dev, files) in enumerate(zip(self.devices, shares)):
                share = make_folder(work / self.flavour.device_folder(dev, index))
                for path in files:
                    _link(path, share / path.name)
                argvs.append(folder_argv(self.python, self.om, share, output_root,
                                         f"{dirname}/{self.flavour.device_folder(dev, index)}", bs=self.bs,
                                         devices=(dev,), flavour=self.flavour))
            results = self._parallel(argvs, output_root, dirname)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return summed_throughput([self._single(res) for res in results])

    def _parallel(self, argvs: list[list[str]], output_root: Path | None, dirname: str) -> list[ToolResult]:
        """Run one process per device at once (each its own log when ``output_root`` is given)."""
        logs = [_log(output_root, f"{dirname}_device{argv[argv.index('--device') + 1]}") if output_root else None
                for argv in argvs]
        with ThreadPoolExecutor(max_workers=len(argvs)) as pool:
            return list(pool.map(lambda pair: run_tool(pair[0], env=self.env, log_path=pair[1]), zip(argvs, logs)))

    def _single(self, res: ToolResult) -> float:
        parsed = parse_run_output(res.output)
        if not res.ok or parsed.throughput is None:
            raise ais_failure(res, bs=self.bs, no_throughput=res.ok, flavour=self.flavour)
        return parsed.throughput

    # ------------------------------------------------------------------ the model's own batch size

    def probe_batch(self) -> tuple[int | None, bool]:
        """The .om's batch size as ais_bench reports it: one pure-inference run without ``--batchsize``.

        Returns:
            (batch size or None, whether ais_bench ran). None with True: this release does not
            report it (tools 2022-11 defaults to 1). None with False: ais_bench failed, and the
            real run that follows fails with that failure explained.
        """
        from bitcli.ascend.om_batch import reported_batch

        argv = [self.python, "-m", "ais_bench", "--model", str(self.om), "--loop", "1",
                "--device", str(self.devices[0])]  # no --batchsize: ais_bench prints dim 0 of input 0
        res = run_tool(argv, env=self.env)
        return reported_batch(res.output), res.ok

    # ------------------------------------------------------------------ pure inference (bit bench)

    def bench_latencies(self, loop: int, warmup: int) -> list[float]:
        """Per-batch NPU compute times (ms) of ``loop`` runs after ``warmup``, from ais_bench's summaries.

        With several devices the times are combined so that ``1000 × bs / mean``
        is ais_bench's summed throughput (:func:`multi_device_latencies`).
        """
        check_run_limits(self.flavour, bs=self.bs, loop=loop, warmup=warmup)
        scratch = Path(tempfile.mkdtemp(prefix="bit_ais_bench_"))
        dirname = f"bench_bs{self.bs}"
        try:
            if len(self.devices) > 1 and not self.flavour.device_list:
                argvs = [bench_argv(self.python, self.om, scratch, f"{dirname}/{self.flavour.device_folder(d, i)}",
                                    loop=loop, warmup=warmup, bs=self.bs, devices=(d,))
                         for i, d in enumerate(self.devices)]
                for res in self._parallel(argvs, None, dirname):
                    self._single(res)
            else:
                argv = bench_argv(self.python, self.om, scratch, dirname, loop=loop, warmup=warmup, bs=self.bs,
                                  devices=self.devices)
                self._checked(run_tool(argv, env=self.env))
            folders = ([scratch / dirname] if len(self.devices) == 1
                       else device_folders(scratch / dirname, self.devices, self.flavour))
            lists = [[float(t) for t in read_summary(f).get("npu_compute_time_list", [])] for f in folders]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not all(lists):
            raise ToolFailed(f"ais_bench wrote no compute times for bs {self.bs} on some device of {list(self.devices)}",
                             hint="check the ais_bench release with `bit doctor` (it should write npu_compute_time_list)")
        return multi_device_latencies(lists)


def _log(output_root: Path, name: str) -> Path:
    return output_root.parent / "logs" / f"ais_bench_{name.replace('/', '_')}.log"


def _link(source: Path, target: Path) -> None:
    """A hard link (same owner and mode as the sample), else a symlink (tools 2022-11 does not check links)."""
    try:
        os.link(source, target)
    except OSError:
        os.symlink(source, target)
