"""The read side for the CLI and reports: tickets looked up and listed, a ticket as plain data."""


from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.core import lkpp_decision
from mailbot.storage import store
from mailbot.storage.models import Ticket

log = logging.getLogger(__name__)


class NoSuchTicket(LookupError):
    """No ticket has that number or id (in the helpdesk asked for)."""


class AmbiguousTicket(LookupError):
    """The number is used by tickets of several helpdesks and no helpdesk was given."""

    def __init__(self, number: str, helpdesks: list[str]) -> None:
        super().__init__(f"ticket {number} exists in helpdesks {', '.join(helpdesks)}")
        self.helpdesks = helpdesks


def list_tickets(session: Session, state: str | None = None, helpdesk: str | None = None) -> list[Ticket]:
    """Every ticket (in ``state``, of ``helpdesk``, when given), by id."""
    query = select(Ticket).order_by(Ticket.id)
    if state:
        query = query.where(Ticket.state == state)
    if helpdesk is not None:
        query = query.where(Ticket.helpdesk == helpdesk)
    return list(session.scalars(query))


def find_ticket(session: Session, text: str, helpdesk: str | None = None) -> Ticket:
    """The ticket named by ``text``: its number (``TTS-000123``) or its id.

    Numbers repeat across the helpdesks of a deployment: without ``helpdesk`` a number that
    several of them use raises ``AmbiguousTicket``; none raises ``NoSuchTicket``."""
    ticket = store.ticket_by_number(session, text, helpdesk)
    if ticket is None:
        raise NoSuchTicket(text)
    number = text.strip().upper()
    if helpdesk is None and not number.isdigit():
        owners = sorted(set(session.scalars(select(Ticket.helpdesk).where(Ticket.number == number))))
        if len(owners) > 1:
            raise AmbiguousTicket(text, owners)
    return ticket


def ticket_summary(ticket: Ticket) -> dict[str, object]:
    return {
        "helpdesk": ticket.helpdesk, "number": ticket.number, "state": ticket.state, "priority": ticket.priority,
        "category": ticket.category,
        "subject": ticket.subject, "requester": ticket.requester, "assignee": ticket.assignee,
        "opened_at": ticket.opened_at.isoformat(), "updated_at": ticket.updated_at.isoformat(),
        "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
    }


def ticket_detail(ticket: Ticket) -> dict[str, object]:
    detail = ticket_summary(ticket)
    decision = lkpp_decision.due_from_columns(ticket.state, ticket.next_due_at, ticket.lkpp_due_at)
    detail.update({
        "requester_name": ticket.requester_name, "phone": ticket.phone, "missing": ticket.missing,
        "closed_by": ticket.closed_by, "category_matched": ticket.category_matched, "rating": ticket.rating,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
        "paused_since": ticket.paused_since.isoformat() if ticket.paused_since else None,
        "lkpp_due_at": ticket.lkpp_due_at.isoformat() if ticket.lkpp_due_at else None,
        "decision_due_at": decision.isoformat() if decision else None,  # core.lkpp_decision
        "messages": [
            {"message_id": m.message_id, "direction": m.direction, "role": m.role, "channel": m.channel,
             "sender": m.sender, "recipients": m.recipients, "subject": m.subject, "at": m.at.isoformat(),
             "template": m.template, "auto": m.auto, "text": m.new_text,
             "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size}
                             for a in m.attachments]}
            for m in ticket.messages
        ],
        "events": [
            {"kind": e.kind, "at": e.at.isoformat(), "actor": e.actor, "detail": e.detail, "sop_step": e.sop_step,
             "data": e.data}
            for e in ticket.events
        ],
    })
    return detail
