"""Carrying out a Decision: ticket fields, events, stored messages, queued mail (one transaction).

Every message and event of a transaction goes in through here, so the conversation kept per
transaction stays true; automatic mail passes the per-helpdesk marks and the hourly cap.
"""


from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, insert, or_, select
from sqlalchemy.orm import Session

from mailbot.core import bounces, lkpp_officer, threads
from mailbot.core.auth import dkim_pass
from mailbot.core.commands import CommandKind, StaffReply
from mailbot.core.domain import Classification, EventKind, InboundMail, SenderRole, TicketState
from mailbot.core.passwords import mask_passwords
from mailbot.core.workflow import (
    Assign,
    Decision,
    MergeInto,
    MergeTarget,
    Record,
    SendMail,
    SetMissing,
    SetPriority,
    SetRating,
    TicketView,
)
from mailbot.mail import outbox
from mailbot.mail.compose import OutgoingAttachment, make_message_id, message_bytes
from mailbot.service import deadlines
from mailbot.service.app import App
from mailbot.service.context import template_context
from mailbot.settings.config import Settings
from mailbot.storage import store
from mailbot.storage.models import Message, Outbox, StoredAttachment, Ticket, TicketEvent, Undeliverable
from mailbot.storage.prepared import Prepared

log = logging.getLogger(__name__)



#: Templates that go to the user, to staff, or to LKPP: decides the conversation ("channel").
_CHANNEL_OF_RECIPIENT = {"user": "user", "staff": "staff", "assignee": "staff", "closer": "staff",
                         "sender": "staff", "lkpp": "lkpp", "coordinator": "staff",
                         "others": "staff"}

#: ``session.info`` key: the conversations read in the transaction, by ticket id (``_conversation_ids``).
_CONVERSATIONS = "mailbot.conversations"
#: ``session.info`` key: (the mail, the app, its sender's role), see ``role_of``.
_SENDER_ROLE = "mailbot.sender_role"


def role_of(app: App, session: Session, mail: InboundMail) -> SenderRole:
    """``sender_role(app.settings, mail, app.secret)``, worked out once per mail and transaction
    (``_handle`` asks, then ``queue_mail`` for every reply: the signed-address check costs an HMAC)."""
    known = session.info.get(_SENDER_ROLE)
    if known is not None and known[0] is mail and known[1] is app:
        return cast(SenderRole, known[2])
    role = sender_role(app.settings, mail, app.secret)
    session.info[_SENDER_ROLE] = (mail, app, role)
    return role


def sender_role(settings: Settings, mail: InboundMail, secret: str | None = None) -> SenderRole:
    """Who wrote the mail. LKPP is whoever writes to a signed LKPP address (with ``secret``), or a
    mail that *claims* to be LKPP's (From the LKPP address or an LKPP domain): whether that claim
    is proven is decided by ``lkpp_verdict``, and an unproven one changes nothing."""
    if mail.x_mailbot_ticket and mail.from_addr == settings.helpdesk.address:
        return SenderRole.SELF
    if secret and signed_lkpp(settings, mail, secret) is not None:
        return SenderRole.LKPP
    if settings.is_staff(mail.from_addr):
        return SenderRole.STAFF
    if claims_lkpp(settings, mail):
        return SenderRole.LKPP
    return SenderRole.USER


def claims_lkpp(settings: Settings, mail: InboundMail) -> bool:
    """From the configured LKPP address, or from one of ``escalation.lkpp_domains``."""
    domain = mail.from_addr.rpartition("@")[2].lower()
    return mail.from_addr == settings.escalation.lkpp_address or domain in settings.escalation.lkpp_domains


def signed_lkpp(settings: Settings, mail: InboundMail, secret: str) -> int | None:
    """The ticket whose signed LKPP address (the escalation's Reply-To) the mail was sent to, if any."""
    return threads.signed_lkpp_ticket((*mail.to, *mail.cc, *mail.delivered_to), settings.helpdesk.address, secret)


