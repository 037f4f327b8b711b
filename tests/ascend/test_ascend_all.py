"""`bit all --backend ascend` through the stand-in atc/npu-smi/ais_bench: same accuracy as onnxruntime."""

from __future__ import annotations

import json

from bit_testlib import invoke


def test_bit_all_on_ascend_matches_onnxruntime(runner, standins, cifar_dir, trained_pth, tmp_path):
    profile = tmp_path / "bit.yaml"
    profile.write_text(f"model: {{image_size: 32, weights: {trained_pth}}}\ndataset: {{path: {cifar_dir}, limit: 16}}\n"
                       "bench: {loop: 3, warmup: 1}\n")
    reports = {}
    for backend in ("ascend", "onnxruntime"):
        work = tmp_path / backend
        result = invoke(runner, "all", "--bs", "1,4", "--backend", backend, "-p", str(profile), "-w", str(work), "--json")
        assert result.exit_code == 0, result.output[-3000:]
        reports[backend] = json.loads(result.stdout)
    ascend, ort = reports["ascend"], reports["onnxruntime"]
    steps = {(s["step"], s["bs"]): s["status"] for s in ascend["steps"]}
    assert steps[("atc", 1)] == steps[("atc", 4)] == "done"  # the .om files were built by (stand-in) ATC
    assert not any(s["step"] == "atc" for s in ort["steps"])  # onnxruntime needs no .om
    assert ascend["chip"] == "Ascend310P3" and ort["chip"] is None  # read from (stand-in) npu-smi
    for a, o in zip(ascend["results"], ort["results"]):
        assert a["status"] == o["status"] == "ok"
        assert a["samples"] == o["samples"] == 16
        assert a["topk"] == o["topk"]
        assert a["throughput"] > 0 and len(a["artifacts_sha256"]["om"]) == 64
    assert (tmp_path / "ascend" / "bit_bs4.om").is_file()
    md = (tmp_path / "ascend" / "report.md").read_text()
    assert "| 310P3 | 4 | CIFAR-10 test, 16 of 10,000 images | top-1: " in md
    assert "Not an Ascend run" not in md and "Not an Ascend run" in (tmp_path / "onnxruntime" / "report.md").read_text()
