"""Addresses marked undeliverable, per helpdesk: set by proven bounces and refusals, listed and
lifted by the operator (``mailbot addresses list|clear``).

A mark stops only the helpdesk's *automatic* mail to the address (see ``service``); it never
holds back a staff answer or an escalation. What may set one is decided in ``bounces``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from mailbot.core.bounces import Mark
from mailbot.storage.models import Undeliverable


def mark_address(session: Session, helpdesk: str, mark: Mark, ticket_id: int | None, now: datetime) -> bool:
    """Record ``mark`` for ``helpdesk``; True when it is news (no mark before, or only an expired one),
    which is when staff are told."""
    row = session.scalar(select(Undeliverable).where(Undeliverable.helpdesk == helpdesk,
                                                     Undeliverable.address == mark.address))
    if row is None:
        session.add(Undeliverable(helpdesk=helpdesk, address=mark.address, reason=mark.reason, ticket_id=ticket_id,
                                  at=now, permanent=mark.permanent, expires_at=mark.expires_at))
        session.flush()
        return True
    news = row.expires_at is not None and row.expires_at <= now
    longer = row.expires_at is not None and (mark.expires_at is None or mark.expires_at > row.expires_at)
    if news or longer:
        row.reason, row.ticket_id, row.at = mark.reason, ticket_id, now
        row.permanent = mark.permanent or (row.permanent and not news)
        row.expires_at = None if row.permanent else mark.expires_at
        session.flush()  # seen at once by the checks of automatic mail (mail is handled without autoflush)
    return news


@dataclass(frozen=True)
class MarkView:
    helpdesk: str
    address: str
    reason: str
    at: datetime
    permanent: bool
    expires_at: datetime | None
    active: bool


def list_marks(session: Session, now: datetime, helpdesk: str | None = None,
               include_expired: bool = False) -> list[MarkView]:
    """The marks (of one helpdesk, or all), oldest first; expired ones only when asked."""
    query = select(Undeliverable).order_by(Undeliverable.id)
    if helpdesk is not None:
        query = query.where(Undeliverable.helpdesk == helpdesk)
    views = [MarkView(r.helpdesk, r.address, r.reason, r.at, r.permanent, r.expires_at,
                      r.expires_at is None or r.expires_at > now) for r in session.scalars(query)]
    return [v for v in views if v.active or include_expired]


def clear_mark(session: Session, address: str, helpdesk: str | None = None) -> int:
    """Lift the marks on ``address`` (of one helpdesk, or every one); how many were lifted."""
    statement = delete(Undeliverable).where(Undeliverable.address == address.strip().lower())
    if helpdesk is not None:
        statement = statement.where(Undeliverable.helpdesk == helpdesk)
    result = cast(CursorResult[Any], session.execute(statement))  # a DELETE's result has a rowcount
    return result.rowcount or 0
