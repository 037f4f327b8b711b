"""CPU features that decide which numeric precisions a CPU backend is offered.

Read from ``/proc/cpuinfo`` (Linux; the same flags the kernel exposes to every
runtime). Nothing is imported or executed, so ``bit doctor`` and ``backend:
auto`` stay instant.

* x86: the ``flags`` line — ``avx2``, ``avx512f``, ``avx512_vnni`` (int8 dot
  products in one instruction), ``avx512_bf16`` and ``amx_tile`` /
  ``amx_bf16`` / ``amx_int8`` (Sapphire Rapids and later).
* aarch64 (Kunpeng and other Arm servers): the ``Features`` line — ``asimd``
  (NEON), ``sve``, ``bf16``, ``i8mm`` (int8 matrix multiply).

Precisions offered (decision, see cpu-precision.md): ``fp32`` everywhere;
``int8`` everywhere (on x86 without VNNI it is slower and needs a more careful
recipe, but it runs); ``bf16`` only where the CPU computes bf16 natively —
x86 with AVX512-BF16 or AMX-BF16. OpenVINO on aarch64 is not offered bf16 here:
its ARM plugin emulates it and it has not passed our accuracy check there.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
X86_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
ARM_FLAGS = ("asimd", "sve", "bf16", "i8mm")
# How doctor names each flag (the spelling Intel/Arm manuals use).
DISPLAY = {
    "avx2": "AVX2", "avx512f": "AVX-512F", "avx512_vnni": "AVX512-VNNI", "avx512_bf16": "AVX512-BF16",
    "amx_tile": "AMX-TILE", "amx_bf16": "AMX-BF16", "amx_int8": "AMX-INT8",
    "asimd": "NEON (asimd)", "sve": "SVE", "bf16": "BF16", "i8mm": "I8MM",
}


@dataclass(frozen=True)
class CpuInfo:
    """What this CPU offers: architecture, model name and the relevant feature flags."""

    arch: str                            # "x86_64" | "aarch64" | what platform.machine() says
    model: str                           # "AMD EPYC 9R14", "Kunpeng-920" / "HiSilicon 0xd01", or "unknown CPU"
    flags: frozenset[str] = field(default_factory=frozenset)  # only the flags named in X86_FLAGS/ARM_FLAGS

    def has(self, flag: str) -> bool:
        """Whether ``flag`` (a /proc/cpuinfo spelling, e.g. ``avx512_bf16``) was found."""
        return flag in self.flags

    @property
    def native_bf16(self) -> bool:
        """bf16 computed in hardware on x86: AVX512-BF16 or AMX-BF16."""
        return self.arch == "x86_64" and bool(self.flags & {"avx512_bf16", "amx_bf16"})

    @property
    def int8_dot(self) -> bool:
        """int8 dot products without int16 saturation: AVX512-VNNI, AMX-INT8 or Arm I8MM."""
        return bool(self.flags & {"avx512_vnni", "amx_int8", "i8mm"})

    def precisions(self) -> tuple[str, ...]:
        """Precisions a CPU backend may be asked for here, fastest-last order fp32, int8[, bf16]."""
        return ("fp32", "int8", "bf16") if self.native_bf16 else ("fp32", "int8")

    def why_not(self, precision: str) -> str | None:
        """None when ``precision`` is offered, else one line saying which feature is missing."""
        if precision in self.precisions():
            return None
        if precision == "bf16":
            return (f"this CPU ({self.model}, {self.arch}) has neither AVX512-BF16 nor AMX-BF16, "
                    "so bf16 would be emulated (slower than fp32)")
        return f"precision '{precision}' is not offered on a CPU"

    def feature_line(self) -> str:
        """The relevant flags found, e.g. 'AVX2, AVX-512F, AVX512-VNNI, AVX512-BF16' (or 'none of ...')."""
        wanted = X86_FLAGS if self.arch == "x86_64" else ARM_FLAGS
        found = [DISPLAY[f] for f in wanted if f in self.flags]
        return ", ".join(found) if found else "none of " + ", ".join(DISPLAY[f] for f in wanted)


def parse_cpuinfo(text: str, arch: str) -> CpuInfo:
    """Parse the text of ``/proc/cpuinfo``.

    Args:
        text: the file's content (only the first processor block matters).
        arch: ``platform.machine()`` of the host the text came from.

    Returns:
        :class:`CpuInfo` with the flags of interest and the model name.
    """
    fields = _fields(text)
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch.lower(), arch.lower())
    if arch == "aarch64":
        words = set(fields.get("features", "").split())
        wanted = ARM_FLAGS
    else:
        words = set(fields.get("flags", "").split())
        wanted = X86_FLAGS
    return CpuInfo(arch=arch, model=_model_name(fields), flags=frozenset(f for f in wanted if f in words))


def _fields(text: str) -> dict[str, str]:
    """``key: value`` lines of ``/proc/cpuinfo`` with lower-case keys; the first processor block wins."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key and key not in fields:
            fields[key] = value.strip()
    return fields


def flag_words(text: str) -> frozenset[str]:
    """Every word of the first block's ``flags`` (x86) or ``Features`` (Arm) line, unfiltered."""
    fields = _fields(text)
    return frozenset((fields.get("flags") or fields.get("features") or "").split())


def read_cpuinfo(path: Path = CPUINFO) -> str:
    """The text of ``/proc/cpuinfo`` ("" where it cannot be read, e.g. macOS)."""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _model_name(fields: dict[str, str]) -> str:
    """x86 has 'model name'; Arm kernels often show only implementer/part numbers."""
    for key in ("model name", "hardware", "cpu model"):
        if fields.get(key):
            return fields[key]
    implementer, part = fields.get("cpu implementer", ""), fields.get("cpu part", "")
    if implementer == "0x48" and part == "0xd01":
        return "HiSilicon Kunpeng-920"
    if implementer == "0x48":
        return f"HiSilicon (part {part or '?'})"
    if implementer:
        return f"Arm CPU (implementer {implementer}, part {part or '?'})"
    return "unknown CPU"


def detect(path: Path = CPUINFO) -> CpuInfo:
    """This host's CPU (no flags when /proc/cpuinfo cannot be read, e.g. macOS: fp32/int8 only)."""
    info = parse_cpuinfo(read_cpuinfo(path), platform.machine())
    if info.model == "unknown CPU" and platform.processor():
        return CpuInfo(info.arch, platform.processor(), info.flags)
    return info
