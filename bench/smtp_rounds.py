"""CPU of sending the outbox in many small rounds, with and without kept SMTP connections.

    .venv/bin/python bench/smtp_rounds.py [--rounds 40] [--per-round 17] [--repeat 3]

The bot's sender sends a backlog in rounds (``poll --once``: one every half second or so, 91 rounds
for the 1,572 replies of ``bench/run.py --n 1000``). This queues ``--per-round`` mails, flushes them
through the local mail stack's submission port (STARTTLS + AUTH, as the benchmark's bot), and does
that ``--rounds`` times, with ``smtp.keepalive_seconds = 0`` (a login per round, as before) and 30
(``mailbot.mail.smtp_cache``), interleaved; it prints the process's CPU per round and per mail, and
the connections opened. The mails go to one mailbox of the test stack (``bench-rounds@vendor.test``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiosmtplib

from mailbot.mail import outbox
from mailbot.settings.config import SmtpSettings
from mailbot.storage import store
from tests.support.mailstack import ensure_started

SENDER = "bench-rounds-hd@lpse.test"
TO = "bench-rounds@vendor.test"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--per-round", type=int, default=17)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    stack = ensure_started()
    connects = [0]
    real_connect = aiosmtplib.SMTP.connect

    async def counted(self, *a, **kw):  # type: ignore[no-untyped-def]
        connects[0] += 1
        return await real_connect(self, *a, **kw)

    aiosmtplib.SMTP.connect = counted  # type: ignore[method-assign]
    body = "Isi balasan.\n" * 200  # about 2.6 KB, a short reply
    results: dict[float, list[float]] = {0.0: [], 30.0: []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            for keep in (0.0, 30.0):
                engine = store.make_engine(f"sqlite:///{tmp}/r{rep}-{keep:g}.db")
                store.upgrade(engine)
                factory = store.make_sessionmaker(engine)
                settings = SmtpSettings.model_validate({
                    "host": stack.host, "port": stack.submission_port, "security": "starttls", "username": SENDER,
                    "password": stack.password, "ca_file": str(stack.ca_file), "connections": 1,
                    "keepalive_seconds": keep})
                connects[0] = 0
                cpu = 0.0
                for _ in range(args.rounds):
                    now = datetime.now(timezone.utc)
                    with factory.begin() as session:
                        for i in range(args.per_round):
                            msg = EmailMessage()
                            msg["From"], msg["To"], msg["Subject"] = SENDER, TO, f"Balasan {i}"
                            mid = f"<{uuid.uuid4().hex}@lpse.test>"
                            msg["Message-ID"] = mid
                            msg.set_content(body)
                            outbox.queue(session, msg, message_id=mid, mail_from=SENDER, recipients=[TO],
                                         ticket_id=None, now=now)
                    t0 = time.process_time()
                    result = outbox.flush(factory, settings)
                    cpu += time.process_time() - t0
                    assert result.sent == args.per_round and not result.error, result
                t0 = time.process_time()
                outbox.close_connections()
                cpu += time.process_time() - t0
                mails = args.rounds * args.per_round
                results[keep].append(1000 * cpu / mails)
                print(f"keepalive {keep:>4g} s: {1000 * cpu / args.rounds:6.1f} ms CPU per round, "
                      f"{1000 * cpu / mails:5.2f} ms per mail, {connects[0]} connections", flush=True)
                engine.dispose()
    for keep, per_mail in results.items():
        print(f"keepalive {keep:>4g} s: median {statistics.median(per_mail):.2f} ms CPU per mail "
              f"({', '.join(f'{x:.2f}' for x in per_mail)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
