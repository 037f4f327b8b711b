"""CPU feature detection from /proc/cpuinfo texts written here (real kernels' spellings)."""

from __future__ import annotations

from pathlib import Path

from bitcli.cpu import detect, parse_cpuinfo

# An AVX2-only EPYC (Zen 2), abridged from a real /proc/cpuinfo; two processor blocks.
AVX2_ONLY = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme de pse tsc msr sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni

processor\t: 1
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme de pse tsc msr sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni
"""

# Zen 4 (the shared measurements' machine A): AVX-512 with VNNI and BF16, no AMX.
VNNI_BF16 = """processor\t: 0
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vnni
"""

# Sapphire Rapids: AMX tiles, but (as on some hypervisors) no avx512_bf16 flag.
AMX = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8
"""

# Kunpeng 920 on an Ascend host: no model name line, only implementer/part numbers.
KUNPENG = """processor\t: 0
BogoMIPS\t: 200.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma dcpop asimddp asimdfhm
CPU implementer\t: 0x48
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd01
CPU revision\t: 0
"""

# A newer Arm server with SVE, BF16 and I8MM (Neoverse V1 spelling).
NEOVERSE_V1 = """processor\t: 0
Features\t: fp asimd aes sha2 crc32 atomics asimddp sve svebf16 svei8mm bf16 i8mm
CPU implementer\t: 0x41
CPU part\t: 0xd40
"""


def test_avx2_only_cpu_is_offered_fp32_and_int8_but_refused_bf16():
    info = parse_cpuinfo(AVX2_ONLY, "x86_64")
    assert info.model == "AMD EPYC 7B12"
    assert info.flags == {"avx2"}
    assert not info.int8_dot and not info.native_bf16
    assert info.precisions() == ("fp32", "int8")
    reason = info.why_not("bf16")
    assert reason is not None and "AVX512-BF16" in reason and "AMD EPYC 7B12" in reason
    assert info.feature_line() == "AVX2"


def test_vnni_bf16_cpu_is_offered_bf16():
    info = parse_cpuinfo(VNNI_BF16, "x86_64")
    assert info.flags == {"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}
    assert info.int8_dot and info.native_bf16
    assert info.precisions() == ("fp32", "int8", "bf16")
    assert info.why_not("bf16") is None
    assert info.feature_line() == "AVX2, AVX-512F, AVX512-VNNI, AVX512-BF16"


def test_amx_alone_gives_bf16():
    info = parse_cpuinfo(AMX, "x86_64")
    assert "avx512_bf16" not in info.flags and {"amx_tile", "amx_bf16", "amx_int8"} <= info.flags
    assert info.native_bf16 and "bf16" in info.precisions()


def test_kunpeng_aarch64_reads_features_and_names_the_chip():
    info = parse_cpuinfo(KUNPENG, "aarch64")
    assert info.arch == "aarch64"
    assert info.model == "HiSilicon Kunpeng-920"
    assert info.flags == {"asimd"}  # asimddp/asimdhp are other features, not "asimd" twice
    assert info.precisions() == ("fp32", "int8")
    assert info.why_not("bf16") is not None
    assert info.feature_line() == "NEON (asimd)"


def test_arm_bf16_flag_is_reported_but_not_offered():
    info = parse_cpuinfo(NEOVERSE_V1, "arm64")  # macOS/Windows spelling of the architecture
    assert info.arch == "aarch64"
    assert info.flags == {"asimd", "sve", "bf16", "i8mm"}
    assert info.int8_dot
    assert "bf16" not in info.precisions()
    assert info.model.startswith("Arm CPU (implementer 0x41")


def test_x86_flags_line_on_aarch64_is_not_read_as_features():
    assert parse_cpuinfo(VNNI_BF16, "aarch64").flags == frozenset()


def test_unreadable_cpuinfo_offers_fp32_and_int8(tmp_path: Path):
    info = detect(tmp_path / "missing")
    assert info.flags == frozenset()
    assert info.precisions() == ("fp32", "int8")


def test_detect_reads_this_host(tmp_path: Path):
    path = tmp_path / "cpuinfo"
    path.write_text(VNNI_BF16)
    info = detect(path)
    assert info.model == "AMD EPYC 9R14 96-Core Processor"
    assert info.flags <= {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "asimd", "sve", "bf16", "i8mm"}
