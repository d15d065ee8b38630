"""Realistic helpdesk mail for the benchmark, generated deterministically from a seed.

The mix of a helpdesk mailbox after a long weekend (fractions of N):

* 45 %  new tickets: the 132 hand-written Indonesian mails of ``tests/data/labeled`` with fresh
        senders; 40 % of them carry a screenshot (PNG) or a PDF of 20-150 KB;
* 20 %  user replies in their ticket's thread (``In-Reply-To``/``References`` to their first
        mail, ``Re:`` subject, quoted history), 30 % of them with the screenshot asked for;
* 25 %  staff commands: a reply from a staff address to the ticket's signed per-ticket
        ``Reply-To`` (``helpdesk+t<id>.<mac>@...``) with ``#mintadata``, ``#tutup``, a plain
        answer, ``#catatan``, ``#prioritas``, ``#ambil``, ``#telepon`` or ``#eskalasi``;
* 10 %  auto-replies: out-of-office answers of users, most in a ticket's thread (subject tag),
        some to nothing (they must open no ticket).

Ticket ids are predicted from the order of the new-ticket mails (the bot numbers tickets
1, 2, ... in processing order, oldest first), which is how staff replies can be addressed
to the signed per-ticket address before the bot has run. ``run.py`` checks afterwards that
the bot opened exactly the predicted number of tickets.

The same corpus can be "re-addressed" (``Addresses``) for another mailbox, so the bot, the
raw-limit reference and django-helpdesk see the same N mails but reply to disjoint
recipient mailboxes.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path

from mailbot.core.loops import automatic_reason
from mailbot.core.parse import parse_mail
from mailbot.core.threads import format_number, reply_address

LABELED = Path(__file__).resolve().parents[1] / "tests" / "data" / "labeled"

MIX = (("new", 0.45), ("reply", 0.20), ("staff", 0.25), ("auto", 0.10))

STAFF_COMMANDS = (
    # (weight, body). {items} etc. are filled in per mail.
    (5, "#mintadata kode tender, screenshot pesan error\n\nMohon dilengkapi agar dapat kami proses."),
    (5, "#tutup\nSudah kami periksa: akun Bapak/Ibu sudah aktif kembali, silakan login ulang ke SPSE.\n"
        "Bila masih terkendala, balas e-mail ini."),
    (6, "Terima kasih atas laporannya. Mohon bersihkan cache browser (Ctrl+Shift+Del) lalu coba\n"
        "unggah kembali. Bila masih gagal, kirim screenshot pesan error yang muncul."),
    (2, "#catatan sudah dicek di log server, ada timeout pada pukul 10.15"),
    (2, "#prioritas tinggi batas akhir penawaran hari ini"),
    (2, "#ambil"),
    (2, "#telepon sudah dikonfirmasi lewat telepon, data akan dikirim sore ini"),
    (1, "#eskalasi\nMohon bantuan LKPP: kendala ada di server SPSE pusat."),
)

AUTO_SUBJECTS = ("Balasan otomatis: {subject}", "Out of Office: {subject}", "Sedang cuti: {subject}")


@dataclass(frozen=True)
class Addresses:
    """Who is who in one copy of the corpus (each copy goes to its own mailbox)."""

    helpdesk: str
    staff: tuple[str, ...]
    lkpp: str
    secret: str
    user_prefix: str  # users are f"{user_prefix}{k:05d}@vendor.test"
    ticket_prefix: str = "TTS"

    def user(self, k: int) -> str:
        return f"{self.user_prefix}{k:05d}@vendor.test"


@dataclass
class Mail:
    kind: str  # new | reply | staff | auto
    mail_from: str
    rcpt: str
    raw: bytes


@dataclass
class _Ticket:
    tid: int
    user: int
    subject: str
    first_id: str
    ids: list[str] = field(default_factory=list)
    closed: bool = False
    replies: int = 0
    commands: int = 0


@dataclass(frozen=True)
class _Source:
    name: str
    msg: EmailMessage


def _load_sources() -> list[_Source]:
    out = []
    for path in sorted(LABELED.glob("*.eml")):
        raw = path.read_bytes()
        mail = parse_mail(raw)
        if automatic_reason(mail) is not None or mail.thread_ids:
            continue  # every "new ticket" mail must open exactly one ticket
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        out.append(_Source(path.name, msg))  # type: ignore[arg-type]
    if not out:
        raise SystemExit(f"no labeled mails found in {LABELED}")
    return out


_SOURCES: list[_Source] | None = None


def _sources() -> list[_Source]:
    global _SOURCES
    if _SOURCES is None:
        _SOURCES = _load_sources()
    return _SOURCES


def _fake_png(rng: random.Random, size: int) -> bytes:
    # A PNG signature and header, then incompressible bytes: sizes behave like real screenshots.
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(size)


def _fake_pdf(rng: random.Random, size: int) -> bytes:
    return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + rng.randbytes(size)


def _attach(rng: random.Random, msg: EmailMessage) -> None:
    size = rng.randint(20_000, 150_000)
    if rng.random() < 0.7:
        msg.add_attachment(_fake_png(rng, size), maintype="image", subtype="png",
                           filename=f"screenshot_{rng.randint(1000, 9999)}.png")
    else:
        msg.add_attachment(_fake_pdf(rng, size), maintype="application", subtype="pdf",
                           filename=f"BA_evaluasi_{rng.randint(100, 999)}.pdf")


def _delivered(msg: EmailMessage, rng: random.Random, at: datetime, rcpt: str, sender: str) -> bytes:
    """Bytes as the helpdesk's mail server would have received them (a Received line on top).

    LMTP delivery adds Return-Path, Delivered-To and Dovecot's own Received header.
    """
    domain = sender.partition("@")[2]
    qid = "".join(rng.choice("0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz") for _ in range(15))
    received = (f"Received: from mail.{domain} (mail.{domain} [203.0.113.{rng.randint(2, 250)}])\r\n"
                f"\tby mx.lpse.test (Postfix) with ESMTPS id {qid}\r\n"
                f"\tfor <{rcpt}>; {format_datetime(at)}\r\n")
    return received.encode() + msg.as_bytes(policy=policy.SMTP)


def _msgid(rng: random.Random, domain: str) -> str:
    return f"{rng.getrandbits(64):016x}.{rng.getrandbits(32):08x}@{domain}"


def _quote(text: str, limit: int = 25) -> str:
    return "\n".join("> " + line for line in text.splitlines()[:limit])


def build(n: int, addrs: Addresses, *, seed: int = 7, start: datetime | None = None) -> tuple[list[Mail], dict[str, int]]:
    """N mails in delivery order, and how many of each kind (plus the predicted ticket count)."""
    rng = random.Random(seed)
    sources = _sources()
    start = start or datetime.now(timezone.utc) - timedelta(days=3)
    step = timedelta(days=3) / max(n, 1)
    tickets: list[_Ticket] = []
    mails: list[Mail] = []
    counts = {k: 0 for k, _ in MIX}
    next_user = 1
    kinds, weights = zip(*MIX)
    cmd_weights = [w for w, _ in STAFF_COMMANDS]

    def pick_ticket(pred) -> _Ticket | None:
        recent = tickets[-300:]
        for _ in range(8):
            if not recent:
                return None
            t = rng.choice(recent)
            if pred(t):
                return t
        return None

    for i in range(n):
        at = start + step * i
        kind = rng.choices(kinds, weights)[0]
        if kind != "new" and not tickets:
            kind = "new"
        ticket: _Ticket | None = None
        if kind == "reply":
            ticket = pick_ticket(lambda t: t.replies < 2)
        elif kind == "staff":
            ticket = pick_ticket(lambda t: t.commands < 3 and not t.closed)
        elif kind == "auto":
            ticket = pick_ticket(lambda t: True)
        if kind != "new" and ticket is None:
            kind = "new"

        if kind == "new":
            src = rng.choice(sources)
            user = next_user
            next_user += 1
            sender = addrs.user(user)
            msg = copy.deepcopy(src.msg)
            name = msg["From"].addresses[0].display_name if msg["From"] else "Pengguna SPSE"
            for header in ("From", "To", "Cc", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References"):
                del msg[header]
            msg["From"] = f'"{name}" <{sender}>'
            msg["To"] = addrs.helpdesk
            msg["Date"] = format_datetime(at)
            mid = _msgid(rng, "vendor.test")
            msg["Message-ID"] = f"<{mid}>"
            if rng.random() < 0.4 and not any(True for _ in msg.iter_attachments()):
                if not msg.is_multipart():
                    msg.make_mixed()
                _attach(rng, msg)
            tid = len(tickets) + 1
            subject = str(src.msg["Subject"] or "(tanpa subjek)")
            tickets.append(_Ticket(tid, user, subject, mid, [mid]))
            mails.append(Mail("new", sender, addrs.helpdesk, _delivered(msg, rng, at, addrs.helpdesk, sender)))
        elif kind == "reply":
            assert ticket is not None
            sender = addrs.user(ticket.user)
            msg = EmailMessage(policy=policy.default)
            msg["From"] = f"<{sender}>"
            msg["To"] = addrs.helpdesk
            msg["Subject"] = f"Re: [{format_number(addrs.ticket_prefix, ticket.tid)}] {ticket.subject}"
            msg["Date"] = format_datetime(at)
            mid = _msgid(rng, "vendor.test")
            msg["Message-ID"] = f"<{mid}>"
            msg["In-Reply-To"] = f"<{ticket.ids[-1]}>"
            msg["References"] = " ".join(f"<{x}>" for x in ticket.ids[-10:])
            body = rng.choice((
                "Berikut kami lampirkan screenshot pesan error-nya.",
                "Kode tender: 10234567. User ID: vendor{u}. Mohon dibantu segera, batas akhir besok.",
                "Sudah kami coba lagi dengan browser lain tetapi masih gagal.",
                "Terima kasih, sudah bisa. Mohon tiket ditutup.",
            )).format(u=ticket.user)
            msg.set_content(f"{body}\n\nPada {format_datetime(at - timedelta(hours=2))}, Helpdesk LPSE "
                            f"<{addrs.helpdesk}> menulis:\n{_quote('Tiket diterima. Mohon lengkapi data.')}\n")
            if rng.random() < 0.3:
                _attach(rng, msg)
            ticket.ids.append(mid)
            ticket.replies += 1
            ticket.closed = False  # a user answer reopens a closed ticket
            mails.append(Mail("reply", sender, addrs.helpdesk, _delivered(msg, rng, at, addrs.helpdesk, sender)))
        elif kind == "staff":
            assert ticket is not None
            sender = rng.choice(addrs.staff)
            signed = reply_address(addrs.helpdesk, ticket.tid, addrs.secret)
            body = rng.choices([b for _, b in STAFF_COMMANDS], cmd_weights)[0]
            tag = format_number(addrs.ticket_prefix, ticket.tid)
            msg = EmailMessage(policy=policy.default)
            msg["From"] = f'"Petugas Helpdesk" <{sender}>'
            msg["To"] = signed
            msg["Subject"] = f"Re: [{tag}] [TINGGI] Tiket baru: {ticket.subject}"
            msg["Date"] = format_datetime(at)
            msg["Message-ID"] = f"<{_msgid(rng, 'lpse.test')}>"
            notif = f"mailbot.{rng.getrandbits(128):032x}@{addrs.helpdesk.partition('@')[2]}"
            msg["In-Reply-To"] = f"<{notif}>"
            msg["References"] = f"<{notif}>"
            msg.set_content(f"{body}\n\nPada {format_datetime(at - timedelta(hours=1))}, Helpdesk LPSE "
                            f"<{addrs.helpdesk}> menulis:\n"
                            f"{_quote(f'[{tag}] Tiket baru dari {addrs.user(ticket.user)}: {ticket.subject}')}\n")
            ticket.commands += 1
            if body.startswith("#tutup"):
                ticket.closed = True
            mails.append(Mail("staff", sender, signed, _delivered(msg, rng, at, signed, sender)))
        else:
            assert ticket is not None
            threaded = rng.random() < 0.7
            sender = addrs.user(ticket.user) if threaded else addrs.user(next_user + 100000)
            tag = format_number(addrs.ticket_prefix, ticket.tid)
            subject = f"[{tag}] Tiket diterima: {ticket.subject}" if threaded else "Pemberitahuan"
            msg = EmailMessage(policy=policy.default)
            msg["From"] = f"<{sender}>"
            msg["To"] = addrs.helpdesk
            msg["Subject"] = rng.choice(AUTO_SUBJECTS).format(subject=subject)
            msg["Date"] = format_datetime(at)
            msg["Message-ID"] = f"<{_msgid(rng, 'vendor.test')}>"
            msg["Auto-Submitted"] = "auto-replied"
            msg.set_content("Saya sedang cuti sampai Senin. Untuk keperluan mendesak hubungi kantor.\n"
                            "I am out of the office until Monday.\n")
            mails.append(Mail("auto", sender, addrs.helpdesk, _delivered(msg, rng, at, addrs.helpdesk, sender)))
        counts[kind] += 1
    counts["tickets"] = len(tickets)
    return mails, counts
