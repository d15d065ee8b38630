"""``smtp.sendmail`` (plain addresses sent as they are) puts the same commands on the wire as
aiosmtplib's ``SMTP.sendmail``, and comes to the same result or exception."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import aiosmtplib
import pytest
from aiosmtplib.email import parse_address

from mailbot.mail import smtp
from tests.support.smtprecorder import serving

ATEXT = "abcxyzABCXYZ0189!#$%&'*+/=?^_`{|}~-"


def test_a_plain_address_is_what_aiosmtplib_would_send() -> None:
    rng = random.Random(24)
    checked = 0
    for _ in range(20000):
        local = ".".join("".join(rng.choice(ATEXT) for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(1, 3)))
        domain = ".".join("".join(rng.choice("abz09-") for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(1, 3)))
        address = f"{local}@{domain}"
        assert smtp.plain_address(address)
        assert parse_address(address) == address
        checked += 1
    assert checked == 20000
    assert smtp.plain_address("hdb-1+b.7qeuofszv2zc.e96b36c7f9a9@lpse.test")


@pytest.mark.parametrize("address", [
    "Budi <budi@vendor.test>", "<budi@vendor.test>", '"budi santoso"@vendor.test', "budi@vendor.test (Budi)",
    " budi@vendor.test", "budi@vendor.test ", "budi.@vendor.test", ".budi@vendor.test", "bu..di@vendor.test",
    "budi@vendor..test", "budi@[127.0.0.1]", "búdi@vendor.test", "budi@vendor.test>", "budi", "", "a@b@c",
    "budi@vendor.test\r\nRCPT TO:<x@y.test>",
])
def test_anything_else_is_left_to_aiosmtplib(address: str) -> None:
    assert not smtp.plain_address(address)


class _Server:
    """Records the envelope commands; refuses by the address's first word."""

    def __init__(self) -> None:
        self.log: list[tuple[str, ...]] = []

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        self.log.append(("MAIL", address, *options))
        await _hang_if(address, "hang-mail")
        if address.startswith("refuse-sender"):
            return "553 5.7.1 Sender refused"
        envelope.mail_from = address
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        self.log.append(("RCPT", address, *options))
        await _hang_if(address, "hang-rcpt")
        if address.startswith("refused"):
            return "550 5.1.1 No such user"
        if address.startswith("later"):
            return "450 4.2.1 Try later"
        envelope.rcpt_tos.append(address)
        return "251 2.1.5 Will forward" if address.startswith("forward") else "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.log.append(("DATA", envelope.content))
        await _hang_if(envelope.mail_from, "hang-data")
        if envelope.mail_from.startswith("refuse-data"):
            return "554 5.6.0 Content refused"
        return "250 2.0.0 Ok"

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.log.append(("RSET",))
        return "250 2.0.0 Ok"


async def _hang_if(address: str, prefix: str) -> None:
    """A server that does not answer this command (longer than the clients' timeout)."""
    if address.startswith(prefix):
        await asyncio.sleep(HANG)


HANG = 1.5  # seconds a hanging command takes; the clients below give up after TIMEOUT
TIMEOUT = 0.3


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[_Server, int]]:
    handler = _Server()
    with serving(handler) as port:
        yield handler, port


MAIL = b"From: a@lpse.test\r\nSubject: x\r\n\r\n.dot line\r\nbody\r\n"

CASES = [
    ("hd+b.x1@lpse.test", ["user@vendor.test"]),
    ("hd+b.x1@lpse.test", ["staf1@lpse.test", "staf2@lpse.test"]),
    ("hd+b.x1@lpse.test", ["refused1@vendor.test", "user@vendor.test"]),
    ("hd+b.x1@lpse.test", ["refused1@vendor.test", "later@vendor.test"]),
    ("hd+b.x1@lpse.test", ["forward@vendor.test"]),
    ("refuse-sender@lpse.test", ["user@vendor.test"]),
    ("refuse-data@lpse.test", ["user@vendor.test", "refused2@vendor.test"]),
    ("Helpdesk <hd@lpse.test>", ["Budi <user@vendor.test>"]),
    ("hd@lpse.test", []),
]


