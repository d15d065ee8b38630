"""A user who says "sudah bisa, terima kasih" on an OPEN ticket, through the service on the suite's
database (SQLite, or PostgreSQL with MAILBOT_TEST_DB): the event, the clocks that stop, the headline
staff and LKPP read first, no mail to the user until staff close, the console's hint, ``tickets show``.

The deployment is the console tests' (tests/integration/test_console.py): two helpdesks, staff and
LKPP configured, a web base URL; mail goes in through ``process_raw`` and is read back from the outbox.
"""

from __future__ import annotations

import contextlib
import email
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from mailbot import cli
from mailbot.core import threads
from mailbot.service import sla_jobs
from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox, Ticket, TicketEvent
from mailbot.web.server import build_asgi
from tests.integration.test_console import KOTA, NOW, STAFF, STAFF2, Clock, deployment, sign_in
from tests.integration.test_console import LKPP as LKPP_OFFICER

USER = "budi@vendor.test"
LKPP = "helpdesk@lkpp.test"
HEADLINE = "Pelapor menyatakan masalah sudah teratasi — balas #tutup untuk menutup tiket"
_ids = count(1)


def mail(sender: str, to: str, subject: str, body: str, at: datetime = NOW) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"], msg["Message-ID"] = format_datetime(at), f"<solved-{next(_ids)}@{sender.partition('@')[2]}>"
    msg.set_content(body)
    return msg.as_bytes()


@pytest.fixture
def setup(tmp_path: Path, db_url: str) -> Iterator[tuple[App, Path]]:
    kota, _ = deployment(tmp_path, db_url)
    yield kota, tmp_path / "mailbot.toml"


def open_waiting(app: App) -> Ticket:
    """A blocked upload without its tender code: the ticket waits for the user's data."""
    outcome = process_raw(app, mail(USER, KOTA, "Gagal upload penawaran",
                                    "Saya penyedia, gagal upload dokumen penawaran di SPSE, muncul error. "
                                    "HP 0812-3456-7890"), NOW)
    assert outcome.kind == "opened"
    t = stored(app, outcome.ticket_id or 0)
    assert t.state == "waiting_user" and t.missing and t.remind_at is not None and t.autoclose_at is not None
    return t


def stored(app: App, ticket_id: int) -> Ticket:
    with app.factory() as session:
        t = session.get(Ticket, ticket_id)
        assert t is not None
        return t


def last_id(app: App) -> int:
    with app.factory() as session:
        return session.scalar(select(Outbox.id).order_by(Outbox.id.desc()).limit(1)) or 0


def queued(app: App, since: int) -> list[tuple[list[str], str, str]]:
    """(recipients, subject, plain text) of the mail queued after ``since``, oldest first."""
    with app.factory() as session:
        rows = session.scalars(select(Outbox).where(Outbox.id > since).order_by(Outbox.id)).all()
        out = []
        for row in rows:
            msg = email.message_from_bytes(row.raw, policy=policy.default)
            body = msg.get_body(("plain",))
            out.append((list(row.recipients), " ".join(str(msg["Subject"]).split()),
                        body.get_content() if body is not None else ""))  # type: ignore[union-attr]
        return out


def first_line(text: str) -> str:
    return next(line.strip() for line in text.splitlines() if line.strip())


def events(app: App, ticket_id: int) -> list[TicketEvent]:
    with app.factory() as session:
        return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                    .order_by(TicketEvent.id)))


def test_waiting_for_data_the_report_stops_the_reminder_tells_staff_and_the_close_follows(
        setup: tuple[App, Path]) -> None:
    app, _ = setup
    t = open_waiting(app)
    priority = t.priority
    mark = last_id(app)
    later = NOW + timedelta(hours=1)
    reply = mail(USER, KOTA, f"Re: [{t.number}] Gagal upload penawaran",
                 "Alhamdulillah sudah bisa upload pak, terima kasih atas bantuannya.", later)
    assert process_raw(app, reply, later).kind == "updated"
    after = stored(app, t.id)
    # the user owes nothing now: analysis, no data missing, no reminder or auto-close planned, same priority
    assert after.state == "analysis" and after.missing == [] and after.priority == priority
    assert after.remind_at is None and after.autoclose_at is None and after.paused_since is None
    solved = [e for e in events(app, t.id) if e.kind == "user_solved"]
    assert len(solved) == 1 and solved[0].data["words"] == "sudah bisa"
    assert solved[0].data["waived"] == t.missing and solved[0].actor == USER
    # one mail: to staff, the headline first; nothing to the user
    [(to, subject, text)] = queued(app, mark)
    assert sorted(to) == sorted([STAFF, STAFF2]) and "Balasan pelapor (masalah teratasi)" in subject
    assert first_line(text) == HEADLINE
    assert "sudah bisa upload pak" in text and "Status   : dalam analisis" in text
    # two weeks of ticks: no reminder, no auto-close, still open for staff to close
    mark = last_id(app)
    for day in range(1, 15):
        result = sla_jobs.tick(app, later + timedelta(days=day))
        assert result.reminders == 0 and result.autoclosed == 0
    assert stored(app, t.id).state == "analysis"
    assert not [m for m in queued(app, mark) if USER in m[0]]
    # staff close it: the normal "closed" mail goes to the user, once
    closing_at = later + timedelta(days=15)
    staff_to = threads.reply_address(KOTA, t.id, app.secret)
    close = mail(STAFF, staff_to, f"Re: [{t.number}]", "#tutup\nTerima kasih, tiket kami tutup.", closing_at)
    assert process_raw(app, close, closing_at).kind == "updated"
    assert stored(app, t.id).state == "closed"
    to_user = [m for m in queued(app, mark) if m[0] == [USER]]
    assert len(to_user) == 1 and "Selesai" in to_user[0][1] and "Terima kasih, tiket kami tutup." in to_user[0][2]


