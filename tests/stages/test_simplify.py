"""`simplified_onnx_per_bs`: static-shape onnxsim models per batch size, checked and skippable."""

from __future__ import annotations

import pytest

from bitcli.artifacts import read_sidecar
from bitcli.errors import ConfigError, ExportError
from bitcli.stages import simplify as simplify_stage
from bitcli.stages.export import onnx_from_checkpoint
from bitcli.stages.simplify import simplified_onnx_per_bs

SIZE = 32


@pytest.fixture(scope="module")
def dynamic_onnx(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "bit.onnx"
    onnx_from_checkpoint("random", out, arch="BiT-M-R50x1", num_classes=10, image_size=SIZE, seed=1)
    return out


@pytest.fixture(scope="module")
def simplified(dynamic_onnx):
    return simplified_onnx_per_bs(dynamic_onnx, [1, 2], dynamic_onnx.parent / "sim", image_size=SIZE)


def test_one_static_model_per_batch_size(simplified):
    import onnx

    assert simplified.ok and [r.bs for r in simplified.rows] == [1, 2]
    for row in simplified.rows:
        assert row.path.name == f"bit_bs{row.bs}_sim.onnx" and row.path.is_file()
        assert row.status == "done" and row.max_abs_diff <= 1e-4 and row.seconds > 0
        model = onnx.load(str(row.path))
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        assert dims == [row.bs, 3, SIZE, SIZE]
        assert sum(row.ops_after.values()) < sum(row.ops_before.values())
        assert "Shape" in row.ops_before and "Shape" not in row.ops_after
        assert row.ops_after["Conv"] == row.ops_before["Conv"] == 54
        meta = read_sidecar(row.path)
        assert meta["bs"] == row.bs and meta["input_shape"] == [row.bs, 3, SIZE, SIZE] and meta["onnxsim"]


def test_current_outputs_are_skipped_and_force_redoes(dynamic_onnx, simplified):
    again = simplified_onnx_per_bs(dynamic_onnx, [2, 1], dynamic_onnx.parent / "sim")
    assert [r.status for r in again.rows] == ["up to date", "up to date"]
    assert again.rows[0].ops_after == simplified.rows[1].ops_after
    forced = simplified_onnx_per_bs(dynamic_onnx, [1], dynamic_onnx.parent / "sim", force=True)
    assert forced.rows[0].status == "done" and forced.rows[0].reason == "--force"


def test_failed_check_is_a_row_not_a_file(dynamic_onnx, tmp_path, monkeypatch):
    monkeypatch.setattr(simplify_stage, "VERIFY_ATOL", -1.0)
    result = simplified_onnx_per_bs(dynamic_onnx, [1], tmp_path)
    assert not result.ok and result.rows[0].status == "failed"
    assert "differs" in result.rows[0].error
    assert list(tmp_path.iterdir()) == []


def test_not_onnx(tmp_path):
    bogus = tmp_path / "bit.onnx"
    bogus.write_text("this is not a protobuf at all\n")
    with pytest.raises(ExportError, match="not an ONNX model"):
        simplified_onnx_per_bs(bogus, [1], tmp_path)
    with pytest.raises(ExportError, match="ONNX model not found"):
        simplified_onnx_per_bs(tmp_path / "absent.onnx", [1], tmp_path)


@pytest.mark.parametrize("sizes", [[], [0], [-4], ["8"], [1.5]])
def test_batch_size_junk(dynamic_onnx, tmp_path, sizes):
    with pytest.raises(ConfigError, match="batch sizes must be positive integers"):
        simplified_onnx_per_bs(dynamic_onnx, sizes, tmp_path)
