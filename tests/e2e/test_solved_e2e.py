"""On the real mail stack: a user who says "sudah bisa, terima kasih" on an open ticket.

User mail -> ticket (waiting for data) -> the user replies that it works -> staff's notification
opens with the headline -> staff reply ``#tutup`` -> the user gets the "closed" mail, and no mail
in between (no acknowledgment of the report, no "data masih kurang").
"""

from __future__ import annotations

from tests.e2e.conftest import Deployment, reply_mail

# A blocked upload without the tender code: the ticket waits for the user's data.
MISSING = ("Selamat siang, saya penyedia dan gagal upload dokumen penawaran di SPSE LPSE Kota Uji.\n"
           "Muncul pesan error \"Gagal mengunggah file\" tadi jam 10.00 pakai Chrome.\n"
           "User ID: cvmajujaya\nHP 0812-3456-7890")
HEADLINE = "Pelapor menyatakan masalah sudah teratasi — balas #tutup untuk menutup tiket"


def test_the_user_says_it_works_staff_close_and_the_user_gets_the_closed_mail(deployment: Deployment) -> None:
    d = deployment
    d.open_ticket("Gagal upload penawaran", MISSING)
    [ack] = d.wait_subject(d.user, "lengkapi data")
    [ticket] = d.tickets()
    assert ticket.state == "waiting_user" and ticket.missing

    d.reply_and_poll(ack, d.user, "Sudah bisa, terima kasih.")
    [note] = d.wait_subject(d.staff1, "Balasan pelapor (masalah teratasi)")
    lines = [line.strip() for line in note.text.splitlines() if line.strip()]
    assert lines[0] == HEADLINE
    assert "Sudah bisa, terima kasih." in note.text
    [ticket] = d.tickets()
    assert ticket.state == "analysis" and list(ticket.missing) == [] and ticket.remind_at is None
    assert [e.kind for e in ticket.events].count("user_solved") == 1

    d.send(reply_mail(note, d.staff1, "#tutup\nTerima kasih atas konfirmasinya, tiket kami tutup.",
                      name="Staf Helpdesk"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [closed] = d.wait_subject(d.user, "Selesai")
    assert "Terima kasih atas konfirmasinya" in closed.text and "ditutup (CLOSED)" in closed.text
    assert d.tickets()[0].state == "closed"
    # the user's mailbox: the acknowledgment with the data request, then the closed mail, nothing else
    subjects = [" ".join(m.subject.split()) for m in d.inbox(d.user)]
    assert len(subjects) == 2 and "lengkapi data" in subjects[0] and "Selesai" in subjects[1], subjects
