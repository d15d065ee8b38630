"""The README's first command keeps working: ``scripts/demo.sh`` runs ``scripts/demo.py`` against the
local mail stack (started by the test command, as by demo.sh). The demo checks every step itself
(acknowledgments arrive, the staff answer closes Budi's ticket, nobody else gets it) and stops with a
one-line reason otherwise; this test runs it whole, as a new user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_runs_to_its_end(stack: object) -> None:
    proc = subprocess.run([sys.executable, "scripts/demo.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "== demo done: Budi's ticket is closed with the staff answer" in proc.stdout
    assert "Tiket diterima" in proc.stdout and "Selesai" in proc.stdout
    # The console: signed in with the printed link, the queue shows the two tickets still open.
    assert "GET /antrian as staff1@lpse.test: " in proc.stdout
