"""The raw limit: fetch the mailbox with imap-tools, then send mail with aiosmtplib, no processing.

    python bench/rawlimit.py JOB.pickle

JOB holds the IMAP and SMTP settings and the mails to send (envelope sender, recipients,
bytes: the bot's own outbox, re-addressed to fresh mailboxes). The IMAP side fetches every
mail of the folder in bulk (as mailbot does, without marking them seen); the SMTP side sends
over ONE connection to the submission port (STARTTLS + AUTH, as mailbot does). It prints
one JSON line with the wall-clock start (after loading the job) and the phase times; run.py
waits for the deliveries itself.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import ssl
import sys
import time

import aiosmtplib
from imap_tools import AND, MailBox, MailMessage


class _Raw(MailMessage):
    def __init__(self, fetch_data: list) -> None:  # keep the bytes, skip imap-tools' parse
        raw, uid, flags = self._get_message_data_parts(fetch_data)
        self.raw = raw
        self._raw_uid_data = uid
        self._raw_flag_data = flags


async def _send(job: dict, ctx: ssl.SSLContext) -> int:
    client = aiosmtplib.SMTP(hostname=job["smtp_host"], port=job["smtp_port"], start_tls=True, tls_context=ctx,
                             timeout=60)
    await client.connect()
    await client.login(job["smtp_user"], job["password"])
    sent = 0
    for mail_from, rcpts, raw in job["mails"]:
        await client.sendmail(mail_from, rcpts, raw)
        sent += 1
    await client.quit()
    return sent


def main() -> int:
    with open(sys.argv[1], "rb") as fh:
        job = pickle.load(fh)
    ctx = ssl.create_default_context(cafile=job["ca_file"])
    t_start = time.time()
    fetched = nbytes = 0
    box = MailBox(job["imap_host"], job["imap_port"], ssl_context=ctx, timeout=60)
    box.email_message_class = _Raw  # type: ignore[assignment]
    box.login(job["imap_user"], job["password"], initial_folder="INBOX")
    uids = box.uids(AND(all=True))
    for start in range(0, len(uids), job.get("batch", 100)):
        chunk = uids[start:start + job.get("batch", 100)]
        for msg in box.fetch(AND(uid=chunk), mark_seen=False, bulk=50):
            fetched += 1
            nbytes += len(msg.raw)  # type: ignore[attr-defined]
    box.logout()
    t_fetched = time.time()
    sent = asyncio.run(_send(job, ctx))
    t_sent = time.time()
    print(json.dumps({"t_start": t_start, "fetched": fetched, "bytes": nbytes, "fetch_s": t_fetched - t_start,
                      "sent": sent, "send_s": t_sent - t_fetched}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
