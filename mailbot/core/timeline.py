"""A ticket's events as an SOP timeline: each step, when, by whom, and time against its standard.

Pure: takes stored events (anything with kind/at/actor/detail/sop_step/data) and returns rows.
Given the SLA's measured steps (``sla.measure``), a step takes its time and standard from them, so
the timeline agrees with the report and the clocks: "1 day" of analysis is a working day of the
helpdesk's calendar, not 24 hours. Without them (or for a step the SLA does not measure) a step is
timed in calendar time against the SOP's own figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mailbot.core.domain import EventRecord
from mailbot.core.sla import Sample
from mailbot.core.workflow import SOP_STANDARDS


@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    kind: str
    actor: str
    detail: str
    sop_step: int | None
    took: timedelta | None = None  # time this step took, when it has a standard
    standard: timedelta | None = None
    working: bool = False  # took and standard are working time of the helpdesk's calendar

    @property
    def within(self) -> bool | None:
        if self.took is None or self.standard is None:
            return None
        return self.took <= self.standard


def build_timeline(events: Iterable[EventRecord], samples: Sequence[Sample] = ()) -> list[TimelineRow]:
    """The rows of ``events``; ``samples`` (``sla.measure`` of the same events) time the steps they cover."""
    rows = _calendar_rows(events)
    measured: dict[tuple[int | None, datetime], Sample] = {(s.step, s.end): s for s in samples if s.standard}
    for i, row in enumerate(rows):
        sample = measured.get((row.sop_step, row.at)) if row.took is not None else None
        if sample is not None and sample.standard is not None:
            rows[i] = replace(row, took=sample.took, standard=sample.standard.duration,
                              working=sample.standard.working)
    return rows


def _calendar_rows(events: Iterable[EventRecord]) -> list[TimelineRow]:
    rows: list[TimelineRow] = []
    received: datetime | None = None
    last_user: datetime | None = None
    analysis_from: datetime | None = None
    for e in events:
        took: timedelta | None = None
        step = e.sop_step
        if e.kind == "received":
            received = last_user = e.at
        elif e.kind in {"user_replied", "reopened"}:
            last_user = e.at
        if e.kind == "priority_set" and received is not None:
            took = e.at - received
        elif e.kind == "data_requested" and last_user is not None:
            took = e.at - last_user
        elif e.kind in {"closed", "escalated"}:
            written = e.data.get("written_at") if e.data else None
            if isinstance(written, str):
                took = max(e.at - datetime.fromisoformat(written), timedelta(0))
            if analysis_from is not None:
                rows.append(TimelineRow(e.at, "analysis", e.actor, "analysis until this decision", 7,
                                        e.at - analysis_from, SOP_STANDARDS[7]))
                analysis_from = None
        if e.kind == "analysis_started":
            analysis_from = e.at
        standard = SOP_STANDARDS.get(step) if step is not None and took is not None else None
        rows.append(TimelineRow(e.at, e.kind, e.actor, e.detail, step, took, standard))
    return rows


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours:d}:{minutes:02d}:{seconds:02d}"
    return f"{days}d {text}" if days else text
