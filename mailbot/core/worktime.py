"""The helpdesk's working calendar: working days and hours in its time zone, minus holidays.

PURE: the standard library and the ``holidays`` package only; no clock is read (every
operation takes the instant it works from). SLA standards are counted on this calendar
when they are set in working time ("1 working day" for analysis, the priority table's
resolution hours), or in plain calendar time otherwise (:func:`deadline`, :func:`elapsed`).

The calendar is one window per working day (default Monday-Friday 08:00-16:00 local
time). A day is not worked when it is an Indonesian public holiday as the ``holidays``
package knows it (country "ID"; the "government" category adds the *cuti bersama* days),
or one of the extra dates from the config (local holidays, cuti bersama the package does
not know yet); ``extra_working_dates`` turns a listed holiday back into a working day.
Indonesia keeps no daylight saving time, but all arithmetic goes through ``zoneinfo``
anyway, so a zone with DST would still give correct wall-clock windows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_lib

#: The helpdesk time zones of Indonesia and their usual names.
ZONES: Mapping[str, str] = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}

#: Categories of the ``holidays`` package for Indonesia: "public" (hari libur nasional) and
#: "government" (cuti bersama, the joint leave days government offices such as an LPSE take).
DEFAULT_CATEGORIES: tuple[str, ...] = ("public", "government")

#: A calendar without any working window this far ahead is a configuration error, not a loop.
_MAX_DAYS = 3660


@functools.lru_cache(maxsize=128)
def indonesian_holidays(year: int, categories: tuple[str, ...] = DEFAULT_CATEGORIES) -> Mapping[date, str]:
    """Indonesian holidays of one year (date -> Indonesian name) from the ``holidays`` package.

    Cached per (year, categories): the package computes lunar-calendar dates, which is too slow
    to repeat for every deadline; a plain dict is also safe to share between threads.
    """
    table = holidays_lib.country_holidays("ID", years=year, categories=categories, language="id")
    return dict(table.items())


@dataclass(frozen=True)
class WorkCalendar:
    """Working days and hours of one helpdesk; every method takes and returns aware datetimes."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Jakarta"))
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # date.weekday(): Monday = 0
    start: time = time(8, 0)
    end: time = time(16, 0)
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    extra_holidays: frozenset[date] = frozenset()
    extra_working_dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.workdays or not self.workdays <= set(range(7)):
            raise ValueError("workdays must be a non-empty set of weekdays 0 (Monday) .. 6 (Sunday)")
        if not self.start < self.end:
            raise ValueError(f"working hours must start before they end ({self.start} - {self.end})")

    @classmethod
    def for_zone(cls, zone: str | ZoneInfo, **kw: object) -> WorkCalendar:
        """A calendar for a zone given as "Asia/Jakarta", "WIB", "WITA" or "WIT" (other fields: defaults)."""
        if isinstance(zone, str):
            zone = ZoneInfo(ZONES.get(zone.upper(), zone))
        return cls(zone=zone, **kw)  # type: ignore[arg-type]

    # ---- days ---------------------------------------------------------------------------

    @property
    def day_length(self) -> timedelta:
        """Working time in one working day (8 h by default): what "1 working day" means."""
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)

    def holiday_name(self, day: date) -> str | None:
        """Why ``day`` is not worked although it is a working weekday; None when it is no holiday."""
        if day in self.extra_working_dates:
            return None
        if day in self.extra_holidays:
            return "libur (konfigurasi)"
        return indonesian_holidays(day.year, self.categories).get(day)

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_dates:
            return True
        return day.weekday() in self.workdays and self.holiday_name(day) is None

    def is_working(self, instant: datetime) -> bool:
        """Whether ``instant`` falls inside working hours (start inclusive, end exclusive)."""
        local = self._local(instant)
        return self.is_working_day(local.date()) and self.start <= local.time() < self.end

    # ---- arithmetic ---------------------------------------------------------------------

    def next_working(self, instant: datetime) -> datetime:
        """``instant`` itself when working time, else the start of the next working window."""
        for window_start, _ in self._windows(instant):
            return max(window_start, instant).astimezone(instant.tzinfo)
        raise AssertionError("unreachable: _windows raises when it finds nothing")

    def add(self, instant: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of working time has passed since ``instant``.

        Time outside working hours does not count: 2 working hours from Friday 15:00 are
        Monday 09:00 (when Monday is worked). A duration that ends exactly at the close of a
        day gives that close (16:00), not the next morning's opening, so a deadline is never
        later than it needs to be. A zero duration gives ``instant`` unchanged.
        """
        if duration < timedelta(0):
            raise ValueError("a working duration cannot be negative")
        if duration == timedelta(0):
            return instant
        remaining = duration
        for window_start, window_end in self._windows(instant):
            begin = max(window_start, instant)
            available = window_end - begin
            if remaining <= available:
                return (begin + remaining).astimezone(instant.tzinfo)
            remaining -= available
        raise AssertionError("unreachable: _windows raises when it finds nothing")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end); zero when ``end`` is not after ``start``."""
        total = timedelta(0)
        if end <= start:
            return total
        for window_start, window_end in self._windows(start):
            if window_start >= end:
                break
            total += min(window_end, end) - max(window_start, start)
        return total

    def add_days(self, instant: datetime, days: int) -> datetime:
        """The same working clock time ``days`` working days later.

        An instant outside working hours first moves to the next opening: a data request made
        on Friday at 19:00 is "2 working days old" on Wednesday at 08:00 (with Monday and
        Tuesday worked), one made on Monday at 10:00 is on Wednesday at 10:00.
        """
        if days < 0:
            raise ValueError("days cannot be negative")
        if days == 0:
            return instant
        begin = self._local(self.next_working(instant))
        day, counted = begin.date(), 0
        for _ in range(_MAX_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
                if counted == days:
                    return datetime.combine(day, begin.time(), tzinfo=self.zone).astimezone(instant.tzinfo)
        raise ValueError(f"no {days} working days within {_MAX_DAYS} days: check the working calendar")

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """How many whole working days ``add_days`` puts between ``start`` and ``end`` (for ages)."""
        if end <= start:
            return 0
        begin = self._local(self.next_working(start))
        last = self._local(end)
        count, day = 0, begin.date()
        while day < last.date():
            day += timedelta(days=1)
            if self.is_working_day(day) and datetime.combine(day, begin.time(), tzinfo=self.zone) <= last:
                count += 1
        return count

    # ---- internals ----------------------------------------------------------------------

    def _local(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            raise ValueError("naive datetime given to the working calendar")
        return instant.astimezone(self.zone)

    def _windows(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows (start, end) that end after ``instant``, in order, without end.

        Raises ValueError when a long stretch has no working day at all (a calendar whose
        every day is a holiday), so callers never loop forever.
        """
        day = self._local(instant).date()
        idle = 0
        while True:
            if self.is_working_day(day):
                idle = 0
                window_end = datetime.combine(day, self.end, tzinfo=self.zone)
                if window_end > instant:
                    yield datetime.combine(day, self.start, tzinfo=self.zone), window_end
            else:
                idle += 1
                if idle > _MAX_DAYS:
                    raise ValueError(f"no working day within {_MAX_DAYS} days: check the working calendar")
            day += timedelta(days=1)


# ---- standards that may be in working or calendar time -------------------------------------


def deadline(calendar: WorkCalendar, start: datetime, duration: timedelta, *, working: bool) -> datetime:
    """When a standard of ``duration`` started at ``start`` runs out (working or calendar time)."""
    return calendar.add(start, duration) if working else start + duration


def elapsed(calendar: WorkCalendar, start: datetime, end: datetime, *, working: bool) -> timedelta:
    """Time between two instants as a standard counts it (working or calendar time), never negative."""
    if working:
        return calendar.between(start, end)
    return max(end - start, timedelta(0))


def parse_weekdays(names: Iterable[str | int]) -> frozenset[int]:
    """Weekday names ("mon", "senin", ...) or ISO numbers (1 = Monday .. 7 = Sunday) -> weekday()s."""
    table = {
        "mon": 0, "monday": 0, "senin": 0, "tue": 1, "tuesday": 1, "selasa": 1, "wed": 2, "wednesday": 2, "rabu": 2,
        "thu": 3, "thursday": 3, "kamis": 3, "fri": 4, "friday": 4, "jumat": 4, "sat": 5, "saturday": 5, "sabtu": 5,
        "sun": 6, "sunday": 6, "minggu": 6, "ahad": 6,
    }
    out: set[int] = set()
    for name in names:
        if isinstance(name, int):
            if not 1 <= name <= 7:
                raise ValueError(f"weekday number {name} is not 1 (Monday) .. 7 (Sunday)")
            out.add(name - 1)
            continue
        key = name.strip().lower().replace("'", "")
        if key not in table:
            raise ValueError(f"unknown weekday {name!r}")
        out.add(table[key])
    return frozenset(out)
