"""Loop protection and staff authentication, on parsed mail (no servers)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from mailbot.core.auth import dkim_pass, verify_staff
from mailbot.core.loops import automatic_reason, is_bounce, parse_bounce
from mailbot.core.parse import parse_mail


def mail(headers: dict[str, str] | None = None, subject: str = "Tidak bisa login", sender: str = "u@vendor.test",
         body: str = "Halo") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "helpdesk@lpse.test"
    msg["Subject"] = subject
    msg["Message-ID"] = "<m1@vendor.test>"
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    return msg.as_bytes()


@pytest.mark.parametrize(
    ("headers", "subject", "sender"),
    [
        ({"Auto-Submitted": "auto-replied"}, "Re: x", "u@vendor.test"),
        ({"Auto-Submitted": "auto-generated"}, "x", "u@vendor.test"),
        ({"Precedence": "bulk"}, "x", "u@vendor.test"),
        ({"Precedence": "auto_reply"}, "x", "u@vendor.test"),
        ({"List-Id": "<spse.lists.example>"}, "x", "u@vendor.test"),
        ({}, "Out of Office: x", "u@vendor.test"),
        ({}, "Automatic reply: Gagal upload", "u@vendor.test"),
        ({}, "Balasan otomatis: Tiket diterima", "u@vendor.test"),
        ({}, "Sedang cuti", "u@vendor.test"),
        ({"X-Auto-Response-Suppress": "All"}, "Auto-Reply: x", "u@vendor.test"),
        ({}, "x", "MAILER-DAEMON@mx.vendor.test"),
        ({}, "x", "noreply@vendor.test"),
        ({"Return-Path": "<>"}, "x", "u@vendor.test"),
    ],
)
def test_automatic_mail_is_recognised(headers: dict[str, str], subject: str, sender: str) -> None:
    assert automatic_reason(parse_mail(mail(headers, subject, sender))) is not None


@pytest.mark.parametrize(
    ("headers", "subject"),
    [
        ({}, "Tidak bisa login"),
        ({"Auto-Submitted": "no"}, "Re: [TTS-000001] Tiket diterima"),
        ({}, "Cuti bersama: apakah helpdesk buka?"),  # a question about leave days is not an OOO reply
        ({}, "Re: Balasan helpdesk"),
    ],
)
def test_human_mail_is_not_automatic(headers: dict[str, str], subject: str) -> None:
    assert automatic_reason(parse_mail(mail(headers, subject))) is None


def dsn() -> bytes:
    return (
        b"From: MAILER-DAEMON@lpse.test (Mail Delivery System)\r\nTo: helpdesk@lpse.test\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@lpse.test>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\n<nobody@nowhere.invalid>: Host or domain name not found\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; lpse.test\r\n\r\n"
        b"Final-Recipient: rfc822; nobody@nowhere.invalid\r\nOriginal-Recipient: rfc822;nobody@nowhere.invalid\r\n"
        b"Action: failed\r\nStatus: 5.4.4\r\nDiagnostic-Code: X-Postfix; Host or domain name not found\r\n"
        b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: helpdesk@lpse.test\r\nTo: nobody@nowhere.invalid\r\n"
        b"Subject: [TTS-000001] Tiket diterima\r\nMessage-ID: <mailbot.abc@lpse.test>\r\n\r\n--B--\r\n"
    )


def test_dsn_is_a_bounce_and_names_the_mail_and_recipient() -> None:
    parsed = parse_mail(dsn())
    assert is_bounce(parsed)
    report = parse_bounce(parsed)
    assert report.original_message_id == "mailbot.abc@lpse.test"
    assert [(r.address, r.status, r.permanent) for r in report.recipients] == [("nobody@nowhere.invalid", "5.4.4", True)]


TRUSTED = ["mx.lpse.test"]


def staff_mail(results: list[str]) -> bytes:
    head = "".join(f"Authentication-Results: {r}\r\n" for r in results)
    return (f"{head}From: staf@lpse.test\r\nTo: helpdesk@lpse.test\r\nSubject: Re: x\r\n"
            "Message-ID: <s1@lpse.test>\r\n\r\n#tutup\r\n").encode()


@pytest.mark.parametrize(
    ("results", "ok"),
    [
        (["mx.lpse.test; dkim=pass header.d=lpse.test header.s=sel; spf=pass"], True),
        (["mx.lpse.test; dmarc=pass (p=reject) header.from=lpse.test"], True),
        (["mx.lpse.test; dkim=fail header.d=lpse.test"], False),
        (["mx.lpse.test; dkim=pass header.d=evil.test"], False),  # signed, but by another domain
        (["mx.lpse.test; dkim=pass header.d=lpse.test.evil.test"], False),  # look-alike (more in test_auth_results)
        (["mx.lpse.test; dkim=pass (2048-bit key; unprotected) header.d=lpse.test"], True),  # OpenDKIM's comment
        (["evil.test; dkim=pass header.d=lpse.test"], False),  # untrusted server
        # A forged header below the trusted server's own (topmost) one does not count.
        (["mx.lpse.test; dkim=none", "mx.lpse.test; dkim=pass header.d=lpse.test"], False),
        ([], False),
    ],
)
def test_dkim_verdicts(results: list[str], ok: bool) -> None:
    assert dkim_pass(parse_mail(staff_mail(results)), TRUSTED)[0] is ok


def test_verify_staff_methods() -> None:
    m = parse_mail(staff_mail([]))
    assert verify_staff(m, ticket_id=3, signed_ticket_id=3, methods=["reply_address"], trusted_authserv_ids=[]).ok
    assert not verify_staff(m, ticket_id=3, signed_ticket_id=4, methods=["reply_address"],
                            trusted_authserv_ids=[]).ok
    assert not verify_staff(m, ticket_id=3, signed_ticket_id=3, methods=["dkim"], trusted_authserv_ids=TRUSTED).ok
    good = parse_mail(staff_mail(["mx.lpse.test; dkim=pass header.d=lpse.test"]))
    assert verify_staff(good, ticket_id=3, signed_ticket_id=None, methods=["reply_address", "dkim"],
                        trusted_authserv_ids=TRUSTED).ok
