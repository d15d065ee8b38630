"""Issue 6 on the real mail stack: loops, bounces, spoofed staff commands, injection, secrets."""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

from tests.e2e.conftest import Deployment, reply_mail, user_mail
from tests.support.mailstack import clear_vacation, fetch_all, set_vacation

QUESTION = "Kapan jadwal pelatihan SPSE untuk penyedia bulan depan?"




def test_real_vacation_autoresponder_exchanges_at_most_one_mail(deployment: Deployment) -> None:
    d = deployment
    set_vacation(d.stack, d.user, "Sedang cuti", "Saya sedang cuti sampai 5 Desember.")
    try:
        d.open_ticket("Jadwal pelatihan SPSE", QUESTION)
        [ack] = d.wait_subject(d.user, "Tiket diterima")
        # Our ack is Auto-Submitted, so a polite autoresponder (Sieve vacation) does not answer it.
        time.sleep(1.0)
        assert fetch_all(d.stack, d.helpdesk) == []
        # A careless relay strips Auto-Submitted: now the vacation answers; the bot must not answer back.
        copy = EmailMessage()
        for key in ("From", "To", "Subject", "Message-ID", "Date"):
            copy[key] = ack.headers[key.lower()][0]
        copy.set_content(ack.text)
        d.send(copy, to=[d.user])
        [vacation] = d.wait(d.helpdesk, 1, lambda m: "Sedang cuti" in m.subject)
        assert vacation.headers["auto-submitted"][0].startswith("auto-replied")
        d.poll()
        d.poll()
        [ticket] = d.tickets()
        auto = [m for m in ticket.messages if m.auto]
        assert len(auto) == 1 and any(e.kind == "auto_mail" for e in ticket.events)
        to_user = [m for m in fetch_all(d.stack, d.user) if m.from_ == d.helpdesk]
        assert len([m for m in to_user if "Tiket diterima" in m.subject]) == 2  # ours + the stripped copy
        assert not [m for m in to_user if "Tiket diterima" not in m.subject]  # nothing else was sent to the user
    finally:
        clear_vacation(d.stack, d.user)


def test_rude_autoresponder_is_capped(deployment: Deployment) -> None:
    """An autoresponder that marks nothing and starts new threads: the per-recipient cap stops the ping-pong."""
    d = deployment
    d.write_config(extra="[loops]\nmax_auto_mails_per_hour = 4")
    d.open_ticket("Jadwal pelatihan SPSE", QUESTION)
    for round_ in range(5):
        # It answers every mail it gets with a fresh, unmarked mail (new subject, no thread headers).
        d.new_mail(f"Terima kasih atas e-mail Anda {round_}", "Pesan Anda sudah kami terima. Salam.")
        d.wait_helpdesk_inbox(1)
        d.poll()
    sent_to_user = [m for m in fetch_all(d.stack, d.user) if m.from_ == d.helpdesk]
    assert len(sent_to_user) <= 4
    suppressed = [e for t in d.tickets() for e in t.events if e.kind == "mail_suppressed"]
    assert suppressed and "cap of 4" in suppressed[0].detail


def test_bounce_marks_the_address_and_tells_staff(deployment: Deployment) -> None:
    d = deployment
    ghost = "nobody@bounce.test"
    msg = user_mail(ghost, d.helpdesk, "Jadwal pelatihan SPSE", QUESTION, name="Tidak Ada")
    d.send(msg, to=[d.helpdesk])
    d.wait_helpdesk_inbox(1)
    d.poll()  # the ack to the ghost goes out and Postfix bounces it back to the helpdesk
    [dsn] = d.wait(d.helpdesk, 1, timeout=30)
    assert "multipart/report" in dsn.headers.get("content-type", ("",))[0]
    d.poll()
    [ticket] = d.tickets()
    assert any(e.kind == "bounce" and ghost in e.detail for e in ticket.events)
    [told] = d.wait_subject(d.staff1, "tidak terkirim")
    assert ghost in told.text
    # The bounce itself got no reply, and the address gets no more automatic mail.
    d.send(reply_mail(told, d.staff1, "Mohon cek lagi.", to=d.helpdesk), to=[d.helpdesk])  # noise: ignored
    d.poll()
    assert [e for e in ticket.events if e.kind == "priority_set"]
    out = d.cli("tickets", "show", ticket.number or "")[1]
    assert "bounce" in out


