"""`bit atc` → `bit infer --backend ascend` → `bit eval` on 16 real CIFAR-10 images, against onnxruntime.

The stand-in atc/ais_bench compute real outputs (the .om carries the
simplified ONNX), so the Ascend path must give the onnxruntime backend's
accuracy bit for bit. 32 px keeps the R50x1 fast on CPU.
"""

from __future__ import annotations

import json

import numpy as np
from bit_testlib import invoke


def test_ascend_infer_then_eval_matches_onnxruntime(runner, standins, cifar_dir, trained_pth, tmp_path):
    profile = tmp_path / "bit.yaml"
    profile.write_text(f"model:\n  image_size: 32\n  weights: {trained_pth}\ndataset:\n  path: {cifar_dir}\n")
    work = tmp_path / "w"
    common = ("-p", str(profile), "-w", str(work))
    for step in (("data", "--limit", "16"), ("export",), ("simplify", "--bs", "4"), ("atc", "--bs", "4"),
                 ("infer", "--bs", "4", "--backend", "ascend"),
                 ("infer", "--bs", "4", "--backend", "onnxruntime", "-o", str(work / "ort"))):
        result = invoke(runner, *step, *common)
        assert result.exit_code == 0, (step, result.output)
        assert "Traceback" not in result.output
    ascend_dir, ort_dir = work / "result" / "ascend" / "result_bs4", work / "ort" / "result_bs4"
    names = sorted(p.name for p in ascend_dir.iterdir())
    assert names == sorted(f"{i}_0.bin" for i in range(16)) == sorted(p.name for p in ort_dir.iterdir())
    for name in names:
        np.testing.assert_allclose(np.fromfile(ascend_dir / name, np.float32), np.fromfile(ort_dir / name, np.float32),
                                   rtol=1e-4, atol=1e-4)
    summary = json.loads((work / "result" / "ascend" / "result_bs4_summary.json").read_text())
    assert summary["throughput"] > 0 and "--output_dirname" in summary["args"]
    accuracies = []
    for folder in (ascend_dir, ort_dir):
        result = invoke(runner, "eval", *common, "--bs", "4", "-d", str(folder), "--json")
        assert result.exit_code == 0, result.output
        accuracies.append(json.loads(result.stdout))
    assert accuracies[0]["samples"] == accuracies[1]["samples"] == 16
    assert accuracies[0]["topk"] == accuracies[1]["topk"]
