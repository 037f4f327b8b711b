"""`bit export` / `bit simplify` through the real CLI: exit codes, key lines, no tracebacks."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bitcli.cli import app

SIZE = ["--image-size", "32"]


def _bt_reference():
    path = Path(__file__).resolve().parents[1] / "model" / "bt_reference.py"
    spec = importlib.util.spec_from_file_location("bt_reference_cli", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """One seeded random model as .npz and as pickled DataParallel (the other formats: tests/model)."""
    import torch

    from google_npz import write_google_npz

    from bitcli.model.checkpoint import load_checkpoint

    root = tmp_path_factory.mktemp("weights")
    sd = load_checkpoint("random", seed=4).model.state_dict()
    files = {"npz": root / "bit.npz", "pickle": root / "bit.pth"}
    write_google_npz(sd, files["npz"])
    bt = _bt_reference()
    module = bt.plant_big_transfer()
    try:
        model = module.ResNetV2([3, 4, 6, 3], 1, head_size=10)
        model.load_state_dict(sd)
        torch.save(torch.nn.DataParallel(model), files["pickle"])
    finally:
        bt.remove_big_transfer()
    return files


def _run(runner: CliRunner, *args: str):
    result = runner.invoke(app, [*map(str, args)])
    assert "Traceback" not in result.output, result.output
    return result


def test_export_then_simplify_random(runner, tmp_path):
    result = _run(runner, "export", "--weights", "random", "-w", tmp_path, *SIZE)
    assert result.exit_code == 0, result.output
    assert "exported and verified" in result.output and "RANDOM" in result.output
    assert "max |Δ| torch vs ONNX" in result.output and "100%" in result.output
    assert (tmp_path / "bit.onnx").is_file() and (tmp_path / "bit.onnx.json").is_file()
    result = _run(runner, "simplify", "-w", tmp_path, "--bs", "1,2")
    assert result.exit_code == 0, result.output
    assert "bit_bs1_sim.onnx" in result.output and "bit_bs2_sim.onnx" in result.output
    assert "Op counts" in result.output and "total" in result.output
    assert (tmp_path / "bit_bs2_sim.onnx").is_file()
    again = _run(runner, "simplify", "-w", tmp_path, "--bs", "1,2")
    assert again.exit_code == 0 and again.output.count("up to date") == 2 and "skipped" not in again.output
    skipped = _run(runner, "export", "--weights", "random", "-w", tmp_path, *SIZE)
    assert skipped.exit_code == 0 and "Export — up to date" in skipped.output and "RANDOM" in skipped.output


def test_export_modelzoo_pickle_as_json(runner, tmp_path, weights):
    out = tmp_path / "m.onnx"
    result = _run(runner, "export", "--weights", weights["pickle"], "--output", out, *SIZE, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "done" and len(doc["results"]) == 1
    data = doc["results"][0]
    assert data["format"] == "pickle" and data["num_classes"] == 10 and data["random"] is False
    assert data["max_abs_diff"] <= 1e-4 and data["top1_agree"] == 1.0 and out.is_file()


def test_npz_with_other_head_is_zeroed_and_said(runner, tmp_path, weights):
    result = _run(runner, "export", "--weights", weights["npz"], "--num-classes", "7", "-o", tmp_path / "z.onnx", *SIZE)
    assert result.exit_code == 0, result.output
    assert "head zeroed" in result.output


def _assert_error(result, *fragments: str, code: int = 1):
    assert result.exit_code == code, result.output
    assert "error" in result.output.lower()
    for fragment in fragments:
        assert fragment in result.output, result.output


def test_bad_inputs(runner, tmp_path, weights):
    text = tmp_path / "bit.pth"
    text.write_text("not a checkpoint\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"\x00garbage" * 10)
    cases = [
        (["export", "--weights", tmp_path / "absent.pth"], ["weights file not found"]),
        (["export", "--weights", text], ["not a checkpoint"]),
        (["export", "--weights", "random", "--arch", "BiT-M-R50x2"], ["unknown arch", "did you mean"], 2),
        (["export", "--weights", "random", "--opset", "99"], ["opset 99 out of range"], 2),
        (["export", "--weights", "random", "--output", blocker / "bit.onnx", *SIZE], ["is a file, not a folder"], 2),
        (["export", "--weights", weights["pickle"], "--num-classes", "5"], ["10-class head", "--num-classes is 5"]),
        (["simplify", "--model", bogus, "--bs", "1"], ["not an ONNX model"]),
        (["simplify", "--model", tmp_path / "none.onnx", "--bs", "1"], ["ONNX model not found"]),
    ]
    previous = tmp_path / "bit_work" / "bit.onnx"  # an earlier export in the default workdir
    previous.parent.mkdir()
    previous.write_bytes(b"earlier bit.onnx")
    previous.with_name("bit.onnx.json").write_text("{}\n")  # bit's own: a later export may replace it, an error not
    for args, fragments, *code in cases:  # 2: a bad flag value (usage); 1: a failed run
        _assert_error(_run(runner, *args), *fragments, code=code[0] if code else 1)
        assert previous.read_bytes() == b"earlier bit.onnx", args  # a failed export loses nothing on disk


@pytest.mark.parametrize("junk", ["a,b", "0", "1,,4", ""])
def test_bs_junk_is_a_usage_error(runner, tmp_path, junk):
    result = _run(runner, "simplify", "-w", tmp_path, "--bs", junk)
    assert result.exit_code == 2, result.output


def test_help_mentions_opset_and_formats(runner):
    result = _run(runner, "export", "--help")
    assert result.exit_code == 0
    assert "CANN 6.x" in result.output and "random" in result.output and ".npz" in result.output
    assert _run(runner, "simplify", "--help").exit_code == 0
