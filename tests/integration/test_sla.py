"""SLA clocks, driven by the clock: deadlines, pause/resume, warnings once, reminders and auto-close.

The first half tests the pure core (``mailbot.core.sla``) on scripted events; the second half drives
``sla_service`` on a real SQLite database fed with real mails through ``process_raw`` (no
mail server: the outbox is inspected instead of delivered).
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailbot.core import sla
from mailbot.core.domain import TicketState
from mailbot.core.sla import SlaPolicy, Standard, evaluate, measure
from mailbot.core.worktime import WorkCalendar
from mailbot.service import deadlines, sla_jobs
from mailbot.service.app import App, build_app
from mailbot.service.inbound import process_raw
from mailbot.settings.config import Settings
from mailbot.storage.models import Outbox, SlaNotice, Ticket
from tests.support.sla_events import Ev, opened, wib

CAL = WorkCalendar()
POLICY = SlaPolicy()
H = timedelta(hours=1)
M = timedelta(minutes=1)
ROOT = Path(__file__).resolve().parents[2]


def data_received(at: datetime) -> list[Ev]:
    return [Ev("user_replied", at), Ev("data_received", at, 6), Ev("analysis_started", at, 7)]


def status(events: list[Ev], state: str, now: datetime, *, hours: float | None = 8, sent: set[str] | None = None,
           policy: SlaPolicy = POLICY, calendar: WorkCalendar = CAL) -> sla.SlaStatus:
    return evaluate(events, state=state, resolution_hours=hours, policy=policy, calendar=calendar, now=now,
                    sent=sent or set())


# ---- deadlines ---------------------------------------------------------------------------------


def test_resolution_and_analysis_deadlines_in_working_time() -> None:
    events = opened(wib(2026, 3, 2, 9, 0))  # Monday
    st = status(events, "analysis", wib(2026, 3, 2, 9, 0), hours=24)  # "sedang": 24 working hours
    resolution, analysis = st.clock("resolution"), st.clock("analysis")
    assert resolution is not None and analysis is not None
    assert resolution.due_at == wib(2026, 3, 5, 9, 0)  # 7 + 8 + 8 + 1 hours
    assert analysis.due_at == wib(2026, 3, 3, 9, 0)  # one working day
    assert [m.at for m in analysis.marks] == [wib(2026, 3, 2, 15, 0), wib(2026, 3, 3, 9, 0)]  # 75 %, 100 %
    assert st.step_due is analysis


def test_deadline_across_a_weekend_and_a_public_holiday() -> None:
    # Friday 14 Aug 2026 10:00, "tinggi" (8 working hours); Monday 17 Aug is Independence Day.
    st = status(opened(wib(2026, 8, 14, 10, 0)), "analysis", wib(2026, 8, 14, 10, 0), hours=8)
    assert st.clock("resolution").due_at == wib(2026, 8, 18, 10, 0)  # type: ignore[union-attr]


def test_after_hours_arrival_is_due_after_the_next_opening() -> None:
    events = opened(wib(2026, 3, 2, 20, 30), missing=True)  # Monday evening, data missing
    st = status(events, "waiting_user", wib(2026, 3, 2, 21, 0))
    call = st.clock("call")
    assert call is not None and call.due_at == wib(2026, 3, 3, 8, 5)
    assert call.marks[0].at == wib(2026, 3, 3, 8, 3, 45)  # 75 % of five minutes
    assert st.actions == () and st.next_at == wib(2026, 3, 3, 8, 3, 45)


@pytest.mark.parametrize(("zone", "due_utc"), [
    ("Asia/Jakarta", datetime(2026, 3, 3, 8, 30, tzinfo=timezone.utc)),  # 15:30 WIB Tuesday
    ("Asia/Makassar", datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc)),  # 16:00 WITA Tuesday
    ("Asia/Jayapura", datetime(2026, 3, 3, 7, 0, tzinfo=timezone.utc)),  # 16:00 WIT Tuesday
])
def test_each_time_zone(zone: str, due_utc: datetime) -> None:
    arrival = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)  # 15:30 WIB, 16:30 WITA, 17:30 WIT
    st = status(opened(arrival), "analysis", arrival, calendar=WorkCalendar(zone=ZoneInfo(zone)))
    assert st.clock("analysis").due_at == due_utc  # type: ignore[union-attr]


def test_calendar_time_standard() -> None:
    policy = SlaPolicy(standards={**sla.sop_standards(), "analysis": Standard(24 * H, working=False)})
    st = status(opened(wib(2026, 3, 6, 15, 0)), "analysis", wib(2026, 3, 6, 15, 0), policy=policy)
    assert st.clock("analysis").due_at == wib(2026, 3, 7, 15, 0)  # type: ignore[union-attr]  # a Saturday


# ---- pause and resume -----------------------------------------------------------------------------


def test_clock_pauses_while_waiting_for_the_users_data() -> None:
    t0 = wib(2026, 3, 2, 9, 0)
    events = opened(t0, missing=True)
    waiting = status(events, "waiting_user", wib(2026, 3, 3, 12, 0)).clock("resolution")
    assert waiting is not None and waiting.due_at is None and waiting.used == timedelta(0)
    assert waiting.paused_since == t0
    events += data_received(wib(2026, 3, 3, 10, 0))  # Tuesday 10:00: the data arrives, the clock starts
    running = status(events, "analysis", wib(2026, 3, 3, 12, 0)).clock("resolution")
    assert running is not None and running.due_at == wib(2026, 3, 4, 10, 0) and running.used == 2 * H


def test_pause_in_the_middle_keeps_the_time_already_used() -> None:
    events = opened(wib(2026, 3, 2, 9, 0))  # runs 9:00-11:00 (2 h)
    events += [Ev("data_requested", wib(2026, 3, 2, 11, 0), 4, {"items": ["NPWP"], "by": "s@lpse.test"}),
               Ev("call_task", wib(2026, 3, 2, 11, 0), 4)]
    paused = status(events, "waiting_user", wib(2026, 3, 4, 9, 0))
    resolution = paused.clock("resolution")
    assert resolution is not None and resolution.used == 2 * H and resolution.due_at is None
    assert paused.clock("analysis") is None  # the data request ended the analysis period
    events += data_received(wib(2026, 3, 4, 9, 0))  # Wednesday: 6 of 8 hours left
    resumed = status(events, "analysis", wib(2026, 3, 4, 9, 0)).clock("resolution")
    assert resumed is not None and resumed.due_at == wib(2026, 3, 4, 15, 0)
    assert resumed.marks[0].at == wib(2026, 3, 4, 13, 0)  # 75 % = 6 h: 2 before the pause + 4 after


def test_closed_time_does_not_count_and_a_reopen_resumes() -> None:
    events = opened(wib(2026, 3, 2, 9, 0))
    events.append(Ev("closed", wib(2026, 3, 2, 13, 0), 9))  # 4 h used
    closed = status(events, "closed", wib(2026, 3, 9, 9, 0))
    assert closed.clocks == (closed.clock("resolution"),) and closed.next_at is None
    events += [Ev("reopened", wib(2026, 3, 9, 9, 0)), Ev("analysis_started", wib(2026, 3, 9, 9, 0), 7)]
    again = status(events, "analysis", wib(2026, 3, 9, 9, 0))
    assert again.clock("resolution").due_at == wib(2026, 3, 9, 13, 0)  # type: ignore[union-attr]
    assert again.clock("analysis").due_at == wib(2026, 3, 10, 9, 0)  # type: ignore[union-attr]  # a new period


def test_raising_the_priority_brings_the_deadline_closer() -> None:
    events = opened(wib(2026, 3, 2, 9, 0))
    assert status(events, "analysis", wib(2026, 3, 2, 10, 0), hours=72).actions == ()
    st = status(events, "analysis", wib(2026, 3, 2, 16, 0), hours=8)  # now "tinggi": 7 of 8 h used
    assert [(a.kind, a.clock, a.percent) for a in st.actions] == [
        ("warning", "analysis", 75), ("warning", "resolution", 75)]


# ---- warnings fire once --------------------------------------------------------------------------


def test_warning_then_breach_each_once() -> None:
    events = opened(wib(2026, 3, 2, 9, 0))
    assert status(events, "analysis", wib(2026, 3, 2, 14, 59), hours=None).actions == ()
    st = status(events, "analysis", wib(2026, 3, 2, 15, 0), hours=None)
    [warning] = st.actions
    assert (warning.kind, warning.clock, warning.percent) == ("warning", "analysis", 75)
    assert warning.deadline == wib(2026, 3, 3, 9, 0)
    sent = {warning.key}
    quiet = status(events, "analysis", wib(2026, 3, 2, 15, 30), hours=None, sent=sent)
    assert quiet.actions == () and quiet.next_at == wib(2026, 3, 3, 9, 0)
    [breach] = status(events, "analysis", wib(2026, 3, 3, 9, 0), hours=None, sent=sent).actions
    assert breach.kind == "breach" and breach.percent == 100 and breach.covers == ()
    sent.add(breach.key)
    after = status(events, "analysis", wib(2026, 3, 10, 9, 0), hours=None, sent=sent)
    assert after.actions == () and after.next_at is None


def test_thresholds_passed_together_give_one_mail() -> None:
    events = opened(wib(2026, 3, 2, 9, 0))
    policy = SlaPolicy(warn_at=(0.5, 0.75))
    [only] = status(events, "analysis", wib(2026, 3, 4, 9, 0), hours=None, policy=policy).actions
    assert only.kind == "breach" and len(only.covers) == 2  # 50 % and 75 % recorded, not sent


def test_a_new_analysis_period_warns_again() -> None:
    events = opened(wib(2026, 3, 2, 9, 0))
    first = status(events, "analysis", wib(2026, 3, 2, 15, 0), hours=None).actions[0]
    events += [Ev("data_requested", wib(2026, 3, 2, 15, 10), 4, {"items": ["x"], "by": "s"})]
    events += data_received(wib(2026, 3, 3, 9, 0))
    second = status(events, "analysis", wib(2026, 3, 3, 15, 0), hours=None, sent={first.key}).actions
    assert [a.kind for a in second] == ["warning"] and second[0].key != first.key


def test_a_paused_clock_warns_nobody() -> None:
    events = opened(wib(2026, 3, 2, 9, 0))
    events += [Ev("data_requested", wib(2026, 3, 2, 15, 30), 4, {"items": ["x"], "by": "s"})]  # 6.5 of 8 h used
    quiet = SlaPolicy(reminder_days=0, autoclose_days=0)
    st = status(events, "waiting_user", wib(2026, 3, 3, 9, 0), hours=8, policy=quiet)
    assert st.actions == () and st.next_at is None


def test_unclassified_mail_starts_the_priority_clock_until_staff_decide() -> None:
    events = opened(wib(2026, 3, 2, 9, 0), matched=False)
    st = status(events, "analysis", wib(2026, 3, 2, 9, 4), hours=None)
    assert st.clock("priority").due_at == wib(2026, 3, 2, 9, 5)  # type: ignore[union-attr]
    assert [a.clock for a in st.actions] == ["priority"]
    events.append(Ev("priority_override", wib(2026, 3, 2, 9, 4, 30), 2, {"from": "sedang", "to": "tinggi"}))
    assert status(events, "analysis", wib(2026, 3, 2, 9, 6), hours=None).clock("priority") is None


def test_call_task_ends_with_the_call_or_with_the_data() -> None:
    events = opened(wib(2026, 3, 2, 9, 0), missing=True)
    assert status(events, "waiting_user", wib(2026, 3, 2, 9, 1)).clock("call") is not None
    called = [*events, Ev("called", wib(2026, 3, 2, 9, 3), 4)]
    assert status(called, "waiting_user", wib(2026, 3, 2, 9, 10)).clock("call") is None
    answered = events + data_received(wib(2026, 3, 2, 9, 2))
    assert status(answered, "analysis", wib(2026, 3, 2, 9, 10)).clock("call") is None


# ---- reminders and auto-close --------------------------------------------------------------------


def test_reminder_then_autoclose_on_the_right_working_days() -> None:
    policy = SlaPolicy(reminder_days=2, autoclose_days=3)
    events = opened(wib(2026, 3, 2, 10, 0), missing=True)  # Monday 10:00
    before = status(events, "waiting_user", wib(2026, 3, 4, 9, 59), policy=policy, sent={"x"})
    assert before.waiting.remind_at == wib(2026, 3, 4, 10, 0)  # type: ignore[union-attr]  # Wednesday
    assert [a.kind for a in before.actions if a.clock == "waiting"] == []
    due = status(events, "waiting_user", wib(2026, 3, 4, 10, 0), policy=policy)
    [reminder] = [a for a in due.actions if a.kind == "reminder"]
    events.append(Ev("reminder_sent", wib(2026, 3, 4, 10, 1), 4))  # the tick ran a minute later
    sent = {key for a in due.actions for key in (a.key, *a.covers)}  # as the tick records them
    after = status(events, "waiting_user", wib(2026, 3, 9, 10, 0), policy=policy, sent=sent)
    assert after.waiting.autoclose_at == wib(2026, 3, 9, 10, 1)  # type: ignore[union-attr]  # Thu, Fri, Mon
    assert not [a for a in after.actions if a.clock == "waiting"] and after.next_at == wib(2026, 3, 9, 10, 1)
    [close] = status(events, "waiting_user", wib(2026, 3, 9, 10, 1), policy=policy, sent=sent).actions
    assert close.kind == "autoclose"


def test_reminder_skips_holidays() -> None:
    events = opened(wib(2026, 5, 13, 10, 0), missing=True)  # Wed; Thu Ascension, Fri cuti bersama
    st = status(events, "waiting_user", wib(2026, 5, 13, 10, 0))
    assert st.waiting.remind_at == wib(2026, 5, 19, 10, 0)  # type: ignore[union-attr]  # Mon (1), Tue (2)


def test_a_long_outage_reminds_first_and_closes_later() -> None:
    events = opened(wib(2026, 3, 2, 10, 0), missing=True)
    late = status(events, "waiting_user", wib(2026, 4, 30, 10, 0), sent={"call@x"})
    assert "reminder" in [a.kind for a in late.actions] and "autoclose" not in [a.kind for a in late.actions]


def test_reminders_can_be_switched_off() -> None:
    policy = SlaPolicy(reminder_days=0, autoclose_days=0)
    st = status(opened(wib(2026, 3, 2, 10, 0), missing=True), "waiting_user", wib(2026, 6, 1, 10, 0), policy=policy)
    assert st.waiting.remind_at is None and st.waiting.autoclose_at is None  # type: ignore[union-attr]
    assert [a.kind for a in st.actions] == ["breach"]  # only the (overdue) telephone call


# ---- measuring and statistics --------------------------------------------------------------------


def test_measure_a_scripted_ticket() -> None:
    t0 = wib(2026, 3, 2, 9, 0)
    events = opened(t0, missing=True) + [Ev("called", t0 + 3 * M, 4)] + data_received(wib(2026, 3, 3, 9, 0)) + [
        Ev("closed", wib(2026, 3, 3, 12, 0), 9, {"written_at": wib(2026, 3, 3, 11, 45).isoformat()})]
    got = {(s.measure, s.took, s.within) for s in measure(events, priority="tinggi", policy=POLICY, calendar=CAL,
                                                           resolution_hours={"tinggi": 8})}
    assert got == {("priority", timedelta(0), True), ("data_request", timedelta(0), True), ("call", 3 * M, True),
                   ("analysis", 3 * H, True), ("close", 15 * M, False), ("resolution", 3 * H, True)}


def test_median_and_percentile() -> None:
    values = [timedelta(minutes=m) for m in (5, 1, 4, 2, 3, 10, 6, 7, 8, 9)]
    assert sla.median(values) == timedelta(minutes=5, seconds=30)
    assert sla.percentile(values, 90) == timedelta(minutes=9)  # rank ceil(9) of 10
    assert sla.percentile(values[:5], 90) == timedelta(minutes=5)  # rank ceil(4.5) = 5 of 5
    assert sla.median([]) is None and sla.percentile([], 90) is None


def test_describe_in_indonesian() -> None:
    assert sla.describe(5 * M, working=True) == "5 menit kerja"
    assert sla.describe(26 * H + 5 * M, working=True) == "26 jam 5 menit kerja"
    assert sla.describe(26 * H, working=False) == "1 hari 2 jam"


# ==== sla_service on a real database ==============================================================

HELPDESK = "helpdesk@lpse.test"
STAFF = ["staf1@lpse.test", "staf2@lpse.test"]
COORDINATOR = "koordinator@lpse.test"
USER = "budi@vendor.test"
COMPLETE = ("Jadwal pelatihan SPSE", "Kapan jadwal pelatihan SPSE untuk penyedia bulan depan?")
# a blocked bid with its deadline today: tinggi (issue 21: without the deadline it is sedang)
MISSING = ("Gagal upload penawaran", "Saya penyedia, gagal upload dokumen penawaran di SPSE, muncul error. "
                                     "Batas akhir penawaran hari ini pukul 16.00. HP 0812-3456-7890")


@pytest.fixture
def app(db_url: str) -> Iterator[App]:
    """A deployment on the test database (SQLite, or PostgreSQL with MAILBOT_TEST_DB)."""
    settings = Settings.model_validate({
        "helpdesk": {"name": "Helpdesk LPSE Uji", "address": HELPDESK, "secret": "uji-rahasia-panjang-0123456789"},
        "imap": {"host": "127.0.0.1", "port": 993, "username": HELPDESK, "password": "x"},
        "smtp": {"host": "127.0.0.1", "port": 587, "username": HELPDESK, "password": "x"},
        "staff": {"addresses": STAFF, "coordinator": COORDINATOR},
        "escalation": {"lkpp_address": "helpdesk@lkpp.test"},
        "database": {"url": db_url},
    })
    yield build_app(settings)


_counter = iter(range(1_000_000))


def inbound(subject: str, body: str, at: datetime, *, sender: str = USER, reply_to: EmailMessage | None = None,
            to: str = HELPDESK) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Budi <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = f"<m{next(_counter)}.{int(at.timestamp())}@{sender.partition('@')[2]}>"
    if reply_to is not None:
        msg["In-Reply-To"] = reply_to["Message-ID"]
        msg["References"] = reply_to["Message-ID"]
    msg.set_content(body)
    return msg.as_bytes()


def open_ticket(app: App, mail: tuple[str, str], at: datetime) -> Ticket:
    outcome = process_raw(app, inbound(*mail, at), at)
    assert outcome.kind == "opened", outcome
    return ticket(app, outcome.ticket_number or "")


def ticket(app: App, number: str) -> Ticket:
    with app.factory() as session:
        found = session.scalar(select(Ticket).where(Ticket.number == number))
        assert found is not None
        return found


def outbox(app: App, since_id: int = 0) -> list[tuple[list[str], str, str]]:
    """(recipients, subject, text) of the queued mails, oldest first."""
    with app.factory() as session:
        rows = session.scalars(select(Outbox).where(Outbox.id > since_id).order_by(Outbox.id)).all()
        out = []
        for row in rows:
            msg = email.message_from_bytes(row.raw, policy=email.policy.default)
            body = msg.get_body(("plain",))
            out.append((row.recipients, " ".join(str(msg["Subject"]).split()),
                        body.get_content() if body is not None else ""))
        return out


def last_outbox_id(app: App) -> int:
    with app.factory() as session:
        return session.scalar(select(Outbox.id).order_by(Outbox.id.desc()).limit(1)) or 0


def test_tick_warns_the_staff_once_then_tells_the_coordinator(app: App) -> None:
    t0 = wib(2026, 3, 2, 9, 0)  # Monday; "Jadwal pelatihan" is complete: analysis runs one working day
    number = open_ticket(app, COMPLETE, t0).number or ""
    assert sla_jobs.tick(app, t0).warnings == 0  # first refresh: nothing due yet
    stored = ticket(app, number)
    assert stored.analysis_due_at == wib(2026, 3, 3, 9, 0) and stored.sla_next_at == wib(2026, 3, 2, 15, 0)
    mark = last_outbox_id(app)
    assert sla_jobs.tick(app, wib(2026, 3, 2, 14, 0)).checked == 0  # not due: the ticket is not even read
    result = sla_jobs.tick(app, wib(2026, 3, 2, 15, 0))
    assert (result.warnings, result.breaches, result.tickets) == (1, 0, [number])
    [(to, subject, text)] = outbox(app, mark)
    assert to == STAFF and "Peringatan waktu 75%" in subject and "Analisis (langkah 7)" in subject
    assert "03-03-2026 09:00 WIB" in text and "#tutup" in text
    assert "Tindakan: selesaikan analisis" in text  # the to-do per clock is the template's text
    for minute in range(1, 30):  # ticking every minute sends nothing more
        assert sla_jobs.tick(app, wib(2026, 3, 2, 15, minute)).warnings == 0
    breach = sla_jobs.tick(app, wib(2026, 3, 3, 9, 0))
    assert breach.breaches == 1
    [(to, subject, _)] = outbox(app, mark)[1:]
    assert to == [COORDINATOR] and "Standar waktu terlewati" in subject
    assert sla_jobs.tick(app, wib(2026, 3, 3, 9, 1)).breaches == 0
    events = service_events(app, number)
    kinds = [e.kind for e in events]
    assert kinds.count("sla_warning") == 1 and kinds.count("sla_breach") == 1
    # Decided by workflow (SlaNoticeDue), recorded for the clock, with whom it told.
    [warning] = [e for e in events if e.kind == "sla_warning"]
    assert warning.actor == "mailbot" and warning.sop_step == 7 and warning.data["to"] == STAFF


def service_events(app: App, number: str) -> list[Any]:
    with app.factory() as session:
        t = session.scalar(select(Ticket).where(Ticket.number == number))
        assert t is not None
        return list(t.events)


def test_a_second_process_cannot_send_the_same_warning(app: App) -> None:
    t0 = wib(2026, 3, 2, 9, 0)
    t = open_ticket(app, COMPLETE, t0)
    with app.factory.begin() as session:  # as if another process had just sent it
        session.add(SlaNotice(key=f"t{t.id}/" + sla.notice_key("analysis", t0, "75"), ticket_id=t.id,
                              kind="warning", clock="analysis", at=t0))
    assert sla_jobs.tick(app, wib(2026, 3, 2, 15, 0)).warnings == 0


def test_reminder_and_autoclose_reach_the_user_and_a_reply_reopens(app: App) -> None:
    t0 = wib(2026, 3, 2, 10, 0)  # Monday; data is missing: the ticket waits for the user
    t = open_ticket(app, MISSING, t0)
    number = t.number or ""
    assert t.state == "waiting_user"
    with app.factory.begin() as session:  # staff made the call in time: no call warnings in this test
        session.add(service_events_row(t.id, "called", t0 + M))
    sla_jobs.tick(app, t0 + 2 * M)
    stored = ticket(app, number)
    assert stored.paused_since == t0 and stored.due_at is None
    assert stored.remind_at == wib(2026, 3, 4, 10, 0)
    mark = last_outbox_id(app)
    assert sla_jobs.tick(app, wib(2026, 3, 4, 9, 59)).reminders == 0
    assert sla_jobs.tick(app, wib(2026, 3, 4, 10, 0)).reminders == 1
    [(to, subject, text)] = outbox(app, mark)
    assert to == [USER] and "Pengingat" in subject and "Kode tender" in text
    assert "09-03-2026 10:00 WIB" in text  # when it will be closed: three working days later
    assert sla_jobs.tick(app, wib(2026, 3, 5, 10, 0)).reminders == 0  # once
    assert sla_jobs.tick(app, wib(2026, 3, 9, 9, 59)).autoclosed == 0
    assert sla_jobs.tick(app, wib(2026, 3, 9, 10, 0)).autoclosed == 1
    closed = ticket(app, number)
    assert closed.state == "closed" and closed.closed_by is None and closed.sla_next_at is None
    [(to, subject, text)] = outbox(app, mark)[1:]
    assert to == [USER] and "ditutup" in subject and "cukup balas e-mail ini" in text
    # Decided by workflow (ReminderDue, AutoCloseDue), recorded for the clock.
    clock_events = [e for e in service_events(app, number) if e.kind in {"reminder_sent", "closed"}]
    assert [(e.kind, e.actor, e.sop_step) for e in clock_events] == [("reminder_sent", "mailbot", 4),
                                                                   ("closed", "mailbot", 9)]
    assert clock_events[1].data["auto"] is True and clock_events[1].data["from_state"] == "waiting_user"
    # The user answers after all: the ticket reopens for all staff, the clock resumes.
    reply = inbound(f"Re: [{number}] Gagal upload", "Kode tender: 10234567", wib(2026, 3, 10, 9, 0))
    assert process_raw(app, reply, wib(2026, 3, 10, 9, 0)).kind == "updated"
    sla_jobs.tick(app, wib(2026, 3, 10, 9, 0))
    again = ticket(app, number)
    assert again.state == "analysis" and again.due_at == wib(2026, 3, 11, 9, 0)  # tinggi: 8 working hours


def service_events_row(ticket_id: int, kind: str, at: datetime) -> Any:
    from mailbot.storage.models import TicketEvent

    return TicketEvent(ticket_id=ticket_id, kind=kind, at=at, actor=STAFF[0], detail="", sop_step=4, data={})


def test_call_warning_goes_to_the_assignee_only(app: App) -> None:
    t0 = wib(2026, 3, 2, 10, 0)
    t = open_ticket(app, MISSING, t0)
    with app.factory.begin() as session:
        session.get(Ticket, t.id).assignee = STAFF[1]  # type: ignore[union-attr]
    mark = last_outbox_id(app)
    result = sla_jobs.tick(app, t0 + 4 * M)
    assert result.warnings == 1
    [(to, subject, text)] = outbox(app, mark)
    assert to == [STAFF[1]] and "Konfirmasi telepon" in subject and "#telepon" in text


def test_digest_lists_open_tickets_deadlines_and_calls_once_a_working_day(app: App) -> None:
    open_ticket(app, COMPLETE, wib(2026, 3, 2, 9, 0))
    open_ticket(app, MISSING, wib(2026, 3, 4, 9, 0))
    mark = last_outbox_id(app)
    assert not sla_jobs.digest(app, wib(2026, 3, 7, 7, 30))  # Saturday: no digest
    assert sla_jobs.digest(app, wib(2026, 3, 5, 7, 30))  # Thursday
    assert not sla_jobs.digest(app, wib(2026, 3, 5, 8, 30))  # once a day
    [(to, subject, text)] = outbox(app, mark)
    assert to == [*STAFF, COORDINATOR]
    assert "2 tiket terbuka" in subject
    # Ages in whole working days: Monday 09:00 -> Thursday 07:30 is 2, Wednesday 09:00 -> 0.
    assert "- Rendah: 1 tiket (umur dalam hari kerja: hari ini 0, 1-2 hari 1, 3-5 hari 0" in text
    assert "- Tinggi: 1 tiket (umur dalam hari kerja: hari ini 1, 1-2 hari 0" in text
    assert "- Sedang: 0 tiket" in text
    near = text.split("Mendekati")[1].split("Telepon konfirmasi")[0]
    assert "Analisis (langkah 7): batas 03-03-2026 09:00 WIB (TERLEWATI)" in near
    assert "Konfirmasi telepon (langkah 4): batas 04-03-2026 09:05 WIB (TERLEWATI)" in near
    calls = text.split("Telepon konfirmasi")[1].split("Menunggu data")[0]
    assert "+6281234567890" in calls and "sejak 04-03-2026 09:00 WIB" in calls  # the call still to make
    waiting = text.split("Menunggu data dari pengguna")[1]
    assert "pengingat 06-03-2026 09:00 WIB, ditutup otomatis 11-03-2026 09:00 WIB" in waiting


def test_refresh_deadlines_stores_the_columns(app: App) -> None:
    t0 = wib(2026, 3, 2, 9, 0)
    t = open_ticket(app, COMPLETE, t0)
    with app.factory.begin() as session:
        row = session.get(Ticket, t.id)
        assert row is not None
        deadlines.refresh_deadlines(session, row, app, t0)
    stored = ticket(app, t.number or "")
    assert stored.analysis_due_at == wib(2026, 3, 3, 9, 0)
    assert stored.due_at == wib(2026, 3, 13, 9, 0)  # "rendah": 72 working hours
    assert stored.sla_checked_at is not None and stored.call_due_at is None and stored.remind_at is None


def test_config_section_builds_the_calendar_and_policy(tmp_path: Path) -> None:
    settings = Settings.model_validate({
        "helpdesk": {"name": "H", "address": HELPDESK, "timezone": "Asia/Jayapura"},
        "imap": {"host": "h", "port": 993, "username": "u", "password": "x"},
        "smtp": {"host": "h", "port": 587, "username": "u", "password": "x"},
        "staff": {"addresses": STAFF}, "escalation": {"lkpp_address": "l@lkpp.test"},
        "sla": {"work_start": "07:30", "work_end": "15:30", "extra_holidays": ["2026-03-03"], "warn_at": [50, 90],
                "standards": {"analysis": {"days": 2}, "close": {"minutes": 10, "working": False}}},
    })
    cal = deadlines.calendar_for(settings)
    policy = deadlines.policy_for(settings, cal)
    assert cal.zone == ZoneInfo("Asia/Jayapura") and not cal.is_working_day(datetime(2026, 3, 3).date())
    assert policy.standards["analysis"].duration == 16 * H and policy.standards["analysis"].working
    assert policy.standards["close"] == Standard(10 * M, working=False)
    assert policy.warn_at == (0.5, 0.9) and policy.standards["priority"].duration == 5 * M


def test_state_enum_and_strings_are_both_accepted() -> None:
    events = opened(wib(2026, 3, 2, 9, 0))
    a = status(events, "analysis", wib(2026, 3, 2, 9, 0))
    b = evaluate(events, state=TicketState.ANALYSIS, resolution_hours=8, policy=POLICY, calendar=CAL,
                 now=wib(2026, 3, 2, 9, 0))
    assert a == b


def test_schedule_jobs_adds_the_tick_and_the_digest(app: App) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone=app.settings.helpdesk.timezone)
    sla_jobs.schedule_jobs(scheduler, app)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"sla_tick", "sla_digest"}
    assert jobs["sla_tick"].trigger.interval == timedelta(minutes=1)
    digest = jobs["sla_digest"].trigger
    assert str(digest) == "cron[hour='7', minute='30']" and str(digest.timezone) == "Asia/Jakarta"


def test_the_first_tick_runs_at_start_and_looks_at_every_open_ticket(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    calls: list[bool] = []
    monkeypatch.setattr(sla_jobs, "tick", lambda _app, _now, everything=False: calls.append(everything))
    scheduler = BackgroundScheduler(timezone=app.settings.helpdesk.timezone)
    before = datetime.now(timezone.utc)
    sla_jobs.schedule_jobs(scheduler, app)
    job = {job.id: job for job in scheduler.get_jobs()}["sla_tick"]
    assert before <= job.next_run_time <= datetime.now(timezone.utc)  # at once, not in a minute
    job.func()
    job.func()
    assert calls == [True, False]


def test_the_example_config_documents_the_defaults() -> None:
    import tomllib

    from mailbot.settings.config import SlaSettings

    example = tomllib.loads((ROOT / "config" / "mailbot.example.toml").read_text())
    assert SlaSettings.model_validate(example["sla"]) == SlaSettings()


def test_tickets_from_before_the_clock_existed_do_not_flood_the_coordinator(app: App) -> None:
    t = open_ticket(app, COMPLETE, wib(2026, 3, 2, 9, 0))
    with app.factory.begin() as session:  # as after the upgrade: never evaluated
        row = session.get(Ticket, t.id)
        assert row is not None
        row.sla_checked_at = None
        row.sla_next_at = None
    mark = last_outbox_id(app)
    result = sla_jobs.tick(app, wib(2026, 3, 20, 9, 0))  # long overdue
    assert (result.warnings, result.breaches) == (0, 0) and outbox(app, mark) == []
    assert sla_jobs.tick(app, wib(2026, 3, 20, 9, 1)).breaches == 0  # recorded: not later either
    assert ticket(app, t.number or "").analysis_due_at == wib(2026, 3, 3, 9, 0)  # still shown (digest)
