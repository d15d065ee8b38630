"""The console (``mailbot web``) through Starlette's TestClient on the suite's database: sign-in by
link from the outbox, who sees what, CSRF, escaping, headers, downloads.

Two helpdesks (kota, kab) in one deployment; tickets are opened by ``process_raw`` like real mail.
The browser tier (tests/e2e/test_console_browser.py) does the same through Chromium, Postfix and Dovecot.
"""

from __future__ import annotations

import email
import re
import textwrap
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from mailbot.service.app import App, build_apps
from mailbot.service.deadlines import refresh_deadlines
from mailbot.service.inbound import process_raw
from mailbot.settings.loading import load_settings
from mailbot.storage.models import Outbox, Ticket, TicketEvent, WebAudit, WebSession, WebSignInLink
from mailbot.web.server import build_asgi

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
KOTA, KAB = "helpdesk@lpse.test", "lpse@kab.test"
STAFF, KAB_STAFF, LKPP, COORD = "staf@lpse.test", "op@kab.test", "officer@lkpp.test", "koord@lpse.test"
STAFF2 = "rekan@lpse.test"  # a colleague in the same helpdesk (issue 23: copies, the second click)
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def deployment(tmp_path: Path, db_url: str, base_url: str = "http://testserver") -> list[App]:
    config = tmp_path / "mailbot.toml"
    config.write_text(textwrap.dedent(f"""
        [helpdesk]
        name = "Helpdesk LPSE Kota"
        address = "{KOTA}"
        secret = "shared-secret-0123456789abcdef"
        [imap]
        host = "127.0.0.1"
        port = 1
        username = "{KOTA}"
        password = "x"
        [smtp]
        host = "127.0.0.1"
        port = 1
        username = "{KOTA}"
        password = "x"
        [staff]
        addresses = ["{STAFF}", "{STAFF2}"]
        coordinator = "{COORD}"
        [escalation]
        lkpp_address = "helpdesk@lkpp.test"
        lkpp_domains = ["lkpp.test"]
        [database]
        url = "{db_url}"
        [web]
        base_url = "{base_url}"
        links_per_address_hour = 3
        [[helpdesks]]
        key = "kota"
        [[helpdesks]]
        key = "kab"
        helpdesk = {{ name = "Helpdesk LPSE Kabupaten", address = "{KAB}" }}
        imap = {{ username = "{KAB}" }}
        smtp = {{ username = "{KAB}" }}
        staff = {{ addresses = ["{KAB_STAFF}"] }}
    """))
    return build_apps(load_settings(config))


