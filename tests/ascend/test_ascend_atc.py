"""`bit atc` against the stand-in atc: the seed's exact command, verdicts, E-codes, set_env, skipping."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from bit_testlib import invoke
from standin_helpers import STANDIN_PYLIB, make_onnx

SEED_ARGS = ["--framework=5", "--model={d}/bit_bs{bs}_sim.onnx", "--input_format=NCHW",
             "--input_shape=image:{bs},3,8,8", "--output={d}/bit_bs{bs}", "--log=error", "--soc_version=Ascend{chip}"]


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A workdir with bit_bs1/4_sim.onnx (8 px) and an argv log of every atc call."""
    work = tmp_path / "w"
    for bs in (1, 4):
        make_onnx(work / f"bit_bs{bs}_sim.onnx", bs)
    monkeypatch.setenv("STANDIN_ATC_LOG", str(tmp_path / "atc_calls.jsonl"))
    return work


def _calls(work: Path) -> list[list[str]]:
    log = work.parent / "atc_calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _atc(runner, work, tiny_profile, *extra, root=()):
    return invoke(runner, *root, "atc", "-p", str(tiny_profile), "-w", str(work), *extra)


def test_builds_each_bs_with_the_seed_command(runner, standins, work, tiny_profile):
    result = _atc(runner, work, tiny_profile, "--bs", "1,4")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    calls = _calls(work)
    assert calls == [[a.format(d=work.resolve(), bs=bs, chip="310P3") for a in SEED_ARGS] for bs in (1, 4)]
    sys.path.insert(0, str(STANDIN_PYLIB))
    import standin_om

    for bs in (1, 4):
        meta, body = standin_om.read_om(work / f"bit_bs{bs}.om")
        assert body == (work / f"bit_bs{bs}_sim.onnx").read_bytes()
        assert meta["inputs"][0]["shape"] == [bs, 3, 8, 8] and meta["soc_version"] == "Ascend310P3"
        side = json.loads((work / f"bit_bs{bs}.om.json").read_text())
        assert side["soc_version"] == "Ascend310P3" and len(side["onnx_sha256"]) == 64
    assert "bs 1: bit_bs1.om built in" in result.stderr and "bs 4: bit_bs4.om built in" in result.stderr
    # ATC ran in a scratch folder: its litter is neither in the workdir nor the cwd
    assert not (work / "kernel_meta").exists() and not Path("kernel_meta").exists()
    assert not Path("fusion_result.json").exists()
    assert "$ " in (work / "logs" / "atc_bs4.log").read_text()


def test_up_to_date_is_skipped_and_changes_rebuild(runner, standins, work, tiny_profile):
    assert _atc(runner, work, tiny_profile, "--bs", "4", "--chip", "310P3").exit_code == 0
    again = _atc(runner, work, tiny_profile, "--bs", "4", "--chip", "310P3")
    assert again.exit_code == 0 and "up to date" in again.output and len(_calls(work)) == 1
    precise = _atc(runner, work, tiny_profile, "--bs", "4", "--chip", "310P3", "--precision-mode", "force_fp32")
    assert precise.exit_code == 0 and len(_calls(work)) == 2
    assert _calls(work)[-1][-1] == "--precision_mode=force_fp32"
    make_onnx(work / "bit_bs4_sim.onnx", 4, opset=12)  # a different ONNX → stale .om
    assert _atc(runner, work, tiny_profile, "--bs", "4", "--chip", "310P3", "--precision-mode", "force_fp32").exit_code == 0
    assert len(_calls(work)) == 3
    assert _atc(runner, work, tiny_profile, "--bs", "4", "--chip", "Ascend910B4", "--precision-mode", "force_fp32").exit_code == 0
    assert _calls(work)[-1][6] == "--soc_version=Ascend910B4"
    assert _atc(runner, work, tiny_profile, "--bs", "4", "--chip", "910B4", "--precision-mode", "force_fp32", "--force").exit_code == 0
    assert len(_calls(work)) == 5


