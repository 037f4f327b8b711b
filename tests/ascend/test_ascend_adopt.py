"""`bit all --om-dir DIR`: existing .om files are used as they are, recorded as adopted, never rebuilt or overwritten."""

from __future__ import annotations

import hashlib
import json
import shutil

from bit_testlib import invoke


def test_bit_all_adopts_om_files_and_refuses_one_of_the_wrong_batch_size(runner, standins, cifar_dir, tmp_path):
    profile = tmp_path / "bit.yaml"
    profile.write_text(f"model: {{image_size: 32, weights: random}}\ndataset: {{path: {cifar_dir}, limit: 8}}\n"
                       "bench: {loop: 2, warmup: 1}\n")
    common = ("--backend", "ascend", "-p", str(profile))
    built = invoke(runner, "all", "--bs", "1", *common, "-w", str(tmp_path / "built"), "--only", "data,export,simplify,atc")
    assert (tmp_path / "built" / "bit_bs1.om").is_file(), built.output[-3000:]  # exit 1: infer..bench not run
    elsewhere = tmp_path / "models"
    elsewhere.mkdir()
    shutil.copy(tmp_path / "built" / "bit_bs1.om", elsewhere / "bit_bs1.om")  # no sidecar: ais_bench tells its bs
    before = (elsewhere / "bit_bs1.om").read_bytes()
    work = tmp_path / "work"
    result = invoke(runner, "all", "--bs", "1", *common, "-w", str(work), "--om-dir", str(elsewhere), "--json")
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(result.stdout)
    steps = {(s["step"], s["bs"]): s["status"] for s in report["steps"]}
    assert steps[("atc", 1)] == f"skipped: adopted {(elsewhere / 'bit_bs1.om').resolve()}"
    assert steps[("infer", 1)] == "done" and steps[("bench", 1)] == "done"
    assert not (work / "bit_bs1.om").exists()  # nothing rebuilt in the workdir
    assert (elsewhere / "bit_bs1.om").read_bytes() == before and not (elsewhere / "bit_bs1.om.json").exists()
    (row,) = report["results"]
    digest = hashlib.sha256(before).hexdigest()
    assert row["status"] == "ok" and row["artifacts_sha256"]["om"] == digest == row["model_sha256"]
    assert row["artifacts_sha256"]["om_adopted"] == str((elsewhere / "bit_bs1.om").resolve())
    assert row["backend"] == "ascend" and row["precision"] == "fp32"
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for name in ("bit_bs1.om", "bit_bs1.om.json"):  # bit's sidecar says batch size 1
        shutil.copy(tmp_path / "built" / name, wrong / name.replace("bs1", "bs4"))
    refused = invoke(runner, "all", "--bs", "4", *common, "-w", str(work), "--om-dir", str(wrong))
    assert refused.exit_code == 2  # the --om-dir given does not fit --bs: a bad flag value
    assert "bit_bs4.om is a batch-size-1 model, but batch size 4 was asked for" in " ".join(refused.stderr.split())
