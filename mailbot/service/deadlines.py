"""Deadlines are columns on the ticket: recomputed from its events after every change.

``refresh_deadlines`` is called at the end of every transaction that changes a ticket; ``status``
and ``evaluate`` give the clocks to the SLA tick, ``tickets show`` and reports.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, literal_column, null, select, union_all
from sqlalchemy.orm import Session

from mailbot.core import sla
from mailbot.core.domain import EventRecord
from mailbot.core.worktime import WorkCalendar, parse_weekdays
from mailbot.settings import holidays_id
from mailbot.settings.config import Settings
from mailbot.storage import store
from mailbot.storage.models import Message, SlaNotice, Ticket, TicketEvent
from mailbot.storage.prepared import Prepared

if TYPE_CHECKING:
    from mailbot.service.app import App

log = logging.getLogger(__name__)



def calendar_for(settings: Settings) -> WorkCalendar:
    holidays_id.preload()  # before the calendar's first holiday lookup imports every country
    s = settings.sla
    return WorkCalendar(
        zone=ZoneInfo(settings.helpdesk.timezone), workdays=parse_weekdays(s.working_days), start=s.work_start,
        end=s.work_end, categories=tuple(s.holiday_categories), extra_holidays=frozenset(s.extra_holidays),
        extra_working_dates=frozenset(s.extra_working_dates),
    )


def policy_for(settings: Settings, calendar: WorkCalendar) -> sla.SlaPolicy:
    s = settings.sla
    standards = {}
    for name in sla.STEPS:
        cfg = getattr(s.standards, name)
        day = calendar.day_length if cfg.working else timedelta(days=1)
        duration = day * cfg.days + timedelta(hours=cfg.hours, minutes=cfg.minutes)
        standards[name] = sla.Standard(duration, cfg.working, cfg.notify)
    return sla.SlaPolicy(
        standards=standards, warn_at=tuple(v / 100 for v in s.warn_at), resolution_working=s.resolution_working,
        resolution_notify=s.resolution_notify, reminder_days=s.reminder_days, autoclose_days=s.autoclose_days,
        decision_hours=s.lkpp_decision_hours,
    )


@dataclass(frozen=True)
class Setup:
    """The calendar and policy of one deployment (built once per tick, not per ticket)."""

    calendar: WorkCalendar
    policy: sla.SlaPolicy

    @classmethod
    def of(cls, app: App) -> Setup:
        cached = app.setup_cache
        if cached is not None and cached[0] is app.settings and isinstance(cached[1], cls):
            return cached[1]  # the settings are frozen: the same object, the same calendar and policy
        calendar = calendar_for(app.settings)
        setup = cls(calendar, policy_for(app.settings, calendar))
        app.setup_cache = (app.settings, setup)
        return setup


def measured_steps(app: App, events: Sequence[EventRecord], priority: str) -> list[sla.Sample]:
    """The finished SOP steps of one ticket as the SLA report measures them (working time where the
    standard is), for the timelines of ``tickets show`` and the console."""
    setup = Setup.of(app)
    hours = {level.key: level.resolution_hours for level in app.table.levels}
    return sla.measure(events, priority=priority, policy=setup.policy, calendar=setup.calendar,
                       resolution_hours=hours)


# ---- reading a ticket's clocks --------------------------------------------------------------


def notice_prefix(ticket_id: int) -> str:
    return f"t{ticket_id}/"


# Both run for every mail that changes a ticket: built once, with a bind parameter.
_EVENTS = (select(TicketEvent.kind, TicketEvent.at, TicketEvent.actor, TicketEvent.detail, TicketEvent.sop_step,
                  TicketEvent.data).where(TicketEvent.ticket_id == bindparam("ticket")).order_by(TicketEvent.id))
_SENT = select(SlaNotice.key).where(SlaNotice.ticket_id == bindparam("ticket"))


def ticket_events(session: Session, ticket_id: int) -> list[EventRecord]:
    # A query, not ticket.events: the relationship may have been loaded before this
    # transaction added events. Plain rows, not ORM objects: this runs for every mail, and the
    # clocks only read the fields.
    return list(store.read(session, _EVENTS, {"ticket": ticket_id}))


def sent_notices(session: Session, ticket_id: int) -> set[str]:
    prefix = notice_prefix(ticket_id)
    keys = store.read(session, _SENT, {"ticket": ticket_id}).scalars()
    return {k.removeprefix(prefix) for k in keys}


class ClockEvent(NamedTuple):
    """An event as the clocks read it (``EventRecord``): from ``clock_facts``, and a new ticket's events
    (``effects``) without the cost of ORM objects that are never added to the session."""

    kind: str
    at: datetime
    actor: str
    detail: str
    sop_step: int | None
    data: dict[str, Any]


# The ticket's events and its sent notices in one query (both are read for every mail that changes
# a ticket): the events first, in their order, then the notices' keys in the ``kind`` column.
_EVENT_ROWS = select(literal_column("0").label("part"), TicketEvent.id, TicketEvent.kind, TicketEvent.at,
                     TicketEvent.actor, TicketEvent.detail, TicketEvent.sop_step,
                     TicketEvent.data).where(TicketEvent.ticket_id == bindparam("ticket"))
_NOTICE_ROWS: Select[*tuple[Any, ...]] = select(
    literal_column("1"), literal_column("0"), SlaNotice.key, null(), null(), null(), null(), null(),
).where(SlaNotice.ticket_id == bindparam("ticket"))
_CLOCK_FACTS = Prepared(union_all(_EVENT_ROWS, _NOTICE_ROWS).order_by(literal_column("part"), literal_column("id")))
# And the ticket's conversation (``store.conversation``: Message-ID, direction, channel, oldest first),
# for a change whose mails will thread on it: one query instead of two.
_MESSAGE_ROWS: Select[*tuple[Any, ...]] = select(
    literal_column("2"), Message.id, Message.message_id, null(), Message.direction, Message.channel, null(), null(),
).where(Message.ticket_id == bindparam("ticket"))
_CLOCK_FACTS_AND_CONVERSATION = Prepared(union_all(_EVENT_ROWS, _NOTICE_ROWS, _MESSAGE_ROWS).order_by(
    literal_column("part"), literal_column("id")))


def clock_facts(session: Session, ticket_id: int, conversation: list[tuple[str, str, str]] | None = None,
                ) -> tuple[list[EventRecord], set[str]]:
    """``ticket_events`` and ``sent_notices`` of one ticket, read with one query; with
    ``conversation``, the ticket's messages are put in it (as ``store.conversation`` gives them)."""
    events: list[EventRecord] = []
    sent: set[str] = set()
    prefix = notice_prefix(ticket_id)
    query = _CLOCK_FACTS if conversation is None else _CLOCK_FACTS_AND_CONVERSATION
    for part, _id, kind, at, actor, detail, sop_step, data in store.fetch(session, query, {"ticket": ticket_id}):
        if part == 2:
            conversation.append((kind, actor, detail))  # type: ignore[union-attr]
        elif part:
            sent.add(kind.removeprefix(prefix))
        else:
            events.append(ClockEvent(kind, at, actor, detail, sop_step, data))
    return events, sent


