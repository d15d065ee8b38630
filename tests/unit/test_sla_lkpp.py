"""The clocks while LKPP holds a ticket: the LPSE resolution clock pauses, LKPP's turnaround runs.

Pure core (``mailbot.core.sla``) on scripted events. Calendar: WIB, Monday-Friday 08:00-16:00;
LKPP's standard is the default 2 working days (16 working hours), warned at 75 % (12 hours).
"""

from __future__ import annotations

from datetime import timedelta

from mailbot.core import sla
from mailbot.core.sla import SlaPolicy, evaluate, measure
from mailbot.core.worktime import WorkCalendar
from tests.support.sla_events import Ev, opened, wib

CAL = WorkCalendar()
POLICY = SlaPolicy()
H = timedelta(hours=1)
LKPP = "lkpp_turnaround"
MON = wib(2026, 3, 2, 9, 0)  # Monday 2 March 2026 09:00 WIB


def status(events: list[Ev], state: str, now: object, sent: set[str] | None = None) -> sla.SlaStatus:
    return evaluate(events, state=state, resolution_hours=24, policy=POLICY, calendar=CAL, now=now,  # type: ignore[arg-type]
                    sent=sent or set())


ESCALATED = opened(MON) + [Ev("escalated", wib(2026, 3, 2, 11, 0), 10)]  # after 2 h of analysis


def test_the_resolution_clock_pauses_while_lkpp_holds_the_ticket() -> None:
    st = status(ESCALATED, "escalated", wib(2026, 3, 4, 15, 0))
    resolution = st.clock("resolution")
    assert resolution is not None and resolution.due_at is None  # paused
    assert resolution.used == 2 * H and resolution.paused_since == wib(2026, 3, 2, 11, 0)


def test_lkpp_turnaround_runs_from_the_escalation_with_a_reminder_and_a_breach() -> None:
    st = status(ESCALATED, "escalated", wib(2026, 3, 2, 11, 0))
    clock = st.clock(LKPP)
    assert clock is not None and clock.step == 10 and clock.label == "Tanggapan Helpdesk LKPP (langkah 10)"
    # 16 working hours from Monday 11:00: Mon 5 + Tue 8 + Wed 3 -> Wednesday 11:00; 75 % (12 h) Tuesday 15:00.
    assert [m.at for m in clock.marks] == [wib(2026, 3, 3, 15, 0), wib(2026, 3, 4, 11, 0)]
    assert clock.due_at == wib(2026, 3, 4, 11, 0)
    due = status(ESCALATED, "escalated", wib(2026, 3, 3, 15, 0)).actions
    assert [(a.kind, a.clock) for a in due] == [("warning", LKPP)]
    late = status(ESCALATED, "escalated", wib(2026, 3, 4, 11, 0), sent={due[0].key}).actions
    assert [(a.kind, a.clock) for a in late] == [("breach", LKPP)]


def test_an_lkpp_answer_stops_its_clock_and_a_data_request_waits_for_the_user() -> None:
    answered = ESCALATED + [Ev("lkpp_replied", wib(2026, 3, 3, 9, 0), data={"asked": ["kode tender"]})]
    assert status(answered, "escalated", wib(2026, 3, 5, 9, 0)).clock(LKPP) is None  # the user owes it now
    # The user's answer goes to LKPP: a new turn, with its own notices (its start is in their keys).
    back = answered + [Ev("user_replied", wib(2026, 3, 3, 10, 0))]
    clock = status(back, "escalated", wib(2026, 3, 3, 10, 0)).clock(LKPP)
    assert clock is not None and clock.started_at == wib(2026, 3, 3, 10, 0)
    assert clock.due_at == wib(2026, 3, 5, 10, 0)
    first = status(ESCALATED, "escalated", wib(2026, 3, 2, 11, 0)).clock(LKPP)
    assert first is not None and {m.key for m in first.marks}.isdisjoint({m.key for m in clock.marks})


def test_a_plain_lkpp_answer_leaves_nothing_owed_and_a_user_mail_after_it_starts_nothing() -> None:
    events = ESCALATED + [Ev("lkpp_replied", wib(2026, 3, 3, 9, 0)), Ev("user_replied", wib(2026, 3, 3, 10, 0))]
    assert status(events, "escalated", wib(2026, 3, 9, 9, 0)).actions == ()


