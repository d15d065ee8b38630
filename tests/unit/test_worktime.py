"""The working calendar: weekends, Indonesian holidays (from `holidays`), after-hours, the three zones."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.worktime import WorkCalendar, deadline, elapsed, indonesian_holidays, parse_weekdays
from tests.support.sla_events import wib

WIB, WITA, WIT = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar"), ZoneInfo("Asia/Jayapura")
CAL = WorkCalendar()  # WIB, Monday-Friday 08:00-16:00, public holidays and cuti bersama
H = timedelta(hours=1)
M = timedelta(minutes=1)


# ---- the holidays come from the `holidays` package -------------------------------------------


def test_the_2026_holidays_used_below_are_the_packages() -> None:
    public = indonesian_holidays(2026, ("public",))
    assert date(2026, 8, 17) in public  # Hari Kemerdekaan, a Monday
    assert date(2026, 3, 19) in public  # Hari Suci Nyepi, a Thursday
    assert date(2026, 5, 14) in public  # Kenaikan Yesus Kristus, a Thursday
    both = indonesian_holidays(2026, ("public", "government"))
    assert date(2026, 12, 24) in both and date(2026, 12, 24) not in public  # cuti bersama Natal
    assert date(2026, 5, 15) in both  # cuti bersama after Ascension Day
    assert CAL.holiday_name(date(2026, 8, 17)) and CAL.holiday_name(date(2026, 8, 18)) is None


# ---- adding working time -----------------------------------------------------------------------


@pytest.mark.parametrize(("start", "duration", "expected", "why"), [
    (wib(2026, 3, 2, 9, 0), 2 * H, wib(2026, 3, 2, 11, 0), "inside one day"),
    (wib(2026, 3, 6, 15, 0), 2 * H, wib(2026, 3, 9, 9, 0), "Friday afternoon -> Monday, across the weekend"),
    (wib(2026, 3, 7, 11, 0), 5 * M, wib(2026, 3, 9, 8, 5), "arrives on Saturday"),
    (wib(2026, 3, 2, 20, 0), 5 * M, wib(2026, 3, 3, 8, 5), "arrives after hours"),
    (wib(2026, 3, 2, 6, 30), 5 * M, wib(2026, 3, 2, 8, 5), "arrives before opening"),
    (wib(2026, 3, 2, 8, 0), 8 * H, wib(2026, 3, 2, 16, 0), "a full day ends at the close, not next morning"),
    (wib(2026, 3, 2, 16, 0), 1 * M, wib(2026, 3, 3, 8, 1), "16:00 is already closed"),
    (wib(2026, 8, 14, 15, 0), 2 * H, wib(2026, 8, 18, 9, 0), "Friday, weekend, then Independence Day (Mon)"),
    (wib(2026, 5, 13, 14, 0), 8 * H, wib(2026, 5, 18, 14, 0), "Ascension Day Thu + cuti bersama Fri"),
    (wib(2026, 12, 23, 15, 0), 2 * H, wib(2026, 12, 28, 9, 0), "cuti bersama 24 Dec + Christmas 25 Dec"),
    (wib(2026, 3, 2, 9, 0), 24 * H, wib(2026, 3, 5, 9, 0), "24 working hours = three working days"),
    (wib(2026, 3, 2, 9, 0), timedelta(0), wib(2026, 3, 2, 9, 0), "zero"),
])
def test_add_working_time(start: datetime, duration: timedelta, expected: datetime, why: str) -> None:
    assert CAL.add(start, duration) == expected, why


def test_nyepi_and_idul_fitri_2026_block_a_whole_week() -> None:
    # 18 Mar cuti bersama, 19 Nyepi, 20 cuti bersama, 21-22 weekend (Idul Fitri), 23-24 cuti bersama
    assert [d for d in range(16, 26) if CAL.is_working_day(date(2026, 3, d))] == [16, 17, 25]
    assert CAL.add(wib(2026, 3, 17, 15, 0), 2 * H) == wib(2026, 3, 25, 9, 0)


def test_cuti_bersama_can_be_left_out_and_local_dates_added() -> None:
    public_only = WorkCalendar(categories=("public",))
    assert public_only.is_working_day(date(2026, 12, 24))
    assert public_only.add(wib(2026, 12, 23, 15, 0), 2 * H) == wib(2026, 12, 24, 9, 0)
    local = WorkCalendar(extra_holidays=frozenset({date(2026, 3, 3)}))  # e.g. the city's anniversary
    assert local.add(wib(2026, 3, 2, 15, 0), 2 * H) == wib(2026, 3, 4, 9, 0)
    worked = WorkCalendar(extra_working_dates=frozenset({date(2026, 8, 17)}))
    assert worked.add(wib(2026, 8, 14, 15, 0), 2 * H) == wib(2026, 8, 17, 9, 0)


def test_other_working_hours_and_days() -> None:
    six_days = WorkCalendar(workdays=parse_weekdays(["senin", "selasa", "rabu", "kamis", "jumat", "sabtu"]),
                            start=time(7, 30), end=time(15, 30))
    assert six_days.day_length == 8 * H
    assert six_days.add(wib(2026, 3, 6, 15, 0), 2 * H) == wib(2026, 3, 7, 9, 0)  # Saturday is worked
    assert six_days.add(wib(2026, 3, 2, 7, 0), 5 * M) == wib(2026, 3, 2, 7, 35)


# ---- the three time zones ------------------------------------------------------------------------


def test_one_instant_in_the_three_zones() -> None:
    instant = datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc)  # 07:30 WIB, 08:30 WITA, 09:30 WIT
    wib_cal, wita_cal, wit_cal = (WorkCalendar.for_zone(z) for z in ("WIB", "WITA", "WIT"))
    assert wita_cal.zone == WITA and wit_cal.zone == WIT
    assert [c.is_working(instant) for c in (wib_cal, wita_cal, wit_cal)] == [False, True, True]
    # Five working minutes: WIB opens 30 min later, the others count from the instant itself.
    assert wib_cal.add(instant, 5 * M) == datetime(2026, 3, 2, 1, 5, tzinfo=timezone.utc)
    assert wita_cal.add(instant, 5 * M) == datetime(2026, 3, 2, 0, 35, tzinfo=timezone.utc)
    # One working day from 08:30 UTC: 15:30 WIB (one day later), 16:30 WITA / 17:30 WIT (after hours).
    late = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)
    assert wib_cal.add(late, 8 * H) == datetime(2026, 3, 3, 15, 30, tzinfo=WIB)
    assert wita_cal.add(late, 8 * H) == datetime(2026, 3, 3, 16, 0, tzinfo=WITA)
    assert wit_cal.add(late, 8 * H) == datetime(2026, 3, 3, 16, 0, tzinfo=WIT)
    assert wit_cal.add(late, 8 * H) < wita_cal.add(late, 8 * H) < wib_cal.add(late, 8 * H)


def test_results_keep_the_callers_zone() -> None:
    utc = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
    assert CAL.add(utc, H).tzinfo is timezone.utc
    with pytest.raises(ValueError):
        CAL.add(datetime(2026, 3, 2, 9, 0), H)  # naive


# ---- between, working days ---------------------------------------------------------------------


def test_working_time_between() -> None:
    assert CAL.between(wib(2026, 3, 6, 15, 0), wib(2026, 3, 9, 9, 0)) == 2 * H
    assert CAL.between(wib(2026, 3, 13, 15, 0), wib(2026, 3, 25, 9, 0)) == 18 * H  # 1 + 8 + 8 + 1 (Nyepi week)
    assert CAL.between(wib(2026, 3, 7, 9, 0), wib(2026, 3, 8, 18, 0)) == timedelta(0)  # a weekend
    assert CAL.between(wib(2026, 3, 2, 10, 0), wib(2026, 3, 2, 9, 0)) == timedelta(0)


@pytest.mark.parametrize(("start", "days", "expected"), [
    (wib(2026, 3, 2, 10, 0), 2, wib(2026, 3, 4, 10, 0)),  # Monday -> Wednesday, same clock time
    (wib(2026, 3, 5, 10, 0), 2, wib(2026, 3, 9, 10, 0)),  # Thursday -> Monday
    (wib(2026, 3, 6, 19, 0), 1, wib(2026, 3, 10, 8, 0)),  # Friday evening counts from Monday 08:00
    (wib(2026, 3, 13, 19, 0), 2, wib(2026, 3, 25, 8, 0)),  # Mon 16, Tue 17, then the Nyepi/Lebaran week
    (wib(2026, 5, 13, 10, 0), 2, wib(2026, 5, 19, 10, 0)),  # Ascension + cuti bersama
    (wib(2026, 3, 2, 10, 0), 0, wib(2026, 3, 2, 10, 0)),
])
def test_add_working_days(start: datetime, days: int, expected: datetime) -> None:
    assert CAL.add_days(start, days) == expected
    if days:
        assert CAL.working_days_between(start, expected) == days
        assert CAL.working_days_between(start, expected - M) == days - 1


def test_standards_in_working_or_calendar_time() -> None:
    friday = wib(2026, 3, 6, 15, 0)
    assert deadline(CAL, friday, 2 * H, working=True) == wib(2026, 3, 9, 9, 0)
    assert deadline(CAL, friday, 2 * H, working=False) == wib(2026, 3, 6, 17, 0)
    monday = wib(2026, 3, 9, 9, 0)
    assert elapsed(CAL, friday, monday, working=True) == 2 * H
    assert elapsed(CAL, friday, monday, working=False) == timedelta(days=2, hours=18)


def test_invalid_calendars_are_refused() -> None:
    with pytest.raises(ValueError):
        WorkCalendar(start=time(16), end=time(8))
    with pytest.raises(ValueError):
        WorkCalendar(workdays=frozenset())
    with pytest.raises(ValueError):
        parse_weekdays(["funday"])
    assert parse_weekdays([1, "Tue", "rabu"]) == frozenset({0, 1, 2})


# ---- properties -----------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2025, 12, 20), max_value=datetime(2027, 1, 10),
                        timezones=st.sampled_from([WIB, WITA, WIT, timezone.utc]))
durations = st.integers(min_value=0, max_value=200 * 60).map(lambda m: timedelta(minutes=m))


@settings(max_examples=300, deadline=None)
@given(start=instants, duration=durations, zone=st.sampled_from(["WIB", "WITA", "WIT"]))
def test_between_undoes_add(start: datetime, duration: timedelta, zone: str) -> None:
    cal = WorkCalendar.for_zone(zone)
    end = cal.add(start, duration)
    assert end >= start
    assert cal.between(start, end) == duration
    if duration:  # the deadline falls in working time, or exactly at a day's close
        local = end.astimezone(cal.zone)
        assert cal.is_working(end) or (local.time() == cal.end and cal.is_working_day(local.date()))
