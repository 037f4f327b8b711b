"""npu-smi parsing (every table variant of reference §4) and chip resolution, through the stand-in npu-smi."""

from __future__ import annotations

import pytest

from bitcli.errors import ConfigError, ToolNotFound
from bitcli.ascend.npu_smi import (
    chip_from_table, normalize_chip, parse_npu_smi_info, parse_npu_smi_m, query_devices, resolve_chip, soc_version,
)


def _ids(table):
    return [(d.npu_id, d.chip, d.device_id, d.name) for d in table.devices]


def test_310p3_single_chip_cards(standins, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI", "310p3")
    table = query_devices()
    assert table.has_device_column
    # the process table printed after the chips is not mistaken for chips
    assert _ids(table) == [(0, 0, 0, "310P3"), (1, 0, 1, "310P3")]
    assert [d.bus_id for d in table.devices] == ["0000:82:00.0", "0000:89:00.0"]
    assert resolve_chip("auto") == "310P3"


def test_300i_duo_two_chips_per_card(standins, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI", "duo")
    table = query_devices()
    assert _ids(table) == [(2, 0, 0, "310P3"), (2, 1, 1, "310P3")]
    assert {d.health for d in table.devices} == {"OK"}
    assert chip_from_table(table) == "310P3"


def test_910b_without_device_column_takes_ids_from_info_m(standins, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI", "910b")
    import subprocess

    raw = subprocess.run(["npu-smi", "info"], capture_output=True, text=True, check=True).stdout
    bare = parse_npu_smi_info(raw)
    assert not bare.has_device_column and [d.device_id for d in bare.devices] == [None, None]
    table = query_devices()
    assert _ids(table) == [(0, 0, 0, "910B4"), (1, 0, 1, "910B4")]
    assert [d.health for d in table.devices] == ["OK", "Warning"]
    assert resolve_chip("auto") == "910B4" and soc_version("910B4") == "Ascend910B4"


def test_old_310_four_chips_on_one_card(standins, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI", "310")
    table = query_devices()
    assert _ids(table) == [(2048, i, i, "310") for i in range(4)]
    assert soc_version(resolve_chip("auto")) == "Ascend310"


def test_info_m_skips_mcu_rows_and_strips_ascend():
    text = """        NPU ID   Chip ID   Chip Logic ID   Chip Name
        4        0         2               Ascend 910B3
        4        1         -               Mcu
"""
    assert parse_npu_smi_m(text) == {(4, 0): (2, "910B3")}


def test_several_different_chips_is_an_error_naming_them(standins, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI", "mixed")
    with pytest.raises(ConfigError) as err:
        resolve_chip("auto")
    assert "310P3 (NPU 0)" in err.value.message and "910B4 (NPU 1)" in err.value.message
    assert "--chip" in err.value.hint


def test_no_chip_is_an_error(standins, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI", "empty")
    with pytest.raises(ConfigError, match="no NPU chips"):
        resolve_chip("auto")


def test_a3_generic_name_asks_for_explicit_chip():
    text = """| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
| Chip  Phy-ID              | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
+===========================+===============+====================================================+
| 0     Ascend910           | OK            | 170.3       36                0    / 0             |
| 0     0                   | 0000:9D:00.0  | 0           0    / 0          3400 / 65536         |
"""
    with pytest.raises(ConfigError, match="not a full SoC name"):
        chip_from_table(parse_npu_smi_info(text))


@pytest.mark.parametrize("given", ["310P3", "Ascend310P3", "ascend310P3", " Ascend 310P3 "])
def test_explicit_chip_names_need_no_npu_smi(no_ascend, given):
    assert resolve_chip(given) == "310P3"
    assert normalize_chip(given) == "310P3"


@pytest.mark.parametrize("bad", ["P3", "Ascend", "310P3;rm", "auto310"])
def test_malformed_chip_name(no_ascend, bad):
    with pytest.raises(ConfigError, match="not a chip name"):
        resolve_chip(bad)


def test_auto_without_npu_smi_says_how_to_fix(no_ascend):
    with pytest.raises(ToolNotFound) as err:
        resolve_chip("auto")
    assert "npu-smi" in err.value.message and "set_env" in err.value.hint


def test_npu_smi_found_after_sourcing_set_env(sourced):
    assert resolve_chip("auto") == "310P3"


# ---------------------------------------------------------------------- chip names with - and _ (§8.9)


@pytest.mark.parametrize("given,chip", [("910B4-1", "910B4-1"), ("Ascend910B4-1", "910B4-1"),
                                        ("Ascend910_9391", "910_9391"), ("910_9391", "910_9391"),
                                        ("Ascend950PR_9579", "950PR_9579")])
def test_chip_names_with_dash_and_underscore(no_ascend, given, chip):
    assert resolve_chip(given) == chip
    assert soc_version(chip) == "Ascend" + chip


@pytest.mark.parametrize("bad", ["910B4-", "910__9391", "910_93 91", "-910"])
def test_malformed_suffixes_are_refused(no_ascend, bad):
    with pytest.raises(ConfigError, match="not a chip name"):
        resolve_chip(bad)


def test_npu_smi_25_suffixed_name(standins, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI", "910b4-1")
    table = query_devices()
    assert _ids(table) == [(0, 0, 0, "910B4-1")]
    assert soc_version(resolve_chip("auto")) == "Ascend910B4-1"


def test_a3_family_name_is_completed_from_the_board(standins, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI", "a3")
    assert _ids(query_devices()) == [(0, 0, 0, "Ascend910"), (0, 1, 1, "Ascend910")]
    assert resolve_chip("auto") == "910_9391"  # Chip Name 910 + NPU Name 9391 from `npu-smi info -t board -c`


def test_the_name_bit_tells_the_user_to_read_is_accepted_afterwards(standins, monkeypatch):
    import re

    monkeypatch.setenv("STANDIN_NPU_SMI", "a3")
    with pytest.raises(ConfigError) as err:
        chip_from_table(query_devices(), board=None)  # the board query unavailable
    assert "npu-smi info -t board -i 0 -c 0" in err.value.hint
    suggested = re.search(r"e\.g\. --chip (\S+)", err.value.hint).group(1)
    assert resolve_chip(suggested) == suggested == "910_9391"


def test_950_series_layout(standins, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI", "950")
    table = query_devices()
    assert _ids(table) == [(0, 0, 0, "950PR_9579"), (1, 0, 1, "950PR_9579")]  # logical ids from info -m
    assert [d.bus_id for d in table.devices] == ["0000:9D:00.0", "0000:9F:00.0"]
    assert resolve_chip("auto") == "950PR_9579"


def test_driver_version_from_the_banner(standins):
    assert query_devices().driver_version == "23.0.rc3"
