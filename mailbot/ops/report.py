"""``mailbot report sla``: how well the helpdesk kept the SOP's time standards in a period.

For each SOP step and each priority: how many, the share within the standard, the median
and the 90th percentile of the time taken; escalations to LKPP and their turnaround; the
reopen rate. :func:`aggregate` is pure (ticket histories in, figures out); :func:`load`
is the database query; the ``format_*`` functions print table, CSV, JSON or HTML (the HTML
carries an inline SVG chart and inline styles only, so it pastes into a monthly report).

What counts in the period [start, end):

- a step counts in the period in which it *ended* (see ``sla.measure`` for each step's
  start and end); its time is working or calendar time as its standard is set;
- an escalation counts when it was made; it is answered when LKPP answered or closed it, taken
  back when LPSE closed it or took it back (``#tarik``) before that, else pending;
- LKPP's turnaround (``[sla.standards] lkpp_turnaround``) is reported apart from the LPSE steps:
  each turn LKPP owed an answer (after the escalation, after the user's answer to LKPP's data
  request, after a reopen back to LKPP) counts in the period in which LKPP answered, against its
  standard; the LPSE resolution clock does not run while LKPP holds the ticket;
- the reopen rate is the share of the closes made by people in the period that were
  followed by a reopen (by the user or by ``#buka``) before any later close;
- automatic closes (no data from the user) are counted apart and measured nowhere else.

Medians of an even count are the mean of the two middle values; the 90th percentile is
the nearest-rank one (the smallest time with at least 90 % of the times at or below it).
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from mailbot.core import sla
from mailbot.core.domain import EventRecord
from mailbot.core.sla import Sample, SlaPolicy, Standard
from mailbot.core.worktime import WorkCalendar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailbot.service.app import App

#: The measures in report order (SOP steps, then the resolution target of the priority table).
MEASURES: tuple[str, ...] = ("priority", "data_request", "call", "analysis", "close", "escalation", "resolution")
ALL = "semua"  # the priority column of a measure's total row
FORMATS = ("table", "csv", "json", "html")


@dataclass(frozen=True)
class TicketHistory:
    number: str
    priority: str  # the ticket's priority now (earlier ones are read from the override events)
    events: Sequence[EventRecord]


@dataclass(frozen=True)
class Row:
    measure: str
    step: int
    priority: str  # a level, or ALL
    count: int
    within: int
    median: timedelta | None
    p90: timedelta | None
    standard: Standard | None  # None on the resolution total (each priority has its own)

    @property
    def share(self) -> float | None:
        return self.within / self.count if self.count else None

    @property
    def label(self) -> str:
        return sla.LABELS[self.measure]


@dataclass(frozen=True)
class EscalationStats:
    count: int  # escalations made in the period
    answered: int  # of those, answered or closed by LKPP (so far)
    median: timedelta | None  # LKPP's turnaround: the turns answered in the period
    p90: timedelta | None
    taken_back: int = 0  # of those, closed by LPSE or taken back (#tarik) before LKPP answered
    turns: int = 0  # LKPP turns answered in the period (an escalation may have several)
    within: int = 0  # of those, within the lkpp_turnaround standard
    standard: Standard | None = None

    @property
    def pending(self) -> int:
        return self.count - self.answered - self.taken_back

    @property
    def share(self) -> float | None:
        return self.within / self.turns if self.turns else None


@dataclass(frozen=True)
class ReopenStats:
    closed: int  # closes made by people in the period
    reopened: int  # of those, reopened afterwards

    @property
    def rate(self) -> float | None:
        return self.reopened / self.closed if self.closed else None


@dataclass(frozen=True)
class SlaReport:
    start: datetime
    end: datetime  # exclusive
    opened: int  # tickets received in the period
    rows: tuple[Row, ...]
    escalations: EscalationStats
    reopen: ReopenStats
    autoclosed: int
    ratings: tuple[int, ...] = ()  # the users' 1-5 ratings given in the period

    @property
    def rating_average(self) -> float | None:
        return sum(self.ratings) / len(self.ratings) if self.ratings else None

    def row(self, measure: str, priority: str = ALL) -> Row:
        return next(r for r in self.rows if r.measure == measure and r.priority == priority)


# ---- the pure aggregation ------------------------------------------------------------------


def _in(at: datetime, start: datetime, end: datetime) -> bool:
    return start <= at < end


def _row(measure: str, priority: str, samples: Sequence[Sample], standard: Standard | None) -> Row:
    times = [s.took for s in samples]
    return Row(measure, sla.RESOLUTION_STEP if measure == "resolution" else sla.STEPS[measure], priority,
               len(samples), sum(1 for s in samples if s.within), sla.median(times), sla.percentile(times, 90),
               standard)


def aggregate(histories: Iterable[TicketHistory], *, start: datetime, end: datetime, policy: SlaPolicy,
              calendar: WorkCalendar, resolution_hours: Mapping[str, float], levels: Sequence[str]) -> SlaReport:
    """The report's figures for [start, end) from ticket histories (pure: no database, no clock)."""
    samples: list[Sample] = []
    opened = autoclosed = 0
    escalations = answered = taken_back = 0
    closes = reopened = 0
    ratings: list[int] = []
    for history in histories:
        events = list(history.events)
        measured = sla.measure(events, priority=history.priority, policy=policy, calendar=calendar,
                               resolution_hours=resolution_hours)
        samples += [s for s in measured if _in(s.end, start, end) and s.standard is not None]
        for i, e in enumerate(events):
            if not _in(e.at, start, end):
                continue
            later = events[i + 1:]
            if e.kind == "received":
                opened += 1
            elif e.kind == "escalated":
                escalations += 1
                answer = next((x for x in later if x.kind in {"lkpp_replied", "closed", "withdrawn"}), None)
                if answer is not None and (answer.kind == "lkpp_replied" or answer.data.get("by_lkpp")):
                    answered += 1
                elif answer is not None:
                    taken_back += 1
            elif e.kind == "rated" and isinstance(e.data.get("rating"), int):
                ratings.append(int(e.data["rating"]))
            elif e.kind == "closed" and sla.is_auto_close(e):
                autoclosed += 1
            elif e.kind == "closed":
                closes += 1
                following = next((x for x in later if x.kind in {"reopened", "closed"}), None)
                reopened += 1 if following is not None and following.kind == "reopened" else 0
    known = list(levels) + sorted({s.priority for s in samples} - set(levels))
    rows: list[Row] = []
    turns = [s for s in samples if s.measure == "lkpp_turnaround"]
    times = [s.took for s in turns]
    for measure in MEASURES:
        of_measure = [s for s in samples if s.measure == measure]
        rows.append(_row(measure, ALL, of_measure, None if measure == "resolution" else policy.standards[measure]))
        for level in known:
            standard = (policy.standard("resolution", resolution_hours.get(level)) if measure == "resolution"
                        else policy.standards[measure])
            rows.append(_row(measure, level, [s for s in of_measure if s.priority == level], standard))
    return SlaReport(
        start=start, end=end, opened=opened, rows=tuple(rows),
        escalations=EscalationStats(escalations, answered, sla.median(times), sla.percentile(times, 90), taken_back,
                                    len(turns), sum(1 for s in turns if s.within),
                                    policy.standards["lkpp_turnaround"]),
        reopen=ReopenStats(closes, reopened), autoclosed=autoclosed, ratings=tuple(ratings),
    )


