"""The SLA report on a scripted month of tickets; every expected figure is worked out by hand below.

Calendar: WIB, Monday-Friday 08:00-16:00; March 2026 has no holiday on the days used (the
Nyepi/Lebaran week 18-24 March is avoided). Standards: the SOP defaults (5 min, 5 min, 5 min,
8 working hours, 10 min, 5 min, all in working time); resolution: tinggi 8, sedang 24,
rendah 72 working hours.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailbot import cli
from mailbot.core.sla import SlaPolicy
from mailbot.core.worktime import WorkCalendar
from mailbot.ops import report
from mailbot.ops.report import ALL, TicketHistory, aggregate
from mailbot.storage import store
from mailbot.storage.models import Ticket, TicketEvent
from tests.support.sla_events import Ev, opened, wib

CAL = WorkCalendar()
HOURS = {"tinggi": 8.0, "sedang": 24.0, "rendah": 72.0}
LEVELS = ["tinggi", "sedang", "rendah"]
M = timedelta(minutes=1)
H = timedelta(hours=1)


def closed(at: datetime, written: datetime | None, **data: Any) -> Ev:
    return Ev("closed", at, 9, {**({"written_at": written.isoformat()} if written else {}), **data})


def escalated(at: datetime, written: datetime) -> Ev:
    return Ev("escalated", at, 10, {"written_at": written.isoformat()})


HISTORIES = [
    # T1 sedang. Analysis Mon 09:00 -> Tue 10:00 = 7 h + 2 h = 9 h (LATE); close 5 min; resolution 9 h of 24.
    TicketHistory("T1", "sedang", opened(wib(2026, 3, 2, 9, 0)) + [
        closed(wib(2026, 3, 3, 10, 0), wib(2026, 3, 3, 9, 55))]),
    # T2 tinggi, data missing. Call 3 min. Data Thu 09:00; escalated Thu 11:00, written 10:50 (10 min, LATE);
    # analysis 2 h. LKPP answers Fri 11:00 (turnaround Thu 5 h + Fri 3 h = 8 working hours of 16), LKPP
    # closes Fri 14:00 (written 13:58: 2 min).
    # Resolution: paused Wed 10:00 -> Thu 09:00 (waiting for data), runs Thu 09:00 -> 11:00, paused while
    # LKPP holds it (Thu 11:00 -> the close): 2 h of 8 (it would be 13 h, LATE, if LKPP's time counted).
    # The user reopens Mon 09:00; closed Mon 09:30 (written 09:25: 5 min); analysis 30 min;
    # resolution 2 h 30 min.
    TicketHistory("T2", "tinggi", opened(wib(2026, 3, 4, 10, 0), missing=True) + [
        Ev("called", wib(2026, 3, 4, 10, 3), 4),
        Ev("user_replied", wib(2026, 3, 5, 9, 0)), Ev("data_received", wib(2026, 3, 5, 9, 0), 6),
        Ev("analysis_started", wib(2026, 3, 5, 9, 0), 7),
        escalated(wib(2026, 3, 5, 11, 0), wib(2026, 3, 5, 10, 50)),
        Ev("lkpp_replied", wib(2026, 3, 6, 11, 0)),
        closed(wib(2026, 3, 6, 14, 0), wib(2026, 3, 6, 13, 58)),
        Ev("reopened", wib(2026, 3, 9, 9, 0)), Ev("analysis_started", wib(2026, 3, 9, 9, 0), 7),
        closed(wib(2026, 3, 9, 9, 30), wib(2026, 3, 9, 9, 25))]),
    # T3 unmatched (default sedang), staff classify it "rendah" after 10 min (LATE); analysis 4 h;
    # closed 12:00, written 11:45 (15 min, LATE); resolution 4 h of 72.
    TicketHistory("T3", "rendah", opened(wib(2026, 3, 10, 8, 0), matched=False) + [
        Ev("priority_override", wib(2026, 3, 10, 8, 10), 2, {"from": "sedang", "to": "rendah"}),
        closed(wib(2026, 3, 10, 12, 0), wib(2026, 3, 10, 11, 45))]),
    # T4 sedang, opened in February (its priority step is not March's), closed Mon 2 Mar 10:00:
    # analysis Fri 1 h + Mon 2 h = 3 h; close 1 min; resolution 3 h.
    TicketHistory("T4", "sedang", opened(wib(2026, 2, 27, 15, 0)) + [
        closed(wib(2026, 3, 2, 10, 0), wib(2026, 3, 2, 9, 59))]),
    # T5 tinggi, data never came: reminded, then closed automatically (measured nowhere).
    TicketHistory("T5", "tinggi", opened(wib(2026, 3, 16, 9, 0), missing=True) + [
        Ev("reminder_sent", wib(2026, 3, 25, 9, 0), 4),
        closed(wib(2026, 3, 30, 9, 0), None, auto=True, from_state="waiting_user")]),
    # T6 in April only: not in the report at all.
    TicketHistory("T6", "sedang", opened(wib(2026, 4, 1, 9, 0)) + [
        closed(wib(2026, 4, 1, 10, 0), wib(2026, 4, 1, 9, 59))]),
    # T7 sedang: analysis Mon 09:00 -> Tue 09:00 = 8 h (exactly the standard); escalated, written 08:58
    # (2 min); LKPP has not answered.
    TicketHistory("T7", "sedang", opened(wib(2026, 3, 30, 9, 0)) + [
        escalated(wib(2026, 3, 31, 9, 0), wib(2026, 3, 31, 8, 58))]),
]

START, END = report.period(CAL, date(2026, 3, 1), date(2026, 3, 31))


@pytest.fixture(scope="module")
def march() -> report.SlaReport:
    return aggregate(HISTORIES, start=START, end=END, policy=SlaPolicy(), calendar=CAL, resolution_hours=HOURS,
                     levels=LEVELS)


def figures(row: report.Row) -> tuple[int, int, timedelta | None, timedelta | None]:
    return row.count, row.within, row.median, row.p90


def test_period_is_local_and_inclusive() -> None:
    assert START == wib(2026, 3, 1, 0, 0) and END == wib(2026, 4, 1, 0, 0)


def test_tickets_opened_and_closed_automatically(march: report.SlaReport) -> None:
    assert march.opened == 5  # T1, T2, T3, T5, T7
    assert march.autoclosed == 1  # T5


def test_priority_step(march: report.SlaReport) -> None:
    # T1 0, T2 0, T3 10 min (late), T5 0, T7 0 -> median 0, p90 = rank ceil(4.5) = 5th = 10 min.
    assert figures(march.row("priority")) == (5, 4, timedelta(0), 10 * M)
    assert march.row("priority").share == pytest.approx(0.8)
    assert figures(march.row("priority", "rendah")) == (1, 0, 10 * M, 10 * M)
    assert figures(march.row("priority", "tinggi")) == (2, 2, timedelta(0), timedelta(0))


def test_data_request_and_call(march: report.SlaReport) -> None:
    assert figures(march.row("data_request")) == (2, 2, timedelta(0), timedelta(0))  # T2, T5
    assert figures(march.row("call")) == (1, 1, 3 * M, 3 * M)  # T2 only: T5's call was never made


def test_analysis_step(march: report.SlaReport) -> None:
    # 9 h (late), 2 h, 30 min, 4 h, 3 h, 8 h -> sorted 0.5 2 3 4 8 9: median 3.5 h, p90 rank 6 = 9 h.
    assert figures(march.row("analysis")) == (6, 5, 3 * H + 30 * M, 9 * H)
    assert figures(march.row("analysis", "sedang")) == (3, 2, 8 * H, 9 * H)  # T1 9 h, T4 3 h, T7 8 h
    assert figures(march.row("analysis", "tinggi")) == (2, 2, H + 15 * M, 2 * H)  # T2 2 h, 30 min
    assert figures(march.row("analysis", "rendah")) == (1, 1, 4 * H, 4 * H)


def test_close_and_escalation_steps(march: report.SlaReport) -> None:
    # Closes: T1 5, T2 2 and 5, T3 15 (late), T4 1 -> sorted 1 2 5 5 15: median 5, p90 rank 5 = 15.
    assert figures(march.row("close")) == (5, 4, 5 * M, 15 * M)
    # Escalations: T2 10 min (late), T7 2 min -> median 6 min, p90 rank 2 = 10 min.
    assert figures(march.row("escalation")) == (2, 1, 6 * M, 10 * M)
    assert march.row("escalation").share == pytest.approx(0.5)


def test_resolution_against_each_priority(march: report.SlaReport) -> None:
    # T1 9 h (sedang, ok), T2 2 h and 2.5 h (tinggi, ok: LKPP's day not counted), T3 4 h (rendah, ok),
    # T4 3 h (sedang, ok) -> sorted 2 2.5 3 4 9: median 3 h, p90 rank 5 = 9 h.
    assert figures(march.row("resolution")) == (5, 5, 3 * H, 9 * H)
    assert figures(march.row("resolution", "tinggi")) == (2, 2, 2 * H + 15 * M, 2 * H + 30 * M)
    assert figures(march.row("resolution", "sedang")) == (2, 2, 6 * H, 9 * H)
    assert figures(march.row("resolution", "rendah")) == (1, 1, 4 * H, 4 * H)
    assert march.row("resolution", "tinggi").standard.duration == 8 * H  # type: ignore[union-attr]


def test_escalations_to_lkpp_and_reopen_rate(march: report.SlaReport) -> None:
    e = march.escalations
    assert (e.count, e.answered, e.taken_back, e.pending, e.median, e.p90) == (2, 1, 0, 1, 8 * H, 8 * H)
    # LKPP's turnaround is apart from the LPSE steps, against its own standard (2 working days).
    assert (e.turns, e.within, e.standard.duration) == (1, 1, 16 * H)  # type: ignore[union-attr]
    assert "lkpp_turnaround" not in {r.measure for r in march.rows}
    assert (march.reopen.closed, march.reopen.reopened) == (5, 1)  # T2's first close was reopened
    assert march.reopen.rate == pytest.approx(0.2)


def test_an_empty_period() -> None:
    empty = aggregate(HISTORIES, start=wib(2027, 1, 1, 0, 0), end=wib(2027, 2, 1, 0, 0), policy=SlaPolicy(),
                      calendar=CAL, resolution_hours=HOURS, levels=LEVELS)
    assert empty.opened == 0 and empty.row("analysis").share is None and empty.reopen.rate is None
    for fmt in report.FORMATS:
        assert report.render(empty, fmt)


# ---- the four formats ----------------------------------------------------------------------------


def test_table(march: report.SlaReport) -> None:
    text = report.format_table(march, zone_name="WIB")
    assert "01-03-2026 s.d. 31-03-2026 (WIB): 5 tiket baru" in text
    assert re.search(r"Analisis \(langkah 7\)\s+semua\s+6\s+83\.3%\s+3 j 30 mnt\s+9 j 00 mnt\s+8 jam kerja", text)
    assert "Dibuka kembali: 1 dari 5 penutupan (20.0%)" in text
    assert "Eskalasi ke LKPP: 2, dijawab 1, ditarik/ditutup LPSE 0, belum 1" in text
    assert ("Tanggapan Helpdesk LKPP (di luar langkah LPSE): 1 tanggapan, sesuai standar 100.0%, median 8 j 00 mnt, "
            "p90 8 j 00 mnt; standar 16 jam kerja") in text


def test_csv(march: report.SlaReport) -> None:
    rows = list(csv.DictReader(io.StringIO(report.format_csv(march))))
    analysis = next(r for r in rows if r["measure"] == "analysis" and r["priority"] == ALL)
    assert (analysis["count"], analysis["within_standard"], analysis["share_within_pct"]) == ("6", "5", "83.3")
    assert (analysis["median_minutes"], analysis["p90_minutes"], analysis["standard_minutes"]) == (
        "210.00", "540.00", "480.00")
    lkpp = next(r for r in rows if r["measure"] == "lkpp_turnaround")
    assert lkpp["count"] == "1" and lkpp["median_minutes"] == "480.00" and lkpp["standard_minutes"] == "960.00"
    assert lkpp["within_standard"] == "1" and lkpp["working_time"] == "true"
    assert next(r for r in rows if r["measure"] == "reopened")["rate_pct"] == "20.0"


def test_json(march: report.SlaReport) -> None:
    data = json.loads(report.format_json(march))
    [close] = [s for s in data["steps"] if s["measure"] == "close" and s["priority"] == ALL]
    assert close["count"] == 5 and close["median_seconds"] == 300 and close["p90_seconds"] == 900
    assert data["escalations"] == {"count": 2, "answered": 1, "taken_back": 0, "pending": 1,
                                   "turnaround_median_seconds": 28800, "turnaround_p90_seconds": 28800, "turns": 1,
                                   "turns_within_standard": 1, "share_within": 1.0, "standard_seconds": 57600,
                                   "working_time": True}
    assert data["reopen"]["rate"] == pytest.approx(0.2) and data["autoclosed"] == 1


def test_html_has_an_inline_chart_and_nothing_external(march: report.SlaReport) -> None:
    page = report.format_html(march, title="Laporan Maret 2026", zone_name="WIB")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "</svg>" in page
    assert "<script" not in page.lower() and "<link" not in page.lower() and "src=" not in page
    assert re.findall(r"https?://[^\"]+", page) == ["http://www.w3.org/2000/svg"]  # the SVG namespace only
    assert "83%" in page and "(n=6)" in page  # the analysis bar
    assert "Penyelesaian tinggi" in page and "Laporan Maret 2026" in page
    # LKPP's turnaround has its bar too: 1 answer, within its 2 working days.
    chart = page[page.index("<svg"):page.index("</svg>")]
    assert "Tanggapan Helpdesk LKPP (langkah 10)" in chart and "100% (n=1)" in chart


# ---- from the database, through the CLI ------------------------------------------------------------


def test_cli_reads_the_database(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(f"""
[helpdesk]
name = "Helpdesk LPSE Uji"
address = "helpdesk@lpse.test"
[imap]
host = "127.0.0.1"
port = 993
username = "helpdesk@lpse.test"
password = "x"
[smtp]
host = "127.0.0.1"
port = 587
username = "helpdesk@lpse.test"
password = "x"
[staff]
addresses = ["staf1@lpse.test"]
[escalation]
lkpp_address = "helpdesk@lkpp.test"
[database]
url = "{db_url}"
""")
    engine = store.make_engine(db_url)
    store.upgrade(engine)
    with store.make_sessionmaker(engine).begin() as session:
        for h in HISTORIES:
            at = h.events[0].at
            t = Ticket(number=h.number, state="closed", priority=h.priority, category="x", subject=h.number,
                       requester="u@vendor.test", missing=[], opened_at=at, updated_at=at)
            session.add(t)
            session.flush()
            for e in h.events:
                session.add(TicketEvent(ticket_id=t.id, kind=e.kind, at=e.at, actor=e.actor, detail="",
                                        sop_step=e.sop_step, data=e.data))
    assert cli.main(["--config", str(config), "report", "sla", "--from", "2026-03-01", "--to", "2026-03-31",
                     "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["opened"] == 5 and data["reopen"] == {"closed": 5, "reopened": 1, "rate": 0.2}
    [analysis] = [s for s in data["steps"] if s["measure"] == "analysis" and s["priority"] == ALL]
    assert (analysis["count"], analysis["within_standard"]) == (6, 5)
    assert cli.main(["--config", str(config), "report", "sla", "--from", "2026-03-01", "--to", "2026-03-31",
                     "--format", "html"]) == 0
    assert "<svg" in capsys.readouterr().out
    assert cli.main(["--config", str(config), "report", "sla", "--from", "2026-03-31", "--to", "2026-03-01"]) == 2


def test_user_ratings_in_the_period() -> None:
    rated = [
        TicketHistory("R1", "rendah", opened(wib(2026, 3, 2, 9, 0)) + [
            closed(wib(2026, 3, 2, 10, 0), None), Ev("rated", wib(2026, 3, 2, 11, 0), data={"rating": 5})]),
        TicketHistory("R2", "rendah", opened(wib(2026, 3, 3, 9, 0)) + [
            closed(wib(2026, 3, 3, 10, 0), None), Ev("rated", wib(2026, 3, 3, 11, 0), data={"rating": 2})]),
        # Rated in April: outside the March report.
        TicketHistory("R3", "rendah", opened(wib(2026, 3, 4, 9, 0)) + [
            closed(wib(2026, 3, 4, 10, 0), None), Ev("rated", wib(2026, 4, 2, 11, 0), data={"rating": 1})]),
    ]
    r = aggregate(rated, start=START, end=END, policy=SlaPolicy(), calendar=CAL, resolution_hours=HOURS,
                  levels=LEVELS)
    assert r.ratings == (5, 2) and r.rating_average == 3.5
    assert "Penilaian pengguna: 2, rata-rata 3.50 dari 5" in report.format_table(r)
    assert report.as_dict(r)["ratings"] == {"count": 2, "average": 3.5,
                                             "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}}
