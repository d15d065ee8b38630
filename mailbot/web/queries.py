"""The console's read side: the queue, a ticket, the dashboard, an attachment, a list of tickets.

Each is a function of (session, viewer, filters, now) returning plain dataclasses, so the pages
render them and a benchmark times them without a web server. Every query is limited to what the
viewer may see (``visible``): their helpdesks; for LKPP only tickets escalated to it.

What keeps them fast at 100,000 tickets (indexes of migration 0009 and before):

- the queue reads ``ix_tickets_queue`` (helpdesk, state, next_due_at): the open tickets of the
  viewer's helpdesks, already in deadline order; ``next_due_at`` is the earliest running deadline,
  a column kept by ``service.deadlines`` (sorting on an expression over four columns could not use
  an index); a page is ``per_page`` rows and a count;
- the ticket page reads by primary key, the messages and events by ``ticket_id`` (indexed), the
  attachments by ``message_pk`` (indexed) without their content, and the requester's earlier
  tickets by ``ix_tickets_requester_opened``;
- LKPP's scope is an EXISTS on ``ix_events_kind_ticket`` (kind, ticket_id): one index probe per
  ticket of the queue (the open tickets stay few; escalations pile up over the years);
- closed tickets (``state=closed``) come newest-closed first from ``ix_tickets_closed`` (helpdesk,
  state, closed_at), without sorting a helpdesk's whole history;
- the dashboard counts the open tickets in one GROUP BY pass over ``ix_tickets_queue``, and the
  day's intake from ``ix_tickets_helpdesk_opened`` (helpdesk, opened_at).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, exists, func, select
from sqlalchemy.orm import Session

from mailbot.core.domain import TicketState
from mailbot.storage.models import Message, StoredAttachment, Ticket, TicketEvent
from mailbot.web.access import Viewer

#: The states of open tickets (the queue's default).
OPEN_STATES: tuple[str, ...] = tuple(s.value for s in TicketState if s.is_open)
STATES: tuple[str, ...] = tuple(s.value for s in TicketState)
#: Message conversations LKPP may read (not the helpdesk's own staff channel).
LKPP_CHANNELS = ("user", "lkpp")
#: Events LKPP does not see: the helpdesk's internal notes.
LKPP_HIDDEN_EVENTS = ("note",)


def escalated() -> ColumnElement[bool]:
    """The ticket was escalated to LKPP (at any time): one probe of ``ix_events_kind_ticket`` per
    ticket in the viewer's (open) queue. (``id IN (escalated ids)`` made SQLite, without
    statistics, probe that list for every (helpdesk, state) of the queue: 30-50 ms.)"""
    return exists().where(TicketEvent.kind == "escalated", TicketEvent.ticket_id == Ticket.id)


def visible(viewer: Viewer) -> ColumnElement[bool]:
    """The tickets ``viewer`` may see."""
    scope = Ticket.helpdesk.in_(viewer.helpdesks)
    return and_(scope, escalated()) if viewer.lkpp else scope


# ---- the queue --------------------------------------------------------------------------------


Assignee = Literal["", "mine", "unassigned"]


@dataclass(frozen=True)
class QueueFilters:
    state: str = ""  # one of STATES ("" : every open state)
    priority: str = ""
    assignee: Assignee = ""
    waiting: bool = False  # waiting for the user's data
    at_lkpp: bool = False  # escalated, not yet back
    overdue: bool = False  # a running deadline has passed
    helpdesk: str = ""
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class QueueRow:
    id: int
    helpdesk: str
    number: str
    subject: str
    requester: str
    requester_name: str
    state: str
    priority: str
    assignee: str | None
    next_due_at: datetime | None
    paused_since: datetime | None
    opened_at: datetime
    lkpp_due_at: datetime | None = None  # with state and next_due_at: the helpdesk's decision (core.lkpp_decision)


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


_ROW_COLUMNS = (Ticket.id, Ticket.helpdesk, Ticket.number, Ticket.subject, Ticket.requester, Ticket.requester_name,
                Ticket.state, Ticket.priority, Ticket.assignee, Ticket.next_due_at, Ticket.paused_since,
                Ticket.opened_at, Ticket.lkpp_due_at)


def _row(r: Any) -> QueueRow:
    return QueueRow(r.id, r.helpdesk, r.number or f"#{r.id}", r.subject, r.requester, r.requester_name, r.state,
                    r.priority, r.assignee, r.next_due_at, r.paused_since, r.opened_at, r.lkpp_due_at)


def queue_conditions(viewer: Viewer, filters: QueueFilters, now: datetime) -> list[ColumnElement[bool]]:
    where = [visible(viewer)]
    if filters.helpdesk:
        where.append(Ticket.helpdesk == filters.helpdesk)
    if filters.waiting:
        where.append(Ticket.state == TicketState.WAITING_USER.value)
    elif filters.at_lkpp:
        where.append(Ticket.state == TicketState.ESCALATED.value)
    elif filters.state in STATES:
        where.append(Ticket.state == filters.state)
    else:
        where.append(Ticket.state.in_(OPEN_STATES))
    if filters.priority:
        where.append(Ticket.priority == filters.priority)
    if filters.assignee == "mine":
        where.append(func.lower(Ticket.assignee) == viewer.address)
    elif filters.assignee == "unassigned":
        where.append(Ticket.assignee.is_(None))
    if filters.overdue:
        where.append(Ticket.next_due_at < now)
    return where


def queue(session: Session, viewer: Viewer, filters: QueueFilters, now: datetime) -> QueuePage:
    """One page of the queue: the nearest deadline first, tickets without a running one last."""
    where = queue_conditions(viewer, filters, now)
    total = session.scalar(select(func.count()).select_from(Ticket).where(*where)) or 0
    page = max(1, filters.page)
    order: list[ColumnElement[Any]]
    if filters.state == TicketState.CLOSED.value:
        order = [Ticket.closed_at.desc(), Ticket.id.desc()]
    else:
        order = [Ticket.next_due_at.is_(None), Ticket.next_due_at.asc(), Ticket.id.asc()]
    rows = session.execute(select(*_ROW_COLUMNS).where(*where).order_by(*order)
                           .limit(filters.per_page).offset((page - 1) * filters.per_page))
    return QueuePage([_row(r) for r in rows], total, page, filters.per_page)


def tickets_by_ids(session: Session, viewer: Viewer, ids: Sequence[int]) -> list[QueueRow]:
    """The visible tickets among ``ids``, in that order (search results)."""
    if not ids:
        return []
    found = {r.id: _row(r) for r in session.execute(select(*_ROW_COLUMNS).where(Ticket.id.in_(list(ids)),
                                                                                   visible(viewer)))}
    return [found[i] for i in ids if i in found]


# ---- one ticket -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttachmentInfo:
    id: int
    filename: str
    content_type: str
    size: int
    kept: bool  # False: over the size cap, or purged by retention
    inline: bool


@dataclass
class MessageView:
    id: int
    direction: str
    role: str
    channel: str
    sender: str
    recipients: list[str]
    subject: str
    text: str
    new_text: str
    template: str | None
    auto: bool
    at: datetime
    attachments: list[AttachmentInfo] = field(default_factory=list)


@dataclass
class TicketPage:
    ticket: Ticket
    events: list[TicketEvent]
    messages: list[MessageView]
    earlier: list[QueueRow]
    was_escalated: bool


def ticket_helpdesk(session: Session, viewer: Viewer, ticket_id: int) -> str | None:
    """The helpdesk of a ticket ``viewer`` may see (None: not there, or not theirs): one probe by key."""
    return session.scalar(select(Ticket.helpdesk).where(Ticket.id == ticket_id, visible(viewer)))


def ticket_page(session: Session, viewer: Viewer, ticket_id: int, now: datetime) -> TicketPage | None:
    """A ticket with its events, messages (attachments without content) and the requester's other tickets."""
    ticket = session.scalar(select(Ticket).where(Ticket.id == ticket_id, visible(viewer)))
    if ticket is None:
        return None
    events_q = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    messages_q = (select(Message.id, Message.direction, Message.role, Message.channel, Message.sender,
                         Message.recipients, Message.subject, Message.text, Message.new_text, Message.template,
                         Message.auto, Message.at).where(Message.ticket_id == ticket.id).order_by(Message.id))
    if viewer.lkpp:
        events_q = events_q.where(TicketEvent.kind.not_in(LKPP_HIDDEN_EVENTS))
        messages_q = messages_q.where(Message.channel.in_(LKPP_CHANNELS))
    messages = [MessageView(m.id, m.direction, m.role, m.channel, m.sender, m.recipients, m.subject, m.text, m.new_text,
                            m.template, m.auto, m.at) for m in session.execute(messages_q)]
    by_id = {m.id: m for m in messages}
    if by_id:
        for a in session.execute(
                select(StoredAttachment.id, StoredAttachment.message_pk, StoredAttachment.filename,
                       StoredAttachment.content_type, StoredAttachment.size, StoredAttachment.content.is_not(None),
                       StoredAttachment.inline)
                .where(StoredAttachment.message_pk.in_(list(by_id))).order_by(StoredAttachment.id)):
            by_id[a[1]].attachments.append(AttachmentInfo(a[0], a[2], a[3], a[4], bool(a[5]), bool(a[6])))
    earlier = [_row(r) for r in session.execute(
        select(*_ROW_COLUMNS).where(Ticket.requester == ticket.requester, Ticket.id != ticket.id, visible(viewer))
        .order_by(Ticket.opened_at.desc()).limit(20))]
    events = list(session.scalars(events_q))
    return TicketPage(ticket, events, messages, earlier, any(e.kind == "escalated" for e in events))


