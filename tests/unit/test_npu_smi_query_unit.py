"""npu-smi queries with run_tool replaced by recorded answers (no subprocess: fast enough for mutmut).

The end-to-end runs against the stand-in npu-smi live in tests/ascend/test_ascend_npu.py.
"""

from __future__ import annotations

import pytest

from bitcli import tools
from bitcli.ascend import npu_smi
from bitcli.ascend.npu_smi import NpuDevice, board_chip_name, query_devices, resolve_chip
from bitcli.errors import ConfigError, ToolFailed
from bitcli.tools import ToolResult
from test_npu_smi_unit import B910, P310P3, S950

INFO_M = ("NPU ID   Chip ID   Chip Logic ID   Chip Name\n"
          "0        0         3               Ascend 910B4\n"
          "1        0         4               Ascend 910B4-1\n")
BOARD = "Chip Name : Ascend950\nNPU Name : 9502\n"


@pytest.fixture
def npu(monkeypatch):
    """Answers by argv tail; records every call as (argv, env, timeout)."""
    answers: dict[tuple[str, ...], ToolResult] = {}
    calls: list[tuple[list[str], dict, float]] = []
    seen_set_env: list[object] = []

    def fake_env(tool, set_env=None):
        seen_set_env.append((tool, set_env))
        return {"ENV": "1"}, "/cann/npu-smi"

    def fake_run(argv, *, env=None, timeout=None, **_):
        calls.append((argv, env, timeout))
        return answers.get(tuple(argv[1:]), ToolResult(argv, 1, "Error: no such query"))

    monkeypatch.setattr(tools, "tool_env", fake_env)
    monkeypatch.setattr(tools, "run_tool", fake_run)
    return answers, calls, seen_set_env


def test_a_table_with_device_ids_needs_one_call(npu):
    answers, calls, seen = npu
    answers[("info",)] = ToolResult(["npu-smi", "info"], 0, P310P3)
    table = query_devices("/opt/set_env.sh")
    assert [d.device_id for d in table.devices] == [0, 1]
    assert calls == [(["/cann/npu-smi", "info"], {"ENV": "1"}, 60)]
    assert seen == [("npu-smi", "/opt/set_env.sh")]


def test_a_table_without_device_ids_asks_info_m(npu):
    answers, calls, _ = npu
    answers[("info",)] = ToolResult(["npu-smi", "info"], 0, B910)
    answers[("info", "-m")] = ToolResult(["npu-smi", "info", "-m"], 0, INFO_M)
    table = query_devices()
    assert table.devices == (NpuDevice(0, 0, 3, "910B4", "OK", "0000:C1:00.0"),
                             NpuDevice(1, 0, 4, "910B4-1", "Warning", "0000:C2:00.0"))
    assert calls[1] == (["/cann/npu-smi", "info", "-m"], {"ENV": "1"}, 60)


def test_a_failing_info_m_leaves_the_ids_unknown(npu):
    answers, calls, _ = npu
    answers[("info",)] = ToolResult(["npu-smi", "info"], 0, B910)
    answers[("info", "-m")] = ToolResult(["npu-smi", "info", "-m"], 2, INFO_M)
    assert [d.device_id for d in query_devices().devices] == [None, None]


def test_an_empty_table_asks_nothing_more(npu):
    answers, calls, _ = npu
    answers[("info",)] = ToolResult(["npu-smi", "info"], 0, "no chips here\n")
    assert query_devices().devices == ()
    assert len(calls) == 1


def test_a_failing_npu_smi_info_names_its_exit_and_output(npu):
    answers, _, _ = npu
    answers[("info",)] = ToolResult(["npu-smi", "info"], 8, "dcmi module initialize failed. ret is -8005\n")
    with pytest.raises(ToolFailed) as info:
        query_devices()
    assert info.value.message == "npu-smi info failed (exit 8): dcmi module initialize failed. ret is -8005"
    answers[("info",)] = ToolResult(["npu-smi", "info"], 1, "")
    with pytest.raises(ToolFailed) as info:
        query_devices()
    assert info.value.message == "npu-smi info failed (exit 1): no output"


def test_board_chip_name(npu):
    answers, calls, seen = npu
    answers[("info", "-t", "board", "-i", "4", "-c", "1")] = ToolResult([], 0, BOARD)
    assert board_chip_name(4, 1, "/s.sh") == "950_9502"
    assert calls[-1] == (["/cann/npu-smi", "info", "-t", "board", "-i", "4", "-c", "1"], {"ENV": "1"}, 60)
    assert seen[-1] == ("npu-smi", "/s.sh")
    answers[("info", "-t", "board", "-i", "4", "-c", "1")] = ToolResult([], 1, BOARD)
    assert board_chip_name(4, 1) is None


def test_resolve_chip_explicit_needs_no_npu_smi(npu):
    _, calls, _ = npu
    assert resolve_chip("Ascend310P3") == "310P3"
    with pytest.raises(ConfigError):
        resolve_chip("not a chip")
    assert calls == []


def test_resolve_chip_auto_reads_the_table_and_the_board(npu):
    answers, calls, seen = npu
    answers[("info",)] = ToolResult([], 0, P310P3)
    assert resolve_chip(" AUTO ", "/s.sh") == "310P3"
    answers[("info",)] = ToolResult([], 0, S950)
    answers[("info", "-m")] = ToolResult([], 0, "")
    answers[("info", "-t", "board", "-i", "0", "-c", "0")] = ToolResult([], 0, BOARD)
    assert resolve_chip("auto", "/s.sh") == "950_9502"
    assert set(seen) == {("npu-smi", "/s.sh")}


def test_soc_version_is_not_built_from_an_unknown_prefix():
    assert npu_smi.soc_version("ascend310") == "Ascend310"


def test_a_failing_npu_smi_info_shows_only_its_last_five_lines(npu):
    answers, _, _ = npu
    answers[("info",)] = ToolResult(["npu-smi", "info"], 2, "l1\nl2\nl3\nl4\nl5\nl6\n")
    with pytest.raises(ToolFailed) as info:
        query_devices()
    assert info.value.message == "npu-smi info failed (exit 2): l2\nl3\nl4\nl5\nl6"
