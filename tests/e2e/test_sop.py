"""Issue 3 on the real mail stack: every SOP path, reading the actual mails of user, staff and LKPP."""

from __future__ import annotations

import time

from imap_tools import MailMessage

from tests.e2e.conftest import Deployment, reply_mail, user_mail

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

# A general question: the priority table requires no data for it, so it goes straight to analysis.
COMPLETE_SUBJECT = "Jadwal pelatihan SPSE"
COMPLETE = "Selamat pagi,\nKapan jadwal pelatihan SPSE untuk penyedia bulan depan?\nTerima kasih.\nBudi"
# A blocking tender problem without the tender code.
MISSING = ("Selamat siang, saya penyedia dan gagal upload dokumen penawaran di SPSE LPSE Kota Uji.\n"
           "Muncul pesan error \"Gagal mengunggah file\" tadi jam 10.00 pakai Chrome. Screenshot terlampir.\n"
           "User ID: cvmajujaya\nHP 0812-3456-7890")


def staff_reply(d: Deployment, notification: MailMessage, text: str, sender: str | None = None) -> None:
    d.send(reply_mail(notification, sender or d.staff1, text, name="Staf Helpdesk"))




def state(d: Deployment, index: int = 0) -> str:
    return d.tickets()[index].state


def test_path1_complete_data_then_close(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket(COMPLETE_SUBJECT, COMPLETE)
    assert state(d) == "analysis"
    assert not [m for m in d.inbox(d.user) if "lengkapi data" in m.subject]
    assert note.headers["reply-to"][0].startswith(d.helpdesk.split("@")[0] + "+t1.")
    staff_reply(d, note, "#tutup\nPelatihan berikutnya tanggal 10 Desember, daftar di menu Pelatihan.")
    d.wait_helpdesk_inbox(1)
    d.poll()
    [closed] = d.wait_subject(d.user, "Selesai")
    assert "Pelatihan berikutnya tanggal 10 Desember" in closed.text
    assert "ditutup (CLOSED)" in closed.text
    assert "Pada " not in closed.text  # the staff member's quoted history is not relayed
    [ticket] = d.tickets()
    assert ticket.state == "closed" and ticket.closed_by == d.staff1
    steps = {e.kind: e.sop_step for e in ticket.events}
    assert steps["received"] == 1 and steps["priority_set"] == 2 and steps["closed"] == 9


def test_path2_missing_data_request_then_data_then_close(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket("Gagal upload penawaran", MISSING, attachments=[("layar.png", "image/png", PNG)])
    [need] = d.wait_subject(d.user, "lengkapi data")
    assert "Kode tender" in need.text or "kode tender" in need.text.lower()
    assert state(d) == "waiting_user"
    assert "0812" in note.text or "62812" in note.text  # call task carries the phone number
    d.send(reply_mail(need, d.user, "Kode tender: 10234567"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    assert state(d) == "analysis"
    [update] = d.wait_subject(d.staff1, "Balasan pelapor")
    assert "10234567" in update.text
    staff_reply(d, update, "#tutup\nSudah kami perbaiki, silakan unggah ulang.")
    d.wait_helpdesk_inbox(1)
    d.poll()
    [closed] = d.wait_subject(d.user, "Selesai")
    assert "silakan unggah ulang" in closed.text
    kinds = [e.kind for e in d.tickets()[0].events]
    assert kinds.index("data_requested") < kinds.index("data_received") < kinds.index("closed")


def test_path3_escalation_to_lkpp_and_back(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket("Gagal upload penawaran", MISSING + "\nKode tender 10234567",
                       attachments=[("layar.png", "image/png", PNG)])
    staff_reply(d, note, "#eskalasi\nServer menolak file; mohon dicek di sisi LKPP.")
    d.wait_helpdesk_inbox(1)
    d.poll()
    [dossier] = d.wait_subject(d.lkpp, "ESKALASI")
    assert "TTS-000001" in dossier.subject
    assert d.user in dossier.text and "Helpdesk LPSE Kota Uji" in dossier.text
    assert "Server menolak file" in dossier.text and "gagal upload dokumen penawaran" in dossier.text
    assert [a.filename for a in dossier.attachments] == ["layar.png"]
    assert "[lampiran: layar.png]" in dossier.text  # the conversation names each mail's attachments
    assert dossier.attachments[0].payload == PNG
    [escalated] = d.wait_subject(d.user, "Diteruskan ke Helpdesk LKPP")
    assert "mohon menunggu" in escalated.text.lower()
    assert state(d) == "escalated"
    # LKPP answers in the thread (to the dossier's signed Reply-To): relayed to the user and to staff.
    d.send(reply_mail(dossier, d.lkpp, "Silakan kompres file menjadi di bawah 10 MB.", name="Helpdesk LKPP"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [relayed] = d.wait_subject(d.user, "Jawaban Helpdesk LKPP")
    assert "kompres file" in relayed.text
    d.wait_subject(d.staff1, "Jawaban LKPP")
    # LKPP closes it.
    d.send(reply_mail(dossier, d.lkpp, "#tutup\nSudah berhasil diunggah oleh penyedia.", name="Helpdesk LKPP"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [closed] = d.wait_subject(d.user, "Selesai")
    assert "Sudah berhasil diunggah" in closed.text and "Helpdesk LKPP" in closed.text
    assert state(d) == "closed"


def test_path4_user_answers_a_closed_ticket_reopens_to_the_closer(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket(COMPLETE_SUBJECT, COMPLETE)
    staff_reply(d, note, "#tutup\nSilakan lewat menu Profil.", sender=d.staff2)
    d.wait_helpdesk_inbox(1)
    d.poll()
    [closed] = d.wait_subject(d.user, "Selesai")
    d.send(reply_mail(closed, d.user, "Menu Profil tidak ada di akun saya."))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ticket] = d.tickets()
    assert ticket.state == "analysis" and ticket.assignee == d.staff2
    [told] = d.wait_subject(d.staff2, "Dibuka kembali")
    assert "Menu Profil tidak ada" in told.text
    d.wait_subject(d.user, "dibuka kembali")
    assert not [m for m in d.inbox(d.staff1) if "Dibuka kembali" in m.subject]


def test_path5_non_staff_hash_tutup_changes_nothing(deployment: Deployment) -> None:
    d = deployment
    d.open_ticket(COMPLETE_SUBJECT, COMPLETE)
    [ack] = d.wait_subject(d.user, "Tiket diterima")
    d.send(reply_mail(ack, d.user, "#tutup\nSudah bisa, terima kasih."))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ticket] = d.tickets()
    assert ticket.state == "analysis"
    assert not [m for m in d.inbox(d.user) if "Selesai" in m.subject]
    d.wait_subject(d.staff1, "Balasan pelapor")  # staff see it as an ordinary message


def test_forged_staff_from_runs_no_command(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket(COMPLETE_SUBJECT, COMPLETE)
    # Someone forges the staff address but writes to the plain helpdesk address with the subject tag.
    forged = user_mail(d.staff1, d.helpdesk, "Re: " + note.subject, "#tutup\nditutup", name="Staf Palsu")
    d.send(forged)
    d.wait_helpdesk_inbox(1)
    d.poll()
    assert state(d) == "analysis"
    d.wait_subject(d.staff1, "Perintah tidak dijalankan")
    assert any(e.kind == "command_unverified" for e in d.tickets()[0].events)


def test_path6_unknown_keyword_gets_an_error_and_changes_nothing(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket(COMPLETE_SUBJECT, COMPLETE)
    staff_reply(d, note, "#hapus\nTolong hapus tiket ini.")
    d.wait_helpdesk_inbox(1)
    d.poll()
    [error] = d.wait_subject(d.staff1, "Perintah ditolak")
    assert "#hapus" in error.text and "tidak dikenal" in error.text
    [ticket] = d.tickets()
    assert ticket.state == "analysis"
    assert [m.subject for m in d.inbox(d.user) if "Tiket diterima" not in m.subject] == []
    # A command not allowed in the state: #buka on an open ticket.
    staff_reply(d, note, "#buka")
    d.wait_helpdesk_inbox(1)
    d.poll()
    errors = d.wait_subject(d.staff1, "Perintah ditolak", count=2)
    assert any("tidak bisa dipakai" in m.text for m in errors)


def test_needinfo_note_priority_take_and_timeline(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket(COMPLETE_SUBJECT, COMPLETE)
    staff_reply(d, note, "#ambil\n#prioritas tinggi tender ditutup besok\n#catatan cek dulu di admin\n"
                         "#mintadata user ID akun, nama perusahaan")
    d.wait_helpdesk_inbox(1)
    d.poll()
    [need] = d.wait_subject(d.user, "lengkapi data")
    assert "user ID akun" in need.text and "nama perusahaan" in need.text
    assert "cek dulu di admin" not in need.text
    [ticket] = d.tickets()
    assert (ticket.state, ticket.priority, ticket.assignee) == ("waiting_user", "tinggi", d.staff1)
    staff_reply(d, note, "#telepon sudah dikonfirmasi via telepon")
    d.wait_helpdesk_inbox(1)
    d.poll()
    code, out, _ = d.cli("tickets", "show", "TTS-000001")
    assert code == 0
    for needle in ("priority_override", "note", "data_requested", "called", "step  4", "ok]"):
        assert needle in out
    time.sleep(0)
