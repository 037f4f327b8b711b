"""PyTorch eager: the reference backend, and the fallback where onnxruntime is missing.

Runs the checkpoint (``model.weights``, or ``random``) through the in-house
ResNetV2 under ``torch.inference_mode()``. This module is named ``torch``
inside ``bitcli.backends``; with absolute imports (``from __future__`` and
Python 3 semantics) ``import torch`` below still means the real PyTorch.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any, Mapping

from bitcli.backends.base import Backend
from bitcli.errors import require


class TorchBackend(Backend):
    """The checkpoint in PyTorch eager mode on CPU."""

    name = "torch"

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self._torch: Any = None
        self._model: Any = None
        self.loaded: Any = None  # bitcli.model.checkpoint.LoadedModel, for provenance

    @classmethod
    def available(cls, context: Mapping[str, Any] | None = None) -> str | None:
        if importlib.util.find_spec("torch") is None:
            return "Python package 'torch' is not installed (pip install torch)"
        return None

    def describe(self) -> str:
        if self._torch is None:
            return "torch eager (cpu)"
        return f"torch eager cpu x{self._torch.get_num_threads()} threads"

    def open(self) -> None:
        self._torch = require("torch", purpose="the torch backend")
        from bitcli.model.checkpoint import load_checkpoint

        if self.options.threads:
            self._torch.set_num_threads(self.options.threads)
        self.loaded = load_checkpoint(
            self.options.model,
            arch=self.options.arch,
            num_classes=self.options.num_classes,
            seed=self.options.seed,
        )
        self._model = self.loaded.model.eval()

    def close(self) -> None:
        self._model = None

    def infer(self, batch: Any) -> Any:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(batch)
            start = time.perf_counter()
            out = self._model(x)
            self.last_latency_ms = (time.perf_counter() - start) * 1000.0
        return out.numpy()

