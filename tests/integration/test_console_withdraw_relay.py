"""``#tarik`` and ``#teruskan`` from the console: the buttons are offered only where the workflow allows
them (``#teruskan`` only while a mail in LKPP's name without proof waits to be relayed), each form
carries CSRF and its own token, and acting does what the keyword mail does, recorded as ``web``.

The deployment and the signed-in clients are the console tests' (two helpdesks, kota and kab).
"""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from tests.integration.test_console import KOTA, LKPP, NOW, STAFF, console, mail, sign_in
from tests.integration.test_console_actions import events, form, ids, mails_to, post, text_of, ticket

__all__ = ["console"]  # the fixture, used by name

USER = "budi@vendor.test"
LKPP_MAILBOX = "helpdesk@lkpp.test"


def offered(client: TestClient, ticket_id: int) -> set[str]:
    return set(re.findall(r'name="action" value="(\w+)"', client.get(f"/tiket/{ticket_id}").text))


def unverified_lkpp_mail(app: App, ticket_id: int, body: str) -> None:
    """A mail in LKPP's name to the helpdesk's public address: no signed address, no DKIM, so unproven."""
    number = ticket(app, ticket_id).number
    raw = mail(f"<lkpp-{ticket_id}@lkpp.test>", KOTA, f"Re: [{number}] Lupa password akun", body, sender=LKPP_MAILBOX)
    # LKPP's mail never opens a ticket: it must thread on one (here the user's first mail).
    raw = raw.replace(b"Subject:", b"In-Reply-To: <k2@vendor.test>\nSubject:", 1)
    outcome = process_raw(app, raw, NOW)
    assert outcome.kind == "updated"
    assert events(app, ticket_id, "lkpp_unverified")


def test_withdraw_is_offered_on_escalated_tickets_only_and_tells_lkpp(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    escalated, analysis = ids(kota)["Lupa password akun"], ids(kota)["Gagal upload <script>alert(1)</script>"]
    assert "withdraw" in offered(client, escalated)
    assert "withdraw" not in offered(client, analysis)
    page = client.get(f"/tiket/{escalated}").text
    assert "Tarik eskalasi dari LKPP" in page and 'name="reason"' in page
    before_user = len(mails_to(kota, USER, escalated))
    done = post(client, escalated, "withdraw", reason="jaringan LPSE sudah kami perbaiki")
    assert done.status_code == 303 and done.headers["location"] == f"/tiket/{escalated}?selesai=withdraw#aksi"
    assert ticket(kota, escalated).state == "analysis"
    [withdrawn] = events(kota, escalated, "withdrawn")
    assert withdrawn.actor == STAFF and withdrawn.data["channel"] == "web"
    assert withdrawn.data["reason"] == "jaringan LPSE sudah kami perbaiki"
    [to_lkpp] = mails_to(kota, LKPP_MAILBOX, escalated)
    assert "jaringan LPSE sudah kami perbaiki" in text_of(to_lkpp)
    assert len(mails_to(kota, USER, escalated)) == before_user  # the reason is for LKPP, not an answer
    after = client.get(f"/tiket/{escalated}?selesai=withdraw").text
    assert "Eskalasi ditarik dari LKPP" in after
    assert "withdraw" not in set(re.findall(r'name="action" value="(\w+)"', after))
    assert "escalate" in set(re.findall(r'name="action" value="(\w+)"', after))  # LPSE handles it again


def test_relay_is_offered_while_an_unverified_lkpp_mail_waits_and_sends_it_once(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    tid = ids(kota)["Lupa password akun"]
    assert "relay" not in offered(client, tid)  # nothing to relay: no button (the workflow would refuse)
    unverified_lkpp_mail(kota, tid, "Akun sudah kami buka kembali, silakan masuk dengan kata sandi baru.")
    page = client.get(f"/tiket/{tid}").text
    assert 'name="action" value="relay"' in page and "tidak terverifikasi" in page and LKPP_MAILBOX in page
    before = len(mails_to(kota, USER, tid))
    done = post(client, tid, "relay", text="Berikut jawaban Helpdesk LKPP yang sudah kami pastikan.")
    assert done.status_code == 303
    relayed = mails_to(kota, USER, tid)[before:]
    assert len(relayed) == 1
    body = text_of(relayed[0])
    assert "Akun sudah kami buka kembali" in body and "sudah kami pastikan" in body
    [event] = events(kota, tid, "lkpp_relayed")
    assert event.actor == STAFF and event.data["channel"] == "web"
    assert ticket(kota, tid).state == "escalated"
    assert "relay" not in offered(client, tid)  # relayed: the button is gone
    # A form kept open in another tab is refused by the workflow, and nothing is sent again.
    again = post(client, tid, "relay", text="")
    assert again.status_code == 409 and "tidak ada e-mail atas nama LKPP yang belum diteruskan" in again.text
    assert len(mails_to(kota, USER, tid)) == before + 1


def test_the_new_forms_need_csrf_and_lkpp_officers_do_not_get_them(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    tid = ids(kota)["Lupa password akun"]
    unverified_lkpp_mail(kota, tid, "Sudah kami tangani.")
    _, token = form(client, tid)
    for action in ("withdraw", "relay"):
        assert client.post(f"/tiket/{tid}/aksi", data={"token": token, "action": action}).status_code == 403
    assert ticket(kota, tid).state == "escalated" and not events(kota, tid, "lkpp_relayed")
    officer = make()
    sign_in(officer, kota, LKPP)
    assert not offered(officer, tid) & {"withdraw", "relay"}
    _, token = form(officer, tid)
    page = officer.get(f"/tiket/{tid}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    refused = officer.post(f"/tiket/{tid}/aksi", data={"csrf": csrf[1], "token": token, "action": "withdraw"})
    assert refused.status_code == 409 and "tidak dikenal" in refused.text
    assert ticket(kota, tid).state == "escalated"
