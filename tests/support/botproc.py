"""Run ``mailbot`` as a real subprocess for fault tests, and tune a deployment's config.

``BotProcess`` starts ``python -m mailbot.cli --config PATH run`` with its stderr in a
file, so a test can count log lines, send signals (SIGTERM, SIGKILL) and wait for the
exit code. ``set_keys`` edits one ``[section]`` of a config written by
``Deployment.write_config``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def set_keys(path: Path, section: str, **values: object) -> None:
    """Set ``key = value`` lines in ``[section]`` of the TOML file (adding the section if needed)."""
    lines = path.read_text().splitlines()
    out: list[str] = []
    found = False
    current = ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1].strip()
            out.append(line)
            if current == section:
                found = True
                out.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
            continue
        key = stripped.partition("=")[0].strip()
        if current == section and key in values:
            continue  # replaced above
        out.append(line)
    if not found:
        out.append(f"[{section}]")
        out.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
    path.write_text("\n".join(out) + "\n")


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> object:
    """Poll ``condition`` until it returns something truthy; AssertionError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class BotProcess:
    """One ``mailbot ... run`` (or other command) subprocess with its log in ``log_path``."""

    def __init__(self, config: Path, log_path: Path, command: tuple[str, ...] = ("run",),
                 extra_args: tuple[str, ...] = ()) -> None:
        self.config = config
        self.log_path = log_path
        self.command = command
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> BotProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = self.log_path.open("ab")
        # As contrib/mailbot.service runs it: without docstrings and assert statements.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONOPTIMIZE": "2"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailbot.cli", "--config", str(self.config), *self.extra_args, *self.command],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=ROOT, env=env,
        )
        log.close()
        self.runs += 1
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def lines(self, pattern: str) -> list[str]:
        rx = re.compile(pattern)
        return [line for line in self.log().splitlines() if rx.search(line)]

    def error_lines(self) -> list[str]:
        return self.lines(r" (ERROR|CRITICAL) ")

    def wait_log(self, pattern: str, count: int = 1, timeout: float = 30.0) -> list[str]:
        def found() -> list[str]:
            if not self.alive():
                raise AssertionError(f"mailbot exited ({self.proc.returncode if self.proc else '?'}) while waiting "
                                     f"for {pattern!r}:\n{self.log()[-3000:]}")
            got = self.lines(pattern)
            return got if len(got) >= count else []

        return wait_until(found, timeout, f"{count} log line(s) matching {pattern!r}")  # type: ignore[return-value]

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL (no cleanup at all) and reap."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def handles_sigterm(self) -> bool:
        """True once the process catches SIGTERM (``mailbot run`` installs its handler when it serves)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return False
        for line in status.splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
        return False

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait for the exit code (SIGKILL if it does not come)."""
        assert self.proc is not None
        if self.alive() and self.command[:1] == ("run",):
            # A SIGTERM before `mailbot run` installed its handler (still starting) would kill it
            # outright (exit -15): wait until it handles the signal.
            wait_until(lambda: self.handles_sigterm() or not self.alive(), 30, "mailbot run to handle SIGTERM")
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