def lkpp_verdict(settings: Settings, mail: InboundMail, ticket_id: int, signed: int | None) -> tuple[bool, str]:
    """Is this mail LKPP's for ticket ``ticket_id``? (proven, how or why not).

    Proof is the ticket's signed LKPP address, or a DKIM pass for the From domain when that
    domain is one of ``escalation.lkpp_domains`` (read as ``core.auth`` reads staff's results).
    An address alone proves nothing: anybody can write any From.
    """
    if signed is not None:
        if signed == ticket_id:
            return True, "signed LKPP reply address"
        return False, "LKPP reply address signed for another ticket"
    domain = mail.from_addr.rpartition("@")[2].lower()
    if domain in settings.escalation.lkpp_domains:
        ok, why = dkim_pass(mail, settings.staff.trusted_authserv_ids)
        return ok, why
    return False, "not sent to the signed LKPP reply address of the ticket"


def ticket_view(ticket: Ticket, closed_by_lkpp: bool = False) -> TicketView:
    """What ``workflow.decide`` knows of a stored ticket."""
    return TicketView(state=TicketState(ticket.state), priority=ticket.priority, assignee=ticket.assignee,
                      closed_by=ticket.closed_by, closed_at=ticket.closed_at, missing=tuple(ticket.missing or ()),
                      closed_by_lkpp=closed_by_lkpp)


def closed_by_lkpp(session: Session, ticket: Ticket) -> bool:
    """Was the ticket's last close LKPP's (its CLOSED event says so)?"""
    if ticket.state != TicketState.CLOSED.value:
        return False
    data = session.scalar(select(TicketEvent.data).where(TicketEvent.ticket_id == ticket.id,
                                                         TicketEvent.kind == EventKind.CLOSED)
                          .order_by(TicketEvent.id.desc()).limit(1))
    return bool(data and data.get("by_lkpp"))



# ---- the transaction ----------------------------------------------------------------------


def store_message(session: Session, ticket: Ticket, mail: InboundMail, role: SenderRole, *, channel: str,
                   now: datetime, auto: bool = False) -> None:
    # Users do send passwords: never store or relay them in clear.
    text, _ = mask_passwords(mail.text)
    new_text, _ = mask_passwords(mail.new_text)
    message_pk = add_message(session, {
        "ticket_id": ticket.id, "message_id": mail.message_id, "direction": "in", "role": role.value,
        "channel": channel, "sender": mail.from_addr, "recipients": list(mail.to + mail.cc),
        "subject": mail.subject[:500], "text": text, "new_text": new_text, "template": None, "auto": auto, "at": now,
    }, returning_id=bool(mail.attachments))
    if mail.attachments:
        store.run(session, _INSERT_ATTACHMENT, [
            {"message_pk": message_pk, "filename": att.filename, "content_type": att.content_type, "size": att.size,
             "content": att.content, "inline": att.inline} for att in mail.attachments])
    if ticket.updated_at != now:
        # Setting the same value would still mark the ticket changed: the commit would then run
        # the ORM's flush for it (a ticket opened in this mail's transaction has it already).
        ticket.updated_at = now


def event_row(ticket: Ticket, record: Record, now: datetime, actor: str) -> dict[str, Any]:
    return {"ticket_id": ticket.id, "kind": record.kind, "at": now, "actor": actor, "detail": record.detail,
            "sop_step": record.sop_step, "data": dict(record.data)}


_INSERT_ATTACHMENT = Prepared(insert(cast(Table, StoredAttachment.__table__)))
#: Events go in as Core inserts, at once (like messages, see ``add_message``): in the order they
#: happen, without the ORM's bookkeeping.
INSERT_EVENT = Prepared(insert(cast(Table, TicketEvent.__table__)))


def record_event(session: Session, ticket: Ticket, record: Record, now: datetime, actor: str) -> None:
    store.run(session, INSERT_EVENT, event_row(ticket, record, now, actor))


