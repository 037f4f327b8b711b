"""An .om built for one batch size is never timed or run as another (issue 14, "Throughput 4x too high").

ais_bench uses ``--batchsize`` only for its throughput figure (reference/ascend-tools.md
§2.2), so a bs1 .om run with ``--batchsize 4`` reports 4x its real figure with exit 0.
bit learns the .om's batch size from its sidecar, else from ais_bench's
``try get model batchsize:{n}`` line, and refuses a mismatch before anything runs.
"""

from __future__ import annotations

import json
import shutil

import pytest
from bit_testlib import invoke
from standin_helpers import build_om, make_bins, select_release

from bitcli.artifacts import sha256_file, sidecar_path, write_sidecar
from bitcli.ascend.om_batch import DYNAMIC, reported_batch, sidecar_batch


@pytest.fixture
def work(tmp_path, standins):
    """A workdir with a stand-in bit_bs1.om (no sidecar: made by atc directly) and 8 samples."""
    om, _ = build_om(tmp_path / "w", bs=1)
    make_bins(tmp_path / "w" / "dataset_bin", 8)
    (tmp_path / "p.yaml").write_text("model: {image_size: 8}\nbench: {loop: 3, warmup: 0}\n")
    return om


def _args(om, *extra):
    return ("-w", str(om.parent), "-p", str(om.parent.parent / "p.yaml"), "--backend", "ascend", *extra)


def test_infer_refuses_a_bs1_om_asked_for_bs4(runner, work):
    result = invoke(runner, "infer", "--bs", "4", "--model", str(work), *_args(work))
    assert result.exit_code != 0, result.output
    assert "bit_bs1.om is a batch-size-1 model, but batch size 4 was asked for" in result.stderr
    assert "use --bs 1" in result.stderr and "Traceback" not in result.output
    assert not (work.parent / "result" / "ascend" / "result_bs4").exists()  # refused before ais_bench ran
    assert "samples/s" not in result.stdout


def test_bench_refuses_a_bs1_om_named_bit_bs4(runner, work, monkeypatch):
    """The issue's case: bit_bs1.om copied to bit_bs4.om (no sidecar) gave 4x the throughput."""
    shutil.copy(work, work.parent / "bit_bs4.om")
    monkeypatch.setenv("STANDIN_AIS_LATENCY_MS", "0:10,10,10")  # 100 samples/s at bs 1, never 400
    result = invoke(runner, "bench", "--bs", "4", "--json", *_args(work))
    assert result.exit_code == 1, result.output
    row = json.loads(result.stdout)["results"][0]
    assert row["status"] == "failed" and row["throughput"] is None
    assert "bit_bs4.om is a batch-size-1 model, but batch size 4 was asked for" in row["reason"]


def test_a_matching_om_still_runs_and_reports_its_own_figure(runner, work, monkeypatch):
    monkeypatch.setenv("STANDIN_AIS_LATENCY_MS", "0:10,10,10")  # 1000 * 1 / 10 = 100 samples/s
    result = invoke(runner, "bench", "--bs", "1", "--json", *_args(work))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["throughput"] == pytest.approx(100.0)


def test_one_om_for_several_batch_sizes_is_refused(runner, work):
    result = invoke(runner, "infer", "--bs", "1,4", "--model", str(work), *_args(work))
    assert result.exit_code != 0
    assert "--model bit_bs1.om is one .om, but --bs 1,4 asks for 2 batch sizes" in result.stderr
    assert not (work.parent / "result").exists()


def test_a_dynamic_om_by_its_sidecar_may_serve_several_batch_sizes(work):
    from bitcli.ascend.om_batch import check_one_om_per_bs

    write_sidecar(work, {"batch_size": 1, "dynamic": True, "om_sha256": sha256_file(work)})
    check_one_om_per_bs(str(work), (1, 4))  # no error
    assert sidecar_batch(work) == DYNAMIC


def test_the_sidecar_is_believed_only_while_the_om_is_the_one_it_describes(runner, work, tmp_path):
    om4, _ = build_om(tmp_path / "other", bs=4)
    write_sidecar(work, {"batch_size": 1, "om_sha256": sha256_file(work)})
    assert sidecar_batch(work) == 1
    shutil.copy(work, work.parent / "bit_bs4.om")        # a bs1 model under bs4's name ...
    write_sidecar(work.parent / "bit_bs4.om", {"batch_size": 4, "om_sha256": sha256_file(om4)})  # ... with bs4's record
    assert sidecar_batch(work.parent / "bit_bs4.om") is None  # the digest differs: ask the model itself
    result = invoke(runner, "infer", "--bs", "4", *_args(work))
    assert result.exit_code != 0
    assert "bit_bs4.om is a batch-size-1 model, but batch size 4 was asked for" in result.stderr


def test_bit_atc_records_the_om_digest(runner, tmp_path, standins):
    from standin_helpers import make_onnx

    make_onnx(tmp_path / "w" / "bit_bs2_sim.onnx", 2)
    (tmp_path / "p.yaml").write_text("model: {image_size: 8}\n")
    result = invoke(runner, "atc", "--bs", "2", "-w", str(tmp_path / "w"), "-p", str(tmp_path / "p.yaml"))
    assert result.exit_code == 0, result.output
    om = tmp_path / "w" / "bit_bs2.om"
    meta = json.loads(sidecar_path(om).read_text())
    assert meta["om_sha256"] == sha256_file(om) and sidecar_batch(om) == 2


def test_release_without_the_report_warns_and_keeps_working(runner, work, monkeypatch):
    select_release(monkeypatch, "2022-11")  # --batchsize defaults to 1 there: no "try get model batchsize" line
    result = invoke(runner, "infer", "--bs", "1", "--model", str(work), *_args(work))
    assert result.exit_code == 0, result.output
    assert "does not report bit_bs1.om's batch size" in result.stderr


@pytest.mark.parametrize("text, expected", [
    ("[INFO] load model x.om success\n[INFO] try get model batchsize:16\n[INFO] warm up 1 done", 16),
    ("[INFO] output path:/r\n", None),
    ("[ERROR] dynamic batch om model detected, but dymbatch, dymdims or dymshape not set!", DYNAMIC),
])
def test_reported_batch_reads_ais_bench_lines(text, expected):
    assert reported_batch(text) == expected
