"""Demo driver (run through scripts/demo.sh): real mail in, real replies out, on the local stack.

Three SPSE users write to the helpdesk; one ``mailbot poll --once`` opens their tickets; a staff
member answers Budi's ticket from its notification with ``#tutup``; a second poll sends Budi the
answer and closes the ticket.

Nothing here depends on the order in which Postfix delivers the mails: Budi's ticket is found by
its requester and subject (``tickets list --json``), its notification by that ticket's number and
Budi's address, and the demo stops, having sent nothing, when a mail it needs is late or does not
match. ``--shuffle`` sends the three user mails in a random order (``--seed N`` to repeat one).
"""

from __future__ import annotations

import argparse
import html
import http.cookiejar
import json
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imap_tools import AND, MailBox, MailMessage  # noqa: E402

from tests.support.mailstack import MailStack, ensure_started, fetch_all, send, ssl_context, wait_for  # noqa: E402

#: The demo's own copy of the example config: its database (sqlite:///var/mailbot.db, relative to the
#: config file) is var/demo/var/mailbot.db, apart from anything else in the repository.
WORK = ROOT / "var" / "demo"
CONFIG = WORK / "mailbot.toml"
HELPDESK, STAFF = "helpdesk@lpse.test", "staff1@lpse.test"
BUDI, SARI, POKJA = "budi@vendor.test", "sari@vendor.test", "pokja.dinkes@vendor.test"
USERS = [BUDI, SARI, POKJA]

MAILS = [
    (BUDI, "Budi Santoso", "Cara ganti email akun penyedia",
     "Selamat pagi,\nBagaimana cara mengganti alamat email pada akun penyedia saya di SPSE?\nTerima kasih.\n"),
    (SARI, "Sari Dewi", "Gagal upload dokumen penawaran",
     "Mohon bantuan, saya tidak bisa upload dokumen penawaran, muncul error terus.\n"
     "Batas akhir penawaran hari ini pukul 15.00.\nSari - 0812-3456-7890\n"),
    (POKJA, "Pokja Dinkes", "Akun terkunci",
     "Akun pokja saya terkunci setelah salah password. User ID: pokja_dinkes01, password saya: Rahasia123\n"),
]
BUDI_SUBJECT = MAILS[0][2]
ANSWER = "Silakan masuk ke menu Profil > Ubah Data, lalu ganti alamat email."

#: How long to wait for a mail: generous, for a machine that is busy (a test run beside the demo).
WAIT = 60.0


class DemoStopped(SystemExit):
    """Something the demo needs did not come, or did not match: it stops before sending anything more."""