def apply_decision(app: App, session: Session, ticket: Ticket, mail: InboundMail, decision: Decision, now: datetime,
           classification: Classification | None = None, *, new_ticket: bool = False,
           actor: str | None = None) -> None:
    """Carry out a Decision: ticket fields, events, and queued mail (all in this transaction).

    ``new_ticket``: the ticket was created in this transaction and has no events yet.
    ``actor``: who the events are recorded for (default: the mail's sender; "mailbot" for the clock).
    """
    change = change_ticket(app, session, ticket, mail, decision, now, new_ticket=new_ticket, actor=actor)
    finish_decision(app, session, ticket, mail, decision, now, change, classification)


@dataclass(frozen=True)
class TicketChange:
    """What ``change_ticket`` did to the ticket's row, for ``finish_decision``: the events to record
    (``ticket_id`` filled in then: a new ticket may not have its id yet) and who had closed it."""

    events: list[dict[str, Any]]
    previous_closer: str | None
    new_ticket: bool  # its clocks were computed from these events alone


def change_ticket(app: App, session: Session, ticket: Ticket, mail: InboundMail, decision: Decision, now: datetime,
                  *, new_ticket: bool = False, actor: str | None = None) -> TicketChange:
    """The first half of ``apply_decision``: the ticket's fields and deadline columns, nothing written.

    A ticket opened in this transaction (``new_ticket``) may still be unsaved: ``_open`` changes it
    before its INSERT, so that its row is written once, complete (not inserted and then updated).
    """
    previous_closer = ticket.closed_by
    events: list[dict[str, Any]] = []
    for effect in decision.effects:
        if isinstance(effect, Record):
            if effect.kind in {EventKind.CLOSED, EventKind.ESCALATED} and mail.date is not None:
                # When staff wrote the command: the SOP's "10 minutes after solving" runs from here.
                effect = Record(effect.kind, effect.detail, effect.sop_step,
                                {**effect.data, "written_at": mail.date.isoformat()})
            events.append(event_row(ticket, effect, now, actor or mail.from_addr))
        elif isinstance(effect, SetPriority):
            ticket.priority = effect.level
        elif isinstance(effect, Assign):
            ticket.assignee = effect.address
        elif isinstance(effect, SetMissing):
            ticket.missing = list(effect.items)
        elif isinstance(effect, SetRating):
            ticket.rating = effect.rating
        elif isinstance(effect, MergeInto):
            _merge_into(session, ticket, effect, now, actor or mail.from_addr)
    if decision.state is TicketState.CLOSED and ticket.state != TicketState.CLOSED.value:
        ticket.closed_at = now
        ticket.closed_by = decision.closed_by
    elif decision.state is not TicketState.CLOSED and ticket.state == TicketState.CLOSED.value:
        ticket.closed_at = None
    ticket.state = decision.state.value
    ticket.updated_at = now
    # Deadlines are columns on the ticket, recomputed with every change (the scheduler only ticks);
    # before the mails, so that notifications can state the deadline. A new ticket's events are
    # all here: its clocks need no query.
    if new_ticket:
        deadlines.refresh_deadlines(session, ticket, app, now, new_ticket_events=[
            deadlines.ClockEvent(row["kind"], row["at"], row["actor"], row["detail"], row["sop_step"], row["data"])
            for row in events])
    return TicketChange(events, previous_closer, new_ticket)


def finish_decision(app: App, session: Session, ticket: Ticket, mail: InboundMail, decision: Decision,
                    now: datetime, change: TicketChange, classification: Classification | None = None) -> None:
    """The second half of ``apply_decision`` (the ticket has its id): the events, the deadlines of
    a ticket that had events before, and the queued mail."""
    # The events go in with one executemany (ORM objects would be inserted one by one, for their ids).
    if change.events:
        for row in change.events:
            row["ticket_id"] = ticket.id
        store.run(session, INSERT_EVENT, change.events)
    mails = decision.mails()
    if not change.new_ticket:
        # The mails will thread on the ticket's conversation: read with the clocks' facts if not known yet.
        known: dict[int, list[tuple[str, str, str]]] = session.info.setdefault(_CONVERSATIONS, {})
        conversation: list[tuple[str, str, str]] | None = [] if mails and ticket.id not in known else None
        deadlines.refresh_deadlines(session, ticket, app, now, conversation=conversation)
        if conversation is not None:
            known[ticket.id] = conversation
    replies = Replies()
    for effect in mails:
        queue_mail(app, session, ticket, mail, effect, now, classification, change.previous_closer, replies)
    replies.insert(session)


