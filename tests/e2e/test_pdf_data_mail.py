"""Data sent in a PDF, on the real mail stack: a user's mail with the tender code only in an attached
letter (PDF, through Postfix into Dovecot) opens a ticket that goes straight to analysis: the user
gets no "Mohon lengkapi data" asking for what the letter says, and staff read the code's source in
the priority's reasons of the ticket."""

from __future__ import annotations

from tests.e2e.conftest import Deployment
from tests.e2e.test_sop import MISSING, PNG, state
from tests.support.pdfmake import make_pdf

LETTER = make_pdf(["CV MAJU JAYA", "Nomor: 017/MJ/XII/2026", "Perihal: Gagal unggah dokumen penawaran",
                   "Kode Tender : 10234567", "Hormat kami, Budi Santoso (Direktur)"])


def test_the_tender_code_in_an_attached_letter_is_not_asked_for(deployment: Deployment) -> None:
    d = deployment
    d.open_ticket("Gagal upload penawaran", MISSING + "\nKode tender ada di surat terlampir.",
                  attachments=[("layar.png", "image/png", PNG), ("surat_017.pdf", "application/pdf", LETTER)])
    [ack] = d.wait_subject(d.user, "TTS-")
    assert "lengkapi data" not in ack.subject.lower()
    assert state(d) == "analysis"
    assert not [m for m in d.inbox(d.user) if "lengkapi data" in m.subject.lower()]
    [ticket] = d.tickets()
    [priority] = [e for e in ticket.events if e.kind == "priority_set"]
    assert any("10234567" in str(hit) for hit in priority.data["hits"])  # the reasons staff read
