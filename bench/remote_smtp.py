"""How fast the outbox sends to a distant SMTP server, over 1 or more connections.

    .venv/bin/python bench/remote_smtp.py [--mails 200] [--delay-ms 25] [--connections 1,3,5]

A helpdesk's SMTP server is rarely on the same machine: an LPSE sends through its government
mail server or a provider (Microsoft 365, Google), tens of milliseconds away. An SMTP
transaction waits for the server's answer to each command (MAIL, RCPT, DATA, the data), so one
connection sends one mail per four or five round trips whatever the machine's speed. This
script puts a proxy that delays every chunk by ``--delay-ms`` in each direction (a round trip
of twice that) in front of the local Postfix (STARTTLS + AUTH, as mailbot uses it), queues
``--mails`` replies of a few KB in a fresh SQLite outbox, and times ``outbox.flush`` for each
``smtp.connections`` value. It prints numbers; it is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mailbot.mail import outbox
from mailbot.mail.compose import make_message_id
from mailbot.settings.config import SmtpSettings
from mailbot.storage import store
from tests.support import mailstack as ms
from tests.support.tcpproxy import TcpProxy


class DelayProxy(TcpProxy):
    """``TcpProxy`` that hands each chunk on ``delay`` seconds after it arrived (order kept)."""

    delay = 0.025

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:  # type: ignore[override]
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + self.delay, data))
        except (ConnectionError, OSError):
            pass
        finally:
            queue.put_nowait((0.0, b""))
            try:
                await sender
            except (ConnectionError, OSError):
                pass
            try:
                writer.close()
            except RuntimeError:
                pass


def queue_replies(factory, helpdesk: str, count: int) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    text = "Terima kasih, laporan Anda sudah kami terima dan sedang kami periksa.\n" * 40
    with factory.begin() as session:
        for i in range(count):
            to = ms.unique_address(f"remote{i}-", "vendor.test")
            mid = make_message_id("lpse.test")
            msg = EmailMessage()
            msg["From"] = helpdesk
            msg["To"] = to
            msg["Subject"] = f"[TTS-{i:06d}] Laporan diterima"
            msg["Message-ID"] = f"<{mid}>"
            msg.set_content(text)
            outbox.queue(session, msg, message_id=mid, mail_from=helpdesk, recipients=[to], ticket_id=None, now=now)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mails", type=int, default=200)
    p.add_argument("--delay-ms", type=float, default=25.0, help="one-way delay (the round trip is twice this)")
    p.add_argument("--connections", default="1,3,5")
    args = p.parse_args()
    stack = ms.ensure_started()
    helpdesk = ms.unique_address("remote-hd", "lpse.test")
    DelayProxy.delay = args.delay_ms / 1000
    print(f"{args.mails} mails to a server {2 * args.delay_ms:g} ms away (round trip), STARTTLS + AUTH")
    with DelayProxy(stack.submission_port) as proxy, tempfile.TemporaryDirectory() as tmp:
        for k in (int(x) for x in args.connections.split(",")):
            engine = store.make_engine(f"sqlite:///{tmp}/c{k}.db")
            store.upgrade(engine)
            factory = store.make_sessionmaker(engine)
            queue_replies(factory, helpdesk, args.mails)
            settings = SmtpSettings(host=proxy.host, port=proxy.port, security="starttls", username=helpdesk,
                                    password=stack.password, ca_file=stack.ca_file, connections=k, timeout=60)
            started = time.perf_counter()
            result = outbox.flush(factory, settings)
            took = time.perf_counter() - started
            print(f"  connections={k}: sent {result.sent} in {took:5.1f} s = {result.sent / took:6.1f} mails/s"
                  f"{f'  (error: {result.error})' if result.error else ''}")
            engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
