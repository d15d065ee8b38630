"""The facts ``core.team`` decides on, read from the store, and its ticket-less note.

``#buat``: whether the staff member's mail is proven, the forwarded mail, and the refusal note
(there is no ticket to thread it in). The held answer (``#kirim``): the colleague's latest answer
and the staff member's own held answer. The new-ticket notification's list of the requester's
previous tickets is read here too (``requester_tickets``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from mailbot.core import threads
from mailbot.core.auth import verify_staff
from mailbot.core.commands import parse_staff_reply
from mailbot.core.domain import Attachment, EventKind, InboundMail, OutcomeKind, TicketState
from mailbot.core.forwarded import Forwarded, find_forwarded
from mailbot.core.team import HOLD_WINDOW, ColleagueAnswer, CreateRoute, CreateVerdict, HeldAnswer, StaffCreate
from mailbot.core.workflow import STATE_LABELS
from mailbot.mail import outbox
from mailbot.mail.compose import build_message, make_message_id
from mailbot.service.app import App
from mailbot.storage import store
from mailbot.storage.models import Inbound, Message, StoredAttachment, Ticket, TicketEvent

log = logging.getLogger(__name__)

#: Notes about an unverified ``#buat`` per address and hour (as for other unverified staff mail).
CREATE_NOTES_PER_HOUR = 3
_UNVERIFIED_REASON = "not verified"


def create_event(app: App, session: Session, mail: InboundMail, now: datetime) -> StaffCreate:
    """The facts of a ``#buat`` mail: its proof (as for staff commands; the signed "new ticket"
    address stands for a ticket's reply address), the forwarded mail, and earlier notes."""
    settings = app.settings
    signed = threads.signed_create((*mail.to, *mail.cc, *mail.delivered_to), settings.helpdesk.address, app.secret)
    verdict = verify_staff(mail, ticket_id=0, signed_ticket_id=0 if signed else None,
                           methods=settings.staff.command_auth,
                           trusted_authserv_ids=settings.staff.trusted_authserv_ids)
    # The whole text: an Outlook-style forwarded block is "history" to the reply reader.
    forwarded = find_forwarded(mail.text)
    warned = 0
    if not verdict.ok:
        warned = session.scalar(select(func.count(Inbound.id)).where(
            Inbound.helpdesk == settings.helpdesk_key, Inbound.sender == mail.from_addr,
            Inbound.outcome == OutcomeKind.IGNORED, Inbound.reason.like(f"#buat from % {_UNVERIFIED_REASON} (%"),
            Inbound.at >= now - timedelta(hours=1))) or 0
    return StaffCreate(mail.from_addr, verdict.ok, verdict.how, forwarded,
                       ours=forwarded is not None and _ours(app, forwarded.address),
                       warned=warned, cap=CREATE_NOTES_PER_HOUR)


def _ours(app: App, address: str) -> bool:
    """A staff address, the helpdesk's own (any plus form), or LKPP's: never a ticket's requester."""
    settings = app.settings
    local, _, domain = settings.helpdesk.address.lower().partition("@")
    a_local, _, a_domain = address.lower().partition("@")
    lkpp = address == settings.escalation.lkpp_address.lower() or a_domain in settings.escalation.lkpp_domains
    return settings.is_staff(address) or lkpp or (a_domain == domain and a_local.split("+")[0] == local)


def original_mail(mail: InboundMail, forwarded: Forwarded, prefix: str) -> InboundMail:
    """The forwarded mail as if its sender had written to the helpdesk: the ticket's first mail.

    It keeps the staff member's Message-ID (the mail that was claimed) and the files it carries;
    the rules read the forwarded text and subject.
    """
    subject = forwarded.subject or threads.clean_subject(mail.subject, prefix)
    return replace(mail, from_addr=forwarded.address, from_name=forwarded.name[:200], subject=subject,
                   text=forwarded.text, new_text=forwarded.text, html=None, in_reply_to=(), references=(),
                   authentication_results=())


def refuse_create(app: App, session: Session, mail: InboundMail, event: StaffCreate, verdict: CreateVerdict,
                  now: datetime) -> None:
    """Tell the staff address why its ``#buat`` opened no ticket (no ticket: a mail of its own)."""
    log.warning("mail %s: %s", mail.message_id, verdict.reason)
    if not verdict.note:
        return
    settings = app.settings
    unverified = verdict.route is CreateRoute.UNVERIFIED
    context = {"helpdesk": {"name": settings.helpdesk.name, "address": settings.helpdesk.address,
                            "phone": settings.helpdesk.phone},
               "refusal": {"subject": mail.subject, "reasons": list(verdict.note), "unverified": unverified,
                           "capped": event.cap if unverified and event.warned + 1 == event.cap else 0}}
    rendered = app.renderer.render("staff_create_refused", context)
    message_id = make_message_id(settings.helpdesk.address.partition("@")[2])
    msg = build_message(rendered, sender_name=settings.helpdesk.name, sender=settings.helpdesk.address,
                        to=[mail.from_addr], message_id=message_id, date=now, ticket_number="new",
                        in_reply_to=mail.message_id, references=[mail.message_id], hops=mail.x_mailbot_hops + 1,
                        auto_submitted="auto-replied")
    outbox.queue(session, msg, message_id=message_id, mail_from=settings.helpdesk.address, recipients=[mail.from_addr],
                 ticket_id=None, now=now, helpdesk=settings.helpdesk_key)


