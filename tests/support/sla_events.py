"""Scripted ticket events for the SLA clock and report tests, in WIB wall-clock time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")


def wib(*args: int) -> datetime:
    """A time in the helpdesk's zone: ``wib(2026, 3, 2, 9, 0)`` is Monday 09:00 WIB."""
    return datetime(*args, tzinfo=WIB)  # type: ignore[misc]


@dataclass
class Ev:
    """A ticket event as the core reads it (the ``EventRecord`` protocol)."""

    kind: str
    at: datetime
    sop_step: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    actor: str = "x@lpse.test"
    detail: str = ""


def opened(at: datetime, *, missing: bool = False, matched: bool = True) -> list[Ev]:
    """The events of a new ticket (workflow._opened), all at the same instant."""
    events = [Ev("received", at, 1), Ev("priority_set", at, 2, {"matched": matched})]
    if missing:
        return events + [Ev("data_requested", at, 4, {"items": ["kode_tender"], "by": "rules"}),
                         Ev("call_task", at, 4)]
    return events + [Ev("analysis_started", at, 7)]
