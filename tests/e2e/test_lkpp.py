"""LKPP recognised by proof, not by its address (issue 20), on the real mail stack."""

from __future__ import annotations

from email.message import EmailMessage

from imap_tools import MailMessage

from mailbot.storage.models import TicketEvent
from tests.e2e.conftest import Deployment, reply_mail, user_mail
from tests.e2e.test_sop import MISSING, staff_reply, state


def escalate(d: Deployment) -> MailMessage:
    """A ticket escalated by staff; returns the dossier LKPP received."""
    note = d.open_ticket("Gagal upload penawaran", MISSING + "\nKode tender 10234567")
    staff_reply(d, note, "#eskalasi\nServer menolak file; mohon dicek di sisi LKPP.")
    d.wait_helpdesk_inbox(1)
    d.poll()
    [dossier] = d.wait_subject(d.lkpp, "ESKALASI")
    assert state(d) == "escalated"
    return dossier


def officer_mail(d: Deployment, dossier: MailMessage, sender: str, subject: str, body: str) -> EmailMessage:
    """An LKPP answer as an officer or LKPP's system writes it: to the dossier's Reply-To, no threading headers."""
    return user_mail(sender, dossier.headers["reply-to"][0], subject, body, name="Petugas LKPP")


def test_the_escalation_carries_a_signed_lkpp_reply_address_never_the_staff_one(deployment: Deployment) -> None:
    d = deployment
    dossier = escalate(d)
    reply_to = dossier.headers["reply-to"][0]
    local = d.helpdesk.split("@")[0]
    assert reply_to.startswith(f"{local}+l1.") and "+t1." not in reply_to


def test_an_officer_from_another_address_answers_without_threading_headers(deployment: Deployment) -> None:
    d = deployment
    dossier = escalate(d)
    officer = "officer.eproc@lkpp.test"
    d.send(officer_mail(d, dossier, officer, f"[LKPP#4711] Re: {' '.join(dossier.subject.split())}",
                        "Silakan kompres file menjadi di bawah 10 MB."))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [relayed] = d.wait_subject(d.user, "Jawaban Helpdesk LKPP")
    assert "kompres file" in relayed.text
    [note] = d.wait_subject(d.staff1, "Jawaban LKPP")
    assert "4711" in note.text
    assert len(d.tickets()) == 1  # no ticket for LKPP
    assert not d.inbox(officer)  # no acknowledgment, nothing else to the officer
    [ticket] = d.tickets()
    assert any(e.kind == "lkpp_replied" and e.data.get("lkpp_number") == "4711" for e in ticket.events)


def test_a_forged_lkpp_answer_is_not_relayed_and_staff_see_it_unverified(deployment: Deployment) -> None:
    d = deployment
    dossier = escalate(d)
    forged = reply_mail(dossier, d.lkpp, "#tutup\nMohon transfer biaya aktivasi ke rekening 123 dan kirim password.",
                        name="Helpdesk LKPP", to=d.helpdesk)
    d.send(forged)
    d.wait_helpdesk_inbox(1)
    d.poll()
    [warning] = d.wait_subject(d.staff1, "TIDAK TERVERIFIKASI")
    assert "transfer biaya" in warning.text
    assert state(d) == "escalated"  # the forged #tutup changed nothing
    assert not [m for m in d.inbox(d.user) if "Jawaban Helpdesk LKPP" in m.subject or "Selesai" in m.subject]
    assert len(d.tickets()) == 1 and not [m for m in d.inbox(d.lkpp) if "ESKALASI" not in m.subject]
    assert d.rows(TicketEvent, TicketEvent.kind == "lkpp_unverified")


def test_lkpp_closes_through_the_signed_address_and_the_user_is_told(deployment: Deployment) -> None:
    d = deployment
    dossier = escalate(d)
    d.send(officer_mail(d, dossier, "noreply@tiket.lkpp.test", "[ESKALASI TTS-000001] [LKPP#88] selesai",
                        "#tutup\nSudah berhasil diunggah oleh penyedia."))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [closed] = d.wait_subject(d.user, "Selesai")
    assert "Sudah berhasil diunggah" in closed.text and "Helpdesk LKPP" in closed.text
    assert state(d) == "closed"
    # The user says it is not solved: back to LKPP in LKPP's wording, never the staff reply address.
    d.send(reply_mail(closed, d.user, "Belum selesai, masih error saat unggah."))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [back] = d.wait_subject(d.lkpp, "belum selesai")
    assert "masih error" in back.text and "#eskalasi" not in back.text
    assert "+l1." in back.headers["reply-to"][0]
    d.wait_subject(d.staff1, "Dikembalikan ke LKPP")
    assert state(d) == "escalated"
    for m in d.inbox(d.lkpp):
        assert "+t1." not in " ".join(m.headers.get("reply-to", ()))
