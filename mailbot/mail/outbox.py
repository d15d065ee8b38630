"""The transactional outbox: queue mail with the ticket change, send it later with aiosmtplib.

``queue()`` only adds a row to the caller's session, so a reply exists exactly when the
ticket change that owes it has committed. ``flush()`` sends the due rows in order over up to
``smtp.connections`` SMTP connections side by side (each takes the next mail when it is free:
an SMTP transaction waits for the server's answer to every command, so one connection to a
distant server sends only a few mails per second). Before each SMTP transaction it marks the
mail "in flight", and it records the outcome after it: on PostgreSQL both are commits on the
row; on SQLite the marks go to a journal file and accepted mails are recorded in batches
(``send_journal.SendJournal``). A crash in between leaves the marks, and the next flush resends those mails
with the same Message-ID, saying so in the log: the only mails a crash can deliver twice are the
ones the server accepted in that instant (one per connection at most). Temporary failures (4xx,
refused or dropped connections, timeouts) back off exponentially from ``next_attempt_at``;
a permanent (5xx) refusal, or ``smtp.max_attempts`` temporary ones, mark the row failed.
A failed reply is reported to staff through the outbox itself (``service.delivery_failure_notifier``);
a failed staff notification is never reported, so failures cannot loop.

Several senders never send one mail twice. On PostgreSQL each worker claims a row with
``SELECT ... FOR UPDATE SKIP LOCKED`` (the in-flight mark, unique per claim, plus a short
lease on ``next_attempt_at``) and holds the row lock while it sends and records the outcome;
the others skip locked rows. On SQLite one process at a time sends a database's outbox
(an ``flock`` next to the database file, ``send_journal.sender_slot``), and the sender keeps its
marks in that lock file instead of the database: SQLite has one writer at a time, and a commit
per mail would make the sender queue behind the intake's transactions during a backlog.

This module is what the rest of the bot calls. One flush is one sender of ``mailbot.mail.senders``
(``ClaimSender`` for rows claimed in the database, ``JournalSender`` for the SQLite journal);
``mailbot.mail.send_journal`` holds the slot and the journal, ``mailbot.mail.smtp`` the connections,
``mailbot.mail.smtp_cache`` the connections kept open between flushes (``smtp.keepalive_seconds``).
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from mailbot.core import mailpolicy
from mailbot.mail import smtp_cache
from mailbot.mail.send_journal import sender_slot
from mailbot.mail.senders import ClaimSender, FlushResult, JournalSender, OnFailed, Sender
from mailbot.mail.smtp import check_login, token_provider
from mailbot.settings.config import DEFAULT_HELPDESK, SmtpSettings
from mailbot.storage import store
from mailbot.storage.models import Outbox, Undeliverable
from mailbot.storage.prepared import Prepared

# What the rest of the bot uses of sending; the parts live in ``senders``, ``send_journal`` and ``smtp``.
__all__ = ["FlushResult", "OnFailed", "check_login", "close_connections", "due_by_helpdesk", "flush", "insert_rows", "next_due", "queue", "retry",
           "row", "token_provider"]

# One flush at a time per helpdesk in a process (its outbox thread, the CLI); the helpdesks of
# one deployment send side by side, so one slow SMTP server does not hold up the others' mail.
_flush_locks: dict[str, threading.Lock] = {}
_flush_locks_guard = threading.Lock()


def _flush_lock(helpdesk: str) -> threading.Lock:
    with _flush_locks_guard:
        return _flush_locks.setdefault(helpdesk, threading.Lock())


def queue(session: Session, msg: EmailMessage | bytes, *, message_id: str, mail_from: str, recipients: list[str],
          ticket_id: int | None, now: datetime, automatic: bool = False, helpdesk: str = DEFAULT_HELPDESK,
          verp: str | None = None) -> None:
    """Add the mail to the outbox in the session's transaction (a Core insert, at once: the row
    is one of every reply, and the ORM's unit of work would only add bookkeeping).

    ``verp``: the token of ``mail_from`` when it is the mail's own signed envelope sender.
    ``msg``: the message, or its bytes as ``mailpolicy.as_bytes`` writes them (``compose.message_bytes``).
    """
    store.run(session, _INSERT, row(msg, message_id=message_id, mail_from=mail_from, recipients=recipients,
                                      ticket_id=ticket_id, now=now, automatic=automatic, helpdesk=helpdesk, verp=verp))


def row(msg: EmailMessage | bytes, *, message_id: str, mail_from: str, recipients: list[str],
        ticket_id: int | None, now: datetime, automatic: bool = False, helpdesk: str = DEFAULT_HELPDESK,
        verp: str | None = None) -> dict[str, object]:
    """The outbox row ``queue`` inserts (for a caller that inserts several at once: ``insert_rows``)."""
    return {
        "verp": verp,
        "helpdesk": helpdesk,  # sent through this helpdesk's SMTP account only
        "message_id": message_id,
        "automatic": automatic,
        "to_key": recipients[0].lower() if recipients else "",
        "ticket_id": ticket_id,
        "mail_from": mail_from,
        "recipients": recipients,
        "raw": msg if isinstance(msg, bytes) else mailpolicy.as_bytes(msg),
        "status": "pending",
        "attempts": 0,
        "last_error": "",
        "next_attempt_at": now,
        "created_at": now,
    }


def insert_rows(session: Session, rows: list[dict[str, object]]) -> None:
    """Add several mails (``row``) to the outbox with one executemany, in their order."""
    store.run(session, _INSERT, rows)


_INSERT = Prepared(insert(cast(Table, Outbox.__table__)))


def flush(factory: sessionmaker[Session], settings: SmtpSettings, now: datetime | None = None,
          limit: int = 1000, *, on_failed: OnFailed | None = None,
          stop: threading.Event | None = None, helpdesk: str = DEFAULT_HELPDESK) -> FlushResult:
    """Send what is due of one helpdesk's mail through its SMTP account (``settings``); safe to
    call from any thread (one flush per helpdesk runs at a time).

    ``stop`` ends the flush after the mail in hand; ``on_failed`` is told about each mail
    that has just failed for good (see ``service.delivery_failure_notifier``). Without ``now``
    (the clock), mail queued while the flush runs goes out over the same connection too.
    """
    with _flush_lock(helpdesk), sender_slot(factory, helpdesk) as slot:
        if not slot:
            return FlushResult(elsewhere=True)
        due_at = now or datetime.now(timezone.utc)
        sender: Sender
        if slot.journal is not None:  # SQLite: this process alone sends the outbox, marks in the journal
            sender = JournalSender(factory, settings, due_at, journal=slot.journal, limit=limit,
                                   on_failed=on_failed, stop=stop, follow=now is None, helpdesk=helpdesk)
        else:  # PostgreSQL (or SQLite in memory): each mail claimed in its row
            sender = ClaimSender(factory, settings, due_at, limit=limit, on_failed=on_failed, stop=stop,
                                 follow=now is None, helpdesk=helpdesk)
        # Over the connections kept from the helpdesk's last flush, on their event loop (``smtp_cache``).
        return smtp_cache.keeper_of(helpdesk).run(settings, sender.run)


def close_connections(helpdesk: str | None = None, timeout: float = -1) -> None:
    """Close the SMTP connections kept since the last flush (of ``helpdesk``, or of every helpdesk
    of the process): a sender that stops says QUIT instead of leaving them to their idle time.
    A flush still running after ``timeout`` seconds keeps its own (they end with the process)."""
    if helpdesk is None:
        smtp_cache.close_all(timeout)
    else:
        smtp_cache.close(helpdesk, timeout)


def next_due(factory: sessionmaker[Session], helpdesk: str | None = None) -> datetime | None:
    """When the earliest pending mail (of ``helpdesk``, if given) is due (None: nothing is waiting)."""
    query = select(func.min(Outbox.next_attempt_at)).where(Outbox.status == "pending")
    if helpdesk is not None:
        query = query.where(Outbox.helpdesk == helpdesk)
    with factory() as session:
        return session.scalar(query)


def due_by_helpdesk(factory: sessionmaker[Session]) -> dict[str, datetime]:
    """For every helpdesk with pending mail, when its earliest is due: one query for the whole
    deployment (the shared sender asks this instead of asking each helpdesk in turn)."""
    query = (select(Outbox.helpdesk, func.min(Outbox.next_attempt_at))
             .where(Outbox.status == "pending").group_by(Outbox.helpdesk))
    with factory() as session:
        return dict(session.execute(query).all())


def retry(session: Session, row_id: int, now: datetime) -> Outbox | None:
    """Make a failed (or waiting) mail due again with a fresh attempt budget; None if unknown or sent."""
    row = session.get(Outbox, row_id)
    if row is None or row.status == "sent":
        return None
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    row.acknowledged_at = None  # failing again is news again
    # The operator vouches for the address again: lift the mark a refusal or bounce left.
    session.execute(delete(Undeliverable).where(Undeliverable.helpdesk == row.helpdesk,
                                                Undeliverable.address.in_([r.lower() for r in row.recipients])))
    return row