class Replies:
    """The outbox rows and stored messages of the mails one decision queues, inserted together
    after the last one (an executemany per table instead of two statements per mail).

    Nothing in between reads them from the database: the hourly cap counts the rows held here
    (``queued_automatic``), and the conversation of the ticket is read before the first reply
    and kept current by ``add_message`` (``_conversation_ids``); history read for a template
    (``template_context``, the dossier) is the mails *to* the bot only.
    """

    __slots__ = ("outbox", "messages", "context")

    def __init__(self) -> None:
        self.outbox: list[dict[str, object]] = []
        self.messages: list[dict[str, Any]] = []
        #: the decision's template context (``_context_for``), made for its first mail
        self.context: dict[str, object] | None = None

    def queued_automatic(self, address: str, helpdesk: str) -> int:
        """How many automatic mails to ``address`` of ``helpdesk`` are held here (queued ``now``)."""
        key = address.lower()
        return sum(1 for r in self.outbox if r["automatic"] and r["to_key"] == key and r["helpdesk"] == helpdesk)

    def insert(self, session: Session) -> None:
        if self.outbox:
            outbox.insert_rows(session, self.outbox)
        if self.messages:
            store.run(session, _INSERT_MESSAGE, self.messages)
        self.outbox, self.messages = [], []


def merge_target(session: Session, ticket: Ticket, reply: StaffReply) -> MergeTarget | None:
    """The ticket a ``#gabung`` in ``reply`` names, in ``ticket``'s helpdesk (None: no command, or no
    such ticket); ``decide`` judges whether the two may be merged."""
    command = next((c for c in reply.commands if c.kind is CommandKind.MERGE), None)
    if command is None:
        return None
    target_id = store.ticket_for_seq(session, ticket.helpdesk, int(command.arg))
    if target_id == ticket.id:  # itself: locked already, and its changes in this transaction kept
        target: Ticket | None = ticket
    else:
        target = store.lock_ticket(session, target_id) if target_id is not None else None
    if target is None:
        return None
    return MergeTarget(target.id, target.number or "", TicketState(target.state),
                       target.requester.lower() == ticket.requester.lower(), target.id == ticket.id)


def _merge_into(session: Session, ticket: Ticket, effect: MergeInto, now: datetime, actor: str) -> None:
    """Link a duplicate to the ticket that carries on, and say so on that ticket's timeline."""
    ticket.merged_into_id = effect.ticket_id
    target = session.get(Ticket, effect.ticket_id)
    if target is None:  # checked by the caller in this transaction; a vanished ticket only loses the note
        return
    record_event(session, target, Record(EventKind.MERGED_FROM, f"{ticket.number} merged into this ticket by {actor}",
                                         data={"from": ticket.number, "from_id": ticket.id}), now, actor)
    target.updated_at = now


#: What ``core.lkpp_officer.handling_officer`` reads: the ticket's escalations and LKPP answers, oldest first.
_LKPP_EVENTS = (select(TicketEvent.kind, TicketEvent.actor)
                .where(TicketEvent.ticket_id == bindparam("ticket"),
                       TicketEvent.kind.in_([EventKind.ESCALATED.value, EventKind.LKPP_REPLIED.value]))
                .order_by(TicketEvent.id))


