"""The house keeps its shape: layers (import-linter), a pure core that reads no clock, no module
reaching into another's private names, and no module of more than about 600 lines."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mailbot"
#: Every module under mailbot/core is pure by where it lives: no list to keep up to date.
PURE = sorted(p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "core").rglob("*.py"))
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)
CLOCK_READS = {"datetime.now", "datetime.utcnow", "date.today", "time.time", "time.monotonic", "time.perf_counter"}


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a dev dependency (pip install -e '.[dev]')"
    proc = subprocess.run([exe, str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_core_has_modules() -> None:
    assert len(PURE) >= 15 and "core/workflow.py" in PURE


@pytest.mark.parametrize("module", PURE)
def test_no_clock_reads_in_the_pure_core(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text())
    calls = {
        f"{node.func.value.id}.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
    }
    assert not calls & CLOCK_READS


def _mailbot_imports(tree: ast.Module) -> tuple[set[str], list[str]]:
    """Names bound to mailbot modules in ``tree``, and private names imported from them."""
    modules: set[str] = set()
    private: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mailbot"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    private.append(f"from {node.module} import {alias.name}")
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mailbot"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    return modules, private


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_reaches_into_another_modules_private_names(path: Path) -> None:
    tree = ast.parse(path.read_text())
    modules, private = _mailbot_imports(tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            private.append(f"{node.value.id}.{node.attr}")
    assert private == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_is_over_about_600_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 650


def test_test_modules_have_unique_names_across_tiers() -> None:
    """pytest imports test files by their base name (no packages under tests/): a second
    ``test_x.py`` in another tier stops the whole run at collection."""
    names: dict[str, list[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
