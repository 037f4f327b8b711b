"""The stand-in .om format shared by the stand-in `atc` (writer) and `ais_bench` (reader).

A real .om is an opaque, device-specific binary. The stand-in one is a magic
line, one JSON line of metadata (what ATC was asked for: SoC, input/output
names, shapes, dtypes) and then the simplified ONNX bytes, so the stand-in
ais_bench can compute real outputs with onnxruntime.
"""

from __future__ import annotations

import json
from pathlib import Path

MAGIC = b"BIT-STANDIN-OM 1\n"


def write_om(path: Path, meta: dict, onnx_bytes: bytes) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(MAGIC + json.dumps(meta).encode() + b"\n" + onnx_bytes)
    tmp.replace(path)


def read_om(path: Path) -> tuple[dict, bytes]:
    data = Path(path).read_bytes()
    if not data.startswith(MAGIC):
        raise ValueError(f"{path} is not an .om made by the stand-in atc")
    head, _, body = data[len(MAGIC):].partition(b"\n")
    return json.loads(head), body


def session(onnx_bytes: bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
