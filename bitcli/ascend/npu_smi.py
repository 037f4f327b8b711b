"""What NPUs this host has, from ``npu-smi info``, and the ATC SoC version they need.

``npu-smi info`` prints two table rows per chip: a *name row*
(``| <npu id> <chip name> | <health> | ...``) and a *chip row*
(``| <chip index> [<device id>] | <bus id> | ...``). The logical device id
(what ``ais_bench --device`` takes) is the ``Device`` column; 910B-style
tables have no such column, and then ``npu-smi info -m`` (column
``Chip Logic ID``) supplies it. See reference/ascend-tools.md §4 and §8.9.

The 950-series table puts every column in a cell of its own
(``| NPU ID | Name | Health | … |``, then ``| Chip ID | Phy-ID | Bus-Id | … |``);
its rows are read the same way once the first two cells are joined. Its
Phy-ID is not the logical id, so ``info -m`` supplies that too.

Chip names may carry ``-`` or ``_`` (``910B4-1``; A3/950 SoCs join the board's
Chip Name and NPU Name with ``_``, e.g. ``910_9391``). When the table shows
only a family name (A3 prints ``Ascend910``), ``npu-smi info -t board -i N -c C``
gives the two parts (:func:`board_chip_name`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

from bitcli.errors import ConfigError, ToolFailed

_NAME_CELL = re.compile(r"^(\d+)\s+([A-Za-z0-9][A-Za-z0-9_.-]*)$")
_CHIP_CELL = re.compile(r"^(\d+)(?:\s+(\d+))?$")
_BUS_ID = re.compile(r"^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f]$")
_HEALTH = re.compile(r"^[A-Za-z]+$")
_CHIP_NAME = re.compile(r"^\d{3}[A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*$")
_DRIVER = re.compile(r"npu-smi\s+\S+\s+Version:\s*(\S+)")
_FAMILY_ONLY = {"910", "950"}  # A3 / 950 tables: the SoC needs the board's NPU Name too
_BOARD_FIELD = re.compile(r"^\s*(Chip Name|NPU Name)\s*:\s*(\S.*?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class NpuDevice:
    """One chip as npu-smi shows it."""

    npu_id: int
    chip: int                 # chip index on the card
    device_id: int | None     # logical id for ais_bench --device (None: unknown)
    name: str                 # chip name as printed, e.g. 310P3, 910B4, 310
    health: str = ""
    bus_id: str = ""

    @property
    def soc_version(self) -> str:
        return soc_version(self.name)


@dataclass(frozen=True)
class NpuTable:
    """Parsed ``npu-smi info``: the chips and whether the header had a Device column."""

    devices: tuple[NpuDevice, ...]
    has_device_column: bool
    driver_version: str | None = None   # from the banner: | npu-smi 23.0.rc3  Version: 23.0.rc3 |


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_npu_smi_info(text: str) -> NpuTable:
    """Parse every table variant of ``npu-smi info`` (310P3, 300I Duo, 910B, old 310).

    Args:
        text: the command's stdout.

    Returns:
        The chips in table order; ``device_id`` is None when the table has no
        ``Device`` column (fill it from :func:`parse_npu_smi_m`).
    """
    devices: list[NpuDevice] = []
    has_device = one_cell_per_column = False
    pending: tuple[int, str, str] | None = None  # (npu id, name, health) of a name row
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            continue
        cells = _cells(line)
        if cells[0] == "NPU ID":
            one_cell_per_column = True  # the 950-series layout
            continue
        if len(cells) > 1 and "Process" in cells[1]:
            break  # the process table follows the chips
        if one_cell_per_column and len(cells) > 2:
            cells = [f"{cells[0]} {cells[1]}", *cells[2:]]
        first = re.sub(r"\s+", " ", cells[0])
        if first.startswith("Chip"):
            has_device = "Device" in first
            continue
        name_match = _NAME_CELL.match(first)
        second = cells[1] if len(cells) > 1 else ""
        if pending is None and name_match and _HEALTH.match(second) and not _BUS_ID.match(second):
            pending = (int(name_match.group(1)), name_match.group(2), second)
            continue
        chip_match = _CHIP_CELL.match(first)
        if pending is not None and chip_match:
            npu_id, name, health = pending
            device = chip_match.group(2) if has_device else None
            devices.append(NpuDevice(npu_id, int(chip_match.group(1)),
                                     int(device) if device is not None else None, name, health, second))
        pending = None
    driver = _DRIVER.search(text)
    return NpuTable(tuple(devices), has_device, driver.group(1) if driver else None)


def parse_npu_smi_m(text: str) -> dict[tuple[int, int], tuple[int, str]]:
    """Parse ``npu-smi info -m`` into {(npu id, chip id): (logic id, chip name)}; Mcu rows skipped."""
    mapping: dict[tuple[int, int], tuple[int, str]] = {}
    seen_header = False
    for line in text.splitlines():
        if "Chip Logic ID" in line:
            seen_header = True
            continue
        tokens = line.split()
        if not seen_header or len(tokens) < 4 or not (tokens[0].isdigit() and tokens[1].isdigit()):
            continue
        if not tokens[2].isdigit():
            continue  # "-" for the Mcu
        mapping[(int(tokens[0]), int(tokens[1]))] = (int(tokens[2]), normalize_chip(" ".join(tokens[3:])))
    return mapping


def with_logic_ids(table: NpuTable, mapping: Mapping[tuple[int, int], tuple[int, str]]) -> NpuTable:
    """Fill missing device ids of a Device-less table from ``npu-smi info -m``."""
    filled = []
    for dev in table.devices:
        logic = mapping.get((dev.npu_id, dev.chip))
        if dev.device_id is None and logic is not None:
            dev = NpuDevice(dev.npu_id, dev.chip, logic[0], dev.name, dev.health, dev.bus_id)
        filled.append(dev)
    return NpuTable(tuple(filled), table.has_device_column, table.driver_version)


def normalize_chip(text: str) -> str:
    """``Ascend310P3`` / ``ascend 310P3`` / ``310P3`` → ``310P3``."""
    text = text.strip()
    text = re.sub(r"^ascend[\s_-]*", "", text, flags=re.IGNORECASE)
    return text


def soc_version(chip: str) -> str:
    """ATC's ``--soc_version``: ``"Ascend" + chip name`` (310P3 → Ascend310P3)."""
    return "Ascend" + normalize_chip(chip)


