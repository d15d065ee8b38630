"""Which delivery reports to believe, and what a believed one may mark.

Pure. Anyone can send the helpdesk a mail that looks like a delivery status notification
(DSN), naming any address. Believing it would let an outsider silence a vendor's helpdesk
channel before a tender deadline. So a report counts only with proof that it is about a mail
we sent:

- it came back to the per-message envelope sender (VERP) of that mail,
  ``helpdesk+b.<token>.<mac>@domain``, whose MAC only this helpdesk can make; or
- it quotes the Message-ID of a mail in our outbox.

Even then it may only mark the recipients *of that mail*, and only for an address-level
failure (unknown mailbox, domain does not route, mailbox disabled). A message-level refusal
(too large, content or policy rejection) says nothing about the address and marks nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.core.loops import Bounce, BouncedRecipient

#: How long a temporary failure (mailbox full, a delay, a report without a status) keeps an
#: address marked: long enough not to pile up mail on a full mailbox, short enough that a
#: vendor whose mailbox was full on Monday gets Friday's acknowledgment.
TEMPORARY_MARK = timedelta(days=3)

#: Enhanced status codes (RFC 3463) that are about the message, never the address: 5.2.3 and
#: 5.3.4 (too large), 5.6.x (content), 5.7.x (security or policy: spam filters, DMARC).
_MESSAGE_LEVEL = re.compile(r"^[45]\.(?:2\.3|3\.4|6\.\d{1,3}|7\.\d{1,3})$")
#: The basic SMTP reply that refuses the message, not the mailbox, when no enhanced status says
#: more: 552 (too large). (554 is used for unknown mailboxes as often as for content: the
#: enhanced status, when there is one, decides.)
_MESSAGE_REPLY = re.compile(r"\b552\b")
#: 5.2.2 mailbox full: the address is alive; mark for a while only.
_MAILBOX_FULL = "5.2.2"

_ENHANCED = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class Mark:
    """An address this helpdesk should not send automatic mail to, and until when."""

    address: str
    reason: str
    permanent: bool
    expires_at: datetime | None


@dataclass(frozen=True)
class BounceVerdict:
    """What a delivery report proves: the outbox mail it is about, and the marks it may set."""

    believed: bool
    how: str  # the proof, or why there is none
    marks: tuple[Mark, ...] = ()
    ignored: tuple[str, ...] = ()  # recipients named but not marked, each with why
    #: Recipients of our mail that refused the *message* (too large, content): not marked, but
    #: the mail did not arrive, which staff must know.
    refused: tuple[BouncedRecipient, ...] = ()


def new_token() -> str:
    """A fresh per-message token (60 random bits, lower-case base32: safe in a local part).

    One read of the system's random source, not one per character (12): each is a system call
    (py-spy: 0.7 % of the bot's CPU on a busy machine)."""
    return base64.b32encode(secrets.token_bytes(8)).decode("ascii")[:12].lower()


def _mac(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), f"bounce:{token}".encode(), hashlib.sha256).hexdigest()[:12]


def verp_address(base: str, token: str, secret: str) -> str:
    """The envelope sender of one outgoing mail: ``helpdesk+b.<token>.<mac>@domain``."""
    local, _, domain = base.partition("@")
    return f"{local}+b.{token}.{_mac(secret, token)}@{domain}"


def verp_token(addresses: Iterable[str], base: str, secret: str) -> str | None:
    """The token of the first address in ``addresses`` that is our VERP address with a valid MAC."""
    local, _, domain = base.lower().partition("@")
    pattern = re.compile(rf"^{re.escape(local)}\+b\.([a-z2-7]{{12}})\.([0-9a-f]{{12}})@{re.escape(domain)}$")
    for address in addresses:
        match = pattern.match(address.strip().strip("<>").lower())
        if match and hmac.compare_digest(match.group(2), _mac(secret, match.group(1))):
            return match.group(1)
    return None


