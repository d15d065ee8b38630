"""One flush of one helpdesk's outbox: a ``Sender`` sends the due mail in order over up to
``smtp.connections`` SMTP connections and records each outcome.

What differs between the two kinds of sender is where a mail is marked "in flight" before its
SMTP transaction (so a crash in the middle resends it, with the same Message-ID, saying so) and
how the outcome reaches the database:

- ``ClaimSender`` marks the mail in its own row, one commit before the transaction and one after.
  This is what lets several workers share a PostgreSQL outbox: rows are claimed with
  ``FOR UPDATE SKIP LOCKED`` and stay locked while they are sent.
- ``JournalSender`` (SQLite, one sender per database file: ``send_journal.sender_slot``) writes
  its marks to the slot's lock file (``send_journal.SendJournal``) and records accepted mails in
  batches, since a commit per mail would queue behind the intake's writes during a backlog.

Everything else (which mail is due, the connections, the retry policy, telling staff about a
mail that failed for good) is the ``Sender`` base, shared by both.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import aiosmtplib
from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailbot.mail import send_journal, smtp, smtp_cache
from mailbot.mail.send_journal import SendJournal
from mailbot.mail.smtp import Outcome
from mailbot.settings.config import DEFAULT_HELPDESK, SmtpSettings
from mailbot.storage import prepared
from mailbot.storage.models import Outbox

# The sender's lines keep the outbox's logger name, whichever of its modules writes them.
log = logging.getLogger("mailbot.mail.outbox")

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

#: Journal sender: read ahead at most this many bytes of mail (and ``JOURNAL_BATCH`` mails) per query.
PEEK_BYTES = 1 << 20

#: A mail as it goes out: (envelope sender, recipients, bytes).
Mail = tuple[str, list[str], bytes]


@dataclass
class FlushResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    interrupted: int = 0  # mails found in flight (a crash during their send): resent, maybe twice
    error: str = ""
    elsewhere: bool = False  # SQLite: another process is sending this database's outbox right now


class Sender:
    """One flush: the due mail of ``helpdesk`` at ``now``, sent in order, and the tally (``result``).

    With ``follow``, what becomes due meanwhile (wall clock) goes out too, over the same
    connections, up to ``limit`` mails (the intake queues replies while we send). ``stop`` ends
    the flush after the mails in hand; ``on_failed`` is told about each mail that has just failed
    for good. Subclasses send one mail (``send_one``): mark it in flight, send it, record it.
    """

    def __init__(self, factory: sessionmaker[Session], settings: SmtpSettings, now: datetime, *,
                 limit: int = 1000, on_failed: OnFailed | None = None, stop: threading.Event | None = None,
                 follow: bool = False, helpdesk: str = DEFAULT_HELPDESK) -> None:
        self.factory = factory
        self.settings = settings
        self.now = now  # what is due is due at this time; moves on with the clock when following
        self.limit = limit
        self.on_failed = on_failed
        self.stop = stop
        self.follow = follow
        self.helpdesk = helpdesk
        self.result = FlushResult()
        # PostgreSQL: other workers may send this outbox too; the rows they hold are locked.
        self.pg = _dialect(factory) == "postgresql"
        #: The due ids from the one in hand on, in the current batch (for a sender that reads ahead).
        self.upcoming: Sequence[int] = ()
        #: Sizes of the due mails not read yet, from the query of their ids (SQLite; for ``read_ahead``).
        self.sizes: dict[int, int | None] = {}

    async def run(self, keeper: smtp_cache.Keeper | None = None) -> FlushResult:
        """The flush; ``keeper``: the helpdesk's connections kept from earlier flushes (used first,
        and given the connections back when the flush ended well), or None to keep nothing."""
        ids = self._due_ids(self.limit)
        if not ids:
            return self.result
        wanted = min(self.settings.connections, len(ids))
        clients = await keeper.take(self.settings, wanted) if keeper is not None else []
        if not clients:
            client = smtp.smtp_client(self.settings)
            try:
                await smtp.login(client, self.settings)
            except (aiosmtplib.SMTPException, OSError) as exc:
                # Server down, 421 greeting, TLS or login failure: every due mail waits, none is lost.
                self.result.error = smtp.describe(exc)
                self._defer_all(ids)
                client.close()
                log.warning("smtp %s:%d unavailable, %d mail(s) deferred: %s", self.settings.host,
                            self.settings.port, len(ids), self.result.error)
                return self.result
            clients = [client]
        clients += await smtp.more_clients(self.settings, wanted - len(clients), clients[0].tls_context)
        self.sending_starts()
        mails = self._to_send(ids)  # shared by the connections: each takes the next mail when it is free
        tasks = [asyncio.ensure_future(self._send_over(c, mails)) for c in clients]
        ended_well = False
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # Interrupted, perhaps in the middle of SMTP transactions: the marks of those mails
            # stay (in their rows, or the journal) for the next flush, which resends them and says so.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.sending_ends(interrupted=True)
            raise
        else:
            self.sending_ends(interrupted=False)
            # Kept after a flush that ended between transactions, every connection well (also when
            # stopped: whoever stops the sender closes them, ``outbox.close_connections``).
            ended_well = not self.result.error
        finally:
            if keeper is not None and ended_well:
                await keeper.give_back(self.settings, clients)
            else:
                await asyncio.gather(*(smtp.close(c) for c in clients))
        return self.result

    async def send_one(self, client: aiosmtplib.SMTP, row_id: int) -> None:
        """Send mail ``row_id`` over ``client`` if it is still due, and record the outcome."""
        raise NotImplementedError  # one per kind of sender: ClaimSender, JournalSender

    def sending_starts(self) -> None:
        """The connections are open; the first mail is next."""

    def sending_ends(self, *, interrupted: bool) -> None:
        """Every connection is done (``interrupted``: by an exception, which goes on after this)."""

    def _to_send(self, ids: Sequence[int]) -> Iterator[int]:
        """``ids`` (the mail due at the start), then, when following, what is queued meanwhile."""
        tried = 0
        batch = ids
        while batch:
            for i, row_id in enumerate(batch):
                tried += 1
                self.upcoming = batch[i:i + JOURNAL_BATCH]
                yield row_id
            if not self.follow or tried >= self.limit:
                return
            # Mail queued meanwhile has higher ids; older mail that became due (a retry) waits
            # for the next flush, like mail another worker holds.
            self.now = max(self.now, datetime.now(timezone.utc))
            batch = self._due_ids(self.limit - tried, batch[-1])

    def _due_ids(self, limit: int, after: int = 0) -> Sequence[int]:
        """The ids of ``_due`` (one query per batch: a statement compiled once, but on PostgreSQL,
        where the query locks what it finds)."""
        with self.factory() as session:
            if self.pg:
                return session.scalars(_due(self.now, self.pg, limit, after, self.helpdesk)).all()
            found = prepared.fetch(session, _DUE_IDS, {"helpdesk": self.helpdesk, "now": self.now, "after": after,
                                                       "limit": limit})
        self.sizes.update(found)
        return [row_id for row_id, _ in found]

    async def _send_over(self, client: aiosmtplib.SMTP, mails: Iterator[int]) -> None:
        """One connection's share: the next due mail whenever this connection is free."""
        for row_id in mails:
            if self.stop is not None and self.stop.is_set():
                return
            if self.result.error:
                return  # a connection is gone; the rest waits for the next flush
            if not client.is_connected:
                # A 421 or a dropped connection: the rest was not tried and waits for the next flush.
                self.result.error = self.result.error or "connection closed by the server"
                return
            await self.send_one(client, row_id)

    async def _transaction(self, client: aiosmtplib.SMTP, mail_from: str, recipients: list[str],
                           raw: bytes) -> tuple[Outcome, dict[str, aiosmtplib.SMTPResponse]]:
        """One SMTP transaction; a lost connection ends the flush for all connections (``_send_over``)."""
        outcome, refused = await smtp.send(client, mail_from, recipients, raw)
        if outcome.connection_lost:
            self.result.error = outcome.error
        return outcome, refused

    def _defer_all(self, ids: Sequence[int]) -> None:
        """No connection: each of ``ids`` still due counts a failed attempt (``result.error``)."""
        with self.factory.begin() as session:
            waiting = select(Outbox).where(Outbox.id.in_(ids), Outbox.status == "pending",
                                           Outbox.next_attempt_at <= self.now)
            for row in session.scalars(waiting.with_for_update(skip_locked=True) if self.pg else waiting):
                row.attempts += 1
                self._temporary(session, row, self.result.error, quiet=True)

    def record(self, session: Session, row_id: int, outcome: Outcome,
               refused: dict[str, aiosmtplib.SMTPResponse]) -> None:
        """The outcome of the SMTP transaction, in ``session``'s transaction."""
        if outcome.kind == "sent" and not refused:
            # The common case needs nothing from the row: no reload of it (and of its bytes).
            session.execute(update(Outbox).where(Outbox.id == row_id)
                            .values(status="sent", sent_at=datetime.now(timezone.utc), last_error=""))
            self.result.sent += 1
            return
        row = session.get(Outbox, row_id)
        assert row is not None
        if outcome.kind == "permanent":
            self._permanent(session, row, outcome.error)
        elif outcome.kind == "temporary":
            self._temporary(session, row, outcome.error)
        else:
            row.status = "sent"
            row.sent_at = datetime.now(timezone.utc)
            row.last_error = ""
            self.result.sent += 1
            if refused:
                # Accepted for the others: resending would duplicate it for them, so keep it sent.
                row.last_error = ("accepted, but refused for " + "; ".join(
                    f"{rcpt}: {resp.code} {resp.message}" for rcpt, resp in refused.items()))[:2000]
                log.warning("mail %s: %s", row.message_id, row.last_error)

    def _temporary(self, session: Session, row: Outbox, error: str, *, quiet: bool = False) -> None:
        """A temporary failure of the attempt already counted in ``row.attempts``: back off
        exponentially, or fail the mail after ``smtp.max_attempts``."""
        row.last_error = error[:2000]
        if row.attempts >= self.settings.max_attempts:
            row.status = "failed"
            self.result.failed += 1
            log.error("mail %s failed after %d attempts: %s", row.message_id, row.attempts, error)
            self._report(session, row, permanent=False)
        else:
            # Counted from the failure itself: a try that hung until its timeout still waits the backoff.
            row.next_attempt_at = max(self.now, datetime.now(timezone.utc)) + _backoff(self.settings, row.attempts)
            self.result.deferred += 1
            if quiet:  # one line for the whole batch is logged by the caller
                return
            log.warning("mail %s deferred (attempt %d of %d, next at %s): %s", row.message_id, row.attempts,
                        self.settings.max_attempts, row.next_attempt_at.isoformat(timespec="seconds"), error)

    def _permanent(self, session: Session, row: Outbox, error: str) -> None:
        row.status = "failed"
        row.last_error = error[:2000]
        self.result.failed += 1
        log.error("mail %s refused permanently: %s", row.message_id, error)
        self._report(session, row, permanent=True)

    def _report(self, session: Session, row: Outbox, *, permanent: bool) -> None:
        if self.on_failed is None:
            return
        try:
            with session.begin_nested():  # a broken notice must not keep the row from being marked failed
                self.on_failed(session, row, self.now, permanent)
        except Exception:
            log.exception("could not queue the delivery-failure notice for mail %s", row.message_id)