def status(session: Session, ticket: Ticket, app: App, now: datetime, setup: Setup | None = None,
           conversation: list[tuple[str, str, str]] | None = None) -> sla.SlaStatus:
    """The ticket's clocks and what is due at ``now`` (notifications already sent excluded);
    ``conversation``: see ``clock_facts``."""
    events, sent = clock_facts(session, ticket.id, conversation)
    return evaluate(ticket, app, setup or Setup.of(app), events, sent, now)


def evaluate(ticket: Ticket, app: App, setup: Setup, events: Sequence[EventRecord], sent: set[str],
              now: datetime) -> sla.SlaStatus:
    return sla.evaluate(events, state=ticket.state, resolution_hours=app.table.resolution_hours(ticket.priority),
                        policy=setup.policy, calendar=setup.calendar, now=now, sent=sent)


def store_status(ticket: Ticket, st: sla.SlaStatus, now: datetime) -> None:
    def due(name: str) -> datetime | None:
        clock = st.clock(name)
        return clock.due_at if clock is not None else None

    resolution = st.clock("resolution")
    ticket.due_at = due("resolution")
    ticket.paused_since = resolution.paused_since if resolution is not None and ticket.state != "closed" else None
    ticket.priority_due_at = due("priority")
    ticket.call_due_at = due("call")
    ticket.analysis_due_at = due("analysis")
    ticket.lkpp_due_at = due("lkpp_turnaround")
    decision = st.decision.due_at if st.decision is not None else None  # no column: shown from the events
    running = [at for at in (ticket.due_at, ticket.priority_due_at, ticket.call_due_at, ticket.analysis_due_at,
                             ticket.lkpp_due_at, decision) if at]
    ticket.next_due_at = min(running, default=None)  # the console's queue order (web.queries)
    wait = st.waiting
    ticket.remind_at = wait.remind_at if wait is not None and wait.reminded_at is None else None
    ticket.autoclose_at = wait.autoclose_at if wait is not None else None
    ticket.sla_next_at = st.next_at
    # Never before the ticket's last change, or the tick would take it for changed again.
    ticket.sla_checked_at = max(now, ticket.updated_at) if ticket.updated_at else now


def refresh_deadlines(session: Session, ticket: Ticket, app: App, now: datetime, *,
                      new_ticket_events: Sequence[EventRecord] | None = None,
                      conversation: list[tuple[str, str, str]] | None = None) -> None:
    """Recompute and store the ticket's deadline columns (in the caller's transaction).

    ``new_ticket_events``: the ticket was opened in this transaction and these are all of its
    events, oldest first. Its clocks are then computed from them without reading the database
    (no notice can have been sent for it yet). ``conversation``: see ``clock_facts``.
    """
    if new_ticket_events is None:
        store_status(ticket, status(session, ticket, app, now, conversation=conversation), now)
        return
    store_status(ticket, evaluate(ticket, app, Setup.of(app), new_ticket_events, set(), now), now)


# ---- the tick ----------------------------------------------------------------------------------


