"""SLA clocks: from a ticket's events, the deadlines of the SOP steps and of its resolution.

PURE: no I/O, no clock (``now`` is passed in). ``service.deadlines`` stores the results on the
ticket and sends what :func:`evaluate` says is due; ``report`` aggregates :func:`measure`.

The clocks a ticket can have running (each one a :class:`Clock`):

    priority    SOP step 2: a mail no category rule recognised must be classified by staff
                (``#prioritas``) within the standard; ended by a priority override, a close or
                an escalation
    call        SOP step 4: a data request is confirmed by telephone (``#telepon``); ended by the
                call, by the user's data arriving first (or the user saying the problem is solved,
                ``user_solved``: the data is owed no more), a close or an escalation
    analysis    SOP step 7: from ``analysis_started`` to the decision (close, escalation, or a new
                request for data)
    resolution  the priority table's resolution hours, from the first mail to the close; the
                clock PAUSES while the ticket waits for the user's data (state waiting_user),
                while LKPP holds it (escalated) and while it is closed, and resumes on the user's
                reply / ``#tarik`` / the reopen. The target is the current priority's, so raising
                the priority brings the deadline closer.
    lkpp_turnaround  while LKPP holds the ticket and owes an answer: from the escalation (or the
                user's answer to LKPP's data request, or a reopen back to LKPP) to LKPP's next
                answer; ended too by a close or ``#tarik``. Its warning reminds LKPP, its breach
                tells the coordinator.

Each clock fires notifications at thresholds (fractions of its standard: ``warn_at``, e.g.
75 %, and 100 % = breach). A notification has a key that names the ticket's clock *run*
(the instant it started) and the threshold, so it is sent once; when a tick finds several
thresholds passed at once (the bot was down) only the highest is sent and the others are
recorded as covered, so people get one mail, not a burst.

While a ticket waits for the user's data, a reminder goes to the user after
``reminder_days`` working days and, ``autoclose_days`` working days after the reminder was
sent, the ticket is closed for lack of data (the user reopens it by simply replying). A user who
says the problem is solved (``user_solved``) owes the data no more: both stop.

After LKPP's answer (no close, no data request) the LPSE helpdesk owes a decision: ``decision``
(``core.lkpp_decision``), one reminder ``decision_hours`` working hours later.

The SOP's short standards (5 and 10 minutes) default to working time: a mail that arrives
at 22:00 is due at 08:05 the next working day instead of breaching while nobody is at work.
Set ``working = false`` on a standard to count calendar time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

from mailbot.core import lkpp_decision
from mailbot.core.domain import EventRecord, TicketState
from mailbot.core.workflow import SOP_STANDARDS
from mailbot.core.worktime import WorkCalendar, deadline, elapsed

#: The measured SOP standards and their step numbers. "call" is step 4's telephone confirmation.
STEPS: Mapping[str, int] = {"priority": 2, "data_request": 4, "call": 4, "analysis": 7, "close": 9,
                            "escalation": 10, "lkpp_turnaround": 10}
#: The resolution target belongs to step 8 ("how long solving may take follows the priority table").
RESOLUTION_STEP = 8
#: Clocks that run on an open ticket and can warn (the other standards are measured after the fact).
LIVE_CLOCKS: tuple[str, ...] = ("priority", "call", "analysis", "resolution", "lkpp_turnaround")

#: Indonesian names, for mails, the digest and the report.
LABELS: Mapping[str, str] = {
    "priority": "Penetapan prioritas (langkah 2)",
    "data_request": "Permintaan data (langkah 4)",
    "call": "Konfirmasi telepon (langkah 4)",
    "analysis": "Analisis (langkah 7)",
    "close": "Penutupan setelah selesai (langkah 9)",
    "escalation": "Eskalasi ke LKPP (langkah 10)",
    "lkpp_turnaround": "Tanggapan Helpdesk LKPP (langkah 10)",
    "resolution": "Target penyelesaian (prioritas)",
}

_USER_MAIL = {"received", "user_replied", "reopened"}




# ---- policy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standard:
    """One time standard: how long, counted in working or calendar time, and whether it warns."""

    duration: timedelta
    working: bool = True
    notify: bool = True

    def __post_init__(self) -> None:
        if self.duration <= timedelta(0):
            raise ValueError("a standard must be longer than zero")


def sop_standards(day_length: timedelta = timedelta(hours=8)) -> dict[str, Standard]:
    """The SOP's standards: 5 min, 5 min (+ the call), 1 working day, 10 min, 5 min; LKPP 2 working days."""
    return {
        "priority": Standard(SOP_STANDARDS[2]),
        "data_request": Standard(SOP_STANDARDS[4]),
        "call": Standard(SOP_STANDARDS[4]),
        "analysis": Standard(day_length),  # "1 hari": one working day of the helpdesk's calendar
        "close": Standard(SOP_STANDARDS[9]),
        "escalation": Standard(SOP_STANDARDS[10]),
        "lkpp_turnaround": Standard(2 * day_length),
    }


