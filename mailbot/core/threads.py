"""Which ticket a mail belongs to: Message-ID headers first, then the subject tag.

Pure: lookups into storage are passed in as functions, so the rules can be tested
with dictionaries. The subject tag alone is trusted only when the sender already
takes part in that ticket; otherwise anybody could append mail to any ticket by
guessing a number.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from mailbot.core.domain import InboundMail

_REPLY_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|wg|tr|rv|sv|vs|bls|balas|trs|terus|fwd?)\s*(\[\d+\])?\s*:\s*)+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ThreadMatch:
    ticket_id: int | None
    how: str  # "message-id" | "reply-address" | "subject-tag" | "none"
    detail: str = ""


def format_number(prefix: str, ticket_id: int) -> str:
    return f"{prefix}-{ticket_id:06d}"


def subject_tag(prefix: str, ticket_id: int) -> str:
    return f"[{format_number(prefix, ticket_id)}]"


def _tag_pattern(prefix: str) -> str:
    """A ticket tag: ``[TTS-000123]``, or with a word before the number as in the escalation's
    ``[ESKALASI TTS-000123]`` (LKPP's systems keep it, and may put their own tag next to it)."""
    return rf"\[(?:[A-Za-z][A-Za-z ]{{0,30}}[ :])?{re.escape(prefix)}-(\d{{1,9}})\]"


def find_tag(subject: str, prefix: str) -> int | None:
    """The ticket id in a ``[TTS-000123]`` tag, if any (last one wins: it is the newest)."""
    found = re.findall(_tag_pattern(prefix), subject, re.IGNORECASE)
    return int(found[-1]) if found else None


#: LKPP's own ticket number as its ticketing system writes it in a subject: ``[LKPP#4711]``.
_LKPP_NUMBER = re.compile(r"\[\s*LKPP\s*#\s*(\d{1,12})\s*\]", re.IGNORECASE)


def find_lkpp_number(subject: str) -> str | None:
    """LKPP's own ticket number in a subject (``[LKPP#4711]`` -> ``"4711"``), if any (the last one)."""
    found = _LKPP_NUMBER.findall(subject)
    return found[-1] if found else None


def clean_subject(subject: str, prefix: str) -> str:
    """The subject without reply prefixes and ticket tags, for display and for new tickets."""
    without_tags = re.sub(_tag_pattern(prefix), " ", subject, flags=re.IGNORECASE)
    previous = None
    text = without_tags
    while previous != text:  # "Re: Fwd: Re:" and prefixes that reappear after a tag
        previous = text
        text = _REPLY_PREFIX.sub("", text).strip()
    return re.sub(r"\s+", " ", text).strip()


#: The MAC label and the address letter of each per-ticket address: staff's (``+t``) and LKPP's
#: (``+l``). Distinct labels: a staff address is never an LKPP address, nor the other way round.
_CHANNELS = {"staff": ("ticket", "t"), "lkpp": ("lkpp-ticket", "l"), "create": ("new-ticket", "c")}


def reply_token(secret: str, ticket_id: int, channel: str = "staff", base: str = "") -> str:
    """A short MAC binding a ticket id (and the channel: staff or LKPP) to this helpdesk's secret.

    The "new ticket" address names no ticket, so its MAC binds the helpdesk's address ``base``
    instead: helpdesks of one deployment may share a secret, and one helpdesk's address must not
    sign the other's (a ticket's id is unique in the deployment, so its MAC already is).
    """
    label = _CHANNELS[channel][0]
    scope = f"{label}:{base.lower()}" if channel == "create" else label
    digest = hmac.new(secret.encode(), f"{scope}:{ticket_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:12]


def reply_address(base: str, ticket_id: int, secret: str, channel: str = "staff") -> str:
    """The per-ticket address staff reply to, e.g. ``helpdesk+t123.4f0c...@lpse.test``; with
    ``channel="lkpp"`` the one LKPP answers an escalation to (``helpdesk+l123.<mac>@lpse.test``)."""
    local, _, domain = base.partition("@")
    return f"{local}+{_CHANNELS[channel][1]}{ticket_id}.{reply_token(secret, ticket_id, channel, base)}@{domain}"


def lkpp_reply_address(base: str, ticket_id: int, secret: str) -> str:
    """The per-ticket address in the escalation's Reply-To: whoever writes to it is LKPP for the ticket."""
    return reply_address(base, ticket_id, secret, "lkpp")


def signed_ticket(addresses: Iterable[str], base: str, secret: str, channel: str = "staff") -> int | None:
    """The ticket id of the first per-ticket reply address of ``channel`` in ``addresses`` whose MAC verifies."""
    pattern = _signed_pattern(base.lower(), channel)
    for address in addresses:
        match = pattern.match(address.lower())
        if match:
            ticket_id = int(match.group(1))
            if hmac.compare_digest(match.group(2), reply_token(secret, ticket_id, channel, base)):
                return ticket_id
    return None


@lru_cache(maxsize=4096)  # three channels for each helpdesk of a fleet
def _signed_pattern(base: str, channel: str) -> re.Pattern[str]:
    """The per-ticket reply addresses of ``channel`` for the (lowered) ``base`` address, compiled
    once per helpdesk and channel (``signed_ticket`` runs for every mail, some twice)."""
    local, _, domain = base.partition("@")
    letter = _CHANNELS[channel][1]
    return re.compile(rf"^{re.escape(local)}\+{letter}(\d{{1,9}})\.([0-9a-f]{{12}})@{re.escape(domain)}$")


def mask_plus_addresses(text: str, base: str) -> str:
    """``text`` with every plus address of the helpdesk (``helpdesk+t12.<mac>@lpse.test``, the
    LKPP and "new ticket" ones, envelope senders) written as the plain ``base`` address.

    For mail to users and to LKPP: a signed address is a capability (whoever writes to it runs
    staff commands, or answers as LKPP), and a staff member's answer can carry one in its text
    (pasted, or in a quoted header block the reply reader did not cut).
    """
    local, _, domain = base.partition("@")
    if not local or not domain or "+" not in text:
        return text
    pattern = re.compile(rf"(?<![\w.+-]){re.escape(local)}\+[^\s@<>()\[\]\"',;:]+@{re.escape(domain)}(?!\.?[\w-])",
                         re.IGNORECASE)
    return pattern.sub(base, text)


def create_address(base: str, secret: str) -> str:
    """The signed address staff forward a user's mail to with ``#buat`` (``helpdesk+c0.<mac>@lpse.test``).

    Like a ticket's staff reply address it is shown to staff only (in their notifications): with
    ``staff.command_auth = ["reply_address"]`` a mail sent to it is the proof a new mail can carry.
    """
    return reply_address(base, 0, secret, "create")


def signed_create(addresses: Iterable[str], base: str, secret: str) -> bool:
    """Was the mail sent to the signed "new ticket" address (see ``create_address``)?"""
    return signed_ticket(addresses, base, secret, "create") == 0


def signed_lkpp_ticket(addresses: Iterable[str], base: str, secret: str) -> int | None:
    """The ticket id of the first signed LKPP address in ``addresses`` (see ``lkpp_reply_address``)."""
    return signed_ticket(addresses, base, secret, "lkpp")


def match_thread(
    mail: InboundMail,
    *,
    prefix: str,
    ticket_for_ids: Callable[[tuple[str, ...]], int | None],
    participants: Callable[[int], set[str]],
    ticket_exists: Callable[[int], bool],
    ticket_for_tag: Callable[[int], int | None] | None = None,
    trust_tag: bool = False,
) -> ThreadMatch:
    """Decide which ticket ``mail`` updates, or none (a new ticket).

    ``ticket_for_tag`` maps the number in a subject tag to a ticket id (numbers are per
    helpdesk); without it the number is the id. ``trust_tag``: the sender is proven to be LKPP
    (a DKIM pass for an LKPP domain), whose officers take part in no ticket by address.
    """
    ids = mail.thread_ids
    if ids:
        ticket_id = ticket_for_ids(ids)
        if ticket_id is not None:
            return ThreadMatch(ticket_id, "message-id", "In-Reply-To/References matched a stored Message-ID")
    number = find_tag(mail.subject, prefix)
    tagged = number if number is None or ticket_for_tag is None else ticket_for_tag(number)
    if number is not None and tagged is not None and ticket_exists(tagged):
        if trust_tag:
            return ThreadMatch(tagged, "subject-tag", "subject tag from a verified LKPP sender")
        if mail.from_addr and mail.from_addr in participants(tagged):
            return ThreadMatch(tagged, "subject-tag", "subject tag and the sender takes part in the ticket")
        return ThreadMatch(None, "none", f"subject tag {format_number(prefix, number)} ignored: sender not in the ticket")
    return ThreadMatch(None, "none", "no thread headers or tag matched")
