"""Data a user sends in a PDF is not asked for again (SOP steps 3 and 5-6), through the service.

A new mail about a failed upload with the tender code and user id only in an attached letter (PDF):
the ticket asks for the screenshot alone. A ticket waiting for data gets the missing items in a PDF:
it moves on to analysis and the user is told the data is complete. A PDF that cannot be read
(the benchmark's fake, random bytes) changes nothing and stops nothing.
"""

from __future__ import annotations

import email
import random
from email import policy
from email.message import EmailMessage
from pathlib import Path

from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from tests.integration.test_console import KOTA, NOW
from tests.integration.test_data_complete import LATER, PNG
from tests.integration.test_solved_reply import USER, last_id, mail, open_waiting, queued, setup, stored
from tests.support.pdfmake import make_pdf

__all__ = ["setup"]  # the fixture, used by name

LETTER = make_pdf(["Kepada Yth. Helpdesk LPSE", "Perihal: gagal unggah dokumen penawaran",
                   "Kode Tender : 10234567", "User ID : cvmajujaya", "Hormat kami, CV Maju Jaya"])


def with_files(raw: bytes, *files: tuple[str, bytes]) -> bytes:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    for name, data in files:
        kind = ("application", "pdf") if name.endswith(".pdf") else ("image", "png")
        msg.add_attachment(data, maintype=kind[0], subtype=kind[1], filename=name)
    return msg.as_bytes()


def test_a_new_ticket_does_not_ask_for_what_the_attached_letter_says(setup: tuple[App, Path]) -> None:
    app, _ = setup
    raw = with_files(mail(USER, KOTA, "Gagal upload penawaran",
                          "Saya penyedia, gagal upload dokumen penawaran, muncul error. Data ada di surat terlampir."),
                     ("surat.pdf", LETTER))
    outcome = process_raw(app, raw, NOW)
    t = stored(app, outcome.ticket_id or 0)
    assert t.state == "waiting_user" and t.missing == ["screenshot"]
    [(_, subject, text)] = [m for m in queued(app, 0) if m[0] == [USER]]
    assert "Tangkapan layar" in text and "Kode tender" not in text and "User ID" not in text


def test_the_data_in_a_pdf_completes_a_waiting_ticket(setup: tuple[App, Path]) -> None:
    app, _ = setup
    t = open_waiting(app)
    assert sorted(t.missing) == ["kode_tender", "screenshot", "user_id"]
    mark = last_id(app)
    reply = with_files(mail(USER, KOTA, f"Re: [{t.number}] Gagal upload penawaran",
                            "Berikut surat kami dan tangkapan layarnya.", LATER),
                       ("surat.pdf", LETTER), ("layar.png", PNG))
    assert process_raw(app, reply, LATER).kind == "updated"
    after = stored(app, t.id)
    assert after.state == "analysis" and after.missing == []
    assert any(subject.startswith(f"[{t.number}] Data lengkap") for to, subject, _ in queued(app, mark) if to == [USER])


def test_an_unreadable_pdf_changes_nothing(setup: tuple[App, Path]) -> None:
    app, _ = setup
    fake = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + random.Random(3).randbytes(40_000) + b"\n%%EOF\n"
    raw = with_files(mail(USER, KOTA, "Gagal upload penawaran",
                          "Saya penyedia, gagal upload dokumen penawaran, muncul error."), ("rusak.pdf", fake))
    outcome = process_raw(app, raw, NOW)
    t = stored(app, outcome.ticket_id or 0)
    assert outcome.kind == "opened" and t.state == "waiting_user"
    assert sorted(t.missing) == ["kode_tender", "screenshot", "user_id"]