# ---- the database side -------------------------------------------------------------------


def period(calendar: WorkCalendar, date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """Local dates (inclusive) -> [start, end) instants in the helpdesk's time zone."""
    start = datetime.combine(date_from, time(0), tzinfo=calendar.zone)
    return start, datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=calendar.zone)


def load(session: Session, start: datetime, end: datetime, helpdesk: str | None = None) -> list[TicketHistory]:
    """Every ticket (of ``helpdesk``, if given) with an event in [start, end), with its whole history
    (steps may start earlier)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from mailbot.storage.models import Ticket, TicketEvent

    active = select(TicketEvent.ticket_id).where(TicketEvent.at >= start, TicketEvent.at < end).distinct()
    query = select(Ticket).where(Ticket.id.in_(active))
    if helpdesk is not None:
        query = query.where(Ticket.helpdesk == helpdesk)
    tickets = session.scalars(query.options(selectinload(Ticket.events)).order_by(Ticket.id)).all()
    return [TicketHistory(t.number or str(t.id), t.priority, list(t.events)) for t in tickets]


def build(app: App, date_from: date, date_to: date) -> SlaReport:
    from mailbot.service.deadlines import Setup

    setup = Setup.of(app)
    start, end = period(setup.calendar, date_from, date_to)
    hours = {level.key: level.resolution_hours for level in app.table.levels}
    with app.factory() as session:
        histories = load(session, start, end, app.settings.helpdesk_key)  # its own calendar and table
    return aggregate(histories, start=start, end=end, policy=setup.policy, calendar=setup.calendar,
                     resolution_hours=hours, levels=list(app.table.level_names))


def render(report: SlaReport, fmt: str, *, title: str = "", zone_name: str = "") -> str:
    if fmt == "csv":
        return format_csv(report)
    if fmt == "json":
        return format_json(report)
    if fmt == "html":
        return format_html(report, title=title, zone_name=zone_name)
    return format_table(report, zone_name=zone_name)


# ---- output ------------------------------------------------------------------------------


def short(value: timedelta | None) -> str:
    """Compact Indonesian duration for tables: "45 dtk", "4 mnt", "26 j 05 mnt"; "-" for none."""
    if value is None:
        return "-"
    seconds = round(value.total_seconds())
    if seconds < 60:
        return f"{seconds} dtk"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} mnt"
    return f"{minutes // 60} j {minutes % 60:02d} mnt"


def _standard_text(standard: Standard | None) -> str:
    if standard is None:
        return "per prioritas"
    return sla.describe(standard.duration, working=standard.working)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _period_text(report: SlaReport, zone_name: str) -> str:
    last = report.end - timedelta(days=1)
    return f"{report.start:%d-%m-%Y} s.d. {last:%d-%m-%Y}" + (f" ({zone_name})" if zone_name else "")


def format_table(report: SlaReport, *, zone_name: str = "") -> str:
    out = [f"Kepatuhan standar waktu SOP, {_period_text(report, zone_name)}: {report.opened} tiket baru", ""]
    head = f"{'langkah':40} {'prioritas':10} {'jumlah':>6} {'sesuai':>7} {'median':>13} {'p90':>13}  standar"
    out += [head, "-" * len(head)]
    for r in report.rows:
        if r.priority != ALL and not r.count:
            continue
        name = r.label if r.priority == ALL else ""
        out.append(f"{name:40.40} {r.priority:10.10} {r.count:6d} {_pct(r.share):>7} {short(r.median):>13} "
                   f"{short(r.p90):>13}  {_standard_text(r.standard)}")
    e, ro = report.escalations, report.reopen
    out += ["", f"Eskalasi ke LKPP: {e.count}, dijawab {e.answered}, ditarik/ditutup LPSE {e.taken_back}, "
                f"belum {e.pending}",
            f"Tanggapan Helpdesk LKPP (di luar langkah LPSE): {e.turns} tanggapan, sesuai standar {_pct(e.share)}, "
            f"median {short(e.median)}, p90 {short(e.p90)}; standar {_standard_text(e.standard)}",
            f"Dibuka kembali: {ro.reopened} dari {ro.closed} penutupan ({_pct(ro.rate)})",
            f"Ditutup otomatis (data tidak dilengkapi): {report.autoclosed}",
            f"Penilaian pengguna: {len(report.ratings)}"
            + (f", rata-rata {report.rating_average:.2f} dari 5" if report.ratings else "")]
    return "\n".join(out) + "\n"


def _minutes(value: timedelta | None) -> str:
    return "" if value is None else f"{value.total_seconds() / 60:.2f}"


def format_csv(report: SlaReport) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["measure", "step", "priority", "count", "within_standard", "share_within_pct", "median_minutes",
                "p90_minutes", "standard_minutes", "working_time", "rate_pct"])
    for r in report.rows:
        w.writerow([r.measure, r.step, r.priority, r.count, r.within,
                    "" if r.share is None else f"{r.share * 100:.1f}", _minutes(r.median), _minutes(r.p90),
                    _minutes(r.standard.duration) if r.standard else "",
                    "" if r.standard is None else str(r.standard.working).lower(), ""])
    e, ro = report.escalations, report.reopen
    w.writerow(["lkpp_turnaround", 10, ALL, e.turns, e.within, "" if e.share is None else f"{e.share * 100:.1f}",
                _minutes(e.median), _minutes(e.p90), _minutes(e.standard.duration) if e.standard else "",
                "" if e.standard is None else str(e.standard.working).lower(), ""])
    w.writerow(["lkpp_taken_back", 10, ALL, e.taken_back, "", "", "", "", "", "", ""])
    w.writerow(["lkpp_pending", 10, ALL, e.pending, "", "", "", "", "", "", ""])
    w.writerow(["reopened", 9, ALL, ro.reopened, "", "", "", "", "", "",
                "" if ro.rate is None else f"{ro.rate * 100:.1f}"])
    w.writerow(["autoclosed", 9, ALL, report.autoclosed, "", "", "", "", "", "", ""])
    return buf.getvalue()


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def as_dict(report: SlaReport) -> dict[str, Any]:
    e, ro = report.escalations, report.reopen
    return {
        "period": {"start": report.start.isoformat(), "end": report.end.isoformat()},
        "opened": report.opened,
        "steps": [
            {"measure": r.measure, "step": r.step, "label": r.label, "priority": r.priority, "count": r.count,
             "within_standard": r.within, "share_within": r.share, "median_seconds": _seconds(r.median),
             "p90_seconds": _seconds(r.p90),
             "standard_seconds": _seconds(r.standard.duration) if r.standard else None,
             "working_time": r.standard.working if r.standard else None}
            for r in report.rows
        ],
        "escalations": {"count": e.count, "answered": e.answered, "taken_back": e.taken_back, "pending": e.pending,
                        "turnaround_median_seconds": _seconds(e.median), "turnaround_p90_seconds": _seconds(e.p90),
                        "turns": e.turns, "turns_within_standard": e.within, "share_within": e.share,
                        "standard_seconds": _seconds(e.standard.duration) if e.standard else None,
                        "working_time": e.standard.working if e.standard else None},
        "reopen": {"closed": ro.closed, "reopened": ro.reopened, "rate": ro.rate},
        "autoclosed": report.autoclosed,
        "ratings": {"count": len(report.ratings), "average": report.rating_average,
                    "distribution": {str(n): report.ratings.count(n) for n in range(1, 6)}},
    }


def format_json(report: SlaReport) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"


def _colour(share: float) -> str:
    return "#2e7d32" if share >= 0.9 else "#f9a825" if share >= 0.75 else "#c62828"


def chart_svg(report: SlaReport) -> str:
    """Horizontal bars: the share within the standard of each step and of each priority's resolution."""
    bars = [(r.label, r.share, r.count) for r in report.rows if r.priority == ALL and r.measure != "resolution"]
    # LKPP's answers are not the helpdesk's steps, but the coordinator follows them up: a bar of their own.
    lkpp = report.escalations
    bars.append((sla.LABELS["lkpp_turnaround"], lkpp.share, lkpp.turns))
    bars += [(f"Penyelesaian {r.priority}", r.share, r.count)
             for r in report.rows if r.measure == "resolution" and r.priority != ALL]
    label_w, bar_w, row_h, top = 270, 300, 26, 30
    width, height = label_w + bar_w + 90, top + row_h * len(bars) + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" font-family="Arial, Helvetica, sans-serif" font-size="12">',
             "<title>Persentase sesuai standar waktu per langkah SOP</title>",
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
             '<text x="0" y="16" font-size="13" font-weight="bold">Persentase sesuai standar waktu</text>']
    for pct in (0, 25, 50, 75, 100):
        x = label_w + bar_w * pct / 100
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 20}" stroke="#dddddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" fill="#555555">{pct}%</text>')
    for i, (label, share, count) in enumerate(bars):
        y = top + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{html.escape(label)}</text>')
        if share is None:
            parts.append(f'<text x="{label_w + 4}" y="{y + 16}" fill="#777777">tidak ada data</text>')
            continue
        w = bar_w * share
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                     f'fill="{_colour(share)}"/>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 16}">{share * 100:.0f}% (n={count})</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def format_html(report: SlaReport, *, title: str = "", zone_name: str = "") -> str:
    cell = 'style="border:1px solid #999999;padding:3px 6px"'
    num = 'style="border:1px solid #999999;padding:3px 6px;text-align:right"'
    head = 'style="border:1px solid #999999;padding:3px 6px;background:#eeeeee;text-align:left"'
    esc = html.escape
    rows = []
    for r in report.rows:
        if r.priority != ALL and not r.count:
            continue
        weight = "font-weight:bold;" if r.priority == ALL else ""
        rows.append(
            f'<tr style="{weight}"><td {cell}>{esc(r.label) if r.priority == ALL else ""}</td>'
            f"<td {cell}>{esc(r.priority)}</td><td {num}>{r.count}</td><td {num}>{_pct(r.share)}</td>"
            f"<td {num}>{esc(short(r.median))}</td><td {num}>{esc(short(r.p90))}</td>"
            f"<td {cell}>{esc(_standard_text(r.standard))}</td></tr>")
    e, ro = report.escalations, report.reopen
    heading = esc(title or "Laporan kepatuhan standar waktu SOP")
    return "\n".join([
        '<!DOCTYPE html><html lang="id"><head><meta charset="utf-8">',
        f"<title>{heading}</title></head>",
        '<body style="font-family:Arial, Helvetica, sans-serif;font-size:13px">',
        f'<h2 style="margin-bottom:4px">{heading}</h2>',
        f"<p>Periode {esc(_period_text(report, zone_name))}; tiket baru: {report.opened}.</p>",
        f"<figure style=\"margin:0 0 12px 0\">{chart_svg(report)}</figure>",
        '<table style="border-collapse:collapse">',
        f"<tr><th {head}>Langkah SOP</th><th {head}>Prioritas</th><th {head}>Jumlah</th>"
        f"<th {head}>Sesuai standar</th><th {head}>Median</th><th {head}>Persentil 90</th>"
        f"<th {head}>Standar</th></tr>",
        *rows,
        "</table>",
        '<h3 style="margin-bottom:4px">Eskalasi ke Helpdesk LKPP</h3>',
        '<table style="border-collapse:collapse">',
        f"<tr><th {head}>Eskalasi</th><th {head}>Dijawab</th><th {head}>Ditarik/ditutup LPSE</th>"
        f"<th {head}>Belum dijawab</th><th {head}>Tanggapan</th><th {head}>Sesuai standar</th>"
        f"<th {head}>Median</th><th {head}>Persentil 90</th><th {head}>Standar</th></tr>",
        f"<tr><td {num}>{e.count}</td><td {num}>{e.answered}</td><td {num}>{e.taken_back}</td>"
        f"<td {num}>{e.pending}</td><td {num}>{e.turns}</td><td {num}>{_pct(e.share)}</td>"
        f"<td {num}>{esc(short(e.median))}</td><td {num}>{esc(short(e.p90))}</td>"
        f"<td {cell}>{esc(_standard_text(e.standard))}</td></tr>",
        "</table>",
        "<p>Waktu tanggapan LKPP dihitung terpisah dari langkah LPSE: sejak LKPP menerima eskalasi (atau data "
        "yang dimintanya, atau tiket yang dikembalikan pelapor) sampai jawaban LKPP. Selama tiket di LKPP, "
        "target penyelesaian LPSE berhenti.</p>",
        f"<p>Tiket dibuka kembali: {ro.reopened} dari {ro.closed} penutupan ({_pct(ro.rate)}). "
        f"Ditutup otomatis karena data tidak dilengkapi: {report.autoclosed}.</p>",
        "</body></html>",
    ]) + "\n"