def recipients_for(app: App, session: Session, ticket: Ticket, mail: InboundMail, to: str,
                   previous_closer: str | None) -> list[str]:
    staff = list(app.settings.staff.addresses)
    if to == "user":
        return [ticket.requester]
    if to == "lkpp":  # LKPP's helpdesk, and the officer handling the escalation (``core.lkpp_officer``)
        events = ([(kind, actor) for kind, actor in store.read(session, _LKPP_EVENTS, {"ticket": ticket.id})]
                  if ticket.id is not None else [])
        return lkpp_officer.recipients(app.settings.escalation.lkpp_address, lkpp_officer.handling_officer(events))
    if to == "sender":
        return [mail.from_addr]
    if to == "assignee":
        return [ticket.assignee] if ticket.assignee else staff
    if to == "closer":
        return [previous_closer] if previous_closer else staff
    if to == "others":  # the colleagues of the staff member who acted (``core.team``)
        return [a for a in staff if a.lower() != mail.from_addr.lower()]
    if to == "coordinator":  # SLA breach notices (service.sla_jobs); all staff when none is configured
        return [app.settings.staff.coordinator] if app.settings.staff.coordinator else staff
    return staff


def queue_mail(app: App, session: Session, ticket: Ticket, mail: InboundMail, effect: SendMail, now: datetime,
                classification: Classification | None, previous_closer: str | None,
                replies: Replies | None = None) -> None:
    """Render, compose and queue one mail of a decision, and store it in the ticket's conversation;
    with ``replies``, its rows are held there and inserted with the decision's other mails."""
    settings = app.settings
    recipients = [r for r in recipients_for(app, session, ticket, mail, effect.to, previous_closer) if r]
    channel = _CHANNEL_OF_RECIPIENT[effect.to]
    if channel == "staff":
        # A staff notification carries the staff reply address, the key to staff commands: it
        # goes to staff.addresses only (never to an LKPP officer who closed, nor to anyone else).
        def is_staff(address: str) -> bool:
            return settings.is_staff(address) or address.lower() == (settings.staff.coordinator or "").lower()
        outsiders = [r for r in recipients if not is_staff(r)]
        if outsiders:
            log.warning("ticket %s: %s not sent to %s (not staff); sent to staff instead", ticket.number,
                        effect.template, ", ".join(outsiders))
            recipients = [r for r in recipients if is_staff(r)] or list(settings.staff.addresses)
    if not recipients:
        return
    role = role_of(app, session, mail)
    automatic = role in {SenderRole.USER, SenderRole.LKPP} and effect.to in {"user", "lkpp"}
    if automatic:
        # LKPP's answer to the user is a person's answer: like staff's, a mark does not hold it back.
        blocked = _not_sendable(app, session, recipients[0], now, marks=role is SenderRole.USER,
                                queued=replies.queued_automatic(recipients[0], settings.helpdesk_key) if replies else 0)
        if blocked:
            record_event(session, ticket, Record(EventKind.MAIL_SUPPRESSED, f"{effect.template} to {recipients[0]} not sent: {blocked}"),
                   now, "mailbot")
            return
    attachments, omitted = _attachments_for(app, session, ticket, mail, effect, role)
    context = _context_for(app, session, ticket, mail, classification, replies)
    context.update(effect.context)
    if omitted:
        context.update(omitted=omitted, dossier_limit=_size_text(app.settings.escalation.max_dossier_bytes))
        record_event(session, ticket, Record(EventKind.DOSSIER_TRIMMED, f"{len(omitted)} attachment(s) not in the {effect.template} "
                                       "mail (size budget escalation.max_dossier_bytes), listed by name instead",
                                       data={"omitted": [a["filename"] for a in omitted]}), now, "mailbot")
    rendered = app.renderer.render(effect.template, context)
    if channel in {"user", "lkpp"}:
        # Signed addresses stay with staff (LKPP's own one is in Reply-To, not in the text).
        base = settings.helpdesk.address
        rendered = replace(rendered, subject=threads.mask_plus_addresses(rendered.subject, base),
                           text=threads.mask_plus_addresses(rendered.text, base),
                           html=threads.mask_plus_addresses(rendered.html, base))
    rows = _conversation_ids(session, ticket.id, channel)
    thread = [mid for mid, _ in rows]
    if channel == "user" and effect.to == "user":
        # Answer the user's own latest mail so their client threads it.
        user_ids = [mid for mid, direction in rows if direction == "in"]
        in_reply_to = user_ids[-1] if user_ids else (thread[-1] if thread else None)
    else:
        in_reply_to = thread[-1] if thread else None
    domain = settings.helpdesk.address.partition("@")[2]
    message_id = make_message_id(domain)
    # Staff answer to the staff reply address; LKPP to the ticket's signed LKPP address (whoever
    # writes to it is LKPP for this ticket). Nobody else gets either.
    reply_to = (threads.reply_address(settings.helpdesk.address, ticket.id, app.secret) if channel == "staff"
                else threads.lkpp_reply_address(settings.helpdesk.address, ticket.id, app.secret)
                if channel == "lkpp" else None)
    msg = message_bytes(
        rendered, sender_name=settings.helpdesk.name, sender=settings.helpdesk.address, to=recipients,
        message_id=message_id, date=now, ticket_number=ticket.number or "", in_reply_to=in_reply_to,
        references=list(thread), hops=mail.x_mailbot_hops + 1,
        reply_to=reply_to,
        auto_submitted="auto-replied" if channel == "user" else "auto-generated",
        attachments=attachments,
    )
    token = bounces.new_token() if settings.smtp.verp else None
    mail_from = bounces.verp_address(settings.helpdesk.address, token, app.secret) if token else settings.helpdesk.address
    row = outbox.row(msg, message_id=message_id, mail_from=mail_from, recipients=recipients, ticket_id=ticket.id,
                     now=now, automatic=automatic, helpdesk=settings.helpdesk_key, verp=token)
    if replies is None:
        outbox.insert_rows(session, [row])
    else:
        replies.outbox.append(row)
    add_message(session, {
        "ticket_id": ticket.id, "message_id": message_id, "direction": "out", "role": "bot", "channel": channel,
        "sender": settings.helpdesk.address, "recipients": recipients, "subject": rendered.subject[:500],
        "text": rendered.text, "new_text": rendered.text, "template": effect.template, "auto": False, "at": now,
    }, replies=replies)