@dataclass(frozen=True)
class SlaPolicy:
    standards: Mapping[str, Standard] = field(default_factory=sop_standards)
    warn_at: tuple[float, ...] = (0.75,)  # fractions of a standard used that warn; 1.0 is the breach
    resolution_working: bool = True  # the priority table's resolution hours are working hours
    resolution_notify: bool = True
    reminder_days: int = 2  # working days without the requested data before the user is reminded (0: never)
    autoclose_days: int = 3  # working days after the reminder before the ticket closes (0: never)
    decision_hours: float = 8  # working hours after LKPP's answer before staff are reminded to decide (0: never)

    def __post_init__(self) -> None:
        if any(not 0 < f < 1 for f in self.warn_at):
            raise ValueError("warning thresholds must lie strictly between 0 and 1 (100 % is the breach)")
        missing = set(STEPS) - set(self.standards)
        if missing:
            raise ValueError(f"standards missing: {', '.join(sorted(missing))}")

    @property
    def marks(self) -> tuple[float, ...]:
        """All thresholds in ascending order, the breach (1.0) last."""
        return (*sorted(set(self.warn_at)), 1.0)

    def standard(self, clock: str, resolution_hours: float | None = None) -> Standard | None:
        if clock == "resolution":
            if not resolution_hours:
                return None
            return Standard(timedelta(hours=resolution_hours), self.resolution_working, self.resolution_notify)
        return self.standards[clock]


# ---- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    fraction: float  # 0.75 = 75 % of the standard used; 1.0 = the deadline
    at: datetime | None  # when it is (was) reached; None while the clock is paused short of it
    key: str  # the notification key: clock run + threshold

    @property
    def percent(self) -> int:
        return round(self.fraction * 100)


@dataclass(frozen=True)
class Clock:
    name: str  # priority | call | analysis | resolution
    step: int
    started_at: datetime  # when this run of the clock started: part of every notification key
    standard: Standard
    used: timedelta  # of the standard, at ``now``
    due_at: datetime | None  # None while paused
    paused_since: datetime | None
    marks: tuple[Mark, ...]

    @property
    def fraction(self) -> float:
        return self.used / self.standard.duration

    @property
    def breached(self) -> bool:
        return self.used >= self.standard.duration

    @property
    def remaining(self) -> timedelta:
        return self.standard.duration - self.used

    @property
    def label(self) -> str:
        return LABELS[self.name]


@dataclass(frozen=True)
class Waiting:
    """A ticket waiting for the user's data: when it was asked, reminded and (to be) closed."""

    since: datetime  # the latest data request
    remind_at: datetime | None
    reminded_at: datetime | None
    autoclose_at: datetime | None  # projected from remind_at until the reminder is sent
    reminder_key: str
    autoclose_key: str
    by_lkpp: bool = False  # LKPP asked (the ticket stays escalated while the user owes the data)


ActionKind = Literal["warning", "breach", "reminder", "autoclose", "decision"]


@dataclass(frozen=True)
class Action:
    """Something due at ``now`` that has not been done: send it, then record ``key`` (and ``covers``)."""

    kind: ActionKind
    key: str
    clock: str  # a clock name, or "waiting" for reminders and auto-close
    due_since: datetime  # when it became due
    deadline: datetime | None = None  # the clock's deadline (warnings, breaches)
    percent: int = 0
    covers: tuple[str, ...] = ()  # lower thresholds passed at the same time: recorded, never sent


@dataclass(frozen=True)
class SlaStatus:
    clocks: tuple[Clock, ...]
    waiting: Waiting | None
    actions: tuple[Action, ...]  # due at ``now`` and not yet sent
    next_at: datetime | None  # the earliest instant something (else) becomes due; None: nothing pending
    decision: lkpp_decision.Pending | None = None  # LKPP answered: the helpdesk is to close or ask further

    def clock(self, name: str) -> Clock | None:
        return next((c for c in self.clocks if c.name == name), None)

    @property
    def step_due(self) -> Clock | None:
        """The running SOP-step clock with the nearest deadline."""
        running = [c for c in self.clocks if c.name != "resolution" and c.due_at is not None]
        return min(running, key=lambda c: c.due_at or datetime.max.replace(tzinfo=timezone.utc), default=None)


