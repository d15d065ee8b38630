"""``#lkpp <pesan>``: staff write to LKPP on an escalated ticket, by mail and from the console.

The service on the test database: a ticket escalated by staff (to the signed staff address), then the
staff member's ``#lkpp`` reply with a file; the queued mail to LKPP is read back from the outbox (its
thread, Reply-To, subject tag, text and file), the user's mailbox gets nothing, the timeline and
``tickets show`` record it, and LKPP's answer to it reaches the user. On a ticket not at LKPP the
staff member is told why and nothing goes to LKPP. The console's form ("Kirim ke LKPP") is offered on
escalated tickets only, needs CSRF and the helpdesk's staff, and does what the mail does.
"""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from mailbot import cli
from mailbot.core import threads
from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox, Ticket, TicketEvent
from tests.integration.conftest import NOW, make_app
from tests.integration.test_console import KAB_STAFF, LKPP, STAFF, console, csrf_of, sign_in
from tests.integration.test_console_actions import events, ids, mails_to, text_of, ticket

__all__ = ["console"]  # the fixture, used by name

USER, STAFF_ONE, LKPP_BOX = "budi@vendor.test", "staf@lpse.test", "helpdesk@lkpp.test"
HELPDESK = "helpdesk@lpse.test"
PDF = b"%PDF-1.4 data pelapor"