# ---- the held answer ------------------------------------------------------------------------

#: The events that record a staff member's answer reaching the user.
_ANSWER_EVENTS = (EventKind.STAFF_ANSWERED, EventKind.CLOSED, EventKind.DATA_REQUESTED, EventKind.LKPP_RELAYED)


#: Another staff member's latest answer event in the hold window (built once: it runs for every staff
#: reply, and building it with its functions and IN lists cost several times what running it does).
_COLLEAGUE_EVENT = (select(TicketEvent.actor, TicketEvent.at).where(
    TicketEvent.ticket_id == bindparam("ticket"), TicketEvent.kind.in_([k.value for k in _ANSWER_EVENTS]),
    TicketEvent.at >= bindparam("since"), func.lower(TicketEvent.actor) != bindparam("actor"),
    func.lower(TicketEvent.actor).in_(bindparam("staff", expanding=True)))
    .order_by(TicketEvent.id.desc()).limit(1))


def colleague_answer(app: App, session: Session, ticket: Ticket, actor: str, now: datetime) -> ColleagueAnswer | None:
    """Another staff member's latest answer to the user on this ticket, if within the hold window."""
    staff = [a.lower() for a in app.settings.staff.addresses]
    row = store.read(session, _COLLEAGUE_EVENT, {"ticket": ticket.id, "since": now - HOLD_WINDOW,
                                                 "actor": actor.lower(), "staff": store.padded(staff)}).first()
    if row is None:
        return None
    colleague, at = row
    text = session.scalar(select(Message.new_text).where(
        Message.ticket_id == ticket.id, Message.direction == "in", Message.sender == colleague,
        Message.at <= at).order_by(Message.id.desc()).limit(1)) or ""
    return ColleagueAnswer(colleague, at, parse_staff_reply(text).body)


def held_answer(session: Session, ticket: Ticket, actor: str) -> HeldAnswer | None:
    """The staff member's latest held answer on this ticket that has not been sent yet."""
    rows = session.execute(select(TicketEvent.kind, TicketEvent.data).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.actor == actor,
        TicketEvent.kind.in_([EventKind.ANSWER_HELD.value, EventKind.ANSWER_RELEASED.value]))
        .order_by(TicketEvent.id.desc()).limit(1)).first()
    if rows is None or rows[0] != EventKind.ANSWER_HELD.value or not rows[1]:
        return None
    message_id = str(rows[1].get("message_id") or "")
    text = session.scalar(select(Message.new_text).where(Message.ticket_id == ticket.id,
                                                         Message.message_id == message_id).limit(1))
    return HeldAnswer(message_id, text) if text is not None else None


def held_mail(session: Session, ticket: Ticket, mail: InboundMail, held: HeldAnswer) -> InboundMail:
    """The ``#kirim`` mail carrying the held answer's text and files (they go out with the answer)."""
    pk = session.scalar(select(Message.id).where(Message.ticket_id == ticket.id, Message.message_id == held.message_id))
    files = tuple(Attachment(a.filename, a.content_type, a.size, a.content, a.inline)
                  for a in session.scalars(select(StoredAttachment).where(StoredAttachment.message_pk == pk)
                                           .order_by(StoredAttachment.id)))
    return replace(mail, new_text=held.text, attachments=files)


# ---- the requester's previous tickets (the new-ticket notification) --------------------------


# Built once (bind parameters): every new ticket runs it, and building it cost as much as running it.
_REQUESTER_TICKETS = (select(Ticket.number, Ticket.subject, Ticket.state, Ticket.opened_at)
                      .where(Ticket.helpdesk == bindparam("helpdesk"), Ticket.requester == bindparam("requester"),
                             Ticket.id != bindparam("ticket"))
                      .order_by(Ticket.opened_at.desc(), Ticket.id.desc()).limit(bindparam("limit")))


#: How many of the requester's other tickets the new-ticket notification lists.
REQUESTER_TICKETS_SHOWN = 3


def requester_tickets(session: Session, ticket: Ticket, app: App, limit: int = REQUESTER_TICKETS_SHOWN) -> list[object]:
    """The requester's last ``limit`` other tickets of this helpdesk: number, subject, state, date.

    A new thread's transaction has read the requester's latest tickets for the flood cap
    (``inbound._opened_lately``): when those hold the answer, they give it.
    """
    rows: list[Any] | None = None
    kept = store.kept_latest(session, ticket.helpdesk, ticket.requester)
    if kept is not None:
        others = [row[1:] for row in kept.rows if row[0] != ticket.id]
        if kept.complete or len(others) >= limit:
            rows = others[:limit]
    if rows is None:
        rows = list(store.read(session, _REQUESTER_TICKETS, {"helpdesk": ticket.helpdesk, "requester": ticket.requester,
                                                         "ticket": ticket.id, "limit": limit}))
    return [{"number": number, "subject": subject, "state": state,
             "state_label": STATE_LABELS[TicketState(state)],
             "date": opened_at.astimezone(app.zone).strftime("%d-%m-%Y")} for number, subject, state, opened_at in rows]
