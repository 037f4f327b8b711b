"""The CPU features that decide an int8 recipe, read at run time.

Why they matter (reference cpu-precision.md): without VNNI, onnxruntime's u8×s8 kernels add pairs of
products in int16 (``vpmaddubsw``) and saturate, so 7-bit weights (``reduce_range``) are needed to stay
exact; with AVX512-VNNI, AVX-VNNI or AMX the products are summed in int32 and ``reduce_range`` only
throws away a bit of weight precision.
"""

from __future__ import annotations

from pathlib import Path

from bitcli.cpu import CPUINFO

INT8_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile",
              "amx_int8", "amx_bf16")


def cpu_flags(cpuinfo: Path = CPUINFO) -> tuple[str, ...]:
    """The int8-relevant flags of the first CPU in ``/proc/cpuinfo`` (empty when it cannot be read);
    read by :mod:`bitcli.cpu`, the one cpuinfo reader."""
    from bitcli.cpu import flag_words, read_cpuinfo

    present = flag_words(read_cpuinfo(cpuinfo))
    return tuple(f for f in INT8_FLAGS if f in present)


def has_int32_dot(flags: tuple[str, ...]) -> bool:
    """True when the CPU sums u8×s8 products in int32 (VNNI or AMX): no int16 saturation."""
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def choose_reduce_range(flags: tuple[str, ...]) -> tuple[bool, str]:
    """reduce_range for this CPU, with the reason recorded in the sidecar."""
    if has_int32_dot(flags):
        return False, "off: the CPU has VNNI/AMX (int32 accumulation, no int16 saturation)"
    if not flags:
        return True, "on: CPU flags unknown, so the safe choice (7-bit weights avoid int16 saturation)"
    return True, "on: no VNNI/AMX, u8×s8 pairs would saturate int16 without 7-bit weights"
