"""The transactional outbox: queue mail with the ticket change, send it later with aiosmtplib.

``queue()`` only adds a row to the caller's session, so a reply exists exactly when the
ticket change that owes it has committed. ``flush()`` sends the due rows in order over up to
``smtp.connections`` SMTP connections side by side (each takes the next mail when it is free:
an SMTP transaction waits for the server's answer to every command, so one connection to a
distant server sends only a few mails per second). Before each SMTP transaction it marks the
mail "in flight", and it records the outcome after it: on PostgreSQL both are commits on the
row; on SQLite the marks go to a journal file and accepted mails are recorded in batches
(``SendJournal``). A crash in between leaves the marks, and the next flush resends those mails
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
(an ``flock`` next to the database file, ``_sender_slot``), and the sender keeps its marks in
that lock file instead of the database (``SendJournal``): SQLite has one writer at a time, and a
commit per mail would make the sender queue behind the intake's transactions during a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
import aiosmtplib
from sqlalchemy import Select, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailbot.core import mailpolicy
from mailbot.mail import oauth
from mailbot.settings.config import DEFAULT_HELPDESK, SmtpSettings
from mailbot.storage.store import padded
from mailbot.storage.models import Outbox, Undeliverable

log = logging.getLogger(__name__)

# One flush at a time per helpdesk in a process (its outbox thread, the CLI); the helpdesks of
# one deployment send side by side, so one slow SMTP server does not hold up the others' mail.
_flush_locks: dict[str, threading.Lock] = {}
_flush_locks_guard = threading.Lock()


def _flush_lock(helpdesk: str) -> threading.Lock:
    with _flush_locks_guard:
        return _flush_locks.setdefault(helpdesk, threading.Lock())

#: Called in the transaction that marks ``row`` failed: ``(session, row, now, permanent)``.
OnFailed = Callable[[Session, Outbox, datetime, bool], None]


#: ``last_error`` of a mail while the SMTP transaction for it runs; a crash leaves it behind.
IN_FLIGHT = "in flight since "

#: PostgreSQL, several workers: a mail claimed for sending is not due for the others for this long.
#: Its sender holds the row lock (``FOR UPDATE``; the others ``SKIP LOCKED``) until the outcome is
#: committed; after a crash the lock is gone and the mail is resent once the lease has passed.
IN_FLIGHT_LEASE = timedelta(seconds=10)


#: SQLite: the mails accepted by the server are recorded in the database in one transaction per
#: this many mails, or after this many seconds (one write per mail would queue behind the intake).
JOURNAL_BATCH = 50
JOURNAL_SECONDS = 1.0


@dataclass
class FlushResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    interrupted: int = 0  # mails found in flight (a crash during their send): resent, maybe twice
    error: str = ""
    elsewhere: bool = False  # SQLite: another process is sending this database's outbox right now


def queue(session: Session, msg: EmailMessage, *, message_id: str, mail_from: str, recipients: list[str],
          ticket_id: int | None, now: datetime, automatic: bool = False, helpdesk: str = DEFAULT_HELPDESK,
          verp: str | None = None) -> None:
    """Add the mail to the outbox in the session's transaction (a Core insert, at once: the row
    is one of every reply, and the ORM's unit of work would only add bookkeeping).

    ``verp``: the token of ``mail_from`` when it is the mail's own signed envelope sender.
    """
    session.execute(_INSERT, {
        "verp": verp,
        "helpdesk": helpdesk,  # sent through this helpdesk's SMTP account only
        "message_id": message_id,
        "automatic": automatic,
        "to_key": recipients[0].lower() if recipients else "",
        "ticket_id": ticket_id,
        "mail_from": mail_from,
        "recipients": recipients,
        "raw": mailpolicy.as_bytes(msg),
        "status": "pending",
        "attempts": 0,
        "last_error": "",
        "next_attempt_at": now,
        "created_at": now,
    })


_INSERT = insert(Outbox.__table__)


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()


def smtp_client(settings: SmtpSettings, ctx: ssl.SSLContext | None = None) -> aiosmtplib.SMTP:
    """A client for ``settings`` (not connected); ``ctx``: a TLS context to share between connections."""
    if ctx is None:
        ctx = tls_context(str(settings.ca_file) if settings.ca_file else None)
    return aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        use_tls=settings.security == "ssl",
        start_tls=True if settings.security == "starttls" else False,
        tls_context=ctx,
        timeout=settings.timeout,
    )


class SmtpOAuthError(aiosmtplib.SMTPException):
    """No OAuth2 access token for the SMTP login (the refresh was refused or failed).

    An SMTP exception, so a flush defers its mail as for any other login failure; the
    refusal itself is on ``token_provider(settings).failure`` for the service to report.
    """


def token_provider(settings: SmtpSettings) -> oauth.TokenProvider | None:
    """The OAuth2 token source of an ``auth = "xoauth2"`` SMTP account (None for a password)."""
    if settings.auth != "xoauth2" or settings.oauth2 is None:
        return None
    return oauth.provider_for(settings.oauth2, "smtp.oauth2")


async def _login(client: aiosmtplib.SMTP, settings: SmtpSettings) -> None:
    provider = token_provider(settings)
    token = ""
    if provider is not None:
        try:
            token = provider.token()  # before connecting: no idle connection while the endpoint answers
        except oauth.OAuthError as exc:
            raise SmtpOAuthError(f"smtp mailbox {settings.username}: {exc}") from None
    await client.connect()
    if provider is not None:
        try:
            await client.auth_xoauth2(settings.username, token)
        except aiosmtplib.SMTPAuthenticationError:
            provider.invalidate(token)  # refused by the server: the next login gets a fresh token
            raise
    elif settings.username:
        await client.login(settings.username, settings.password_value)


async def check_login(settings: SmtpSettings) -> None:
    """Connect and authenticate once (for ``check-config``); raises on failure."""
    client = smtp_client(settings)
    await _login(client, settings)
    await client.quit()


def _backoff(settings: SmtpSettings, attempts: int) -> timedelta:
    return timedelta(seconds=min(settings.backoff_seconds * (2 ** max(attempts - 1, 0)), 6 * 3600))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _refusals(exc: aiosmtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(f"{r.recipient}: {r.code} {' '.join(r.message.split())}" for r in exc.recipients)


def _due(now: datetime, pg: bool, limit: int, after: int = 0,
         helpdesk: str = DEFAULT_HELPDESK) -> Select[tuple[int]]:
    """The ids of the helpdesk's due mail, from the one after ``after`` on (a flush that follows
    new mail goes on where it stands: one statement, where a list of the ids tried so far made
    a new SQL text, and a new prepared statement, for every round)."""
    # One helpdesk's mail goes out through its own SMTP account only.
    due = select(Outbox.id).where(Outbox.helpdesk == helpdesk, Outbox.status == "pending",
                                  Outbox.next_attempt_at <= now).order_by(Outbox.id)
    if after:
        due = due.where(Outbox.id > after)
    if pg:  # rows another worker is sending right now are locked: leave them out
        due = due.with_for_update(skip_locked=True)
    return due.limit(limit)


async def _flush(factory: sessionmaker[Session], settings: SmtpSettings, now: datetime, limit: int,
                 on_failed: OnFailed | None, stop: threading.Event | None, follow: bool = False,
                 helpdesk: str = DEFAULT_HELPDESK, journal: SendJournal | None = None) -> FlushResult:
    """Send the mail due at ``now``; with ``follow``, also what becomes due meanwhile (wall clock),
    over the same connection, up to ``limit`` mails (the intake queues replies while we send).
    With a ``journal`` (SQLite), the marks go there and the outcomes reach the database in batches."""
    result = FlushResult()
    pg = _dialect(factory) == "postgresql"
    if journal is not None:
        _recover(factory, journal, result)
    with factory() as session:
        ids = session.scalars(_due(now, pg, limit, helpdesk=helpdesk)).all()
    if not ids:
        return result

    upcoming: Sequence[int] = ()  # the ids from the one in hand on, in the current batch

    def to_send() -> Iterator[int]:
        nonlocal now, upcoming
        tried = 0
        batch: Sequence[int] = ids
        while batch:
            for i, row_id in enumerate(batch):
                tried += 1
                upcoming = batch[i:i + JOURNAL_BATCH]
                yield row_id
            if not follow or tried >= limit:
                return
            # Mail queued meanwhile has higher ids; older mail that became due (a retry) waits
            # for the next flush, like mail another worker holds.
            now = max(now, datetime.now(timezone.utc))
            with factory() as session:
                batch = session.scalars(_due(now, pg, limit - tried, batch[-1], helpdesk)).all()

    client = smtp_client(settings)
    try:
        await _login(client, settings)
    except (aiosmtplib.SMTPException, OSError) as exc:
        # Server down, 421 greeting, TLS or login failure: every due mail waits, none is lost.
        result.error = _describe(exc)
        with factory.begin() as session:
            waiting = select(Outbox).where(Outbox.id.in_(ids), Outbox.status == "pending",
                                           Outbox.next_attempt_at <= now)
            for row in session.scalars(waiting.with_for_update(skip_locked=True) if pg else waiting):
                row.attempts += 1
                _temporary(session, row, settings, now, result.error, result, on_failed, quiet=True)
        client.close()
        log.warning("smtp %s:%d unavailable, %d mail(s) deferred: %s", settings.host, settings.port, len(ids),
                    result.error)
        return result
    clients = [client, *await _more_clients(settings, min(settings.connections, len(ids)) - 1,
                                            client.tls_context)]
    accepted: dict[int, datetime] = {}  # journal: sent, not yet recorded in the database
    in_flight: dict[int, str] = {}  # journal: being sent right now (id -> its "sending" line)
    fetched: dict[int, tuple[str, list[str], bytes] | None] = {}  # journal: read ahead (None: not due)
    recorded_at = time.monotonic()
    mails = to_send()  # shared by the connections: each takes the next mail when it is free

    def record_accepted(*, keep_journal: bool = False) -> None:
        nonlocal recorded_at
        if journal is not None and accepted:
            with factory.begin() as session:
                _mark_sent(session, accepted)
            if not keep_journal:  # only once the database knows: a failed commit leaves the lines for later
                journal.clear(keep=in_flight.values())
            accepted.clear()
        recorded_at = time.monotonic()

    async def send_over(client: aiosmtplib.SMTP) -> None:
        """One connection's share: the next due mail whenever this connection is free."""
        nonlocal fetched
        for row_id in mails:
            if stop is not None and stop.is_set():
                return
            if result.error:
                return  # a connection is gone; the rest waits for the next flush
            if not client.is_connected:
                # A 421 or a dropped connection: the rest was not tried and waits for the next flush.
                result.error = result.error or "connection closed by the server"
                return
            if journal is not None:
                if row_id not in fetched:
                    fetched = _peek(factory, upcoming, now, result)
                mail = fetched.pop(row_id, None)
                if mail is None:
                    continue  # sent or deferred meanwhile
                in_flight[row_id] = journal.sending(row_id)  # before the server sees it; see SendJournal
                try:
                    outcome, refused = await _send(client, *mail, result)
                finally:
                    in_flight.pop(row_id, None)  # on an interruption its line stays in the journal
                if outcome[0] == "sent" and not refused:
                    at = datetime.now(timezone.utc)
                    journal.sent(row_id, at)
                    accepted[row_id] = at
                    result.sent += 1
                    if len(accepted) >= JOURNAL_BATCH or time.monotonic() - recorded_at >= JOURNAL_SECONDS:
                        record_accepted()
                else:  # rare: recorded at once, with the accepted ones before it
                    record_accepted()
                    with factory.begin() as session:
                        session.execute(update(Outbox).where(Outbox.id == row_id)
                                        .values(attempts=Outbox.attempts + 1))
                        _record(session, row_id, outcome, refused, settings, now, result, on_failed)
                    journal.clear(keep=in_flight.values())
                continue
            # 1. Claim the mail and record that it is in flight (committed before the server sees it).
            #    A crash from here to step 3 leaves the marker: the next flush resends the mail, with
            #    the same Message-ID, knowing it may be a duplicate (if the server accepted it meanwhile).
            claim = _claim(factory, row_id, now, pg, result)
            if claim is None:
                continue  # sent, deferred, or taken by another worker meanwhile
            mark, mail_from, recipients, raw = claim
            # PostgreSQL: hold the row lock from here to the commit of the outcome, so no other
            # worker can take the mail while it is being sent (they skip locked rows). This one
            # waits instead of skipping: another worker's claim query may hold the lock for an
            # instant (PostgreSQL can lock a row whose changed version no longer matches the
            # query), and skipping then would leave the mail in flight until its lease expires.
            held: Session | None = None
            if pg:
                held = factory()
                locked = held.scalars(select(Outbox).where(Outbox.id == row_id).with_for_update()).first()
                if locked is None or locked.last_error != mark:
                    held.close()  # another worker took it over after our claim (see IN_FLIGHT_LEASE)
                    continue
            try:
                # 2. Send.
                outcome, refused = await _send(client, mail_from, recipients, raw, result)
                # 3. Record the outcome at once.
                if held is not None:
                    _record(held, row_id, outcome, refused, settings, now, result, on_failed)
                    held.commit()
                else:
                    with factory.begin() as session:
                        _record(session, row_id, outcome, refused, settings, now, result, on_failed)
            finally:
                if held is not None:
                    held.close()

    senders = [asyncio.ensure_future(send_over(c)) for c in clients]
    try:
        await asyncio.gather(*senders)
    except BaseException:
        # Interrupted, perhaps in the middle of SMTP transactions: the journal keeps those mails'
        # marks for the next flush, which resends them and says so.
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        record_accepted(keep_journal=True)
        raise
    else:
        record_accepted()
    finally:
        await asyncio.gather(*(_close(c) for c in clients))
    return result


