"""The LKPP lifecycle on the real mail stack (issue 20, part 2): what LKPP and the LPSE do while a ticket
is escalated, and what reaches the user.

LKPP asks for data and the user's answer goes back to LKPP; staff take an escalation back (``#tarik``)
or close it (LKPP is told either way); LKPP's turnaround clock reminds LKPP and tells the coordinator;
files from LKPP and from staff reach the user (after LKPP's answer the LPSE helpdesk is reminded to
decide); staff relay an unverified LKPP mail with ``#teruskan``.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.message import EmailMessage

from imap_tools import MailMessage

from mailbot.service import deadlines
from mailbot.service.app import build_app
from mailbot.settings.loading import load_settings
from mailbot.storage.models import Ticket, TicketEvent
from tests.e2e.conftest import Deployment, reply_mail
from tests.e2e.test_lkpp import escalate, officer_mail
from tests.e2e.test_sla_mail import tick_and_send, with_coordinator
from tests.e2e.test_sop import staff_reply, state

PDF = b"%PDF-1.4\n% panduan unggah dokumen\n" + bytes(range(256)) * 8


def with_file(msg: EmailMessage, filename: str, data: bytes, ctype: str = "application/pdf") -> EmailMessage:
    maintype, subtype = ctype.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def deliver(d: Deployment, msg: EmailMessage) -> None:
    d.send(msg)
    d.wait_helpdesk_inbox(1)
    d.poll()


def staff_note(d: Deployment) -> MailMessage:
    """The staff notification of the (only) ticket: replying to it is replying to the ticket."""
    return d.wait_subject(d.staff1, "Tiket baru")[-1]


def test_lkpp_asks_for_data_the_user_answers_and_it_goes_back_to_lkpp(deployment: Deployment) -> None:
    d = deployment
    dossier = escalate(d)
    deliver(d, officer_mail(d, dossier, "officer.teknis@lkpp.test", f"Re: {' '.join(dossier.subject.split())}",
                            "#mintadata nomor NPWP penyedia, log browser\nMohon dikirimkan agar dapat kami periksa."))
    [ask] = d.wait_subject(d.user, "Mohon lengkapi data")
    assert "Helpdesk LKPP" in ask.text and "nomor NPWP penyedia" in ask.text and "log browser" in ask.text
    assert "Mohon dikirimkan" in ask.text
    [note] = d.wait_subject(d.staff1, "Jawaban LKPP")
    assert "meminta data" in note.text and "nomor NPWP penyedia" in note.text
    assert state(d) == "escalated"
    # The user answers the request, with a file: it goes to LKPP (to answer, LKPP uses the signed address).
    deliver(d, with_file(reply_mail(ask, d.user, "NPWP 01.234.567.8-999.000, log terlampir."), "log.txt",
                         b"console: upload failed 413", "text/plain"))
    [update] = d.wait_subject(d.lkpp, "Tambahan dari pelapor")
    assert "01.234.567.8-999.000" in update.text
    assert [a.filename for a in update.attachments] == ["log.txt"]
    assert "+l1." in update.headers["reply-to"][0]
    [told] = d.wait_subject(d.staff1, "Balasan pelapor")
    assert "sudah diteruskan ke LKPP" in told.text
    assert state(d) == "escalated"
    [ticket] = d.tickets()
    [asked] = [e for e in ticket.events if e.kind == "lkpp_replied"]
    assert asked.data["asked"] == ["nomor NPWP penyedia", "log browser"]
    assert ticket.events[-1].kind == "user_replied"


def test_staff_take_the_escalation_back_and_lkpp_is_told(deployment: Deployment) -> None:
    d = deployment
    escalate(d)
    staff_reply(d, staff_note(d), "#tarik masalahnya ternyata di jaringan LPSE\nSilakan coba unggah kembali sekarang.")
    d.wait_helpdesk_inbox(1)
    d.poll()
    [withdrawn] = d.wait_subject(d.lkpp, "Eskalasi ditarik")
    assert "masalahnya ternyata di jaringan LPSE" in withdrawn.text and "Silakan coba" not in withdrawn.text
    [answer] = d.wait(d.user, 1, lambda m: "Silakan coba unggah kembali" in m.text)
    assert "jaringan LPSE" not in answer.text  # the reason was for LKPP
    assert state(d) == "analysis"
    [ticket] = d.tickets()
    kinds = [e.kind for e in ticket.events]
    assert kinds[kinds.index("withdrawn") + 1] == "analysis_started"
    # The ticket is the LPSE's again: #tarik a second time is refused, #tutup closes without telling LKPP.
    staff_reply(d, staff_note(d), "#tarik")
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.wait_subject(d.staff1, "Perintah ditolak")
    assert len([m for m in d.inbox(d.lkpp) if "Eskalasi ditarik" in m.subject]) == 1


def test_lpse_closing_an_escalated_ticket_tells_lkpp(deployment: Deployment) -> None:
    d = deployment
    escalate(d)
    staff_reply(d, staff_note(d), "#tutup\nSudah kami selesaikan di LPSE: silakan unggah ulang.")
    d.wait_helpdesk_inbox(1)
    d.poll()
    [closed] = d.wait_subject(d.user, "Selesai")
    assert "silakan unggah ulang" in closed.text
    [told] = d.wait_subject(d.lkpp, "Ditutup oleh LPSE")
    assert "Tidak diperlukan tindak lanjut" in told.text and "silakan unggah ulang" in told.text
    assert "+t1." not in " ".join(told.headers.get("reply-to", ()))
    assert state(d) == "closed"


def test_lkpp_is_reminded_at_the_warning_and_the_coordinator_told_at_the_breach(deployment: Deployment) -> None:
    d = deployment
    coordinator = with_coordinator(d)
    dossier = escalate(d)
    app = build_app(load_settings(d.config_path))
    with app.factory() as session:
        ticket = session.get(Ticket, d.tickets()[0].id)
        assert ticket is not None
        st = deadlines.status(session, ticket, app, datetime.now(timezone.utc))
    clock = st.clock("lkpp_turnaround")
    resolution = st.clock("resolution")
    assert clock is not None and resolution is not None and resolution.due_at is None  # LPSE's clock paused
    warn_at, due_at = (m.at for m in clock.marks)
    assert warn_at is not None and due_at is not None
    [stored] = d.tickets()
    assert stored.lkpp_due_at == due_at and stored.due_at is None and stored.paused_since is not None
    code, out, _ = d.cli("tickets", "show", "TTS-000001")
    assert code == 0 and "LKPP answer " in out and "(LKPP holds the ticket)" in out

    assert tick_and_send(app, warn_at).warnings == 1
    [reminder] = d.wait_subject(d.lkpp, "Pengingat")
    assert "masih menunggu tanggapan" in reminder.text and "TTS-000001" in reminder.subject
    assert dossier.headers["message-id"][0].strip() in reminder.headers["references"][0]  # in the thread
    assert "+l1." in reminder.headers["reply-to"][0]
    assert not [m for m in d.inbox(d.staff1) if "Peringatan waktu" in m.subject]  # LKPP's, not staff's

    assert tick_and_send(app, due_at).breaches == 1
    [breach] = d.wait_subject(coordinator, "Standar waktu terlewati")
    assert "Tanggapan Helpdesk LKPP" in breach.subject and "#tarik" in breach.text
    assert tick_and_send(app, due_at).breaches == 0
    time.sleep(1)
    assert len([m for m in d.inbox(d.lkpp) if "Pengingat" in m.subject]) == 1
    assert len(d.inbox(coordinator)) == 1


def test_data_lkpp_asked_for_is_reminded_then_the_ticket_closes_and_lkpp_is_told(deployment: Deployment) -> None:
    d = deployment
    dossier = escalate(d)
    deliver(d, officer_mail(d, dossier, "officer.teknis@lkpp.test", f"Re: {' '.join(dossier.subject.split())}",
                            "#mintadata nomor BAST\nMohon dikirimkan agar dapat kami periksa."))
    d.wait_subject(d.user, "Mohon lengkapi data")
    app = build_app(load_settings(d.config_path))
    with app.factory() as session:
        ticket = session.get(Ticket, d.tickets()[0].id)
        assert ticket is not None
        st = deadlines.status(session, ticket, app, datetime.now(timezone.utc))
    wait = st.waiting
    assert wait is not None and wait.by_lkpp and wait.remind_at is not None and wait.autoclose_at is not None
    [stored] = d.tickets()
    assert stored.state == "escalated" and stored.remind_at == wait.remind_at  # the console and status show it

    assert tick_and_send(app, wait.remind_at).reminders == 1
    [reminder] = d.wait_subject(d.user, "Pengingat")
    assert "diminta Helpdesk LKPP" in reminder.text and "nomor BAST" in reminder.text
    assert state(d) == "escalated"
    [stored] = d.tickets()
    assert stored.autoclose_at is not None

    assert tick_and_send(app, stored.autoclose_at).autoclosed == 1
    [closed] = d.wait_subject(d.user, "Tiket ditutup karena data belum dilengkapi")
    assert "diminta Helpdesk LKPP" in closed.text
    [told] = d.wait_subject(d.lkpp, "Ditutup otomatis")
    assert "nomor BAST" in told.text and "tidak mengirim data yang diminta LKPP" in told.text
    assert state(d) == "closed"
    [ticket_after] = d.tickets()
    [auto] = [e for e in ticket_after.events if e.kind == "closed"]
    assert auto.data["auto"] is True and auto.data["by_lkpp"] is True


def test_files_from_lkpp_and_from_staff_reach_the_user(deployment: Deployment) -> None:
    d = deployment
    dossier = escalate(d)
    deliver(d, with_file(officer_mail(d, dossier, "officer@lkpp.test", f"Re: {' '.join(dossier.subject.split())}",
                                      "Silakan ikuti panduan terlampir."), "panduan.pdf", PDF))
    [relayed] = d.wait_subject(d.user, "Jawaban Helpdesk LKPP")
    assert [(a.filename, a.payload) for a in relayed.attachments] == [("panduan.pdf", PDF)]
    [copy] = d.wait_subject(d.staff1, "Jawaban LKPP")
    assert [a.filename for a in copy.attachments] == ["panduan.pdf"]
    # LKPP answered without closing: the LPSE helpdesk owes the decision, with a deadline and one reminder.
    [stored] = d.tickets()
    assert stored.state == "escalated" and stored.lkpp_due_at is None and stored.next_due_at is not None
    code, out, _ = d.cli("tickets", "show", "TTS-000001")
    assert code == 0 and "helpdesk decision " in out and "menunggu keputusan helpdesk: tutup atau tanya LKPP" in out
    app = build_app(load_settings(d.config_path))
    assert tick_and_send(app, stored.next_due_at).reminders == 1
    [decide] = d.wait_subject(d.staff1, "Perlu keputusan")
    assert "#tutup" in decide.text and "tanyakan lagi ke Helpdesk LKPP" in decide.text
    assert tick_and_send(app, stored.next_due_at).reminders == 0  # once per LKPP answer
    # A staff member's file goes with the answer too.
    reply = with_file(reply_mail(staff_note(d), d.staff1, "#tutup\nBerikut formulir yang perlu diisi.",
                                 name="Staf Helpdesk"), "formulir.pdf", PDF)
    deliver(d, reply)
    [closed] = d.wait_subject(d.user, "Selesai")
    assert [(a.filename, a.payload) for a in closed.attachments] == [("formulir.pdf", PDF)]


def test_staff_relay_an_unverified_lkpp_mail_with_teruskan(deployment: Deployment) -> None:
    d = deployment
    dossier = escalate(d)
    # LKPP answered from its own address to the helpdesk address (not the signed Reply-To): unproven.
    unproven = with_file(reply_mail(dossier, d.lkpp, "Silakan perbarui Apendo ke versi terbaru.",
                                    name="Helpdesk LKPP", to=d.helpdesk), "apendo.pdf", PDF)
    deliver(d, unproven)
    [warning] = d.wait_subject(d.staff1, "TIDAK TERVERIFIKASI")
    assert "#teruskan" in warning.text and [a.filename for a in warning.attachments] == ["apendo.pdf"]
    assert not [m for m in d.inbox(d.user) if "Jawaban Helpdesk LKPP" in m.subject]
    # Staff confirmed it with LKPP by telephone and relay it, with a line of their own.
    staff_reply(d, warning, "#teruskan\nJawaban ini sudah kami konfirmasi ke LKPP.")
    d.wait_helpdesk_inbox(1)
    d.poll()
    [relayed] = d.wait_subject(d.user, "Jawaban Helpdesk LKPP")
    assert "perbarui Apendo" in relayed.text and "sudah kami konfirmasi" in relayed.text
    assert [(a.filename, a.payload) for a in relayed.attachments] == [("apendo.pdf", PDF)]
    assert d.rows(TicketEvent, TicketEvent.kind == "lkpp_relayed")
    # Nothing is left to relay: a second #teruskan is refused and the user gets nothing more.
    staff_reply(d, warning, "#teruskan")
    d.wait_helpdesk_inbox(1)
    d.poll()
    [refused] = d.wait_subject(d.staff1, "Perintah ditolak")
    assert "belum diteruskan" in refused.text
    assert len([m for m in d.inbox(d.user) if "Jawaban Helpdesk LKPP" in m.subject]) == 1
    assert state(d) == "escalated"


def test_the_dossier_tells_the_history_in_indonesian(deployment: Deployment) -> None:
    d = deployment
    dossier = escalate(d)
    text = dossier.text
    kronologi = text[text.index("Kronologi:"):text.index("Pesan:")]
    assert "[Langkah 1: Laporan masuk]  Laporan diterima dari " + d.user in kronologi
    assert "[Langkah 2: Penetapan prioritas]  Prioritas ditetapkan otomatis dari tabel prioritas" in kronologi
    assert "[Langkah 10: Eskalasi ke Helpdesk LKPP]  Dieskalasi ke Helpdesk LKPP oleh " + d.staff1 in kronologi
    assert "WIB" in kronologi  # local times, with their zone
    for debug in ("call_task", "priority_set", "confirm the data request", "escalated to LKPP"):
        assert debug not in text
    assert f"| pelapor | {d.user}" in text and "| user |" not in text
