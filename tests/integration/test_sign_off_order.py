"""The "closed" mail the user gets ends with the staff's own sign-off, after the rating request."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy
from pathlib import Path

from sqlalchemy import select

from mailbot.core import threads
from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox
from tests.integration.test_console import KOTA, NOW, STAFF
from tests.integration.test_solved_reply import USER, last_id, mail, open_waiting, setup, stored

__all__ = ["setup"]  # the fixture, imported for pytest


def test_a_signed_staff_close_reaches_the_user_with_the_sign_off_last(setup: tuple[App, Path]) -> None:
    app, _ = setup
    t = open_waiting(app)
    mark = last_id(app)
    at = NOW + timedelta(hours=2)
    answer = "Selamat siang Pak Budi,\n\nSilakan unggah ulang dengan browser Chrome.\n\nSalam,\nAndi\nHelpdesk LPSE Kota"
    close = mail(STAFF, threads.reply_address(KOTA, t.id, app.secret), f"Re: [{t.number}]", "#tutup\n" + answer, at)
    assert process_raw(app, close, at).kind == "updated"
    assert stored(app, t.id).state == "closed"
    with app.factory() as session:
        rows = [r for r in session.scalars(select(Outbox).where(Outbox.id > mark)) if list(r.recipients) == [USER]]
    assert len(rows) == 1
    msg = email.message_from_bytes(rows[0].raw, policy=policy.default)
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    for part, sign in ((text, "Salam,\nAndi\nHelpdesk LPSE Kota"), (html, "Salam,<br>\nAndi<br>\nHelpdesk LPSE Kota")):
        assert part.index("Chrome") < part.index("ditutup (CLOSED)") < part.index("Mohon beri penilaian") \
            < part.index(sign)
        assert part.count("Salam,") == 1
