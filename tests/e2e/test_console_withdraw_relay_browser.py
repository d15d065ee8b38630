"""``#tarik`` and ``#teruskan`` from the console in a real browser (Chromium, ``mailbot web`` and
``mailbot run`` as processes on the real mail stack, mail read over IMAP).

A ticket escalated by mail gets an LKPP answer without proof (to the public address): the ticket page
offers "Teruskan ke pengguna" and the user's mailbox gets LKPP's answer with the staff member's
introduction; the button is gone afterwards. "Tarik eskalasi dari LKPP" tells LKPP (with the reason)
and the ticket is back in analysis. The SLA report's dates are typed in the Indonesian order.
"""

from __future__ import annotations

import pytest

from mailbot.storage.models import Ticket, TicketEvent
from tests.e2e.conftest import Deployment, reply_mail, start_bot
from tests.e2e.test_console_browser import answers, free_port, sign_in
from tests.e2e.test_lkpp import escalate
from tests.support.botproc import BotProcess, wait_until
from tests.support.browser import chromium

pytestmark = pytest.mark.e2e

LKPP_ANSWER = "Silakan perbarui Apendo ke versi terbaru, lalu unggah ulang."
INTRO = "Jawaban ini sudah kami konfirmasi ke LKPP lewat telepon."
REASON = "server LPSE ternyata penuh, sudah kami bereskan"


def test_staff_relay_and_withdraw_from_the_ticket_page(deployment: Deployment, bots: list[BotProcess]) -> None:
    d = deployment
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    d.write_config(extra=f'[web]\nhost = "127.0.0.1"\nport = {port}\nbase_url = "{base}"\n')
    dossier = escalate(d)
    # LKPP answered from its own address to the helpdesk address (not the signed Reply-To): unproven.
    d.send(reply_mail(dossier, d.lkpp, LKPP_ANSWER, name="Helpdesk LKPP", to=d.helpdesk))
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.wait_subject(d.staff1, "TIDAK TERVERIFIKASI")
    [ticket] = d.tickets()
    assert ticket.state == "escalated"
    start_bot(bots, d)
    web = BotProcess(d.config_path, d.tmp / "web.log", command=("web",)).start()
    bots.append(web)
    wait_until(lambda: answers(base + "/") or not web.alive(), 60, "mailbot web to answer")
    assert web.alive(), web.log()

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()  # a phone
        sign_in(page, d, d.staff1, base)
        page.goto(f"{base}/tiket/{ticket.id}")
        assert "tidak terverifikasi" in page.inner_text("#aksi")
        page.fill("#relay-text", INTRO)
        page.click("button[name=action][value=relay]")
        page.wait_for_url(f"{base}/tiket/{ticket.id}?selesai=relay#aksi")
        assert "diteruskan ke pengguna" in page.inner_text("#aksi")
        assert page.locator("button[name=action][value=relay]").count() == 0  # nothing left to relay
        [relayed] = d.wait_subject(d.user, "Jawaban Helpdesk LKPP")
        flat = " ".join(relayed.text.split())
        assert LKPP_ANSWER in flat and INTRO in flat

        page.fill("#withdraw-reason", REASON)
        page.click("button[name=action][value=withdraw]")
        page.wait_for_url(f"{base}/tiket/{ticket.id}?selesai=withdraw#aksi")
        assert "Eskalasi ditarik dari LKPP" in page.inner_text("#aksi")
        assert page.locator("button[name=action][value=withdraw]").count() == 0
        assert page.locator("button[name=action][value=escalate]").count() == 1  # the LPSE handles it again
        withdrawn = d.wait(d.lkpp, 1, lambda m: REASON in " ".join(m.text.split()))
        assert ticket.number in " ".join(withdrawn[-1].subject.split())
        with d.sessions()() as session:
            t = session.get(Ticket, ticket.id)
            assert t is not None and t.state == "analysis"
            kinds = {(e.kind, e.actor, (e.data or {}).get("channel")) for e in
                     session.query(TicketEvent).filter(TicketEvent.ticket_id == ticket.id)}
            assert {("lkpp_relayed", d.staff1, "web"), ("withdrawn", d.staff1, "web")} <= kinds

        # The report's period: typed day first, whatever language the browser speaks.
        page.goto(f"{base}/laporan")
        assert page.input_value("input[name=dari]").count("-") == 2 and page.input_value("input[name=dari]")[2] == "-"
        page.fill("input[name=dari]", "01-11-2026")
        page.fill("input[name=sampai]", "30-11-2026")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(lambda url: "dari=01-11-2026" in url)
        assert "Periode 01-11-2026 s.d. 30-11-2026" in page.inner_text("main")

    assert web.stop(timeout=30) == 0
    assert not web.error_lines()
