"""`bit doctor`: what this host has for each stage, what a missing part blocks, and the fix.

Nothing here changes the host. Package versions come from their metadata
(torch is never imported); CANN, atc, npu-smi and ais_bench are probed with
the same helpers the real stages use, so doctor sees what they would see.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path
from typing import Any

from bitcli.errors import BitError

DATA_BYTES = 2 * 1024**3  # `bit data`: 10,000 × 196,608 B ≈ 1.97 GB of .bin files
PACKAGES = {
    "torch": ("export; infer/bench --backend torch", "pip install torch (CPU wheel: --index-url https://download.pytorch.org/whl/cpu)"),
    "onnx": ("export, simplify", "pip install onnx"),
    "onnxsim": ("simplify", "pip install onnxsim"),
    "onnxruntime": ("export check; infer/eval/bench --backend onnxruntime", "pip install onnxruntime"),
}
ASCEND_AFFECTS = "atc; infer/bench --backend ascend"
# Optional extras: absent is a fact ("info"), not a fault; their fix names the extra.
OPTIONAL = {
    "openvino": ("backend openvino (fastest CPU path: bf16, int8)", "pip install 'bitcli[openvino]' (x86_64)"),
    "nncf": ("int8 quantization with NNCF (bit quantize --engine nncf)", "pip install 'bitcli[openvino]' (x86_64)"),
}


@dataclass
class DoctorCheck:
    """One row: what was looked for, what was found, and what it means."""

    name: str
    status: str              # ok | missing | broken | warn | info
    found: str
    affects: str = ""
    fix: str = ""


@dataclass
class DoctorResult:
    """Every check, and whether the chosen backend can run."""

    backend: str
    backend_ok: bool
    backend_reason: str | None
    checks: list[DoctorCheck] = field(default_factory=list)


def check_host(*, backend: str, set_env: str, workdir: Path, devices: tuple[int, ...] = (0,)) -> DoctorResult:
    """Probe Python packages, CANN, atc, npu-smi, ais_bench and disk space.

    Args:
        backend: the configured backend (auto | ascend | onnxruntime | openvino | torch).
        set_env: CANN's set_env.sh (``ascend.set_env``).
        workdir: where artefacts go (free space is checked there).
        devices: ``ascend.devices``, compared with what npu-smi lists.

    Returns:
        :class:`DoctorResult`; ``backend_ok`` decides doctor's exit status.
    """
    checks = [DoctorCheck("python", "ok", f"{sys.version.split()[0]} ({sys.executable})")]
    checks += [_package(name) for name in PACKAGES]
    checks += [_cpu(), *(_optional(name) for name in OPTIONAL)]
    checks += _guarded("CANN set_env.sh", lambda: _cann(set_env))
    checks += _guarded("npu-smi", lambda: _npu(set_env, devices))
    checks += _guarded("ais_bench", lambda: [_ais(set_env)])
    checks.append(_disk(workdir))
    chosen, ok, reason = _backend_verdict(backend, set_env)
    return DoctorResult(chosen, ok, reason, checks)


def _guarded(name: str, probe: Any) -> list[DoctorCheck]:
    """Run one probe; a probe that fails (e.g. set_env.sh exits non-zero) becomes a 'broken' row, never an abort."""
    from bitcli.errors import BitError

    try:
        return probe()
    except BitError as exc:
        return [DoctorCheck(name, "broken", exc.message, ASCEND_AFFECTS, exc.hint or "")]


def _package(name: str) -> DoctorCheck:
    affects, fix = PACKAGES[name]
    if util.find_spec(name) is None:
        return DoctorCheck(name, "missing", "not installed", affects, fix)
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        version = "installed"
    if name == "onnxruntime":
        try:
            import onnxruntime

            version += " — providers: " + ", ".join(onnxruntime.get_available_providers())
        except Exception as exc:  # a broken wheel: say so instead of crashing doctor
            return DoctorCheck(name, "missing", f"{version}, import fails: {exc}", affects, fix)
    return DoctorCheck(name, "ok", version)


def _cpu() -> DoctorCheck:
    """The CPU features that decide the CPU backends' precisions (bitcli.cpu)."""
    from bitcli.cpu import detect

    info = detect()
    found = f"{info.model} ({info.arch}): {info.feature_line()} → precisions {', '.join(info.precisions())}"
    if info.why_not("bf16"):
        return DoctorCheck("CPU", "info", found, "precision bf16", "bf16 needs AVX512-BF16 or AMX (x86); use fp32 or int8")
    return DoctorCheck("CPU", "ok", found)


def _optional(name: str) -> DoctorCheck:
    affects, fix = OPTIONAL[name]
    if util.find_spec(name) is None:
        return DoctorCheck(name, "info", "not installed (optional)", affects, fix)
    try:
        return DoctorCheck(name, "ok", metadata.version(name))
    except metadata.PackageNotFoundError:
        return DoctorCheck(name, "ok", "installed")


