"""``purge`` (retention) and ``person export|erase`` (one person's data, UU 27/2022)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any


def command(app: Any, args: argparse.Namespace) -> int:
    """``purge [--dry-run] [--months N]``, ``person export|erase ADDRESS``."""
    from mailbot.ops import privacy

    now = datetime.now(timezone.utc)
    if args.command == "purge":
        months = args.months if args.months is not None else app.settings.retention.months
        if months <= 0:
            print("retention is off (retention.months = 0); nothing to purge", file=sys.stderr)
            return 1
        with app.factory.begin() as session:
            report = privacy.purge(session, now, months, dry_run=args.dry_run)
            if args.dry_run:
                session.rollback()
        verb = "would purge" if args.dry_run else "purged"
        print(f"{verb}: tickets closed before {report.cutoff:%Y-%m-%d}: {len(report.tickets)} "
              f"({', '.join(report.tickets[:20])}{' ...' if len(report.tickets) > 20 else ''}); "
              f"message bodies {report.messages}, attachments {report.attachments}, "
              f"sent mail copies {report.outbox}, quarantined mails {report.quarantine}")
        return 0
    if args.action == "export":
        with app.factory() as session:
            data = privacy.export_person(session, args.address, with_attachments=args.with_attachments)
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    with app.factory.begin() as session:
        if not args.yes:
            data = privacy.export_person(session, args.address)
            print(f"would erase {args.address}: {len(data['tickets'])} ticket(s); run again with --yes")  # type: ignore[arg-type]
            return 0
        erased = privacy.erase_person(session, args.address, now)
    print(f"erased {erased.address} -> {erased.pseudonym}: tickets {', '.join(erased.tickets) or '-'}, "
          f"messages {erased.messages}")
    return 0
