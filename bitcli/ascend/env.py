"""Where ais_bench can run: CANN's environment, the Python that imports it, its release.

:func:`probe` answers once per environment (cached): an environment in which
``import ais_bench, aclruntime`` works and CANN is present (this process's, or
the one after ``source set_env.sh``), the Python to use, and the ais_bench
release (:mod:`bitcli.ascend.flavours`). When it cannot run, ``reason`` says why
in one line.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitcli.ascend.flavours import MINIMUM, Flavour, flavour_from
from bitcli.tools import cann_env, default_set_env, find_tool

WHEELS_HINT = ("install the aclruntime and ais_bench wheels (tools 2022-11 or newer; e.g. `msit install benchmark`, "
               "or the wheels of Ascend/tools ais-bench_workload) for this Python, source CANN's set_env.sh, "
               "or use --backend onnxruntime")
# Printed by the child: the package version and whether tools 2025's ais_bench.infer.common exists.
_LAYOUT = ("import json, importlib.util as u\n"
           "from importlib import metadata\n"
           "try:\n    v = metadata.version('ais_bench')\nexcept Exception:\n    v = None\n"
           "print(json.dumps({'version': v, 'common': u.find_spec('ais_bench.infer.common') is not None}))\n")


@dataclass(frozen=True)
class AisProbe:
    """How to run ais_bench here: the environment, Python and release, or why it cannot run."""

    env: dict[str, str] | None
    python: str | None
    reason: str | None
    sourced: bool = False
    flavour: Flavour | None = None
    version: str | None = None     # the package's own version (0.0.2 for every release)

    def describe(self) -> str:
        """``ais_bench 0.0.2 (tools 2025)`` for doctor and reports."""
        if self.flavour is None:
            return "ais_bench not usable"
        return f"ais_bench {self.version or '?'} ({self.flavour.label})"


def set_env_path(extra: dict[str, Any] | None = None) -> str:
    """``ascend.set_env``: the backend options' ``extra['set_env']``, else $BIT_SET_ENV, else CANN's default."""
    return str((extra or {}).get("set_env") or default_set_env())


def probe(set_env: str | None = None) -> AisProbe:
    """Find an environment where ais_bench and aclruntime import and CANN is present, and the release."""
    set_env = set_env or set_env_path()
    # The whole environment is the key: set_env.sh may read any variable of it.
    return _probe(set_env, tuple(sorted(os.environ.items())))


@functools.lru_cache(maxsize=16)
def _probe(set_env: str, _key: tuple[tuple[str, str], ...]) -> AisProbe:
    here = dict(os.environ)
    cann_here = bool(here.get("ASCEND_TOOLKIT_HOME") or here.get("ASCEND_HOME_PATH") or find_tool("atc"))
    error = _import_error(sys.executable, here)
    if error is None and cann_here:
        return _with_flavour(here, sys.executable, sourced=False)
    if Path(set_env).is_file():
        env = cann_env(set_env)
        pythons = [sys.executable] + [p for p in [find_tool("python3", env)] if p and p != sys.executable]
        for python in pythons:
            sourced_error = _import_error(python, env)
            if sourced_error is None:
                return _with_flavour(env, python, sourced=True)
            error = sourced_error
        return AisProbe(None, None, f"ais_bench/aclruntime are not importable, even after sourcing {set_env}: "
                                    f"{_explain_import(error)}")
    if error is not None:
        return AisProbe(None, None, f"ais_bench/aclruntime are not importable by {sys.executable}: {_explain_import(error)}")
    return AisProbe(None, None, f"the CANN toolkit was not found (no {set_env}, ASCEND_TOOLKIT_HOME unset)")


def _explain_import(error: str) -> str:
    """The import error, plus the minimum release when the ais_bench package itself is missing."""
    if "No module named 'ais_bench'" in error:
        return (f"{error} (bit needs the ais_bench package, {MINIMUM} or newer; the older ais_infer.py "
                "script cannot be driven)")
    return error


def _import_error(python: str, env: dict[str, str]) -> str | None:
    """None when ``python`` can import ais_bench and aclruntime in ``env``, else the error's last line."""
    try:
        proc = subprocess.run([python, "-c", "import ais_bench, aclruntime"], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode == 0:
        return None
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit {proc.returncode}"


def probe_env(env: dict[str, str], python: str) -> AisProbe:
    """The probe for an environment the caller already prepared (CANN sourced)."""
    error = _import_error(python, env)
    if error is not None:
        return AisProbe(None, None, f"ais_bench/aclruntime are not importable by {python}: {_explain_import(error)}")
    return _with_flavour(env, python, sourced=False)


def _with_flavour(env: dict[str, str], python: str, *, sourced: bool) -> AisProbe:
    """Ask the package for its version and layout and ``--help`` for its flags (two short runs)."""
    try:
        layout = subprocess.run([python, "-c", _LAYOUT], env=env, capture_output=True, text=True, timeout=60,
                                check=False)
        helped = subprocess.run([python, "-m", "ais_bench", "--help"], env=env, capture_output=True, text=True,
                                timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return AisProbe(None, None, f"ais_bench imports but does not start: {exc}")
    if helped.returncode != 0:
        tail = (helped.stderr or helped.stdout).strip().splitlines()[-1:] or [f"exit {helped.returncode}"]
        return AisProbe(None, None, f"`{python} -m ais_bench --help` fails: {tail[0]} (bit needs the ais_bench "
                                    f"package, {MINIMUM} or newer)")
    try:
        info = json.loads(layout.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        info = {"version": None, "common": False}
    flavour = flavour_from(helped.stdout + helped.stderr, bool(info.get("common")))
    return AisProbe(env, python, None, sourced=sourced, flavour=flavour, version=info.get("version"))
