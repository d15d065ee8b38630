"""What the service records about its mailboxes, for ``mailbot status`` and the metrics.

One ``mailbox_status`` row per account (``imap user@host:port``, ``smtp user@host:port``):
the last successful poll (IMAP) or send (SMTP), the last error and its time, an OAuth2
refresh failure while it lasts, and, on the IMAP row, the ``mailbot run`` working it.

An OAuth2 refresh that the provider refuses (revoked or expired consent) is an outage the
operator must end: :func:`auth_failed` records it, and the first time (once per outage)
queues ``staff_auth_failed`` to the coordinator (all staff when there is none) through the
outbox; :func:`ok` ends the outage when a login works again. Nothing here may stop the
service: every write is best-effort and a failure is only logged.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.settings.config import ImapSettings, SmtpSettings
from mailbot.storage import errors
from mailbot.storage.models import MailboxStatus

if TYPE_CHECKING:
    from mailbot.service.app import App

log = logging.getLogger(__name__)

Server = ImapSettings | SmtpSettings

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
    problem = errors.database_problem(exc)
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
    except Exception as exc:
        _write_failed(exc, "could not record the status of %s", describe(server))


class Beats:
    """The successful polls of many mailboxes, recorded together (``mailbot run`` of many
    helpdesks, issue 24).

    Every watched mailbox records a poll at least every ``poll_interval`` (without IDLE) or
    ``idle_refresh`` (each IDLE renewal), and after every mail: with
    hundreds of them, a transaction each was the largest part of the process's idle CPU once the
    outbox and SLA work was asked of the deployment at once (a profile at 600 mailboxes). The
    watchers ``note`` their polls (the first after each login still goes through :func:`ok`,
    which makes the row and ends an OAuth2 outage), and ``flush`` writes all of them in one
    transaction, every few seconds, each with the time of its own poll, never moving a
    ``last_ok_at`` back. ``mailbot status`` calls a poll stale only after 3 poll intervals.
    """

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def note(self, server: Server, now: datetime | None = None) -> None:
        with self._lock:
            self._seen[key_of(server)] = now or datetime.now(timezone.utc)

    def flush(self) -> int:
        """Write the polls noted since the last flush (one transaction); how many."""
        with self._lock:
            seen, self._seen = self._seen, {}
        if not seen:
            return 0
        try:
            with self.factory.begin() as session:
                session.execute(_BEAT, [{"status_key": key, "at": at} for key, at in seen.items()])
        except Exception as exc:
            with self._lock:  # written with the next flush, unless a newer poll came meanwhile
                for key, at in seen.items():
                    self._seen.setdefault(key, at)
            _write_failed(exc, "could not record the polls of %d mailboxes", len(seen))
            return 0
        return len(seen)


_STATUS = cast(Table, MailboxStatus.__table__)
_BEAT = (update(_STATUS).where(_STATUS.c.key == bindparam("status_key"),
                               or_(_STATUS.c.last_ok_at.is_(None), _STATUS.c.last_ok_at < bindparam("at")))
         .values(last_ok_at=bindparam("at"), updated_at=bindparam("at")))


def error(app: App, server: Server, text: str, now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)

    def change(session: Session, row: MailboxStatus) -> None:
        row.last_error = text[:2000]
        row.last_error_at = now

    try:
        _write(app.factory, server, change, now)
    except Exception as exc:
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
    except Exception as exc:
        _write_failed(exc, "could not record the OAuth2 failure of %s", describe(server))
        return True


def run_started(app: App, now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)

    def change(session: Session, row: MailboxStatus) -> None:
        row.run_started_at, row.run_stopped_at = now, None
        row.run_pid, row.run_host = os.getpid(), socket.gethostname()[:255]

    try:
        _write(app.factory, app.settings.imap, change, now)
    except Exception as exc:
        _write_failed(exc, "could not record the start of mailbot run")


def run_stopped(app: App, now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)

    def change(session: Session, row: MailboxStatus) -> None:
        if row.run_pid in (None, os.getpid()):
            row.run_stopped_at = now  # a cooperating worker that stops does not speak for the others

    try:
        _write(app.factory, app.settings.imap, change, now)
    except Exception as exc:
        _write_failed(exc, "could not record the stop of mailbot run")


def _notify(app: App, session: Session, server: Server, text: str, since: datetime, now: datetime) -> None:
    from mailbot.mail import outbox
    from mailbot.mail.compose import build_message, make_message_id

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
