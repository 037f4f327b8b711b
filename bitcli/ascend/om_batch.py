"""The batch size an Ascend ``.om`` was built for, checked against ``--bs`` before anything is timed.

ais_bench's ``--batchsize`` is used *only* for its throughput figure
(reference/ascend-tools.md §2.2): a bs1 .om run with ``--batchsize 4`` reports
4x its real throughput and no error. So bit learns the model's own batch size:

1. from bit's sidecar (``bit_bs{N}.om.json``, written by ``bit atc``) when its
   recorded ``om_sha256`` still matches the file (an older sidecar without a
   digest is trusted: bit wrote both);
2. otherwise from the model itself: one pure-inference ais_bench call without
   ``--batchsize``, which prints ``try get model batchsize:{n}`` (dim 0 of
   input 0). tools 2022-11 defaults ``--batchsize`` to 1 and prints no such
   line: then the size stays unknown and a warning says so.

A dynamic-batch .om (``-1``) is reported as :data:`DYNAMIC`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from bitcli.artifacts import read_sidecar, sha256_file
from bitcli.errors import ConfigError

DYNAMIC = -1
_REPORTED = re.compile(r"try get model batchsize:\s*(-?\d+)")


def reported_batch(output: str) -> int | None:
    """The batch size ais_bench printed (``try get model batchsize:{n}``), or None when absent."""
    if "dynamic batch om model detected" in output:
        return DYNAMIC
    found = _REPORTED.findall(output)
    return int(found[-1]) if found else None


def sidecar_batch(om: Path) -> int | None:
    """The batch size bit's sidecar records for ``om``, or None (no sidecar, or the .om changed since)."""
    meta = read_sidecar(om)
    if not meta or not isinstance(meta.get("batch_size"), int):
        return None
    digest = meta.get("om_sha256")
    if digest is not None and digest != sha256_file(om):
        return None
    return DYNAMIC if meta.get("dynamic") else meta["batch_size"]


def om_batch(om: Path, probe: Callable[[], tuple[int | None, bool]]) -> tuple[int | None, bool]:
    """(the .om's batch size, whether it is unreported): its sidecar's, else ``probe()``'s (ais_bench).

    The second item is True only when ais_bench ran and did not say (tools 2022-11).
    """
    known = sidecar_batch(om)
    if known is not None:
        return known, False
    found, ran = probe()
    return found, found is None and ran


def check_om_batch(om: Path, bs: int, found: int | None) -> None:
    """Refuse an .om whose batch size is not ``bs`` (the wording of the onnxruntime backend's check).

    Raises:
        ConfigError: a static .om built for another batch size.
    """
    if found is None or found == DYNAMIC or found == bs:
        return
    raise ConfigError(
        f"{om.name} is a batch-size-{found} model, but batch size {bs} was asked for",
        hint=f"use --bs {found}, or build an .om for bs {bs} (`bit atc --bs {bs}`)",
    )


def check_one_om_per_bs(model: str | None, batch_sizes: tuple[int, ...]) -> None:
    """One ``--model X.om`` serves one batch size, unless its sidecar says it is dynamic.

    Raises:
        ConfigError: several batch sizes asked of one static (or unknown) .om.
    """
    if model is None or not str(model).lower().endswith(".om") or len(batch_sizes) < 2:
        return
    if Path(model).is_file() and sidecar_batch(Path(model)) == DYNAMIC:
        return
    sizes = ",".join(map(str, batch_sizes))
    raise ConfigError(
        f"--model {Path(model).name} is one .om, but --bs {sizes} asks for {len(batch_sizes)} batch sizes "
        "(an .om has one fixed batch size)",
        hint="run once per batch size with its own .om (`--bs N --model bit_bsN.om`), or drop --model to use "
             "the workdir's bit_bs{N}.om files",
    )