@dataclass(frozen=True)
class Download:
    filename: str
    content_type: str
    content: bytes


def attachment(session: Session, viewer: Viewer, attachment_id: int) -> Download | None:
    """An attachment's content, when its ticket (and, for LKPP, its conversation) is visible."""
    where = [StoredAttachment.id == attachment_id, visible(viewer)]
    if viewer.lkpp:
        where.append(Message.channel.in_(LKPP_CHANNELS))
    row = session.execute(select(StoredAttachment.filename, StoredAttachment.content_type, StoredAttachment.content)
                          .join(Message, Message.id == StoredAttachment.message_pk)
                          .join(Ticket, Ticket.id == Message.ticket_id).where(*where)).first()
    if row is None or row.content is None:
        return None
    return Download(row.filename, row.content_type, row.content)


# ---- the dashboard ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    by_state: dict[str, int]
    by_priority: dict[str, int]
    open_total: int
    overdue: int
    intake_today: int
    unassigned: int
    calls: list[QueueRow]  # SOP step 4: telephone confirmations still to make, the oldest deadline first
    call_phones: dict[int, str | None]


def dashboard(session: Session, viewer: Viewer, now: datetime, day_start: datetime,
              helpdesk: str = "") -> Dashboard:
    """Counts of the open tickets by state and priority, the overdue ones, today's intake (opened
    since ``day_start``, the start of the local day) and the calls still to make."""
    scope = [visible(viewer)] + ([Ticket.helpdesk == helpdesk] if helpdesk else [])
    is_open = Ticket.state.in_(OPEN_STATES)
    # One pass over the open tickets (ix_tickets_queue) for every count.
    by_state: dict[str, int] = {}
    by_priority: dict[str, int] = {}
    overdue = unassigned = 0
    for state, priority, count, late, nobody in session.execute(
            select(Ticket.state, Ticket.priority, func.count(),
                   func.sum(case((Ticket.next_due_at < now, 1), else_=0)),
                   func.sum(case((Ticket.assignee.is_(None), 1), else_=0)))
            .where(*scope, is_open).group_by(Ticket.state, Ticket.priority)):
        by_state[state] = by_state.get(state, 0) + int(count)
        by_priority[priority] = by_priority.get(priority, 0) + int(count)
        overdue += int(late or 0)
        unassigned += int(nobody or 0)
    intake = session.scalar(select(func.count()).select_from(Ticket).where(*scope, Ticket.opened_at >= day_start)) or 0
    call_rows = list(session.execute(select(*_ROW_COLUMNS, Ticket.phone).where(
        *scope, is_open, Ticket.call_due_at.is_not(None)).order_by(Ticket.call_due_at).limit(50)))
    return Dashboard(by_state, by_priority, sum(by_state.values()), overdue, intake, unassigned,
                     [_row(r) for r in call_rows], {r.id: r.phone for r in call_rows})

