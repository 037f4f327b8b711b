"""`bit atc --bs 1,4,8`: every batch size is tried, each has its row, exit 1 at the end if one failed."""

from __future__ import annotations

import json

from bit_testlib import invoke
from standin_helpers import make_onnx


def _work(tmp_path):
    work = tmp_path / "w"
    make_onnx(work / "bit_bs1_sim.onnx", 1)
    make_onnx(work / "bit_bs4_sim.onnx", 4, input_name="input")  # ATC refuses it: no input named "image"
    make_onnx(work / "bit_bs8_sim.onnx", 8)
    return work


def test_a_failed_bs_does_not_stop_the_others(runner, standins, tmp_path, tiny_profile):
    work = _work(tmp_path)
    result = invoke(runner, "atc", "--bs", "1,4,8", "-p", str(tiny_profile), "-w", str(work))
    assert result.exit_code == 1, result.output
    assert (work / "bit_bs1.om").is_file() and (work / "bit_bs8.om").is_file()  # bs 8 ran after bs 4 failed
    assert not (work / "bit_bs4.om").exists()
    err = " ".join(result.stderr.split())
    assert "bs 4:" in err and "E10016" in err
    table = result.stdout
    assert "bit_bs1.om" in table and "bit_bs8.om" in table and "failed" in table


def test_json_gives_every_row(runner, standins, tmp_path, tiny_profile):
    work = _work(tmp_path)
    result = invoke(runner, "atc", "--bs", "1,4,8", "-p", str(tiny_profile), "-w", str(work), "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)  # the rows, not an error object: the command ran
    assert doc["status"] == "failed" and doc["soc_version"] == "Ascend310P3"
    assert [(r["bs"], r["status"]) for r in doc["results"]] == [(1, "done"), (4, "failed"), (8, "done")]
    assert "E10016" in doc["results"][1]["reason"] and doc["results"][1]["hint"]
    again = json.loads(invoke(runner, "atc", "--bs", "1,8", "-p", str(tiny_profile), "-w", str(work), "--json").stdout)
    assert again["status"] == "up to date" and [r["status"] for r in again["results"]] == ["up to date"] * 2
