"""IMAP IDLE on the real Dovecot: mail that arrives between the bot's last SEARCH and its IDLE
command must wake the bot at once, not after a whole ``imap.idle_refresh`` (5 minutes by default);
the server's keep-alives must not wake it; a stopping watcher must.

Dovecot announces such mail ("* N EXISTS") right after the "+ idling" continuation, in the same
packet, so imaplib reads it into its own buffer and the socket looks idle; the bot used to sleep
through it (measured: 10 of 10 waits ran to the timeout before the fix)."""

from __future__ import annotations

import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from imap_tools import MailBox, MailBoxUnencrypted

from mailbot.mail import intake
from mailbot.settings.config import ImapSettings
from tests.e2e.conftest import user_mail
from tests.support.botproc import wait_until
from tests.support.fleet import SmallDovecot
from tests.support.mailstack import MailStack, mailbox_address, ssl_context, unique_address


def login(stack: MailStack, address: str) -> MailBox:
    return MailBox(stack.host, port=stack.imaps_port, ssl_context=ssl_context(stack)).login(
        mailbox_address(address), stack.password)


def count(stack: MailStack, address: str) -> int:
    with login(stack, address) as other:  # another session: does not notify the one under test
        return len(other.uids())


def test_mail_arriving_just_before_idle_wakes_it_at_once(stack: MailStack) -> None:
    address = unique_address("hd", "lpse.test")
    with login(stack, address) as box, smtplib.SMTP(stack.host, stack.smtp_port, timeout=30) as smtp:
        for i in range(5):
            while intake.idle_wait(box, 0.2):
                pass  # nothing left announced: the next IDLE starts from a quiet session
            seen = len(box.uids())  # the bot's last SEARCH before it goes idle
            smtp.send_message(user_mail("budi@vendor.test", address, f"Kendala {i}", "Mohon bantuan."))
            wait_until(lambda: count(stack, address) == seen + 1, 30, "the delivery")
            started = time.monotonic()
            woke = intake.idle_wait(box, 20)
            waited = time.monotonic() - started
            assert woke and waited < 20, (i, woke, waited)  # woken by the news, not by the timeout
            assert len(box.uids()) == seen + 1


def test_idle_without_news_waits_for_the_timeout(stack: MailStack) -> None:
    """A quiet mailbox keeps the bot in IDLE until the timeout: no wake without news."""
    address = unique_address("hd", "lpse.test")
    with login(stack, address) as box:
        box.uids()
        intake.idle_wait(box, 0.2)  # the SELECT's own EXISTS counts once
        for _ in range(2):
            started = time.monotonic()
            assert intake.idle_wait(box, 1.5) is False
            assert time.monotonic() - started >= 1.4


@pytest.fixture
def chatty_dovecot() -> Iterator[SmallDovecot]:
    """A Dovecot of the test's own that says "* OK Still here" every second of IDLE (its default:
    every 2 minutes, which ``imap.idle_refresh`` of 5 minutes meets twice a round)."""
    server = SmallDovecot(10, idle_notify_interval="1 secs").start()
    try:
        yield server
    finally:
        server.stop()


def test_keepalives_in_idle_neither_end_the_wait_nor_pile_up(
        chatty_dovecot: SmallDovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's keep-alives are read and the wait goes on (ending IDLE for each would cost a
    renewal's round trips, for every mailbox, every two minutes); mail still wakes it at once."""
    heard: list[bool] = []
    real = intake._heard_news

    def counting(client: Any) -> bool:
        heard.append(real(client))
        return heard[-1]

    monkeypatch.setattr(intake, "_heard_news", counting)
    address = unique_address("hd", "lpse.test")
    with MailBoxUnencrypted(chatty_dovecot.host, chatty_dovecot.port, timeout=10).login(address, "secret") as box:
        box.uids()
        intake.idle_wait(box, 0.2)  # the SELECT's own EXISTS counts once
        started = time.monotonic()
        assert intake.idle_wait(box, 3.5) is False
        assert time.monotonic() - started >= 3.4
        assert heard.count(False) >= 2, heard  # the server did speak: two keep-alives or more, none news
        assert "OK" not in box.client.untagged_responses  # not kept: a line per keep-alive, for ever
        assert box.uids() == []  # the session is fine after the wait (DONE was answered)

        heard.clear()
        threading.Timer(1.5, chatty_dovecot.deliver, args=(address, user_mail(
            "budi@vendor.test", address, "Kendala", "Mohon bantuan.").as_bytes())).start()
        started = time.monotonic()
        assert intake.idle_wait(box, 20) is True
        assert time.monotonic() - started < 10  # the mail's notice, after keep-alives, not the timeout
        assert heard[-1] is True
        assert len(box.uids()) == 1


def test_idle_wait_works_on_a_descriptor_above_1024(stack: MailStack) -> None:
    """A process watching hundreds of mailboxes holds more than 1024 descriptors; select() refuses
    any above FD_SETSIZE ("filedescriptor out of range in select()", issue 24): the wait must not."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1300:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))
    fillers = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        address = unique_address("hd", "lpse.test")
        with login(stack, address) as box, smtplib.SMTP(stack.host, stack.smtp_port, timeout=30) as smtp:
            assert box.client.sock.fileno() > 1024
            box.uids()
            intake.idle_wait(box, 0.2)  # the SELECT's own EXISTS counts once
            started = time.monotonic()
            assert intake.idle_wait(box, 1.0) is False  # a quiet wait runs to its timeout, no error
            assert time.monotonic() - started >= 0.9
            smtp.send_message(user_mail("budi@vendor.test", address, "Kendala fd", "Mohon bantuan."))
            # Woken by the new mail (at once; Dovecot falls back to looking every 30 s when the mail
            # user's inotify instances run out on a busy shared stack, hence the long timeout).
            assert intake.idle_wait(box, 75)
            wait_until(lambda: len(box.uids()) == 1, 30, "the delivery")
    finally:
        for fd in fillers:
            os.close(fd)


def test_a_stopping_watcher_wakes_its_idle_wait_at_once(stack: MailStack) -> None:
    """``mailbot run`` never looks at a mailbox's stop on a timer in IDLE (hundreds of wake-ups a
    second otherwise): setting it rings the watcher's bell, a socket the wait watches too."""
    address = unique_address("hd", "lpse.test")
    reader, writer = socket.socketpair()
    stop = threading.Event()
    with login(stack, address) as box, reader, writer:
        box.uids()
        intake.idle_wait(box, 0.2)  # the SELECT's own EXISTS counts once

        def stopping() -> None:
            time.sleep(0.5)
            stop.set()
            writer.send(b"x")

        threading.Thread(target=stopping).start()
        started = time.monotonic()
        assert intake.idle_wait(box, 30, stop, tick=None, wakeup=reader) is False
        assert time.monotonic() - started < 2  # not the 30 s timeout
        assert box.uids() == []  # the session is fine after the wait (DONE was answered)


def test_the_imap_connection_has_tcp_keepalive(stack: MailStack) -> None:
    """In a 5-minute IDLE the kernel's probes find a vanished server (and keep NAT mappings open)."""
    address = unique_address("hd", "lpse.test")
    settings = ImapSettings(host=stack.host, port=stack.imaps_port, security="ssl", username=mailbox_address(address),
                            password=stack.password, ca_file=stack.ca_file)
    box = intake.connect(settings)
    try:
        sock = box.client.sock
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert (sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)) == intake.KEEPALIVE
    finally:
        box.logout()