async def _more_clients(settings: SmtpSettings, count: int,
                        ctx: ssl.SSLContext | None) -> list[aiosmtplib.SMTP]:
    """Up to ``count`` more logged-in connections (``smtp.connections``), opened side by side.

    The first connection already works; one that cannot be opened now (the server's limit on
    connections, say) only means fewer mails in flight at once, so it is left out, not an error.
    """
    if count <= 0:
        return []
    clients = [smtp_client(settings, ctx) for _ in range(count)]
    outcomes = await asyncio.gather(*(_login(c, settings) for c in clients), return_exceptions=True)
    opened: list[aiosmtplib.SMTP] = []
    refused: list[BaseException] = []
    for c, outcome in zip(clients, outcomes):
        if isinstance(outcome, BaseException):
            c.close()
            refused.append(outcome)
        else:
            opened.append(c)
    # Once per server and process: a provider that always refuses them would fill the log.
    if refused and (settings.host, settings.port) not in _fewer_connections:
        _fewer_connections.add((settings.host, settings.port))
        log.warning("smtp %s:%d: %d of %d connections opened (%s); sending over fewer", settings.host,
                    settings.port, 1 + len(opened), 1 + count, _describe(refused[0]))
    return opened


_fewer_connections: set[tuple[str, int]] = set()


