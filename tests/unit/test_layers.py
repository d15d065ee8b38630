"""The pure core stays pure: no I/O libraries (import-linter contract) and no clock reads."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = ["domain", "parse", "threads", "rules", "commands", "workflow", "timeline", "loops", "auth", "feedback", "worktime", "sla"]


def test_import_contract_is_kept() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a dev dependency (pip install -e '.[dev]')"
    proc = subprocess.run([exe, "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("module", PURE)
def test_no_clock_reads_in_the_pure_core(module: str) -> None:
    tree = ast.parse((ROOT / "mailbot" / f"{module}.py").read_text())
    calls = {
        f"{node.func.value.id}.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
    }
    assert not calls & {"datetime.now", "datetime.utcnow", "date.today", "time.time", "time.monotonic"}
