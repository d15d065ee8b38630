"""The transactional outbox: queue mail with the ticket change, send it later with aiosmtplib.

``queue()`` only adds a row to the caller's session, so a reply exists exactly when the
ticket change that owes it has committed. ``flush()`` sends due rows over one SMTP
connection, records each acceptance at once, and backs off on temporary failures; a
permanent (5xx) refusal marks the row failed instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailbot.config import SmtpSettings
from mailbot.store import Outbox

log = logging.getLogger(__name__)

# One flush at a time per process: the scheduler and the intake loop both trigger it.
_flush_lock = threading.Lock()


@dataclass
class FlushResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    error: str = ""


def queue(session: Session, msg: EmailMessage, *, message_id: str, mail_from: str, recipients: list[str],
          ticket_id: int | None, now: datetime, automatic: bool = False) -> Outbox:
    row = Outbox(
        message_id=message_id,
        automatic=automatic,
        to_key=recipients[0].lower() if recipients else "",
        ticket_id=ticket_id,
        mail_from=mail_from,
        recipients=recipients,
        raw=msg.as_bytes(),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()


def smtp_client(settings: SmtpSettings) -> aiosmtplib.SMTP:
    ctx = tls_context(str(settings.ca_file) if settings.ca_file else None)
    return aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        use_tls=settings.security == "ssl",
        start_tls=True if settings.security == "starttls" else False,
        tls_context=ctx,
        timeout=settings.timeout,
    )


async def _login(client: aiosmtplib.SMTP, settings: SmtpSettings) -> None:
    await client.connect()
    if settings.username:
        await client.login(settings.username, settings.password_value)


async def check_login(settings: SmtpSettings) -> None:
    """Connect and authenticate once (for ``check-config``); raises on failure."""
    client = smtp_client(settings)
    await _login(client, settings)
    await client.quit()


def _backoff(settings: SmtpSettings, attempts: int) -> timedelta:
    return timedelta(seconds=min(settings.backoff_seconds * (2 ** max(attempts - 1, 0)), 6 * 3600))


async def _flush(factory: sessionmaker[Session], settings: SmtpSettings, now: datetime, limit: int) -> FlushResult:
    result = FlushResult()
    with factory() as session:
        ids = session.scalars(
            select(Outbox.id).where(Outbox.status == "pending", Outbox.next_attempt_at <= now)
            .order_by(Outbox.id).limit(limit)
        ).all()
    if not ids:
        return result
    client = smtp_client(settings)
    try:
        await _login(client, settings)
    except (aiosmtplib.SMTPException, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        with factory.begin() as session:
            for row in session.scalars(select(Outbox).where(Outbox.id.in_(ids))):
                _defer(row, settings, now, result.error)
        result.deferred = len(ids)
        log.warning("smtp unavailable, %d mail(s) deferred: %s", len(ids), result.error)
        return result
    try:
        for row_id in ids:
            with factory.begin() as session:
                row = session.get(Outbox, row_id)
                if row is None or row.status != "pending":
                    continue
                try:
                    await client.sendmail(row.mail_from, row.recipients, row.raw)
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    _fail_or_defer(row, settings, now, exc, result, permanent=all(
                        r.code >= 500 for r in exc.recipients))
                except aiosmtplib.SMTPResponseException as exc:
                    _fail_or_defer(row, settings, now, exc, result, permanent=exc.code >= 500)
                    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
                        break
                except (aiosmtplib.SMTPException, OSError) as exc:
                    _fail_or_defer(row, settings, now, exc, result, permanent=False)
                    break  # the connection is gone; the rest waits for the next flush
                else:
                    row.status = "sent"
                    row.sent_at = datetime.now(timezone.utc)
                    row.attempts += 1
                    result.sent += 1
    finally:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass
    return result


def _defer(row: Outbox, settings: SmtpSettings, now: datetime, error: str) -> None:
    row.attempts += 1
    row.last_error = error[:2000]
    if row.attempts >= settings.max_attempts:
        row.status = "failed"
    else:
        row.next_attempt_at = now + _backoff(settings, row.attempts)


def _fail_or_defer(row: Outbox, settings: SmtpSettings, now: datetime, exc: Exception, result: FlushResult,
                   *, permanent: bool) -> None:
    error = f"{type(exc).__name__}: {exc}"
    if permanent:
        row.attempts += 1
        row.status = "failed"
        row.last_error = error[:2000]
        result.failed += 1
        log.error("mail %s refused permanently: %s", row.message_id, error)
    else:
        _defer(row, settings, now, error)
        result.deferred += 1 if row.status == "pending" else 0
        result.failed += 1 if row.status == "failed" else 0
        log.warning("mail %s deferred: %s", row.message_id, error)


def flush(factory: sessionmaker[Session], settings: SmtpSettings, now: datetime | None = None,
          limit: int = 1000) -> FlushResult:
    """Send what is due; safe to call from any thread (one flush runs at a time)."""
    with _flush_lock:
        return asyncio.run(_flush(factory, settings, now or datetime.now(timezone.utc), limit))
