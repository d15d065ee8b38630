"""Personal data (UU 27/2022 PDP): retention purge, and one person's export or erasure.

What is stored, and where, is documented in README ("Personal data"). The purge keeps a
closed ticket's metadata (number, category, priority, states and times, events) for the
SLA reports and removes what users wrote: message bodies, attachments, the raw copies in
the outbox and quarantine. Erasure replaces a person's address, name and phone with a
pseudonym everywhere and removes the texts they wrote or received.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from mailbot.storage.models import (
    Inbound,
    Message,
    Outbox,
    Quarantine,
    SlaNotice,
    StoredAttachment,
    Ticket,
    TicketEvent,
    Undeliverable,
)

ERASED_TEXT = "[dihapus sesuai permintaan/retensi data pribadi]"


@dataclass
class PurgeReport:
    cutoff: datetime
    tickets: list[str] = field(default_factory=list)
    messages: int = 0
    attachments: int = 0
    outbox: int = 0
    quarantine: int = 0


def _months_ago(now: datetime, months: int) -> datetime:
    # A month is 30 days here: retention is a policy of "about N months", not a calendar date.
    return now - timedelta(days=30 * months)


def purge(session: Session, now: datetime, months: int, *, dry_run: bool) -> PurgeReport:
    """Remove bodies and attachments of tickets closed more than ``months`` ago."""
    report = PurgeReport(cutoff=_months_ago(now, months))
    tickets = session.scalars(select(Ticket).where(Ticket.state == "closed", Ticket.closed_at < report.cutoff)
                              .order_by(Ticket.id)).all()
    ids = [t.id for t in tickets]
    report.tickets = [t.number or str(t.id) for t in tickets]
    if ids:
        message_ids = select(Message.id).where(Message.ticket_id.in_(ids))
        report.messages = len(session.scalars(
            select(Message.id).where(Message.ticket_id.in_(ids), or_(Message.text != "", Message.new_text != ""))).all())
        report.attachments = len(session.scalars(
            select(StoredAttachment.id).where(StoredAttachment.message_pk.in_(message_ids),
                                              StoredAttachment.content.is_not(None))).all())
        report.outbox = len(session.scalars(
            select(Outbox.id).where(Outbox.ticket_id.in_(ids), Outbox.status != "pending", Outbox.raw != b"")).all())
    old_quarantine = select(Quarantine.id).where(Quarantine.at < report.cutoff, Quarantine.raw != b"")
    report.quarantine = len(session.scalars(old_quarantine).all())
    if dry_run:
        return report
    if ids:
        session.execute(update(Message).where(Message.ticket_id.in_(ids)).values(text="", new_text=""))
        session.execute(update(StoredAttachment).where(StoredAttachment.message_pk.in_(message_ids))
                        .values(content=None))
        session.execute(update(Outbox).where(Outbox.ticket_id.in_(ids), Outbox.status != "pending")
                        .values(raw=b""))
        for ticket in tickets:
            session.add(TicketEvent(ticket_id=ticket.id, kind="purged", at=now, actor="mailbot",
                                    detail=f"bodies and attachments removed after {months} months (retention)",
                                    data={}))
    session.execute(update(Quarantine).where(Quarantine.at < report.cutoff).values(raw=b""))
    return report


def _pseudonym(address: str) -> str:
    return "erased-" + hashlib.sha256(address.lower().encode()).hexdigest()[:12] + "@invalid"


def _tickets_of(session: Session, address: str) -> list[Ticket]:
    address = address.lower()
    ids = set(session.scalars(select(Ticket.id).where(Ticket.requester == address)).all())
    ids |= set(session.scalars(select(Message.ticket_id).where(Message.sender == address)).all())
    return list(session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)).all())


def export_person(session: Session, address: str, *, with_attachments: bool = False) -> dict[str, object]:
    """Everything stored about ``address``: tickets it opened or wrote in, with messages and events."""
    address = address.lower()
    tickets = []
    for t in _tickets_of(session, address):
        tickets.append({
            "number": t.number, "subject": t.subject, "state": t.state, "priority": t.priority,
            "category": t.category, "requester": t.requester, "requester_name": t.requester_name, "phone": t.phone,
            "opened_at": t.opened_at.isoformat(), "closed_at": t.closed_at.isoformat() if t.closed_at else None,
            "rating": t.rating,
            "messages": [
                {"at": m.at.isoformat(), "direction": m.direction, "sender": m.sender, "recipients": m.recipients,
                 "subject": m.subject, "text": m.text,
                 "attachments": [
                     {"filename": a.filename, "content_type": a.content_type, "size": a.size,
                      **({"content_base64": base64.b64encode(a.content).decode()}
                         if with_attachments and a.content is not None else {})}
                     for a in m.attachments]}
                for m in t.messages if m.sender == address or address in [r.lower() for r in m.recipients or []]
            ],
            "events": [{"at": e.at.isoformat(), "kind": e.kind, "detail": e.detail} for e in t.events],
        })
    marks = session.scalars(select(Undeliverable).where(Undeliverable.address == address)
                            .order_by(Undeliverable.id)).all()
    return {"address": address, "tickets": tickets,
            "undeliverable": [{"helpdesk": m.helpdesk, "reason": m.reason, "at": m.at.isoformat(),
                               "expires_at": m.expires_at.isoformat() if m.expires_at else None} for m in marks]}


@dataclass
class EraseReport:
    address: str
    pseudonym: str
    tickets: list[str] = field(default_factory=list)
    messages: int = 0


def erase_person(session: Session, address: str, now: datetime) -> EraseReport:
    """Replace ``address`` with a pseudonym and remove the texts it wrote or received."""
    address = address.lower()
    alias = _pseudonym(address)
    report = EraseReport(address, alias)
    for ticket in _tickets_of(session, address):
        report.tickets.append(ticket.number or str(ticket.id))
        own = ticket.requester == address
        if own:
            ticket.requester, ticket.requester_name, ticket.phone = alias, "", None
            ticket.subject = ERASED_TEXT
        for m in ticket.messages:
            recipients = [r.lower() for r in m.recipients or []]
            # In the person's own ticket every text is about them (notifications quote them too).
            if own or m.sender == address or address in recipients or address in m.text.lower():
                m.text, m.new_text, m.subject = "", "", ERASED_TEXT
                m.sender = alias if m.sender == address else m.sender
                m.recipients = [alias if r == address else r for r in recipients]
                for a in m.attachments:
                    session.delete(a)
                report.messages += 1
        for e in ticket.events:
            if address in e.detail.lower():
                e.detail = e.detail.lower().replace(address, alias)
            if e.actor.lower() == address:
                e.actor = alias
        session.add(TicketEvent(ticket_id=ticket.id, kind="personal_data_erased", at=now, actor="mailbot",
                                detail=f"personal data of {alias} erased", data={}))
    for row in session.scalars(select(Outbox).where(Outbox.to_key == address)):
        if row.status == "pending":  # never mail a person who asked to be erased
            row.status, row.last_error = "failed", "recipient's personal data erased"
        row.raw = b""
        row.recipients = [alias if r.lower() == address else r for r in row.recipients]
        row.to_key = alias
    for notice in session.scalars(select(SlaNotice)):
        if address in [r.lower() for r in notice.recipients or []]:
            notice.recipients = [alias if r.lower() == address else r for r in notice.recipients]
    session.execute(update(Inbound).where(Inbound.sender == address).values(sender=alias))
    session.execute(delete(Quarantine).where(Quarantine.sender == address))
    session.execute(delete(Undeliverable).where(Undeliverable.address == address))
    return report
