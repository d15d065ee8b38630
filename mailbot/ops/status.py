"""``mailbot status``: is the service healthy? One screen for the operator, JSON and an exit code for monitoring.

Unhealthy (exit 1) when any of these holds:

1. the IMAP login fails (server unreachable, login refused, OAuth2 token refused) - skipped
   with ``--offline``;
2. the SMTP login fails - skipped with ``--offline``;
3. the service recorded a refused OAuth2 token refresh for a mailbox and no login has
   worked since;
4. a ``mailbot run`` is expected (one started and did not stop cleanly, or ``--expect-run``)
   and the last successful poll of the mailbox is older than 3 x ``imap.poll_interval``, or
   with IDLE 3 x ``imap.idle_refresh`` if that is longer (a quiet mailbox in IDLE is polled
   once per renewal), or there was none;
5. the outbox holds failed mail no operator has acknowledged (``mailbot outbox ack``); failed
   mail to staff (notifications, notices, the digest) is named on a line of its own: nobody
   is told of it by mail (that could loop), so this is where it shows;
6. the database is on a disk that is full (SQLite: less free space next to the database file
   than one mail of ``storage.max_message_bytes``), or reading it fails:
   ``database: disk full (...)``.

Reported without making it unhealthy: mail waiting in the outbox, the quarantine, tickets
near (>= 75 % of a standard used) or past a deadline - work for staff, not a fault of the
service.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, or_, select

from mailbot.mail import intake, outbox
from mailbot.ops import health, leases
from mailbot.storage import errors
from mailbot.storage.models import MailboxStatus, Message, Outbox, Quarantine

if TYPE_CHECKING:
    from mailbot.service.app import App
    from mailbot.settings.config import ImapSettings

#: How long a reachability check may take, at most (seconds).
CHECK_TIMEOUT = 10.0
#: A poll older than this many poll intervals (IDLE renewals) means the running service is stuck or gone.
STALE_POLLS = 3


def _quiet_name(imap: ImapSettings) -> str:
    """The setting the staleness limit is counted in (``ImapSettings.longest_quiet``)."""
    return "poll_interval" if imap.longest_quiet == imap.poll_interval else "idle_refresh"


@dataclass
class MailboxReport:
    kind: str
    mailbox: str
    server: str
    auth: str
    reachable: bool | None = None  # None: not checked (--offline)
    check_error: str = ""
    last_ok_at: str | None = None
    last_ok_age_seconds: float | None = None
    last_error: str = ""
    last_error_at: str | None = None
    oauth_failing_since: str | None = None
    oauth_error: str = ""
    oauth_refresh_failures: int = 0
    run_expected: bool = False
    run: str = ""
    #: ``[workers] share_mailboxes``: the worker whose lease covers this mailbox, and until when.
    lease: str = ""


@dataclass
class Report:
    healthy: bool
    problems: list[str]
    checked_at: str
    mailboxes: list[MailboxReport]
    outbox: dict[str, Any]
    quarantine: int
    tickets: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    #: Ids of failed mail to staff not acknowledged (also counted in ``outbox``).
    staff_mail_failed: list[int] = field(default_factory=list)
    #: Free bytes on the file system of a SQLite database (None: not a file, or PostgreSQL).
    database_free_bytes: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at is not None else None


def _utc(at: datetime) -> str:
    """A time inside a sentence (problems, the run): ``2026-03-02 01:30:00 UTC``."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _check_imap(app: App) -> str:
    settings = app.settings.imap.model_copy(update={"timeout": min(app.settings.imap.timeout, CHECK_TIMEOUT)})
    try:
        box = intake.connect(settings)
    except Exception as exc:
        return intake.describe_failure(settings, exc)
    try:
        box.logout()
    except Exception:
        pass
    return ""


def _check_smtp(app: App) -> str:
    settings = app.settings.smtp.model_copy(update={"timeout": min(app.settings.smtp.timeout, CHECK_TIMEOUT)})
    try:
        asyncio.run(outbox.check_login(settings))
    except Exception as exc:
        text = " ".join(str(exc).split())
        return f"smtp {settings.username} at {settings.host}:{settings.port}: {type(exc).__name__}: {text}"
    return ""


#: Failed mail to staff: in a ticket's staff conversation, or one without a ticket (the digest,
#: the OAuth2 notice to the coordinator), which only staff get.
_TO_STAFF = or_(Outbox.ticket_id.is_(None),
                exists().where(Message.message_id == Outbox.message_id, Message.channel == "staff"))


def _megabytes(size: float) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _sqlite_path(app: App) -> str | None:
    bind = app.factory.kw.get("bind")
    url = getattr(bind, "url", None)
    if url is None or url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    return None if database in ("", ":memory:") or database.startswith("file:") else database


