"""Folder modes and path-security refusals of ais_bench (reference/ascend-tools.md §2.8, §8.1–8.2).

ait 2024 and tools 2025 refuse symlinks, paths owned by someone else, group- or
other-writable files and folders, and names outside ``[A-Za-z0-9_\\-/.]``; tools
2025 also refuses an existing ``--output`` folder with any mode bit beyond
0o750 (a 0755 ``result/`` left by an onnxruntime run included). So bit:

* creates every folder it hands to ais_bench at 0o750 (:func:`make_folder`);
* checks a folder it did not create before the run and names the exact fix
  (:func:`output_folder_problem`), never changing its mode itself;
* explains an ``… is illegal`` refusal by looking at the path (:func:`illegal_path`).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from bitcli.ascend.flavours import Flavour
from bitcli.errors import DataError

FOLDER_MODE = 0o750
SAFE_PATH = re.compile(r"^[A-Za-z0-9_\-/.]+$")


def make_folder(path: Path) -> Path:
    """Create ``path`` (and missing parents) at 0o750; an existing folder is left as it is."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is masked by the umask; this folder is ours
    return path


def output_folder_problem(path: Path, flavour: Flavour) -> DataError | None:
    """Why ``flavour`` would refuse the existing output folder ``path`` (None: it accepts it).

    The fix names the exact mode: ``chmod 750`` for tools 2025 (``go-w`` is not enough there).
    """
    path = Path(path)
    if flavour.output_mode_max is None or not path.is_dir():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    extra = mode & ~flavour.output_mode_max & 0o777
    if not extra:
        return None
    want = mode & flavour.output_mode_max
    return DataError(
        f"ais_bench ({flavour.label}) refuses the output folder {path}: mode {mode:o} has bits beyond "
        f"{flavour.output_mode_max:o} (it would exit with 'output path:… is illegal')",
        hint=f"chmod {want:o} {path}   (bit does not change the mode of a folder it did not create)",
    )


def illegal_path(path: str, *, for_output: bool = False, flavour: Flavour | None = None) -> tuple[str, str]:
    """The real reason ais_bench refused ``path``, and the fix: characters, existence, symlink, owner, mode."""
    p = Path(path)
    if not SAFE_PATH.match(os.path.abspath(path)):
        return (f"ais_bench refuses the path {path}: only letters, digits, _ - / . are allowed",
                "move the workdir/data to a path without spaces or other special characters")
    if p.is_symlink():
        return (f"ais_bench refuses {path} because it is a symbolic link",
                "replace the link by the real file or folder (copy it, or point --input/--workdir at the target)")
    if not p.exists():
        return (f"{path} does not exist (ais_bench: invalid input or output path)",
                "run `bit data` first, or pass an existing --input folder")
    st = p.stat()
    if st.st_uid != os.getuid() and st.st_gid not in os.getgroups():
        return (f"ais_bench refuses {path} because it is owned by uid {st.st_uid}, not by you (uid {os.getuid()})",
                f"chown {os.getuid()} {path} (or run as its owner, or copy the data to a folder you own)")
    mode = stat.S_IMODE(st.st_mode)
    if for_output and flavour is not None and flavour.output_mode_max is not None and mode & ~flavour.output_mode_max:
        return (f"ais_bench ({flavour.label}) refuses the output folder {path}: mode {mode:o} has bits beyond "
                f"{flavour.output_mode_max:o}", f"chmod {mode & flavour.output_mode_max:o} {path}")
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        where = p.parent if p.is_file() else p
        return (f"ais_bench refuses {path} because it is writable by group or others (mode {mode:o})",
                f"chmod -R go-w {where} (and use umask 022 when writing data)")
    return (f"ais_bench refuses the path {path}, which is yours, not a link and not group/other-writable",
            "check that it is readable (and the folder writable for --output), then rerun with -v to see the command")