# ---- keys ---------------------------------------------------------------------------------


def _stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def notice_key(clock: str, started_at: datetime, mark: str) -> str:
    """One notification: which clock, which run of it (its start), which threshold or action."""
    return f"{clock}@{_stamp(started_at)}:{mark}"


# ---- the clocks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    start: datetime
    end: datetime | None  # None: still running


def _marks(runs: Sequence[_Run], standard: Standard, policy: SlaPolicy, calendar: WorkCalendar, clock: str,
           started_at: datetime) -> tuple[Mark, ...]:
    """When each threshold is reached, walking the clock's running intervals (pauses skipped)."""
    out = []
    run_key = notice_key(clock, started_at, "")  # the marks' keys differ only in their threshold
    for fraction in policy.marks:
        target = standard.duration * fraction
        used = timedelta(0)
        at: datetime | None = None
        for run in runs:
            span = None if run.end is None else elapsed(calendar, run.start, run.end, working=standard.working)
            if span is None or used + span >= target:
                at = deadline(calendar, run.start, target - used, working=standard.working)
                break
            used += span
        out.append(Mark(fraction, at, run_key + str(round(fraction * 100))))
    return tuple(out)


def _clock(name: str, runs: Sequence[_Run], standard: Standard, policy: SlaPolicy, calendar: WorkCalendar,
           now: datetime) -> Clock:
    started_at = runs[0].start
    used = sum((elapsed(calendar, r.start, r.end or now, working=standard.working) for r in runs), timedelta(0))
    marks = _marks(runs, standard, policy, calendar, name, started_at)
    running = runs[-1].end is None
    return Clock(
        name=name, step=RESOLUTION_STEP if name == "resolution" else STEPS[name], started_at=started_at,
        standard=standard, used=used, due_at=marks[-1].at if running else None,
        paused_since=None if running else runs[-1].end, marks=marks,
    )


class _ResolutionRuns:
    """The resolution clock, fed one event at a time: it runs while the ticket is open and not
    waiting for the user's data. Used by ``evaluate`` (the live clock) and by the report's samples,
    so that both read the events the same way."""

    def __init__(self) -> None:
        self.runs: list[_Run] = []
        self.running_since: datetime | None = None
        self._waiting = self._closed = self._lkpp = False

    def feed(self, e: EventRecord) -> None:
        if e.kind == "received" and not self.runs and self.running_since is None:
            self.running_since = e.at
            return
        if self.running_since is None and not self.runs:
            return  # nothing before the ticket was received counts
        if e.kind == "data_requested":
            self._waiting = True
        elif e.kind in {"data_received", "user_solved"}:  # the data arrived, or is owed no more
            self._waiting = False
        elif e.kind == "closed":
            self._closed, self._waiting, self._lkpp = True, False, False
        elif e.kind == "reopened":
            self._closed = False
            self._lkpp = bool((e.data or {}).get("to_lkpp"))
        elif e.kind == "escalated":
            self._lkpp = True
        elif e.kind == "withdrawn":
            self._lkpp = False
        running = not (self._waiting or self._closed or self._lkpp)
        if self.running_since is not None and not running:
            self.runs.append(_Run(self.running_since, e.at))
            self.running_since = None
        elif self.running_since is None and running:
            self.running_since = e.at


def _resolution_runs(events: Sequence[EventRecord], paused_now: bool) -> list[_Run]:
    """Intervals in which the resolution clock ran: open, not waiting for data, not with LKPP, not closed."""
    clock = _ResolutionRuns()
    for e in events:
        clock.feed(e)
    runs = clock.runs
    if clock.running_since is not None:
        if paused_now:  # the stored state says paused although the events do not: trust the state
            runs.append(_Run(clock.running_since, events[-1].at))
        else:
            runs.append(_Run(clock.running_since, None))
    return [r for r in runs if r.end is None or r.end > r.start] or runs[-1:]


def _last_open(events: Sequence[EventRecord], opens: str, ends: Set[str]) -> EventRecord | None:
    """The latest ``opens`` event not followed by one of ``ends``."""
    found: EventRecord | None = None
    for e in events:
        if e.kind == opens:
            found = e
        elif e.kind in ends:
            found = None
    return found