def _disk_problem(app: App) -> tuple[str | None, int | None]:
    """(problem, free bytes) for the disk of a SQLite database file."""
    path = _sqlite_path(app)
    if path is None:
        return None, None
    try:
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(path)) or ".").free
    except OSError:
        return None, None
    needed = app.settings.storage.max_message_bytes
    if free >= needed:
        return None, free
    return (f"database: disk full ({_megabytes(free)} free on the file system of {path}, less than one mail of "
            f"storage.max_message_bytes = {_megabytes(needed)}): mail cannot be stored; free space"), free


def gather(app: App, *, offline: bool = False, expect_run: bool = False, now: datetime | None = None) -> Report:
    from mailbot.service import deadlines
    from mailbot.service import sla_jobs as sla_service

    now = now or datetime.now(timezone.utc)
    settings = app.settings
    problems: list[str] = []
    notes: list[str] = []
    # This helpdesk's share of the deployment's database (cli.status gathers one report per helpdesk).
    mine = Outbox.helpdesk == settings.helpdesk_key
    disk, free = _disk_problem(app)
    if disk is not None:
        problems.append(disk)
    rows: dict[str, MailboxStatus] = {}
    pending = failed = quarantined = 0
    oldest: datetime | None = None
    unacked_ids: list[int] = []
    staff_ids: set[int] = set()
    near_items: list[dict[str, Any]] = []
    try:
        with app.factory() as session:
            rows = {r.key: r for r in session.scalars(select(MailboxStatus))}
            pending = session.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.status == "pending", mine)) or 0
            oldest = session.scalar(select(func.min(Outbox.created_at)).where(Outbox.status == "pending", mine))
            failed = session.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.status == "failed", mine)) or 0
            unacked = (Outbox.status == "failed", Outbox.acknowledged_at.is_(None), mine)
            unacked_ids = list(session.scalars(select(Outbox.id).where(*unacked).order_by(Outbox.id)))
            if unacked_ids:
                staff_ids = set(session.scalars(select(Outbox.id).where(*unacked, _TO_STAFF)))
            quarantined = session.scalar(select(func.count()).select_from(Quarantine).where(
                Quarantine.resolved_at.is_(None), Quarantine.helpdesk == settings.helpdesk_key)) or 0
            setup = deadlines.Setup.of(app)
            near_items = sla_service.digest_context(app, session, setup, now)["near"]
    except Exception as exc:
        problem = errors.database_problem(exc)
        if problem is None:
            raise
        if not (disk is not None and problem.startswith("database: disk full")):
            problems.append(f"{problem}: the service's records could not be read")
    mailboxes: list[MailboxReport] = []
    for server in (settings.imap, settings.smtp):
        kind = health.kind_of(server)
        row = rows.get(health.key_of(server))
        report = MailboxReport(kind=kind, mailbox=server.username, server=f"{server.host}:{server.port}",
                               auth=server.auth)
        name = health.describe(server)
        if row is not None:
            report.last_ok_at = _iso(row.last_ok_at)
            report.last_ok_age_seconds = (now - row.last_ok_at).total_seconds() if row.last_ok_at else None
            report.last_error, report.last_error_at = row.last_error, _iso(row.last_error_at)
            report.oauth_failing_since, report.oauth_error = _iso(row.auth_failed_at), row.auth_error
            report.oauth_refresh_failures = row.auth_failures
            if row.auth_failed_at is not None:
                problems.append(f"{name}: OAuth2 token refresh refused since {_utc(row.auth_failed_at)}: "
                                f"{row.auth_error}")
        if kind == "imap":
            running = row is not None and row.run_started_at is not None and row.run_stopped_at is None
            report.run_expected = running or expect_run
            if row is not None and row.run_started_at is not None:
                report.run = (f"pid {row.run_pid} on {row.run_host}, started {_utc(row.run_started_at)}"
                              + (f", stopped {_utc(row.run_stopped_at)}" if row.run_stopped_at else ""))
            if report.run_expected:
                limit = STALE_POLLS * settings.imap.longest_quiet
                if row is None or row.last_ok_at is None:
                    problems.append(f"{name}: mailbot run is expected but has never polled it")
                elif (now - row.last_ok_at) > timedelta(seconds=limit):
                    problems.append(f"{name}: last successful poll {_utc(row.last_ok_at)}, "
                                    f"{(now - row.last_ok_at).total_seconds():.0f} s ago (more than "
                                    f"{STALE_POLLS} x {_quiet_name(settings.imap)} = {limit:g} s)")
        if kind == "imap" and leases.sharing(app):
            report.lease = _lease_line(app)
        if not offline:
            failure = _check_imap(app) if kind == "imap" else _check_smtp(app)
            report.reachable = not failure
            report.check_error = failure
            if failure:
                problems.append(f"{name}: login check failed: {failure}")
        mailboxes.append(report)
    to_staff = [i for i in unacked_ids if i in staff_ids]
    others = [i for i in unacked_ids if i not in staff_ids]
    if to_staff:
        problems.append(f"outbox: {len(to_staff)} failed mail(s) to staff not acknowledged ({_ids(to_staff)}): staff did "
                        f"not get these notifications and no mail tells anyone; see mailbot outbox list; mailbot "
                        f"outbox retry ID or mailbot outbox ack ID")
    if others:
        problems.append(f"outbox: {len(others)} failed mail(s) not acknowledged ({_ids(others)}): see mailbot outbox "
                        f"list; mailbot outbox retry ID or mailbot outbox ack ID")
    if offline:
        notes.append("IMAP and SMTP logins not checked (--offline)")
    near = [item for item in near_items if not item["breached"]]
    past = [item for item in near_items if item["breached"]]
    return Report(
        healthy=not problems, problems=problems, checked_at=_iso(now) or "", mailboxes=mailboxes,
        outbox={"pending": pending, "oldest_pending": _iso(oldest), "failed": failed,
                "failed_unacknowledged": len(unacked_ids)},
        quarantine=quarantined,
        tickets={"near_deadline": len({i["number"] for i in near}), "past_deadline": len({i["number"] for i in past}),
                 "items": [{k: item[k] for k in ("number", "priority", "label", "deadline", "percent", "breached")}
                           for item in near_items]},
        notes=notes,
        staff_mail_failed=to_staff,
        database_free_bytes=free,
    )


