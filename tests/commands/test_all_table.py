"""The final `bit all` table at 80 columns: the backend name whole, a long reason on few lines (issue 14 §5)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bitcli import report, ui
from bitcli.report_rows import BsRow

LONG = ("simplify: bit_bs4_sim.onnx differs from bit.onnx by 3.2e-02 (limit 1e-04) on 16 images after onnxsim "
        "folded the GroupNorm constants of stage 3")
FIX = "re-export with `bit export --force`, then `bit simplify --bs 4 --force`"


def _result(backend: str) -> SimpleNamespace:
    ok = {"1": 0.7867, "5": 0.9861}
    rows = [BsRow(1, topk=ok, throughput=1234.56), BsRow(4, status="failed", reason=LONG, hint=FIX),
            BsRow(8, topk=ok, throughput=1707.27)]
    chip = "Ascend310P3" if backend == "ascend" else None
    return SimpleNamespace(rows=rows, backend=backend, device="CPUExecutionProvider x2 threads", chip=chip, demo=False,
                           context={"dataset": {"label": "CIFAR-10 test, 64 of 10,000 images"}})


@pytest.mark.parametrize("backend", ["onnxruntime", "ascend"])
def test_the_table_fits_80_columns_with_the_backend_whole(monkeypatch, capsys, backend):
    monkeypatch.setattr(ui.out, "width", 80)
    report.render_all(_result(backend), {"json": "w/report.json", "md": "w/report.md"})
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out
    table = [line for line in lines if line.startswith("│")]
    name = "onnxruntime" if backend == "onnxruntime" else "310P3"
    assert sum(name in line for line in table) == 3, out  # one whole name per row, never "onnxru…"
    assert "…" not in out
    text = " ".join(out.split())
    assert LONG in text and FIX in text  # the whole reason and its fix are printed
    reason_lines = [line for line in lines if any(word in line for word in ("GroupNorm", "differs", "re-export"))]
    assert len(reason_lines) <= 3, out  # wrapped once or twice at 80 columns, not a column 17 lines tall
    assert len(lines) <= 20, out