def mail(mid: str, to: str, subject: str, body: str, *, sender: str = "budi@vendor.test",
         attachment: tuple[str, str, bytes] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Budi <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(NOW)
    msg["Message-ID"] = mid
    msg.set_content(body)
    if attachment:
        name, ctype, data = attachment
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.fixture
def console(tmp_path: Path, db_url: str) -> tuple[list[App], Clock, Callable[[], TestClient]]:
    apps = deployment(tmp_path, db_url)
    kota, kab = apps
    opened = [
        process_raw(kota, mail("<k1@vendor.test>", KOTA, "Gagal upload <script>alert(1)</script>",
                               "Upload penawaran gagal terus. HP 0812-3456-7890",
                               attachment=("bukti <1>.html", "text/html", b"<script>alert(2)</script>")), NOW),
        process_raw(kota, mail("<k2@vendor.test>", KOTA, "Lupa password akun", "Akun saya terkunci."), NOW),
        process_raw(kab, mail("<b1@vendor.test>", KAB, "Rahasia kabupaten", "Dokumen kab tidak bisa diunggah."), NOW),
    ]
    assert [o.kind for o in opened] == ["opened"] * 3
    # The second kota ticket was escalated to LKPP (an escalated event and state, as #eskalasi leaves them).
    with kota.factory.begin() as session:
        second = session.scalars(select(Ticket).where(Ticket.subject == "Lupa password akun")).one()
        second.state = "escalated"
        session.add(TicketEvent(ticket_id=second.id, kind="escalated", at=NOW, actor=STAFF, detail="to LKPP",
                                sop_step=10, data={}))
    clock = Clock()
    asgi = build_asgi(apps, clock=clock)
    return apps, clock, lambda: TestClient(asgi, follow_redirects=False)


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, page
    return found[1]


def outbox_to(app: App, address: str) -> list[bytes]:
    """The sign-in mails queued to ``address`` (ticket-free; staff notifications have a ticket)."""
    with app.factory() as session:
        return list(session.scalars(select(Outbox.raw).where(Outbox.to_key == address, Outbox.ticket_id.is_(None),
                                                             Outbox.helpdesk == app.settings.helpdesk_key)
                                    .order_by(Outbox.id)))


def link_in(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(("plain",))
    assert body is not None
    found = re.search(r"http://testserver(/masuk/[A-Za-z0-9_-]+)", body.get_content())
    assert found, body.get_content()
    return found[1]


def request_link(client: TestClient, address: str) -> str:
    page = client.get("/")
    response = client.post("/masuk", data={"email": address, "csrf": csrf_of(page.text)})
    assert response.status_code == 200
    return response.text


def sign_in(client: TestClient, app: App, address: str) -> None:
    request_link(client, address)
    link = link_in(outbox_to(app, address)[-1])
    confirm = client.get(link)
    assert confirm.status_code == 200 and "Masuk" in confirm.text
    done = client.post(link, data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 303 and done.headers["location"] == "/antrian"


def test_anonymous_visitors_see_the_sign_in_page_only(console: tuple) -> None:
    apps, _, make = console
    client = make()
    home = client.get("/")
    assert home.status_code == 200 and 'type="email"' in home.text
    for path in ("/antrian", "/tiket/1", "/lampiran/1", "/dasbor", "/laporan", "/cari?q=upload"):
        response = client.get(path)
        # To the sign-in page, which remembers a page to come back to (not a file download).
        back = "" if path.startswith("/lampiran") else "?" + urlencode({"ke": path})
        assert response.status_code == 303 and response.headers["location"] == "/" + back, path
    # The strict headers on every page: no script at all, no framing, no sniffing, no Referer.
    csp = home.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert home.headers["x-frame-options"] == "DENY" and home.headers["x-content-type-options"] == "nosniff"
    assert home.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in home.text and " style=" not in home.text


def test_staff_sign_in_by_link_sees_only_their_helpdesk(console: tuple) -> None:
    (kota, kab), _, make = console
    client = make()
    sent_page = request_link(client, STAFF)
    assert len(outbox_to(kota, STAFF)) == 1 and not outbox_to(kab, STAFF)  # through kota's outbox
    sign_in_mail = email.message_from_bytes(outbox_to(kota, STAFF)[0], policy=policy.default)
    assert sign_in_mail["Subject"] == "Tautan masuk konsol Helpdesk LPSE Kota"
    link = link_in(outbox_to(kota, STAFF)[0])
    with kota.factory() as session:  # the token itself is nowhere in the database
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0
    confirm = client.get(link)
    done = client.post(link, data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 303
    cookie = done.headers["set-cookie"]
    assert "mb_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # base_url is http here
    queue = client.get("/antrian")
    assert queue.status_code == 200 and queue.headers["cache-control"] == "no-store"
    assert "Gagal upload" in queue.text and "Lupa password" in queue.text
    assert "Rahasia kabupaten" not in queue.text
    # Mail text is escaped everywhere.
    assert "<script>alert(1)</script>" not in queue.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in queue.text
    with kota.factory() as session:
        kab_ticket = session.scalar(select(Ticket.id).where(Ticket.helpdesk == "kab"))
        kota_ticket = session.scalar(select(Ticket.id).where(Ticket.subject.like("Gagal upload%")))
    assert client.get(f"/tiket/{kab_ticket}").status_code == 404
    page = client.get(f"/tiket/{kota_ticket}")
    assert page.status_code == 200 and "&lt;script&gt;" in page.text and "<script>" not in page.text
    assert 'href="tel:+6281234567890"' in page.text and 'href="https://wa.me/6281234567890"' in page.text
    assert "Tiket diterima" in page.text and "langkah 2" in page.text  # the SOP timeline
    # What the user still owes is named as people read it, not by the rules' keys.
    missing = re.search(r"<dt>Data kurang</dt><dd>([^<]*)</dd>", page.text)
    assert missing is not None and "_" not in missing[1] and missing[1].strip()
    # Timed as the SLA report times it: the 5-minute standard in the helpdesk's working hours.
    assert "kurang dari 1 menit kerja / standar 5 menit kerja ✓" in page.text
    # The link works once: a second use signs nobody in.
    again = client.get(link)
    assert again.status_code == 400 and "tidak berlaku" in again.text
    other = make()
    other.get("/")
    reused = other.post(link, data={"csrf": csrf_of(other.get("/").text)})
    assert reused.status_code == 400 and "set-cookie" not in {k.lower() for k in reused.headers if "mb_session" in
                                                             reused.headers.get(k, "")}
    assert other.get("/antrian").status_code == 303
    assert "Periksa email Anda" in sent_page


def test_a_ticket_number_in_the_address_opens_the_ticket(console: tuple) -> None:
    # Staff type /tiket/TTS-000001 (the number they know), not the console's own id.
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    with kota.factory() as session:
        tid, number = session.execute(select(Ticket.id, Ticket.number).where(Ticket.helpdesk == "kota",
                                                                              Ticket.subject.like("Gagal upload%"))).one()
    found = client.get(f"/tiket/{number.lower()}", follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/tiket/{tid}"
    # No such ticket here: the search for it.
    other = client.get("/tiket/TTS-999999", follow_redirects=False)
    assert other.status_code == 303 and other.headers["location"] == "/cari?q=TTS-999999"


def test_a_notice_link_opened_signed_out_leads_to_its_ticket_after_sign_in(console: tuple) -> None:
    # A staff notice links /tiket/<id>; on a phone not signed in, the sign-in ends on that ticket.
    (kota, _), _, make = console
    client = make()
    with kota.factory() as session:
        tid = session.scalar(select(Ticket.id).where(Ticket.subject.like("Gagal upload%")))
    away = client.get(f"/tiket/{tid}", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == f"/?ke=%2Ftiket%2F{tid}"
    client.get(away.headers["location"])  # the sign-in page keeps where the visitor was going
    request_link(client, STAFF)
    link = link_in(outbox_to(kota, STAFF)[-1])
    done = client.post(link, data={"csrf": csrf_of(client.get(link).text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/tiket/{tid}"
    # Only the console's own pages: no redirect elsewhere through the sign-in.
    for elsewhere in ("//evil.example/tiket", "https://evil.example/", "/masuk/x", "/\\evil.example"):
        page = make().get("/?" + urlencode({"ke": elsewhere}))
        assert "mb_next" not in page.headers.get("set-cookie", ""), elsewhere


def test_attachments_download_as_files_with_their_type(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    with kota.factory() as session:
        ticket = session.scalar(select(Ticket.id).where(Ticket.subject.like("Gagal upload%")))
    page = client.get(f"/tiket/{ticket}").text
    found = re.search(r'href="(/lampiran/\d+)"', page)
    assert found, page
    download = client.get(found[1])
    assert download.status_code == 200 and download.content == b"<script>alert(2)</script>"
    assert download.headers["content-type"].startswith("text/html")
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''bukti%20_1_.html" in disposition  # as stored (sanitised at intake)
    assert "sandbox" in download.headers["content-security-policy"]
    # Another helpdesk's staff cannot fetch it by number.
    kab_client = make()
    sign_in(kab_client, console[0][1], KAB_STAFF)
    assert kab_client.get(found[1]).status_code == 404


def test_unknown_addresses_get_the_same_page_and_no_mail(console: tuple) -> None:
    (kota, kab), _, make = console
    client = make()
    known = request_link(client, STAFF)
    unknown = request_link(client, "budi@vendor.test")
    not_an_address = request_link(client, "bukan alamat")
    assert known == unknown == not_an_address
    assert not outbox_to(kota, "budi@vendor.test") and not outbox_to(kab, "budi@vendor.test")
    with kota.factory() as session:
        kinds = list(session.scalars(select(WebAudit.kind).order_by(WebAudit.id)))
    assert kinds == ["link_sent", "link_unknown", "link_unknown"]


def test_the_lkpp_role_needs_an_address_that_only_the_lkpp_domain_receives(console: tuple) -> None:
    # The domain alone makes an LKPP officer. A second "@" or a "%" in the local part still ends in
    # lkpp.test, but mail servers that route by them (Postfix resolves both to vendor.test) would
    # hand the link to the vendor: no link, the same neutral page.
    (kota, kab), _, make = console
    client = make()
    pages = {request_link(client, typed) for typed in (
        "budi@vendor.test@lkpp.test", "budi%vendor.test@lkpp.test", "budi!vendor.test@lkpp.test",
        '"budi@vendor.test"@lkpp.test')}
    assert len(pages) == 1
    with kota.factory() as session:
        queued = list(session.scalars(select(Outbox.to_key).where(Outbox.ticket_id.is_(None))))
        kinds = list(session.scalars(select(WebAudit.kind).order_by(WebAudit.id)))
    assert queued == [] and kinds == ["link_unknown"] * 4
    request_link(client, "Officer@LKPP.test")  # a plain address of the domain still gets its link
    assert len(outbox_to(kota, "officer@lkpp.test")) == 1


def test_a_report_period_out_of_range_is_ignored_not_an_error(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    for query in ("dari=0001-01-01&sampai=9999-12-31", "dari=9999-12-01", "sampai=0001-01-01"):
        report = client.get(f"/laporan?{query}")
        assert report.status_code == 200 and "Penetapan prioritas (langkah 2)" in report.text, query


def test_missing_or_foreign_csrf_tokens_are_refused(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    client.get("/")
    assert client.post("/masuk", data={"email": STAFF}).status_code == 403
    assert client.post("/masuk", data={"email": STAFF, "csrf": "0" * 64}).status_code == 403
    # A token from another browser is not this one's.
    stranger = make()
    token = csrf_of(stranger.get("/").text)
    assert client.post("/masuk", data={"email": STAFF, "csrf": token}).status_code == 403
    assert not outbox_to(kota, STAFF)
    sign_in(client, kota, STAFF)
    assert client.post("/keluar", data={}).status_code == 403
    assert client.get("/antrian").status_code == 200  # still signed in
    signed_out = client.post("/keluar", data={"csrf": csrf_of(client.get("/antrian").text)})
    assert signed_out.status_code == 303
    assert client.get("/antrian").status_code == 303


def test_expired_links_and_sessions(console: tuple) -> None:
    (kota, _), clock, make = console
    client = make()
    request_link(client, STAFF)
    link = link_in(outbox_to(kota, STAFF)[-1])
    clock.now = NOW + timedelta(minutes=15, seconds=1)
    assert client.get(link).status_code == 400
    csrf = csrf_of(client.get("/").text)
    assert client.post(link, data={"csrf": csrf}).status_code == 400
    assert client.get("/antrian").status_code == 303
    sign_in(client, kota, STAFF)
    assert client.get("/antrian").status_code == 200
    with kota.factory() as session:  # the expired link was dropped at that sign-in (the audit keeps it)
        assert session.scalar(select(func.count()).select_from(WebSignInLink)) == 1
        assert session.scalar(select(func.count()).where(WebAudit.kind == "link_refused")) == 1
    clock.now += timedelta(hours=12, seconds=1)  # web.session_hours
    assert client.get("/antrian").status_code == 303


def test_rate_limit_per_address(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    for _ in range(5):
        request_link(client, STAFF)
    assert len(outbox_to(kota, STAFF)) == 3  # links_per_address_hour = 3
    with kota.factory() as session:
        assert session.scalar(select(func.count()).where(WebAudit.kind == "link_limited")) == 2


def test_lkpp_sees_only_escalated_tickets_of_every_helpdesk(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, LKPP)  # an address of lkpp_domains
    queue = client.get("/antrian")
    assert "Lupa password" in queue.text and "Gagal upload" not in queue.text and "Rahasia" not in queue.text
    with kota.factory() as session:
        ids = dict(session.execute(select(Ticket.subject, Ticket.id)).all())
    page = client.get(f"/tiket/{ids['Lupa password akun']}")
    assert page.status_code == 200 and "Akun saya terkunci" in page.text
    assert "Tiket baru" not in page.text  # the helpdesk's own staff conversation is not LKPP's
    assert client.get(f"/tiket/{ids['Rahasia kabupaten']}").status_code == 404
    assert client.get("/laporan").status_code == 404  # the helpdesk's own SLA report is not LKPP's


def test_after_lkpps_answer_queue_and_ticket_page_show_the_helpdesks_decision_deadline(console: tuple) -> None:
    (kota, _), _, make = console
    with kota.factory.begin() as session:  # LKPP answered the escalated ticket without closing it
        ticket = session.scalars(select(Ticket).where(Ticket.subject == "Lupa password akun")).one()
        session.add(TicketEvent(ticket_id=ticket.id, kind="lkpp_replied", at=NOW, actor="officer@lkpp.test",
                                detail="answer from LKPP", data={"how": "signed"}))
        session.flush()
        refresh_deadlines(session, ticket, kota, NOW)
        ticket_id = ticket.id
    client = make()
    sign_in(client, kota, STAFF)
    queue = client.get("/antrian").text
    row = queue[queue.index("Lupa password akun"):].split("</tr>")[0]
    assert "menunggu keputusan helpdesk: tutup atau tanya LKPP" in row
    assert "30-11-2026 10:00" in row and "jam berhenti" not in row  # a deadline, not a stopped clock
    page = client.get(f"/tiket/{ticket_id}").text
    assert "Keputusan helpdesk (tutup atau tanya LKPP)" in page and "30-11-2026 10:00" in page
    assert "menunggu keputusan helpdesk: tutup atau tanya LKPP" in page and "#catatan" in page
    assert "tiket di Helpdesk LKPP" not in page


def test_coordinator_dashboard_report_and_filters(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, COORD)
    # The top-level coordinator is every helpdesk's (kab overrides only the staff addresses).
    board = client.get("/dasbor")
    assert board.status_code == 200
    assert re.search(r"<strong>3</strong> tiket terbuka", board.text)
    assert re.search(r"<strong>3</strong> masuk hari ini", board.text)
    assert re.search(r"<strong>2</strong> tiket terbuka", client.get("/dasbor?helpdesk=kota").text)
    assert "Rahasia kabupaten" in client.get("/antrian?helpdesk=kab").text
    assert "Gagal upload" not in client.get("/antrian?helpdesk=kab").text
    report = client.get("/laporan?dari=2026-11-01&sampai=2026-11-30")
    assert report.status_code == 200 and "Penetapan prioritas (langkah 2)" in report.text and "<svg" in report.text
    at_lkpp = client.get("/antrian?lkpp=1").text
    assert "Lupa password" in at_lkpp and "Gagal upload" not in at_lkpp
    assert "Gagal upload" in client.get("/antrian?petugas=unassigned").text
    assert "Tidak ada tiket" in client.get("/antrian?petugas=mine").text


def test_secure_cookies_when_the_console_is_https(tmp_path: Path, db_url: str) -> None:
    apps = deployment(tmp_path, db_url, base_url="https://helpdesk.lpse.test")
    client = TestClient(build_asgi(apps, clock=Clock()), base_url="https://testserver", follow_redirects=False)
    home = client.get("/")
    assert "__Host-mb_pre=" in home.headers["set-cookie"] and "Secure" in home.headers["set-cookie"]
    assert home.headers["strict-transport-security"].startswith("max-age=")
    client.post("/masuk", data={"email": STAFF, "csrf": csrf_of(home.text)})
    raw = outbox_to(apps[0], STAFF)[-1]
    body = email.message_from_bytes(raw, policy=policy.default).get_body(("plain",))
    assert body is not None
    found = re.search(r"https://helpdesk\.lpse\.test(/masuk/[A-Za-z0-9_-]+)", body.get_content())
    assert found, body.get_content()
    confirm = client.get(found[1])
    done = client.post(found[1], data={"csrf": csrf_of(confirm.text)})
    cookie = done.headers["set-cookie"]
    assert cookie.startswith("__Host-mb_session=") and "Secure" in cookie and "HttpOnly" in cookie
    assert client.get("/antrian").status_code == 200
    # The role is read from the settings at every request: an address no longer in them has no access.
    with apps[0].factory.begin() as session:
        session.execute(update(WebSession).values(address="gone@lpse.test"))
    assert client.get("/antrian").status_code == 303


def test_search_within_what_the_viewer_may_see(console: tuple) -> None:
    (kota, kab), _, make = console
    staff = make()
    sign_in(staff, kota, STAFF)
    found = staff.get("/cari", params={"q": "upload"})
    assert found.status_code == 200 and "Gagal upload" in found.text and "Rahasia kabupaten" not in found.text
    assert "Gagal upload" in staff.get("/cari", params={"q": "budi@vendor.test"}).text
    hostile = staff.get("/cari", params={"q": "<script>alert(3)</script>"})
    assert hostile.status_code == 200 and "<script>alert(3)" not in hostile.text
    other = make()
    sign_in(other, kab, KAB_STAFF)
    assert "Gagal upload" not in other.get("/cari", params={"q": "upload"}).text
    lkpp = make()
    sign_in(lkpp, kota, LKPP)
    assert "Lupa password" in lkpp.get("/cari", params={"q": "password"}).text
    assert "Gagal upload" not in lkpp.get("/cari", params={"q": "upload"}).text


def test_mailbot_web_needs_a_base_url(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from mailbot import cli

    deployment(tmp_path, db_url)
    config = tmp_path / "mailbot.toml"
    config.write_text(config.read_text().replace('base_url = "http://testserver"', ""))
    assert cli.main(["--config", str(config), "web"]) == 2
    assert "web.base_url is required by mailbot web" in capsys.readouterr().err
