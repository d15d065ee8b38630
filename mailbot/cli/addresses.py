"""``addresses list`` and ``addresses clear``: addresses marked undeliverable (no automatic mail to them)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any

from mailbot.cli.common import local_time


def command(app: Any, args: argparse.Namespace, only: str | None) -> int:
    """``addresses list [--all] [--json]`` and ``addresses clear ADDRESS``."""
    from mailbot.service import marks

    now = datetime.now(timezone.utc)
    if args.action == "clear":
        with app.factory.begin() as session:
            lifted = marks.clear_mark(session, args.address, only)
        print(f"{args.address}: {lifted} mark(s) lifted" if lifted else f"{args.address}: no mark", file=sys.stderr)
        return 0 if lifted else 1
    with app.factory() as session:
        rows = marks.list_marks(session, now, only, include_expired=args.all)
    if args.json:
        print(json.dumps([{"helpdesk": r.helpdesk, "address": r.address, "reason": r.reason, "at": r.at.isoformat(),
                           "permanent": r.permanent, "active": r.active,
                           "expires_at": r.expires_at.isoformat() if r.expires_at else None} for r in rows], indent=2))
        return 0
    for r in rows:
        until = "permanent" if r.expires_at is None else f"until {local_time(r.expires_at, app.zone)}"
        print(f"{r.helpdesk:10.10}  {r.address:40.40}  {local_time(r.at, app.zone)}  {until:24}  {r.reason[:80]}")
    print(f"{len(rows)} address(es) marked")
    return 0
