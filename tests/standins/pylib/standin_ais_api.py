"""Stand-in ``ais_bench.infer.interface.InferSession`` (reference §2.7, §8.5), backed by onnxruntime.

tools 2022-11 and 2023 have only the misspelled ``sumary()`` whose ``exec_time_list``
holds durations (ms); ait 2024 and tools 2025 have ``summary()`` with
``(start_ms, end_ms)`` pairs.
"""
from __future__ import annotations

import os
import time
from types import SimpleNamespace

import numpy as np
import standin_om


class _Session:
    def __init__(self, device_id: int, model_path: str, acl_json_path: str = None, debug: bool = False, loop: int = 1):
        allowed = [int(x) for x in os.environ.get("STANDIN_NPU_DEVICES", "0,1,2,3").split(",") if x]
        if device_id not in allowed:
            raise RuntimeError(f"acl open device {device_id} failed")
        self.meta, onnx_bytes = standin_om.read_om(model_path)
        self._sess = standin_om.session(onnx_bytes)
        self._t0 = time.perf_counter()
        self._times: list[tuple[float, float]] = []
        self.loop = loop

    def get_inputs(self):
        return [SimpleNamespace(name=d["name"], datatype=d["dtype"], format="NCHW", shape=list(d["shape"]),
                                realsize=int(np.prod(d["shape"])) * 4, size=int(np.prod(d["shape"])) * 4)
                for d in self.meta["inputs"]]

    def infer(self, feeds, mode="static", custom_sizes=100000, out_array=True):
        feed = {}
        for desc, arr in zip(self.meta["inputs"], feeds):
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            if arr.nbytes != np.prod(desc["shape"]) * 4:
                raise RuntimeError(f"Check i:0 name:{desc['name']} in size:{arr.nbytes} "
                                   f"needsize:{int(np.prod(desc['shape'])) * 4} not match")
            feed[desc["name"]] = arr.reshape(desc["shape"])
        for _ in range(self.loop):
            start = (time.perf_counter() - self._t0) * 1000
            outs = self._sess.run(None, feed)
            self._times.append((start, (time.perf_counter() - self._t0) * 1000))
        return outs


class SumarySession(_Session):
    """tools 2022-11 / 2023."""

    def sumary(self):
        return SimpleNamespace(exec_time_list=[end - start for start, end in self._times])

    def reset_sumaryinfo(self):
        self._times = []

    def finalize(self):
        self._sess = None


class SummarySession(_Session):
    """ait 2024 / tools 2025."""

    def summary(self):
        return SimpleNamespace(exec_time_list=list(self._times))

    def reset_summaryinfo(self):
        self._times = []

    def free_resource(self):
        self._sess = None

    @staticmethod
    def finalize():
        return None
