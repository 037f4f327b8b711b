"""bit compare with an .om run now by the stand-in ais_bench (a subset of the folder for --limit)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from standin_helpers import build_om, make_bins, reference_logits

from bit_testlib import invoke


def test_compare_om_against_onnxruntime_on_first_n(tmp_path, standins, tiny_profile, runner):
    work = tmp_path / "w"
    om, onnx = build_om(work)
    bins = make_bins(work / "dataset_bin", 10)
    res = invoke(runner, "compare", "-p", str(tiny_profile), "-w", str(work), "--ref", "onnxruntime",
                 "--ref-model", str(onnx), "--test", "ascend", "--test-model", str(om), "--bs", "4", "--limit", "6",
                 "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["samples"] == 6 and [p["stem"] for p in doc["per_sample"]] == [str(i) for i in range(6)]
    ref = reference_logits(onnx, bins[:6]).astype(np.float64)
    assert doc["metrics"]["agreement"] == 1.0
    assert doc["metrics"]["max_abs"] == pytest.approx(0.0, abs=1e-5)
    assert doc["metrics"]["cosine"] == pytest.approx(1.0, abs=1e-9) and ref.shape == (6, 10)
    assert not list(work.glob(".bit-compare-*"))  # the linked subset folder is gone
