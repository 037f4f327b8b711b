#!/usr/bin/env python3
"""Install bit into the Python that runs this script, reproducibly: `make install`, `make lock`.

Standard library only (it runs before any dependency exists) and Python 3.7 syntax, so that the CANN
Python of an old Ascend host gets a clear refusal instead of a syntax error.

Modes:
  (default)  install torch unless a usable one is present, then ``pip install -c LOCK -e .[EXTRAS]``
             with the lock of this Python and CPU (``requirements/lock-cp311-x86_64.txt``, ...), then
             ``pip check``.
  --newest   the CI's "newest allowed" leg: upgrade every dependency except torch to the newest release
             the ranges in pyproject.toml allow, then print the versions that differ from the lock.
  --lock     regenerate every lock file with ``uv pip compile`` (wheels only, one per Python x CPU).
  --lowest   install the lowest versions the ranges allow (``uv pip compile --resolution lowest-direct``),
             to check that pyproject.toml's lower bounds really work; torch stays as the lock's.

Decisions, written down here because nobody else will:
  * torch is never replaced. An Ascend host's torch is matched to torch_npu and CANN. A torch that
    imports and is at least MIN_TORCH is kept (the lock's torch pin is then not applied); an older or
    broken one stops the install with the fix (a separate virtual environment for bit), unless
    BIT_REPLACE_TORCH=1 says to replace it. Only when no torch is installed is the lock's torch (the CPU
    wheel, 2.13.0) installed.
  * When torch or ais_bench was already there, packages already installed are left out of the
    constraints, so the lock never moves the host's numpy (ais_bench's) or torch's own dependencies;
    pip still upgrades one if bit's lower bound requires it, and ``pip check`` reports any conflict.
  * A Python/CPU pair without a lock installs the newest versions the ranges allow, and says so.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK_DIR = ROOT / "requirements"
MIN_PYTHON = (3, 10)  # every native dependency has wheels on x86_64 and aarch64 from cp310 on
MIN_TORCH = (2, 5)  # bit export: torch.serialization.safe_globals and torch.onnx.export(dynamo=False)
LOCK_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
LOCK_MACHINES = ("x86_64", "aarch64")
TORCH_FILE = "requirements/torch.txt"  # the torch pin, relative to ROOT (so the lock's comments are stable)
TORCH_PIN = [l for l in (ROOT / TORCH_FILE).read_text().splitlines() if l.startswith("torch==")][0]
# The registry's x86_64 torch is the CUDA build; the CPU wheel never needs its CUDA-only packages.
CUDA_ONLY = re.compile(r"^(nvidia-|cuda-|triton==)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--newest", action="store_true", help="upgrade all but torch to the newest allowed")
    mode.add_argument("--lock", action="store_true", help="regenerate requirements/lock-*.txt with uv")
    mode.add_argument("--lowest", action="store_true", help="install the lowest allowed versions (needs uv)")
    parser.add_argument("--extras", default="test", help="extras of bitcli to install (default: test)")
    args = parser.parse_args(argv)
    if sys.version_info[:2] < MIN_PYTHON:
        return _fail(
            "bit needs Python >= %d.%d, this is %d.%d" % (MIN_PYTHON + tuple(sys.version_info[:2])),
            "create a virtual environment with python3.10 or newer for bit; ais_bench can stay in CANN's "
            "Python: bit runs it through `python3 -m ais_bench` with the CANN environment sourced",
        )
    if args.lock:
        return write_locks()
    if args.newest:
        return install_newest(args.extras)
    if args.lowest:
        return install_lowest(args.extras)
    return install_locked(args.extras)


# --------------------------------------------------------------------------- locked install
def install_locked(extras: str) -> int:
    lock = lock_path()
    pins = read_lock(lock) if lock.is_file() else {}
    if not pins:
        print("note: no lock for %s: installing the newest versions pyproject.toml allows" % lock.name)
    installed = {name: installed_version(name) for name in list(pins) + ["ais_bench"]}
    plan = install_plan(pins, torch_status(), {k: v for k, v in installed.items() if v is not None},
                        os.environ.get("BIT_REPLACE_TORCH") == "1")
    if plan.error:
        return _fail(*plan.error)
    for line in plan.notes:
        print(line)
    if plan.torch_spec:
        _pip("install", plan.torch_spec)
    with tempfile.TemporaryDirectory() as tmp:
        cfile = Path(tmp) / "constraints.txt"
        cfile.write_text("".join("%s==%s\n" % kv for kv in sorted(plan.constraints.items())))
        _pip("install", "-c", str(cfile), "-e", "%s[%s]" % (ROOT, extras) if extras else str(ROOT))
    _pip("check")
    differ = lock_differences(pins)
    if differ:
        print("differs from %s: %s" % (lock.name, "; ".join(differ)))
    return 0


class Plan:
    """What a locked install does: the torch to install (or none), the constraints, notes, or an error."""

    def __init__(self, torch_spec=None, constraints=None, notes=(), error=None):
        self.torch_spec = torch_spec
        self.constraints = constraints or {}
        self.notes = list(notes)
        self.error = error


def install_plan(pins: dict, torch_state: str, installed: dict, replace_torch: bool) -> Plan:
    """Decide the install from the lock's pins, the torch found, and what is installed already.

    Args:
        pins: {name: version} of the lock (empty without a lock).
        torch_state: :func:`torch_status`'s answer.
        installed: {name: version} of the lock's packages (and ais_bench) installed now.
        replace_torch: BIT_REPLACE_TORCH=1 was set.
    """
    torch_pin = "torch==" + pins.get("torch", TORCH_PIN.split("==")[1])
    constraints = {k: v for k, v in pins.items() if k != "torch"}
    notes, spec = [], None
    if torch_state == "absent":
        spec = torch_pin
        notes.append("installing %s (no torch in this environment)" % spec)
    elif torch_state.startswith("keep "):
        notes.append("keeping the installed torch %s (bit needs >= %d.%d); the lock's torch pin is not applied"
                     % ((torch_state[5:],) + MIN_TORCH))
    elif replace_torch:
        spec = torch_pin
        notes.append("replacing the installed torch (%s) because BIT_REPLACE_TORCH=1" % torch_state)
    else:
        return Plan(error=(
            "the installed torch is not usable by bit: %s" % torch_state,
            "bit will not replace it (an Ascend host's torch is matched to torch_npu and CANN): install bit in "
            "its own environment (python3 -m venv ~/.venvs/bit && . ~/.venvs/bit/bin/activate && make install), "
            "or set BIT_REPLACE_TORCH=1 to replace it here"))
    if torch_state != "absent" or "ais_bench" in installed:
        kept = sorted(k for k in constraints if k in installed)
        for name in kept:
            del constraints[name]
        if kept:
            notes.append("left as installed (this environment had torch or ais_bench already): " + ", ".join(kept))
    return Plan(spec, constraints, notes)


def install_newest(extras: str) -> int:
    """Every dependency but torch to the newest release the declared ranges allow, then pip check."""
    torch = installed_version("torch")
    with tempfile.TemporaryDirectory() as tmp:
        cfile = Path(tmp) / "constraints.txt"
        cfile.write_text("torch==%s\n" % torch if torch else "")
        target = "%s[%s]" % (ROOT, extras) if extras else str(ROOT)
        _pip("install", "--upgrade", "--upgrade-strategy", "eager", "-c", str(cfile), "-e", target)
    _pip("check")
    lock = lock_path()
    differ = lock_differences(read_lock(lock)) if lock.is_file() else []
    print("newest allowed, differs from %s: %s" % (lock.name, "; ".join(differ) if differ else "nothing"))
    return 0


def install_lowest(extras: str) -> int:
    """The lowest versions of bit's direct dependencies that the ranges allow, for this Python and CPU."""
    if torch_status() == "absent":
        _pip("install", TORCH_PIN)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lowest.txt"
        argv = [sys.executable, "-m", "uv", "pip", "compile", "pyproject.toml", "--extra", extras or "test",
                "-c", TORCH_FILE, "--resolution", "lowest-direct", "--only-binary", ":all:", "--no-header",
                "--quiet", "-o", str(out)]
        if subprocess.call(argv, cwd=str(ROOT)) != 0:
            return _fail("uv could not resolve the lowest allowed versions", "is uv installed? pip install uv")
        out.write_text(_drop_cuda_only(out.read_text()))
        _pip("install", "-c", str(out), "-e", "%s[%s]" % (ROOT, extras) if extras else str(ROOT))
    _pip("check")
    return 0