def test_dry_run_prints_the_command_and_stops(runner, no_ascend, work, tiny_profile):
    result = _atc(runner, work, tiny_profile, "--bs", "1,4", "--chip", "Ascend310P3", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines == [" ".join(["atc", *[a.format(d=work.resolve(), bs=bs, chip="310P3") for a in SEED_ARGS]]) for bs in (1, 4)]
    assert not list(work.glob("*.om")) and _calls(work) == []


def test_e10001_input_name_failure_keeps_previous_om(runner, standins, work, tiny_profile):
    assert _atc(runner, work, tiny_profile, "--bs", "4").exit_code == 0
    before = (work / "bit_bs4.om").read_bytes()
    make_onnx(work / "bit_bs4_sim.onnx", None, input_name="input")  # dynamic, wrongly named input
    result = _atc(runner, work, tiny_profile, "--bs", "4", "--force")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    err = " ".join(result.stderr.split())
    assert "E10001: Value [-1] for parameter [input] is invalid" in err
    assert "--input_shape=image:4,3,8,8" in err  # the command line is in the message
    assert "ONNX input name" in err  # the hint for E10001
    assert (work / "bit_bs4.om").read_bytes() == before
    assert json.loads((work / "bit_bs4.om.json").read_text())["input_shape"] == "image:4,3,8,8"
    assert not list(work.glob(".*.prev"))


def test_e19010_opset_hint(runner, standins, work, tiny_profile, monkeypatch):
    monkeypatch.setenv("STANDIN_ATC_MAX_OPSET", "11")
    result = _atc(runner, work, tiny_profile, "--bs", "1")
    assert result.exit_code == 1
    err = " ".join(result.stderr.split())
    assert "E19010: No parser is registered for Op" in err and "model.opset: 13" in err
    assert not (work / "bit_bs1.om").exists()


def test_missing_libraries_point_at_set_env(runner, standins, work, tiny_profile, monkeypatch):
    monkeypatch.setenv("STANDIN_ATC_MISSING_LIBS", "1")
    result = _atc(runner, work, tiny_profile, "--bs", "1")
    assert result.exit_code == 1
    err = " ".join(result.stderr.split())
    assert "atc cannot load libascend_hal.so (exit 127)" in err
    assert "LD_LIBRARY_PATH" in err and "set_env.sh" in err


def test_atc_and_npu_smi_found_by_sourcing_set_env(runner, sourced, work, tiny_profile):
    result = _atc(runner, work, tiny_profile, "--bs", "1", root=("-v",))
    assert result.exit_code == 0, result.output
    assert (work / "bit_bs1.om").is_file()
    assert "atc found after sourcing" in result.stderr


def test_no_cann_is_one_clear_line(runner, no_ascend, work, tiny_profile):
    result = _atc(runner, work, tiny_profile, "--bs", "1", "--chip", "310P3")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "'atc' is not on PATH and no CANN script at" in " ".join(result.stderr.split())


def test_missing_simplified_onnx_names_the_fix(runner, standins, tmp_path, tiny_profile):
    result = invoke(runner, "atc", "-p", str(tiny_profile), "-w", str(tmp_path / "empty"), "--bs", "2,8")
    assert result.exit_code == 1
    err = " ".join(result.stderr.split())
    assert "no simplified ONNX for batch size 2, 8" in err and "bit simplify --bs 2,8" in err


def test_several_chips_with_auto_is_an_error(runner, standins, work, tiny_profile, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI", "mixed")
    result = _atc(runner, work, tiny_profile, "--bs", "1")
    assert result.exit_code == 1
    assert "different chips: 310P3 (NPU 0), 910B4 (NPU 1)" in " ".join(result.stderr.split())
    assert _calls(work) == []


def test_model_dir_and_json(runner, standins, tmp_path, tiny_profile):
    models = tmp_path / "models"
    make_onnx(models / "bit_bs2_sim.onnx", 2)
    result = invoke(runner, "atc", "-p", str(tiny_profile), "-w", str(tmp_path / "w"), "--model-dir", str(models),
                    "--bs", "2", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["soc_version"] == "Ascend310P3" and data["rows"][0]["status"] == "done"
    assert (models / "bit_bs2.om").is_file()


def test_dry_run_before_simplify_warns_but_prints(runner, no_ascend, tmp_path, tiny_profile):
    result = invoke(runner, "atc", "-p", str(tiny_profile), "-w", str(tmp_path / "w"), "--bs", "2", "--chip", "310P3",
                    "--dry-run")
    assert result.exit_code == 0, result.output
    assert "--input_shape=image:2,3,8,8" in result.stdout
    assert "bit_bs2_sim.onnx missing" in result.stderr and "bit simplify --bs 2" in result.stderr


# ---------------------------------------------------------------------- error codes of newer CANN (§8.8)


def _run_atc(tmp_path, *args, **env):
    """The stand-in atc run directly, as bit's run_tool would: (ToolResult, om path)."""
    import os

    from bitcli.tools import run_tool

    om = tmp_path / "w" / "bit_bs4.om"
    res = run_tool(["atc", *args], env={**os.environ, **env}, cwd=tmp_path)
    return res, om


def test_e10016_wrong_input_shape_name_on_a_static_onnx(runner, standins, work, tiny_profile):
    make_onnx(work / "bit_bs4_sim.onnx", 4, input_name="input")  # static, named like many exporters do
    result = _atc(runner, work, tiny_profile, "--bs", "4")
    assert result.exit_code == 1
    err = " ".join(result.stderr.split())
    assert "E10016: Op name [image] specified in --input_shape is not found in the model" in err
    assert "ONNX input name ('image' for BiT)" in err


def test_e10001_gets_the_input_name_hint_only_about_input_shape(runner, standins, work, tiny_profile):
    result = _atc(runner, work, tiny_profile, "--bs", "4", "--precision-mode", "fastest")
    assert result.exit_code == 1
    err = " ".join(result.stderr.split())
    assert "E10001: Value [fastest] for parameter [--precision_mode] is invalid" in err
    assert "ONNX input name" not in err and "ascend.precision_mode" in err


def test_e10010_bad_log_value_and_unknown_flag(standins, work, tmp_path):
    from bitcli.ascend.atc import atc_failure

    res, om = _run_atc(tmp_path, "--framework=5", f"--model={work / 'bit_bs4_sim.onnx'}", "--log=loud",
                       f"--output={work / 'bit_bs4'}", "--soc_version=Ascend310P3")
    err = atc_failure(res, om, None)
    assert "E10010: Value [loud] for parameter [--log] is invalid" in err.message and "--log" in err.hint
    res, om = _run_atc(tmp_path, "--framework=5", "--input-shape=image:4,3,8,8")
    err = atc_failure(res, om, None)
    assert res.returncode == 1 and "unknown command line flag 'input-shape'" in err.message
    assert "does not know this flag" in err.hint


def test_newer_cann_pid_stamp_is_stripped_and_ez9999_read(runner, standins, work, tiny_profile, monkeypatch):
    monkeypatch.setenv("STANDIN_ATC_CANN", "8")
    make_onnx(work / "bit_bs4_sim.onnx", 4, input_name="input")
    result = _atc(runner, work, tiny_profile, "--bs", "4")
    err = " ".join(result.stderr.split())
    assert "E10016: Op name [image] specified in --input_shape is not found" in err
    assert "[PID:" not in err and "2025-06-01" not in err
    assert "EZ9999: graph build failed, see the log under $HOME/ascend/log" in err
    assert "ONNX input name ('image' for BiT)" in err


def test_error_codes_parser_on_literal_lines():
    from bitcli.ascend.atc import error_codes

    text = ("E10016: [PID: 77] 2025-01-02-03:04:05.678.901 Op name [x] specified in --input_shape is not found.\n"
            "EZ9999: Inner Error!\n        EZ9999  [PID: 77] Check failed.[FUNC:Parse]\n"
            "ERROR: unknown command line flag 'foo'\n")
    assert error_codes(text) == [("E10016", "Op name [x] specified in --input_shape is not found."),
                                 ("EZ9999", "Inner Error!"), ("EZ9999", "Check failed.[FUNC:Parse]"),
                                 ("", "unknown command line flag 'foo'")]
