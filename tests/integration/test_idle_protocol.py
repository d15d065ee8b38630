"""What a server may say in IDLE, and what ``intake.idle_wait`` does with it, against a scripted peer.

Dovecot (tests/e2e/test_idle.py) never splits a line, ends an IDLE itself or sends an ALERT; other
servers and the network may. A small IMAP peer on loopback answers LOGIN and SELECT, then says what
each test scripts once IDLE has begun, and records whether the client sent DONE.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from imap_tools import MailBoxUnencrypted

from mailbot.mail import intake


@dataclass
class ScriptedImap:
    """Speaks just enough IMAP for a login and a SELECT; in IDLE, sends ``script``: (delay, bytes)."""

    script: list[tuple[float, bytes]]
    end_idle_itself: bool = False
    port: int = 0
    done_received: bool = False
    idle_tag: bytes = b""
    commands: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"* OK [CAPABILITY IMAP4rev1 IDLE] scripted ready\r\n")
            for line in lines:
                tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
                command = rest.split(b" ", 1)[0].upper()
                self.commands.append(command or tag)
                if tag.upper() == b"DONE":
                    self.done_received = True
                    conn.sendall(self.idle_tag + b" OK Idle completed\r\n")
                elif command == b"CAPABILITY":
                    conn.sendall(b"* CAPABILITY IMAP4rev1 IDLE\r\n" + tag + b" OK done\r\n")
                elif command == b"LOGIN":
                    conn.sendall(tag + b" OK logged in\r\n")
                elif command == b"SELECT":
                    conn.sendall(b"* 0 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] ok\r\n"
                                 + tag + b" OK [READ-WRITE] selected\r\n")
                elif command == b"IDLE":
                    self.idle_tag = tag
                    conn.sendall(b"+ idling\r\n")
                    for delay, data in self.script:
                        time.sleep(delay)
                        conn.sendall(data)
                    if self.end_idle_itself:
                        conn.sendall(tag + b" OK IDLE ended by the server\r\n")
                elif command == b"NOOP":
                    conn.sendall(tag + b" OK noop\r\n")
                elif command == b"LOGOUT":
                    conn.sendall(b"* BYE bye\r\n" + tag + b" OK bye\r\n")
                    return
                else:
                    conn.sendall(tag + b" BAD unknown\r\n")

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> Iterator[ScriptedImap]:
    script, end_itself = request.param
    server = ScriptedImap(script, end_idle_itself=end_itself)
    yield server
    server.close()


def login(server: ScriptedImap) -> MailBoxUnencrypted:
    box = MailBoxUnencrypted("127.0.0.1", server.port, timeout=5)
    box.login("hd@lpse.test", "secret", initial_folder="INBOX")
    box.client.untagged_responses.clear()  # the SELECT's own counts: not what is under test
    return box


@pytest.mark.parametrize("peer", [([(0.2, b"* OK Sti"), (0.3, b"ll here\r\n"), (0.2, b"* OK [ALERT] Pemeliharaan pukul 22.00\r\n")], False)],
                         indirect=True)
def test_a_split_keepalive_and_an_alert_neither_wake_nor_stay(peer: ScriptedImap) -> None:
    box = login(peer)
    started = time.monotonic()
    assert intake.idle_wait(box, 2.0) is False  # ran to its timeout
    assert time.monotonic() - started >= 1.9
    assert peer.done_received
    assert not {"OK", "ALERT"} & set(box.client.untagged_responses)  # nothing kept per keep-alive
    assert box.client.noop()[0] == "OK"  # the session is in step after the wait


@pytest.mark.parametrize("peer", [([(0.3, b"* 1 EXISTS\r\n* 1 RECENT\r\n")], False)], indirect=True)
def test_new_mail_wakes_the_wait_and_its_notices_are_not_kept(peer: ScriptedImap) -> None:
    box = login(peer)
    started = time.monotonic()
    assert intake.idle_wait(box, 10) is True
    assert time.monotonic() - started < 5
    # The caller searches next: a kept EXISTS would wake the next wait at once for nothing, and
    # RECENT would pile up a line per mail for the life of the connection.
    assert not {"EXISTS", "RECENT"} & set(box.client.untagged_responses)


@pytest.mark.parametrize("peer", [([(0.3, b"")], True)], indirect=True)
def test_an_idle_the_server_ended_itself_is_not_answered_with_done(peer: ScriptedImap) -> None:
    box = login(peer)
    started = time.monotonic()
    assert intake.idle_wait(box, 10) is True  # the wait ends: the caller looks at the folder
    assert time.monotonic() - started < 5
    assert not peer.done_received  # a DONE would be answered BAD, and taken for an outage
    assert box.client.noop()[0] == "OK"