class _LkppTurns:
    """The LKPP turnaround clock, fed one event at a time: when LKPP came to owe an answer
    (``owes_since``, None when it does not) and the turns already answered (for the report)."""

    def __init__(self) -> None:
        self.owes_since: datetime | None = None
        self.answered: list[_Run] = []
        self.asked_at: datetime | None = None  # LKPP asked the user for data then; the user owes it
        self._with_lkpp = False

    def feed(self, e: EventRecord) -> None:
        data = e.data or {}
        if e.kind == "escalated" or (e.kind == "reopened" and data.get("to_lkpp")):
            self._with_lkpp, self.asked_at, self.owes_since = True, None, e.at
        elif not self._with_lkpp:
            return
        elif e.kind == "lkpp_replied":
            if self.owes_since is not None:
                self.answered.append(_Run(self.owes_since, e.at))
            self.owes_since, self.asked_at = None, (e.at if data.get("asked") else None)
        elif e.kind == "user_replied" and self.asked_at is not None and self.owes_since is None:
            self.owes_since, self.asked_at = e.at, None  # LKPP has the data it asked for
        elif e.kind == "lkpp_messaged" and self.owes_since is None:
            # Staff asked LKPP further or sent it the data (``#lkpp``): LKPP owes an answer again. While it
            # still owes one, the turn keeps its start: a question from staff does not buy LKPP time.
            self.owes_since, self.asked_at = e.at, None
        elif e.kind in {"closed", "withdrawn"}:
            self._with_lkpp, self.asked_at, self.owes_since = False, None, None


def _received(events: Sequence[EventRecord]) -> EventRecord | None:
    return next((e for e in events if e.kind == "received"), None)


def clocks(events: Sequence[EventRecord], *, state: TicketState | str, resolution_hours: float | None,
           policy: SlaPolicy, calendar: WorkCalendar, now: datetime) -> tuple[Clock, ...]:
    """The clocks of a ticket at ``now``: running ones and, for resolution, a paused one."""
    state = TicketState(state)
    out: list[Clock] = []
    received = _received(events)
    if received is None:
        return ()
    if state.is_open:
        first_set = next((e for e in events if e.kind == "priority_set"), None)
        unmatched = first_set is not None and (first_set.data or {}).get("matched") is False
        if unmatched and _last_open(events, "received", {"priority_override", "closed", "escalated"}):
            out.append(_clock("priority", [_Run(received.at, None)], policy.standards["priority"], policy,
                              calendar, now))
        call = _last_open(events, "call_task", {"called", "data_received", "user_solved", "closed", "escalated"})
        if call is not None:
            out.append(_clock("call", [_Run(call.at, None)], policy.standards["call"], policy, calendar, now))
        if state is TicketState.ANALYSIS:
            start = _last_open(events, "analysis_started", {"closed", "escalated", "data_requested"})
            if start is not None:
                out.append(_clock("analysis", [_Run(start.at, None)], policy.standards["analysis"], policy,
                                  calendar, now))
        if state is TicketState.ESCALATED:
            turns = _LkppTurns()
            for e in events:
                turns.feed(e)
            if turns.owes_since is not None:
                out.append(_clock("lkpp_turnaround", [_Run(turns.owes_since, None)],
                                  policy.standards["lkpp_turnaround"], policy, calendar, now))
    standard = policy.standard("resolution", resolution_hours)
    if standard is not None:
        paused_now = state in (TicketState.WAITING_USER, TicketState.CLOSED, TicketState.ESCALATED)
        runs = _resolution_runs(events, paused_now)
        if runs:
            out.append(_clock("resolution", runs, standard, policy, calendar, now))
    return tuple(out)


