"""Issue 23 (e-mail side) on the real mail stack: ``#buat`` and the colleague's information copy.

A user writes to a staff member's own mailbox; the staff member forwards that mail, as a mail client
does, to the helpdesk's new-ticket address (read from a staff notification) with ``#buat``; the
bot opens the ticket for the user, whose mailbox gets the acknowledgment. A staff member's answer
puts an information copy in the other staff member's mailbox.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from tests.e2e.conftest import Deployment, reply_mail, user_mail
from tests.support.mailstack import unique_address

QUESTION = "Selamat pagi,\nKapan jadwal pelatihan SPSE untuk penyedia bulan depan?\nTerima kasih."
LOCKED = ("Selamat pagi Pak,\nakun SPSE saya terkunci dan tidak bisa login sejak kemarin.\n"
          "User ID: cvmajujaya\nMohon bantuannya.\nSiti")


def forward(staff: str, to: str, original_from: str, subject: str, date: str, body: str) -> EmailMessage:
    """A forward as Gmail writes it, with ``#buat`` on the first line."""
    msg = EmailMessage()
    msg["From"] = f"Staf Helpdesk <{staff}>"
    msg["To"] = to
    msg["Subject"] = f"Fwd: {subject}"
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = make_msgid(domain="lpse.test")
    msg.set_content(f"#buat\n\n---------- Forwarded message ---------\nFrom: {original_from}\nDate: {date}\n"
                    f"Subject: {subject}\nTo: <{staff}>\n\n{body}\n")
    return msg


def test_buat_forward_opens_the_ticket_for_the_original_sender(deployment: Deployment) -> None:
    d = deployment
    d.write_config()
    # Staff learn the new-ticket address from any notification.
    note = d.open_ticket("Jadwal pelatihan SPSE", QUESTION)
    found = re.search(r"(\S+\+c0\.[0-9a-f]{12}@lpse\.test)", note.text)
    assert found, note.text
    create_to = found.group(1)
    # A user writes to the staff member directly (not to the helpdesk).
    siti = unique_address("siti", "vendor.test")
    d.send(user_mail(siti, d.staff1, "Akun SPSE terkunci", LOCKED, name="Siti Aminah"))
    [direct] = d.wait_subject(d.staff1, "Akun SPSE terkunci")
    # Forwarded to the plain helpdesk address, #buat proves nothing: no ticket, the staff member is told.
    d.send(forward(d.staff1, d.helpdesk, f"Siti Aminah <{siti}>", direct.subject, direct.date_str, direct.text))
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.wait_subject(d.staff1, "Tiket tidak dibuat")
    assert len(d.tickets()) == 1
    # Forwarded to the new-ticket address: the ticket is Siti's.
    d.send(forward(d.staff1, create_to, f"Siti Aminah <{siti}>", direct.subject, direct.date_str, direct.text))
    d.wait_helpdesk_inbox(1)
    d.poll()
    tickets = d.tickets()
    assert len(tickets) == 2
    ticket = tickets[1]
    assert (ticket.requester, ticket.requester_name, ticket.subject) == (siti, "Siti Aminah", "Akun SPSE terkunci")
    received = next(e for e in ticket.events if e.kind == "received")
    assert received.data == {"opened_by": d.staff1, "channel": "e-mail diteruskan"}
    [ack] = d.wait_subject(siti, "Tiket diterima")
    assert ticket.number in ack.subject and "Siti Aminah" in ack.text
    # Staff get the new-ticket notification about Siti's mail, not an acknowledgment of their own.
    [new] = d.wait(d.staff1, predicate=lambda m: "Tiket baru" in m.subject and "terkunci" in m.subject)
    assert siti in new.text and "tidak bisa login" in new.text
    assert not [m for m in d.inbox(d.staff1) if "Tiket diterima" in m.subject]
    # Every later mail goes to Siti: a staff answer to the notification reaches her mailbox.
    d.reply_and_poll(new, d.staff1, "#tutup\nAkun Anda sudah kami buka, silakan login kembali.", name="Staf")
    [closed] = d.wait(siti, predicate=lambda m: "sudah kami buka" in m.text)
    assert ticket.number in closed.subject


def test_the_colleague_gets_an_information_copy_in_their_mailbox(deployment: Deployment) -> None:
    d = deployment
    d.write_config()
    note = d.open_ticket("Jadwal pelatihan SPSE", QUESTION)
    d.wait_subject(d.staff2, "Tiket baru")
    d.send(reply_mail(note, d.staff1, "#ambil\nJadwal pelatihan ada di situs LPSE, menu Pelatihan.", name="Andi"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [copy] = d.wait_subject(d.staff2, "Info:")
    assert d.staff1 in copy.subject and "mengambil tiket ini" in copy.subject
    assert "Jadwal pelatihan ada di situs LPSE" in copy.text
    assert copy.headers["reply-to"][0] == note.headers["reply-to"][0]  # the ticket's staff thread
    d.wait(d.user, predicate=lambda m: "situs LPSE" in m.text)
    assert not [m for m in d.inbox(d.staff1) if m.subject.startswith("Info:") or "Info:" in m.subject]
    # The colleague answers within ten minutes: held, warned with the first answer quoted.
    d.send(reply_mail(copy, d.staff2, "Silakan cek jadwal di situs LPSE.", name="Budi"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [held] = d.wait_subject(d.staff2, "Jawaban ditahan")
    assert "Jadwal pelatihan ada di situs LPSE" in held.text and "#kirim" in held.text
    assert not [m for m in d.inbox(d.user) if "Silakan cek jadwal" in m.text]
    d.send(reply_mail(held, d.staff2, "#kirim", name="Budi"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.wait(d.user, predicate=lambda m: "Silakan cek jadwal" in m.text)
