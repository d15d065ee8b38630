"""The outbox seen by the operator (``mailbot outbox list|retry|ack``): mail waiting or failed,
a failed mail sent again, failed mail acknowledged so that ``status`` stops reporting it.

Sending and the retry itself belong to ``mailbot.mail.outbox``; this module only looks rows up
and says why a command does not apply to one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.mail import outbox
from mailbot.storage.models import Outbox


class NoSuchMail(LookupError):
    """No outbox mail has that id (in the helpdesk asked for)."""


class NotApplicable(Exception):
    """The mail is there but not in a state for the command; ``state`` says which."""

    def __init__(self, row_id: int, state: str) -> None:
        super().__init__(f"outbox mail {row_id}: {state}")
        self.state = state


def list_mail(session: Session, include_sent: bool = False, helpdesk: str | None = None) -> list[Outbox]:
    """The mail waiting or failed (and sent, with ``include_sent``), of ``helpdesk`` when given, by id."""
    query = select(Outbox).order_by(Outbox.id)
    if not include_sent:
        query = query.where(Outbox.status != "sent")
    if helpdesk is not None:
        query = query.where(Outbox.helpdesk == helpdesk)
    return list(session.scalars(query))


def acknowledge_failed(session: Session, now: datetime, row_id: int | None = None,
                       helpdesk: str | None = None) -> int:
    """Acknowledge failed mail: mail ``row_id``, or (None) every failed mail not yet acknowledged,
    of ``helpdesk`` when given; how many were acknowledged.

    For one mail: ``NoSuchMail`` when it is not there, ``NotApplicable`` when it is not a failed
    mail waiting for an acknowledgment (state "acknowledged already", "pending" or "sent")."""
    if row_id is not None:
        found = session.get(Outbox, row_id)
        if found is None or (helpdesk is not None and found.helpdesk != helpdesk):
            raise NoSuchMail(row_id)
        if found.status != "failed" or found.acknowledged_at is not None:
            raise NotApplicable(row_id, "acknowledged already" if found.status == "failed" else found.status)
    query = select(Outbox).where(Outbox.status == "failed", Outbox.acknowledged_at.is_(None))
    if helpdesk is not None:
        query = query.where(Outbox.helpdesk == helpdesk)
    if row_id is not None:
        query = query.where(Outbox.id == row_id)
    rows = session.scalars(query).all()
    for row in rows:
        row.acknowledged_at = now
    return len(rows)


def retry_mail(session: Session, row_id: int, now: datetime) -> Outbox:
    """Make mail ``row_id`` due again with a fresh attempt budget (``outbox.retry``).

    ``NoSuchMail`` when it is not there, ``NotApplicable`` (state "sent") when it was sent."""
    if session.get(Outbox, row_id) is None:
        raise NoSuchMail(row_id)
    row = outbox.retry(session, row_id, now)
    if row is None:
        raise NotApplicable(row_id, "sent")
    return row
