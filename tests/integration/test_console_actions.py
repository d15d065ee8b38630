"""Acting from the console (issue 23): every action through the same ``decide`` as the keyword mail,
recorded with the staff member and channel ``web``; refusals change nothing; a double submit acts
once; CSRF and another helpdesk's staff are refused; LKPP officers answer, ask and close; tickets
opened for callers are the caller's.

The deployment and the signed-in clients are the console tests' (two helpdesks, kota and kab).
"""

from __future__ import annotations

import email
import re
import threading
from datetime import timedelta
from email import policy
from email.message import EmailMessage

from sqlalchemy import func, select
from starlette.testclient import TestClient

from mailbot.service.app import App
from mailbot.service.console_actions import ActionForm, act
from mailbot.storage.models import Message, Outbox, Ticket, TicketEvent, WebAction
from tests.integration.test_console import KAB_STAFF, LKPP, NOW, STAFF, STAFF2, console, csrf_of, sign_in

__all__ = ["console"]  # the fixture, used by name

TOKEN = re.compile(r'name="token" value="([A-Za-z0-9_-]+)"')


def ids(app: App) -> dict[str, int]:
    with app.factory() as session:
        return {str(s): int(i) for s, i in session.execute(select(Ticket.subject, Ticket.id)).all()}


def ticket(app: App, ticket_id: int) -> Ticket:
    with app.factory() as session:
        row = session.get(Ticket, ticket_id)
        assert row is not None
        session.expunge(row)
        return row


def mails_to(app: App, address: str, ticket_id: int) -> list[EmailMessage]:
    with app.factory() as session:
        raws = session.scalars(select(Outbox.raw).where(Outbox.to_key == address, Outbox.ticket_id == ticket_id)
                               .order_by(Outbox.id))
        return [email.message_from_bytes(r, policy=policy.default) for r in raws]  # type: ignore[misc]


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def outbox_count(app: App) -> int:
    with app.factory() as session:
        return int(session.scalar(select(func.count()).select_from(Outbox).where(Outbox.ticket_id.is_not(None))) or 0)


def events(app: App, ticket_id: int, kind: str) -> list[TicketEvent]:
    with app.factory() as session:
        rows = list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                              TicketEvent.kind == kind).order_by(TicketEvent.id)))
        session.expunge_all()
        return rows


def form(client: TestClient, ticket_id: int, index: int = 0) -> tuple[str, str]:
    """(csrf, idempotency token) of the ``index``-th action form of the ticket page."""
    page = client.get(f"/tiket/{ticket_id}")
    assert page.status_code == 200
    return csrf_of(page.text), TOKEN.findall(page.text)[index]


def post(client: TestClient, ticket_id: int, action: str, *, index: int = 0, files: list | None = None,
         **fields: object) -> object:
    csrf, token = form(client, ticket_id, index)
    data = {"csrf": csrf, "token": token, "action": action, **fields}
    return client.post(f"/tiket/{ticket_id}/aksi", data=data, files=files)


