"""SMTP connections kept open between flushes (``smtp.keepalive_seconds``, ``mail.smtp_cache``),
against the real Postfix submission port (STARTTLS + AUTH) of the local mail stack.

Between the bot and Postfix sits a plain TCP relay (``Relay``): it counts the connections the bot
opens and can cut them all, which is what the bot sees when the server closes an idle connection
(Postfix does after ``smtpd_timeout``). Properties:

* flushes in a row send over one login: the next flush reuses the connection the last one kept;
* a connection is reused only by the account that logged in on it;
* a connection the server closed while it was kept is replaced: every mail arrives exactly once,
  each row is ``sent`` after one attempt, nothing is deferred;
* a kept connection is closed (QUIT) once its idle time is over, after ``REUSE_LIMIT`` of use, and at shutdown;
* ``keepalive_seconds = 0`` keeps nothing: a login per flush, as before;
* two threads flushing one helpdesk never share a connection, and every mail goes out once;
* the process keeps at most ``MAX_IDLE_PER_SERVER`` idle connections to one server, all helpdesks together.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailbot.mail import outbox, smtp_cache
from mailbot.settings.config import SmtpSettings
from mailbot.storage import store
from mailbot.storage.models import Outbox
from tests.support.botproc import wait_until
from tests.support.mailstack import MailStack, fetch_all, unique_address

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
LATER = NOW + timedelta(seconds=1)


class Relay:
    """A TCP relay to Postfix's submission port: counts connections, cuts them on demand."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.accepted += 1
                self.pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):  # one side ended: so does the other
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self.lock:
            self.pairs = [p for p in self.pairs if src not in p]

    @property
    def open(self) -> int:
        with self.lock:
            return len(self.pairs)

    def cut(self) -> None:
        """Close every connection, as a server that ends an idle session does."""
        with self.lock:
            pairs = list(self.pairs)
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()
        self.cut()


@pytest.fixture
def relay(stack: MailStack) -> Iterator[Relay]:
    r = Relay(stack.submission_port)
    yield r
    r.close()


@pytest.fixture
def factory(tmp_path: Path) -> sessionmaker[Session]:
    engine = store.make_engine(f"sqlite:///{tmp_path / 'mailbot.db'}")
    store.upgrade(engine)
    return store.make_sessionmaker(engine)


def settings_for(stack: MailStack, relay: Relay, **extra: object) -> SmtpSettings:
    return SmtpSettings.model_validate({
        "host": "127.0.0.1", "port": relay.port, "security": "starttls", "username": unique_address("hdka"),
        "password": stack.password, "ca_file": str(stack.ca_file), "timeout": 10, "connections": 1,
        "keepalive_seconds": 30, **extra})  # longer than the default 2 s: a loaded machine stays within it


def queue(factory: sessionmaker[Session], sender: str, to: str, count: int, helpdesk: str = "default") -> list[str]:
    ids = []
    with factory.begin() as session:
        for i in range(count):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = sender, to, f"Balasan {i}"
            mid = f"<ka{i}.{uuid.uuid4().hex}@lpse.test>"
            msg["Message-ID"] = mid
            msg.set_content("isi")
            outbox.queue(session, msg, message_id=mid, mail_from=sender, recipients=[to], ticket_id=None, now=NOW,
                         helpdesk=helpdesk)
            ids.append(mid)
    return ids


def rows(factory: sessionmaker[Session]) -> list[Outbox]:
    with factory() as session:
        return list(session.scalars(select(Outbox)))


def delivered(stack: MailStack, address: str, count: int) -> list[str]:
    wait_until(lambda: len(fetch_all(stack, address)) >= count, 30, f"{count} mails for {address}")
    return sorted(m.headers["message-id"][0].strip() for m in fetch_all(stack, address))


def test_flushes_in_a_row_send_over_one_login(stack: MailStack, relay: Relay, factory: sessionmaker[Session]) -> None:
    settings = settings_for(stack, relay)
    to = unique_address("kauser", "vendor.test")
    ids = []
    for _ in range(3):
        ids += queue(factory, settings.username, to, 2)
        assert outbox.flush(factory, settings, LATER).sent == 2
    assert relay.accepted == 1 and relay.open == 1  # kept for the next flush
    assert delivered(stack, to, 6) == sorted(ids)

    outbox.close_connections()  # shutdown: QUIT, and Postfix closes its side
    wait_until(lambda: relay.open == 0, 10, "the kept connection closed")


def test_a_connection_the_server_closed_is_replaced_and_nothing_is_lost_or_sent_twice(
        stack: MailStack, relay: Relay, factory: sessionmaker[Session]) -> None:
    settings = settings_for(stack, relay, connections=2)
    to = unique_address("kauser", "vendor.test")
    ids = queue(factory, settings.username, to, 4)
    assert outbox.flush(factory, settings, LATER).sent == 4
    kept_before = relay.accepted
    relay.cut()  # the server ends the idle sessions
    wait_until(lambda: relay.open == 0, 10, "the connections cut")

    ids += queue(factory, settings.username, to, 4)
    result = outbox.flush(factory, settings, LATER)

    assert (result.sent, result.deferred, result.failed, result.error) == (4, 0, 0, "")
    assert relay.accepted > kept_before  # logged in again
    assert {(r.status, r.attempts) for r in rows(factory)} == {("sent", 1)}
    assert delivered(stack, to, 8) == sorted(ids)  # each exactly once