async def _outcome(port: int, mail_from: str, recipients: list[str], ours: bool) -> tuple[str, object]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=10)
    await client.connect()
    await client.ehlo()
    try:
        if ours:
            result: object = await smtp.sendmail(client, mail_from, recipients, MAIL)
        else:
            result = (await client.sendmail(mail_from, recipients, MAIL))[0]
        # The connection is ready for the next mail either way.
        await client.noop()
        return "ok", result
    except aiosmtplib.SMTPRecipientsRefused as exc:
        return type(exc).__name__, [(r.code, r.message, r.recipient) for r in exc.recipients]
    except aiosmtplib.SMTPResponseException as exc:
        return type(exc).__name__, (exc.code, exc.message, getattr(exc, "sender", None))
    finally:
        await client.quit()


@pytest.mark.parametrize(("mail_from", "recipients"), CASES)
def test_the_same_transaction_as_aiosmtplib(server: tuple[_Server, int], mail_from: str, recipients: list[str]) -> None:
    handler, port = server
    results = []
    for ours in (False, True):
        handler.log.clear()
        outcome = asyncio.run(_outcome(port, mail_from, recipients, ours))
        results.append((outcome, list(handler.log)))
    assert results[0] == results[1]
    assert results[0][1], "the server saw the transaction"


def test_plain_addresses_do_not_go_through_sendmail(server: tuple[_Server, int], monkeypatch: pytest.MonkeyPatch) -> None:
    handler, port = server

    async def not_called(*args: object, **kwargs: object) -> object:
        raise AssertionError("aiosmtplib's sendmail was used")

    monkeypatch.setattr(aiosmtplib.SMTP, "sendmail", not_called)
    outcome = asyncio.run(_outcome(port, "hd+b.x1@lpse.test", ["staf1@lpse.test", "refused@lpse.test"], True))
    assert outcome == ("ok", {"refused@lpse.test": aiosmtplib.SMTPResponse(550, "5.1.1 No such user")})


async def _timed_out(port: int, mail_from: str, recipients: list[str], ours: bool) -> tuple[object, ...]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=TIMEOUT)
    await client.connect()
    await client.ehlo()
    try:
        if ours:
            await smtp.sendmail(client, mail_from, recipients, MAIL)
        else:
            await client.sendmail(mail_from, recipients, MAIL)
    except aiosmtplib.SMTPException as exc:
        # Closed: the late answer must not be taken for the next command's.
        return type(exc).__name__, str(exc), isinstance(exc, TimeoutError), client.is_connected
    finally:
        client.close()
    return ("no error",)


@pytest.mark.parametrize(("mail_from", "recipients"), [
    ("hang-mail@lpse.test", ["user@vendor.test"]),
    ("hd+b.x1@lpse.test", ["user@vendor.test", "hang-rcpt@vendor.test"]),
    ("hang-data@lpse.test", ["user@vendor.test"]),
])
def test_a_server_that_does_not_answer_times_out_as_with_aiosmtplib(
        server: tuple[_Server, int], mail_from: str, recipients: list[str]) -> None:
    """The answers are waited for by ``sendmail``'s own timer (not aiosmtplib's per command): a
    server that hangs at MAIL, RCPT or after the mail's bytes gives the same error, and the
    connection is closed, as aiosmtplib does it; ``smtp.send`` calls that a lost connection."""
    _, port = server
    theirs = asyncio.run(_timed_out(port, mail_from, recipients, False))
    ours = asyncio.run(_timed_out(port, mail_from, recipients, True))
    assert ours == theirs == ("SMTPReadTimeoutError", "Timed out waiting for server response", True, False)

    async def outcome() -> smtp.Outcome:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=TIMEOUT)
        await client.connect()
        await client.ehlo()
        try:
            return (await smtp.send(client, mail_from, recipients, MAIL))[0]
        finally:
            client.close()

    assert asyncio.run(outcome()) == smtp.Outcome(
        "temporary", "SMTPReadTimeoutError: Timed out waiting for server response", connection_lost=True)


def test_each_answer_gets_the_whole_timeout(server: tuple[_Server, int]) -> None:
    """The timer is moved on before each command: a transaction longer than the timeout in all,
    every answer in time, goes through (and the connection stays usable)."""
    _, port = server

    async def slow_but_steady() -> tuple[object, ...]:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=HANG * 1.8)
        await client.connect()
        await client.ehlo()
        try:
            refused = await smtp.sendmail(client, "hang-mail@lpse.test", ["hang-rcpt@vendor.test"], MAIL)
            return refused, (await client.noop()).code
        finally:
            await client.quit()

    assert asyncio.run(slow_but_steady()) == ({}, 250)