def test_the_form_contract_and_closing_with_an_answer(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    tid = ids(kota)["Lupa password akun"]  # escalated: closing tells LKPP too
    page = client.get(f"/tiket/{tid}").text
    assert '<textarea id="text" name="text"' in page
    for value in ("reply", "close", "take", "note", "priority", "called", "withdraw", "to_lkpp"):
        assert f'name="action" value="{value}"' in page, value
    for value in ("escalate", "request_data", "reopen", "merge", "relay"):  # refused (relay: nothing to relay) is not offered
        assert f'name="action" value="{value}"' not in page, value
    assert page.count('name="csrf"') >= 7 and len(set(TOKEN.findall(page))) == 6  # every form, its own token
    response = post(client, tid, "close", text="Kata sandi sudah kami atur ulang, silakan masuk kembali.")
    assert response.status_code == 303 and response.headers["location"] == f"/tiket/{tid}?selesai=close#aksi"
    t = ticket(kota, tid)
    assert t.state == "closed" and t.closed_by == STAFF
    closed = events(kota, tid, "closed")
    assert closed[-1].actor == STAFF and closed[-1].data["channel"] == "web" and closed[-1].sop_step == 9
    [user_mail] = mails_to(kota, "budi@vendor.test", tid)[-1:]
    assert "Kata sandi sudah kami atur ulang" in text_of(user_mail)
    assert "ditutup" in str(user_mail["Subject"]).lower() or "selesai" in str(user_mail["Subject"]).lower()
    assert mails_to(kota, "helpdesk@lkpp.test", tid)  # lkpp_closed, as #tutup on an escalated ticket
    done = client.get(f"/tiket/{tid}?selesai=close")
    assert "Tiket ditutup" in done.text
    offered = set(re.findall(r'name="action" value="(\w+)"', done.text))
    assert offered == {"note", "reopen"}  # a closed ticket: reopen it, or a note
    with kota.factory() as session:  # the answer is kept as the staff member's message
        msg = session.scalars(select(Message).where(Message.ticket_id == tid, Message.role == "staff")).one()
        assert msg.sender == STAFF and "atur ulang" in msg.text


def test_a_double_submit_acts_once(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    tid = ids(kota)["Lupa password akun"]
    csrf, token = form(client, tid)
    data = {"csrf": csrf, "token": token, "action": "reply", "text": "Mohon tunggu, sedang kami periksa."}
    first = client.post(f"/tiket/{tid}/aksi", data=data)
    second = client.post(f"/tiket/{tid}/aksi", data=data)
    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == f"/tiket/{tid}?selesai=ganda#aksi"
    assert len(events(kota, tid, "staff_answered")) == 1
    assert [m for m in mails_to(kota, "budi@vendor.test", tid) if "sedang kami periksa" in text_of(m)].__len__() == 1
    assert "sudah dikirim sebelumnya" in client.get(second.headers["location"]).text


def test_refused_actions_say_why_and_change_nothing(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    tid = ids(kota)["Gagal upload <script>alert(1)</script>"]
    before, queued = ticket(kota, tid), outbox_count(kota)
    refused = post(client, tid, "reopen", text="Dibuka lagi")
    assert refused.status_code == 409
    assert "Tidak dilakukan" in refused.text and "tidak bisa dipakai saat tiket" in refused.text
    assert "Dibuka lagi" in refused.text  # the text stays in the form
    no_reason = post(client, tid, "priority", index=2, level="tinggi", reason="")
    assert no_reason.status_code == 409 and "alasan" in no_reason.text
    empty = post(client, tid, "reply", text="   ")
    assert empty.status_code == 409 and "tulis jawaban" in empty.text
    stranger = post(client, tid, "take", index=1, assignee="orang@luar.test")
    assert stranger.status_code == 409 and "bukan petugas" in stranger.text
    after = ticket(kota, tid)
    assert (after.state, after.priority, after.assignee) == (before.state, before.priority, before.assignee)
    assert outbox_count(kota) == queued and not events(kota, tid, "command_rejected")
    with kota.factory() as session:  # a refused form keeps no token: it can be corrected and sent again
        assert session.scalar(select(func.count()).select_from(WebAction)) == 0


def test_csrf_missing_and_another_helpdesks_staff_are_refused(console: tuple) -> None:
    (kota, kab), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    tid = ids(kota)["Lupa password akun"]
    _, token = form(client, tid)
    assert client.post(f"/tiket/{tid}/aksi", data={"token": token, "action": "close", "text": "x"}).status_code == 403
    assert client.post(f"/tiket/{tid}/aksi", data={"csrf": "0" * 64, "token": token, "action": "close"}
                       ).status_code == 403
    kab_client = make()
    sign_in(kab_client, kab, KAB_STAFF)
    csrf = csrf_of(kab_client.get("/antrian").text)
    foreign = kab_client.post(f"/tiket/{tid}/aksi", data={"csrf": csrf, "token": "t" * 20, "action": "close",
                                                          "text": "bukan tiket saya"})
    assert foreign.status_code == 404
    assert ticket(kota, tid).state == "escalated" and not events(kota, tid, "closed")
    assert client.post("/tickets/new", data={"requester": "a@b.test", "subject": "x", "body": "y",
                                             "channel": "telepon"}).status_code == 403


def test_every_staff_action_goes_through_the_workflow(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    tid = ids(kota)["Gagal upload <script>alert(1)</script>"]
    assert post(client, tid, "take", index=1).status_code == 303
    assert ticket(kota, tid).assignee == STAFF and events(kota, tid, "assigned")[-1].data["channel"] == "web"
    assert post(client, tid, "note", text="Sudah dicek di server, log bersih.").status_code == 303
    note = events(kota, tid, "note")[-1]
    assert "log bersih" in note.detail and note.actor == STAFF
    assert not any("log bersih" in text_of(m) for m in mails_to(kota, "budi@vendor.test", tid))  # internal
    assert post(client, tid, "priority", index=2, level="tinggi", reason="batas unggah hari ini").status_code == 303
    t = ticket(kota, tid)
    override = events(kota, tid, "priority_override")[-1]
    assert t.priority == "tinggi" and override.data["reason"] == "batas unggah hari ini"
    assert post(client, tid, "called", index=3, text="pengguna dihubungi, akan kirim tangkapan layar").status_code == 303
    assert "tangkapan layar" in events(kota, tid, "called")[-1].detail
    asked = post(client, tid, "request_data", text="Mohon dilengkapi.", items=["Kode tender/paket"],
                 items_other="versi browser")
    assert asked.status_code == 303
    need = mails_to(kota, "budi@vendor.test", tid)[-1]
    assert "versi browser" in text_of(need) and "Mohon dilengkapi" in text_of(need)
    assert ticket(kota, tid).state == "waiting_user"
    assert events(kota, tid, "data_requested")[-1].data["items"][-1] == "versi browser"
    files = [("files", ("panduan.pdf", b"%PDF-1.4 panduan", "application/pdf"))]
    answered = post(client, tid, "reply", text="Silakan ikuti panduan terlampir.", answer="lupa-password",
                    files=files)
    assert answered.status_code == 303
    reply = mails_to(kota, "budi@vendor.test", tid)[-1]
    assert "panduan terlampir" in text_of(reply)
    assert [p.get_filename() for p in reply.iter_attachments()] == ["panduan.pdf"]
    assert events(kota, tid, "canned_answer")[-1].data["answer"] == "lupa-password"
    assert post(client, tid, "escalate", text="Mohon bantuan LKPP: gagal unggah berulang.").status_code == 303
    assert ticket(kota, tid).state == "escalated"
    [dossier] = mails_to(kota, "helpdesk@lkpp.test", tid)
    assert "gagal unggah berulang" in text_of(dossier)
    assert post(client, tid, "close", text="Selesai.").status_code == 303
    assert post(client, tid, "reopen", text="").status_code == 303
    t = ticket(kota, tid)
    assert t.state == "analysis" and events(kota, tid, "reopened")[-1].actor == STAFF


def test_lkpp_officers_answer_ask_and_close_escalated_tickets(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, LKPP)
    tid = ids(kota)["Lupa password akun"]
    page = client.get(f"/tiket/{tid}").text
    assert 'name="action" value="reply"' in page and 'name="action" value="escalate"' not in page
    assert post(client, tid, "reply", text="Akun sudah kami buka dari pusat.").status_code == 303
    answer = mails_to(kota, "budi@vendor.test", tid)[-1]
    assert "sudah kami buka dari pusat" in text_of(answer)
    lkpp = events(kota, tid, "lkpp_replied")[-1]
    assert lkpp.actor == LKPP and lkpp.data["channel"] == "web"
    assert mails_to(kota, STAFF, tid)  # staff get LKPP's answer, as with LKPP's mail
    assert post(client, tid, "request_data", text="Mohon kirim NIK.", items_other="NIK").status_code == 303
    assert "NIK" in text_of(mails_to(kota, "budi@vendor.test", tid)[-1]) and ticket(kota, tid).state == "escalated"
    forbidden = post(client, tid, "take")
    assert forbidden.status_code == 409 and ticket(kota, tid).assignee is None  # not an LKPP action
    csrf, late_token = form(client, tid)  # a form still open in another tab
    assert post(client, tid, "close", text="Selesai dari LKPP.").status_code == 303
    t = ticket(kota, tid)
    assert t.state == "closed" and t.closed_by == LKPP
    assert "Selesai dari LKPP" in text_of(mails_to(kota, "budi@vendor.test", tid)[-1])
    assert 'name="action"' not in client.get(f"/tiket/{tid}").text
    refused = client.post(f"/tiket/{tid}/aksi", data={"csrf": csrf, "token": late_token, "action": "reply",
                                                      "text": "lagi"})
    assert refused.status_code == 409 and "tidak sedang dieskalasi" in refused.text


def test_a_ticket_for_a_caller_is_the_callers(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    for path in ("/tickets/new", "/tiket/baru"):
        assert 'name="requester"' in client.get(path).text
    page = client.get("/tickets/new").text
    data = {"csrf": csrf_of(page), "token": TOKEN.search(page)[1],  # type: ignore[index]
            "requester": "Siti@Penyedia.test", "name": "Siti", "phone": "0813 1111 2222", "channel": "telepon",
            "subject": "Tidak bisa unggah dokumen penawaran",
            "body": "Penelepon tidak bisa mengunggah dokumen penawaran, batas waktu hari ini."}
    first = client.post("/tickets/new", data=data)
    again = client.post("/tickets/new", data=data)
    assert first.status_code == again.status_code == 303
    tid = int(first.headers["location"].split("/")[2].split("?")[0])
    with kota.factory() as session:
        assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.requester == "siti@penyedia.test")
                              ) == 1
    t = ticket(kota, tid)
    assert t.requester == "siti@penyedia.test" and t.requester_name == "Siti" and t.phone == "+6281311112222"
    [ack] = mails_to(kota, "siti@penyedia.test", tid)
    assert t.number in str(ack["Subject"])
    assert mails_to(kota, STAFF, tid)  # the new-ticket notification, as for a mail
    opened = events(kota, tid, "opened_for_caller")[-1]
    assert opened.actor == STAFF and opened.data["source"] == "telepon"
    assert events(kota, tid, "priority_set")  # the rules ran on the text
    assert "Dibuka petugas untuk penelepon" in client.get(f"/tiket/{tid}").text
    bad = client.post("/tiket/baru", data={**data, "token": "another-token-123", "requester": "bukan alamat"})
    assert bad.status_code == 409 and "tidak sah" in bad.text
    staff_requester = client.post("/tiket/baru", data={**data, "token": "another-token-456", "requester": STAFF})
    assert staff_requester.status_code == 409
    lkpp = make()
    sign_in(lkpp, kota, LKPP)
    assert lkpp.get("/tickets/new").status_code == 403


def test_inserting_a_canned_answer_fills_the_text_box_and_sends_nothing(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    tid = ids(kota)["Lupa password akun"]
    queued = outbox_count(kota)
    shown = post(client, tid, "insert", text="Selamat pagi.", answer="lupa-password")
    assert shown.status_code == 200
    box = re.search(r'<textarea id="text" name="text"[^>]*>(.*?)</textarea>', shown.text, re.S)
    assert box and box[1].startswith("Selamat pagi.") and len(box[1]) > len("Selamat pagi.") + 40
    assert outbox_count(kota) == queued and not events(kota, tid, "canned_answer")
    none = post(client, tid, "insert", text="x", answer="")
    assert none.status_code == 200 and "pilih jawaban baku" in none.text


def test_the_same_form_sent_twice_at_once_acts_once(console: tuple) -> None:
    """Two requests with one token racing (a double click on a slow line): one acts, the other finds the token."""
    (kota, _), _, _ = console
    tid = ids(kota)["Lupa password akun"]
    barrier = threading.Barrier(2)
    results: list[str] = []

    def send() -> None:
        barrier.wait()
        results.append(act(kota, tid, STAFF, ActionForm("reply", text="Sedang kami proses."), "race-token-1",
                           NOW).status)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["done", "duplicate"]
    assert len(events(kota, tid, "staff_answered")) == 1


def test_a_second_answer_within_minutes_of_a_colleagues_waits_for_a_second_click(console: tuple) -> None:
    """The console's #kirim: a colleague answered 2 minutes ago, so the answer is refused with the
    colleague's words until the staff member clicks again (confirm=1); then it goes out, and the
    colleague gets the information copy (staff.copy_answers)."""
    (kota, _), _, make = console
    tid = ids(kota)["Lupa password akun"]
    colleague = STAFF2
    first = act(kota, tid, STAFF, ActionForm("reply", text="Kata sandi sedang kami atur ulang."), "t-first", NOW)
    assert first.status == "done"
    later = NOW + timedelta(minutes=2)
    held = act(kota, tid, colleague, ActionForm("reply", text="Silakan coba masuk lagi."), "t-held", later)
    assert held.status == "refused" and held.confirm
    assert STAFF in held.errors[0] and "Kata sandi sedang kami atur ulang" in held.errors[0]
    assert not any("Silakan coba masuk lagi" in text_of(m) for m in mails_to(kota, "budi@vendor.test", tid))
    sent = act(kota, tid, colleague, ActionForm("reply", text="Silakan coba masuk lagi.", confirmed=True),
               "t-confirmed", later)
    assert sent.status == "done"
    assert any("Silakan coba masuk lagi" in text_of(m) for m in mails_to(kota, "budi@vendor.test", tid))
    copies = [m for m in mails_to(kota, STAFF, tid) if "Silakan coba masuk lagi" in text_of(m)]
    assert len(copies) == 1  # the information copy to the colleague who answered first


def test_the_confirm_click_is_offered_on_the_page(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    tid = ids(kota)["Lupa password akun"]
    assert act(kota, tid, STAFF2, ActionForm("reply", text="Sudah kami periksa."), "t-x", NOW).status == "done"
    refused = post(client, tid, "reply", text="Jawaban kedua.")
    assert refused.status_code == 409 and "sudah menjawab" in refused.text
    assert 'name="confirm" value="1"' in refused.text and "Jawaban kedua." in refused.text


def test_staff_merge_a_duplicate_from_the_console(console: tuple) -> None:
    (kota, _), _, make = console
    client = make()
    sign_in(client, kota, STAFF)
    numbers = ids(kota)
    duplicate, keep = numbers["Gagal upload <script>alert(1)</script>"], numbers["Lupa password akun"]
    page = client.get(f"/tiket/{duplicate}").text
    assert 'name="action" value="merge"' in page and len(set(TOKEN.findall(page))) == 5
    into = ticket(kota, keep).number
    merged = post(client, duplicate, "merge", index=4, into=into)
    assert merged.status_code == 303
    t = ticket(kota, duplicate)
    assert t.state == "closed" and t.merged_into_id == keep
    [told] = [m for m in mails_to(kota, "budi@vendor.test", duplicate) if "Digabung" in str(m["Subject"])]
    assert into in str(told["Subject"])
    after = client.get(f"/tiket/{duplicate}").text
    assert f'<a href="/tiket/{keep}">{into}</a>' in after and 'value="merge"' not in after
    assert "Tiket lain digabung ke sini" in client.get(f"/tiket/{keep}").text
