"""Acting from the console in a real browser (issue 23): Chromium, ``mailbot web`` and ``mailbot run``
as processes beside each other on the real mail stack (Postfix, Dovecot), mail read over IMAP.

A staff member closes a ticket with an answer from the ticket page: the user's mailbox gets the
"closed" mail with that answer (queued by the console, sent by the outbox), and the colleague's
mailbox the information copy. A ticket opened in the
console for a caller acknowledges the caller by mail. A forged cross-site POST (another origin's
page submitting a form to the console) and a same-site POST without the CSRF token change nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mailbot.storage.models import Ticket, TicketEvent
from tests.e2e.conftest import Deployment, start_bot
from tests.e2e.test_console_browser import answers, free_port, sign_in
from tests.support.botproc import BotProcess, wait_until
from tests.support.browser import chromium
from tests.support.mailstack import unique_address

pytestmark = pytest.mark.e2e

SUBJECT = "Tidak bisa unggah dokumen penawaran"
ANSWER = "Sudah kami perbaiki: batas ukuran berkas dinaikkan, silakan unggah ulang."


@contextmanager
def attacker_site(html: str) -> Iterator[str]:
    """Another origin (localhost, another port) serving one page: the forged form."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_staff_act_from_the_console_beside_mailbot_run(deployment: Deployment, bots: list[BotProcess]) -> None:
    d = deployment
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    d.write_config(extra=f'[web]\nhost = "127.0.0.1"\nport = {port}\nbase_url = "{base}"\n')
    d.open_ticket(SUBJECT, "Unggah dokumen penawaran gagal terus sejak pagi, ukuran berkas 9 MB.")
    [ticket] = d.tickets()
    start_bot(bots, d)
    web = BotProcess(d.config_path, d.tmp / "web.log", command=("web",)).start()
    bots.append(web)
    wait_until(lambda: answers(base + "/") or not web.alive(), 60, "mailbot web to answer")
    assert web.alive(), web.log()
    caller = unique_address("penelepon", "vendor.test")

    with chromium() as browser:
        staff = browser.new_context(viewport={"width": 1280, "height": 900})
        page = staff.new_page()
        sign_in(page, d, d.staff1, base)

        # A forged POST from another site: the browser submits it, the console does nothing.
        forged = (f'<form id="f" method="post" action="{base}/tiket/{ticket.id}/aksi">'
                  '<input name="action" value="close"><input name="token" value="forged-token-1">'
                  '<textarea name="text">Ditutup oleh penyerang</textarea></form>'
                  '<script>document.getElementById("f").submit()</script>')
        with attacker_site(forged) as evil:
            victim = staff.new_page()
            victim.goto(evil)
            victim.wait_for_url(lambda url: url.startswith(base), timeout=15_000)
            victim.wait_for_load_state()
            assert "Ditutup oleh penyerang" not in victim.content()
        # The same without the token from the console's own origin (the cookie goes along): 403.
        refused = staff.request.post(f"{base}/tiket/{ticket.id}/aksi",
                                     form={"action": "close", "text": "tanpa token", "token": "forged-token-2"})
        assert refused.status == 403
        with d.sessions()() as session:
            assert session.get(Ticket, ticket.id).state != "closed"  # type: ignore[union-attr]

        # Close with an answer from the ticket page.
        page.goto(f"{base}/tiket/{ticket.id}")
        page.fill("textarea[name=text]", ANSWER)
        page.click("button[name=action][value=close]")
        page.wait_for_url(f"{base}/tiket/{ticket.id}?selesai=close#aksi")
        assert "Tiket ditutup" in page.inner_text("#aksi")
        closed = d.wait_subject(d.user, "Selesai")[-1]
        assert ANSWER in " ".join(closed.text.split()) and ticket.number in " ".join(closed.subject.split())
        with d.sessions()() as session:
            t = session.get(Ticket, ticket.id)
            assert t is not None and t.state == "closed" and t.closed_by == d.staff1
            actors = [e.actor for e in session.query(TicketEvent).filter(TicketEvent.ticket_id == ticket.id,
                                                                        TicketEvent.kind == "closed")]
            assert actors == [d.staff1]
        # The colleague sees it: an information copy with the answer, in the ticket's staff thread.
        [copy] = d.wait_subject(d.staff2, "Info:")
        assert ticket.number in copy.subject and d.staff1 in " ".join(copy.subject.split())
        assert ANSWER[:40] in " ".join(copy.text.split())

        # A ticket for a caller: the caller gets the acknowledgment.
        page.goto(f"{base}/tiket/baru")
        page.fill("#requester", caller)
        page.fill("#name", "Siti Penelepon")
        page.fill("#phone", "0813-1111-2222")
        page.select_option("#channel", "telepon")
        page.fill("#subject", "Lupa kata sandi akun SPSE")
        page.fill("#body", "Penelepon lupa kata sandi akun penyedia dan tidak menerima e-mail reset.")
        page.click("form.stack button[type=submit]")
        page.wait_for_url(lambda url: "selesai=baru" in url)
        ack = d.wait_subject(caller, "Tiket diterima")[-1]
        subject = " ".join(ack.subject.split())  # imap-tools may return a folded subject
        assert "Lupa kata sandi akun SPSE" in subject
        new = [t for t in d.tickets() if t.requester == caller]
        assert len(new) == 1 and new[0].number in subject
        assert any(e.kind == "opened_for_caller" and e.actor == d.staff1 for e in new[0].events)

    assert web.stop(timeout=30) == 0
    assert not web.error_lines()
