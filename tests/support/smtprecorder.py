"""An in-process SMTP server that records what it accepted, and mail queued straight into the outbox.

For unit tests of the sender (``mailbot.mail.outbox``); the end-to-end tests use the real Postfix.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session, sessionmaker

from mailbot.mail import outbox
from mailbot.settings.config import SmtpSettings

HELPDESK = "helpdesk@lpse.test"
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)


class Recorder:
    """An SMTP server that accepts everything, slowly, and remembers each Message-ID it got;
    except recipients whose address starts with ``refused``, which it refuses for good (550)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()
        self.receiving = 0  # mails whose DATA is being taken right now
        self.most_at_once = 0  # the most mails it took at the same time (over several connections)

    async def handle_RCPT(self, server: object, session: object, envelope: object, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("refused"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        msg = email.message_from_bytes(envelope.content)  # type: ignore[attr-defined]
        with self.lock:
            self.receiving += 1
            self.most_at_once = max(self.most_at_once, self.receiving)
        try:
            await asyncio.sleep(0.005)  # widen the window in which two senders could meet
        finally:
            with self.lock:
                self.receiving -= 1
        with self.lock:
            self.ids.append(str(msg["Message-ID"]))
        return "250 2.0.0 Ok"


@contextmanager
def serving(handler: object) -> Iterator[int]:
    """An aiosmtpd server with ``handler`` on a free loopback port, for the block's duration."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def recording_smtp() -> Iterator[tuple[Recorder, SmtpSettings]]:
    recorder = Recorder()
    with serving(recorder) as port:
        yield recorder, SmtpSettings(host="127.0.0.1", port=port, security="none", username="", password="x",
                                     timeout=10)


def queue_mails(factory: sessionmaker[Session], count: int, helpdesk: str = "default") -> list[str]:
    ids = []
    with factory.begin() as session:
        for i in range(count):
            msg = EmailMessage()
            msg["From"] = HELPDESK
            msg["To"] = f"user{i}@vendor.test"
            msg["Subject"] = f"Balasan {i}"
            mid = f"<out{i}.{helpdesk}.{uuid.uuid4().hex}@lpse.test>"
            msg["Message-ID"] = mid
            msg.set_content("isi")
            outbox.queue(session, msg, message_id=mid, mail_from=HELPDESK, recipients=[f"user{i}@vendor.test"],
                         ticket_id=None, now=NOW, helpdesk=helpdesk)
            ids.append(mid)
    return ids
