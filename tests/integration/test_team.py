"""Staff as a team (issue 23, e-mail side): ``#buat``, the colleagues' copy, the held answer, and the
requester's previous tickets in the new-ticket notification.

The service on the test database; what the bot sends is read back from the outbox.
"""

from __future__ import annotations

import email
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import select

from mailbot.core import threads
from mailbot.core.domain import OutcomeKind
from mailbot.service.app import App, build_app
from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox, Ticket, TicketEvent
from tests.integration.conftest import NOW, make_app

HELPDESK = "helpdesk@lpse.test"
STAFF1, STAFF2 = "staf@lpse.test", "staf2@lpse.test"
FORWARD = """#buat

---------- Forwarded message ---------
From: Budi Santoso <budi@vendor.test>
Date: Fri, 27 Nov 2026 at 09:40
Subject: Tidak bisa login SPSE
To: <staf@lpse.test>

Selamat pagi, akun saya terkunci dan tidak bisa login ke SPSE. User ID: cvmaju
"""


def team_app(tmp: Path, **staff: object) -> App:
    base = make_app(tmp, "").settings
    update = {"addresses": [STAFF1, STAFF2], **staff}
    return build_app(base.model_copy(update={"staff": base.staff.model_copy(update=update)}))


def mail(sender: str, to: str, subject: str, body: str, mid: str, *, headers: dict[str, str] | None = None,
         forward: EmailMessage | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"], msg["Message-ID"] = format_datetime(NOW), f"<{mid}>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if forward is not None:
        msg.add_attachment(forward)
    return msg.as_bytes()


def sent(app: App, address: str) -> list[email.message.EmailMessage]:
    with app.factory() as session:
        raws = session.scalars(select(Outbox.raw).where(Outbox.to_key == address).order_by(Outbox.id)).all()
    return [email.message_from_bytes(raw, policy=policy.default) for raw in raws]  # type: ignore[misc]


def text(msg: email.message.EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def subjects(app: App, address: str) -> list[str]:
    return [str(m["Subject"]) for m in sent(app, address)]


def create_to(app: App) -> str:
    return threads.create_address(HELPDESK, app.secret)


def tickets(app: App) -> list[Ticket]:
    with app.factory() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def events(app: App, kind: str) -> list[TicketEvent]:
    with app.factory() as session:
        return list(session.scalars(select(TicketEvent).where(TicketEvent.kind == kind).order_by(TicketEvent.id)))


# ---- #buat --------------------------------------------------------------------------------------


def test_buat_opens_the_ticket_for_the_original_sender(tmp_path: Path) -> None:
    app = team_app(tmp_path)
    outcome = process_raw(app, mail(STAFF1, create_to(app), "Fwd: Tidak bisa login SPSE", FORWARD, "f1@lpse.test"),
                          NOW)
    assert outcome.kind == OutcomeKind.OPENED
    [ticket] = tickets(app)
    assert (ticket.requester, ticket.requester_name, ticket.subject) == (
        "budi@vendor.test", "Budi Santoso", "Tidak bisa login SPSE")
    assert ticket.category != "lainnya" and ticket.category_matched  # the rules read the forwarded text
    [received] = events(app, "received")
    assert received.data == {"opened_by": STAFF1, "channel": "e-mail diteruskan"}
    [ack] = sent(app, "budi@vendor.test")
    assert f"[{ticket.number}] Tiket diterima" in str(ack["Subject"])
    assert "Yth. Budi Santoso," in text(ack)
    # Staff get the new-ticket notification about Budi; no acknowledgment goes to staff.
    staff_mail = subjects(app, STAFF1)
    assert len(staff_mail) == 1 and "Tiket baru" in staff_mail[0]
    notice = text(sent(app, STAFF1)[0])
    assert "budi@vendor.test" in notice and f"Dibuka oleh: {STAFF1} (e-mail diteruskan)" in notice
    assert "akun saya terkunci" in notice


def test_buat_with_the_mail_attached_reads_the_attached_message(tmp_path: Path) -> None:
    app = team_app(tmp_path)
    original = EmailMessage()
    original["From"], original["To"] = "Siti Aminah <siti@cv-maju.test>", STAFF1
    original["Subject"], original["Date"] = "Lupa password SPSE", format_datetime(NOW - timedelta(hours=1))
    original.set_content("Saya lupa password akun SPSE. User ID: sitiam")
    process_raw(app, mail(STAFF1, create_to(app), "Fwd: Lupa password SPSE", "#buat\n", "f2@lpse.test",
                          forward=original), NOW)
    [ticket] = tickets(app)
    assert (ticket.requester, ticket.requester_name, ticket.subject) == (
        "siti@cv-maju.test", "Siti Aminah", "Lupa password SPSE")
    assert len(sent(app, "siti@cv-maju.test")) == 1


def test_the_original_sender_gets_every_later_mail(tmp_path: Path) -> None:
    app = team_app(tmp_path)
    process_raw(app, mail(STAFF1, create_to(app), "Fwd: login", FORWARD, "f3@lpse.test"), NOW)
    [ticket] = tickets(app)
    staff_to = threads.reply_address(HELPDESK, ticket.id, app.secret)
    process_raw(app, mail(STAFF1, staff_to, "Re: x", "#tutup\nAkun sudah kami buka.", "s3@lpse.test"), NOW)
    closed = sent(app, "budi@vendor.test")[-1]
    assert "Akun sudah kami buka." in text(closed)
    # The user's reply to the acknowledgment threads into the ticket.
    ack = sent(app, "budi@vendor.test")[0]
    reply = mail("budi@vendor.test", HELPDESK, f"Re: {ack['Subject']}", "Terima kasih, sudah bisa.", "u3@vendor.test",
                 headers={"In-Reply-To": str(ack["Message-ID"])})
    assert process_raw(app, reply, NOW + timedelta(minutes=5)).ticket_id == ticket.id


def test_unverified_buat_opens_nothing_and_tells_the_staff_address(tmp_path: Path) -> None:
    app = team_app(tmp_path)
    for n in range(5):  # to the plain helpdesk address: no proof (command_auth = reply_address)
        outcome = process_raw(app, mail(STAFF1, HELPDESK, "Fwd: login", FORWARD, f"u{n}@lpse.test"), NOW)
        assert outcome.kind == OutcomeKind.IGNORED and "not verified" in outcome.reason
    assert tickets(app) == []
    assert sent(app, "budi@vendor.test") == []  # the forwarded sender hears nothing
    notes = sent(app, STAFF1)
    assert len(notes) == 3  # a few an hour at most
    assert all("Tiket tidak dibuat" in str(n["Subject"]) for n in notes)
    assert "tidak dapat diverifikasi" in text(notes[0]) and "paling banyak 3 kali" in text(notes[-1])


def test_buat_is_proven_by_a_trusted_dkim_result_too(tmp_path: Path) -> None:
    app = team_app(tmp_path, command_auth=["dkim"], trusted_authserv_ids=["mx.lpse.test"])
    process_raw(app, mail(STAFF1, HELPDESK, "Fwd: login", FORWARD, "d1@lpse.test",
                          headers={"Authentication-Results": "mx.lpse.test; dkim=pass header.d=lpse.test"}), NOW)
    assert [t.requester for t in tickets(app)] == ["budi@vendor.test"]


def test_buat_without_a_forwarded_sender_or_for_staff_is_refused(tmp_path: Path) -> None:
    app = team_app(tmp_path)
    process_raw(app, mail(STAFF1, create_to(app), "buat tiket", "#buat\nTolong buatkan tiket.", "n1@lpse.test"), NOW)
    own = FORWARD.replace("budi@vendor.test", STAFF2)
    process_raw(app, mail(STAFF1, create_to(app), "Fwd: login", own, "n2@lpse.test"), NOW)
    assert tickets(app) == []
    notes = [text(m) for m in sent(app, STAFF1)]
    assert "tidak ditemukan e-mail yang diteruskan" in notes[0]
    assert "tiket hanya dibuat untuk pengguna" in notes[1]


def test_a_users_buat_is_just_the_users_mail(tmp_path: Path) -> None:
    app = team_app(tmp_path)
    process_raw(app, mail("eko@vendor.test", HELPDESK, "Fwd: login", FORWARD, "e1@vendor.test"), NOW)
    assert [t.requester for t in tickets(app)] == ["eko@vendor.test"]


# ---- the team sees the team ---------------------------------------------------------------------


def open_ticket(app: App, mid: str = "u1@vendor.test", sender: str = "budi@vendor.test") -> tuple[int, str]:
    outcome = process_raw(app, mail(sender, HELPDESK, "Gagal login SPSE",
                                    "Tidak bisa login, akun terkunci. User ID: cvmaju", mid), NOW)
    assert outcome.ticket_id is not None
    return outcome.ticket_id, threads.reply_address(HELPDESK, outcome.ticket_id, app.secret)


def test_a_colleague_gets_an_information_copy_of_an_answer_and_a_take(tmp_path: Path) -> None:
    app = team_app(tmp_path)
    _, staff_to = open_ticket(app)
    before = len(sent(app, STAFF2))
    process_raw(app, mail(STAFF1, staff_to, "Re: x", "#ambil\nSilakan hapus cache browser.", "s1@lpse.test"), NOW)
    copies = sent(app, STAFF2)[before:]
    assert len(copies) == 1
    assert "Info: staf@lpse.test mengambil tiket ini (#ambil), menjawab pengguna" in str(copies[0]["Subject"])
    assert "Silakan hapus cache browser." in text(copies[0])
    assert str(copies[0]["Reply-To"]) == staff_to  # in the ticket's staff thread
    assert not any("Info:" in s for s in subjects(app, STAFF1))  # not to the one who acted


def test_copies_can_be_switched_off(tmp_path: Path) -> None:
    app = team_app(tmp_path, copy_answers=False)
    _, staff_to = open_ticket(app)
    process_raw(app, mail(STAFF1, staff_to, "Re: x", "Silakan hapus cache browser.", "s1@lpse.test"), NOW)
    assert not any("Info:" in s for s in subjects(app, STAFF2))


def test_a_second_answer_within_ten_minutes_is_held_until_kirim(tmp_path: Path) -> None:
    app = team_app(tmp_path)
    _, staff_to = open_ticket(app)
    process_raw(app, mail(STAFF1, staff_to, "Re: x", "Silakan hapus cache browser.", "s1@lpse.test"), NOW)
    to_user = len(sent(app, "budi@vendor.test"))
    state = tickets(app)[0].state
    process_raw(app, mail(STAFF2, staff_to, "Re: x", "#tutup\nCoba pakai browser lain.", "s2@lpse.test"),
                NOW + timedelta(minutes=3))
    assert len(sent(app, "budi@vendor.test")) == to_user  # held: nothing to the user
    assert tickets(app)[0].state == state != "closed"  # and its #tutup did not run
    warning = sent(app, STAFF2)[-1]
    assert "Jawaban ditahan" in str(warning["Subject"])
    assert "Silakan hapus cache browser." in text(warning) and "#kirim" in text(warning)
    assert str(warning["Reply-To"]) == staff_to
    # Confirmed: the held answer goes out as written, and the colleague gets the copy.
    process_raw(app, mail(STAFF2, staff_to, f"Re: {warning['Subject']}", "#kirim", "s3@lpse.test"),
                NOW + timedelta(minutes=5))
    last = sent(app, "budi@vendor.test")[-1]
    assert "Coba pakai browser lain." in text(last)
    assert tickets(app)[0].state == "closed" and tickets(app)[0].closed_by == STAFF2
    assert [e.actor for e in events(app, "answer_released")] == [STAFF2]
    assert "menutup tiket" in str(sent(app, STAFF1)[-1]["Subject"])
    # A second #kirim has nothing left to send.
    process_raw(app, mail(STAFF2, staff_to, "Re: x", "#kirim", "s4@lpse.test"), NOW + timedelta(minutes=6))
    assert "tidak ada jawaban Anda yang sedang ditahan" in text(sent(app, STAFF2)[-1])


def test_an_answer_ten_minutes_later_is_not_held(tmp_path: Path) -> None:
    app = team_app(tmp_path)
    _, staff_to = open_ticket(app)
    process_raw(app, mail(STAFF1, staff_to, "Re: x", "Silakan hapus cache browser.", "s1@lpse.test"), NOW)
    to_user = len(sent(app, "budi@vendor.test"))
    process_raw(app, mail(STAFF2, staff_to, "Re: x", "Coba pakai browser lain.", "s2@lpse.test"),
                NOW + timedelta(minutes=11))
    assert len(sent(app, "budi@vendor.test")) == to_user + 1
    assert events(app, "answer_held") == []


def test_the_new_ticket_notification_lists_the_requesters_last_three_tickets(tmp_path: Path) -> None:
    app = team_app(tmp_path)
    for n in range(4):
        open_ticket(app, f"h{n}@vendor.test")
    open_ticket(app, "other@vendor.test", sender="eko@vendor.test")
    open_ticket(app, "h9@vendor.test")
    numbers = [t.number for t in tickets(app)]
    notice = text(sent(app, STAFF1)[-1])
    assert "Tiket sebelumnya dari pelapor ini" in notice
    for number in numbers[1:4]:
        assert number in notice
    assert numbers[0] not in notice.split("Tiket sebelumnya")[1].split("Perintah")[0]  # only three
    assert numbers[4] not in notice  # another requester's
    assert "dalam analisis" in notice or "menunggu data" in notice
    first = text(sent(app, STAFF1)[0])
    assert "Tiket sebelumnya" not in first


def test_a_signed_address_in_a_staff_answer_never_reaches_the_user(tmp_path: Path) -> None:
    # The reply address is a capability: whoever writes to it runs staff commands. A staff member's
    # answer can carry it in its text (pasted, or in a quoted header block the reply reader left).
    app = team_app(tmp_path)
    process_raw(app, mail("budi@vendor.test", HELPDESK, "Tidak bisa login", "Akun saya terkunci, user id cvmaju",
                          "u1@vendor.test"), NOW)
    note = sent(app, STAFF1)[0]
    signed = str(note["Reply-To"])
    assert signed.startswith("helpdesk+t")
    answer = (f"Silakan reset password lewat menu Lupa Password.\nKalau masih gagal, balas ke {signed} "
              f"atau ke <{create_to(app)}>.")
    process_raw(app, mail(STAFF1, signed, f"Re: {note['Subject']}", answer, "s1@lpse.test",
                          headers={"In-Reply-To": str(note["Message-ID"])}), NOW)
    [*_, to_user] = sent(app, "budi@vendor.test")
    assert "Silakan reset password" in text(to_user)
    raw = to_user.as_string()
    assert "helpdesk+" not in raw.lower()
    assert f"balas ke {HELPDESK} atau ke <{HELPDESK}>" in text(to_user)
    # Staff still see what was written (their copy is theirs).
    assert any(signed in text(m) for m in sent(app, STAFF2))


def test_staff_notices_link_the_tickets_console_page(tmp_path: Path) -> None:
    # A staff member reading the notice on a phone opens the ticket from it.
    app = team_app(tmp_path)
    web = app.settings.web.model_copy(update={"base_url": "https://helpdesk.lpse.test"})
    app = build_app(app.settings.model_copy(update={"web": web}))
    process_raw(app, mail("budi@vendor.test", HELPDESK, "Tidak bisa login", "Akun terkunci.", "l1@vendor.test"), NOW)
    [ticket] = tickets(app)
    assert f"Konsol   : https://helpdesk.lpse.test/tiket/{ticket.id}\r\n" in text(sent(app, STAFF1)[-1])
    assert "/tiket/" not in text(sent(app, "budi@vendor.test")[-1])  # the user has no console


def test_no_console_link_to_this_machines_own_address(tmp_path: Path) -> None:
    # The example's base_url (127.0.0.1:8080) opens on no staff member's phone.
    app = team_app(tmp_path)
    web = app.settings.web.model_copy(update={"base_url": "http://127.0.0.1:8080"})
    app = build_app(app.settings.model_copy(update={"web": web}))
    process_raw(app, mail("budi@vendor.test", HELPDESK, "Tidak bisa login", "Akun terkunci.", "l2@vendor.test"), NOW)
    assert "Konsol" not in text(sent(app, STAFF1)[-1])


def test_an_ack_outside_working_hours_says_when_staff_start(tmp_path: Path) -> None:
    # Sunday 13:00 WIB: the user with a deadline on Monday learns nobody reads it before Monday 08:00.
    app = team_app(tmp_path)
    sunday = datetime(2026, 12, 6, 6, 0, tzinfo=timezone.utc)
    process_raw(app, mail("budi@vendor.test", HELPDESK, "Tidak bisa login", "Akun terkunci.", "o1@vendor.test"),
                sunday)
    assert "mulai Senin, 07-12-2026 pukul 08:00 WIB" in text(sent(app, "budi@vendor.test")[-1])
    monday_9 = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)
    process_raw(app, mail("sari@vendor.test", HELPDESK, "Lupa password", "Mohon reset.", "o2@vendor.test"), monday_9)
    assert "di luar jam kerja" not in text(sent(app, "sari@vendor.test")[-1])