def mail(sender: str, to: str, subject: str, body: str, mid: str, *, in_reply_to: str = "",
         files: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"], msg["Message-ID"] = format_datetime(NOW), f"<{mid}>"
    if in_reply_to:
        msg["In-Reply-To"] = msg["References"] = in_reply_to
    msg.set_content(body)
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


def queued(app: App, address: str) -> list[EmailMessage]:
    with app.factory() as session:
        raws = session.scalars(select(Outbox.raw).where(Outbox.to_key == address).order_by(Outbox.id)).all()
    return [email.message_from_bytes(r, policy=policy.default) for r in raws]  # type: ignore[misc]


def body(msg: EmailMessage) -> str:
    return " ".join(msg.get_body(("plain",)).get_content().split())  # type: ignore[union-attr]


def escalated(app: App) -> int:
    outcome = process_raw(app, mail(USER, HELPDESK, "Gagal upload penawaran",
                                    "Upload penawaran gagal terus. Kode tender 10234567", "u1@vendor.test"), NOW)
    assert outcome.ticket_id is not None
    process_raw(app, mail(STAFF_ONE, staff_address(app, outcome.ticket_id), "Re: [TTS-000001]",
                          "#eskalasi\nServer menolak file; mohon dicek.", "s1@lpse.test"), NOW)
    return outcome.ticket_id


def staff_address(app: App, ticket_id: int) -> str:
    return threads.reply_address(HELPDESK, ticket_id, app.secret)


def test_staff_write_to_lkpp_in_the_escalations_thread_and_lkpps_answer_reaches_the_user(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app(tmp_path)
    tid = escalated(app)
    [dossier] = queued(app, LKPP_BOX)
    to_user = len(queued(app, USER))
    process_raw(app, mail(STAFF_ONE, staff_address(app, tid), "Re: [TTS-000001] Gagal upload penawaran",
                          "#lkpp Mohon dicek ulang, pelapor menelepon.\nNPWP penyedia: 01.234.567.8-901.000\n\n"
                          "Salam,\nAndi\n\n> kutipan e-mail sebelumnya", "s2@lpse.test",
                          files=(("npwp.pdf", PDF),)), NOW)
    [_, message] = queued(app, LKPP_BOX)
    # In the escalation's thread, as the escalation is addressed: LKPP's signed address to answer to.
    assert message["In-Reply-To"] == dossier["Message-ID"]
    assert dossier["Message-ID"] in str(message["References"])
    assert message["Reply-To"] == dossier["Reply-To"] == threads.lkpp_reply_address(HELPDESK, tid, app.secret)
    assert str(message["To"]) == LKPP_BOX and str(message["From"]).endswith(f"<{HELPDESK}>")
    assert str(message["Subject"]).startswith("[ESKALASI TTS-000001] Pesan dari")
    text = body(message)
    assert "Mohon dicek ulang, pelapor menelepon." in text and "NPWP penyedia: 01.234.567.8-901.000" in text
    assert "#lkpp" not in text and "kutipan" not in text and "+t1." not in text
    assert text.rstrip().endswith("Salam, Andi")  # the staff member's own sign-off closes the mail
    assert {str(p.get_filename()): p.get_content() for p in message.iter_attachments()} == {"npwp.pdf": PDF}
    assert len(queued(app, USER)) == to_user  # the user gets nothing
    with app.factory() as session:
        t = session.get(Ticket, tid)
        assert t is not None and t.state == "escalated"
        [event] = session.scalars(select(TicketEvent).where(TicketEvent.kind == "lkpp_messaged")).all()
        assert event.actor == STAFF_ONE and event.sop_step == 10 and event.data["files"] == ["npwp.pdf"]
        assert "NPWP penyedia" in str(event.data["message"])
    assert cli.main(["tickets", "show", "TTS-000001", "--config", str(tmp_path / "mailbot.toml")]) == 0
    shown = capsys.readouterr().out
    assert "lkpp_messaged" in shown and f"message to LKPP from {STAFF_ONE}: Mohon dicek ulang" in shown

    # LKPP answers the message (to its signed address): the answer goes to the user as LKPP's.
    process_raw(app, mail("officer@lkpp.test", str(message["Reply-To"]), f"Re: {message['Subject']}",
                          "Terima kasih, NPWP sudah kami perbaiki di SIKaP. Silakan unggah ulang.", "l1@lkpp.test",
                          in_reply_to=str(message["Message-ID"])), NOW)
    answer = queued(app, USER)[-1]
    assert "Jawaban Helpdesk LKPP" in str(answer["Subject"]) and "NPWP sudah kami perbaiki" in body(answer)


@pytest.mark.parametrize(("before", "why"), [
    ("", "tidak sedang di LKPP"),  # never escalated
    ("#tarik sudah kami tangani", "tidak sedang di LKPP"),  # taken back
    ("#tutup\nSudah selesai.", "sudah ditutup"),
])
def test_on_a_ticket_not_at_lkpp_staff_are_told_why_and_nothing_is_sent(tmp_path: Path, before: str,
                                                                        why: str) -> None:
    app = make_app(tmp_path)
    if before:
        tid = escalated(app)
        process_raw(app, mail(STAFF_ONE, staff_address(app, tid), "Re: [TTS-000001]", before, "s3@lpse.test"), NOW)
    else:
        outcome = process_raw(app, mail(USER, HELPDESK, "Gagal upload penawaran", "Upload gagal. Kode tender 1023",
                                        "u1@vendor.test"), NOW)
        assert outcome.ticket_id is not None
        tid = outcome.ticket_id
    to_lkpp, to_user = len(queued(app, LKPP_BOX)), len(queued(app, USER))
    process_raw(app, mail(STAFF_ONE, staff_address(app, tid), "Re: [TTS-000001]", "#lkpp mohon dicek ulang",
                          "s4@lpse.test"), NOW)
    assert len(queued(app, LKPP_BOX)) == to_lkpp and len(queued(app, USER)) == to_user
    refusal = queued(app, STAFF_ONE)[-1]
    assert "Perintah ditolak" in str(refusal["Subject"]) and why in body(refusal)
    with app.factory() as session:
        assert not session.scalars(select(TicketEvent).where(TicketEvent.kind == "lkpp_messaged")).all()


# ---- the console --------------------------------------------------------------------------------

LKPP_FORM = re.compile(r'class="stack to-lkpp">.*?name="token" value="([A-Za-z0-9_-]+)"', re.S)


def lkpp_form(client: TestClient, ticket_id: int) -> tuple[str, str]:
    page = client.get(f"/tiket/{ticket_id}").text
    match = LKPP_FORM.search(page)
    assert match, "no 'Kirim ke LKPP' form"
    return csrf_of(page), match[1]


def test_the_console_form_sends_to_lkpp_on_escalated_tickets_only(console: tuple) -> None:
    (kota, kab), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    at_lkpp, analysis = ids(kota)["Lupa password akun"], ids(kota)["Gagal upload <script>alert(1)</script>"]
    form_page = client.get(f"/tiket/{at_lkpp}").text
    assert 'value="to_lkpp"' in form_page and f"Dikirim ke: {LKPP_BOX}</p>" in form_page  # nobody at LKPP answered
    assert 'value="to_lkpp"' not in client.get(f"/tiket/{analysis}").text
    csrf, token = lkpp_form(client, at_lkpp)
    # Without CSRF, and from another helpdesk's staff: refused, nothing sent.
    assert client.post(f"/tiket/{at_lkpp}/aksi", data={"token": token, "action": "to_lkpp", "text": "x"}
                       ).status_code == 403
    kab_client = make()
    sign_in(kab_client, kab, KAB_STAFF)
    foreign = kab_client.post(f"/tiket/{at_lkpp}/aksi", data={
        "csrf": csrf_of(kab_client.get("/antrian").text), "token": "t" * 20, "action": "to_lkpp", "text": "x"})
    assert foreign.status_code == 404
    assert not mails_to(kota, LKPP_BOX, at_lkpp)

    before_user = len(mails_to(kota, "budi@vendor.test", at_lkpp))
    done = client.post(f"/tiket/{at_lkpp}/aksi", data={"csrf": csrf, "token": token, "action": "to_lkpp",
                                                       "text": "Pelapor menelepon: akun atas nama CV Maju."},
                       files=[("files", ("ktp.pdf", PDF, "application/pdf"))])
    assert done.status_code == 303 and done.headers["location"] == f"/tiket/{at_lkpp}?selesai=to_lkpp#aksi"
    [sent] = mails_to(kota, LKPP_BOX, at_lkpp)
    assert "akun atas nama CV Maju" in text_of(sent) and "[ESKALASI" in str(sent["Subject"])
    assert [p.get_filename() for p in sent.iter_attachments()] == ["ktp.pdf"]
    assert len(mails_to(kota, "budi@vendor.test", at_lkpp)) == before_user
    [event] = events(kota, at_lkpp, "lkpp_messaged")
    assert event.actor == STAFF and event.data["channel"] == "web" and event.data["files"] == ["ktp.pdf"]
    page = client.get(f"/tiket/{at_lkpp}?selesai=to_lkpp").text
    assert "Pesan dikirim ke Helpdesk LKPP" in page and "Pesan petugas ke LKPP" in page  # notice, timeline
    assert ticket(kota, at_lkpp).state == "escalated"

    # The same form again acts once; an empty one is refused on the page and changes nothing.
    again = client.post(f"/tiket/{at_lkpp}/aksi", data={"csrf": csrf, "token": token, "action": "to_lkpp",
                                                        "text": "Pelapor menelepon: akun atas nama CV Maju."})
    assert again.status_code == 303 and len(mails_to(kota, LKPP_BOX, at_lkpp)) == 1
    csrf, token = lkpp_form(client, at_lkpp)
    empty = client.post(f"/tiket/{at_lkpp}/aksi", data={"csrf": csrf, "token": token, "action": "to_lkpp",
                                                        "text": "  "})
    assert empty.status_code == 409 and "tulis pesan untuk LKPP" in empty.text
    assert len(mails_to(kota, LKPP_BOX, at_lkpp)) == 1

    # A form left open while the ticket was taken back: refused, the text back in LKPP's box only.
    csrf, token = lkpp_form(client, at_lkpp)
    with kota.factory.begin() as session:
        t = session.get(Ticket, at_lkpp)
        assert t is not None
        t.state = "analysis"
    late = client.post(f"/tiket/{at_lkpp}/aksi", data={"csrf": csrf, "token": token, "action": "to_lkpp",
                                                       "text": "Untuk LKPP saja"})
    assert late.status_code == 409 and "tidak sedang di LKPP" in late.text
    assert '<textarea id="text" name="text" rows="8"></textarea>' in late.text  # not in the user's answer box
    assert len(mails_to(kota, LKPP_BOX, at_lkpp)) == 1


def test_lkpp_officers_get_no_staff_form_to_write_to_themselves(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, LKPP)
    tid = ids(kota)["Lupa password akun"]
    assert 'value="to_lkpp"' not in client.get(f"/tiket/{tid}").text
    csrf = csrf_of(client.get(f"/tiket/{tid}").text)
    refused = client.post(f"/tiket/{tid}/aksi", data={"csrf": csrf, "token": "z" * 24, "action": "to_lkpp",
                                                      "text": "x"})
    assert refused.status_code == 409 and not mails_to(kota, LKPP_BOX, tid)

