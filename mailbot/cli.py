"""Command-line entry point: ``mailbot [--config PATH] COMMAND``.

Errors the operator can fix (configuration, unreachable servers) print one line and exit
non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import threading
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from mailbot import intake, outbox, store
from mailbot.config import ConfigError, Settings, load_settings, resolve_config_path
from mailbot.rules_config import RulesConfigError
from mailbot.store import Quarantine, Ticket
from mailbot.timeline import build_timeline, format_duration

log = logging.getLogger("mailbot")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailbot", description="E-mail helpdesk bot for SPSE/LPSE helpdesks.")
    p.add_argument("--config", help="settings file (TOML); default: $MAILBOT_CONFIG")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the service: IMAP IDLE/polling, outbox flushing")
    poll = sub.add_parser("poll", help="process the mailbox")
    poll.add_argument("--once", action="store_true", required=True, help="process what is there now, then exit")
    sub.add_parser("check-config", help="validate the config and try the IMAP and SMTP logins")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    tickets = sub.add_parser("tickets", help="list and show tickets")
    tsub = tickets.add_subparsers(dest="action", required=True)
    tl = tsub.add_parser("list")
    tl.add_argument("--json", action="store_true")
    tl.add_argument("--state", help="only tickets in this state")
    ts = tsub.add_parser("show")
    ts.add_argument("id", help="ticket number (TTS-000123) or id")
    ts.add_argument("--json", action="store_true")
    quarantine = sub.add_parser("quarantine", help="mail that could not be processed")
    qsub = quarantine.add_subparsers(dest="action", required=True)
    qsub.add_parser("list")
    qr = qsub.add_parser("retry")
    qr.add_argument("id", type=int)
    rules = sub.add_parser("rules", help="the priority table")
    rsub = rules.add_subparsers(dest="action", required=True)
    re_ = rsub.add_parser("eval", help="accuracy of the rules on a labeled set")
    re_.add_argument("dir", nargs="?")
    re_.add_argument("--table")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.command == "rules":
        from mailbot import rules_eval

        extra = [args.dir] if args.dir else []
        return rules_eval.main(extra + (["--table", args.table] if args.table else []))
    try:
        settings = load_settings(resolve_config_path(args.config))
        return _dispatch(args, settings)
    except (ConfigError, RulesConfigError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "check-config":
        return _check_config(settings)
    from mailbot.service import build_app

    if args.command == "db":
        engine = store.make_engine(settings.database.url)
        store.upgrade(engine)
        print("database schema is up to date")
        return 0
    app = build_app(settings)
    if args.command == "poll":
        from mailbot.poller import poll_once

        stats = poll_once(app)
        print(stats.line())
        return 0
    if args.command == "run":
        return _run(app)
    with app.factory() as session:
        if args.command == "tickets" and args.action == "list":
            query = select(Ticket).order_by(Ticket.id)
            if args.state:
                query = query.where(Ticket.state == args.state)
            return _tickets_list(list(session.scalars(query)), args.json)
        if args.command == "tickets":
            ticket = store.ticket_by_number(session, args.id)
            if ticket is None:
                print(f"no ticket {args.id}", file=sys.stderr)
                return 1
            return _ticket_show(app, ticket, args.json)
        if args.command == "quarantine" and args.action == "list":
            rows = session.scalars(select(Quarantine).where(Quarantine.resolved_at.is_(None))
                                   .order_by(Quarantine.id)).all()
            for q in rows:
                print(f"{q.id:5d}  {q.at:%Y-%m-%d %H:%M}  {q.sender or '-':30.30}  {q.subject:40.40}  {q.error[:80]}")
            print(f"{len(rows)} mail(s) in quarantine")
            return 0
    if args.command == "quarantine":
        return _quarantine_retry(app, args.id)
    raise AssertionError(args)


def _run(app: Any) -> int:
    from mailbot.poller import run_forever

    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise SystemExit(1)  # second signal: leave at once
        log.info("signal %d: finishing the mail in hand, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    run_forever(app, stop)
    return 0


def _tickets_list(tickets: list[Ticket], as_json: bool) -> int:
    from mailbot.service import ticket_summary

    if as_json:
        print(json.dumps([ticket_summary(t) for t in tickets], indent=2, ensure_ascii=False))
        return 0
    print(f"{'number':12} {'state':13} {'priority':8} {'category':22} {'requester':28} subject")
    for t in tickets:
        print(f"{t.number or '':12} {t.state:13} {t.priority:8} {t.category:22.22} {t.requester:28.28} {t.subject}")
    print(f"{len(tickets)} ticket(s)")
    return 0


def _ticket_show(app: Any, ticket: Ticket, as_json: bool) -> int:
    from mailbot.service import ticket_detail

    if as_json:
        print(json.dumps(ticket_detail(ticket), indent=2, ensure_ascii=False))
        return 0
    zone = app.zone
    print(f"{ticket.number}  {ticket.subject}")
    print(f"  state {ticket.state}, priority {ticket.priority}, category {ticket.category}"
          + ("" if ticket.category_matched else " (unmatched)"))
    print(f"  requester {ticket.requester_name} <{ticket.requester}>  phone {ticket.phone or '-'}")
    print(f"  assignee {ticket.assignee or '-'}  missing {', '.join(ticket.missing or []) or '-'}")
    print("\nTimeline (SOP step, time taken / standard):")
    for row in build_timeline(ticket.events):
        step = f"step {row.sop_step:>2}" if row.sop_step else "       "
        timing = ""
        if row.took is not None and row.standard is not None:
            mark = "ok" if row.within else "LATE"
            timing = f"  [{format_duration(row.took)} / {format_duration(row.standard)} {mark}]"
        print(f"  {row.at.astimezone(zone):%Y-%m-%d %H:%M:%S}  {step}  {row.kind:18} {row.detail}{timing}")
    print("\nMessages:")
    for m in ticket.messages:
        arrow = "<-" if m.direction == "in" else "->"
        who = m.sender if m.direction == "in" else ", ".join(m.recipients)
        extra = f" [{m.template}]" if m.template else ""
        extra += " [auto]" if m.auto else ""
        print(f"  {m.at.astimezone(zone):%Y-%m-%d %H:%M:%S} {arrow} {m.channel:5} {who}{extra}: {m.subject}")
    return 0


def _quarantine_retry(app: Any, qid: int) -> int:
    from mailbot.service import process_raw
    from mailbot.store import Inbound

    with app.factory.begin() as session:
        q = session.get(Quarantine, qid)
        if q is None or q.resolved_at is not None:
            print(f"no open quarantine entry {qid}", file=sys.stderr)
            return 1
        raw = q.raw
        # Forget the quarantine outcome so the retry is not taken for a duplicate.
        inbound = session.scalar(select(Inbound).where(Inbound.message_id == q.message_id))
        if inbound is not None:
            session.delete(inbound)
    outcome = process_raw(app, raw, datetime.now(timezone.utc))
    with app.factory.begin() as session:
        q = session.get(Quarantine, qid)
        if outcome.kind != "quarantined" and q is not None:
            q.resolved_at = datetime.now(timezone.utc)
    print(f"retry: {outcome.kind} {outcome.ticket_number or ''} {outcome.reason}")
    return 0 if outcome.kind != "quarantined" else 1


def _check_config(settings: Settings) -> int:
    print("config: ok")
    failures = 0
    try:
        box = intake.connect(settings.imap)
        box.logout()
        print(f"imap: ok ({settings.imap.host}:{settings.imap.port}, {settings.imap.security})")
    except Exception as exc:  # noqa: BLE001 - report any failure as one line
        failures += 1
        print(f"imap: FAILED ({settings.imap.host}:{settings.imap.port}): {type(exc).__name__}: {exc}")
    try:
        asyncio.run(outbox.check_login(settings.smtp))
        print(f"smtp: ok ({settings.smtp.host}:{settings.smtp.port}, {settings.smtp.security})")
    except Exception as exc:  # noqa: BLE001
        failures += 1
        print(f"smtp: FAILED ({settings.smtp.host}:{settings.smtp.port}): {type(exc).__name__}: {exc}")
    try:
        from mailbot.render import Renderer, sample_context
        from mailbot.rules_config import load_priority_table

        load_priority_table(settings.paths.priorities)
        print("priority table: ok")
        problems = Renderer(settings.paths.templates).check(sample_context())
        for line in problems:
            print(f"template: FAILED {line}")
        failures += len(problems)
        if not problems:
            print("templates: ok")
    except RulesConfigError as exc:
        failures += 1
        print(f"priority table: FAILED {exc}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
