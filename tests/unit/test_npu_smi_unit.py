"""The npu-smi table parsers on the literal tables of reference/ascend-tools.md §4 and §8.9."""

from __future__ import annotations

import pytest

from bitcli.ascend.npu_smi import (NpuDevice, NpuTable, check_chip_name, chip_from_table, normalize_chip,
                                   parse_board, parse_npu_smi_info, parse_npu_smi_m, soc_version, with_logic_ids)
from bitcli.errors import ConfigError

BANNER = "| npu-smi 23.0.rc3                 Version: 23.0.rc3                                   |"
P310P3 = """\
+------------------------------------------------------------------------------------------------+
| npu-smi 23.0.rc3                 Version: 23.0.rc3                                             |
+-------------------+-----------------+------------------------------------------------------+
| NPU     Name      | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |
| Chip    Device    | Bus-Id          | AICore(%)    Memory-Usage(MB)                        |
+===================+=================+======================================================+
| 0       310P3     | OK              | 15.8         42                0    / 0              |
| 0       0         | 0000:82:00.0    | 0            1074 / 21534                            |
+===================+=================+======================================================+
| 1       310P3     | OK              | 15.4         43                0    / 0              |
| 0       1         | 0000:89:00.0    | 0            1070 / 21534                            |
+===================+=================+======================================================+
+-------------------+-----------------+------------------------------------------------------+
| NPU     Chip      | Process id      | Process name             | Process memory(MB)        |
+===================+=================+======================================================+
| 7       310P3     | OK              | 15.8         42                0    / 0              |
| 0       5         | 0000:99:00.0    | 0            1074 / 21534                            |
"""
# (the last two rows, after the process-table header, would parse as a chip: they prove the parser stops there)
DUO = """\
| NPU     Name                  | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |
| Chip    Device                | Bus-Id          | AICore(%)    Memory-Usage(MB)                        |
+===============================+=================+======================================================+
| 2       310P3                 | OK              | NA           45                0     / 0             |
| 0       0                     | 0000:01:00.0    | 0            1529 / 44280                            |
+-------------------------------+-----------------+------------------------------------------------------+
| 2       310P3                 | OK              | NA           43                0     / 0             |
| 1       1                     | 0000:01:00.0    | 0            1412 / 43693                            |
"""
B910 = """\
| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
+===========================+===============+====================================================+
| 0     910B4               | OK            | 88.2        30                0    / 0             |
| 0                         | 0000:C1:00.0  | 0           0    / 0          26838/ 32768         |
+===========================+===============+====================================================+
| 1     910B4-1             | Warning       | 88.2        30                0    / 0             |
| 0                         | 0000:C2:00.0  | 0           0    / 0          26838/ 32768         |
"""
# 950 series (§8.9): every column in a cell of its own.
S950 = """\
| NPU ID | Name     | Health | Power(W) | Temp(C) |
| Chip ID | Phy-ID  | Bus-Id       | AICore(%) | Memory-Usage(MB) |
+========+==========+========+==========+=========+
| 0      | Ascend950 | OK    | 90.1     | 35      |
| 0      | 4        | 0000:9D:00.0 | 0        | 100 / 200 |
"""


def test_310p3_table_stops_at_the_process_table_and_reads_the_driver():
    table = parse_npu_smi_info(P310P3)
    assert table == NpuTable((NpuDevice(0, 0, 0, "310P3", "OK", "0000:82:00.0"),
                              NpuDevice(1, 0, 1, "310P3", "OK", "0000:89:00.0")), True, "23.0.rc3")


def test_300i_duo_two_chips_under_one_npu_id():
    table = parse_npu_smi_info(DUO)
    assert table.devices == (NpuDevice(2, 0, 0, "310P3", "OK", "0000:01:00.0"),
                             NpuDevice(2, 1, 1, "310P3", "OK", "0000:01:00.0"))
    assert table.has_device_column and table.driver_version is None


def test_910b_has_no_device_column():
    table = parse_npu_smi_info(B910)
    assert table == NpuTable((NpuDevice(0, 0, None, "910B4", "OK", "0000:C1:00.0"),
                              NpuDevice(1, 0, None, "910B4-1", "Warning", "0000:C2:00.0")), False, None)


def test_950_layout_joins_the_first_two_cells():
    table = parse_npu_smi_info(S950)
    assert table == NpuTable((NpuDevice(0, 0, None, "Ascend950", "OK", "0000:9D:00.0"),), False, None)


def test_a_name_row_without_its_chip_row_is_dropped():
    text = ("| Chip    Device    | Bus-Id          | AICore(%) |\n"
            "| 0       310P3     | OK              | 15.8      |\n"
            "| 1       310P3     | OK              | 15.8      |\n"
            "| 0       1         | 0000:89:00.0    | 0         |\n")
    # row 2 waits for its chip row; row 3 is another name row, so row 2 is dropped and row 3 is not
    # taken as a name row either; row 4 then has no name row waiting.
    assert parse_npu_smi_info(text).devices == ()


def test_rows_outside_the_table_and_the_banner():
    text = "npu-smi info\nnot a table\n" + BANNER + "\n" + DUO.splitlines()[1] + "\n"
    table = parse_npu_smi_info(text)
    assert table == NpuTable((), True, "23.0.rc3")


INFO_M = """\
        NPU ID                         Chip ID                        Chip Logic ID                  Chip Name
        0                              0                              0                              Ascend 910B4
        0                              1                              -                              Mcu
        3                              0                              5                              Ascend910B4-1
        4                              0                              6
        Total                          0                              2                              chips
        5                              x                              7                              Ascend310
"""


