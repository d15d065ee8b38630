"""Loop protection: recognise automatic mail and bounces, and read what a bounce reports.

Pure. An auto-reply or a bounce must never open or reopen a ticket and never be
answered, or two robots mail each other forever. Detection follows RFC 3834
(Auto-Submitted), the de-facto headers (Precedence, X-Auto-Response-Suppress), RFC 2369/2919
List-* fields, RFC 3464 delivery status notifications (also the carrier and gateway ones that come from
``post_master@`` or from a person's address with a DSN-like body), RFC 5965 abuse reports,
mailing-list managers' notices, and out-of-office subjects in Indonesian and English for the
autoresponders that set no header at all.
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


#: Carrier and gateway bounce senders, spelled every way mail systems spell them:
#: ``postmaster``, ``post_master``, ``post.master``, ``Mailer-Daemon``, ``mailer_daemon``, ``MAILER-DAEMON1``.
_BOUNCE_SENDER = re.compile(r"^(?:post[._-]?master|mailer[._-]?daemon|mail[._-]?daemon)(?:[._+-].*|\d*)$", re.IGNORECASE)

#: A delivery report's subject, also behind a gateway's tag ("[SPAM] Returned mail: ...", "Warning: ...").
_DSN_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]{0,40}\]\s*|\*{2,}[^*]{0,40}\*{2,}\s*|(?:warning|peringatan)\s*:\s*)*"
    r"(?:returned mail|undeliver(?:able|ed)|undelivered mail|delivery status notification|"
    r"mail delivery (?:failed|failure|subsystem)|delivery (?:has )?failed|delivery failure|failure notice|"
    r"non[- ]?delivery|could not send message|message not delivered|pesan tidak terkirim|tidak terkirim|"
    r"gagal terkirim)",
    re.IGNORECASE,
)

#: Lines only a delivery report has (RFC 3464 fields, sendmail/Postfix/Exchange/qmail transcripts).
_DSN_BODY = re.compile(
    r"^\s*(?:final-recipient|original-recipient|diagnostic-code|reporting-mta|remote-mta)\s*:|"
    r"^\s*status\s*:\s*[245]\.\d{1,3}\.\d{1,3}|"
    r"the original message was received at|"
    r"-{3,}\s*the following address(?:es)? had permanent fatal errors|"
    r"this is the mail system at host|transcript of session follows|"
    r"delivery to the following recipients? (?:failed|has been delayed)|"
    r"your message (?:did not reach|couldn'?t be delivered|could not be delivered|wasn'?t delivered)|"
    r"i'?m sorry to have to inform you that your message could not|"
    r"this is an automatically generated delivery status notification|"
    r"\b[45]\d\d[ -][45]\.\d{1,3}\.\d{1,3}\b",
    re.IGNORECASE | re.MULTILINE,
)

#: A forward or a reply: a person who passes a bounce on is asking for help, and is answered.
_FORWARD_OR_REPLY = re.compile(r"^\s*(?:fwd?|fw|tr|wg|rv|re|aw|balas|bls|terusan)\s*:", re.IGNORECASE)

#: Mailing-list managers and their administrative addresses.
_LIST_MANAGER = re.compile(
    r"^(?:mailman|majordomo|listserv|listproc|lyris|ezmlm|sympa|smartlist|owner-.+|.+-(?:owner|request|bounces?|"
    r"admin|confirm|subscribe|unsubscribe)(?:\+.*)?)$",
    re.IGNORECASE,
)

#: A list server's notice (not a member, held for moderation, loop alert), in its subject or opening text.
_LIST_NOTICE = re.compile(
    r"\bloop alert\b|\bduplicated message-?id\b|\bmail loop detected\b|"
    r"\b(?:you|your (?:e-?mail )?address|the sender|sender)\b[^\n]{0,120}?\b(?:are|is) not (?:a )?member\b|"
    r"\bnon-?member (?:submission|post)|\bposting to (?:a|the) (?:list|group) (?:is )?(?:restricted|held)|"
    r"\bawaits? moderator approval\b|\byour message to \S+ (?:awaits|has been (?:held|rejected))",
    re.IGNORECASE,
)

#: ISPs' abuse desks (RFC 2142 ``abuse@``), also the ``abuse-desk@`` / ``abuse_noc@`` variants.
_ABUSE_DESK = re.compile(r"^abuse(?:[._+-].*)?$", re.IGNORECASE)

#: RFC 2369 / RFC 8058 fields a list server or bulk sender adds; a person's mail has none.
_LIST_FIELDS = {"list-unsubscribe", "list-unsubscribe-post", "list-subscribe", "list-post", "list-help",
                "list-owner", "list-archive"}

#: How far into the text a machine's notice says what it is.
_NOTICE_CHARS = 2000


def _dsn_like(mail: InboundMail) -> bool:
    """A "Returned mail" / "Undeliverable" report, whoever it claims to be from."""
    if _FORWARD_OR_REPLY.match(mail.subject) or not _DSN_SUBJECT.match(mail.subject):
        return False
    if any(a.content_type in {"message/delivery-status", "message/global-delivery-status"} for a in mail.attachments):
        return True
    return bool(_DSN_BODY.search(mail.text[:_NOTICE_CHARS * 4]))


def is_abuse_report(mail: InboundMail) -> bool:
    """An ARF (RFC 5965) feedback or abuse report: a machine's complaint, never a helpdesk question."""
    return any(a.content_type == "message/feedback-report" for a in mail.attachments)


def _list_notice(mail: InboundMail) -> str | None:
    local = mail.from_addr.partition("@")[0]
    if _LIST_MANAGER.match(local):
        return f"mailing-list manager {mail.from_addr}"
    head = mail.subject + "\n" + mail.text[:_NOTICE_CHARS]
    if not _FORWARD_OR_REPLY.match(mail.subject) and _LIST_NOTICE.search(head):
        return "mailing-list administrative notice"
    return None


def is_bounce(mail: InboundMail) -> bool:
    if is_abuse_report(mail):
        return False  # multipart/report too, but a complaint, not a delivery report
    local = mail.from_addr.partition("@")[0]
    return mail.content_type == "multipart/report" or bool(_BOUNCE_SENDER.match(local)) or (
        mail.return_path.strip() == "<>" and bool(_OUT_OF_OFFICE.match(mail.subject)) and "deliver" in
        mail.subject.lower()) or _dsn_like(mail)


def automatic_reason(mail: InboundMail) -> str | None:
    """Why a mail is machine-generated (never answered, never opens a ticket), or None."""
    if is_abuse_report(mail):
        return "abuse/feedback report (ARF)"
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
    list_fields = [name for name in mail.list_headers if name in _LIST_FIELDS]
    if list_fields:
        # RFC 2369: only list servers and bulk senders add List-Unsubscribe, List-Post, ...
        return f"mailing-list mail ({', '.join(list_fields[:3])})"
    notice = _list_notice(mail)
    if notice:
        return notice
    local = mail.from_addr.partition("@")[0]
    if not mail.from_addr:
        return "no sender address"
    if local in _AUTOMATIC_SENDERS:
        return f"automatic sender {mail.from_addr}"
    if _ABUSE_DESK.match(local) and not _FORWARD_OR_REPLY.match(mail.subject):
        # An ISP's abuse desk writes about mail from our servers, never with a helpdesk question.
        return f"abuse desk {mail.from_addr}"
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
