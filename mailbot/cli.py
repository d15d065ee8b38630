"""Command-line entry point: ``mailbot [--config PATH] COMMAND``.

Errors the operator can fix (configuration, unreachable servers) print one line and exit
non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import select

from mailbot.ops import heap
from mailbot.mail import intake
from mailbot.settings import logs
from mailbot.mail import outbox
from mailbot.storage import store
from mailbot.settings.config import ConfigError, Settings, load_settings, resolve_config_path
from mailbot.settings.priorities import RulesConfigError
from mailbot.storage.models import Quarantine, Ticket
from mailbot.core.timeline import build_timeline, format_duration

log = logging.getLogger("mailbot")


def _helpdesk_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--helpdesk", metavar="KEY", help="only this helpdesk of the deployment ([[helpdesks]] key)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailbot", description="E-mail helpdesk bot for SPSE/LPSE helpdesks.")
    p.add_argument("--config", help="settings file (TOML); default: $MAILBOT_CONFIG")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the service: IMAP IDLE/polling, outbox flushing")
    poll = sub.add_parser("poll", help="process the mailbox")
    poll.add_argument("--once", action="store_true", required=True, help="process what is there now, then exit")
    _helpdesk_option(poll)
    sub.add_parser("check-config", help="validate the config and try the IMAP and SMTP logins")
    st = sub.add_parser("status", help="health for monitoring: exit 0 healthy, 1 unhealthy (see README)")
    st.add_argument("--json", action="store_true")
    st.add_argument("--offline", action="store_true", help="do not try the IMAP and SMTP logins")
    st.add_argument("--expect-run", action="store_true",
                    help="a mailbot run must be polling (also when none was started or it stopped cleanly)")
    _helpdesk_option(st)
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    tickets = sub.add_parser("tickets", help="list and show tickets")
    tsub = tickets.add_subparsers(dest="action", required=True)
    tl = tsub.add_parser("list")
    tl.add_argument("--json", action="store_true")
    tl.add_argument("--state", help="only tickets in this state")
    _helpdesk_option(tl)
    ts = tsub.add_parser("show")
    ts.add_argument("id", help="ticket number (TTS-000123) or id")
    ts.add_argument("--json", action="store_true")
    _helpdesk_option(ts)
    quarantine = sub.add_parser("quarantine", help="mail that could not be processed")
    qsub = quarantine.add_subparsers(dest="action", required=True)
    _helpdesk_option(qsub.add_parser("list"))
    qr = qsub.add_parser("retry")
    qr.add_argument("id", help="the entry's id (quarantine list)")
    outbox_p = sub.add_parser("outbox", help="mail waiting to be sent, or failed")
    osub = outbox_p.add_subparsers(dest="action", required=True)
    ol = osub.add_parser("list")
    ol.add_argument("--all", action="store_true", help="also mail already sent")
    _helpdesk_option(ol)
    orr = osub.add_parser("retry", help="send a failed mail again (fresh attempt budget)")
    orr.add_argument("id", help="the mail's id (outbox list)")
    oack = osub.add_parser("ack", help="acknowledge failed mail: status stops reporting it")
    oack.add_argument("id", nargs="?", help="the mail's id (outbox list)")
    oack.add_argument("--all", action="store_true", help="every failed mail")
    _helpdesk_option(oack)
    report = sub.add_parser("report", help="reports")
    rpsub = report.add_subparsers(dest="action", required=True)
    rsla = rpsub.add_parser("sla", help="SOP time standards kept, per step and priority, in a period")
    rsla.add_argument("--from", dest="date_from", required=True, type=_date, help="first day (YYYY-MM-DD, local)")
    rsla.add_argument("--to", dest="date_to", required=True, type=_date, help="last day, inclusive")
    rsla.add_argument("--format", dest="fmt", choices=["table", "csv", "json", "html"], default="table")
    _helpdesk_option(rsla)
    rules = sub.add_parser("rules", help="the priority table")
    rsub = rules.add_subparsers(dest="action", required=True)
    re_ = rsub.add_parser("eval", help="accuracy of the rules on a labeled set")
    re_.add_argument("dir", nargs="?")
    re_.add_argument("--table")
    purge = sub.add_parser("purge", help="retention: remove bodies/attachments of old closed tickets")
    purge.add_argument("--dry-run", action="store_true", help="show what would go, change nothing")
    purge.add_argument("--months", type=int, help="override retention.months")
    person = sub.add_parser("person", help="one person's data (UU 27/2022): export or erase")
    psub = person.add_subparsers(dest="action", required=True)
    pe = psub.add_parser("export")
    pe.add_argument("address")
    pe.add_argument("--with-attachments", action="store_true")
    pr = psub.add_parser("erase")
    pr.add_argument("address")
    pr.add_argument("--yes", action="store_true", help="really erase (otherwise show what would be erased)")
    oauth_p = sub.add_parser("oauth", help="OAuth2 (XOAUTH2 mailboxes)")
    oasub = oauth_p.add_subparsers(dest="action", required=True)
    az = oasub.add_parser("authorize", help="the consent in a browser, once per mailbox: prints the refresh token")
    az.add_argument("--server", choices=["imap", "smtp"],
                    help="whose OAuth2 settings (default: IMAP's if it uses xoauth2, else SMTP's)")
    az.add_argument("--port", type=int, default=0, help="loopback port for the redirect (default: any free port)")
    az.add_argument("--redirect-uri",
                    help="the redirect URI registered with the provider (default: http://127.0.0.1:PORT/)")
    az.add_argument("--paste", action="store_true",
                    help="no listener: paste the address the browser ends on (browser on another machine)")
    az.add_argument("--timeout", type=float, default=600, help="seconds to wait for the consent")
    _helpdesk_option(az)
    answers = sub.add_parser("answers", help="the canned answers in templates/answers")
    asub = answers.add_subparsers(dest="action", required=True)
    asub.add_parser("list", help="every answer with its number, key and categories")
    ae = asub.add_parser("eval", help="top-3 hit rate of suggestions on a labeled set")
    ae.add_argument("dir", nargs="?")
    addresses = sub.add_parser("addresses", help="addresses marked undeliverable (no automatic mail to them)")
    adsub = addresses.add_subparsers(dest="action", required=True)
    adl = adsub.add_parser("list", help="the marks in force, with their reason and expiry")
    adl.add_argument("--all", action="store_true", help="expired marks too")
    adl.add_argument("--json", action="store_true")
    _helpdesk_option(adl)
    adc = adsub.add_parser("clear", help="lift the mark on an address (every helpdesk, or --helpdesk KEY)")
    adc.add_argument("address")
    _helpdesk_option(adc)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(verbose=args.verbose)
    if args.command == "rules":
        from mailbot.ops import rules_eval

        extra = [args.dir] if args.dir else []
        return rules_eval.main(extra + (["--table", args.table] if args.table else []))
    try:
        # ``oauth authorize`` obtains the first refresh token: the settings may have none yet.
        settings = load_settings(resolve_config_path(args.config), consent=args.command == "oauth")
        logs.configure(settings.logging, verbose=args.verbose)
        for one in settings.per_helpdesk():  # every helpdesk's passwords and secret are masked
            logs.register_settings(one)
        return _dispatch(args, settings)
    except (ConfigError, RulesConfigError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "check-config":
        return _check_config(settings)
    if args.command == "oauth":
        return _oauth_authorize(settings, args)
    from mailbot.service.app import build_apps

    if args.command in {"poll", "run"}:
        heap.tune()  # the long jobs: RSS stays flat over a backlog
    if args.command == "db":
        engine = store.make_engine(settings.database.url)
        store.upgrade(engine)
        print("database schema is up to date")
        return 0
    # One App per helpdesk of the deployment, on one engine; --helpdesk KEY keeps one of them.
    only: str | None = getattr(args, "helpdesk", None)
    apps = build_apps(settings, only=only)
    app = apps[0]
    multi = len(settings.per_helpdesk()) > 1
    if args.command == "poll":
        return _poll(apps, multi)
    if args.command == "run":
        return _run(apps)
    if args.command == "status":
        return _status(apps, args, multi and only is None)
    if args.command == "report":
        return _report_sla(apps, args)
    if args.command == "outbox":
        return _outbox(app, args, only)
    if args.command == "addresses":
        return _addresses(app, args, only)
    with app.factory() as session:
        if args.command == "tickets" and args.action == "list":
            query = select(Ticket).order_by(Ticket.id)
            if args.state:
                query = query.where(Ticket.state == args.state)
            if only is not None:
                query = query.where(Ticket.helpdesk == only)
            return _tickets_list(list(session.scalars(query)), args.json, multi)
        if args.command == "tickets":
            # A number is the ticket's id (it must fit the column); anything else its number (TTS-000123).
            if args.id.strip().lstrip("+-").isdigit() and _row_id(args.id, "tickets show") is None:
                return 2
            ticket = store.ticket_by_number(session, args.id, only)
            if ticket is None:
                print(f"no ticket {args.id}" + (f" in helpdesk {only}" if only else ""), file=sys.stderr)
                return 2
            if only is None and not args.id.strip().isdigit():
                owners = sorted(set(session.scalars(select(Ticket.helpdesk).where(
                    Ticket.number == args.id.strip().upper()))))
                if len(owners) > 1:
                    print(f"ticket {args.id} exists in helpdesks {', '.join(owners)}: add --helpdesk KEY",
                          file=sys.stderr)
                    return 1
            return _ticket_show(_app_of(apps, settings, ticket.helpdesk), ticket, args.json)
        if args.command == "quarantine" and args.action == "list":
            query = select(Quarantine).where(Quarantine.resolved_at.is_(None)).order_by(Quarantine.id)
            if only is not None:
                query = query.where(Quarantine.helpdesk == only)
            rows = session.scalars(query).all()
            for q in rows:
                where = f"{q.helpdesk:10.10}  " if multi else ""
                print(f"{q.id:5d}  {where}{q.at:%Y-%m-%d %H:%M}  {q.sender or '-':30.30}  {q.subject:40.40}  "
                      f"{q.error[:80]}")
            print(f"{len(rows)} mail(s) in quarantine")
            return 0
    if args.command == "quarantine":
        return _quarantine_retry(apps, settings, args.id)
    if args.command == "answers":
        return _answers(app, args)
    if args.command in {"purge", "person"}:
        return _privacy(app, args)
    raise AssertionError(args)


def _addresses(app: Any, args: argparse.Namespace, only: str | None) -> int:
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
        until = "permanent" if r.expires_at is None else f"until {r.expires_at:%Y-%m-%d %H:%M} UTC"
        print(f"{r.helpdesk:10.10}  {r.address:40.40}  {r.at:%Y-%m-%d %H:%M}  {until:24}  {r.reason[:80]}")
    print(f"{len(rows)} address(es) marked")
    return 0


def _app_of(apps: list[Any], settings: Settings, key: str) -> Any:
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


def _poll(apps: list[Any], multi: bool) -> int:
    """``poll --once`` for every helpdesk: a mailbox that fails is reported and the others go on."""
    from mailbot.ops import health
    from mailbot.mail.oauth import OAuthError
    from mailbot.ops.poller import PollStats, flush_outbox, poll_once

    failed = 0
    for app in apps:
        imap = app.settings.imap
        prefix = f"helpdesk {app.settings.helpdesk_key}: " if multi else ""
        try:
            stats = poll_once(app)
        except Exception as exc:  # noqa: BLE001 - one mailbox's failure must not stop the others
            failed += 1
            line = intake.describe_failure(imap, exc)
            log.error("%s%s", prefix, line)
            log.debug("poll of %s failed", imap.username, exc_info=True)
            if not isinstance(exc, OAuthError):  # OAuth2 refusals are recorded by poll_once itself
                health.error(app, imap, line)
            # The mail already owed by this helpdesk still goes out (its SMTP account may be fine).
            stats = PollStats()
            try:
                flush_outbox(app, stats)
            except Exception:  # noqa: BLE001
                log.exception("%soutbox flush failed", prefix)
            print(f"{prefix}FAILED: {line}; " + stats.line().split("; ", 1)[1])
            continue
        print(prefix + stats.line())
    return 1 if failed else 0


def _status(apps: list[Any], args: argparse.Namespace, multi: bool) -> int:
    from mailbot.ops import status

    reports = [status.gather(app, offline=args.offline, expect_run=args.expect_run) for app in apps]
    if not multi:
        report = reports[0]
        if args.json:
            print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        else:
            sys.stdout.write(status.render_text(report))
        return 0 if report.healthy else 1
    # Several helpdesks: each one's report, and the deployment is healthy when every one is.
    healthy = all(r.healthy for r in reports)
    keys = [app.settings.helpdesk_key for app in apps]
    if args.json:
        print(json.dumps({
            "healthy": healthy,
            "problems": [f"{key}: {p}" for key, r in zip(keys, reports, strict=True) for p in r.problems],
            "checked_at": reports[0].checked_at,
            "helpdesks": [{"key": key, "name": app.settings.helpdesk.name, **r.as_dict()}
                          for key, app, r in zip(keys, apps, reports, strict=True)],
        }, indent=2, ensure_ascii=False))
    else:
        print(f"mailbot deployment: {'healthy' if healthy else 'UNHEALTHY'} ({len(apps)} helpdesks)")
        for key, app, r in zip(keys, apps, reports, strict=True):
            sys.stdout.write(f"\n[{key}] {app.settings.helpdesk.name} <{app.settings.helpdesk.address}>\n")
            sys.stdout.write(status.render_text(r))
    return 0 if healthy else 1


#: ``mailbot run`` exit code when another run holds the mailbox (the instance lock).
EXIT_LOCKED = 3


def _run(apps: list[Any]) -> int:
    from mailbot.ops import instancelock

    # The deployment's lock: every mailbox it serves (a second run of any of them exits at once).
    locks: list[Any] = []

    def release_all() -> None:
        for lock in reversed(locks):
            if lock is not None:
                lock.release()

    for app in apps:
        try:
            locks.append(instancelock.acquire(app))
        except instancelock.LockHeld as exc:
            log.error("%s", exc)
            release_all()
            return EXIT_LOCKED
    app = apps[0]
    server = None
    if app.settings.metrics.enabled:
        from mailbot.ops.metrics import MetricsServer

        try:
            server = MetricsServer(app).start()
        except OSError as exc:
            m = app.settings.metrics
            log.error("metrics: cannot listen on %s:%d: %s", m.host, m.port, exc.strerror or exc)
            release_all()
            return 1
    try:
        return _serve(apps)
    finally:
        if server is not None:
            server.stop()
        release_all()


def _serve(apps: list[Any]) -> int:
    """Serve every helpdesk: one thread each (IMAP, its outbox worker, its SLA jobs), one stop for all."""
    from mailbot.ops.poller import run_forever

    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            # Second signal: leave at once (no waiting for the outbox thread or the interpreter).
            log.warning("signal %d again: exiting now", signum)
            os._exit(1)
        log.info("signal %d: finishing the mail in hand, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if len(apps) == 1:
        run_forever(apps[0], stop)
        return 0

    def serve(app: Any) -> None:
        try:
            run_forever(app, stop)
        except Exception:  # noqa: BLE001 - a bug: log it; run_forever has set stop, so all end
            log.exception("helpdesk %s: the service loop failed", app.settings.helpdesk_key)

    # The thread names carry the helpdesk key into the log lines (mailbot.settings.logs.helpdesk_of).
    threads = [threading.Thread(target=serve, args=(app,), name=f"mailbot[{app.settings.helpdesk_key}]", daemon=True)
               for app in apps]
    for thread in threads:
        thread.start()
    log.info("serving %d helpdesks: %s", len(apps), ", ".join(
        f"{a.settings.helpdesk_key} ({a.settings.imap.username})" for a in apps))
    # The main thread only waits, in short steps, so that it takes the signals.
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(timeout=0.5)
    return 0


#: Row ids are SQL integers: SQLite's and PostgreSQL's bigint hold at most this.
MAX_ROW_ID = 2**63 - 1


def _row_id(text: str | None, command: str) -> int | None:
    """``text`` as a row id, or None after one line on stderr (the caller exits 2): a larger
    number reached the database driver as an OverflowError traceback."""
    value = (text or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 19 and 0 < int(value) <= MAX_ROW_ID:
        return int(value)
    print(f"{command}: {text!r} is not an id (a whole number from 1 to {MAX_ROW_ID})", file=sys.stderr)
    return None


def _outbox(app: Any, args: argparse.Namespace, only: str | None = None) -> int:
    from mailbot.storage.models import Outbox

    now = datetime.now(timezone.utc)
    if args.action == "ack":
        if args.id is None and not args.all:
            print("outbox ack: give an ID or --all", file=sys.stderr)
            return 2
        row_id = None
        if not args.all:
            row_id = _row_id(args.id, "outbox ack")
            if row_id is None:
                return 2
        with app.factory.begin() as session:
            if row_id is not None:
                found = session.get(Outbox, row_id)
                if found is None or (only is not None and found.helpdesk != only):
                    print(f"no outbox mail {row_id}" + (f" in helpdesk {only}" if only else ""), file=sys.stderr)
                    return 2
                if found.status != "failed" or found.acknowledged_at is not None:
                    state = "acknowledged already" if found.status == "failed" else found.status
                    print(f"outbox mail {row_id} is not a failed mail waiting for an acknowledgment ({state})",
                          file=sys.stderr)
                    return 1
            query = select(Outbox).where(Outbox.status == "failed", Outbox.acknowledged_at.is_(None))
            if only is not None:
                query = query.where(Outbox.helpdesk == only)
            if row_id is not None:
                query = query.where(Outbox.id == row_id)
            rows = session.scalars(query).all()
            for row in rows:
                row.acknowledged_at = now
            print(f"acknowledged {len(rows)} failed mail(s)")
        return 0
    if args.action == "retry":
        row_id = _row_id(args.id, "outbox retry")
        if row_id is None:
            return 2
        with app.factory.begin() as session:
            if session.get(Outbox, row_id) is None:
                print(f"no outbox mail {row_id}", file=sys.stderr)
                return 2
            row = outbox.retry(session, row_id, now)
            if row is None:
                print(f"outbox mail {row_id} was sent: nothing to retry", file=sys.stderr)
                return 1
            print(f"outbox {row.id} to {', '.join(row.recipients)}: pending again; it is sent on the next flush")
        return 0
    with app.factory() as session:
        query = select(Outbox).order_by(Outbox.id)
        if not args.all:
            query = query.where(Outbox.status != "sent")
        if only is not None:
            query = query.where(Outbox.helpdesk == only)
        rows = session.scalars(query).all()
        for r in rows:
            due = "" if r.status != "pending" else f" next {r.next_attempt_at.astimezone(app.zone):%Y-%m-%d %H:%M:%S}"
            if r.status == "failed" and r.acknowledged_at is not None:
                due = " (acknowledged)"
            print(f"{r.id:5d}  {r.status:7} attempts={r.attempts}{due}  {', '.join(r.recipients):40.40}  "
                  f"{r.last_error[:100]}")
        print(f"{len(rows)} mail(s)")
    return 0


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _report_sla(apps: list[Any], args: argparse.Namespace) -> int:
    from mailbot.ops import report

    if args.date_to < args.date_from:
        print("report: --to is before --from", file=sys.stderr)
        return 2
    if len(apps) > 1 and args.fmt in {"csv", "html"}:
        keys = ", ".join(a.settings.helpdesk_key for a in apps)
        print(f"report: --format {args.fmt} is one helpdesk's report: add --helpdesk KEY ({keys})", file=sys.stderr)
        return 2
    # Each helpdesk's report on its own calendar, time zone and priority table.
    outputs: dict[str, str] = {}
    for app in apps:
        figures = report.build(app, args.date_from, args.date_to)
        zone_name = figures.start.tzname() or ""
        title = f"Kepatuhan standar waktu SOP - {app.settings.helpdesk.name}"
        outputs[app.settings.helpdesk_key] = report.render(figures, args.fmt, title=title, zone_name=zone_name)
    if len(apps) == 1:
        sys.stdout.write(next(iter(outputs.values())))
    elif args.fmt == "json":
        print(json.dumps({key: json.loads(text) for key, text in outputs.items()}, indent=2, ensure_ascii=False))
    else:
        for app in apps:
            sys.stdout.write(f"== {app.settings.helpdesk_key}: {app.settings.helpdesk.name} ==\n")
            sys.stdout.write(outputs[app.settings.helpdesk_key] + "\n")
    return 0


def _tickets_list(tickets: list[Ticket], as_json: bool, multi: bool = False) -> int:
    from mailbot.service.views import ticket_summary

    if as_json:
        print(json.dumps([ticket_summary(t) for t in tickets], indent=2, ensure_ascii=False))
        return 0
    where = f"{'helpdesk':10} " if multi else ""
    print(f"{where}{'number':12} {'state':13} {'priority':8} {'category':22} {'requester':28} subject")
    for t in tickets:
        where = f"{t.helpdesk:10.10} " if multi else ""
        print(f"{where}{t.number or '':12} {t.state:13} {t.priority:8} {t.category:22.22} {t.requester:28.28} "
              f"{t.subject}")
    print(f"{len(tickets)} ticket(s)")
    return 0


def _ticket_show(app: Any, ticket: Ticket, as_json: bool) -> int:
    from mailbot.service.views import ticket_detail

    if as_json:
        print(json.dumps(ticket_detail(ticket), indent=2, ensure_ascii=False))
        return 0
    zone = app.zone
    print(f"{ticket.number}  {ticket.subject}")
    print(f"  state {ticket.state}, priority {ticket.priority}, category {ticket.category}"
          + ("" if ticket.category_matched else " (unmatched)"))
    print(f"  requester {ticket.requester_name} <{ticket.requester}>  phone {ticket.phone or '-'}")
    print(f"  assignee {ticket.assignee or '-'}  missing {', '.join(ticket.missing or []) or '-'}"
          + (f"  rating {ticket.rating}/5" if ticket.rating else ""))
    deadlines = [("resolution", ticket.due_at), ("priority", ticket.priority_due_at), ("call", ticket.call_due_at),
                 ("analysis", ticket.analysis_due_at), ("reminder", ticket.remind_at),
                 ("auto-close", ticket.autoclose_at)]
    shown = [f"{name} {at.astimezone(zone):%Y-%m-%d %H:%M}" for name, at in deadlines if at is not None]
    if ticket.paused_since is not None:
        shown.append(f"clock paused since {ticket.paused_since.astimezone(zone):%Y-%m-%d %H:%M} (waiting for the user)")
    if shown:
        print("  deadlines: " + "; ".join(shown))
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


def _quarantine_retry(apps: list[Any], settings: Settings, text: str) -> int:
    from mailbot.service.inbound import process_raw
    from mailbot.storage.models import Inbound

    qid = _row_id(text, "quarantine retry")
    if qid is None:
        return 2
    with apps[0].factory.begin() as session:
        q = session.get(Quarantine, qid)
        if q is None:
            print(f"no quarantine entry {qid}", file=sys.stderr)
            return 2
        if q.resolved_at is not None:
            print(f"quarantine entry {qid} was processed again already ({q.resolved_at:%Y-%m-%d %H:%M} UTC)",
                  file=sys.stderr)
            return 1
        # Processed again by the helpdesk whose mailbox it came from.
        app = _app_of(apps, settings, q.helpdesk)
        raw = q.raw
        # Forget the quarantine outcome so the retry is not taken for a duplicate.
        inbound = session.scalar(select(Inbound).where(Inbound.helpdesk == q.helpdesk,
                                                       Inbound.message_id == q.message_id))
        if inbound is not None:
            session.delete(inbound)
    outcome = process_raw(app, raw, datetime.now(timezone.utc))
    with app.factory.begin() as session:
        q = session.get(Quarantine, qid)
        if outcome.kind != "quarantined" and q is not None:
            q.resolved_at = datetime.now(timezone.utc)
        elif q is not None:
            # Failed again: keep this one entry, with the latest error (not a second record).
            for newer in session.scalars(select(Quarantine).where(Quarantine.message_id == q.message_id,
                                                                  Quarantine.helpdesk == q.helpdesk,
                                                                  Quarantine.id > q.id)):
                q.error = newer.error
                session.delete(newer)
    print(f"retry: {outcome.kind} {outcome.ticket_number or ''} {outcome.reason}")
    if outcome.kind == "quarantined":
        return 1
    from mailbot.mail import intake

    # The stored record is the truth; the server copy only follows it. A mailbox that cannot be
    # reached now leaves the copy where it is, which is said, not an error of the retry.
    try:
        moved = intake.release_quarantined(app.settings.imap, raw)
    except Exception as exc:  # noqa: BLE001 - IMAP down, login refused, ...
        print(f"the copy in the mailbox folder {app.settings.imap.quarantine_folder!r} was not moved: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
    else:
        if moved:
            print(f"moved its copy from {app.settings.imap.quarantine_folder!r} to "
                  f"{app.settings.imap.processed_folder!r}")
    return 0


def _privacy(app: Any, args: argparse.Namespace) -> int:
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


def _answers(app: Any, args: argparse.Namespace) -> int:
    if args.action == "list":
        for a in app.answers.answers:
            auto = " (auto)" if a.auto_answer else ""
            print(f"#jawab {a.id:<3} {a.key:24} {a.title}{auto}  [{', '.join(a.categories)}]")
        return 0
    from pathlib import Path

    from mailbot.ops.answers_eval import suggestion_hit_rate
    from mailbot.settings.config import PROJECT_ROOT

    directory = Path(args.dir) if args.dir else PROJECT_ROOT / "tests" / "data" / "labeled"
    result = suggestion_hit_rate(app.answers, app.table, directory)
    print(f"top-3 suggestion hit rate: {result.hits}/{result.total} = {result.rate:.1%}")
    for name in result.misses:
        print(f"  miss: {name}")
    return 0


def _oauth_authorize(settings: Settings, args: argparse.Namespace) -> int:
    """``oauth authorize``: the consent in a browser; the refresh token alone on stdout."""
    from mailbot.mail import consent

    one = settings
    if args.helpdesk is not None:
        chosen = [s for s in settings.per_helpdesk() if s.helpdesk_key == args.helpdesk]
        if not chosen:
            print(f"no helpdesk {args.helpdesk!r} in the config", file=sys.stderr)
            return 2
        one = chosen[0]
    names = [args.server] if args.server else [n for n in ("imap", "smtp") if getattr(one, n).auth == "xoauth2"]
    server = getattr(one, names[0]) if names else None
    if server is None or server.auth != "xoauth2" or server.oauth2 is None:
        print(f"[{args.server or 'imap'}] does not use auth = \"xoauth2\": there is nothing to authorize",
              file=sys.stderr)
        return 2
    oauth2, name = server.oauth2, names[0]
    where = "oauth2" if one.oauth2 is not None and oauth2 == one.oauth2 else f"{name}.oauth2"  # for messages
    redirect = args.redirect_uri or f"http://127.0.0.1:{args.port}/"
    try:
        listener = None if args.paste else consent.RedirectListener(redirect)
        try:
            started = consent.begin(oauth2, listener.redirect_uri if listener else redirect,
                                    login_hint=server.username)
            if listener is not None:
                listener.state = started.state
            print(f"Sign in as {server.username} and consent (mailbot client {oauth2.client_id}) at:\n\n"
                  f"  {started.url}\n", file=sys.stderr)
            if listener is not None:
                print(f"Waiting for the browser at {listener.redirect_uri} (up to {args.timeout:.0f} s)...",
                      file=sys.stderr, flush=True)
                redirected = listener.wait(args.timeout)
            else:
                print("Then paste the whole address the browser ended on (it may show an error page):",
                      file=sys.stderr, flush=True)
                redirected = sys.stdin.readline()
        finally:
            if listener is not None:
                listener.close()
        tokens = consent.exchange(oauth2, started, consent.code_from_redirect(started, redirected), where=where)
    except consent.ConsentError as exc:
        print(f"consent failed: {exc}", file=sys.stderr)
        return 1
    logs.register_secret(tokens.refresh_token)
    logs.register_secret(tokens.access_token)
    target = (f"the variable {oauth2.refresh_token_env} (refresh_token_env), e.g. in /etc/mailbot/mailbot.env"
              if oauth2.refresh_token_env else f"{where}.refresh_token")
    print(f"Consent given (scope: {tokens.scope or '-'}). The refresh token is on standard output; put it in "
          f"{target}, then run check-config.", file=sys.stderr)
    print(tokens.refresh_token)
    return 0


def _check_config(settings: Settings) -> int:
    print("config: ok")
    deployment = settings.per_helpdesk()
    if len(deployment) == 1:
        return 1 if _check_helpdesk(settings) else 0
    failures = 0
    for one in deployment:  # every mailbox, templates and table of the deployment
        print(f"helpdesk {one.helpdesk_key} ({one.helpdesk.name} <{one.helpdesk.address}>):")
        failures += _check_helpdesk(one)
    return 1 if failures else 0


def _check_helpdesk(settings: Settings) -> int:
    """Logins, priority table, answers and templates of one helpdesk; the number of failures."""
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
        from mailbot.mail.render import Renderer, sample_context
        from mailbot.settings.priorities import load_priority_table

        table = load_priority_table(settings.paths.priorities)
        print("priority table: ok")
        from mailbot.service.app import load_answer_library

        library = load_answer_library(settings, Renderer(settings.paths.templates), table)
        print(f"canned answers: ok ({len(library.answers)})")
        problems = Renderer(settings.paths.templates).check(sample_context())
        for line in problems:
            print(f"template: FAILED {line}")
        failures += len(problems)
        if not problems:
            print("templates: ok")
    except RulesConfigError as exc:
        failures += 1
        print(f"priority table: FAILED {exc}")
    except ConfigError as exc:
        failures += 1
        print(f"FAILED {exc}")
    from mailbot.service.app import secret_source

    print(f"secret: {secret_source(settings)}")
    _check_staff_auth(settings)
    return failures


def _check_staff_auth(settings: Settings) -> None:
    """Warnings (not failures: the bot cannot see the MTA's setup) for the ``dkim`` staff proof."""
    staff = settings.staff
    if "dkim" not in staff.command_auth:
        return
    ids = ", ".join(staff.trusted_authserv_ids)
    if not staff.trusted_authserv_ids:
        print('staff auth: WARNING "dkim" is in staff.command_auth but staff.trusted_authserv_ids is empty: '
              "no staff mail can pass by DKIM/DMARC")
    print(f'staff auth: WARNING "dkim" is in staff.command_auth: the receiving MTA must remove (strip) every '
          f"Authentication-Results header carrying its own authserv-id ({ids or 'none trusted'}) from incoming "
          "mail before adding its own (RFC 8601 section 5), and must add one to every mail; otherwise a sender "
          "can forge a passing result and run staff commands")


if __name__ == "__main__":
    raise SystemExit(main())