def _context_for(app: App, session: Session, ticket: Ticket, mail: InboundMail,
                 classification: Classification | None, replies: Replies | None) -> dict[str, object]:
    """``template_context(...)``, a copy of the one made for the decision's first mail.

    Between a decision's mails nothing it shows changes: the ticket was changed before the first
    (``change_ticket``), and what a mail writes (its outbox row, message, a suppression or trim
    event) is no value of it; its lazy values (history, suggestions, previous tickets) are then
    made at most once for all of them, as the ORM reads a relationship once per transaction.
    """
    if replies is None:
        return template_context(app, session, ticket, mail, classification)
    if replies.context is None:
        replies.context = template_context(app, session, ticket, mail, classification)
    return dict(replies.context)


def _conversation_ids(session: Session, ticket_id: int, channel: str) -> list[tuple[str, str]]:
    """The (Message-ID, direction) pairs of one channel of a ticket's conversation, oldest first.

    The ticket's messages (all channels) are read once per transaction and then kept current by
    ``add_message``: a mail that queues several replies (the acknowledgment to the user, the
    notice to staff) would otherwise read them again for each. A ticket opened in this
    transaction needs no query at all (``new_conversation``), nor one whose participants were
    read for a subject tag (``participants``).
    """
    known: dict[int, list[tuple[str, str, str]]] = session.info.setdefault(_CONVERSATIONS, {})
    messages = known.get(ticket_id)
    if messages is None:
        messages = known[ticket_id] = store.conversation(session, ticket_id)
    return [(mid, direction) for mid, direction, of in messages if of == channel]


def participants(session: Session, ticket_id: int) -> set[str]:
    """``store.participants``, read with the ticket's conversation, which is kept for the replies."""
    messages, people = store.conversation_and_participants(session, ticket_id)
    session.info.setdefault(_CONVERSATIONS, {}).setdefault(ticket_id, messages)
    return people


def new_conversation(session: Session, ticket_id: int) -> None:
    """``ticket_id`` was created in this transaction: its messages are all added through here."""
    session.info.setdefault(_CONVERSATIONS, {})[ticket_id] = []


