"""The openvino backend through the CLI: the profile's precision reaches it, and auto picks it."""

from __future__ import annotations

import importlib.util
import json

import pytest

from bit_testlib import invoke
from runtime_models import link_models, real_model_dir

from bitcli import cpu

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                reason="openvino is not installed (pip install 'bitcli[openvino]'; x86_64 only)")


@pytest.fixture
def workdir(tmp_path, cifar_dir, trained_pth):
    from bitcli.stages.data import bins_from_cifar

    work = tmp_path / "w"
    link_models(real_model_dir(trained_pth), work)
    bins_from_cifar(cifar_dir, work / "dataset_bin", work / "label.txt", image_size=128, limit=8)
    (tmp_path / "bit.yaml").write_text(f"workdir: w\nbatch_sizes: [4]\nmodel:\n  weights: {trained_pth}\n")
    return work


@pytest.mark.skipif(not cpu.detect().native_bf16, reason="this CPU has neither AVX512-BF16 nor AMX-BF16")
def test_bench_runs_bf16_from_the_profile_precision(runner, workdir, monkeypatch):
    monkeypatch.setenv("BIT_PRECISION", "bf16")
    result = invoke(runner, "bench", "--backend", "openvino", "--bs", "4", "--loop", "2", "--warmup", "1", "--json")
    assert result.exit_code == 0, result.output + result.stderr
    bench = json.loads(result.stdout)
    assert "OpenVINO CPU" in bench["device"] and "inference precision bf16" in bench["device"]


def test_bf16_refused_in_one_line_without_the_cpu_feature(runner, workdir, monkeypatch):
    monkeypatch.setattr(cpu, "detect", lambda: cpu.parse_cpuinfo("model name\t: Old EPYC\nflags\t\t: avx2\n", "x86_64"))
    monkeypatch.setenv("BIT_PRECISION", "bf16")
    result = invoke(runner, "bench", "--backend", "openvino", "--bs", "4", "--loop", "1", "--warmup", "0")
    text = result.output + result.stderr
    assert result.exit_code == 1 and "Traceback" not in text
    assert "precision bf16 is not offered on this CPU" in text and "Old EPYC" in text


@pytest.mark.openvino_auto
def test_auto_infers_with_openvino_at_fp32(runner, workdir, monkeypatch):
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    result = invoke(runner, "infer")
    assert result.exit_code == 0, result.output + result.stderr
    assert "backend: openvino (auto: ascend unavailable" in result.stderr.replace("\n", " ")
    summaries = list(workdir.rglob("result_bs4_summary.json"))
    assert len(summaries) == 1 and json.loads(summaries[0].read_text())["backend"] == "openvino"