def _cann(set_env: str) -> list[DoctorCheck]:
    from bitcli.tools import find_tool, run_tool, tool_env

    fix = "install the CANN toolkit, or set ascend.set_env / BIT_SET_ENV to its set_env.sh"
    script = Path(set_env)
    rows = [DoctorCheck("CANN set_env.sh", "ok" if script.is_file() else ("info" if find_tool("atc") else "missing"),
                        str(script) if script.is_file() else f"not found at {script}",
                        "" if script.is_file() else ASCEND_AFFECTS, "" if script.is_file() else fix)]
    try:
        env, atc = tool_env("atc", set_env)
        res = run_tool([atc, "--help"], env=env, timeout=120)
    except BitError as exc:
        rows.append(DoctorCheck("atc", "missing", exc.message, "atc", exc.hint or fix))
        return rows
    if not res.ok:
        rows.append(DoctorCheck("atc", "missing", f"{atc} does not start: {res.tail(1)}", "atc",
                                f"source {set_env}; check the driver libraries under /usr/local/Ascend/driver"))
        return rows
    version = _toolkit_version(env.get("ASCEND_TOOLKIT_HOME") or env.get("ASCEND_HOME_PATH"))
    rows.append(DoctorCheck("atc", "ok", f"{atc}" + (f" (CANN {version})" if version else "")))
    rows.append(DoctorCheck("CANN version", "ok" if version else "info",
                            version or "not found (no version.cfg or *install.info under ASCEND_TOOLKIT_HOME)"))
    return rows


def _toolkit_version(home: str | None) -> str | None:
    """Best effort: ``version=`` from the toolkit's version.cfg / *install.info files."""
    if not home:
        return None
    root = Path(home)
    for candidate in [root / "version.cfg", *sorted(root.glob("*/ascend_toolkit_install.info"))]:
        try:
            for line in candidate.read_text(errors="replace").splitlines():
                key, _, value = line.partition("=")
                if key.strip().lower() in ("version", "toolkit_version") and value.strip():
                    return value.strip().strip('"')
        except OSError:
            continue
    return None


def _npu(set_env: str, devices: tuple[int, ...]) -> list[DoctorCheck]:
    from bitcli.ascend.npu_smi import board_chip_name, chip_from_table, query_devices

    try:
        table = query_devices(set_env)
    except BitError as exc:
        return [DoctorCheck("npu-smi", "missing", exc.message, "atc --chip auto; infer/bench --backend ascend",
                            "install the Ascend driver (npu-smi), or pass --chip to atc on a build host")]
    listing = "; ".join(f"NPU {d.npu_id} chip {d.chip}: {d.name} device {d.device_id if d.device_id is not None else '?'} "
                        f"{d.health}" for d in table.devices) or "no chips listed"
    driver = [DoctorCheck("driver", "ok" if table.driver_version else "info",
                          table.driver_version or "version not shown by npu-smi info")]
    try:
        chip = chip_from_table(table, board=lambda npu, c: board_chip_name(npu, c, set_env))
    except BitError as exc:
        return [DoctorCheck("npu-smi", "warn", listing, "atc --chip auto", exc.hint or exc.message), *driver]
    rows = [DoctorCheck("npu-smi", "ok", f"{listing} → soc_version Ascend{chip}"), *driver]
    known = {d.device_id for d in table.devices}
    unknown = [d for d in devices if d not in known]
    unhealthy = [d for d in table.devices if d.device_id in devices and d.health.upper() != "OK"]
    if unknown or unhealthy:
        found = (f"ascend.devices {list(devices)}: " + (f"not listed: {unknown}" if unknown else "")
                 + (f" health {', '.join(d.health for d in unhealthy)}" if unhealthy else ""))
        rows.append(DoctorCheck("ascend.devices", "warn", found.strip(), "infer/bench --backend ascend",
                                f"set ascend.devices (env BIT_DEVICES) to listed ids: {sorted(k for k in known if k is not None)}"))
    return rows


def _ais(set_env: str) -> DoctorCheck:
    from bitcli.ascend.env import WHEELS_HINT, probe

    found = probe(set_env)
    if found.reason:
        return DoctorCheck("ais_bench + aclruntime", "missing", found.reason, "infer/bench --backend ascend", WHEELS_HINT)
    how = f" (after sourcing {set_env})" if found.sourced else ""
    return DoctorCheck("ais_bench + aclruntime", "ok", f"{found.describe()}, importable by {found.python}{how}")


def _disk(workdir: Path) -> DoctorCheck:
    probe_dir = Path(workdir).resolve()
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    free = shutil.disk_usage(probe_dir).free
    found = f"{free / 1024**3:.1f} GB free at {probe_dir}"
    if free >= DATA_BYTES:
        return DoctorCheck("disk (workdir)", "ok", found)
    return DoctorCheck("disk (workdir)", "warn", found + " (bit data needs ~2 GB)", "data",
                       "free space, choose another --workdir, or use `bit data --limit N`")


def _backend_verdict(backend: str, set_env: str) -> tuple[str, bool, str | None]:
    """(backend that would run, whether it can, why not) — the same selection every command makes."""
    from bitcli.backends.base import select_backend
    from bitcli.errors import BitError

    try:
        cls, _ = select_backend(backend, {"set_env": set_env})
    except BitError as exc:
        return backend, False, exc.message
    return cls.name, True, None