# --------------------------------------------------------------------------- lock files
def lock_path(python: str = "", machine: str = "") -> Path:
    """``requirements/lock-cp311-x86_64.txt`` for this interpreter (or the given Python and CPU)."""
    python = python or "%d.%d" % sys.version_info[:2]
    machine = machine or {"arm64": "aarch64", "amd64": "x86_64"}.get(platform.machine().lower(), platform.machine())
    return LOCK_DIR / ("lock-cp%s-%s.txt" % (python.replace(".", ""), machine))


def read_lock(path: Path) -> dict:
    """{normalised name: version} of every ``name==version`` line of a lock file."""
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line.strip())
        if match:
            pins[_norm(match.group(1))] = match.group(2)
    return pins


def write_locks() -> int:
    """One lock per Python x CPU with uv, from the registry (not this environment), wheels only."""
    for python in LOCK_PYTHONS:
        for machine in LOCK_MACHINES:
            out = lock_path(python, machine)
            argv = [sys.executable, "-m", "uv", "pip", "compile", "pyproject.toml",
                    "--extra", "test", "--extra", "plot", "-c", TORCH_FILE, "--only-binary", ":all:",
                    "--python-version", python, "--python-platform", machine + "-manylinux_2_28",
                    "--no-header", "--quiet", "-o", str(out.relative_to(ROOT))]
            print("locking %s" % out.name)
            if subprocess.call(argv, cwd=str(ROOT)) != 0:
                return _fail("uv could not resolve a wheel-only set for Python %s on %s" % (python, machine),
                             "narrow the ranges in pyproject.toml or drop that Python from LOCK_PYTHONS")
            out.write_text(_drop_cuda_only(out.read_text()))
    return 0


