"""``#lkpp <pesan>`` on the real mail stack: staff write to LKPP in the escalation's thread, LKPP answers.

User mail -> staff ``#eskalasi`` -> staff ``#lkpp ...`` with a file (a reply to the staff notification,
through Postfix) -> LKPP's mailbox (Dovecot) holds the message, threaded to the escalation and
answerable at the same signed address -> LKPP answers from its own address -> the user gets the answer.
The user gets no mail of the staff member's message; the timeline records it with the staff member.
Then an officer of Helpdesk Teknis LKPP answers from their own address, and the next ``#lkpp`` reaches
that officer's own mailbox as well as LKPP's helpdesk, in the same thread.
"""

from __future__ import annotations

from mailbot.storage.models import TicketEvent
from tests.e2e.conftest import Deployment, reply_mail
from tests.e2e.test_sop import MISSING, staff_reply, state
from tests.support.mailstack import unique_address

ASK = "Mohon dicek ulang: pelapor menelepon, NPWP yang terdaftar di SIKaP berbeda."
DATA = "NPWP penyedia: 01.234.567.8-901.000"
PDF = b"%PDF-1.4 NPWP pelapor"
LKPP_ANSWER = "NPWP sudah kami sesuaikan di SIKaP. Silakan unggah ulang penawaran."


def test_staff_write_to_lkpp_and_lkpps_answer_reaches_the_user(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket("Gagal upload penawaran", MISSING + "\nKode tender 10234567")
    staff_reply(d, note, "#eskalasi\nServer menolak file; mohon dicek di sisi LKPP.")
    d.wait_helpdesk_inbox(1)
    d.poll()
    [dossier] = d.wait_subject(d.lkpp, "ESKALASI")
    d.wait_subject(d.user, "Diteruskan ke Helpdesk LKPP")
    assert state(d) == "escalated"
    user_before = {m.subject for m in d.inbox(d.user)}

    # The staff member answers the ticket's notification (its signed Reply-To) with #lkpp and a file.
    msg = reply_mail(note, d.staff1, f"#lkpp {ASK}\n{DATA}\n\nSalam,\nAndi", name="Andi (Staf Helpdesk)")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="npwp.pdf")
    d.send(msg)
    d.wait_helpdesk_inbox(1)
    d.poll()
    [message] = d.wait_subject(d.lkpp, "Pesan dari")
    # Threaded to the escalation, with its subject tag and the same signed address to answer to.
    dossier_id = dossier.headers["message-id"][0].strip()
    assert message.headers["in-reply-to"][0].strip() == dossier_id
    assert dossier_id in message.headers["references"][0].split()
    assert message.headers["reply-to"] == dossier.headers["reply-to"]
    assert " ".join(message.subject.split()).startswith(f"[ESKALASI {d.tickets()[0].number}]")
    assert message.to == (d.lkpp,)
    text = " ".join(message.text.split())
    assert ASK in text and DATA in text and "#lkpp" not in text and "menulis:" not in text  # no quoted history
    assert text.endswith("Salam, Andi Telepon: (0271) 555-0100")
    assert [(a.filename, a.payload) for a in message.attachments] == [("npwp.pdf", PDF)]
    assert "+t1." not in " ".join(message.headers.get("reply-to", ())) + message.text  # never the staff address
    assert state(d) == "escalated"
    [event] = d.rows(TicketEvent, TicketEvent.kind == "lkpp_messaged")
    assert event.actor == d.staff1 and event.data["files"] == ["npwp.pdf"] and ASK in str(event.data["message"])

    # LKPP answers from its own address to the message: the user gets LKPP's answer.
    d.send(reply_mail(message, d.lkpp, LKPP_ANSWER, name="Helpdesk LKPP"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [answer] = d.wait_subject(d.user, "Jawaban Helpdesk LKPP")
    assert LKPP_ANSWER in " ".join(answer.text.split())
    assert ASK not in answer.text and DATA not in answer.text and "npwp.pdf" not in answer.text
    # Of the staff member's message the user got nothing: only LKPP's answer is new.
    assert {m.subject for m in d.inbox(d.user)} - user_before == {answer.subject}
    assert state(d) == "escalated"

    # An officer of Helpdesk Teknis LKPP answers from their own address (to the signed Reply-To).
    officer = unique_address("rina.teknis", "lkpp.test")
    d.send(reply_mail(message, officer, "Kami periksa log server; mohon kirim jam kejadian.", name="Rina (Teknis LKPP)"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.wait_subject(d.user, "Jawaban Helpdesk LKPP", count=2)  # the officer's answer reached the user
    # The next #lkpp goes to LKPP's helpdesk and to that officer: one mail, both mailboxes.
    d.send(reply_mail(note, d.staff1, "#lkpp Kejadian pukul 14.05 WIB, tangkapan layar menyusul."))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [at_officer] = d.wait_subject(officer, "Pesan dari")
    second = [m for m in d.wait_subject(d.lkpp, "Pesan dari", count=2) if "14.05" in m.text]
    assert len(second) == 1 and "14.05 WIB" in at_officer.text
    assert set(at_officer.to) == {d.lkpp, officer}
    assert at_officer.headers["reply-to"] == dossier.headers["reply-to"]  # answers go to the same signed thread
