"""Post-training int8 quantization behind one engine contract (``bit quantize``).

An engine is a function::

    quantize(fp32_onnx: Path, calib: numpy.ndarray [N,3,H,W] float32, out: Path, *,
             method: str, exclude: tuple[str, ...], options: dict) -> dict

that writes the quantized model to ``out`` and returns the recipe to record in the sidecar. Engines are
looked up by name in :data:`ENGINES` ("module:function", imported only when used, so ``bit --help``
never imports onnxruntime or nncf). The accuracy guard (:mod:`bitcli.quant.guard`) measures whatever an
engine wrote against fp32 on held-out images and is the same for every engine.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

ENGINES: dict[str, str] = {
    "onnxruntime": "bitcli.quant.ort_engine:quantize",
    "nncf": "bitcli.quant.nncf_engine:quantize",
}


def engine(name: str) -> Callable[..., dict[str, Any]]:
    """The quantize function registered under ``name``.

    Raises:
        ConfigError: an unknown engine (with the nearest name), or one whose module is missing.
    """
    from bitcli.errors import ConfigError

    if name not in ENGINES:
        import difflib

        near = difflib.get_close_matches(name, list(ENGINES), n=1)
        raise ConfigError(f"unknown quantization engine '{name}'" + (f" (did you mean '{near[0]}'?)" if near else ""),
                          hint="engines: " + ", ".join(ENGINES))
    module_name, _, func = ENGINES[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # a dependency of the engine: its own error names the package
        raise ConfigError(f"quantization engine '{name}' is not part of this bit ({module_name} is missing)",
                          hint="use --engine onnxruntime") from None
    return getattr(module, func)
