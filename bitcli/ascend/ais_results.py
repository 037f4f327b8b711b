"""What ais_bench leaves on disk (reference/ascend-tools.md §2.4–2.5, §8.7), and multi-device figures.

* one device: ``OUT/NAME/{stem}_0.bin`` and the sibling ``OUT/NAME_summary.json``;
* several: ``OUT/NAME/device{D}_{i}/`` (ait 2024, tools 2025) or ``OUT/NAME/device{D}/``
  (tools 2023, and bit's own one-process-per-device runs on tools 2022-11), each
  with its sibling ``device…_summary.json``.

ais_bench's multi-device figure is the **sum** of the per-device throughputs,
each ``1000 × batchsize / mean NPU_compute_time`` (:func:`summed_throughput`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bitcli.artifacts import summary_path
from bitcli.ascend.flavours import Flavour
from bitcli.errors import ToolFailed
from bitcli.timing import mean_ms


def read_summary(result_dir: Path) -> dict[str, Any]:
    """The sibling ``<dir>_summary.json`` of one result folder.

    Raises:
        ToolFailed: ais_bench wrote none, or not a JSON object.
    """
    sibling = summary_path(result_dir)
    try:
        data = json.loads(sibling.read_text())
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise ToolFailed(f"ais_bench finished but wrote no readable summary {sibling}",
                         hint="check the ais_bench release (`bit doctor`) and that the output folder is writable")
    return data


def device_folders(result_dir: Path, devices: tuple[int, ...], flavour: Flavour) -> list[Path]:
    """The per-device result folders ``flavour`` writes for ``devices``, in --device order."""
    return [Path(result_dir) / flavour.device_folder(dev, i) for i, dev in enumerate(devices)]


def summed_throughput(per_device: list[float]) -> float:
    """ais_bench's ``summary throughput``: the sum of the per-device figures (samples/s).

    Raises:
        ToolFailed: a per-device figure is not a finite, non-negative number.
    """
    for value in per_device:
        if not math.isfinite(value) or value < 0:
            raise ToolFailed(f"ais_bench reported a device throughput of {value}", hint="rerun; check each device")
    return float(sum(per_device))


def multi_device_latencies(per_device: list[list[float]]) -> list[float]:
    """Per-batch times (ms) whose ``1000 × bs / mean`` is the summed throughput of parallel devices.

    Each device's times are scaled so their mean is the combined per-batch time
    ``1 / Σ(1 / mean_d)``; with D equal devices that is each time divided by D.
    The spread of each device is kept.
    """
    lists = [[float(t) for t in times] for times in per_device if times]
    if len(lists) <= 1:
        return lists[0] if lists else []
    means = [mean_ms(times) for times in lists]
    if any(m <= 0 or not math.isfinite(m) for m in means):
        raise ToolFailed(f"ais_bench reported non-positive mean compute times {means}", hint="rerun; check each device")
    combined = 1.0 / sum(1.0 / m for m in means)
    return [t * combined / mean for times, mean in zip(lists, means) for t in times]


def combine_devices(folders: list[Path], reported: float | None) -> dict[str, Any]:
    """One summary for a multi-device run: merged files and times, the summed throughput.

    Args:
        folders: every device's result folder (each with its sibling summary).
        reported: ais_bench's printed ``summary throughput``, or None when it printed none.

    Returns:
        The summary: ``throughput`` is ``reported`` or else the sum of the per-device summaries.
    """
    parts = [read_summary(folder) for folder in folders]
    per_device = [float(p.get("throughput") or 0.0) for p in parts]
    times = [float(t) for p in parts for t in p.get("npu_compute_time_list", [])]
    filesinfo: dict[str, Any] = {}
    for part in parts:
        for entry in part.get("filesinfo", {}).values():
            filesinfo[str(len(filesinfo))] = {"infiles": list(entry.get("infiles", [])),
                                               "outfiles": list(entry.get("outfiles", []))}
    return {
        "filesinfo": filesinfo,
        "NPU_compute_time": {"mean": mean_ms(times), "count": len(times)},
        "npu_compute_time_list": times,
        "throughput": reported if reported is not None else summed_throughput(per_device),
        "devices": {folder.name: value for folder, value in zip(folders, per_device)},
    }
