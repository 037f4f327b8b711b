"""`bit all --backend ascend` on two devices through the stand-in of each real ais_bench release.

The everyday state of issue 11: the same workdir first ran on onnxruntime
(which used to leave ``result/`` at 0755, refused by tools 2025). Then the
Ascend run must infer each of the 16 real CIFAR-10 images exactly once across
both devices, and ``bit eval`` must read that release's device folders and give
onnxruntime's accuracy.
"""

from __future__ import annotations

import json

import pytest
from bit_testlib import invoke
from standin_helpers import RELEASES, select_release

DEVICE_DIRS = {"2022-11": ["device0", "device1"], "2023": ["device0", "device1"],
               "2024": ["device0_0", "device1_1"], "2025": ["device0_0", "device1_1"]}


@pytest.mark.parametrize("release", RELEASES)
def test_bit_all_on_two_devices(runner, standins, cifar_dir, trained_pth, tmp_path, monkeypatch, release):
    select_release(monkeypatch, release)
    profile = tmp_path / "bit.yaml"
    profile.write_text(f"model: {{image_size: 32, weights: {trained_pth}}}\ndataset: {{path: {cifar_dir}, limit: 16}}\n"
                       "bench: {loop: 3, warmup: 1}\nascend: {devices: [0, 1]}\n")
    work = tmp_path / "w"
    common = ("--bs", "4", "-p", str(profile), "-w", str(work), "--json")
    ort = invoke(runner, "all", "--backend", "onnxruntime", *common)
    assert ort.exit_code == 0, ort.output[-3000:]
    monkeypatch.setenv("STANDIN_AIS_LOG", str(tmp_path / "inferred.log"))
    ascend = invoke(runner, "all", "--backend", "ascend", *common)
    assert ascend.exit_code == 0, ascend.output[-3000:]
    assert "Traceback" not in ascend.output
    a, o = json.loads(ascend.stdout)["results"][0], json.loads(ort.stdout)["results"][0]
    assert a["status"] == o["status"] == "ok" and a["samples"] == o["samples"] == 16
    assert a["topk"] == o["topk"]  # bit eval read the device folders of this release
    assert a["throughput"] > 0
    inferred = [line.split("\t") for line in (tmp_path / "inferred.log").read_text().splitlines()]
    assert len(inferred) == 16 and len({name.rsplit("/", 1)[-1] for _, name in inferred}) == 16
    assert {dev for dev, _ in inferred} == {"0", "1"}  # both devices did half the work
    result = work / "result" / "ascend" / "result_bs4"
    assert sorted(p.name for p in result.iterdir() if p.is_dir()) == DEVICE_DIRS[release]
    assert sum(len(list((result / d).glob("*_0.bin"))) for d in DEVICE_DIRS[release]) == 16