def _lease_line(app: App) -> str:
    """Who watches this mailbox under ``[workers] share_mailboxes`` (the database's clock)."""
    try:
        with app.factory() as session:
            row, now = leases.holder_of(session, app)
    except Exception as exc:
        problem = errors.database_problem(exc)
        if problem is None:
            raise
        return f"unknown ({problem})"
    if row is None:
        return "no worker holds it"
    left = (row.expires_at - now).total_seconds()
    if left < 0:
        return f"EXPIRED {-left:.0f} s ago (was {row.holder}): the next live worker takes it over"
    return f"held by worker {row.holder} since {_utc(row.acquired_at)}, renewed (expires in {left:.0f} s)"


def _ids(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids[:10]) + (" ..." if len(ids) > 10 else "")


def _shown(iso: str | None) -> str:
    """An ISO time of the report (UTC) for the text: ``2026-03-02 01:30:00 UTC``, the zone named."""
    if not iso:
        return ""
    try:
        at = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if at.tzinfo else iso


def render_text(report: Report) -> str:
    """The report for a person; its times in UTC, said so (the JSON has them in ISO 8601)."""
    lines = [f"mailbot status: {'healthy' if report.healthy else 'UNHEALTHY'} ({_shown(report.checked_at)})"]
    for m in report.mailboxes:
        reach = {None: "not checked", True: "login ok", False: "login FAILED"}[m.reachable]
        head = f"  {m.kind} {m.mailbox} at {m.server} ({m.auth}): {reach}"
        if m.kind == "imap":
            last = (f"last poll {_shown(m.last_ok_at)} ({m.last_ok_age_seconds:.0f} s ago)" if m.last_ok_at
                    and m.last_ok_age_seconds is not None else "never polled")
        else:
            last = f"last send {_shown(m.last_ok_at)}" if m.last_ok_at else "nothing sent yet"
        lines.append(f"{head}; {last}")
        if m.kind == "imap" and m.run:
            lines.append(f"    run: {m.run}{' (expected to be polling)' if m.run_expected else ''}")
        if m.lease:
            lines.append(f"    lease: {m.lease}")
        if m.oauth_failing_since:
            lines.append(f"    OAuth2 FAILING since {_shown(m.oauth_failing_since)}: {m.oauth_error}")
        if m.last_error:
            lines.append(f"    last error {_shown(m.last_error_at)}: {m.last_error[:300]}")
        if m.check_error:
            lines.append(f"    check: {m.check_error}")
    o = report.outbox
    lines.append(f"  outbox: {o['pending']} pending" + (f" (oldest {_shown(o['oldest_pending'])})" if o["oldest_pending"] else "")
                 + f", {o['failed']} failed ({o['failed_unacknowledged']} not acknowledged"
                 + (f", {len(report.staff_mail_failed)} of them to staff" if report.staff_mail_failed else "") + ")")
    lines.append(f"  quarantine: {report.quarantine} mail(s)")
    t = report.tickets
    lines.append(f"  tickets: {t['near_deadline']} near a deadline (>= 75 %), {t['past_deadline']} past a deadline")
    for item in t["items"][:20]:
        state = "PAST" if item["breached"] else f"{item['percent']} %"
        lines.append(f"    {item['number']} {item['priority']:7} {item['label']}: {item['deadline']} ({state})")
    for note in report.notes:
        lines.append(f"  note: {note}")
    if report.problems:
        lines.append("problems:")
        lines.extend(f"  - {p}" for p in report.problems)
    return "\n".join(lines) + "\n"
