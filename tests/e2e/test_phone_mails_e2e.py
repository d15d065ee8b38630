"""Issue 21 item 6 on the real mail stack: one mail per event, written for a phone."""

from __future__ import annotations

import time

from tests.e2e.conftest import Deployment

# A blocking tender problem without the tender code (the priority table asks for it).
MISSING = ("Selamat siang, saya penyedia dan gagal upload dokumen penawaran di SPSE LPSE Kota Uji.\n"
           "Muncul pesan error \"Gagal mengunggah file\" tadi jam 10.00 pakai Chrome.\n"
           "User ID: cvmajujaya\nHP 0812-3456-7890")
QUESTION = "Selamat pagi,\nKapan jadwal pelatihan SPSE untuk penyedia bulan depan?\nTerima kasih.\nBudi"


def from_helpdesk(d: Deployment, address: str) -> list[str]:
    return [m.subject for m in d.inbox(address) if m.from_ == d.helpdesk]


def test_a_new_ticket_with_missing_data_gets_one_mail_and_staff_one_line_of_reason(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket("Gagal upload penawaran", MISSING)
    [ack] = d.wait_subject(d.user, "Tiket diterima")
    assert "lengkapi data" in ack.subject
    assert "kode tender" in ack.text.lower() and "Contoh:" in ack.text
    assert d.tickets()[0].state == "waiting_user"
    time.sleep(1)  # a second mail, if any, would be delivered by now
    assert len(from_helpdesk(d, d.user)) == 1
    [reason] = [line for line in note.text.splitlines() if line.startswith("Alasan prioritas:")]
    assert "prioritas" in reason.removeprefix("Alasan prioritas:")
    for debug in ("scored", "pattern matched", "runner-up", "keyword '"):
        assert debug not in note.text
    assert "#jawab" in note.text  # the keyword list is complete
    # The rules' details stay where staff look them up.
    code, out, _ = d.cli("tickets", "show", d.tickets()[0].number or "")
    assert code == 0 and "Why this priority and category (rules):" in out and "category:" in out


def test_a_keyword_below_the_answer_is_not_relayed_and_its_sender_is_told(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket("Jadwal pelatihan SPSE", QUESTION)
    d.reply_and_poll(note, d.staff1, "Pelatihan berikutnya tanggal 10 Desember.\n\n#tutup", name="Staf Helpdesk")
    [refused] = d.wait_subject(d.staff1, "Perintah ditolak")
    assert "#tutup" in refused.text and "baris paling atas" in refused.text
    time.sleep(1)
    assert len(from_helpdesk(d, d.user)) == 1  # the acknowledgment only: nothing relayed
    assert d.tickets()[0].state == "analysis"


def test_staff_who_greet_and_sign_off_get_no_second_greeting(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket("Jadwal pelatihan SPSE", QUESTION)
    d.reply_and_poll(note, d.staff1, "#tutup\nSelamat siang Pak Budi,\n\nPelatihan berikutnya tanggal 10 Desember."
                     "\n\nSalam,\nAndi", name="Staf Helpdesk")
    [closed] = d.wait_subject(d.user, "Selesai")
    assert "Yth." not in closed.text and closed.text.count("Salam,") == 1
    assert closed.text.lstrip().startswith("Selamat siang Pak Budi,")
    assert "mailto:" not in closed.text and 'href="mailto:' in closed.html