def waiting(events: Sequence[EventRecord], *, state: TicketState | str, policy: SlaPolicy,
            calendar: WorkCalendar) -> Waiting | None:
    """Reminder and auto-close times of a ticket waiting for the user's data; None otherwise.

    The data may be owed to LPSE (state waiting_user, after a data request) or to LKPP (state
    escalated, after LKPP asked through its answer): the same reminder and auto-close apply, so a
    ticket LKPP holds does not wait forever for a user who went silent.
    """
    state = TicketState(state)
    if state is TicketState.ESCALATED:
        turns = _LkppTurns()
        for e in events:
            turns.feed(e)
        if turns.asked_at is None:
            return None
        since, by_lkpp = turns.asked_at, True
    elif state is TicketState.WAITING_USER:
        # the user who says the problem is solved (``core.solved``) owes the data no more
        request = _last_open(events, "data_requested", {"data_received", "user_solved", "closed", "reopened"})
        if request is None:
            return None
        since, by_lkpp = request.at, False
    else:
        return None
    reminded_at = next((e.at for e in events if e.kind == "reminder_sent" and e.at >= since), None)
    remind_at = calendar.add_days(since, policy.reminder_days) if policy.reminder_days else None
    autoclose_at: datetime | None = None
    if policy.autoclose_days:
        base = (reminded_at or remind_at) if policy.reminder_days else since
        autoclose_at = calendar.add_days(base, policy.autoclose_days) if base else None
    return Waiting(since, remind_at, reminded_at, autoclose_at, notice_key("waiting", since, "reminder"),
                   notice_key("waiting", since, "autoclose"), by_lkpp)


def evaluate(events: Iterable[EventRecord], *, state: TicketState | str, resolution_hours: float | None,
             policy: SlaPolicy, calendar: WorkCalendar, now: datetime, sent: Set[str] = frozenset()) -> SlaStatus:
    """Clocks, the reminder/auto-close plan, what is due at ``now`` and when to look again.

    ``sent`` holds the keys of notifications already sent (or covered) for this ticket.
    """
    events = list(events)
    ticket_clocks = clocks(events, state=state, resolution_hours=resolution_hours, policy=policy,
                           calendar=calendar, now=now)
    wait = waiting(events, state=state, policy=policy, calendar=calendar)
    actions: list[Action] = []
    upcoming: list[datetime] = []
    for clock in ticket_clocks:
        if not clock.standard.notify:
            continue
        pending = [m for m in clock.marks if m.at is not None and m.key not in sent]
        due = [m for m in pending if m.at is not None and m.at <= now]
        if due and clock.due_at is not None:  # a paused clock warns nobody: nothing can be done now
            top = due[-1]
            actions.append(Action("breach" if top.fraction >= 1 else "warning", top.key, clock.name,
                                  top.at or now, clock.marks[-1].at, top.percent, tuple(m.key for m in due[:-1])))
        if clock.due_at is not None:
            upcoming += [m.at for m in pending if m.at is not None and m.at > now]
    if wait is not None:
        closing = wait.autoclose_at is not None and (wait.reminded_at is not None or not policy.reminder_days)
        if closing and wait.autoclose_at is not None and wait.autoclose_key not in sent:
            if wait.autoclose_at <= now:
                actions.append(Action("autoclose", wait.autoclose_key, "waiting", wait.autoclose_at))
            else:
                upcoming.append(wait.autoclose_at)
        if wait.remind_at is not None and wait.reminded_at is None and wait.reminder_key not in sent:
            if wait.remind_at <= now:
                actions.append(Action("reminder", wait.reminder_key, "waiting", wait.remind_at))
            else:
                upcoming.append(wait.remind_at)
    decision = lkpp_decision.pending(events, state=state, hours=policy.decision_hours, calendar=calendar,
                                     key=notice_key)
    if decision is not None and decision.key not in sent:
        if decision.due_at <= now:
            actions.append(Action("decision", decision.key, lkpp_decision.CLOCK, decision.due_at, decision.due_at))
        else:
            upcoming.append(decision.due_at)
    if any(a.kind == "autoclose" for a in actions):
        actions = [a for a in actions if a.kind == "autoclose"]  # closing: warnings would be noise
    next_at = min([a.due_since for a in actions] + upcoming, default=None)
    return SlaStatus(ticket_clocks, wait, tuple(actions), next_at, decision)


# ---- measuring finished steps (the report) --------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One measured step of one ticket: how long it took against its standard."""

    measure: str  # a key of STEPS, or "resolution"
    step: int
    priority: str  # the ticket's priority when the step ended
    start: datetime
    end: datetime
    took: timedelta
    standard: Standard | None

    @property
    def within(self) -> bool | None:
        return None if self.standard is None else self.took <= self.standard.duration


def _written_at(e: EventRecord) -> datetime | None:
    value = (e.data or {}).get("written_at")
    if not isinstance(value, str):
        return None
    try:
        written = datetime.fromisoformat(value)
    except ValueError:
        return None
    return written if written.tzinfo is not None else written.replace(tzinfo=timezone.utc)


def is_auto_close(e: EventRecord) -> bool:
    return e.kind == "closed" and bool((e.data or {}).get("auto"))


