"""SQLite: the right to send a database's outbox (``sender_slot``), and the sender's marks kept
in the slot's lock file (``SendJournal``) instead of the database.

SQLite has one writer at a time, and a commit before and after every mail would make the
sender queue behind the intake's transactions during a backlog; it has no row locks either, so
one process at a time sends a database's (helpdesk's) outbox. The sender that uses the journal
is ``mailbot.mail.senders.JournalSender``; ``recover`` settles what a crashed one left.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailbot.settings.config import DEFAULT_HELPDESK
from mailbot.storage import prepared
from mailbot.storage.models import Outbox

# The sender's lines keep the outbox's logger name, whichever of its modules writes them.
log = logging.getLogger("mailbot.mail.outbox")


class SendJournal:
    """SQLite: the sender's marks, kept in its slot's lock file instead of the database.

    Before each SMTP transaction the sender appends ``sending <id> <time>``, and once the server
    has accepted the mail ``sent <id> <time>``; the outcomes reach the database in batches
    (``senders.JOURNAL_BATCH``, ``senders.JOURNAL_SECONDS``), and the file is emptied after each
    such commit. After a crash, the next sender reads what the database does not know yet
    (``recover``): it records the accepted mails as sent (they are not sent again) and resends
    only the one that was in flight, saying so in the log. Plain writes, no fsync: the kernel
    keeps them when the process dies; a power cut can lose the last lines, as it can lose
    SQLite's last commits (synchronous=NORMAL).
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


def mark_sent(session: Session, accepted: dict[int, datetime]) -> None:
    """Record mails the server accepted (one executemany; a row recorded already is left alone)."""
    prepared.run(session, _MARK_SENT, [{"row_id": row_id, "at": at} for row_id, at in accepted.items()])


_OUTBOX = cast(Table, Outbox.__table__)
#: Compiled once (``Prepared``): a backlog records its mails in some thirty of these per thousand.
_MARK_SENT = prepared.Prepared(
    update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"), _OUTBOX.c.status == "pending")
    .values(status="sent", sent_at=bindparam("at"), last_error="", attempts=_OUTBOX.c.attempts + 1))


def recover(factory: sessionmaker[Session], journal: SendJournal) -> int:
    """Settle what a sender that stopped without recording its last mails left in the journal;
    returns how many mails it left in flight (they count an attempt, and are resent)."""
    interrupted = 0
    accepted, in_flight = journal.entries()
    if accepted or in_flight:
        with factory.begin() as session:
            if accepted:
                mark_sent(session, accepted)
                log.info("%d mail(s) accepted by the server before the sender stopped, recorded as sent",
                         len(accepted))
            waiting = select(Outbox).where(Outbox.id.in_(in_flight), Outbox.status == "pending")
            for row in session.scalars(waiting):
                row.attempts += 1  # the interrupted try counts
                interrupted += 1
                log.warning("mail %s was being sent when the bot stopped (in flight since %s); sending it again "
                            "with the same Message-ID", row.message_id, in_flight[row.id])
    journal.clear()
    return interrupted


@dataclass
class SenderSlot:
    """The right to send one helpdesk's outbox; false while another process has it."""

    ours: bool
    journal: SendJournal | None = None  # SQLite: the slot's lock file is the sender's journal

    def __bool__(self) -> bool:
        return self.ours


@contextlib.contextmanager
def sender_slot(factory: sessionmaker[Session], helpdesk: str = DEFAULT_HELPDESK) -> Iterator[SenderSlot]:
    """SQLite: one sender per database file and helpdesk at a time; yields a false slot while
    another process sends that helpdesk's mail.

    SQLite has no row locks to claim a mail with, so a flush takes an ``flock`` on
    ``<database>.outbox.lock`` (``<database>.outbox.<key>.lock`` for another helpdesk than the
    default; dropped by the kernel if the process dies). A sender only ever takes its own
    helpdesk's rows, so a mail found in flight is always one whose sender crashed. PostgreSQL
    (and an SQLite database in memory) needs no slot and gets no journal: rows are claimed.
    """
    bind = factory.kw.get("bind")
    database = bind.url.database if bind is not None and bind.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield SenderSlot(True)
        return
    name = f"{database}.outbox.lock" if helpdesk == DEFAULT_HELPDESK else f"{database}.outbox.{helpdesk}.lock"
    fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield SenderSlot(False)
            return
        yield SenderSlot(True, SendJournal(fd))
    finally:
        os.close(fd)  # drops the lock
