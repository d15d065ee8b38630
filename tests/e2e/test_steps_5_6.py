"""Issue 21 item 2 on the real mail stack: SOP steps 5-6 judge what arrived, not that a reply came."""

from __future__ import annotations

from datetime import timezone
from zoneinfo import ZoneInfo

from tests.e2e.conftest import Deployment, reply_mail

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

# A blocking tender problem with everything but the tender code.
MISSING = ("Selamat siang, saya penyedia dan gagal upload dokumen penawaran di SPSE LPSE Kota Uji.\n"
           "Muncul pesan error \"Gagal mengunggah file\" tadi jam 10.00 pakai Chrome. Screenshot terlampir.\n"
           "User ID: cvmajujaya\nHP 0812-3456-7890")


def test_a_promise_keeps_waiting_and_the_code_moves_to_analysis(deployment: Deployment) -> None:
    d = deployment
    d.open_ticket("Gagal upload penawaran", MISSING, attachments=[("layar.png", "image/png", PNG)])
    [need] = d.wait_subject(d.user, "lengkapi data")
    assert d.tickets()[0].state == "waiting_user"
    missing_before = list(d.tickets()[0].missing)
    assert "kode_tender" in missing_before

    # A promise is not the data: still waiting, the clocks keep running, the user is told what is missing.
    d.send(reply_mail(need, d.user, "Baik, nanti saya kirim besok"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [still] = d.wait_subject(d.user, "Data masih kurang")
    assert "Kode tender" in still.text or "kode tender" in still.text.lower()
    [ticket] = d.tickets()
    assert ticket.state == "waiting_user"
    assert list(ticket.missing) == missing_before
    kinds = [e.kind for e in ticket.events]
    assert "data_received" not in kinds and "analysis_started" not in kinds
    d.wait_subject(d.staff1, "Balasan pelapor")  # staff still see the reply

    # The code arrives: analysis, and the event says what arrived.
    d.send(reply_mail(still, d.user, "Kode tender: 10234567"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ticket] = d.tickets()
    assert ticket.state == "analysis"
    assert list(ticket.missing) == []
    received = [e for e in ticket.events if e.kind == "data_received"]
    assert len(received) == 1 and "kode_tender" in (received[0].data or {}).get("arrived", [])
    assert len([m for m in d.inbox(d.user) if "Data masih kurang" in m.subject]) == 1
    # The user hears that the data is complete: the ticket, what happens next and by when (the
    # analysis clock's deadline, the same one stored on the ticket for the console).
    [done] = d.wait_subject(d.user, "Data lengkap")
    assert ticket.number in done.subject and f"tiket {ticket.number} sudah lengkap" in done.text
    assert "petugas helpdesk menganalisis laporan Anda" in done.text
    assert ticket.analysis_due_at is not None
    stored = ticket.analysis_due_at
    stored = stored if stored.tzinfo else stored.replace(tzinfo=timezone.utc)  # SQLite keeps it naive, in UTC
    due = stored.astimezone(ZoneInfo("Asia/Jakarta"))  # the deployment's timezone
    assert "paling lambat" in done.text and f"{due:%d-%m-%Y} pukul {due:%H:%M}" in done.text
    assert done.text.count("Yth.") == 1