def measure(events: Iterable[EventRecord], *, priority: str, policy: SlaPolicy, calendar: WorkCalendar,
            resolution_hours: Mapping[str, float]) -> list[Sample]:
    """Every finished step of a ticket's history (``priority``: the ticket's current priority).

    - priority: received -> priority set by the rules (matched) or by staff (unmatched: the
      first override, close or escalation);
    - data_request: the user's latest mail -> the request (as ``tickets show`` measures it);
    - call: call task -> ``#telepon`` (tasks made moot by the data arriving are not measured);
    - analysis: analysis_started -> close, escalation or a new data request;
    - close / escalation: when staff wrote the command (the mail's Date) -> when it was done;
      automatic closes are not measured;
    - lkpp_turnaround: each turn LKPP owed an answer (see ``_LkppTurns``) -> LKPP's answer;
    - resolution: received -> each close made by a person, without the time spent waiting for
      the user's data, with LKPP or closed, against the priority's resolution hours.
    """
    events = list(events)
    overrides = [e for e in events if e.kind == "priority_override"]
    level = str((overrides[0].data or {}).get("from", priority)) if overrides else priority
    samples: list[Sample] = []

    def add(name: str, start: datetime, end: datetime) -> None:
        standard = policy.standards[name]
        samples.append(Sample(name, STEPS[name], level, start, end,
                              elapsed(calendar, start, end, working=standard.working), standard))

    received = _received(events)
    unmatched = any(e.kind == "priority_set" and (e.data or {}).get("matched") is False for e in events)
    priority_open = received is not None
    last_user: datetime | None = None
    calls: list[datetime] = []
    analysis_from: datetime | None = None
    clock = _ResolutionRuns()
    turns = _LkppTurns()
    for e in events:
        answered = len(turns.answered)
        turns.feed(e)
        if len(turns.answered) > answered:
            add("lkpp_turnaround", turns.answered[-1].start, e.at)
        if e.kind == "priority_override":
            level = str((e.data or {}).get("to", level))
        if e.kind in _USER_MAIL:
            last_user = e.at
        if priority_open and received is not None:
            if (not unmatched and e.kind == "priority_set") or (
                    unmatched and e.kind in {"priority_override", "closed", "escalated"}):
                add("priority", received.at, e.at)
                priority_open = False
        if e.kind == "data_requested" and last_user is not None:
            add("data_request", last_user, e.at)
        if e.kind == "call_task":
            calls.append(e.at)
        elif e.kind == "called":
            for start in calls:
                add("call", start, e.at)
            calls = []
        elif e.kind in {"data_received", "user_solved", "closed", "escalated"}:
            calls = []
        if e.kind in {"closed", "escalated", "data_requested"} and analysis_from is not None:
            add("analysis", analysis_from, e.at)
            analysis_from = None
        if e.kind == "analysis_started":
            analysis_from = e.at
        if e.kind in {"closed", "escalated"} and not is_auto_close(e):
            written = _written_at(e)
            if written is not None:
                add("close" if e.kind == "closed" else "escalation", min(written, e.at), e.at)
        # the resolution clock, as in evaluate(): paused while waiting for data or closed
        clock.feed(e)
        runs = clock.runs
        if e.kind == "closed" and not is_auto_close(e) and received is not None:
            standard = policy.standard("resolution", resolution_hours.get(level))
            working = policy.resolution_working
            took = sum((elapsed(calendar, r.start, r.end or e.at, working=working) for r in runs), timedelta(0))
            samples.append(Sample("resolution", RESOLUTION_STEP, level, received.at, e.at, took, standard))
    return samples


def percentile(values: Sequence[timedelta], p: float) -> timedelta | None:
    """Nearest-rank percentile: the smallest value with at least ``p`` % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100), at least 1
    return ordered[int(rank) - 1]


def median(values: Sequence[timedelta]) -> timedelta | None:
    """The middle value; the mean of the two middle values for an even count."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def describe(duration: timedelta, *, working: bool) -> str:
    """A duration in plain Indonesian: "5 menit", "1 jam 30 menit kerja", "2 hari 3 jam".

    Working time is told in hours (a working day is not 24 hours); calendar time in days.
    """
    minutes = max(0, round(duration.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60) if not working else (0, minutes)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} hari"] * bool(days) + [f"{hours} jam"] * bool(hours) + [f"{mins} menit"] * bool(mins)
    text = " ".join(parts) or "kurang dari 1 menit"
    return text + (" kerja" if working else "")