class ClaimSender(Sender):
    """Marks each mail in flight in its own row: one commit before its SMTP transaction (the
    claim), one after it (the outcome).

    On PostgreSQL several workers may flush one outbox at once: a due row is claimed under
    ``FOR UPDATE SKIP LOCKED`` with a mark unique to the claim and a lease on ``next_attempt_at``
    (``IN_FLIGHT_LEASE``), and its sender holds the row lock from before the send to the commit
    of the outcome, so no other worker takes it meanwhile. Also the sender of an SQLite database
    in memory (one process, no file to keep a journal next to).
    """

    def claim(self, row_id: int) -> tuple[str, str, list[str], bytes] | None:
        """Mark a due mail in flight; its (mark, sender, recipients, bytes), or None if not ours."""
        with self.factory.begin() as session:
            query = select(Outbox).where(Outbox.id == row_id, Outbox.status == "pending",
                                         Outbox.next_attempt_at <= self.now)
            row = session.scalars(query.with_for_update(skip_locked=True) if self.pg else query).first()
            if row is None:
                return None
            if row.last_error.startswith(IN_FLIGHT):
                self.result.interrupted += 1
                log.warning("mail %s was being sent when the bot stopped (%s); sending it again with the same "
                            "Message-ID", row.message_id, row.last_error)
            started = datetime.now(timezone.utc)
            row.attempts += 1
            # Unique per claim: the sender checks it under the row lock before sending (PostgreSQL).
            row.last_error = (f"{IN_FLIGHT}{started.isoformat(timespec='seconds')} by {socket.gethostname()[:60]} "
                              f"pid {os.getpid()} #{secrets.token_hex(4)}")
            if self.pg:
                row.next_attempt_at = max(row.next_attempt_at, started + IN_FLIGHT_LEASE)
            return row.last_error, row.mail_from, list(row.recipients), row.raw

    async def send_one(self, client: aiosmtplib.SMTP, row_id: int) -> None:
        # 1. Claim the mail and record that it is in flight (committed before the server sees it).
        #    A crash from here to step 3 leaves the mark: the next flush resends the mail, with
        #    the same Message-ID, knowing it may be a duplicate (if the server accepted it meanwhile).
        claim = self.claim(row_id)
        if claim is None:
            return  # sent, deferred, or taken by another worker meanwhile
        mark, mail_from, recipients, raw = claim
        # PostgreSQL: hold the row lock from here to the commit of the outcome, so no other
        # worker can take the mail while it is being sent (they skip locked rows). This one
        # waits instead of skipping: another worker's claim query may hold the lock for an
        # instant (PostgreSQL can lock a row whose changed version no longer matches the
        # query), and skipping then would leave the mail in flight until its lease expires.
        held: Session | None = None
        if self.pg:
            held = self.factory()
            locked = held.scalars(select(Outbox).where(Outbox.id == row_id).with_for_update()).first()
            if locked is None or locked.last_error != mark:
                held.close()  # another worker took it over after our claim (see IN_FLIGHT_LEASE)
                return
        try:
            # 2. Send.
            outcome, refused = await self._transaction(client, mail_from, recipients, raw)
            # 3. Record the outcome at once.
            if held is not None:
                self.record(held, row_id, outcome, refused)
                held.commit()
            else:
                with self.factory.begin() as session:
                    self.record(session, row_id, outcome, refused)
        finally:
            if held is not None:
                held.close()


