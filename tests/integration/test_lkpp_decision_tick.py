"""An escalated ticket LKPP answered without closing: the helpdesk's decision has a deadline and one reminder.

The service on the test database (SQLite, or PostgreSQL with MAILBOT_TEST_DB): a ticket escalated by
staff, LKPP's plain answer to the signed LKPP address, then the SLA tick at chosen instants; the queued
mail is read back from the outbox, the deadline from the ticket's columns and ``tickets show``.
Mail is processed on Friday 27 November 2026 10:00 WIB; 8 working hours later is Monday 10:00 WIB.
"""

from __future__ import annotations

import email
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mailbot import cli
from mailbot.core import lkpp_decision, threads
from mailbot.service import deadlines, sla_jobs, views
from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox, SlaNotice, Ticket
from tests.integration.conftest import NOW, make_app

DUE = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)  # Monday 10:00 WIB
USER, STAFF = "budi@vendor.test", "staf@lpse.test"


def mail(sender: str, to: str, subject: str, body: str, mid: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"], msg["Message-ID"] = format_datetime(NOW), f"<{mid}>"
    msg.set_content(body)
    return msg.as_bytes()


def answered_by_lkpp(app: App) -> int:
    """Open, escalate (staff) and answer (LKPP, no keyword) one ticket; its id."""
    outcome = process_raw(app, mail(USER, "helpdesk@lpse.test", "Gagal login SPSE",
                                    "Tidak bisa login, akun terkunci. User ID: cvmaju", "u1@vendor.test"), NOW)
    assert outcome.ticket_id is not None
    staff_to = threads.reply_address("helpdesk@lpse.test", outcome.ticket_id, app.secret)
    process_raw(app, mail(STAFF, staff_to, "Re: [TTS-000001]", "#eskalasi\nMohon dicek.", "s1@lpse.test"), NOW)
    lkpp_to = threads.lkpp_reply_address("helpdesk@lpse.test", outcome.ticket_id, app.secret)
    process_raw(app, mail("officer@lkpp.test", lkpp_to, "Re: [ESKALASI TTS-000001]",
                          "Akun sudah kami buka, silakan login kembali.", "l1@lkpp.test"), NOW)
    return outcome.ticket_id


def reminders(app: App) -> list[tuple[str, str]]:
    with app.factory() as session:
        rows = session.execute(select(Outbox.to_key, Outbox.raw).order_by(Outbox.id)).all()
    out = []
    for to, raw in rows:
        msg = email.message_from_bytes(raw, policy=policy.default)
        if "Perlu keputusan" in str(msg["Subject"]):
            out.append((to, msg.get_body(("plain",)).get_content()))  # type: ignore[union-attr]
    return out


def test_the_decision_is_due_eight_working_hours_after_lkpps_answer_and_reminded_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app(tmp_path)
    ticket_id = answered_by_lkpp(app)
    with app.factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.state == "escalated" and ticket.lkpp_due_at is None
        assert ticket.next_due_at == DUE and ticket.sla_next_at == DUE  # the queue's "Batas waktu"
        assert datetime.fromisoformat(str(views.ticket_detail(ticket)["decision_due_at"])) == DUE
    assert cli.main(["tickets", "show", "TTS-000001", "--config", str(tmp_path / "mailbot.toml")]) == 0
    shown = capsys.readouterr().out
    assert "helpdesk decision 2026-11-30 10:00 WIB" in shown and lkpp_decision.STATUS_TEXT in shown
    assert "LKPP holds the ticket" not in shown and "(LKPP answered, the helpdesk decides)" in shown

    assert sla_jobs.tick(app, DUE - timedelta(minutes=1)).reminders == 0
    assert reminders(app) == []
    assert sla_jobs.tick(app, DUE).reminders == 1
    sent = reminders(app)
    assert [to for to, _ in sent] == [STAFF]  # nobody took the ticket: all staff
    assert "#tutup" in sent[0][1] and "tanyakan lagi ke Helpdesk LKPP" in sent[0][1]
    assert sla_jobs.tick(app, DUE + timedelta(days=3)).reminders == 0  # one per answer
    assert len(reminders(app)) == 1
    with app.factory() as session:
        notice = session.scalars(select(SlaNotice).where(SlaNotice.clock == lkpp_decision.CLOCK)).one()
        assert notice.kind == "decision" and notice.recipients == [STAFF]
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.state == "escalated"  # the reminder decides nothing itself

    staff_to = threads.reply_address("helpdesk@lpse.test", ticket_id, app.secret)
    process_raw(app, mail(STAFF, staff_to, "Re: [TTS-000001]", "#tutup\nSudah selesai sesuai jawaban LKPP.",
                          "s2@lpse.test"), DUE + timedelta(days=3))
    with app.factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.state == "closed" and ticket.next_due_at is None


def test_the_users_new_mail_clears_the_wait(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    ticket_id = answered_by_lkpp(app)
    process_raw(app, mail(USER, "helpdesk@lpse.test", "Re: [TTS-000001] Gagal login SPSE",
                          "Masih belum bisa login, muncul pesan akun diblokir.", "u2@vendor.test"),
                NOW + timedelta(hours=1))
    with app.factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.state == "escalated" and ticket.next_due_at != DUE
        assert [e.kind for e in ticket.events][-1] == "user_replied"  # the same ticket: it went on to LKPP
    assert sla_jobs.tick(app, DUE).reminders == 0 and reminders(app) == []


def test_the_reminder_can_be_switched_off(tmp_path: Path) -> None:
    app = make_app(tmp_path, "[sla]\nlkpp_decision_hours = 0\n")
    ticket_id = answered_by_lkpp(app)
    with app.factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.next_due_at is None
    assert sla_jobs.tick(app, DUE + timedelta(days=5)).reminders == 0 and reminders(app) == []


def test_the_daily_digest_lists_the_decision_from_lkpps_answer_on(tmp_path: Path) -> None:
    # Nothing else shows staff a ticket LKPP answered: the morning digest names it with its deadline,
    # before the reminder and after it.
    app = make_app(tmp_path)
    answered_by_lkpp(app)
    for now, breached in ((NOW + timedelta(minutes=5), False), (DUE + timedelta(hours=1), True)):
        with app.factory() as session:
            near = sla_jobs.digest_context(app, session, deadlines.Setup.of(app), now)["near"]
        [item] = [n for n in near if n["label"] == lkpp_decision.LABEL]
        assert item["number"] == "TTS-000001" and item["breached"] is breached
        assert str(item["deadline"]).startswith("30-11-2026 10:00")


def test_a_late_decision_counts_as_overdue_in_the_metrics(tmp_path: Path) -> None:
    # The collector reads the wall clock; the decision was due on 30 November 2026, long before any run.
    from mailbot.ops.metrics import DatabaseCollector

    def overdue(app: App) -> float:
        family = next(f for f in DatabaseCollector(app).collect() if f.name == "mailbot_tickets_overdue")
        return sum(s.value for s in family.samples)

    app = make_app(tmp_path)
    ticket_id = answered_by_lkpp(app)
    assert overdue(app) == 1
    staff_to = threads.reply_address("helpdesk@lpse.test", ticket_id, app.secret)
    process_raw(app, mail(STAFF, staff_to, "Re: [TTS-000001]", "#tutup\nSudah dijawab LKPP.", "s2@lpse.test"), NOW)
    assert overdue(app) == 0
