"""``outbox list``, ``outbox retry`` and ``outbox ack``: mail waiting to be sent, or failed."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from mailbot.cli.common import local_time, row_id
from mailbot.service import outbox_admin


def command(app: Any, args: argparse.Namespace, only: str | None = None) -> int:
    """``outbox list|retry|ack``."""
    if args.action == "ack":
        return acknowledge(app, args, only)
    if args.action == "retry":
        return retry(app, args)
    return list_mail(app, args, only)


def acknowledge(app: Any, args: argparse.Namespace, only: str | None) -> int:
    """``outbox ack ID|--all``: status stops reporting the failed mail."""
    if args.id is None and not args.all:
        print("outbox ack: give an ID or --all", file=sys.stderr)
        return 2
    one = None
    if not args.all:
        one = row_id(args.id, "outbox ack")
        if one is None:
            return 2
    try:
        with app.factory.begin() as session:
            count = outbox_admin.acknowledge_failed(session, datetime.now(timezone.utc), one, only)
    except outbox_admin.NoSuchMail:
        print(f"no outbox mail {one}" + (f" in helpdesk {only}" if only else ""), file=sys.stderr)
        return 2
    except outbox_admin.NotApplicable as exc:
        print(f"outbox mail {one} is not a failed mail waiting for an acknowledgment ({exc.state})",
              file=sys.stderr)
        return 1
    print(f"acknowledged {count} failed mail(s)")
    return 0


def retry(app: Any, args: argparse.Namespace) -> int:
    """``outbox retry ID``: a fresh attempt budget; sent on the next flush."""
    one = row_id(args.id, "outbox retry")
    if one is None:
        return 2
    try:
        with app.factory.begin() as session:
            row = outbox_admin.retry_mail(session, one, datetime.now(timezone.utc))
            line = f"outbox {row.id} to {', '.join(row.recipients)}: pending again; it is sent on the next flush"
    except outbox_admin.NoSuchMail:
        print(f"no outbox mail {one}", file=sys.stderr)
        return 2
    except outbox_admin.NotApplicable:
        print(f"outbox mail {one} was sent: nothing to retry", file=sys.stderr)
        return 1
    print(line)
    return 0


def list_mail(app: Any, args: argparse.Namespace, only: str | None) -> int:
    """``outbox list [--all]``."""
    with app.factory() as session:
        rows = outbox_admin.list_mail(session, include_sent=args.all, helpdesk=only)
        for r in rows:
            due = "" if r.status != "pending" else f" next {local_time(r.next_attempt_at, app.zone, seconds=True)}"
            if r.status == "failed" and r.acknowledged_at is not None:
                due = " (acknowledged)"
            print(f"{r.id:5d}  {r.status:7} attempts={r.attempts}{due}  {', '.join(r.recipients):40.40}  "
                  f"{r.last_error[:100]}")
    print(f"{len(rows)} mail(s)")
    return 0
