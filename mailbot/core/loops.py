"""Loop protection: recognise automatic mail and bounces, and read what a bounce reports.

Pure. An auto-reply or a bounce must never open or reopen a ticket and never be
answered, or two robots mail each other forever. Detection follows RFC 3834
(Auto-Submitted), the de-facto headers (Precedence, X-Auto-Response-Suppress), RFC 2369/2919
List-* fields, RFC 3464 delivery status notifications (also the carrier and gateway ones that come from
``post_master@`` or from a person's address with a DSN-like body, those wrapped in a reply by a
gateway, and those whose envelope sender is the mail system's), RFC 5965 abuse reports and the
complaint loops that are not ARF, mailing-list managers' notices, ``X-Autoreply``, and
automatic-reply subjects in Indonesian, English and the other languages autoresponders localise
to, for the autoresponders that set no header at all.
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
    r"mail delivery failed|delivery failure|tidak terkirim|gagal terkirim|auto\s*:)",
    re.IGNORECASE,
)

#: "Automatic reply" as autoresponders write it before a colon or in brackets, in the languages
#: Outlook, Exchange, Lotus Notes, Zimbra and webmail localise it to (also without diacritics,
#: as old gateways send it): "Automatische Antwort: ...", "Re: ... (Automatic Response)",
#: "<Name> is out of the office".
_AUTO_REPLY_WORDS = (
    r"auto(?:matic)?[ -]?(?:reply|response|answer)|autoreply|out[ -]of[ -](?:the[ -])?office(?: ?auto ?reply)?|"
    r"automatische antwort|abwesenheitsnotiz|r[ée]ponse automatique|absence du bureau|respuesta autom[áa]tica|"
    r"risposta automatica|resposta autom[áa]tica|automatisch antwoord|afwezigheidsbericht|automatiskt svar|"
    r"automatisk svar|automaattinen vastaus|automatick[áa] odpov[ěe][ďd]|automatyczna odpowied[źz]|"
    r"autom[āa]tisk[āa] atbilde|automatinis atsakymas|otomatik yan[ıi]t|automatsko? odgovor|"
    r"balasan otomatis|jawaban otomatis|balasan automatik|自動応答|自動返信|不在通知|自动回复|자동 응답"
)
_AUTO_REPLY_SUBJECT = re.compile(
    rf"^[^:]{{0,60}}?(?:{_AUTO_REPLY_WORDS})\s*:|\((?:{_AUTO_REPLY_WORDS})\)|\bis out of (?:the )?office\b",
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
    r"gagal terkirim|(?:e-?mail|mail|message|pesan|surel)\s+(?:could not|couldn'?t|can ?not|was not|wasn'?t)\s+"
    r"(?:be\s+)?delivered|(?:error|failure|bounce) mail report|non remis|non distribuable|unzustellbar|"
    r"nicht zustellbar|no (?:se pudo )?entregad[oa]|n[ãa]o entregue|non recapitat[oa]|onbestelbaar|"
    r"gagal dikirim|tidak dapat dikirim|tidak bisa dikirim|配信(?:不能|エラー|失敗)|送信(?:失敗|エラー)|不達|"
    r"エラーメール|退信|未送达|投递失败)",
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

#: A delivery failure named anywhere in a subject ("RE: <their subject> : non remis").
_FAILURE_IN_SUBJECT = re.compile(
    r"undeliver|not delivered|non[- ]?delivery|delivery (?:failure|failed|status)|returned mail|non remis|"
    r"non distribuable|unzustellbar|nicht zustellbar|non recapitat|onbestelbaar|no entregad|n[ãa]o entregue|"
    r"tidak terkirim|gagal terkirim|gagal dikirim|tidak dapat dikirim|配信(?:不能|エラー|失敗)|不達|退信",
    re.IGNORECASE,
)

#: The statement a gateway's report opens with, when it wraps the report in a reply
#: ("RE: ..."): the first line says *your* message was not delivered. A person writes about her
#: own mail ("Email saya tidak terkirim"), never "Pesan Anda" / "Your message".
_OPENS_WITH_FAILURE = re.compile(
    r"^(?:(?:your|votre|ihre|su|tu|il suo|a sua|uw)\s+(?:message|mail|e-?mail|nachricht|mensaje|messaggio|"
    r"mensagem|bericht)|(?:pesan|email|e-mail|surel|surat) anda)\b[^\n]{0,80}?"
    r"(?:could not be delivered|couldn'?t be delivered|was not delivered|wasn'?t delivered|undeliverable|"
    r"n'a pas pu [eê]tre (?:d[ée]livr[ée]|remis|distribu[ée])|konnte nicht zugestellt|"
    r"no (?:pudo|se pudo) (?:ser )?entregad|non [èe] stato recapitato|n[ãa]o p[ôo]de ser entregue|"
    r"kon niet (?:worden )?bezorgd|tidak (?:dapat|bisa) (?:di)?kirim|tidak terkirim|gagal (?:terkirim|dikirim))",
    re.IGNORECASE,
)

#: A forward or a reply: a person who passes a bounce on is asking for help, and is answered.
_FORWARD_OR_REPLY = re.compile(r"^\s*(?:fwd?|fw|tr|wg|rv|re|aw|balas|bls|terusan)\s*:", re.IGNORECASE)

#: A forward only: "Re: <subject> (Automatic Response)" is an autoresponder's, a forward a person's.
_FORWARD = re.compile(r"^\s*(?:fwd?|fw|tr|wg|terusan)\s*:", re.IGNORECASE)

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

#: The subject of a complaint feedback loop that is not ARF: it names the sending server's IP address
#: (Microsoft's JMRP: "complaint about message from 192.0.2.1"; "Email Feedback Report for IP ...").
#: A person's "Spam report: ..." with the mail attached names no address and is answered.
_IP = r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}|(?:x{1,3}\.){3}x{1,3})"
_COMPLAINT_SUBJECT = re.compile(
    rf"^\s*(?:\[[^\]]{{0,40}}\]\s*)?(?:complaint about (?:a )?message from|(?:e-?mail )?(?:feedback|abuse|spam|"
    rf"complaint) report (?:for|about|from) (?:ip )?)\s*\[?{_IP}\b",
    re.IGNORECASE,
)

#: The parts a complaint carries the reported message in.
_REPORTED_MESSAGE = {"message/rfc822", "text/rfc822-headers", "message/rfc822-headers"}

#: RFC 2369 / RFC 8058 fields a list server or bulk sender adds; a person's mail has none.
_LIST_FIELDS = {"list-unsubscribe", "list-unsubscribe-post", "list-subscribe", "list-post", "list-help",
                "list-owner", "list-archive"}

#: How far into the text a machine's notice says what it is.
_NOTICE_CHARS = 2000


def _opens_with_failure(text: str) -> bool:
    """The text's first line (past rules of ``*``, ``-``, ``=``) says a message was not delivered."""
    for line in text[:_NOTICE_CHARS].splitlines():
        line = line.strip()
        if line and line.strip("*-=_#~ "):
            return bool(_OPENS_WITH_FAILURE.match(line))
    return False