def test_in_analysis_only_the_headline_is_added(setup: tuple[App, Path]) -> None:
    app, _ = setup
    outcome = process_raw(app, mail(USER, KOTA, "Lupa password", "Saya lupa password akun SPSE. User ID: cvmaju"),
                          NOW)
    t = stored(app, outcome.ticket_id or 0)
    assert t.state == "analysis"
    due, mark = t.due_at, last_id(app)
    assert process_raw(app, mail(USER, KOTA, f"Re: [{t.number}] Lupa password", "problem solved, thanks"),
                       NOW).kind == "updated"
    after = stored(app, t.id)
    assert after.state == "analysis" and after.due_at == due and after.priority == t.priority
    [(to, _, text)] = queued(app, mark)
    assert USER not in to and first_line(text) == HEADLINE


def test_lkpp_holding_the_ticket_is_told_the_same(setup: tuple[App, Path]) -> None:
    app, _ = setup
    outcome = process_raw(app, mail(USER, KOTA, "Gagal login", "Tidak bisa login, akun terkunci. User ID: cvmaju"),
                          NOW)
    t = stored(app, outcome.ticket_id or 0)
    staff_to = threads.reply_address(KOTA, t.id, app.secret)
    assert process_raw(app, mail(STAFF, staff_to, f"Re: [{t.number}]", "#eskalasi\nMohon dibantu."), NOW)
    assert stored(app, t.id).state == "escalated"
    mark = last_id(app)
    assert process_raw(app, mail(USER, KOTA, f"Re: [{t.number}] Gagal login", "sudah bisa login, terima kasih"),
                       NOW).kind == "updated"
    assert stored(app, t.id).state == "escalated"
    sent = queued(app, mark)
    assert sorted(sorted(m[0]) for m in sent) == sorted([[LKPP], sorted([STAFF, STAFF2])])  # none to the user
    lkpp = next(m for m in sent if m[0] == [LKPP])
    staff = next(m for m in sent if STAFF in m[0])
    assert "Tambahan dari pelapor (masalah teratasi)" in lkpp[1] and first_line(lkpp[2]) == HEADLINE
    assert "sudah bisa login, terima kasih" in lkpp[2]
    assert first_line(staff[2]).startswith("Pelapor menyatakan masalah sudah teratasi — tiket ditangani Helpdesk LKPP")
    # the console: LKPP is the one to close it; LPSE staff read that LKPP holds it
    for viewer, todo in ((LKPP_OFFICER, "tutup tiket dengan"), (STAFF, "tiket ditangani Helpdesk LKPP")):
        client = TestClient(build_asgi([app], clock=Clock()), follow_redirects=False)
        sign_in(client, app, viewer)
        hint = client.get(f"/tiket/{t.id}").text.split("Pelapor menyatakan masalah sudah teratasi</strong>")[1]
        assert todo in hint.split("</p>")[0], viewer


def test_a_look_alike_changes_nothing_of_today(setup: tuple[App, Path]) -> None:
    app, _ = setup
    t = open_waiting(app)
    mark = last_id(app)
    process_raw(app, mail(USER, KOTA, f"Re: [{t.number}] Gagal upload", "sudah bisa login tapi upload masih gagal"),
                NOW)
    after = stored(app, t.id)
    assert after.state == "waiting_user" and after.remind_at == t.remind_at
    assert not [e for e in events(app, t.id) if e.kind == "user_solved"]
    sent = queued(app, mark)
    assert [m[0] for m in sent][0] == [USER]  # "still missing", as today
    assert all(HEADLINE not in m[2] for m in sent)


def test_tickets_show_and_the_console_show_it(setup: tuple[App, Path], tmp_path: Path) -> None:
    app, config = setup
    t = open_waiting(app)
    process_raw(app, mail(USER, KOTA, f"Re: [{t.number}] Gagal upload", "sdh berhasil upload, trims"), NOW)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["--config", str(config), "tickets", "show", t.number or ""]) == 0
    assert 'user_solved' in out.getvalue() and 'the user reports the problem solved' in out.getvalue()
    clock = Clock()
    client = TestClient(build_asgi([app], clock=clock), follow_redirects=False)
    sign_in(client, app, STAFF)
    page = client.get(f"/tiket/{t.id}").text
    assert "Pelapor menyatakan masalah sudah teratasi</strong>" in page  # the hint at the top
    assert "Pelapor menyatakan masalah teratasi" in page  # the timeline's label
    assert "&ldquo;sdh berhasil&rdquo;" in page
    # once staff close it the hint is gone (the ticket is closed)
    staff_to = threads.reply_address(KOTA, t.id, app.secret)
    process_raw(app, mail(STAFF, staff_to, f"Re: [{t.number}]", "#tutup\nSelesai, terima kasih."), NOW)
    assert "Pelapor menyatakan masalah sudah teratasi</strong>" not in client.get(f"/tiket/{t.id}").text