def test_an_idle_connection_is_closed_after_its_time(stack: MailStack, relay: Relay,
                                                     factory: sessionmaker[Session]) -> None:
    settings = settings_for(stack, relay, keepalive_seconds=0.5)
    to = unique_address("kauser", "vendor.test")
    queue(factory, settings.username, to, 1)
    assert outbox.flush(factory, settings, LATER).sent == 1
    wait_until(lambda: relay.open == 0, 15, "the idle connection closed")
    assert smtp_cache.keeper_of("default").kept == 0

    queue(factory, settings.username, to, 1)  # the next flush logs in again and works
    assert outbox.flush(factory, settings, LATER).sent == 1
    assert relay.accepted == 2
    assert len(delivered(stack, to, 2)) == 2


def test_a_connection_is_reused_only_for_its_own_account(stack: MailStack, relay: Relay,
                                                         factory: sessionmaker[Session]) -> None:
    first = settings_for(stack, relay)
    other = settings_for(stack, relay)  # another mailbox on the same server
    to = unique_address("kauser", "vendor.test")
    queue(factory, first.username, to, 1)
    assert outbox.flush(factory, first, LATER).sent == 1
    queue(factory, other.username, to, 1)
    assert outbox.flush(factory, other, LATER).sent == 1

    assert relay.accepted == 2  # logged in as the other account, not over the first one's session
    wait_until(lambda: relay.open == 1, 10, "the first account's connection closed")
    senders = sorted(m.from_ for m in fetch_all(stack, to)) if len(delivered(stack, to, 2)) == 2 else []
    assert senders == sorted([first.username, other.username])


def test_a_connection_open_for_the_reuse_limit_is_replaced(stack: MailStack, relay: Relay,
                                                           factory: sessionmaker[Session],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smtp_cache, "REUSE_LIMIT", 0.0)  # every connection is "old" after its flush
    settings = settings_for(stack, relay)
    to = unique_address("kauser", "vendor.test")
    for _ in range(2):
        queue(factory, settings.username, to, 1)
        assert outbox.flush(factory, settings, LATER).sent == 1
        assert smtp_cache.keeper_of("default").kept == 0
    assert relay.accepted == 2
    wait_until(lambda: relay.open == 0, 10, "the old connections closed with QUIT")
    assert len(delivered(stack, to, 2)) == 2


def test_keepalive_zero_keeps_nothing(stack: MailStack, relay: Relay, factory: sessionmaker[Session]) -> None:
    settings = settings_for(stack, relay, keepalive_seconds=0)
    to = unique_address("kauser", "vendor.test")
    for _ in range(2):
        queue(factory, settings.username, to, 1)
        assert outbox.flush(factory, settings, LATER).sent == 1
    assert relay.accepted == 2
    wait_until(lambda: relay.open == 0, 10, "each flush's connection closed after it")


def test_two_threads_flushing_one_helpdesk_share_no_connection(stack: MailStack, relay: Relay,
                                                               factory: sessionmaker[Session],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(stack, relay, connections=2)
    to = unique_address("kauser", "vendor.test")
    ids = queue(factory, settings.username, to, 10)
    in_use: set[int] = set()
    shared: list[int] = []
    real_send = aiosmtplib.SMTP.sendmail
    guard = threading.Lock()

    async def watched(client, *args, **kwargs):  # type: ignore[no-untyped-def]
        with guard:
            if id(client) in in_use:
                shared.append(id(client))
            in_use.add(id(client))
        try:
            return await real_send(client, *args, **kwargs)
        finally:
            with guard:
                in_use.discard(id(client))

    monkeypatch.setattr(aiosmtplib.SMTP, "sendmail", watched)
    results = []

    def flush_more() -> None:
        for _ in range(3):
            ids.extend(queue(factory, settings.username, to, 2))
            results.append(outbox.flush(factory, settings))

    threads = [threading.Thread(target=flush_more) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert shared == []
    assert sum(r.sent for r in results) == len(ids) and all(r.error == "" for r in results)
    assert delivered(stack, to, len(ids)) == sorted(ids)
    assert relay.accepted <= 2  # the two connections of the first flush served every later one


def test_the_process_keeps_at_most_its_cap_of_idle_connections_to_one_server(
        stack: MailStack, relay: Relay, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smtp_cache, "MAX_IDLE_PER_SERVER", 1)
    first, second = settings_for(stack, relay), settings_for(stack, relay)  # two helpdesks on one server
    to = unique_address("kauser", "vendor.test")
    queue(factory, first.username, to, 1, helpdesk="lpse-a")
    assert outbox.flush(factory, first, LATER, helpdesk="lpse-a").sent == 1
    queue(factory, second.username, to, 1, helpdesk="lpse-b")
    assert outbox.flush(factory, second, LATER, helpdesk="lpse-b").sent == 1

    assert smtp_cache.keeper_of("lpse-a").kept == 1
    assert smtp_cache.keeper_of("lpse-b").kept == 0  # the server's one idle slot is taken: QUIT
    wait_until(lambda: relay.open == 1, 10, "the second helpdesk's connection closed after its flush")
    assert len(delivered(stack, to, 2)) == 2