def mailbot(*args: str, show: bool = True) -> str:
    if show:
        print(f"\n$ mailbot --config {CONFIG.relative_to(ROOT)} {' '.join(args)}")
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "mailbot"), "--config", str(CONFIG), *args],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise DemoStopped(f"mailbot {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def empty(stack: MailStack, address: str) -> None:
    with MailBox(stack.host, stack.imaps_port, ssl_context=ssl_context(stack)).login(address, stack.password) as box:
        for folder in [f.name for f in box.folder.list()]:
            box.folder.set(folder)
            uids = box.uids(AND(all=True))
            if uids:
                box.delete(uids)


def fresh(since: datetime) -> Callable[[MailMessage], bool]:
    """Mail written by this run (a late delivery from an earlier run is older)."""
    return lambda m: m.date.tzinfo is not None and m.date >= since


def wait(stack: MailStack, address: str, what: str, predicate: Callable[[MailMessage], bool], count: int = 1
         ) -> list[MailMessage]:
    try:
        return wait_for(stack, address, count=count, timeout=WAIT, predicate=predicate)
    except AssertionError as exc:
        raise DemoStopped(f"demo stopped, nothing more sent: {what} did not arrive within {WAIT:.0f} s ({exc})") from None


def budi_ticket() -> dict[str, str]:
    """Budi's ticket, by requester and subject (its number depends on the order of delivery)."""
    tickets = json.loads(mailbot("tickets", "list", "--json", show=False))
    mine = [t for t in tickets if t["requester"] == BUDI and t["subject"] == BUDI_SUBJECT]
    if len(mine) != 1:
        raise DemoStopped(f"demo stopped: expected one ticket from {BUDI} about {BUDI_SUBJECT!r}, found {mine}")
    return mine[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shuffle", action="store_true", help="send the user mails in a random order")
    parser.add_argument("--seed", type=int, help="the random order to use (implies --shuffle)")
    args = parser.parse_args()

    stack = ensure_started()
    print(f"== local mail stack is up (Dovecot IMAP :{stack.imaps_port}, Postfix SMTP :{stack.smtp_port})")
    for address in [HELPDESK, STAFF, *USERS]:
        empty(stack, address)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    shutil.copy(ROOT / "config" / "mailbot.example.toml", CONFIG)
    since = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
    print(mailbot("db", "upgrade").strip())

    mails = list(MAILS)
    if args.shuffle or args.seed is not None:
        seed = args.seed if args.seed is not None else random.randrange(10**6)
        random.Random(seed).shuffle(mails)
        print(f"\n== deliveries shuffled (--seed {seed})")
    print("\n== three SPSE users write to", HELPDESK)
    for sender, name, subject, body in mails:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = f"{name} <{sender}>", HELPDESK, subject
        msg["Date"], msg["Message-ID"] = format_datetime(datetime.now(timezone.utc)), make_msgid(domain="vendor.test")
        msg.set_content(body)
        send(stack, msg, mail_from=sender, rcpt_to=[HELPDESK])
        print(f"   {sender}: {subject}")
    wait(stack, HELPDESK, "the three user mails", fresh(since), count=len(MAILS))

    print(mailbot("poll", "--once").strip())
    print(mailbot("tickets", "list").rstrip())

    print("\n== what arrived in the users' mailboxes")
    for sender, _name, subject, _body in MAILS:
        wait(stack, sender, f"the acknowledgment to {sender}",
             lambda m, subject=subject: fresh(since)(m) and "Tiket diterima" in m.subject and subject in " ".join(m.subject.split()))
        for m in fetch_all(stack, sender):
            print(f"   {sender} <- {' '.join(m.subject.split())}")

    ticket = budi_ticket()
    number = ticket["number"]
    print(f"\n== staff answers Budi's ticket ({number}) from its notification: '#tutup' + the answer")
    [note] = wait(stack, STAFF, f"the notification of {number}",
                  lambda m: fresh(since)(m) and f"[{number}]" in m.subject and "Tiket baru" in m.subject)
    if BUDI not in note.text or BUDI_SUBJECT not in " ".join(note.subject.split()):
        raise DemoStopped(f"demo stopped, nothing sent: the notification of {number} is not about {BUDI}'s "
                          f"{BUDI_SUBJECT!r}: {note.subject!r}")
    reply_to = note.headers["reply-to"][0]
    reply = EmailMessage()
    reply["From"], reply["To"] = f"Staf Helpdesk <{STAFF}>", reply_to
    reply["Subject"] = "Re: " + " ".join(note.subject.split())
    reply["Date"], reply["Message-ID"] = format_datetime(datetime.now(timezone.utc)), make_msgid(domain="lpse.test")
    reply["In-Reply-To"] = note.headers["message-id"][0]
    reply.set_content(f"#tutup\n{ANSWER}\n")
    send(stack, reply, mail_from=STAFF, rcpt_to=[reply_to])
    wait(stack, HELPDESK, "the staff reply", lambda m: fresh(since)(m) and m.from_ == STAFF)
    print(mailbot("poll", "--once").strip())

    [closed] = wait(stack, BUDI, f"the answer to {BUDI}",
                    lambda m: fresh(since)(m) and f"[{number}]" in m.subject and "Selesai" in m.subject)
    print(f"\n   {BUDI} <- {closed.subject}\n")
    print("   " + closed.text.strip().replace("\n", "\n   "))
    # The answer went to Budi alone, and only Budi's ticket is closed.
    time.sleep(1)
    for other in (SARI, POKJA):
        wrong = [m.subject for m in fetch_all(stack, other) if "Selesai" in m.subject or ANSWER in m.text]
        if wrong:
            raise DemoStopped(f"demo FAILED: {other} got {wrong}")
    tickets = json.loads(mailbot("tickets", "list", "--json", show=False))
    state = {t["requester"]: t["state"] for t in tickets}
    if len(tickets) != 3 or state.get(BUDI) != "closed" or "closed" in (state.get(SARI), state.get(POKJA)):
        raise DemoStopped(f"demo FAILED: ticket states {state}")
    print(mailbot("tickets", "show", number).rstrip())
    console(number)
    print("\n== demo done: Budi's ticket is closed with the staff answer; Sari's and Pokja's wait for staff")
    print(f"   the console yourself: .venv/bin/mailbot --config {CONFIG.relative_to(ROOT)} web, then open the link that\n"
          f"   .venv/bin/mailbot --config {CONFIG.relative_to(ROOT)} web --link {STAFF} prints (or ask for one by mail)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def console(number: str) -> None:
    """The console as staff see it: a sign-in link from ``web --link``, ``mailbot web`` serving, the
    queue read through that sign-in (a browser does the same; the demo uses urllib)."""
    port = free_port()  # the demo's own copy of the config: a free port, so nothing else is in the way
    text = CONFIG.read_text().replace("port = 8080", f"port = {port}")
    CONFIG.write_text(text.replace('base_url = "http://127.0.0.1:8080"', f'base_url = "http://127.0.0.1:{port}"'))
    print(f"\n== the console: a sign-in link for {STAFF}, then the queue it sees")
    link = mailbot("web", "--link", STAFF).strip()
    print(f"   {link[:40]}... (single use, 15 minutes)")
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "mailbot"), "--config", str(CONFIG), "web"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        deadline = time.monotonic() + WAIT
        while True:
            try:
                confirm = opener.open(link, timeout=5).read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise DemoStopped(f"demo FAILED: mailbot web did not answer on port {port}") from None
                time.sleep(0.3)
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', confirm)
        if csrf is None:
            raise DemoStopped("demo FAILED: the sign-in page has no form")
        opener.open(link, data=urllib.parse.urlencode({"csrf": csrf[1]}).encode(), timeout=10)
        queue = opener.open(f"http://127.0.0.1:{port}/antrian", timeout=10).read().decode()
        shown = [subject for _, _, subject, _ in MAILS if html.escape(subject) in queue]
        if len(shown) < 2 or number in queue:  # the open tickets; Budi's is closed, off the default queue
            raise DemoStopped(f"demo FAILED: the console queue shows {shown}")
        print(f"   GET /antrian as {STAFF}: " + "; ".join(shown))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