def _dsn_like(mail: InboundMail) -> bool:
    """A "Returned mail" / "Undeliverable" report, whoever it claims to be from."""
    if _FORWARD_OR_REPLY.match(mail.subject):
        # A gateway that wraps its report in a reply ("RE: <subject> : non remis") puts nothing
        # before it; a person who replies or forwards writes first, or the forward's header is first.
        return bool(_FAILURE_IN_SUBJECT.search(mail.subject)) and _opens_with_failure(mail.text)
    if not _DSN_SUBJECT.match(mail.subject):
        return False
    if any(a.content_type in {"message/delivery-status", "message/global-delivery-status"} for a in mail.attachments):
        return True
    return bool(_DSN_BODY.search(mail.text[:_NOTICE_CHARS * 4]))


def is_abuse_report(mail: InboundMail) -> bool:
    """An abuse report: ARF (RFC 5965) feedback, or a feedback loop's complaint that is not ARF
    (a complaint subject with the reported message attached): a machine's, never a helpdesk question."""
    if any(a.content_type == "message/feedback-report" for a in mail.attachments):
        return True
    return (bool(_COMPLAINT_SUBJECT.match(mail.subject)) and not _FORWARD_OR_REPLY.match(mail.subject)
            and any(a.content_type in _REPORTED_MESSAGE for a in mail.attachments))


def _list_notice(mail: InboundMail) -> str | None:
    local = mail.from_addr.partition("@")[0]
    if _LIST_MANAGER.match(local):
        return f"mailing-list manager {mail.from_addr}"
    head = mail.subject + "\n" + mail.text[:_NOTICE_CHARS]
    if not _FORWARD_OR_REPLY.match(mail.subject) and _LIST_NOTICE.search(head):
        return "mailing-list administrative notice"
    return None


def _envelope_local(mail: InboundMail) -> str:
    """The local part of the envelope sender (Return-Path), "" when null or absent."""
    return mail.return_path.strip().strip("<>").partition("@")[0]


def is_bounce(mail: InboundMail) -> bool:
    if is_abuse_report(mail):
        return False  # multipart/report too, but a complaint, not a delivery report
    local = mail.from_addr.partition("@")[0]
    return mail.content_type == "multipart/report" or bool(_BOUNCE_SENDER.match(local)) or (
        # The envelope sender is the mail system's ("MAILER-DAEMON"), whatever the From says.
        bool(_BOUNCE_SENDER.match(_envelope_local(mail)))) or (
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
    if mail.x_autoreply.strip():
        return "X-Autoreply/X-Autorespond (autoresponder)"
    if _OUT_OF_OFFICE.match(mail.subject):
        return "out-of-office or automatic subject"
    if _AUTO_REPLY_SUBJECT.search(mail.subject) and not _FORWARD.match(mail.subject):
        return "automatic reply subject"
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
