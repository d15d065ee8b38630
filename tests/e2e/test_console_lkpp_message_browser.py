"""``#lkpp`` from the console in a real browser (Chromium, ``mailbot web`` and ``mailbot run`` as
processes on the real mail stack, mail read over IMAP).

A ticket escalated by mail: its page offers "Pesan untuk Helpdesk LKPP"; the staff member types the
message, attaches a file and clicks "Kirim ke LKPP". LKPP's mailbox gets it in the escalation's thread
with the file, the user gets nothing, and the page says so and shows it in the timeline. A ticket not
at LKPP has no such form.
"""

from __future__ import annotations

import pytest

from mailbot.storage.models import TicketEvent
from tests.e2e.conftest import Deployment, start_bot
from tests.e2e.test_console_browser import answers, free_port, sign_in
from tests.e2e.test_lkpp import escalate
from tests.support.botproc import BotProcess, wait_until
from tests.support.browser import chromium

pytestmark = pytest.mark.e2e

MESSAGE = "Pelapor menelepon: NPWP di SIKaP berbeda dengan NPWP di dokumen penawaran. Mohon dicek."
PDF = b"%PDF-1.4 bukti NPWP"


def test_staff_send_a_message_to_lkpp_from_the_ticket_page(deployment: Deployment, bots: list[BotProcess],
                                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    d = deployment
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    d.write_config(extra=f'[web]\nhost = "127.0.0.1"\nport = {port}\nbase_url = "{base}"\n')
    dossier = escalate(d)
    [ticket] = d.tickets()
    user_mails = len([m for m in d.inbox(d.user) if ticket.number in m.subject])
    d.open_ticket("Jadwal pelatihan SPSE", "Kapan jadwal pelatihan SPSE bulan depan?")
    other = d.tickets()[1]
    start_bot(bots, d)
    web = BotProcess(d.config_path, d.tmp / "web.log", command=("web",)).start()
    bots.append(web)
    wait_until(lambda: answers(base + "/") or not web.alive(), 60, "mailbot web to answer")
    assert web.alive(), web.log()
    upload = tmp_path_factory.mktemp("upload") / "npwp.pdf"
    upload.write_bytes(PDF)

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()  # a phone
        sign_in(page, d, d.staff1, base)
        page.goto(f"{base}/tiket/{other.id}")  # in analysis: nothing to write to LKPP about
        assert page.locator("button[name=action][value=to_lkpp]").count() == 0
        page.goto(f"{base}/tiket/{ticket.id}")
        page.fill("#lkpp-text", MESSAGE)
        page.set_input_files("#lkpp-files", str(upload))
        page.click("button[name=action][value=to_lkpp]")
        page.wait_for_url(f"{base}/tiket/{ticket.id}?selesai=to_lkpp#aksi")
        assert "Pesan dikirim ke Helpdesk LKPP" in page.inner_text("#aksi")
        assert "Pesan petugas ke LKPP" in page.inner_text("main")  # the timeline
        assert page.input_value("#lkpp-text") == "" and page.input_value("#text") == ""

        [message] = d.wait_subject(d.lkpp, "Pesan dari")
        assert message.headers["in-reply-to"][0].strip() == dossier.headers["message-id"][0].strip()
        assert message.headers["reply-to"] == dossier.headers["reply-to"]
        assert MESSAGE in " ".join(message.text.split())
        assert [(a.filename, a.payload) for a in message.attachments] == [("npwp.pdf", PDF)]
        with d.sessions()() as session:
            kinds = {(e.kind, e.actor, (e.data or {}).get("channel")) for e in
                     session.query(TicketEvent).filter(TicketEvent.ticket_id == ticket.id)}
            assert ("lkpp_messaged", d.staff1, "web") in kinds
        assert len([m for m in d.inbox(d.user) if ticket.number in m.subject]) == user_mails  # nothing to the user

    assert web.stop(timeout=30) == 0
    assert not web.error_lines()
