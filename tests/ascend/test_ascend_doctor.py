"""`bit doctor`: the host table, what a missing part blocks, and the exit status of the chosen backend."""

from __future__ import annotations

import json

from bit_testlib import invoke


def _checks(result) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def test_ascend_host_with_standins_exits_0(runner, standins):
    result = invoke(runner, "doctor", "--backend", "ascend")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    for text in ("atc", "8.0.RC1.standin", "310P3", "Ascend310P3", "ais_bench + aclruntime", "backend ascend: can run"):
        assert text in result.stdout


def test_json_lists_each_check(runner, standins, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI", "910b")
    result = invoke(runner, "doctor", "--backend", "ascend", "--json")
    assert result.exit_code == 0, result.output
    checks = _checks(result)
    assert {"python", "torch", "onnx", "onnxsim", "onnxruntime", "atc", "npu-smi", "ais_bench + aclruntime",
            "disk (workdir)"} <= set(checks)
    assert "CPUExecutionProvider" in checks["onnxruntime"]["found"]
    assert "910B4 device 0" in checks["npu-smi"]["found"] and "Ascend910B4" in checks["npu-smi"]["found"]
    assert checks["atc"]["status"] == "ok"


def test_no_ascend_with_backend_ascend_exits_1_and_says_what_is_blocked(runner, no_ascend):
    result = invoke(runner, "doctor", "--backend", "ascend", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert not data["backend_ok"] and "not importable" in data["backend_reason"]
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["atc"]["status"] == "missing" and checks["atc"]["affects"] == "atc"
    assert "set_env.sh" in checks["atc"]["fix"]
    assert checks["ais_bench + aclruntime"]["affects"] == "infer/bench --backend ascend"
    assert checks["npu-smi"]["status"] == "missing"


def test_no_ascend_table_and_exit_1(runner, no_ascend):
    result = invoke(runner, "doctor", "--backend", "ascend")
    assert result.exit_code == 1
    assert "backend ascend: cannot run" in result.stdout
    assert "internal error" not in result.output and "Traceback" not in result.output


def test_no_ascend_with_onnxruntime_exits_0(runner, no_ascend):
    result = invoke(runner, "doctor", "--backend", "onnxruntime")
    assert result.exit_code == 0, result.output
    assert "backend onnxruntime: can run" in result.stdout


def test_auto_picks_ascend_when_it_can_run(runner, sourced):
    result = invoke(runner, "doctor", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["backend"] == "ascend" and data["backend_ok"]
    assert "after sourcing" in _checks(result)["ais_bench + aclruntime"]["found"]


def test_devices_not_on_host_are_flagged(runner, standins, monkeypatch):
    monkeypatch.setenv("BIT_DEVICES", "0,5")
    checks = _checks(invoke(runner, "doctor", "--backend", "ascend", "--json"))
    assert checks["ascend.devices"]["status"] == "warn" and "not listed: [5]" in checks["ascend.devices"]["found"]


def test_missing_libraries_make_atc_missing(runner, standins, monkeypatch):
    monkeypatch.setenv("STANDIN_ATC_MISSING_LIBS", "1")
    checks = _checks(invoke(runner, "doctor", "--backend", "ascend", "--json"))
    assert checks["atc"]["status"] == "missing" and "libascend_hal.so" in checks["atc"]["found"]


def test_doctor_shows_ais_bench_release_cann_and_driver(runner, standins, monkeypatch):
    from standin_helpers import select_release

    select_release(monkeypatch, "2023")
    checks = _checks(invoke(runner, "doctor", "--backend", "ascend", "--json"))
    assert checks["ais_bench + aclruntime"]["found"].startswith("ais_bench 0.0.2 (tools 2023), importable by")
    assert checks["CANN version"]["found"] == "8.0.RC1.standin"
    assert checks["driver"]["found"] == "23.0.rc3"


def test_doctor_names_the_minimum_release_for_the_script_era(runner, standins, monkeypatch):
    from standin_helpers import select_release

    select_release(monkeypatch, "2022-09")
    result = invoke(runner, "doctor", "--backend", "ascend", "--json")
    assert result.exit_code == 1
    assert "tools 2022-11 or newer" in _checks(result)["ais_bench + aclruntime"]["found"]
