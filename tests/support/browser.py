"""Debian's Chromium driven by Playwright, for the console's browser tests and screenshots.

Never ``playwright install`` (a browser download): ``scripts/browser.sh install`` puts Debian's
chromium in /usr/bin, and Playwright launches that binary.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("MAILBOT_CHROMIUM", "/usr/bin/chromium")
#: As root Chromium needs --no-sandbox; the rest keep it from calling home during a test.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def ensure_chromium() -> str:
    """The browser's path, installed with apt-get first when missing (as the mail stack is)."""
    if not Path(CHROMIUM).is_file():
        subprocess.run([str(ROOT / "scripts" / "browser.sh"), "install"], check=True)
    return CHROMIUM


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (a Playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    path = ensure_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
