"""What several commands share: row ids read from the command line, and the App of a helpdesk."""

from __future__ import annotations

import logging
import sys
from datetime import datetime, tzinfo
from typing import Any

from mailbot.settings.config import Settings

log = logging.getLogger("mailbot")

#: Row ids are SQL integers: SQLite's and PostgreSQL's bigint hold at most this.
MAX_ROW_ID = 2**63 - 1


def local_time(at: datetime, zone: tzinfo, *, seconds: bool = False) -> str:
    """A stored (UTC) time as the helpdesk reads it, its zone named: ``2026-03-02 08:30 WIB``."""
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def row_id(text: str | None, command: str) -> int | None:
    """``text`` as a row id, or None after one line on stderr (the caller exits 2): a larger
    number reached the database driver as an OverflowError traceback."""
    value = (text or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 19 and 0 < int(value) <= MAX_ROW_ID:
        return int(value)
    print(f"{command}: {text!r} is not an id (a whole number from 1 to {MAX_ROW_ID})", file=sys.stderr)
    return None


def app_of(apps: list[Any], settings: Settings, key: str) -> Any:
    """The App of helpdesk ``key`` (built on the same engine when not among ``apps``)."""
    from mailbot.service.app import build_app

    for app in apps:
        if app.settings.helpdesk_key == key:
            return app
    known = {s.helpdesk_key: s for s in settings.per_helpdesk()}
    if key not in known:
        # A row of a helpdesk no longer in the config (keys renamed?): shown with the first one's settings.
        log.warning("helpdesk %r is not in the config; using %r's settings", key, apps[0].settings.helpdesk_key)
        return apps[0]
    return build_app(known[key], migrate=False, engine=apps[0].factory.kw["bind"])
