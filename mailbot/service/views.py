"""The read side for the CLI and reports: a ticket as plain data."""


from __future__ import annotations

import logging


from mailbot.storage.models import Ticket

log = logging.getLogger(__name__)



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
    detail.update({
        "requester_name": ticket.requester_name, "phone": ticket.phone, "missing": ticket.missing,
        "closed_by": ticket.closed_by, "category_matched": ticket.category_matched, "rating": ticket.rating,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
        "paused_since": ticket.paused_since.isoformat() if ticket.paused_since else None,
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
