"""The floor: the libraries mailbot is built on, doing the least the job needs, in a straight line.

    python bench/floor.py JOB.pickle

Per mail, in order and nothing else: imap-tools fetches it (UID FETCH in bulk, batches of 200, not
marking it seen, as mailbot fetches), the stdlib parses it (``policy.default``) and reads what a
reply needs (Message-ID, From, Subject, the text body), SQLAlchemy 2 inserts one row in one
transaction on SQLite (WAL, ``synchronous=NORMAL``, as mailbot opens it), jinja2 renders one
reply text, ``EmailMessage`` composes it, and aiosmtplib sends it over ONE connection to the
submission port (STARTTLS + AUTH). The job says how many replies each mail gets and to whom: the
bot's own outbox of the same run (same number of messages and recipients, re-addressed to fresh
mailboxes), spread evenly over the mails, so the floor sends what mailbot sent. Each reply is
rendered and composed on its own (as mailbot does), the mail parsed and inserted once.

It prints one JSON line: the wall-clock start (after loading the job) and the counts; run.py
takes the process's CPU from ``wait4`` and waits for the deliveries itself.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import ssl
import sys
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import jinja2
from imap_tools import AND, MailBox, MailMessage
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, create_engine, event, insert

META = MetaData()
MESSAGES = Table(
    "messages", META,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(998)),
    Column("sender", String(320)),
    Column("subject", String(998)),
    Column("body", String),
    Column("raw", LargeBinary),
)

TEMPLATE = jinja2.Environment(autoescape=False, keep_trailing_newline=True).from_string(
    "Yth. Bapak/Ibu,\n\n"
    "Terima kasih, pesan Anda telah kami terima dengan nomor tiket #{{ number }}.\n"
    "Subjek: {{ subject }}\n\n"
    "Hormat kami,\n{{ helpdesk }}\n\n"
    "{% for line in quoted %}> {{ line }}\n{% endfor %}"
)


class _Raw(MailMessage):
    def __init__(self, fetch_data: list) -> None:  # keep the bytes; the stdlib parses them below
        raw, uid, flags = self._get_message_data_parts(fetch_data)
        self.raw = raw
        self._raw_uid_data = uid
        self._raw_flag_data = flags


def _text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


async def run(job: dict) -> dict:
    ctx = ssl.create_default_context(cafile=job["ca_file"])
    engine = create_engine(f"sqlite:///{job['db']}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi, _record) -> None:
        dbapi.execute("PRAGMA journal_mode=WAL")
        dbapi.execute("PRAGMA synchronous=NORMAL")

    META.create_all(engine)
    stmt = insert(MESSAGES)
    replies: list[tuple[str, list[str]]] = job["replies"]  # (envelope sender, recipients), bot's outbox order
    t_start = time.time()
    smtp = aiosmtplib.SMTP(hostname=job["smtp_host"], port=job["smtp_port"], start_tls=True, tls_context=ctx,
                           timeout=60)
    await smtp.connect()
    await smtp.login(job["smtp_user"], job["password"])
    box = MailBox(job["imap_host"], job["imap_port"], ssl_context=ctx, timeout=60)
    box.email_message_class = _Raw  # type: ignore[assignment]
    box.login(job["imap_user"], job["password"], initial_folder="INBOX")
    uids = box.uids(AND(all=True))
    n = len(uids)
    fetched = sent = 0
    with engine.connect() as conn:
        for start in range(0, n, 200):
            for fm in box.fetch(AND(uid=uids[start:start + 200]), mark_seen=False, bulk=50):
                i = fetched
                fetched += 1
                msg = message_from_bytes(fm.raw, policy=policy.default)  # type: ignore[attr-defined]
                subject, sender = str(msg.get("subject", "")), str(msg.get("from", ""))
                text = _text_of(msg)  # type: ignore[arg-type]
                with conn.begin():
                    number = conn.execute(stmt, {"message_id": str(msg.get("message-id", "")), "sender": sender,
                                                 "subject": subject, "body": text, "raw": fm.raw}
                                          ).inserted_primary_key[0]  # type: ignore[attr-defined]
                # This mail's share of the bot's replies: rows [i*R/n, (i+1)*R/n).
                for mail_from, rcpts in replies[i * len(replies) // n:(i + 1) * len(replies) // n]:
                    reply = EmailMessage()
                    reply["From"] = job["helpdesk"]
                    reply["To"] = ", ".join(rcpts)
                    reply["Subject"] = f"[#{number}] {subject}"[:900]
                    reply["Message-ID"] = make_msgid(domain="lpse.test")
                    if msg.get("message-id"):
                        reply["In-Reply-To"] = str(msg["message-id"])
                    reply.set_content(TEMPLATE.render(number=number, subject=subject, helpdesk=job["helpdesk"],
                                                      quoted=text.splitlines()))
                    await smtp.sendmail(mail_from, rcpts, reply.as_bytes())
                    sent += 1
    box.logout()
    await smtp.quit()
    engine.dispose()
    return {"t_start": t_start, "fetched": fetched, "sent": sent, "replies": len(replies)}


def main() -> int:
    with open(sys.argv[1], "rb") as fh:
        job = pickle.load(fh)
    print(json.dumps(asyncio.run(run(job))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
