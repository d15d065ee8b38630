"""Mail in quarantine (it could not be processed): listed, and processed again on the operator's
word (``mailbot quarantine list|retry``).

A retry forgets the quarantine outcome of the mail (so it is not taken for a duplicate), runs it
through ``inbound.process_raw`` again with the helpdesk whose mailbox it came from, and then
either marks the entry resolved or, when it fails again, keeps that one entry with the latest
error (not a second record). Moving the server copy out of the quarantine folder is the
caller's (``intake.release_quarantined``): the stored record is the truth, the copy follows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from mailbot.service.outcome import Outcome
from mailbot.storage.models import Inbound, Quarantine


class NoSuchEntry(LookupError):
    """No quarantine entry has that id."""


class AlreadyRetried(Exception):
    """The entry was processed again already (it is resolved)."""

    def __init__(self, entry_id: int, resolved_at: datetime) -> None:
        super().__init__(f"quarantine entry {entry_id} was processed again already")
        self.resolved_at = resolved_at


@dataclass(frozen=True)
class Retried:
    """What a retry did: the outcome, the App that processed the mail, and the mail itself."""

    outcome: Outcome
    app: App
    raw: bytes

    @property
    def failed_again(self) -> bool:
        return self.outcome.kind == "quarantined"


def list_entries(session: Session, helpdesk: str | None = None) -> list[Quarantine]:
    """The unresolved entries (of ``helpdesk``, when given), oldest first."""
    query = select(Quarantine).where(Quarantine.resolved_at.is_(None)).order_by(Quarantine.id)
    if helpdesk is not None:
        query = query.where(Quarantine.helpdesk == helpdesk)
    return list(session.scalars(query))


def retry(factory: sessionmaker[Session], entry_id: int, app_for: Callable[[str], App],
          clock: Callable[[], datetime]) -> Retried:
    """Process entry ``entry_id`` again, with ``app_for(helpdesk)`` of the helpdesk it came from;
    ``clock()`` is read for the processing and again for the time the entry is resolved.

    Raises ``NoSuchEntry`` or ``AlreadyRetried``; otherwise the entry is resolved, or (failed
    again) carries the latest error."""
    with factory.begin() as session:
        entry = session.get(Quarantine, entry_id)
        if entry is None:
            raise NoSuchEntry(entry_id)
        if entry.resolved_at is not None:
            raise AlreadyRetried(entry_id, entry.resolved_at)
        app = app_for(entry.helpdesk)
        raw = entry.raw
        # Forget the quarantine outcome so the retry is not taken for a duplicate.
        inbound = session.scalar(select(Inbound).where(Inbound.helpdesk == entry.helpdesk,
                                                       Inbound.message_id == entry.message_id))
        if inbound is not None:
            session.delete(inbound)
    outcome = process_raw(app, raw, clock(), released=True)  # the operator's word: a spam verdict does not hold it
    with app.factory.begin() as session:
        entry = session.get(Quarantine, entry_id)
        if outcome.kind != "quarantined" and entry is not None:
            entry.resolved_at = clock()
        elif entry is not None:
            # Failed again: keep this one entry, with the latest error (not a second record).
            for newer in session.scalars(select(Quarantine).where(Quarantine.message_id == entry.message_id,
                                                                  Quarantine.helpdesk == entry.helpdesk,
                                                                  Quarantine.id > entry.id)):
                entry.error = newer.error
                session.delete(newer)
    return Retried(outcome, app, raw)
