"""Loop protection: recognise automatic mail and bounces, and read what a bounce reports.

Pure. An auto-reply or a bounce must never open or reopen a ticket and never be
answered, or two robots mail each other forever. Detection follows RFC 3834
(Auto-Submitted), the de-facto headers (Precedence, X-Auto-Response-Suppress, List-*),
RFC 3464 delivery status notifications, and out-of-office subjects in Indonesian and
English for the autoresponders that set no header at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy

from mailbot.core.domain import InboundMail

_AUTOMATIC_SENDERS = {"mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply",
                      "bounce", "bounces", "autoreply", "auto-reply"}

_OUT_OF_OFFICE = re.compile(
    r"^\s*(\[?auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|ooo\b|away from|on leave|"
    r"balasan otomatis|jawaban otomatis|pesan otomatis|otomatis:|sedang cuti|sedang tidak di kantor|"
    r"di luar kantor|tidak di kantor|sedang dinas luar|undeliver|delivery status|returned mail|"
    r"mail delivery failed|delivery failure|tidak terkirim|gagal terkirim)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BouncedRecipient:
    address: str
    status: str  # e.g. "5.1.1"
    diagnostic: str
    action: str = "failed"  # or "delayed": the mail is still being retried

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5")


@dataclass(frozen=True)
class Bounce:
    original_message_id: str | None  # the Message-ID of our mail that bounced
    recipients: tuple[BouncedRecipient, ...]


def is_bounce(mail: InboundMail) -> bool:
    local = mail.from_addr.partition("@")[0]
    return mail.content_type == "multipart/report" or local in {"mailer-daemon", "postmaster"} or (
        mail.return_path.strip() == "<>" and bool(_OUT_OF_OFFICE.match(mail.subject)) and "deliver" in
        mail.subject.lower())


def automatic_reason(mail: InboundMail) -> str | None:
    """Why a mail is machine-generated (never answered, never opens a ticket), or None."""
    if is_bounce(mail):
        return "bounce (delivery status notification)"
    auto = mail.auto_submitted.strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto[:60]}"
    precedence = mail.precedence.strip().lower()
    if precedence in {"bulk", "junk", "list", "auto_reply"}:
        return f"Precedence: {precedence}"
    if mail.list_id:
        return "mailing-list mail (List-Id)"
    local = mail.from_addr.partition("@")[0]
    if not mail.from_addr:
        return "no sender address"
    if local in _AUTOMATIC_SENDERS:
        return f"automatic sender {mail.from_addr}"
    if mail.return_path.strip() == "<>":
        return "null return path (automatic mail)"
    if _OUT_OF_OFFICE.match(mail.subject):
        return "out-of-office or automatic subject"
    return None


_STATUS_FIELD = re.compile(r"^(?P<name>[A-Za-z-]+):\s*(?P<value>.*(?:\n[ \t].*)*)", re.MULTILINE)


def _fields(block: str) -> dict[str, str]:
    return {m.group("name").lower(): " ".join(m.group("value").split()) for m in _STATUS_FIELD.finditer(block)}


def parse_bounce(mail: InboundMail) -> Bounce:
    """Read a DSN (RFC 3464): which of our mails bounced, for which recipients and why.

    Non-standard bounces yield what can be found: recipients from the text, no status.
    """
    original: str | None = None
    recipients: list[BouncedRecipient] = []
    for att in mail.attachments:
        if att.content is None:
            continue
        if att.content_type == "message/delivery-status":
            text = att.content.decode("utf-8", "replace").replace("\r\n", "\n")
            for block in re.split(r"\n\s*\n", text):
                f = _fields(block)
                rcpt = f.get("final-recipient") or f.get("original-recipient")
                if not rcpt:
                    continue
                address = rcpt.split(";", 1)[-1].strip().strip("<>").lower()
                action = f.get("action", "failed").lower()
                if action not in {"failed", "delayed"}:
                    continue
                recipients.append(BouncedRecipient(address, f.get("status", ""), f.get("diagnostic-code", "")[:500],
                                                   action))
        elif att.content_type in {"message/rfc822", "text/rfc822-headers", "message/rfc822-headers"}:
            headers = message_from_bytes(att.content, policy=policy.compat32)
            mid = headers.get("Message-ID")
            if mid:
                original = str(mid).strip().strip("<>")[:998]
    if not recipients:
        for address in re.findall(r"<([^<>@\s]+@[^<>\s]+)>:", mail.text)[:20]:
            recipients.append(BouncedRecipient(address.lower(), "", ""))
    return Bounce(original, tuple(recipients))