class JournalSender(Sender):
    """SQLite: marks each mail in flight in the ``SendJournal`` (the sender slot's lock file),
    reads the due mails ahead in bulk, and records the accepted ones in one transaction per
    ``JOURNAL_BATCH`` mails or ``JOURNAL_SECONDS``; a refusal or a deferral is recorded at once.

    The database then sees about one write per batch instead of two per mail. Only one process
    sends a database's outbox (``send_journal.sender_slot``), so nothing needs claiming.
    """

    def __init__(self, factory: sessionmaker[Session], settings: SmtpSettings, now: datetime, *,
                 journal: SendJournal, **options: Any) -> None:
        super().__init__(factory, settings, now, **options)
        self.journal = journal
        self.accepted: dict[int, datetime] = {}  # sent, not yet recorded in the database
        self.in_flight: dict[int, str] = {}  # being sent right now (id -> its "sending" line)
        self.fetched: dict[int, Mail | None] = {}  # read ahead (None: not due any more)
        self.recorded_at = time.monotonic()

    async def run(self, keeper: smtp_cache.Keeper | None = None) -> FlushResult:
        # First settle what a sender that stopped before recording its last mails left behind.
        self.result.interrupted += send_journal.recover(self.factory, self.journal)
        return await super().run(keeper)

    def sending_starts(self) -> None:
        self.recorded_at = time.monotonic()  # the first batch's seconds count from here

    def sending_ends(self, *, interrupted: bool) -> None:
        # Interrupted: the mails that were in flight keep their lines for the next flush.
        self._record_accepted(keep_journal=interrupted)

    async def send_one(self, client: aiosmtplib.SMTP, row_id: int) -> None:
        if row_id not in self.fetched:
            self.fetched = self.read_ahead(self.upcoming)
        mail = self.fetched.pop(row_id, None)
        if mail is None:
            return  # sent or deferred meanwhile
        self.in_flight[row_id] = self.journal.sending(row_id)  # before the server sees it; see SendJournal
        try:
            outcome, refused = await self._transaction(client, *mail)
        finally:
            self.in_flight.pop(row_id, None)  # on an interruption its line stays in the journal
        if outcome.kind == "sent" and not refused:
            at = datetime.now(timezone.utc)
            self.journal.sent(row_id, at)
            self.accepted[row_id] = at
            self.result.sent += 1
            if len(self.accepted) >= JOURNAL_BATCH or time.monotonic() - self.recorded_at >= JOURNAL_SECONDS:
                self._record_accepted()
        else:  # rare: recorded at once, with the accepted ones before it
            self._record_accepted()
            with self.factory.begin() as session:
                session.execute(update(Outbox).where(Outbox.id == row_id).values(attempts=Outbox.attempts + 1))
                self.record(session, row_id, outcome, refused)
            self.journal.clear(keep=self.in_flight.values())

    def read_ahead(self, ids: Sequence[int]) -> dict[int, Mail | None]:
        """The mails among ``ids`` still due, read without a write; None for those that are not
        due any more. Starts with ``ids[0]``, stops before ``PEEK_BYTES`` (the sizes from the
        query of the due ids, or one query for them; one for the mails, instead of one per mail).

        ``ids`` are due ids of the helpdesk in order (``_due``): both queries take the range
        from the first to the last id wanted, with ``_due``'s conditions, and keep the wanted
        ones. Statements compiled once (``Prepared``), not an ``IN`` list built, keyed and
        compiled by SQLAlchemy per read: during a backlog the replies come a few at a time, and
        these reads were about a fifth of the sender thread's CPU then."""
        wanted_ids = set(ids)
        due = {"helpdesk": self.helpdesk, "now": self.now, "first": ids[0]}
        with self.factory() as session:
            sizes: dict[int, int | None]
            if wanted_ids.issubset(self.sizes):  # known from the query of the due ids (a mail's bytes do
                sizes = {row_id: self.sizes[row_id] for row_id in ids}  # not change; one no longer due reads None)
            else:
                sizes = {row_id: size for row_id, size in prepared.fetch(session, _DUE_SIZES, {**due, "last": ids[-1]})
                         if row_id in wanted_ids}
            covered: list[int] = []
            total = 0
            for row_id in ids:
                total += sizes.get(row_id) or 0
                if covered and total > PEEK_BYTES:
                    break
                covered.append(row_id)
            for row_id in covered:
                self.sizes.pop(row_id, None)
            wanted = {row_id for row_id in covered if row_id in sizes}
            rows = [row for row in prepared.fetch(session, _DUE_MAILS, {**due, "last": max(wanted)})
                    if row[0] in wanted] if wanted else []
        found: dict[int, Mail | None] = dict.fromkeys(covered)
        for row_id, mail_from, recipients, raw, message_id, last_error in rows:
            if last_error.startswith(IN_FLIGHT):  # marked by a sender of the other kind (ClaimSender)
                self.result.interrupted += 1
                log.warning("mail %s was being sent when the bot stopped (%s); sending it again with the same "
                            "Message-ID", message_id, last_error)
            found[row_id] = (mail_from, list(recipients), raw)
        return found

    def _record_accepted(self, *, keep_journal: bool = False) -> None:
        """Record the accepted mails in one transaction; then the journal is emptied (``keep_journal``:
        not, the flush was interrupted), but for the lines of the mails still in flight."""
        if self.accepted:
            with self.factory.begin() as session:
                send_journal.mark_sent(session, self.accepted)
            if not keep_journal:  # only once the database knows: a failed commit leaves the lines for later
                self.journal.clear(keep=self.in_flight.values())
            self.accepted.clear()
        self.recorded_at = time.monotonic()


