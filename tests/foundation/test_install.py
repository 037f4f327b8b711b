"""The install contract: bitcli imports only what pyproject.toml declares, and the lock files install.

click once arrived only as typer's dependency; typer 0.26 stopped installing it and a fresh install broke.
These tests read every import under bitcli/ and fail when a third-party module is neither a declared
dependency nor one of the optional modules that cannot be declared (ais_bench/aclruntime exist only on
Ascend hosts and are imported lazily with a clear message when missing).
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

from bit_testlib import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the test extra installs tomli there
    import tomli as tomllib

# Not on any package registry: they come with CANN on an Ascend host; bitcli imports them lazily.
UNDECLARABLE = {"ais_bench", "aclruntime"}
# Import name -> distribution, for modules that are not installed in this interpreter.
ALIAS = {"PIL": "pillow", "yaml": "pyyaml"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions(pyproject: Path) -> set[str]:
    """Runtime dependencies plus every extra but `test` (a user never installs the test extra)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project.get("dependencies", []))
    for extra, items in project.get("optional-dependencies", {}).items():
        if extra != "test":
            reqs += items
    return {_norm(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in reqs}


def declared_for_lock(pyproject: Path, lock: Path) -> set[str]:
    """:func:`declared_distributions` whose environment marker holds on the lock's Python and CPU
    (``lock-cp312-aarch64.txt``: openvino is x86_64 only)."""
    from packaging.markers import Marker

    py, arch = re.match(r"lock-cp3(\d+)-(\w+)\.txt", lock.name).groups()
    env = {"python_version": f"3.{py}", "platform_machine": arch, "sys_platform": "linux", "extra": ""}
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project.get("dependencies", []))
    for extra, items in project.get("optional-dependencies", {}).items():
        reqs += items if extra != "test" else []
    return {_norm(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in reqs
            if ";" not in r or Marker(r.split(";", 1)[1]).evaluate(env)}


def third_party_imports(package: Path) -> dict[str, str]:
    """{top-level module: first 'file:line' importing it} for every absolute import under ``package``."""
    found: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != package.name:
                    found.setdefault(top, f"{path.relative_to(package.parent)}:{node.lineno}")
    return found


def undeclared_imports(package: Path, pyproject: Path) -> dict[str, str]:
    """The imports of ``package`` that no declared distribution provides, with where they are."""
    declared = declared_distributions(pyproject)
    owners = metadata.packages_distributions()
    out = {}
    for module, where in third_party_imports(package).items():
        if module in UNDECLARABLE:
            continue
        dists = {_norm(d) for d in owners.get(module, [ALIAS.get(module, module)])}
        if not dists & declared:
            out[module] = where
    return out


def test_bitcli_imports_only_declared_packages():
    assert undeclared_imports(REPO / "bitcli", REPO / "pyproject.toml") == {}


def _tree(tmp_path: Path, source: str) -> tuple[Path, Path]:
    package = tmp_path / "bitcli"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "mod.py").write_text(source)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "bitcli"\ndependencies = ["typer>=0.12", "PyYAML>=6", "pillow>=9"]\n'
        '[project.optional-dependencies]\nplot = ["matplotlib>=3.5"]\ntest = ["pytest>=7"]\n'
    )
    return package, pyproject


@pytest.mark.parametrize("source, expected", [
    ("import click\n", {"click": "bitcli/sub/mod.py:1"}),  # the typer 0.26 break, in a nested module
    ("import os\n\ndef f():\n    from click.exceptions import Exit\n", {"click": "bitcli/sub/mod.py:4"}),
    ("import pytest\n", {"pytest": "bitcli/sub/mod.py:1"}),  # only a test extra: users don't have it
    ("import not_a_real_module_xyz\n", {"not_a_real_module_xyz": "bitcli/sub/mod.py:1"}),
])
def test_check_finds_undeclared_imports(tmp_path, source, expected):
    package, pyproject = _tree(tmp_path, source)
    assert undeclared_imports(package, pyproject) == expected


@pytest.mark.parametrize("source", [
    "import typer\nimport yaml\nfrom PIL import Image\n",  # declared, under their import names
    "import json, os.path\nfrom bitcli import sub\nfrom . import sub\n",  # stdlib, the package itself
    "def plot():\n    import matplotlib.pyplot\n",  # a non-test extra
    "def run():\n    import ais_bench\n    import aclruntime\n",  # only on Ascend hosts
])
def test_check_accepts_declared_imports(tmp_path, source):
    package, pyproject = _tree(tmp_path, source)
    assert undeclared_imports(package, pyproject) == {}


def test_undeclarable_modules_are_imported_lazily():
    """ais_bench/aclruntime may not be importable: never at module level, so every command still loads."""
    for path in (REPO / "bitcli").rglob("*.py"):
        for node in ast.parse(path.read_text()).body:  # module-level statements only
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            assert not {n.split(".")[0] for n in names} & UNDECLARABLE, f"{path}:{node.lineno}"


