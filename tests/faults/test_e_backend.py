"""Class E: a failing CANN set_env.sh never blocks `backend: auto`, and `bit doctor` always reports."""

from __future__ import annotations

import json

import pytest

from bit_testlib import invoke
from fault_lib import one_line_failure

SCRIPTS = {
    "exit1": "exit 1\n",
    "exit3-with-output": "echo 'LD_LIBRARY_PATH: driver not found' >&2\nexit 3\n",
    "syntax-error": "if then fi (\n",
    "missing-file": None,
}


def _profile(tmp_path, kind):
    script = tmp_path / "set_env.sh"
    if SCRIPTS[kind] is not None:
        script.write_text(SCRIPTS[kind])
    text = (tmp_path / "bit.yaml").read_text() if (tmp_path / "bit.yaml").exists() else ""
    (tmp_path / "bit.yaml").write_text(text + f"ascend:\n  set_env: {script}\n")


@pytest.mark.parametrize("kind", list(SCRIPTS))
def test_auto_falls_back_to_onnxruntime_and_says_why(runner, tmp_path, work, kind):
    _profile(tmp_path, kind)
    result = invoke(runner, "infer", "--backend", "auto", "--limit", "2")
    assert result.exit_code == 0, result.output + result.stderr
    assert "backend: onnxruntime (auto: ascend unavailable" in result.stderr.replace("\n", " ")


@pytest.mark.parametrize("kind", list(SCRIPTS))
def test_doctor_always_reports(runner, tmp_path, kind):
    _profile(tmp_path, kind)
    result = invoke(runner, "doctor", "--json")
    assert result.exit_code == 0, result.output + result.stderr  # auto still has onnxruntime
    doc = json.loads(result.stdout)
    text = json.dumps(doc)
    assert "onnxruntime" in text
    if SCRIPTS[kind] is not None:
        assert "broken" in text and "set_env.sh" in text


@pytest.mark.parametrize("kind", ["exit1", "syntax-error"])
def test_explicit_ascend_with_a_failing_set_env_is_one_line(runner, tmp_path, work, kind):
    _profile(tmp_path, kind)
    one_line_failure(invoke(runner, "infer", "--backend", "ascend"), "set_env.sh", code=1)