#: Words of a diagnostic that refuses the recipient, whatever its status says: a 5.7.1
#: "Recipient address rejected: Access denied" (Postfix) is about the address, not the content.
_ABOUT_ADDRESS = re.compile(r"recipient|user unknown|unknown user|no such user|mailbox (?:unavailable|not found|"
                            r"does not exist)|does not exist|address rejected|invalid address", re.IGNORECASE)


def message_level(recipient: BouncedRecipient) -> bool:
    """True when the failure is about the message (size, content, policy), not the address."""
    status = recipient.status.strip()
    if _MESSAGE_LEVEL.match(status):
        return not (status.startswith(("5.7.", "4.7.")) and _ABOUT_ADDRESS.search(recipient.diagnostic))
    if status and not status.endswith(".0.0"):
        return False  # a specific status about the address (5.1.1 unknown user, 5.4.4 no route, ...)
    diagnostic = recipient.diagnostic.lower()
    enhanced = _ENHANCED.search(diagnostic)
    if enhanced and _MESSAGE_LEVEL.match(enhanced.group(1)):
        return True
    return bool(_MESSAGE_REPLY.search(diagnostic))


def judge(report: Bounce, *, proof: str | None, sent_to: Collection[str], now: datetime) -> BounceVerdict:
    """The marks a delivery report may set.

    ``proof``: how the report was tied to one of our mails (None: it was not); ``sent_to``: the
    recipients of that mail. Only they can be marked, whatever else the report names.
    """
    if proof is None:
        return BounceVerdict(False, "not about any mail we sent (no signed envelope sender, no Message-ID of ours)",
                             ignored=tuple(f"{r.address}: unproven report" for r in report.recipients))
    ours = {a.lower() for a in sent_to}
    marks: list[Mark] = []
    ignored: list[str] = []
    refused: list[BouncedRecipient] = []
    for r in report.recipients:
        address = r.address.lower()
        if address not in ours:
            ignored.append(f"{address}: not a recipient of that mail")
        elif r.action == "delayed":
            ignored.append(f"{address}: delayed, still being retried")
        elif message_level(r):
            ignored.append(f"{address}: message refused ({r.status or '?'}), address not marked")
            refused.append(r)
        else:
            reason = f"{r.status} {r.diagnostic}".strip()[:2000] or "delivery failed (no status given)"
            permanent = r.permanent and r.status != _MAILBOX_FULL
            marks.append(Mark(address, reason, permanent, None if permanent else now + TEMPORARY_MARK))
    return BounceVerdict(True, proof, tuple(marks), tuple(ignored), tuple(refused))


_REFUSED_RCPT = re.compile(r"([^\s;:]+@[^\s;:]+): (\d{3}) ([^;]*)")


def refusal_marks(error: str, recipients: Collection[str], now: datetime) -> tuple[Mark, ...]:
    """The marks a permanent SMTP refusal of our mail may set: address-level refusals only.

    A refusal of recipients (``recipients refused: a@b: 550 5.1.1 ...``) marks those that were
    ours; a refusal of the message itself (552 too large, 554 content, 5.7.x policy) none.
    """
    ours = {a.lower() for a in recipients}
    refused = [(m.group(1).lower(), m.group(2), m.group(3)) for m in _REFUSED_RCPT.finditer(error)]
    if not refused:  # the whole transaction was refused (MAIL FROM or DATA): about every recipient
        reply = re.search(r"\b([245]\d\d)\b", error)
        refused = [(a, reply.group(1) if reply else "", error) for a in sorted(ours)]
    marks: list[Mark] = []
    for address, code, text in refused:
        if address not in ours:
            continue
        status = _ENHANCED.search(text)
        report = BouncedRecipient(address, status.group(1) if status else f"{code[:1] or '5'}.0.0",
                                  f"{code} {text}"[:500])
        if report.permanent and not message_level(report):
            marks.append(Mark(address, f"refused: {code} {text}".strip()[:2000], True, None))
    return tuple(marks)