# --------------------------------------------------------------------------- lock files
LOCKS = sorted((REPO / "requirements").glob("lock-cp*-*.txt"))


def _pins(path: Path) -> dict[str, str]:
    return {_norm(m.group(1)): m.group(2) for m in re.finditer(r"^([A-Za-z0-9][\w.-]*)==(\S+)", path.read_text(), re.M)}


def test_a_lock_exists_for_each_supported_python_and_cpu():
    names = {p.name for p in LOCKS}
    for py in ("310", "311", "312", "313"):
        for arch in ("x86_64", "aarch64"):
            assert f"lock-cp{py}-{arch}.txt" in names


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_lock_pins_every_declared_dependency_and_no_cuda_build(lock):
    pins = _pins(lock)
    declared = declared_for_lock(REPO / "pyproject.toml", lock)
    assert declared <= set(pins), f"{lock.name} lacks {sorted(declared - set(pins))}: run make lock"
    assert pins["torch"] == "2.13.0"  # the CPU wheel; the registry's CUDA build's packages are left out
    assert not [p for p in pins if p.startswith(("nvidia-", "cuda-")) or p == "triton"]


def _installer():
    sys.path.insert(0, str(REPO / "requirements"))
    try:
        import install
    finally:
        sys.path.pop(0)
    return install


PINS = {"torch": "2.13.0", "numpy": "2.4.6", "typer": "0.29.2", "sympy": "1.14.0"}


def test_plan_without_torch_installs_the_locked_cpu_wheel_and_pins_everything():
    plan = _installer().install_plan(PINS, "absent", {}, replace_torch=False)
    assert plan.error is None
    assert plan.torch_spec == "torch==2.13.0"
    assert plan.constraints == {"numpy": "2.4.6", "typer": "0.29.2", "sympy": "1.14.0"}


def test_plan_keeps_a_usable_host_torch_and_does_not_move_its_packages():
    """An Ascend host: torch 2.6 (with torch_npu) and ais_bench's numpy 1.26 must stay as they are."""
    installed = {"torch": "2.6.0", "numpy": "1.26.4", "sympy": "1.13.1", "ais_bench": "0.0.2"}
    plan = _installer().install_plan(PINS, "keep 2.6.0", installed, replace_torch=False)
    assert plan.torch_spec is None
    assert plan.constraints == {"typer": "0.29.2"}  # only what the host does not have yet is pinned
    assert any("keeping the installed torch 2.6.0" in n for n in plan.notes)
    assert any("numpy, sympy" in n for n in plan.notes)


def test_plan_keeps_ais_bench_numpy_even_without_torch():
    plan = _installer().install_plan(PINS, "absent", {"numpy": "1.21.6", "ais_bench": "0.0.2"}, False)
    assert plan.torch_spec == "torch==2.13.0" and "numpy" not in plan.constraints


@pytest.mark.parametrize("state", ["torch 2.1.0 is older than 2.5", "torch 2.6.0 does not import (ImportError: x)"])
def test_plan_refuses_to_replace_an_unusable_torch_unless_told(state):
    install = _installer()
    plan = install.install_plan(PINS, state, {"torch": "2.1.0"}, replace_torch=False)
    message, hint = plan.error
    assert state in message and "python3 -m venv" in hint and "BIT_REPLACE_TORCH=1" in hint
    assert plan.torch_spec is None
    forced = install.install_plan(PINS, state, {"torch": "2.1.0"}, replace_torch=True)
    assert forced.error is None and forced.torch_spec == "torch==2.13.0"


@pytest.mark.parametrize("version, expected", [
    (None, "absent"), ("2.1.0+cpu", "torch 2.1.0+cpu is older than 2.5"), ("1.13.1", "torch 1.13.1 is older than 2.5"),
])
def test_torch_status_reads_the_installed_version(monkeypatch, version, expected):
    install = _installer()
    monkeypatch.setattr(install, "installed_version", lambda name: version)
    assert install.torch_status() == expected


def test_lock_differences_name_each_changed_package(monkeypatch):
    install = _installer()
    have = {"numpy": "2.5.0", "typer": "0.29.2", "torch": "2.13.0+cpu"}
    monkeypatch.setattr(install, "installed_version", lambda name: have.get(name))
    assert install.lock_differences(PINS) == ["numpy 2.4.6 -> 2.5.0"]


def test_installer_refuses_an_old_python_in_one_line(tmp_path):
    """CANN's Python 3.7 gets a refusal naming the fix, not a syntax error (the script is 3.7 syntax)."""
    import subprocess

    code = ("import sys; sys.version_info = (3, 7, 5, 'final', 0); sys.argv = ['install.py']\n"
            f"sys.path.insert(0, {str(REPO / 'requirements')!r}); import install; raise SystemExit(install.main([]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "bit needs Python >= 3.10" in proc.stderr
    assert "ais_bench can stay in CANN's Python" in proc.stderr