def test_withdrawn_ends_lkpps_clock_and_resumes_the_resolution_clock() -> None:
    events = ESCALATED + [Ev("withdrawn", wib(2026, 3, 3, 9, 0), 10),
                          Ev("analysis_started", wib(2026, 3, 3, 9, 0), 7)]
    st = status(events, "analysis", wib(2026, 3, 3, 12, 0))
    resolution = st.clock("resolution")
    assert st.clock(LKPP) is None
    assert resolution is not None and resolution.used == 5 * H  # 2 h before, 3 h after; LKPP's day not counted
    assert st.clock("analysis") is not None


def test_a_reopen_back_to_lkpp_restarts_lkpps_clock_and_keeps_the_resolution_paused() -> None:
    events = ESCALATED + [Ev("lkpp_replied", wib(2026, 3, 3, 9, 0)),
                          Ev("closed", wib(2026, 3, 3, 9, 0), 9, {"by_lkpp": True}),
                          Ev("reopened", wib(2026, 3, 4, 9, 0), data={"to_lkpp": True})]
    st = status(events, "escalated", wib(2026, 3, 4, 12, 0))
    clock, resolution = st.clock(LKPP), st.clock("resolution")
    assert clock is not None and clock.started_at == wib(2026, 3, 4, 9, 0)
    assert resolution is not None and resolution.due_at is None and resolution.used == 2 * H


def test_no_lkpp_clock_on_a_ticket_that_is_not_escalated() -> None:
    assert status(ESCALATED, "analysis", wib(2026, 3, 5, 9, 0)).clock(LKPP) is None


def test_measure_reports_each_answered_lkpp_turn() -> None:
    events = ESCALATED + [Ev("lkpp_replied", wib(2026, 3, 3, 9, 0), data={"asked": ["x"]}),
                          Ev("user_replied", wib(2026, 3, 3, 10, 0)),
                          Ev("lkpp_replied", wib(2026, 3, 5, 15, 0)),
                          Ev("closed", wib(2026, 3, 5, 15, 0), 9, {"by_lkpp": True})]
    turns = [s for s in measure(events, priority="sedang", policy=POLICY, calendar=CAL,
                                resolution_hours={"sedang": 24}) if s.measure == LKPP]
    # Mon 11:00 -> Tue 09:00 = 5 + 1 = 6 h (within); Tue 10:00 -> Thu 15:00 = 6 + 8 + 7 = 21 h (late).
    assert [(s.took, s.within) for s in turns] == [(6 * H, True), (21 * H, False)]
    [resolution] = [s for s in measure(events, priority="sedang", policy=POLICY, calendar=CAL,
                                       resolution_hours={"sedang": 24}) if s.measure == "resolution"]
    assert resolution.took == 2 * H  # only the LPSE's own time before the escalation


def test_data_lkpp_asked_for_is_reminded_then_closed_like_an_lpse_request() -> None:
    # LKPP asks on Tuesday 09:00: reminder after 2 working days (Thursday 09:00), auto-close 3 working
    # days after the reminder (Tuesday 10 March 09:00); the ticket stays escalated meanwhile.
    asked = ESCALATED + [Ev("lkpp_replied", wib(2026, 3, 3, 9, 0), data={"asked": ["nomor BAST"]})]
    wait = sla.waiting(asked, state="escalated", policy=POLICY, calendar=CAL)
    assert wait is not None and wait.by_lkpp and wait.since == wib(2026, 3, 3, 9, 0)
    assert wait.remind_at == wib(2026, 3, 5, 9, 0)
    due = status(asked, "escalated", wib(2026, 3, 5, 9, 0)).actions
    assert [(a.kind, a.clock) for a in due] == [("reminder", "waiting")]
    reminded = asked + [Ev("reminder_sent", wib(2026, 3, 5, 9, 0), 10, {"key": due[0].key})]
    later = status(reminded, "escalated", wib(2026, 3, 10, 9, 0), sent={due[0].key}).actions
    assert [(a.kind, a.due_since) for a in later] == [("autoclose", wib(2026, 3, 10, 9, 0))]
    # The user's answer ends the wait: LKPP owes the next answer, nobody is reminded or closed.
    answered = asked + [Ev("user_replied", wib(2026, 3, 4, 10, 0))]
    assert sla.waiting(answered, state="escalated", policy=POLICY, calendar=CAL) is None
    assert status(answered, "escalated", wib(2026, 3, 12, 9, 0)).actions[0].clock == LKPP


def test_an_lkpp_answer_without_a_request_makes_nobody_wait_for_the_user() -> None:
    answered = ESCALATED + [Ev("lkpp_replied", wib(2026, 3, 3, 9, 0))]
    assert sla.waiting(answered, state="escalated", policy=POLICY, calendar=CAL) is None
