"""IMAP IDLE on the real Dovecot: mail that arrives between the bot's last SEARCH and its IDLE
command must wake the bot at once, not after a whole ``imap.poll_interval`` (60 s by default).

Dovecot announces such mail ("* N EXISTS") right after the "+ idling" continuation, in the same
packet, so imaplib reads it into its own buffer and the socket looks idle; the bot used to sleep
through it (measured: 10 of 10 waits ran to the timeout before the fix)."""

from __future__ import annotations

import smtplib
import time

from imap_tools import MailBox

from mailbot.mail import intake
from tests.e2e.conftest import user_mail
from tests.support.botproc import wait_until
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
    """A quiet mailbox keeps the bot in IDLE until the timeout: no wake without a word from the
    server. The server may still speak without news (Dovecot's keep-alive "* OK Still here", once
    seen in CI on a loaded machine); such a wake must be the server's line, and the next wait quiet."""
    address = unique_address("hd", "lpse.test")
    with login(stack, address) as box:
        box.uids()
        intake.idle_wait(box, 0.2)  # the SELECT's own EXISTS counts once
        for _ in range(3):
            heard = {name: len(lines) for name, lines in box.client.untagged_responses.items()}
            started = time.monotonic()
            if not intake.idle_wait(box, 1.5):
                assert time.monotonic() - started >= 1.4
                return
            now_heard = {name: len(lines) for name, lines in box.client.untagged_responses.items()}
            assert now_heard != heard, "woke without the server saying anything"
        raise AssertionError("three waits in a row were cut short on a quiet mailbox")


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


def test_a_stopping_process_wakes_every_idle_wait_at_once(stack: MailStack) -> None:
    """``mailbot run`` looks at a mailbox's stop only every few seconds in IDLE (hundreds of wake-ups
    a second otherwise); its stop makes a shared socket readable, which ends every wait at once."""
    import socket
    import threading

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
        assert intake.idle_wait(box, 30, stop, tick=10, wakeup=reader) is False
        assert time.monotonic() - started < 2  # not the 10 s tick, not the 30 s timeout
        assert box.uids() == []  # the session is fine after the wait (DONE was answered)