async def _close(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


async def _send(client: aiosmtplib.SMTP, mail_from: str, recipients: list[str], raw: bytes,
                result: FlushResult) -> tuple[tuple[str, str], dict[str, aiosmtplib.SMTPResponse]]:
    """Step 2: one SMTP transaction; its outcome ("sent" | "temporary" | "permanent", error) and
    the recipients refused while others accepted it."""
    try:
        refused, _ = await client.sendmail(mail_from, recipients, raw)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        permanent = all(r.code >= 500 for r in exc.recipients)
        return ("permanent" if permanent else "temporary", f"recipients refused: {_refusals(exc)}"), {}
    except aiosmtplib.SMTPResponseException as exc:
        return ("permanent" if exc.code >= 500 else "temporary", _describe(exc)), {}
    except (aiosmtplib.SMTPException, OSError) as exc:
        # Timeout or disconnect: the server may or may not have the mail; resending later
        # keeps the Message-ID, so a receiver can tell it is the same mail.
        result.error = _describe(exc)
        return ("temporary", result.error), {}
    return ("sent", ""), refused


class SendJournal:
    """SQLite: the sender's marks, kept in its slot's lock file instead of the database.

    Before each SMTP transaction the sender appends ``sending <id> <time>``, and once the server
    has accepted the mail ``sent <id> <time>``; the outcomes reach the database in batches
    (``JOURNAL_BATCH``, ``JOURNAL_SECONDS``), and the file is emptied after each such commit.
    After a crash, the next sender reads what the database does not know yet: it records the
    accepted mails as sent (they are not sent again) and resends only the one that was in flight,
    saying so in the log. Plain writes, no fsync: the kernel keeps them when the process dies; a
    power cut can lose the last lines, as it can lose SQLite's last commits (synchronous=NORMAL).
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd  # the slot's lock file, held with flock by this process

    def sending(self, row_id: int) -> str:
        """Mark ``row_id`` in flight; returns the line (``clear`` keeps it while the mail is out)."""
        line = f"sending {row_id} {datetime.now(timezone.utc).isoformat()}\n"
        self._write(line)
        return line

    def sent(self, row_id: int, at: datetime) -> None:
        self._write(f"sent {row_id} {at.isoformat()}\n")

    def _write(self, line: str) -> None:
        os.write(self._fd, line.encode("ascii"))

    def entries(self) -> tuple[dict[int, datetime], dict[int, str]]:
        """What a previous sender left: (accepted: id -> when, in flight and not accepted: id -> since)."""
        os.lseek(self._fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(self._fd, 1 << 16):
            chunks.append(chunk)
        accepted: dict[int, datetime] = {}
        sending: dict[int, str] = {}
        # The last piece has no newline when a crash cut the write short: it is not a mark.
        for line in b"".join(chunks).decode("ascii", "replace").split("\n")[:-1]:
            match line.split():
                case ["sent", row_id, at] if row_id.isdigit():
                    with contextlib.suppress(ValueError):
                        accepted[int(row_id)] = datetime.fromisoformat(at)
                case ["sending", row_id, since] if row_id.isdigit():
                    sending[int(row_id)] = since
        return accepted, {i: since for i, since in sending.items() if i not in accepted}

    def clear(self, keep: Iterable[str] = ()) -> None:
        """Empty the journal once the database knows its outcomes; ``keep``: the lines of mails
        still in flight on other connections, written again."""
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        kept = "".join(keep)
        if kept:
            self._write(kept)


def _mark_sent(session: Session, accepted: dict[int, datetime]) -> None:
    """Record mails the server accepted (one executemany; a row recorded already is left alone)."""
    table = Outbox.__table__
    session.execute(update(table).where(table.c.id == bindparam("row_id"), table.c.status == "pending")
                    .values(status="sent", sent_at=bindparam("at"), last_error="", attempts=table.c.attempts + 1),
                    [{"row_id": row_id, "at": at} for row_id, at in accepted.items()])


def _recover(factory: sessionmaker[Session], journal: SendJournal, result: FlushResult) -> None:
    """Settle what a sender that stopped without recording its last mails left in the journal."""
    accepted, in_flight = journal.entries()
    if accepted or in_flight:
        with factory.begin() as session:
            if accepted:
                _mark_sent(session, accepted)
                log.info("%d mail(s) accepted by the server before the sender stopped, recorded as sent",
                         len(accepted))
            waiting = select(Outbox).where(Outbox.id.in_(in_flight), Outbox.status == "pending")
            for row in session.scalars(waiting):
                row.attempts += 1  # the interrupted try counts
                result.interrupted += 1
                log.warning("mail %s was being sent when the bot stopped (in flight since %s); sending it again "
                            "with the same Message-ID", row.message_id, in_flight[row.id])
    journal.clear()


#: Journal path: read ahead at most this many bytes of mail (and ``JOURNAL_BATCH`` mails) per query.
PEEK_BYTES = 1 << 20


def _peek(factory: sessionmaker[Session], ids: Sequence[int], now: datetime,
          result: FlushResult) -> dict[int, tuple[str, list[str], bytes] | None]:
    """Journal path: (sender, recipients, bytes) of the mails among ``ids`` still due, read ahead
    without a write; None for those that are not due any more. Starts with ``ids[0]``, stops
    before ``PEEK_BYTES`` (one query for the sizes, one for the mails, instead of one per mail)."""
    due = (Outbox.status == "pending", Outbox.next_attempt_at <= now)
    with factory() as session:
        sizes = {row_id: size for row_id, size in session.execute(
            select(Outbox.id, func.length(Outbox.raw)).where(Outbox.id.in_(padded(ids)), *due))}
        covered: list[int] = []
        total = 0
        for row_id in ids:
            total += sizes.get(row_id) or 0
            if covered and total > PEEK_BYTES:
                break
            covered.append(row_id)
        wanted = [row_id for row_id in covered if row_id in sizes]
        rows = session.execute(select(Outbox.id, Outbox.mail_from, Outbox.recipients, Outbox.raw, Outbox.message_id,
                                      Outbox.last_error).where(Outbox.id.in_(padded(wanted)), *due)).all() if wanted else []
    found: dict[int, tuple[str, list[str], bytes] | None] = dict.fromkeys(covered)
    for row in rows:
        if row.last_error.startswith(IN_FLIGHT):  # marked by a sender of the other kind (see _claim)
            result.interrupted += 1
            log.warning("mail %s was being sent when the bot stopped (%s); sending it again with the same "
                        "Message-ID", row.message_id, row.last_error)
        found[row.id] = (row.mail_from, list(row.recipients), row.raw)
    return found


def _dialect(factory: sessionmaker[Session]) -> str:
    bind = factory.kw.get("bind")
    return bind.dialect.name if bind is not None else ""


def _claim(factory: sessionmaker[Session], row_id: int, now: datetime, pg: bool,
           result: FlushResult) -> tuple[str, str, list[str], bytes] | None:
    """Step 1: mark a due mail in flight; its (mark, sender, recipients, bytes), or None if not ours."""
    with factory.begin() as session:
        query = select(Outbox).where(Outbox.id == row_id, Outbox.status == "pending", Outbox.next_attempt_at <= now)
        row = session.scalars(query.with_for_update(skip_locked=True) if pg else query).first()
        if row is None:
            return None
        if row.last_error.startswith(IN_FLIGHT):
            result.interrupted += 1
            log.warning("mail %s was being sent when the bot stopped (%s); sending it again with the same "
                        "Message-ID", row.message_id, row.last_error)
        started = datetime.now(timezone.utc)
        row.attempts += 1
        # Unique per claim: the sender checks it under the row lock before sending (PostgreSQL).
        row.last_error = (f"{IN_FLIGHT}{started.isoformat(timespec='seconds')} by {socket.gethostname()[:60]} "
                          f"pid {os.getpid()} #{secrets.token_hex(4)}")
        if pg:
            row.next_attempt_at = max(row.next_attempt_at, started + IN_FLIGHT_LEASE)
        return row.last_error, row.mail_from, list(row.recipients), row.raw


def _record(session: Session, row_id: int, outcome: tuple[str, str], refused: dict[str, aiosmtplib.SMTPResponse],
            settings: SmtpSettings, now: datetime, result: FlushResult, on_failed: OnFailed | None) -> None:
    """Step 3: the outcome of the SMTP transaction, in ``session``'s transaction."""
    if outcome[0] == "sent" and not refused:
        # The common case needs nothing from the row: no reload of it (and of its bytes).
        session.execute(update(Outbox).where(Outbox.id == row_id)
                        .values(status="sent", sent_at=datetime.now(timezone.utc), last_error=""))
        result.sent += 1
        return
    row = session.get(Outbox, row_id)
    assert row is not None
    if outcome[0] == "permanent":
        _permanent(session, row, now, outcome[1], result, on_failed)
    elif outcome[0] == "temporary":
        _temporary(session, row, settings, now, outcome[1], result, on_failed)
    else:
        row.status = "sent"
        row.sent_at = datetime.now(timezone.utc)
        row.last_error = ""
        result.sent += 1
        if refused:
            # Accepted for the others: resending would duplicate it for them, so keep it sent.
            row.last_error = ("accepted, but refused for " + "; ".join(
                f"{rcpt}: {resp.code} {resp.message}" for rcpt, resp in refused.items()))[:2000]
            log.warning("mail %s: %s", row.message_id, row.last_error)


def _temporary(session: Session, row: Outbox, settings: SmtpSettings, now: datetime, error: str,
               result: FlushResult, on_failed: OnFailed | None, *, quiet: bool = False) -> None:
    """A temporary failure of the attempt already counted in ``row.attempts``."""
    row.last_error = error[:2000]
    if row.attempts >= settings.max_attempts:
        row.status = "failed"
        result.failed += 1
        log.error("mail %s failed after %d attempts: %s", row.message_id, row.attempts, error)
        _report(session, row, now, False, on_failed)
    else:
        # Counted from the failure itself: a try that hung until its timeout still waits the backoff.
        row.next_attempt_at = max(now, datetime.now(timezone.utc)) + _backoff(settings, row.attempts)
        result.deferred += 1
        if quiet:  # one line for the whole batch is logged by the caller
            return
        log.warning("mail %s deferred (attempt %d of %d, next at %s): %s", row.message_id, row.attempts,
                    settings.max_attempts, row.next_attempt_at.isoformat(timespec="seconds"), error)


def _permanent(session: Session, row: Outbox, now: datetime, error: str, result: FlushResult,
               on_failed: OnFailed | None) -> None:
    row.status = "failed"
    row.last_error = error[:2000]
    result.failed += 1
    log.error("mail %s refused permanently: %s", row.message_id, error)
    _report(session, row, now, True, on_failed)


def _report(session: Session, row: Outbox, now: datetime, permanent: bool, on_failed: OnFailed | None) -> None:
    if on_failed is None:
        return
    try:
        with session.begin_nested():  # a broken notice must not keep the row from being marked failed
            on_failed(session, row, now, permanent)
    except Exception:  # noqa: BLE001
        log.exception("could not queue the delivery-failure notice for mail %s", row.message_id)


def flush(factory: sessionmaker[Session], settings: SmtpSettings, now: datetime | None = None,
          limit: int = 1000, *, on_failed: OnFailed | None = None,
          stop: threading.Event | None = None, helpdesk: str = DEFAULT_HELPDESK) -> FlushResult:
    """Send what is due of one helpdesk's mail through its SMTP account (``settings``); safe to
    call from any thread (one flush per helpdesk runs at a time).

    ``stop`` ends the flush after the mail in hand; ``on_failed`` is told about each mail
    that has just failed for good (see ``service.delivery_failure_notifier``). Without ``now``
    (the clock), mail queued while the flush runs goes out over the same connection too.
    """
    with _flush_lock(helpdesk), _sender_slot(factory, helpdesk) as slot:
        if not slot:
            return FlushResult(elsewhere=True)
        return asyncio.run(_flush(factory, settings, now or datetime.now(timezone.utc), limit, on_failed, stop,
                                  follow=now is None, helpdesk=helpdesk, journal=slot.journal))


@dataclass
class _Slot:
    """The right to send one helpdesk's outbox; false while another process has it."""

    ours: bool
    journal: SendJournal | None = None  # SQLite: the slot's lock file is the sender's journal

    def __bool__(self) -> bool:
        return self.ours


@contextlib.contextmanager
def _sender_slot(factory: sessionmaker[Session], helpdesk: str = DEFAULT_HELPDESK) -> Iterator[_Slot]:
    """SQLite: one sender per database file and helpdesk at a time; yields a false slot while
    another process sends that helpdesk's mail.

    SQLite has no row locks to claim a mail with, so a flush takes an ``flock`` on
    ``<database>.outbox.lock`` (``<database>.outbox.<key>.lock`` for another helpdesk than the
    default; dropped by the kernel if the process dies). A sender only ever takes its own
    helpdesk's rows, so a mail found in flight is always one whose sender crashed. PostgreSQL
    needs no slot: rows are claimed.
    """
    bind = factory.kw.get("bind")
    database = bind.url.database if bind is not None and bind.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield _Slot(True)
        return
    name = f"{database}.outbox.lock" if helpdesk == DEFAULT_HELPDESK else f"{database}.outbox.{helpdesk}.lock"
    fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield _Slot(False)
            return
        yield _Slot(True, SendJournal(fd))
    finally:
        os.close(fd)  # drops the lock


def next_due(factory: sessionmaker[Session], helpdesk: str | None = None) -> datetime | None:
    """When the earliest pending mail (of ``helpdesk``, if given) is due (None: nothing is waiting)."""
    query = select(func.min(Outbox.next_attempt_at)).where(Outbox.status == "pending")
    if helpdesk is not None:
        query = query.where(Outbox.helpdesk == helpdesk)
    with factory() as session:
        return session.scalar(query)


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