def test_info_m_mapping():
    before_header = "7 0 9 Ascend 310\n"
    assert parse_npu_smi_m(before_header + INFO_M) == {(0, 0): (0, "910B4"), (3, 0): (5, "910B4-1")}


def test_with_logic_ids_fills_only_missing_ids():
    table = NpuTable((NpuDevice(0, 0, None, "910B4", "OK", "b0"), NpuDevice(1, 0, 7, "910B4", "OK", "b1"),
                      NpuDevice(2, 0, None, "910B4", "OK", "b2")), False, "24.1")
    filled = with_logic_ids(table, {(0, 0): (4, "910B4"), (1, 0): (9, "910B4")})
    assert filled == NpuTable((NpuDevice(0, 0, 4, "910B4", "OK", "b0"), NpuDevice(1, 0, 7, "910B4", "OK", "b1"),
                               NpuDevice(2, 0, None, "910B4", "OK", "b2")), False, "24.1")


@pytest.mark.parametrize("given, chip", [("Ascend310P3", "310P3"), ("ascend 310P3", "310P3"), ("  310 ", "310"),
                                         ("ASCEND_910B4", "910B4"), ("Ascend-910B4-1", "910B4-1"),
                                         ("310Ascend", "310Ascend")])
def test_normalize_chip(given, chip):
    assert normalize_chip(given) == chip


def test_soc_version():
    assert soc_version("310P3") == "Ascend310P3"
    assert soc_version("Ascend910B4") == "Ascend910B4"
    assert NpuDevice(0, 0, 0, "310").soc_version == "Ascend310"


def test_board_fields_joined():
    board = ("        Board ID                       : 0x65\n"
             "        Chip Name                      : Ascend910\n"
             "        NPU Name                       : 9391  \n")
    assert parse_board(board) == "910_9391"
    assert parse_board("Chip Name : 310P3\nNPU Name : NA\n") == "310P3"
    assert parse_board("Chip Name : 310P3\nNPU Name : na\n") == "310P3"
    assert parse_board("Chip Name : 310P3\nNPU Name : -\n") == "310P3"
    assert parse_board("Chip Name : 310P3\n") == "310P3"
    assert parse_board("NPU Name : 9391\n") is None


def test_check_chip_name():
    assert check_chip_name("Ascend310P3") == "310P3"
    assert check_chip_name("910_9391") == "910_9391"
    for bad in ("abc", "310P3-", "31", "310 P3"):
        with pytest.raises(ConfigError) as info:
            check_chip_name(bad)
        assert info.value.message == f"chip '{bad}' is not a chip name"


def _table(*names):
    return NpuTable(tuple(NpuDevice(i, 0, i, n) for i, n in enumerate(names)), True)


def test_chip_from_table_one_chip():
    assert chip_from_table(_table("310P3", "310P3")) == "310P3"
    assert chip_from_table(_table("Ascend910B4")) == "910B4"


def test_chip_from_table_none_or_several():
    with pytest.raises(ConfigError) as info:
        chip_from_table(_table())
    assert info.value.message == "npu-smi info lists no NPU chips"
    with pytest.raises(ConfigError) as info:
        chip_from_table(_table("910B4", "310P3", "310P3"))
    assert info.value.message == "npu-smi info lists different chips: 310P3 (NPU 1, 2), 910B4 (NPU 0)"
    assert info.value.hint.endswith("(e.g. --chip 310P3)")


def test_family_name_is_completed_from_the_board():
    table = NpuTable((NpuDevice(4, 1, 0, "Ascend910"),), False)
    asked = []
    assert chip_from_table(table, board=lambda npu, chip: asked.append((npu, chip)) or "910_9391") == "910_9391"
    assert asked == [(4, 1)]


@pytest.mark.parametrize("answer", [None, "", "910", "bad name!"])
def test_family_name_without_a_usable_board_answer_is_an_error(answer):
    table = NpuTable((NpuDevice(4, 1, 0, "Ascend910"),), False)
    with pytest.raises(ConfigError) as info:
        chip_from_table(table, board=lambda npu, chip: answer)
    assert info.value.message == "npu-smi info names the chip 'Ascend910', which is not a full SoC name"
    assert "`npu-smi info -t board -i 4 -c 1`" in info.value.hint
    with pytest.raises(ConfigError):
        chip_from_table(table)


def test_a_name_that_is_no_soc_name_is_an_error():
    with pytest.raises(ConfigError) as info:
        chip_from_table(_table("Atlas"))
    assert info.value.message == "npu-smi info names the chip 'Atlas', which is not a full SoC name"


def test_no_table_at_all():
    assert parse_npu_smi_info("") == NpuTable((), False, None)


def test_an_indented_table_is_read_the_same():
    indented = "\n".join("   " + line for line in DUO.splitlines())
    assert parse_npu_smi_info(indented) == parse_npu_smi_info(DUO)
    assert len(parse_npu_smi_info(indented).devices) == 2


def test_950_layout_with_three_cells_per_row():
    text = "| NPU ID | Name | Health |\n| Chip ID | Phy-ID | Bus-Id |\n| 1 | 950PR | OK |\n| 0 | 2 | 0000:9D:00.0 |\n"
    assert parse_npu_smi_info(text).devices == (NpuDevice(1, 0, None, "950PR", "OK", "0000:9D:00.0"),)
