"""Explicit deadline dates in a mail: a deadline word followed by a date and maybe a time. PURE.

Public API: :func:`explicit_deadline` ("batas akhir ... 15 Juli 2024 pukul 14.00" -> that moment).
Whether it is near enough to raise the priority is the rules engine's question
(:mod:`mailbot.core.rules`); the time the mail arrived is passed in, no clock is read. The date
patterns run on Python's ``re`` over a bounded piece of text after each deadline word.
"""

from __future__ import annotations

import re
from datetime import datetime

from mailbot.core.matching import Pattern, snippet

__all__ = ["explicit_deadline"]

_MONTHS = {
    "jan": 1, "januari": 1, "january": 1,
    "feb": 2, "februari": 2, "pebruari": 2, "february": 2,
    "mar": 3, "maret": 3, "march": 3,
    "apr": 4, "april": 4,
    "mei": 5, "may": 5,
    "jun": 6, "juni": 6, "june": 6,
    "jul": 7, "juli": 7, "july": 7,
    "agu": 8, "agt": 8, "agus": 8, "agustus": 8, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9,
    "okt": 10, "oktober": 10, "oct": 10, "october": 10,
    "nov": 11, "nopember": 11, "november": 11,
    "des": 12, "desember": 12, "dec": 12, "december": 12,
}
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{4}|\d{2})\b")
_NAMED_DATE = re.compile(r"\b(\d{1,2})\s+(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?(?:\s+(\d{4}))?")
_TIME = re.compile(r"(?:pukul|pkl|jam|at)?\s*\b([01]?\d|2[0-3])[.:]([0-5]\d)\b")


def explicit_deadline(context: Pattern, text: str, now: datetime) -> tuple[str, datetime] | None:
    """A deadline word followed by a date (and time) that falls within the coming window."""
    for match in context.finditer(text):
        tail = text[match.end() : match.end() + 80]
        date = _NAMED_DATE.search(tail)
        numeric = _NUMERIC_DATE.search(tail)
        if numeric and (date is None or numeric.start() < date.start()):
            day, month, year = int(numeric[1]), int(numeric[2]), int(numeric[3])
            found = numeric
        elif date:
            day, month = int(date[1]), _MONTHS[date[2]]
            year = int(date[3]) if date[3] else now.year
            found = date
        else:
            continue
        if year < 100:
            year += 2000
        time = _TIME.search(tail, found.end(), found.end() + 25)
        try:
            if time:
                at = datetime(year, month, day, int(time[1]), int(time[2]))
            else:
                at = datetime(year, month, day, 23, 59)  # a date alone: the deadline is that day
        except ValueError:
            continue  # "31/02": not a date
        if now.tzinfo is not None:
            at = at.replace(tzinfo=now.tzinfo)  # written in the sender's (= helpdesk's) local time
        end = (time or found).end()
        return snippet(match[0] + tail[:end]), at
    return None
