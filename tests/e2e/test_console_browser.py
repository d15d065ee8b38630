"""The console in a real browser: ``mailbot web`` as a process, Chromium (Debian's, via Playwright),
the sign-in link read from the staff mailbox over IMAP (Postfix, Dovecot).

One test walks what a staff member does (ask for a link, read the mail, sign in, the queue, a
ticket, sign out) and what others must not manage: an anonymous visitor, a non-staff address, a
reused link, an expired link, another helpdesk's staff, POSTs without a CSRF token. Then SIGTERM
stops the server cleanly.
"""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import update

from mailbot.storage.models import Outbox, Ticket, WebAudit, WebSignInLink
from tests.e2e.conftest import Deployment
from tests.support.botproc import BotProcess, wait_until
from tests.support.browser import chromium

pytestmark = pytest.mark.e2e

KOTA_SUBJECT = "Gagal unggah dokumen penawaran"
KAB_SUBJECT = "Akun penyedia kabupaten terkunci"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def ask_for_link(page: Any, base: str, address: str) -> str:
    page.goto(base + "/")
    page.fill("#email", address)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return str(page.inner_text("main"))


def link_from_mailbox(d: Deployment, address: str, base: str, count: int = 1) -> str:
    mail = d.wait_subject(address, "Tautan masuk", count)[-1]
    found = re.search(re.escape(base) + r"/masuk/[A-Za-z0-9_-]+", mail.text)
    assert found, mail.text
    return found[0]


def sign_in(page: Any, d: Deployment, address: str, base: str, count: int = 1) -> None:
    ask_for_link(page, base, address)
    link = link_from_mailbox(d, address, base, count)
    page.goto(link)
    page.click("#masuk")
    page.wait_for_url(base + "/antrian")