def _due_in_range(*columns: Any) -> prepared.Prepared:
    """``columns`` of the helpdesk's mail due at ``now`` with ids from ``first`` to ``last``
    (the read-ahead's two reads: as ``_due``'s conditions, over a range of its ids)."""
    return prepared.Prepared(select(*columns).where(
        Outbox.helpdesk == bindparam("helpdesk"), Outbox.status == "pending", Outbox.next_attempt_at <= bindparam("now"),
        Outbox.id >= bindparam("first"), Outbox.id <= bindparam("last")).order_by(Outbox.id))


#: ``_due`` without the lock (SQLite), with each mail's size: ids are from 1 on, so ``after`` 0 is every id.
_DUE_IDS = prepared.Prepared(select(Outbox.id, func.length(Outbox.raw)).where(
    Outbox.helpdesk == bindparam("helpdesk"), Outbox.status == "pending", Outbox.next_attempt_at <= bindparam("now"),
    Outbox.id > bindparam("after")).order_by(Outbox.id).limit(bindparam("limit")))
_DUE_SIZES = _due_in_range(Outbox.id, func.length(Outbox.raw))
_DUE_MAILS = _due_in_range(Outbox.id, Outbox.mail_from, Outbox.recipients, Outbox.raw, Outbox.message_id,
                           Outbox.last_error)


def _due(now: datetime, pg: bool, limit: int, after: int = 0,
         helpdesk: str = DEFAULT_HELPDESK) -> Select[int]:
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


def _dialect(factory: sessionmaker[Session]) -> str:
    bind = factory.kw.get("bind")
    return bind.dialect.name if bind is not None else ""


def _backoff(settings: SmtpSettings, attempts: int) -> timedelta:
    return timedelta(seconds=min(settings.backoff_seconds * (2 ** max(attempts - 1, 0)), 6 * 3600))
