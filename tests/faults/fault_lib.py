"""Helpers for the fault tests: `bit` in a subprocess, real file-system faults, "nothing changed" checks.

Faults are produced at the operating-system boundary, never by patching bit:
a small tmpfs (full disk), a read-only tmpfs (read-only file system),
``RLIMIT_FSIZE`` (a write limit, when mounting is not allowed), real signals
and concurrent processes.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from bit_testlib import ctrl_c_as_in_a_terminal

REPO = Path(__file__).resolve().parents[2]


def bit_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIT_")}
    env.update(COLUMNS="400", PYTHONPATH=str(REPO), **extra)
    return env


def bit_proc(args: list, cwd: Path, *, fsize: int | None = None, timeout: float = 300, **env: str):
    """Run ``python -m bitcli ARGS`` in ``cwd``; ``fsize`` caps any file it writes (RLIMIT_FSIZE)."""

    def limit() -> None:
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-m", "bitcli", *map(str, args)], cwd=cwd, env=bit_env(**env),
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limit)


def bit_popen(args: list, cwd: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bitcli", *map(str, args)], cwd=cwd, env=bit_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_as_in_a_terminal)


def one_line_failure(proc, *fragments: str, code: int | None = None) -> str:
    """The run failed with exactly one ``error:`` line holding ``fragments`` and no traceback; returns stderr."""
    text = proc.stdout + proc.stderr if hasattr(proc, "stdout") else proc.output
    rc = proc.returncode if hasattr(proc, "returncode") else proc.exit_code
    assert (rc != 0) if code is None else (rc == code), text
    assert "Traceback" not in text and "internal error" not in text, text
    if rc == 2 and not any(line.startswith("error:") for line in text.splitlines()):  # typer's own usage box
        assert "Invalid value" in text or "Error" in text, text
    else:  # bit's one line (a usage error found by bit's own checks is exit 2 too)
        errors = [line for line in text.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


def tree_state(folder: Path) -> dict[str, str]:
    """relative path → sha256 of every file under ``folder`` (for "no user file changed").

    bit's own workdir lock (``.bit.lock``, empty) is not a user file and is left out.
    """
    folder = Path(folder)
    state = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.name.startswith(".bit.lock"):
            state[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def mount_tmpfs(target: Path, size: str, *, read_only: bool = False) -> None:
    target.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(target)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}): needs root with CAP_SYS_ADMIN")


def unmount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


@contextmanager
def small_fs(target: Path, size: str) -> Iterator[Path]:
    """A ``size`` tmpfs at ``target`` (a full disk to order)."""
    mount_tmpfs(target, size)
    try:
        yield target
    finally:
        unmount(target)


@contextmanager
def read_only_copy(source: Path, target: Path) -> Iterator[Path]:
    """``source``'s files on a tmpfs at ``target``, then remounted read-only (EROFS for every write)."""
    mount_tmpfs(target, "256m")
    try:
        shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
        done = subprocess.run(["mount", "-o", "remount,ro", str(target)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot remount read-only: {done.stderr.strip()}")
        yield target
    finally:
        unmount(target)