def _drop_cuda_only(text: str) -> str:
    """The lock without CUDA-only packages and their ``# via`` lines (uv writes a block per package)."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if not line.startswith((" ", "#")):
            skipping = bool(CUDA_ONLY.match(line))
        if not skipping:
            kept.append(line)
    return "".join(kept)


def lock_differences(pins: dict) -> list:
    """``name lock -> installed`` for every locked package whose installed version differs."""
    out = []
    for name, version in sorted(pins.items()):
        have = installed_version(name)
        if have is not None and have.split("+")[0] != version:
            out.append("%s %s -> %s" % (name, version, have))
    return out


# --------------------------------------------------------------------------- environment
def torch_status() -> str:
    """'absent', 'keep <version>', or why the installed torch is unusable."""
    version = installed_version("torch")
    if version is None:
        return "absent"
    numbers = tuple(int(x) for x in re.findall(r"\d+", version)[:2])
    if numbers < MIN_TORCH:
        return "torch %s is older than %d.%d" % ((version,) + MIN_TORCH)
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return "torch %s does not import (%s)" % (version, last)
    return "keep " + version


def installed_version(name: str):
    """Installed version of distribution ``name`` in this interpreter, or None."""
    from importlib import metadata

    for candidate in {name, name.replace("-", "_"), name.replace("_", "-")}:
        try:
            return metadata.version(candidate)
        except metadata.PackageNotFoundError:
            continue
    return None


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip(*args: str) -> None:
    argv = [sys.executable, "-m", "pip"] + list(args)
    print("+ " + " ".join(argv), flush=True)
    code = subprocess.call(argv)
    if code != 0:
        sys.exit(_fail("pip %s failed (exit %d)" % (args[0], code), "read pip's message above"))


def _fail(message: str, hint: str) -> int:
    print("error: %s (%s)" % (message, hint), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
