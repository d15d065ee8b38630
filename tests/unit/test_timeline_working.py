"""The SOP timeline (``tickets show`` and the console's ticket page) times a step as the SLA report
does: "1 day" of analysis is a working day of the helpdesk's calendar. A ticket opened Friday
afternoon and closed Monday morning was analysed within the day; in calendar time it looked late.

Calendar: WIB, Monday-Friday 08:00-16:00 (a working day is 8 hours).
"""

from __future__ import annotations

from datetime import timedelta

from mailbot.core.sla import SlaPolicy, measure
from mailbot.core.timeline import build_timeline
from mailbot.core.worktime import WorkCalendar
from tests.support.sla_events import Ev, opened, wib

FRIDAY = wib(2026, 3, 6, 15, 0)  # Friday 6 March 2026 15:00 WIB: one working hour left that day
MONDAY = wib(2026, 3, 9, 10, 30)  # Monday 10:30: 2.5 more working hours
EVENTS = opened(FRIDAY) + [Ev("closed", MONDAY, 9, {"written_at": (MONDAY - timedelta(minutes=4)).isoformat()})]


def samples() -> list:
    return measure(EVENTS, priority="sedang", policy=SlaPolicy(), calendar=WorkCalendar(),
                   resolution_hours={"sedang": 24})


def test_analysis_over_a_weekend_is_timed_in_working_hours_and_is_within_its_day() -> None:
    analysis = next(r for r in build_timeline(EVENTS, samples()) if r.kind == "analysis")
    assert analysis.took == timedelta(hours=3, minutes=30) and analysis.standard == timedelta(hours=8)
    assert analysis.working and analysis.within is True


def test_without_the_sla_steps_the_same_analysis_is_calendar_time_and_late() -> None:
    analysis = next(r for r in build_timeline(EVENTS) if r.kind == "analysis")
    assert analysis.took == MONDAY - FRIDAY and analysis.standard == timedelta(days=1)
    assert not analysis.working and analysis.within is False


def test_the_close_step_keeps_its_minutes_and_steps_without_a_standard_stay_untimed() -> None:
    rows = build_timeline(EVENTS, samples())
    close = next(r for r in rows if r.kind == "closed")
    assert close.took == timedelta(minutes=4) and close.standard == timedelta(minutes=10) and close.within
    received = next(r for r in rows if r.kind == "received")
    assert received.took is None and received.within is None
