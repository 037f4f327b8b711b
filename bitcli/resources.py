"""Host resources a run must check before it starts: memory, one bit per workdir, stale temporary files.

* Memory: sizes come from the user (``--bs``, ``--image-size``, ``--synthetic``),
  so a run estimates what it will allocate and refuses before allocating, with
  the figure, instead of dying in the allocator or the OOM killer.
* Lock: ``WORKDIR/.bit.lock`` (``filelock``) makes a second ``bit`` on the same
  workdir stop at once with "another bit (pid N) is using WORKDIR", instead of
  two runs replacing each other's files.
* Stale files: temporary names carry the writer's pid (``.NAME.PID.*.part``);
  a file whose pid is no longer alive is left by a killed run, and the next
  run writing the same artefact removes it.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bitcli.errors import BitError, ConfigError, human_bytes

LOCK_NAME = ".bit.lock"
MAX_BATCH = 4096  # ais_bench refuses larger batch sizes (reference ascend-tools.md)


class Busy(BitError):
    """Another bit process holds the workdir."""


def _proc_kib(path: str, key: str) -> int | None:
    """A ``KEY:  N kB`` line of a Linux /proc file in bytes, None where there is none."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), None when unknown."""
    found = _proc_kib("/proc/meminfo", "MemAvailable")
    if found is not None:
        return found
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def resident_bytes(peak: bool = False) -> int:
    """Bytes this process holds now (Linux VmRSS), or with ``peak`` the most it has held (VmHWM, its own:
    unlike a parent's ``wait4`` ru_maxrss, which Linux raises to the parent's peak at exec); elsewhere its
    peak so far (``ru_maxrss``), never less."""
    found = _proc_kib("/proc/self/status", "VmHWM" if peak else "VmRSS")
    if found is not None:
        return found
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def check_memory(need: int, what: str, hint: str) -> None:
    """Refuse a run whose estimated allocation ``need`` exceeds the available memory.

    Args:
        need: estimated bytes.
        what: what needs them (e.g. "bs 100000 at 128 px, 4 batches in flight").
        hint: the fix.

    Raises:
        ConfigError: naming the estimate and what is available.
    """
    have = available_memory()
    if have is not None and need > have:
        raise ConfigError(f"{what} needs about {human_bytes(need)} of memory, {human_bytes(have)} is available",
                          hint=hint)


def batch_bytes(bs: int, image_size: int) -> int:
    """float32 bytes of one N x 3 x S x S input batch."""
    return 4 * 3 * int(bs) * int(image_size) ** 2


def writable_problem(path: Path) -> str | None:
    """Why nothing can be written at ``path`` (a folder, existing or to be made), or None.

    Checks the nearest existing folder: a file in the way, a read-only file
    system (root ignores permissions, not a read-only mount), no permission.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        if os.statvfs(existing).f_flag & os.ST_RDONLY:
            return f"{existing} is on a read-only file system"
    except OSError:
        pass
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"no write permission on {existing}"
    return None


# --------------------------------------------------------------------------- one bit per workdir


def _holder(lock_file: Path) -> str:
    try:
        pid = lock_file.with_name(lock_file.name + ".pid").read_text().strip()
    except OSError:
        return "?"
    return pid if pid.isdigit() else "?"


@contextmanager
def workdir_lock(folder: Path) -> Iterator[None]:
    """Hold ``FOLDER/.bit.lock`` while the block runs; refuse at once when another bit holds it.

    Nothing is locked when the folder does not exist and cannot be created
    (read-only file system): the command's own write then fails with its message.

    Raises:
        Busy: "another bit (pid N) is using FOLDER".
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / LOCK_NAME), timeout=0)
        lock.acquire()
    except Timeout:
        raise Busy(f"another bit (pid {_holder(folder / LOCK_NAME)}) is using {folder}",
                   hint="wait for it to finish, or use another --workdir") from None
    except OSError:  # read-only or vanished: no lock possible, the command reports its own fault
        yield
        return
    pid_file = folder / (LOCK_NAME + ".pid")
    try:
        try:
            pid_file.write_text(f"{os.getpid()}\n")
        except OSError:
            pass
        yield
    finally:
        try:
            pid_file.unlink(missing_ok=True)
        except OSError:
            pass
        lock.release()


_HELD: dict[str, object] = {}


def hold_workdir(folder: Path, *, create: bool = True) -> None:
    """Take the workdir lock for the rest of the command (released by :func:`release_held`).

    Args:
        folder: the workdir.
        create: make the folder when missing (commands that write there); otherwise a
            missing folder is not locked (nothing there to protect).

    Raises:
        Busy: another bit holds it.
    """
    folder = Path(folder).resolve()
    if str(folder) in _HELD or (not create and not folder.is_dir()):
        return
    manager = workdir_lock(folder)
    manager.__enter__()
    _HELD[str(folder)] = manager


def release_held() -> None:
    """Release every lock :func:`hold_workdir` took (the CLI boundary calls this when a command ends)."""
    while _HELD:
        _, manager = _HELD.popitem()
        manager.__exit__(None, None, None)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- stale temporary files


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists (ours or another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_TEMP_PID = re.compile(r"\.(\d+)\.[^.]*\.(part|partial)$")


def remove_stale_temps(folder: Path, name: str) -> list[Path]:
    """Remove ``.{name}.*.part`` / ``.partial`` left in ``folder`` by writers that are no longer alive.

    Temporary names written by this version carry the writer's pid; older
    names without one count as stale only when their pid field is absent
    and they are older than an hour (a live writer of an older version
    could still own a fresh one).

    Returns:
        The paths removed.
    """
    import shutil
    import time

    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.glob(f".{name}.*"):
        if not path.name.endswith((".part", ".partial")):
            continue
        match = _TEMP_PID.search(path.name)
        if match:
            stale = not pid_alive(int(match.group(1)))
        else:
            try:
                stale = time.time() - path.lstat().st_mtime > 3600
            except OSError:
                continue
        if not stale:
            continue
        try:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def temp_prefix(name: str) -> str:
    """The start of a temporary name for ``name`` written by this process: ``.NAME.PID.``."""
    return f".{name}.{os.getpid()}."
