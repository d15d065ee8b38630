"""After LKPP answers an escalated ticket without closing it, the LPSE helpdesk decides (SOP step 9/10).

PURE: no I/O, no clock (``now`` is passed in). LKPP's answer has gone to the user, the ticket stays
escalated and LKPP owes nothing more, so no clock would run and nobody would own the ticket. This
module gives that wait a deadline: ``hours`` working hours after LKPP's answer the assignee (or all
staff) get one reminder per answer to decide: ``#tutup`` closes the ticket with LKPP's answer
(step 9), or they ask LKPP further (and record it, e.g. ``#catatan``).

The wait ends with a further LKPP mail (a new answer starts a new wait; a data request makes the user
owe the data instead), anything staff record on the ticket (an answer, a note, a call), the user's
new mail (it goes to LKPP, whose answer is awaited again), a close, ``#tarik`` or a reopen.
``core.sla`` puts the deadline into the ticket's status; ``core.workflow`` decides the reminder here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mailbot.core.decisions import Decision, Recipient, Record, SendMail
from mailbot.core.domain import EventKind, EventRecord, TicketState
from mailbot.core.worktime import WorkCalendar, deadline

E = EventKind

#: The name of this wait in notice keys and records (``sla_notices.clock``).
CLOCK = "lkpp_decision"
LABEL = "Keputusan helpdesk setelah jawaban LKPP (langkah 9/10)"
#: What the queue, the ticket page and ``tickets show`` say while it runs.
STATUS_TEXT = "menunggu keputusan helpdesk: tutup atau tanya LKPP"

#: Events that end the wait (besides LKPP's own next mail, which may start a new one).
_ENDS = frozenset({E.CLOSED, E.WITHDRAWN, E.REOPENED, E.USER_REPLIED, E.USER_SOLVED, E.STAFF_ANSWERED,
                   E.NOTE, E.CALLED, E.LKPP_RELAYED, E.ESCALATED, E.MERGED,
                   E.LKPP_MESSAGED})  # staff asked LKPP further (``#lkpp``): LKPP's answer is awaited again


@dataclass(frozen=True)
class Pending:
    """LKPP answered at ``since``; the helpdesk is to decide by ``due_at``."""

    since: datetime
    due_at: datetime
    key: str  # the reminder's notice key: one per LKPP answer


def answer_awaiting_decision(events: Sequence[EventRecord]) -> EventRecord | None:
    """LKPP's latest plain answer (no data request) that nothing has acted on since, or None."""
    found: EventRecord | None = None
    for e in events:
        if e.kind == E.LKPP_REPLIED:
            found = None if (e.data or {}).get("asked") else e
        elif e.kind in _ENDS:
            found = None
    return found


def pending(events: Sequence[EventRecord], *, state: TicketState | str, hours: float, calendar: WorkCalendar,
            key: Any) -> Pending | None:
    """The decision the helpdesk owes on an escalated ticket, or None (``hours`` 0: the reminder is off).

    ``key(clock, started_at, mark)`` builds the notice key (``core.sla.notice_key``).
    """
    if TicketState(state) is not TicketState.ESCALATED or hours <= 0:
        return None
    answer = answer_awaiting_decision(events)
    if answer is None:
        return None
    due = deadline(calendar, answer.at, timedelta(hours=hours), working=True)
    return Pending(answer.at, due, key(CLOCK, answer.at, "reminder"))


def due_from_columns(state: str, next_due_at: datetime | None, lkpp_due_at: datetime | None) -> datetime | None:
    """The decision's deadline as the ticket's stored deadlines imply it (it has no column of its own).

    While escalated the other clocks are stopped (priority, call and analysis end with the escalation,
    resolution pauses), so the earliest running deadline of an escalated ticket that is not LKPP's is
    the helpdesk's decision (``service.deadlines.store_status`` puts it into ``next_due_at``).
    """
    if state != TicketState.ESCALATED.value or lkpp_due_at is not None:
        return None
    return next_due_at


@dataclass(frozen=True)
class DecisionDue:
    """The helpdesk has not decided ``hours`` working hours after LKPP's answer: remind the assignee."""

    key: str
    since: str  # LKPP's answer, local time, for the mail
    deadline: str  # local time
    warn_to: str = "assignee"  # config ``sla.warn_to``: the assignee (all staff when none) or all staff
    context: dict[str, object] = field(default_factory=dict)


def decide_due(state: TicketState, assignee: str | None, event: DecisionDue) -> Decision:
    """The reminder, only while the ticket is still escalated (it may have changed since the tick looked)."""
    if state is not TicketState.ESCALATED:
        return Decision(state, ())
    to: Recipient = "staff" if event.warn_to == "staff" or not assignee else "assignee"
    return Decision(state, (
        Record(E.SLA_WARNING, f"{LABEL}: no decision by {event.deadline} after LKPP's answer of {event.since}; "
               f"{to} reminded to close (#tutup) or ask LKPP further", 10,
               {"clock": CLOCK, "percent": 100, "key": event.key}),
        SendMail(to, "staff_lkpp_decision", {"sla": {"since": event.since, "deadline": event.deadline,
                                                     "label": LABEL, **event.context}}),
    ))
