"""What the service records about its mailboxes, for ``mailbot status`` and the metrics.

One ``mailbox_status`` row per account (``imap user@host:port``, ``smtp user@host:port``):
the last successful poll (IMAP) or send (SMTP), the last error and its time, an OAuth2
refresh failure while it lasts, and, on the IMAP row, the ``mailbot run`` working it.

An OAuth2 refresh that the provider refuses (revoked or expired consent) is an outage the
operator must end: :func:`auth_failed` records it, and the first time (once per outage)
queues ``staff_auth_failed`` to the coordinator (all staff when there is none) through the
outbox; :func:`ok` ends the outage when a login works again. Nothing here may stop the
service: every write is best-effort and a failure is only logged.

:func:`database_problem` tells an error of the database (or of the disk under it) from a
mailbox outage, so that a full disk is reported as ``database: disk full (...)`` and not as
a lost IMAP connection.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.config import ImapSettings, SmtpSettings
from mailbot.store import MailboxStatus

if TYPE_CHECKING:
    from mailbot.service import App

log = logging.getLogger(__name__)

Server = ImapSettings | SmtpSettings

#: sqlite3's result code for "database or disk is full" (``sqlite_errorcode`` of its errors).
SQLITE_FULL = 13
#: PostgreSQL's SQLSTATE disk_full.
PG_DISK_FULL = "53100"
_DISK_FULL_TEXTS = ("database or disk is full", "no space left on device")
_DATABASE_MODULES = ("sqlalchemy", "sqlite3", "psycopg", "psycopg2", "alembic")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, the DBAPI error SQLAlchemy wraps (``orig``), and their causes and contexts."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 20:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        orig = getattr(item, "orig", None)
        todo.extend([orig if isinstance(orig, BaseException) else None, item.__cause__, item.__context__])
    return seen


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    if getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL:
        return True
    if PG_DISK_FULL in (getattr(exc, "sqlstate", None), getattr(exc, "pgcode", None)):
        return True
    text = str(exc).lower()
    return any(t in text for t in _DISK_FULL_TEXTS)


def _is_database_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".", 1)[0] in _DATABASE_MODULES


def database_problem(exc: BaseException) -> str | None:
    """One line for an error of the database or a full disk, ``None`` for any other error.

    ``database: disk full (sqlite3.OperationalError: database or disk is full)`` for SQLite's
    SQLITE_FULL, PostgreSQL's disk_full or an ``OSError`` ENOSPC (the sender's journal next to
    a SQLite database); ``database: <error>`` for other database errors. Only the first line of
    the driver's message: SQLAlchemy's text carries the SQL statement and PostgreSQL's DETAIL
    the values, and neither belongs in a log line.
    """
    chain = _chain(exc)
    full = next((e for e in chain if _is_disk_full(e)), None)
    database = next((e for e in chain if _is_database_error(e) and getattr(e, "orig", None) is None), None)
    if database is None:
        database = next((e for e in chain if _is_database_error(e)), None)
    if full is None and database is None:
        return None
    shown = database if database is not None and not isinstance(full, OSError) else full
    assert shown is not None
    kind = type(shown)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    lines = str(shown).strip().splitlines()
    text = " ".join(lines[0].split()) if lines else ""
    detail = f"{name}: {text}" if text else name
    return f"database: disk full ({detail})" if full is not None else f"database: {detail}"


def kind_of(server: Server) -> str:
    return "imap" if isinstance(server, ImapSettings) else "smtp"


def key_of(server: Server) -> str:
    return f"{kind_of(server)} {server.username}@{server.host}:{server.port}"


def describe(server: Server) -> str:
    """How log lines and notices name a mailbox: ``imap mailbox helpdesk@lpse.go.id at host:993``."""
    return f"{kind_of(server)} mailbox {server.username} at {server.host}:{server.port}"


def _row(session: Session, server: Server, now: datetime) -> MailboxStatus:
    key = key_of(server)
    row = session.scalar(select(MailboxStatus).where(MailboxStatus.key == key))
    if row is None:
        row = MailboxStatus(key=key, kind=kind_of(server), mailbox=server.username,
                            server=f"{server.host}:{server.port}", last_error="", auth_error="", auth_failures=0,
                            run_host="", updated_at=now)
        session.add(row)
    return row


def _write(factory: sessionmaker[Session], server: Server, change, now: datetime):  # type: ignore[no-untyped-def]
    """Run ``change(session, row)`` in its own transaction (twice if another process made the row)."""
    for attempt in (1, 2):
        try:
            with factory.begin() as session:
                row = _row(session, server, now)
                result = change(session, row)
                row.updated_at = now
                return result
        except IntegrityError:
            if attempt == 2:
                raise
    return None


def _write_failed(exc: BaseException, message: str, *args: object) -> None:
    """A record that could not be written: one line for a database error (a full disk is no bug,
    and the service goes on), a traceback for anything else."""
    problem = database_problem(exc)
    if problem is None:
        log.warning(message, *args, exc_info=exc)
    else:
        log.warning(message + ": %s", *args, problem)


def ok(app: App, server: Server, now: datetime | None = None) -> None:
    """A successful poll (IMAP) or send (SMTP); ends an OAuth2 outage."""
    now = now or datetime.now(timezone.utc)

    def change(session: Session, row: MailboxStatus) -> None:
        row.last_ok_at = now
        if row.auth_failed_at is not None:
            log.info("%s: login works again (OAuth2 failing since %s)", describe(server),
                     row.auth_failed_at.isoformat(timespec="seconds"))
            row.auth_failed_at = None
            row.auth_notified_at = None
            row.auth_error = ""

    try:
        _write(app.factory, server, change, now)
    except Exception as exc:  # noqa: BLE001 - bookkeeping must not stop the service
        _write_failed(exc, "could not record the status of %s", describe(server))


def error(app: App, server: Server, text: str, now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)

    def change(session: Session, row: MailboxStatus) -> None:
        row.last_error = text[:2000]
        row.last_error_at = now

    try:
        _write(app.factory, server, change, now)
    except Exception as exc:  # noqa: BLE001
        _write_failed(exc, "could not record the status of %s", describe(server))


def auth_failed(app: App, server: Server, text: str, now: datetime | None = None) -> bool:
    """Record a refused OAuth2 refresh; True the first time in this outage (the caller logs it loudly).

    The first time, the coordinator gets ``staff_auth_failed`` through the outbox (in the
    same transaction as the record, so it is queued exactly once per outage).
    """
    now = now or datetime.now(timezone.utc)

    def change(session: Session, row: MailboxStatus) -> bool:
        row.last_error, row.last_error_at = text[:2000], now
        row.auth_error = text[:2000]
        row.auth_failures += 1
        new = row.auth_failed_at is None
        if new:
            row.auth_failed_at = now
        if row.auth_notified_at is None:
            _notify(app, session, server, text, row.auth_failed_at or now, now)
            row.auth_notified_at = now
        return new

    try:
        return bool(_write(app.factory, server, change, now))
    except Exception as exc:  # noqa: BLE001
        _write_failed(exc, "could not record the OAuth2 failure of %s", describe(server))
        return True


def run_started(app: App, now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)

    def change(session: Session, row: MailboxStatus) -> None:
        row.run_started_at, row.run_stopped_at = now, None
        row.run_pid, row.run_host = os.getpid(), socket.gethostname()[:255]

    try:
        _write(app.factory, app.settings.imap, change, now)
    except Exception as exc:  # noqa: BLE001
        _write_failed(exc, "could not record the start of mailbot run")


def run_stopped(app: App, now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)

    def change(session: Session, row: MailboxStatus) -> None:
        if row.run_pid in (None, os.getpid()):
            row.run_stopped_at = now  # a cooperating worker that stops does not speak for the others

    try:
        _write(app.factory, app.settings.imap, change, now)
    except Exception as exc:  # noqa: BLE001
        _write_failed(exc, "could not record the stop of mailbot run")


def _notify(app: App, session: Session, server: Server, text: str, since: datetime, now: datetime) -> None:
    from mailbot import outbox
    from mailbot.compose import build_message, make_message_id

    settings = app.settings
    recipients = [settings.staff.coordinator] if settings.staff.coordinator else list(settings.staff.addresses)
    oauth = server.oauth2
    context = {
        "helpdesk": {"name": settings.helpdesk.name, "address": settings.helpdesk.address,
                     "phone": settings.helpdesk.phone},
        "auth": {"kind": kind_of(server).upper(), "mailbox": server.username,
                 "server": f"{server.host}:{server.port}", "error": text,
                 "since": since.astimezone(app.zone).strftime("%d-%m-%Y %H:%M %Z"),
                 "token_url": oauth.token_url if oauth else "", "client_id": oauth.client_id if oauth else "",
                 "smtp_affected": kind_of(server) == "smtp" or (
                     settings.smtp.auth == "xoauth2" and settings.smtp.oauth2 == oauth)},
    }
    rendered = app.renderer.render("staff_auth_failed", context)
    message_id = make_message_id(settings.helpdesk.address.partition("@")[2])
    msg = build_message(rendered, sender_name=settings.helpdesk.name, sender=settings.helpdesk.address,
                        to=recipients, message_id=message_id, date=now, ticket_number="status",
                        auto_submitted="auto-generated")
    outbox.queue(session, msg, message_id=message_id, mail_from=settings.helpdesk.address, recipients=recipients,
                 ticket_id=None, now=now, helpdesk=settings.helpdesk_key)
    log.info("%s: coordinator told that the OAuth2 login fails (%s)", describe(server), ", ".join(recipients))
