"""`bit doctor` names the CPU features found and the precisions they offer, and the optional openvino extra."""

from __future__ import annotations

import json

from bit_testlib import invoke

from bitcli import cpu

AVX2_ONLY = cpu.parse_cpuinfo("model name\t: AMD EPYC 7B12\nflags\t\t: fpu avx avx2 fma\n", "x86_64")
BF16 = cpu.parse_cpuinfo("model name\t: Intel Xeon 8488C\nflags\t\t: avx2 avx512f avx512_vnni amx_tile amx_bf16 amx_int8\n",
                         "x86_64")


def _rows(runner, monkeypatch, info):
    monkeypatch.setattr(cpu, "detect", lambda: info)
    result = invoke(runner, "doctor", "--json", "--backend", "onnxruntime")
    assert result.exit_code == 0, result.output + result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)["checks"]}


def test_doctor_lists_features_and_refuses_bf16_on_avx2(runner, monkeypatch):
    row = _rows(runner, monkeypatch, AVX2_ONLY)["CPU"]
    assert row["found"] == "AMD EPYC 7B12 (x86_64): AVX2 → precisions fp32, int8"
    assert row["status"] == "info" and "AVX512-BF16 or AMX" in row["fix"]


def test_doctor_offers_bf16_with_amx(runner, monkeypatch):
    row = _rows(runner, monkeypatch, BF16)["CPU"]
    assert row["status"] == "ok"
    assert row["found"] == ("Intel Xeon 8488C (x86_64): AVX2, AVX-512F, AVX512-VNNI, AMX-TILE, AMX-BF16, AMX-INT8"
                            " → precisions fp32, int8, bf16")


def test_doctor_shows_openvino_as_optional(runner, monkeypatch):
    from importlib import util

    real = util.find_spec
    monkeypatch.setattr(util, "find_spec", lambda name, *a: None if name in ("openvino", "nncf") else real(name, *a))
    rows = _rows(runner, monkeypatch, AVX2_ONLY)
    for name in ("openvino", "nncf"):
        assert rows[name]["status"] == "info" and rows[name]["found"] == "not installed (optional)"
        assert rows[name]["fix"] == "pip install 'bitcli[openvino]' (x86_64)"


def test_doctor_text_names_the_cpu(runner):
    result = invoke(runner, "doctor", "--backend", "onnxruntime")
    assert result.exit_code == 0
    out = result.stdout
    assert "precisions" in out and "fp32" in out and cpu.detect().model.split()[0] in out
