"""A realistic backlog for the crash and cooperating-workers tests: seed tickets (so staff have
real notifications to answer), then new tickets, user replies in their threads and staff commands
sent to the signed per-ticket Reply-To, delivered through Postfix before the bot starts."""

from __future__ import annotations

import random
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from imap_tools import MailBox, MailMessage
from sqlalchemy import select

from mailbot.storage.models import Outbox
from tests.e2e.conftest import Deployment, reply_mail, user_mail
from tests.support.botproc import wait_until
from tests.support.mailstack import MailStack, fetch_all, mailbox_address, ssl_context

BODIES = [
    "Selamat pagi,\nKapan jadwal pelatihan SPSE untuk penyedia bulan depan?\nTerima kasih.",
    "Selamat siang, saya penyedia dan gagal upload dokumen penawaran di SPSE.\nMuncul pesan error "
    "\"Gagal mengunggah file\" tadi jam 10.00 pakai Chrome.\nUser ID: cvmajujaya\nHP 0812-3456-7890",
    "Bagaimana cara mengganti alamat e-mail pada akun penyedia di SPSE?\nTerima kasih.\nBudi",
    "Mohon bantuan, akun saya terkunci setelah salah memasukkan kata sandi tiga kali.\nUser ID: ptsentosa",
]
COMMANDS = [
    "#catatan cek log server {j}",
    "#ambil",
    "#prioritas tinggi tender ditutup besok",
    "Silakan bersihkan cache browser lalu coba lagi ({j}).",
    "#mintadata user ID akun, nama perusahaan",
    "#telepon sudah dikonfirmasi via telepon",
    "#tutup\nSudah selesai, silakan dicoba lagi ({j}).",
    "#eskalasi\nMohon dicek di sisi LKPP ({j}).",
]


def folder_count(stack: MailStack, address: str, folder: str = "INBOX") -> int:
    with MailBox(stack.host, port=stack.imaps_port, ssl_context=ssl_context(stack)).login(
            mailbox_address(address), stack.password, initial_folder=None) as box:
        if folder != "INBOX" and not box.folder.exists(folder):
            return 0
        return int(box.folder.status(folder)["MESSAGES"])


def message_ids(stack: MailStack, address: str, folder: str = "INBOX") -> list[str]:
    """The Message-ID of every mail in the folder (headers only), duplicates kept."""
    with MailBox(stack.host, port=stack.imaps_port, ssl_context=ssl_context(stack)).login(
            mailbox_address(address), stack.password, initial_folder=None) as box:
        if folder != "INBOX" and not box.folder.exists(folder):
            return []
        box.folder.set(folder)
        return [_mid(m) for m in box.fetch(mark_seen=False, headers_only=True, bulk=200)]


def _mid(m: MailMessage) -> str:
    return (m.headers.get("message-id", ("",))[0]).strip().strip("<>")


def inject(stack: MailStack, mails: list[EmailMessage]) -> None:
    """Deliver through Postfix (port 12525) over one connection."""
    with smtplib.SMTP(stack.host, stack.smtp_port, timeout=60) as smtp:
        for msg in mails:
            rcpt = [a.addr_spec for a in msg["To"].addresses]
            sender = msg["From"].addresses[0].addr_spec
            smtp.send_message(msg, from_addr=sender, to_addrs=rcpt)


def unsent(d: Deployment) -> int:
    """Outbox rows not sent yet (pending, in flight or failed)."""
    with d.sessions()() as session:
        return len(session.scalars(select(Outbox.id).where(Outbox.status != "sent")).all())


@dataclass
class Seeded:
    """Tickets opened before the backlog: their mails, and per subject the staff notification and
    the user's acknowledgment (which the backlog's commands and replies answer)."""

    mails: list[EmailMessage]
    notes: dict[str, MailMessage]
    acks: dict[str, MailMessage]


def seed_tickets(d: Deployment, stack: MailStack, users: list[str], count: int) -> Seeded:
    """Open ``count`` tickets with one ``poll --once`` and collect their notifications and acks."""
    mails = [user_mail(users[i % len(users)], d.helpdesk, f"Permasalahan awal no {i}", BODIES[i % len(BODIES)])
             for i in range(count)]
    inject(stack, mails)
    wait_until(lambda: folder_count(stack, d.helpdesk) >= count, 60, "the seed mails")
    d.poll()
    # Subjects as read over IMAP may keep their folding (a long "mohon lengkapi data" subject): unfolded here.
    notes = {" ".join(m.subject.split("Tiket baru: ")[-1].split()): m
             for m in d.wait(d.staff1, count, lambda m: "Tiket baru" in m.subject, timeout=60)}
    acks: dict[str, MailMessage] = {}
    for user in set(users):
        for m in fetch_all(stack, user):
            if "Tiket diterima" in m.subject:  # "Tiket diterima[, mohon lengkapi data]: <subject>"
                acks[" ".join(m.subject.split("Tiket diterima", 1)[1].split(": ", 1)[1].split())] = m
    assert len(notes) == count and len(acks) == count, (len(notes), len(acks))
    return Seeded(mails, notes, acks)


def backlog_mails(d: Deployment, users: list[str], seeded: Seeded, rng: random.Random, *,
                  new_tickets: int, user_replies: int, staff_commands: int) -> list[EmailMessage]:
    """New tickets, replies to the seed tickets' acks, staff commands to their notifications; shuffled."""
    backlog = [user_mail(users[i % len(users)], d.helpdesk, f"Kendala SPSE no {i}", BODIES[i % len(BODIES)])
               for i in range(new_tickets)]
    subjects = sorted(seeded.acks)
    for j in range(user_replies):
        ack = seeded.acks[subjects[j % len(subjects)]]
        backlog.append(reply_mail(ack, ack.to[0], f"Tambahan informasi {j}: kode tender 1023{j:04d}"))
    for j in range(staff_commands):
        note = seeded.notes[subjects[(j * 7) % len(subjects)]]
        staff = d.staff1 if j % 2 else d.staff2
        cmd = reply_mail(note, staff, COMMANDS[j % len(COMMANDS)].format(j=j), name="Staf Helpdesk")
        assert "+t" in cmd["To"]  # the signed per-ticket Reply-To of the notification
        backlog.append(cmd)
    rng.shuffle(backlog)
    return backlog
