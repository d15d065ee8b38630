"""End-to-end tests of the mail stack harness itself (real Dovecot + Postfix)."""

from __future__ import annotations

import asyncio
import smtplib
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from imap_tools import MailBoxStartTls, MailBoxUnencrypted

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # plain "pytest" without rootdir on sys.path
    sys.path.insert(0, str(ROOT))

from tests.support.mailstack import (  # noqa: E402
    MailStack,
    ensure_started,
    fetch_all,
    maildir,
    send,
    set_vacation,
    ssl_context,
    unique_address,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> MailStack:
    return ensure_started()


def make_message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def test_fresh_mailbox_is_empty_then_receives_mail(stack: MailStack) -> None:
    to = unique_address("hd", "lpse.test")
    sender = unique_address("warga", "vendor.test")
    assert not maildir(stack, to).exists()
    # A never used mailbox can log in and is empty.
    assert fetch_all(stack, to) == []

    subject = "Tidak bisa login SPSE"
    send(stack, make_message(sender, to, subject, "Mohon bantuannya.\n"),
         mail_from=sender, rcpt_to=[to])

    [got] = wait_for(stack, to)
    assert got.subject == subject
    assert got.from_ == sender
    assert got.to == (to,)
    assert "Mohon bantuannya." in got.text
    assert maildir(stack, to).is_dir()


def test_raw_bytes_to_several_domains(stack: MailStack) -> None:
    rcpts = [unique_address("a", d) for d in ("lkpp.test", "example.test")]
    raw = (
        f"From: ppk@lpse.test\r\nTo: {', '.join(rcpts)}\r\n"
        "Subject: raw bytes\r\n\r\nhello\r\n"
    ).encode()
    send(stack, raw, mail_from="ppk@lpse.test", rcpt_to=rcpts)
    for rcpt in rcpts:
        [got] = wait_for(stack, rcpt)
        assert got.subject == "raw bytes"


def test_plain_imap_and_starttls_login(stack: MailStack) -> None:
    to = unique_address("plain", "lpse.test")
    with MailBoxUnencrypted(stack.host, port=stack.imap_port).login(to, stack.password) as mb:
        assert list(mb.fetch()) == []
    with MailBoxStartTls(stack.host, port=stack.imap_port,
                         ssl_context=ssl_context(stack)).login(to, stack.password) as mb:
        assert list(mb.fetch()) == []


def test_plus_address_lands_in_base_inbox(stack: MailStack) -> None:
    base = unique_address("x", "lpse.test")
    local, domain = base.split("@")
    plus = f"{local}+t123.abc@{domain}"
    send(stack, make_message("warga@vendor.test", plus, "plus", "body\n"),
         mail_from="warga@vendor.test", rcpt_to=[plus])
    [got] = wait_for(stack, base)
    assert got.to == (plus,)
    # No separate mailbox was made for the +detail.
    assert not (stack.state_dir / "mail" / domain / f"{local}+t123.abc").exists()


def test_outside_domains_are_refused_on_injection_port(stack: MailStack) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(stack, make_message("a@lpse.test", "b@example.com", "x", "y\n"),
             mail_from="a@lpse.test", rcpt_to=["b@example.com"])


async def _submit(stack: MailStack, user: str, password: str, msg: EmailMessage,
                  *, port: int, implicit_tls: bool) -> None:
    smtp = aiosmtplib.SMTP(
        hostname=stack.host,
        port=port,
        use_tls=implicit_tls,
        start_tls=not implicit_tls,
        tls_context=ssl_context(stack),
        timeout=30,
    )
    await smtp.connect()
    try:
        await smtp.login(user, password)
        await smtp.send_message(msg)
    finally:
        smtp.close()


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["submission-starttls", "smtps"])
def test_authenticated_submission(stack: MailStack, implicit_tls: bool) -> None:
    helpdesk = unique_address("helpdesk", "lpse.test")
    customer = unique_address("warga", "vendor.test")
    port = stack.smtps_port if implicit_tls else stack.submission_port
    msg = make_message(helpdesk, customer, "Tiket #1 diterima", "Terima kasih.\n")
    asyncio.run(_submit(stack, helpdesk, stack.password, msg, port=port,
                        implicit_tls=implicit_tls))
    [got] = wait_for(stack, customer)
    assert got.subject == "Tiket #1 diterima"

    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        asyncio.run(_submit(stack, helpdesk, "wrong-password", msg, port=port,
                            implicit_tls=implicit_tls))


def test_submission_demands_starttls_and_auth(stack: MailStack) -> None:
    customer = unique_address("warga", "vendor.test")
    with smtplib.SMTP(stack.host, stack.submission_port, timeout=30) as smtp:
        code, _ = smtp.mail("helpdesk@lpse.test")
        assert code == 530  # Must issue a STARTTLS command first
    with smtplib.SMTP(stack.host, stack.submission_port, timeout=30) as smtp:
        smtp.starttls(context=ssl_context(stack))
        assert smtp.mail("helpdesk@lpse.test")[0] == 250
        code, _ = smtp.rcpt(customer)
        assert code == 554  # no AUTH: relay access denied


def test_vacation_autoresponder_answers_once(stack: MailStack) -> None:
    staff = unique_address("pokja", "lpse.test")
    customer = unique_address("warga", "vendor.test")
    set_vacation(stack, staff, "Sedang cuti", "Saya sedang cuti sampai 5 Desember.")

    send(stack, make_message(customer, staff, "Pertanyaan 1", "Halo\n"),
         mail_from=customer, rcpt_to=[staff])
    [reply] = wait_for(stack, customer)
    assert reply.subject == "Sedang cuti"
    assert reply.from_ == staff
    assert reply.headers["auto-submitted"][0].startswith("auto-replied")
    assert "Saya sedang cuti sampai 5 Desember." in reply.text

    # A second mail from the same sender is delivered but not answered again.
    send(stack, make_message(customer, staff, "Pertanyaan 2", "Halo lagi\n"),
         mail_from=customer, rcpt_to=[staff])
    wait_for(stack, staff, count=2)
    time.sleep(1.0)
    assert len(fetch_all(stack, customer)) == 1
