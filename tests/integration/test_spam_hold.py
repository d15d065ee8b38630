"""A new thread the mail server's spam filter marked goes to quarantine with the verdict as its reason:
no ticket, no acknowledgment to its (likely forged) sender. A user's answer marked by mistake still
reaches its ticket, an operator's retry processes a held mail after all, and ``loops.hold_spam =
false`` turns the hold off. A flood of new threads from one sender is held the same way, past
``loops.max_new_tickets_per_sender_hour``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from mailbot.service import quarantine
from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox, Quarantine, Ticket
from tests.integration.conftest import NOW, make_app


def mail(mid: str, subject: str, *, spam: bool, reply_to: str = "") -> bytes:
    flags = b"X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=8.2 required=5.0\r\n" if spam else b""
    thread = f"In-Reply-To: <{reply_to}>\r\nReferences: <{reply_to}>\r\n".encode() if reply_to else b""
    return (flags + thread + f"From: Andi <andi@vendor.test>\r\nTo: helpdesk@lpse.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <{mid}>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0700\r\n\r\n"
            "Upload penawaran tender 10012345000 gagal, muncul 'file tidak valid'.\r\n".encode())


def count(app: App, model: type) -> int:
    with app.factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_spam_opens_no_ticket_and_is_held_with_the_verdict(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    held = process_raw(app, mail("s1@vendor.test", "Gagal upload penawaran", spam=True), NOW)
    assert held.kind == "quarantined" and held.reason.startswith("spam: marked as spam by the mail server "
                                                                 "(x-spam-flag: YES)")
    assert count(app, Ticket) == 0 and count(app, Outbox) == 0
    with app.factory() as session:
        [entry] = session.scalars(select(Quarantine)).all()
        assert entry.sender == "andi@vendor.test" and "mailbot quarantine retry" in entry.error
    # Not spam after all: the operator's retry processes it; the user gets the acknowledgment.
    retried = quarantine.retry(app.factory, entry.id, lambda _key: app, lambda: NOW + timedelta(minutes=3))
    assert retried.outcome.kind == "opened" and count(app, Ticket) == 1
    with app.factory() as session:
        assert "andi@vendor.test" in session.scalars(select(Outbox.to_key)).all()


def test_an_answer_in_a_ticket_thread_is_never_held(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    opened = process_raw(app, mail("u1@vendor.test", "Gagal upload penawaran", spam=False), NOW)
    assert opened.kind == "opened"
    answer = process_raw(app, mail("u2@vendor.test", "Re: Gagal upload penawaran", spam=True,
                                   reply_to="u1@vendor.test"), NOW + timedelta(minutes=5))
    assert answer.kind == "updated" and answer.ticket_id == opened.ticket_id
    assert count(app, Quarantine) == 0


def test_the_hold_can_be_turned_off(tmp_path: Path) -> None:
    app = make_app(tmp_path, "[loops]\nhold_spam = false\n")
    assert process_raw(app, mail("s2@vendor.test", "Gagal upload", spam=True), NOW).kind == "opened"


def test_a_flood_from_one_sender_is_held_after_the_hourly_cap(tmp_path: Path) -> None:
    # 40 new mails from one address in a few minutes (a broken script, or someone in its name):
    # 5 tickets, then quarantine: no ticket, no acknowledgment, no staff notification.
    app = make_app(tmp_path, "[loops]\nmax_new_tickets_per_sender_hour = 5\n")
    kinds = [process_raw(app, mail(f"f{i}@vendor.test", f"Gagal upload penawaran {i}", spam=False),
                         NOW + timedelta(seconds=i)).kind for i in range(40)]
    assert kinds == ["opened"] * 5 + ["quarantined"] * 35
    assert count(app, Ticket) == 5 and count(app, Quarantine) == 35
    with app.factory() as session:
        queued = session.scalar(select(func.count()).select_from(Outbox))
        entry = session.scalars(select(Quarantine).order_by(Quarantine.id)).first()
    assert entry is not None and entry.error.startswith("flood: the sender opened 5 tickets in the last hour")
    before = queued
    # Another sender is not affected; the flooding sender's answer in a thread still arrives.
    other = process_raw(app, mail("o1@vendor.test", "Lupa password", spam=False).replace(b"andi@", b"ani@"), NOW)
    assert other.kind == "opened"
    answer = process_raw(app, mail("f99@vendor.test", "Re: Gagal upload penawaran 0", spam=False,
                                   reply_to="f0@vendor.test"), NOW + timedelta(minutes=2))
    assert answer.kind == "updated"
    # An hour later the sender opens tickets again; an operator's retry opens a held one at once.
    assert process_raw(app, mail("f100@vendor.test", "Masalah baru", spam=False), NOW + timedelta(minutes=61)).kind \
        == "opened"
    retried = quarantine.retry(app.factory, entry.id, lambda _key: app, lambda: NOW + timedelta(minutes=3))
    assert retried.outcome.kind == "opened"
    assert count(app, Outbox) > before


def test_the_flood_cap_can_be_turned_off(tmp_path: Path) -> None:
    app = make_app(tmp_path, "[loops]\nmax_new_tickets_per_sender_hour = 0\n")
    kinds = {process_raw(app, mail(f"g{i}@vendor.test", f"Gagal {i}", spam=False), NOW).kind for i in range(40)}
    assert kinds == {"opened"}