#: A ticket's messages go in as Core inserts, at once and in the order they are added (their ids
#: order the conversation): as ORM objects, each cost the unit of work's bookkeeping, and most
#: were inserted one by one anyway, by whichever query came next and flushed them.
_MESSAGES = cast(Table, Message.__table__)
_INSERT_MESSAGE = Prepared(insert(_MESSAGES))
_INSERT_MESSAGE_ID = Prepared(insert(_MESSAGES).returning(_MESSAGES.c.id))


def add_message(session: Session, row: dict[str, Any], *, returning_id: bool = False,
                replies: Replies | None = None) -> int | None:
    """Every message of a transaction goes in through here, so that ``_conversation_ids`` stays
    true; with ``returning_id``, the new row's id (for its attachments); with ``replies``, the
    row is held there (see ``Replies``)."""
    message_pk = None
    if returning_id:
        message_pk = store.run(session, _INSERT_MESSAGE_ID, row).scalar_one()
    elif replies is not None:
        replies.messages.append(row)
    else:
        store.run(session, _INSERT_MESSAGE, row)
    messages = session.info.get(_CONVERSATIONS, {}).get(row["ticket_id"])
    if messages is not None:
        messages.append((row["message_id"], row["direction"], row["channel"]))
    return message_pk


#: How many automatic mails a helpdesk queued to an address since a time (the hourly cap).
_RECENT_AUTOMATIC = select(func.count(Outbox.id)).where(
    Outbox.to_key == bindparam("address"), Outbox.helpdesk == bindparam("helpdesk"), Outbox.automatic.is_(True),
    Outbox.created_at >= bindparam("since"))
# Built once (it runs for nearly every automatic reply). One query for both checks, both per
# helpdesk: one helpdesk's bounces and mail must not silence another's.
_BOUNCED = select(Undeliverable.id).where(
    Undeliverable.address == bindparam("address"), Undeliverable.helpdesk == bindparam("helpdesk"),
    or_(Undeliverable.expires_at.is_(None), Undeliverable.expires_at > bindparam("now"))).exists()
_BOUNCED_AND_RECENT = Prepared(select(_BOUNCED, _RECENT_AUTOMATIC.scalar_subquery()))


def recent_automatic_mail(address: str, helpdesk: str, now: datetime) -> Select[int]:
    """How many automatic mails ``helpdesk`` queued to ``address`` in the hour before ``now``."""
    return _RECENT_AUTOMATIC.params(address=address.lower(), helpdesk=helpdesk, since=now - timedelta(hours=1))


def _not_sendable(app: App, session: Session, address: str, now: datetime, *, marks: bool = True,
                  queued: int = 0) -> str | None:
    """Why an *automatic* mail to ``address`` must not go out (marked undeliverable for this
    helpdesk, or the automatic-mail cap), or None. Staff answers and escalations are never
    held back: they are sent, and a failure is reported. ``queued``: automatic mails to it of
    this transaction not inserted yet (``Replies``)."""
    is_bounced, count = store.fetch(session, _BOUNCED_AND_RECENT, {
        "address": address.lower(), "helpdesk": app.settings.helpdesk_key, "now": now,
        "since": now - timedelta(hours=1)}).one()
    if is_bounced and marks:
        return "address marked undeliverable (mailbot addresses list)"
    if (count or 0) + queued >= app.settings.loops.max_auto_mails_per_hour:
        return f"cap of {app.settings.loops.max_auto_mails_per_hour} automatic mails per hour reached"
    return None


#: Mails that pass on the files of the mail in hand: the user's to staff and LKPP; unverified LKPP
#: mail's to staff only (they judge it before ``#teruskan``).
_FORWARDS_FILES = {"staff_new", "staff_user_reply", "lkpp_user_update", "lkpp_reopened", "staff_lkpp_unverified"}
#: Mails that carry a staff member's or LKPP's answer: the files of that answer go with it (to the
#: user, to staff for their copy of LKPP's answer, to LKPP with staff's ``#lkpp``), within the size budget.
_ANSWER_FILES = {"staff_answer", "closed", "need_info", "lkpp_answer", "staff_lkpp_reply", "lkpp_message"}