def _npu_smi(set_env: str | None):
    from bitcli.tools import tool_env

    return tool_env("npu-smi", set_env)


def query_devices(set_env: str | None = None) -> NpuTable:
    """Run ``npu-smi info`` (and ``npu-smi info -m`` when the table has no Device column).

    Raises:
        ToolNotFound: npu-smi is not installed.
        ToolFailed: it failed or printed no chips.
    """
    from bitcli.tools import run_tool

    env, exe = _npu_smi(set_env)
    result = run_tool([exe, "info"], env=env, timeout=60)
    if not result.ok:
        raise ToolFailed(
            f"npu-smi info failed (exit {result.returncode}): {result.tail(5) or 'no output'}",
            hint="check the Ascend driver installation (npu-smi info must work for this user)",
        )
    table = parse_npu_smi_info(result.output)
    if table.devices and not table.has_device_column:
        extra = run_tool([exe, "info", "-m"], env=env, timeout=60)
        if extra.ok:
            table = with_logic_ids(table, parse_npu_smi_m(extra.output))
    return table


def parse_board(text: str) -> str | None:
    """``Chip Name`` and ``NPU Name`` of ``npu-smi info -t board -i N -c C`` joined by ``_`` (or the chip name)."""
    fields = dict(_BOARD_FIELD.findall(text))
    chip = normalize_chip(fields.get("Chip Name", ""))
    npu = fields.get("NPU Name", "").strip()
    if not chip:
        return None
    return f"{chip}_{npu}" if npu and npu.upper() not in ("NA", "-") else chip


def board_chip_name(npu_id: int, chip: int, set_env: str | None = None) -> str | None:
    """The full chip name from the board query, or None when npu-smi cannot say."""
    from bitcli.tools import run_tool

    env, exe = _npu_smi(set_env)
    result = run_tool([exe, "info", "-t", "board", "-i", str(npu_id), "-c", str(chip)], env=env, timeout=60)
    return parse_board(result.output) if result.ok else None


def check_chip_name(setting: str) -> str:
    """``--chip`` / ``ascend.chip`` without the ``Ascend`` prefix, or the error naming the accepted forms.

    Raises:
        ConfigError: not a chip name.
    """
    chip = normalize_chip(setting)
    if not _CHIP_NAME.match(chip):
        raise ConfigError(
            f"chip '{setting}' is not a chip name",
            hint="give the name npu-smi info shows, e.g. --chip 310P3 (or Ascend310P3, 910B4-1, 910_9391), or --chip auto",
        )
    return chip


def resolve_chip(setting: str, set_env: str | None = None) -> str:
    """The chip name ATC needs, from ``ascend.chip`` / ``--chip``.

    Args:
        setting: ``auto`` (read it from npu-smi), or a name such as ``310P3``, ``Ascend310P3``, ``910_9391``.
        set_env: CANN's set_env.sh, sourced when npu-smi is not on PATH.

    Returns:
        The chip name without the ``Ascend`` prefix, e.g. ``310P3``.

    Raises:
        ConfigError: a malformed name, no chip found, or several different chips.
    """
    if setting.strip().lower() != "auto":
        return check_chip_name(setting)
    return chip_from_table(query_devices(set_env), board=lambda npu, chip: board_chip_name(npu, chip, set_env))


def chip_from_table(table: NpuTable, board: Callable[[int, int], str | None] | None = None) -> str:
    """The one chip name in ``table``; error when there are none or several different ones.

    Args:
        table: the parsed ``npu-smi info``.
        board: (npu id, chip) → full name from ``npu-smi info -t board``, asked when the table
            shows only a family name (A3's ``Ascend910``).
    """
    names = sorted({d.name for d in table.devices})
    if not names:
        raise ConfigError(
            "npu-smi info lists no NPU chips",
            hint="check the driver (npu-smi info), or give the chip explicitly, e.g. --chip 310P3",
        )
    if len(names) > 1:
        found = ", ".join(f"{n} (NPU {', '.join(str(d.npu_id) for d in table.devices if d.name == n)})" for n in names)
        raise ConfigError(
            f"npu-smi info lists different chips: {found}",
            hint="an .om is built for one SoC: choose it with --chip (e.g. --chip " + names[0] + ")",
        )
    name, first = normalize_chip(names[0]), table.devices[0]
    if name in _FAMILY_ONLY and board is not None:
        full = board(first.npu_id, first.chip)
        if full and _CHIP_NAME.match(full) and full not in _FAMILY_ONLY:
            return full
    if name in _FAMILY_ONLY or not _CHIP_NAME.match(name):
        raise ConfigError(
            f"npu-smi info names the chip '{names[0]}', which is not a full SoC name",
            hint=f"read 'Chip Name' and 'NPU Name' with `npu-smi info -t board -i {first.npu_id} -c {first.chip}` "
                 "and pass them joined by '_', e.g. --chip 910_9391",
        )
    return name
