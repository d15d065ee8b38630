"""``quarantine list`` and ``quarantine retry``: mail that could not be processed."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from mailbot.cli.common import app_of, local_time, row_id
from mailbot.settings.config import Settings


def list_entries(app: Any, only: str | None, multi: bool) -> int:
    """``quarantine list``: the entries not yet processed again."""
    from mailbot.service import quarantine

    with app.factory() as session:
        rows = quarantine.list_entries(session, only)
        for q in rows:
            where = f"{q.helpdesk:10.10}  " if multi else ""
            print(f"{q.id:5d}  {where}{local_time(q.at, app.zone)}  {q.sender or '-':30.30}  {q.subject:40.40}  "
                  f"{q.error[:80]}")
    print(f"{len(rows)} mail(s) in quarantine")
    return 0


def retry(apps: list[Any], settings: Settings, args: argparse.Namespace) -> int:
    """``quarantine retry ID``: processed again by the helpdesk whose mailbox it came from."""
    from mailbot.mail import intake
    from mailbot.service import quarantine

    qid = row_id(args.id, "quarantine retry")
    if qid is None:
        return 2
    try:
        done = quarantine.retry(apps[0].factory, qid, lambda key: app_of(apps, settings, key),
                                lambda: datetime.now(timezone.utc))
    except quarantine.NoSuchEntry:
        print(f"no quarantine entry {qid}", file=sys.stderr)
        return 2
    except quarantine.AlreadyRetried as exc:
        print(f"{exc} ({local_time(exc.resolved_at, apps[0].zone)})", file=sys.stderr)
        return 1
    outcome, imap = done.outcome, done.app.settings.imap
    print(f"retry: {outcome.kind} {outcome.ticket_number or ''} {outcome.reason}")
    if done.failed_again:
        return 1
    # The stored record is the truth; the server copy only follows it. A mailbox that cannot be
    # reached now leaves the copy where it is, which is said, not an error of the retry.
    try:
        moved = intake.release_quarantined(imap, done.raw)
    except Exception as exc:
        print(f"the copy in the mailbox folder {imap.quarantine_folder!r} was not moved: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
    else:
        if moved:
            print(f"moved its copy from {imap.quarantine_folder!r} to {imap.processed_folder!r}")
    return 0