@pytest.mark.parametrize("variant", ["untrusted_server", "tampered_mac", "forged_below_trusted"])
def test_spoofed_staff_commands_run_nothing(deployment: Deployment, variant: str) -> None:
    d = deployment
    d.write_config(staff_extra='command_auth = ["reply_address", "dkim"]\ntrusted_authserv_ids = ["mx.lpse.test"]')
    d.open_ticket("Jadwal pelatihan SPSE", QUESTION)
    [note] = d.wait_subject(d.staff1, "Tiket baru")
    real_reply_to = note.headers["reply-to"][0]
    forged = reply_mail(note, d.staff1, "#tutup\nDitutup.", to=d.helpdesk)
    if variant == "untrusted_server":
        forged["Authentication-Results"] = f"evil.example; dkim=pass header.d={d.staff1.split('@')[1]}"
        rcpt = d.helpdesk
    elif variant == "tampered_mac":
        rcpt = re.sub(r"\.([0-9a-f]{12})@", ".000000000000@", real_reply_to)
        del forged["To"]
        forged["To"] = rcpt
    else:
        # The trusted server's own (topmost) result says no signature; a forged pass sits below it.
        forged["Authentication-Results"] = "mx.lpse.test; dkim=none"
        forged["Authentication-Results"] = f"mx.lpse.test; dkim=pass header.d={d.staff1.split('@')[1]}"
        rcpt = d.helpdesk
    d.send(forged, to=[rcpt])
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ticket] = d.tickets()
    assert ticket.state == "analysis"
    assert any(e.kind == "command_unverified" for e in ticket.events)
    assert not [m for m in fetch_all(d.stack, d.user) if "Selesai" in m.subject]
    d.wait_subject(d.staff1, "Perintah tidak dijalankan")


def test_trusted_dkim_result_lets_staff_command_without_reply_address(deployment: Deployment) -> None:
    d = deployment
    d.write_config(staff_extra='command_auth = ["dkim"]\ntrusted_authserv_ids = ["mx.lpse.test"]')
    d.open_ticket("Jadwal pelatihan SPSE", QUESTION)
    [note] = d.wait_subject(d.staff1, "Tiket baru")
    reply = reply_mail(note, d.staff1, "#tutup\nJadwal ada di situs LPSE.", to=d.helpdesk)
    reply["Authentication-Results"] = f"mx.lpse.test; dkim=pass header.d={d.staff1.split('@')[1]} header.s=s1"
    d.send(reply, to=[d.helpdesk])
    d.wait_helpdesk_inbox(1)
    d.poll()
    assert d.tickets()[0].state == "closed"


def test_header_injection_and_html_are_neutralised(deployment: Deployment) -> None:
    d = deployment
    msg = EmailMessage()
    msg["From"] = f"Budi <{d.user}>"
    msg["To"] = d.helpdesk
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = make_msgid(domain="vendor.test")
    # An encoded CR LF in the subject tries to add a Bcc header to our reply.
    msg["Subject"] = "=?utf-8?q?Jadwal_pelatihan=0D=0ABcc:_victim@vendor.test?="
    msg.set_content(QUESTION)
    msg.add_alternative("<p>" + QUESTION + "</p><script>alert('x')</script><img src=x onerror=alert(1)>",
                        subtype="html")
    d.send(msg, to=[d.helpdesk])
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ack] = d.wait_subject(d.user, "Tiket diterima")
    assert "bcc" not in {k.lower() for k in ack.headers}
    assert "\n" not in ack.subject and "\r" not in ack.subject
    [note] = d.wait_subject(d.staff1, "Tiket baru")
    assert "<script" not in note.html.lower() and "onerror" not in note.html.lower()
    assert fetch_all(d.stack, "victim@vendor.test") == []


def test_passwords_never_reach_logs_storage_or_staff(deployment: Deployment, caplog: pytest.LogCaptureFixture
                                                     ) -> None:
    d = deployment
    secret = "Rahasia#2026xyz"
    d.new_mail("Akun terkunci", f"Akun saya terkunci. User ID: cvmaju01, password saya: {secret}\nMohon dibantu.")
    d.wait_helpdesk_inbox(1)
    with caplog.at_level(logging.DEBUG):
        d.poll()
    assert secret not in caplog.text
    [ticket] = d.tickets()
    assert all(secret not in m.text and secret not in m.new_text for m in ticket.messages)
    assert any(e.kind == "password_masked" for e in ticket.events)
    [note] = d.wait_subject(d.staff1, "Tiket baru")
    assert secret not in note.text and "********" in note.text
    [ack] = d.wait_subject(d.user, "Tiket diterima")
    assert "Jangan pernah mengirimkan kata sandi" in ack.text
