"""Logging set-up: one line per event, as text or JSON, and never a secret.

``configure(settings.logging, verbose)`` installs one stderr handler on the root logger:

* ``format = "text"``: ``2026-11-28 09:00:00.123+07:00 INFO mailbot.ops.poller: message`` (the
  machine's local time with its UTC offset); a traceback (bugs only) is folded onto the same line
  (`` | `` between its lines), so every event is one line for grep and journald;
* ``format = "json"``: one object per line: ``ts`` (ISO 8601, UTC), ``level``, ``logger``,
  ``msg``, and ``exc`` when there is a traceback.

Every secret the process handles (IMAP/SMTP passwords, the helpdesk secret, OAuth2 client
secrets, refresh and access tokens) is registered with :func:`register_secret` and masked
as ``********`` in every line, whatever logged it: defence in depth behind the rule that no
code logs them in the first place.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections import deque
from datetime import datetime, timezone

from mailbot.settings.config import LoggingSettings, Settings

MASK = "********"

#: Secrets shorter than this are not masked (they would hide ordinary words); real ones are longer.
MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_fixed: set[str] = set()  # configured secrets: kept for the life of the process
_rotating: deque[str] = deque(maxlen=32)  # access tokens: the recent ones are enough


def register_secret(value: str | None, *, rotating: bool = True) -> None:
    """Mask ``value`` in every log line from now on."""
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _fixed or value in _rotating:
            return
        if rotating:
            _rotating.append(value)
        else:
            _fixed.add(value)


def redact(text: str) -> str:
    with _lock:
        secrets = [*_fixed, *_rotating]
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def register_settings(settings: Settings) -> None:
    """Register the configured secrets (passwords, client secrets, refresh tokens, HMAC key)."""
    for name, server in (("imap", settings.imap), ("smtp", settings.smtp)):
        try:
            if server.auth == "xoauth2" and server.oauth2 is not None:
                register_secret(server.oauth2.client_secret_value(f"{name}.oauth2"), rotating=False)
                register_secret(server.oauth2.refresh_token_value(f"{name}.oauth2"), rotating=False)
            else:
                register_secret(server.password_value, rotating=False)
        except Exception:  # a missing variable is reported by the config check
            pass
    register_secret(settings.helpdesk.secret_value, rotating=False)


_THREAD_KEY = re.compile(r"\[([a-z0-9_-]+)\]$")


def helpdesk_of(record: logging.LogRecord) -> str:
    """The helpdesk a line is about, from its thread (``mailbot[kab]``, ``mailbot-outbox[kab]``,
    see ``cli._serve``); "" for the default helpdesk and threads of no helpdesk."""
    match = _THREAD_KEY.search(record.threadName or "")
    return match.group(1) if match and match.group(1) != "default" else ""


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """Local time with its offset from UTC (``2026-11-28 09:00:00.123+07:00``): a line says its zone."""
        return datetime.fromtimestamp(record.created).astimezone().isoformat(sep=" ", timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        key = helpdesk_of(record)
        if key:  # several helpdesks in one process: say whose mailbox the line is about
            record = logging.makeLogRecord({**record.__dict__, "name": f"{record.name} [{key}]"})
        text = super().format(record)
        return redact(" | ".join(line for line in text.splitlines() if line.strip()) if "\n" in text else text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if helpdesk_of(record):
            entry["helpdesk"] = helpdesk_of(record)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(settings: LoggingSettings | None = None, *, verbose: bool = False) -> None:
    """(Re)install the one stderr handler; ``verbose`` forces DEBUG."""
    settings = settings or LoggingSettings()
    root = logging.getLogger()
    if any(not getattr(h, "_mailbot", False) for h in root.handlers):
        return  # someone else set logging up (an embedding program, pytest): like basicConfig, leave it
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._mailbot = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else getattr(logging, settings.level))
    # Routine, not news: migrations, and the scheduler's "Adding job tentatively", "Running job" and
    # "Job executed successfully" lines (two a minute from the SLA tick). -v shows them.
    for name in ("alembic", "apscheduler"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    # Libraries whose debug output is noise stay at INFO or above; SQLAlchemy's INFO is every SQL
    # statement with its parameters (personal data), so it stays at WARNING whatever the level.
    for name in ("urllib3", "asyncio", "mailparser_reply"):
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
