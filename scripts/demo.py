"""Demo driver (run through scripts/demo.sh): real mail in, real replies out, on the local stack."""

from __future__ import annotations

import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imap_tools import AND, MailBox  # noqa: E402

from tests.support.mailstack import ensure_started, fetch_all, send, ssl_context, wait_for  # noqa: E402

CONFIG = ROOT / "config" / "mailbot.example.toml"
HELPDESK, STAFF = "helpdesk@lpse.test", "staff1@lpse.test"
USERS = ["budi@vendor.test", "sari@vendor.test", "pokja.dinkes@vendor.test"]

MAILS = [
    (USERS[0], "Budi Santoso", "Cara ganti email akun penyedia",
     "Selamat pagi,\nBagaimana cara mengganti alamat email pada akun penyedia saya di SPSE?\nTerima kasih.\n"),
    (USERS[1], "Sari Dewi", "Gagal upload dokumen penawaran",
     "Mohon bantuan, saya tidak bisa upload dokumen penawaran, muncul error terus.\n"
     "Batas akhir penawaran hari ini pukul 15.00.\nSari - 0812-3456-7890\n"),
    (USERS[2], "Pokja Dinkes", "Akun terkunci",
     "Akun pokja saya terkunci setelah salah password. User ID: pokja_dinkes01, password saya: Rahasia123\n"),
]


def mailbot(*args: str) -> str:
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "mailbot"), "--config", str(CONFIG), *args],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"mailbot {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def empty(stack, address: str) -> None:  # type: ignore[no-untyped-def]
    with MailBox(stack.host, stack.imaps_port, ssl_context=ssl_context(stack)).login(address, stack.password) as box:
        for folder in [f.name for f in box.folder.list()]:
            box.folder.set(folder)
            uids = box.uids(AND(all=True))
            if uids:
                box.delete(uids)


def main() -> None:
    stack = ensure_started()
    print("== local mail stack is up (Dovecot IMAP :%d, Postfix SMTP :%d)" % (stack.imaps_port, stack.smtp_port))
    for address in [HELPDESK, STAFF, *USERS]:
        empty(stack, address)
    db = ROOT / "var" / "mailbot.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    print(mailbot("db", "upgrade").strip())

    print("\n== three SPSE users write to", HELPDESK)
    for sender, name, subject, body in MAILS:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = f"{name} <{sender}>", HELPDESK, subject
        msg["Date"], msg["Message-ID"] = format_datetime(datetime.now(timezone.utc)), make_msgid(domain="vendor.test")
        msg.set_content(body)
        send(stack, msg, mail_from=sender, rcpt_to=[HELPDESK])
        print(f"   {sender}: {subject}")
    wait_for(stack, HELPDESK, count=len(MAILS))

    print("\n== mailbot poll --once")
    print(mailbot("poll", "--once").strip())
    print("\n== mailbot tickets list")
    print(mailbot("tickets", "list").rstrip())

    print("\n== what arrived in the users' mailboxes")
    for user in USERS:
        for m in fetch_all(stack, user):
            print(f"   {user} <- {m.subject}")

    print("\n== staff answers the first ticket from the notification: '#tutup' + answer")
    notes = wait_for(stack, STAFF, count=len(MAILS), predicate=lambda m: "Tiket baru" in m.subject)
    first = next(m for m in notes if "TTS-000001" in m.subject)
    reply = EmailMessage()
    reply["From"], reply["To"] = f"Staf Helpdesk <{STAFF}>", first.headers["reply-to"][0]
    reply["Subject"] = "Re: " + first.subject
    reply["Date"], reply["Message-ID"] = format_datetime(datetime.now(timezone.utc)), make_msgid(domain="lpse.test")
    reply["In-Reply-To"] = first.headers["message-id"][0]
    reply.set_content("#tutup\nSilakan masuk ke menu Profil > Ubah Data, lalu ganti alamat email.\n")
    send(stack, reply, mail_from=STAFF, rcpt_to=[first.headers["reply-to"][0]])
    wait_for(stack, HELPDESK, count=1)
    print(mailbot("poll", "--once").strip())
    closed = wait_for(stack, USERS[0], predicate=lambda m: "Selesai" in m.subject)[0]
    print(f"\n   {USERS[0]} <- {closed.subject}\n")
    print("   " + closed.text.strip().replace("\n", "\n   "))
    print("\n== mailbot tickets show TTS-000001")
    print(mailbot("tickets", "show", "TTS-000001").rstrip())
    time.sleep(0)


if __name__ == "__main__":
    main()