def _attachments_for(app: App, session: Session, ticket: Ticket, mail: InboundMail, effect: SendMail,
                     role: SenderRole) -> tuple[list[OutgoingAttachment], list[dict[str, object]]]:
    """The files a mail carries, and those left out by the size budget (listed by name in the mail).

    Files over ``storage.max_attachment_bytes`` were never kept (parse); what a mail carries to
    the user or LKPP is held to ``escalation.max_dossier_bytes`` (mail servers refuse larger mail).
    """
    template = effect.template
    if template == "escalation":
        return _dossier_attachments(app, session, ticket)
    if template in _FORWARDS_FILES:
        return [OutgoingAttachment(a.filename, a.content_type, a.content) for a in mail.attachments
                if a.content is not None], []
    relay = effect.context.get("relay")
    if template == "lkpp_answer" and isinstance(relay, int):  # ``#teruskan``: the unverified mail's files
        stored = session.scalars(select(StoredAttachment).where(StoredAttachment.message_pk == relay,
                                                                StoredAttachment.content.is_not(None))
                                 .order_by(StoredAttachment.id))
        return _within_budget(app, [OutgoingAttachment(a.filename, a.content_type, a.content)
                                    for a in stored if a.content is not None])
    if template in _ANSWER_FILES and role in {SenderRole.STAFF, SenderRole.LKPP}:
        return _within_budget(app, [OutgoingAttachment(a.filename, a.content_type, a.content)
                                    for a in mail.attachments if a.content is not None and not a.inline])
    return [], []


def _within_budget(app: App, files: list[OutgoingAttachment]
                   ) -> tuple[list[OutgoingAttachment], list[dict[str, object]]]:
    """The files that fit one mail's budget (in order), and the names and sizes of the others."""
    budget = int(app.settings.escalation.max_dossier_bytes * _DOSSIER_SHARE)
    chosen: list[OutgoingAttachment] = []
    omitted: list[dict[str, object]] = []
    used = 0
    for f in files:
        size = len(f.content)
        if used + size <= budget:
            chosen.append(f)
            used += size
        else:
            omitted.append({"filename": f.filename, "size": size, "size_text": _size_text(size)})
    return chosen, omitted


#: Base64 makes an attachment a third larger, and the dossier's text and headers need room too.
_DOSSIER_SHARE = 0.7


def _dossier_attachments(app: App, session: Session,
                         ticket: Ticket) -> tuple[list[OutgoingAttachment], list[dict[str, object]]]:
    """The user's files that fit the escalation's size budget (oldest first), and the others.

    Sizes are read first and only the chosen files' contents are loaded: a ticket with 60 MB of
    attachments must not need 60 MB (and its copies) in memory to send a 10 MB mail.
    """
    budget = int(app.settings.escalation.max_dossier_bytes * _DOSSIER_SHARE)
    rows = session.execute(
        select(StoredAttachment.id, StoredAttachment.filename, StoredAttachment.size)
        .join(Message).where(Message.ticket_id == ticket.id, Message.direction == "in",
                             Message.auto.is_(False),  # never an unverified mail's files
                             StoredAttachment.content.is_not(None))
        .order_by(StoredAttachment.id)).all()
    chosen: list[int] = []
    omitted: list[dict[str, object]] = []
    used = 0
    for row_id, filename, size in rows:
        if used + size <= budget:
            chosen.append(row_id)
            used += size
        else:
            omitted.append({"filename": filename, "size": size, "size_text": _size_text(size)})
    files = [OutgoingAttachment(a.filename, a.content_type, a.content) for a in session.scalars(
        select(StoredAttachment).where(StoredAttachment.id.in_(store.padded(chosen)))
        .order_by(StoredAttachment.id)) if a.content is not None] if chosen else []
    return files, omitted


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{max(size, 1) / 1024:.0f} KB"


