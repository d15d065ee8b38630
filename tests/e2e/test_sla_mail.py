"""Issue 5 on the real mail stack: SLA warnings, breach notices, reminders and auto-close arrive by mail.

The tickets are opened by real mail through Postfix and Dovecot; then the test drives the SLA
clock by calling ``sla_jobs.tick(app, now=<later>)`` (no sleeping) and sends the outbox at
that same moment, and reads the mails from the staff, coordinator and user mailboxes over IMAP.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from imap_tools import MailMessage

from mailbot.mail import outbox
from mailbot.service import sla_jobs
from mailbot.service.app import App, build_app
from mailbot.settings.loading import load_settings
from tests.e2e.conftest import Deployment, reply_mail
from tests.support.mailstack import unique_address

COMPLETE_SUBJECT = "Jadwal pelatihan SPSE"
COMPLETE = "Selamat pagi,\nKapan jadwal pelatihan SPSE untuk penyedia bulan depan?\nTerima kasih.\nBudi"
MISSING = ("Selamat siang, saya penyedia dan gagal upload dokumen penawaran di SPSE LPSE Kota Uji.\n"
           "Muncul pesan error \"Gagal mengunggah file\" tadi jam 10.00 pakai Chrome.\n"
           "User ID: cvmajujaya\nHP 0812-3456-7890")


class Unfolded:
    """A fetched mail whose long subject comes back folded (imap_tools keeps the CRLF): unfold it."""

    def __init__(self, message: MailMessage) -> None:
        self._message = message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._message, name)

    @property
    def subject(self) -> str:
        return " ".join(self._message.subject.split())


def answer(d: Deployment, message: MailMessage, sender: str, body: str, **kw: str) -> None:
    d.send(reply_mail(Unfolded(message), sender, body, **kw))  # type: ignore[arg-type]


def with_coordinator(d: Deployment) -> str:
    coordinator = unique_address("koord", "lpse.test")
    text = d.config_path.read_text().replace("[staff]\n", f'[staff]\ncoordinator = "{coordinator}"\n', 1)
    d.config_path.write_text(text)
    return coordinator




def tick_and_send(app: App, at: datetime) -> sla_jobs.TickResult:
    """One SLA tick at ``at``, then the outbox flushed as of ``at`` (its mails are due then)."""
    result = sla_jobs.tick(app, at)
    sent = outbox.flush(app.factory, app.settings.smtp, now=at)
    assert not sent.error, sent.error
    return result


def test_warning_reaches_the_staff_once_and_the_breach_the_coordinator(deployment: Deployment) -> None:
    d = deployment
    coordinator = with_coordinator(d)
    d.open_ticket(COMPLETE_SUBJECT, COMPLETE)
    [note] = d.wait_subject(d.staff1, "Tiket baru")
    app = build_app(load_settings(d.config_path))
    sla_jobs.tick(app, datetime.now(timezone.utc))  # stores the deadlines (if the service has not yet)
    [ticket] = d.tickets()
    assert ticket.state == "analysis" and ticket.analysis_due_at is not None
    due = ticket.analysis_due_at  # one working day after the mail arrived, on the helpdesk's calendar
    nearly = due - timedelta(minutes=1)

    result = tick_and_send(app, nearly)
    assert (result.warnings, result.breaches) == (1, 0)
    [warning] = d.wait_subject(d.staff1, "Peringatan waktu")
    d.wait_subject(d.staff2, "Peringatan waktu")  # no assignee yet: all staff are warned
    assert "Analisis (langkah 7)" in warning.subject and ticket.number in warning.subject
    assert "sudah terpakai" in warning.text and "#tutup" in warning.text
    local_due = due.astimezone(app.zone).strftime("%d-%m-%Y %H:%M")
    assert local_due in warning.text
    # The warning continues the staff thread and can be answered with commands like any notification.
    assert warning.headers["in-reply-to"][0].strip() == note.headers["message-id"][0].strip()
    assert warning.headers["reply-to"][0] == note.headers["reply-to"][0]
    assert warning.headers["auto-submitted"][0] == "auto-generated"

    for seconds in (20, 40, 50):  # the tick runs every minute: nothing more is sent
        assert tick_and_send(app, nearly + timedelta(seconds=seconds)).warnings == 0

    after = due + timedelta(minutes=1)
    assert tick_and_send(app, after).breaches == 1
    [breach] = d.wait_subject(coordinator, "Standar waktu terlewati")
    assert "Analisis (langkah 7)" in breach.text and "Koordinator" in breach.text
    assert tick_and_send(app, after + timedelta(minutes=1)).breaches == 0

    time.sleep(1)  # give a stray second mail the chance to be delivered before counting
    assert len([m for m in d.inbox(d.staff1) if "Peringatan waktu" in m.subject]) == 1
    assert len(d.inbox(coordinator)) == 1
    assert not [m for m in d.inbox(d.staff1) if "Standar waktu terlewati" in m.subject]

    # Staff answer the warning itself with a command: it is a normal, signed notification.
    answer(d, warning, d.staff1, "#tutup\nJadwal pelatihan ada di menu Pelatihan.", name="Staf")
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.wait_subject(d.user, "Selesai")
    assert d.tickets()[0].state == "closed"


def test_reminder_then_autoclose_reach_the_user_and_a_reply_reopens(deployment: Deployment) -> None:
    d = deployment
    d.open_ticket("Gagal upload penawaran", MISSING)
    d.wait_subject(d.user, "lengkapi data")
    app = build_app(load_settings(d.config_path))
    sla_jobs.tick(app, datetime.now(timezone.utc))
    [ticket] = d.tickets()
    assert ticket.state == "waiting_user" and ticket.remind_at is not None and ticket.due_at is None
    remind_at = ticket.remind_at  # two working days after the request

    assert tick_and_send(app, remind_at - timedelta(minutes=1)).reminders == 0
    assert tick_and_send(app, remind_at).reminders == 1
    [reminder] = d.wait_subject(d.user, "Pengingat")
    assert "Kode tender" in reminder.text and "cukup dengan membalas" in reminder.text
    [ticket] = d.tickets()
    assert ticket.autoclose_at is not None and ticket.remind_at is None
    assert (ticket.autoclose_at - remind_at) >= timedelta(days=3)  # three working days, at least

    assert tick_and_send(app, ticket.autoclose_at - timedelta(minutes=1)).autoclosed == 0
    assert tick_and_send(app, ticket.autoclose_at).autoclosed == 1
    [closed] = d.wait_subject(d.user, "ditutup karena data belum dilengkapi")
    assert "cukup balas e-mail ini" in closed.text
    assert d.tickets()[0].state == "closed"

    # "How to reopen: just reply" -- and it works.
    answer(d, closed, d.user, "Maaf terlambat. Kode tender: 10234567")
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.wait_subject(d.user, "dibuka kembali")
    assert d.tickets()[0].state == "analysis"