def test_console_in_a_real_browser(deployment: Deployment, bots: list[BotProcess]) -> None:
    d = deployment
    kab = d.add_helpdesk("kab", name="Helpdesk LPSE Kabupaten Uji")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    d.write_config(extra=f'[web]\nhost = "127.0.0.1"\nport = {port}\nbase_url = "{base}"\n')
    d.open_ticket(KOTA_SUBJECT, "Upload dokumen penawaran gagal terus sejak pagi. HP 0812-3456-7890")
    kab.new_mail(KAB_SUBJECT, "Akun saya terkunci setelah salah kata sandi.")
    kab.wait_helpdesk_inbox(1)
    d.poll()
    with d.sessions()() as session:
        ids = {t.subject: t.id for t in session.query(Ticket)}
    assert set(ids) == {KOTA_SUBJECT, KAB_SUBJECT}

    web = BotProcess(d.config_path, d.tmp / "web.log", command=("web",)).start()
    bots.append(web)
    wait_until(lambda: answers(base + "/") or not web.alive(), 60, "mailbot web to answer")
    assert web.alive(), web.log()

    with chromium() as browser:
        # A staff member, on a phone: link by mail, the queue, a ticket.
        staff = browser.new_context(viewport={"width": 390, "height": 844})
        page = staff.new_page()
        sent_text = ask_for_link(page, base, d.staff1)
        assert "Periksa email Anda" in sent_text
        link = link_from_mailbox(d, d.staff1, base)
        page.goto(link)
        page.click("#masuk")
        page.wait_for_url(base + "/antrian")
        queue = page.inner_text("main")
        assert KOTA_SUBJECT in queue and KAB_SUBJECT not in queue
        page.click(f"text={KOTA_SUBJECT}")
        page.wait_for_url(f"{base}/tiket/{ids[KOTA_SUBJECT]}")
        ticket = page.inner_text("main")
        assert KOTA_SUBJECT in ticket and "Alur SOP" in ticket and d.user in ticket
        assert page.get_attribute("a[href^='tel:']", "href") == "tel:+6281234567890"
        assert page.get_attribute("a[href^='https://wa.me/']", "href") == "https://wa.me/6281234567890"

        # Anonymous: every page sends it to the sign-in form, and shows no ticket.
        anonymous = browser.new_context().new_page()
        for path in ("/antrian", f"/tiket/{ids[KOTA_SUBJECT]}", "/dasbor"):
            anonymous.goto(base + path)
            # The sign-in form, which keeps the page to open after signing in.
            assert anonymous.url == f"{base}/?{urlencode({'ke': path})}" and KOTA_SUBJECT not in anonymous.content()

        # A non-staff address: the very same page, and no mail.
        assert ask_for_link(anonymous, base, d.user) == sent_text
        assert not d.rows(Outbox, Outbox.to_key == d.user, Outbox.ticket_id.is_(None))
        assert [a.kind for a in d.rows(WebAudit, WebAudit.address == d.user)] == ["link_unknown"]

        # The link again (another browser): used up.
        reuse = browser.new_context().new_page()
        reuse.goto(link)
        assert "Tautan tidak berlaku" in reuse.inner_text("main") and reuse.locator("#masuk").count() == 0
        reuse.goto(base + "/antrian")
        assert reuse.url == base + "/?ke=%2Fantrian"

        # An expired link: staff2's, as it stands 15 minutes after it was sent.
        late = browser.new_context().new_page()
        ask_for_link(late, base, d.staff2)
        late_link = link_from_mailbox(d, d.staff2, base)
        with d.sessions().begin() as session:
            session.execute(update(WebSignInLink).where(WebSignInLink.used_at.is_(None))
                            .values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
        late.goto(late_link)
        assert "Tautan tidak berlaku" in late.inner_text("main")
        late.goto(base + "/antrian")
        assert late.url == base + "/?ke=%2Fantrian"

        # Another helpdesk's staff: its own queue only; this helpdesk's ticket does not exist for it.
        other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(other, kab, kab.staff1, base)
        assert KAB_SUBJECT in other.inner_text("main") and KOTA_SUBJECT not in other.inner_text("main")
        response = other.goto(f"{base}/tiket/{ids[KOTA_SUBJECT]}")
        assert response is not None and response.status == 404 and KOTA_SUBJECT not in other.content()

        # No CSRF token, no effect: signing out and asking for links are refused.
        refused = staff.request.post(base + "/keluar", form={})
        assert refused.status == 403
        assert staff.request.post(base + "/masuk", form={"email": d.staff1}).status == 403
        page.goto(base + "/antrian")
        assert page.url == base + "/antrian"  # still signed in

        # Signing out with the page's own form ends the session.
        page.click("text=Keluar")
        page.wait_for_url(base + "/")
        page.goto(base + "/antrian")
        assert page.url == base + "/?ke=%2Fantrian"

    assert web.stop(timeout=30) == 0  # SIGTERM: a clean exit
    assert web.lines(r"web: stopped") and not web.error_lines()


def test_console_search_in_a_real_browser(deployment: Deployment, bots: list[BotProcess]) -> None:
    """Search by tender code and by text, as a staff member."""
    d = deployment
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    d.write_config(extra=f'[web]\nhost = "127.0.0.1"\nport = {port}\nbase_url = "{base}"\n')
    d.open_ticket(KOTA_SUBJECT, "Upload dokumen penawaran tender 10045123 gagal terus sejak pagi.")
    web = BotProcess(d.config_path, d.tmp / "web.log", command=("web",)).start()
    bots.append(web)
    wait_until(lambda: answers(base + "/") or not web.alive(), 60, "mailbot web to answer")
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        sign_in(page, d, d.staff1, base)
        for query in ("10045123", "penawaran", d.user):
            page.goto(base + "/cari")
            page.fill("#q", query)
            page.click("form.search button")
            page.wait_for_load_state()
            assert KOTA_SUBJECT in page.inner_text("main"), query
        page.click(f"text={KOTA_SUBJECT}")
        assert KOTA_SUBJECT in page.inner_text("h1")
    assert web.stop(timeout=30) == 0
