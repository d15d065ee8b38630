"""Domain values shared by the pure core and the I/O edges.

Only the standard library is imported here: these types describe mail, tickets and
decisions without knowing how they are stored or transported.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

#: ASCII upper case to lower case, and nothing else (see ``fold_address``).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold_address(address: str) -> str:
    """An address in the one case addresses are compared in: ASCII letters lowered, nothing more.

    ``str.lower()`` also maps the Kelvin sign (U+212A) to ``k``: an internationalised mailbox
    ``koord@lpse.test`` written with U+212A, a different mailbox that a mail server lets its owner send from,
    would be taken for ``koord@lpse.test``.
    """
    return address.translate(_ASCII_LOWER)


class TicketState(str, enum.Enum):
    """Where a ticket stands in the SOP (see docs/sop in README)."""

    NEW = "new"  # received, priority not yet decided (only transient)
    WAITING_USER = "waiting_user"  # SOP step 4-5: data requested from the user
    ANALYSIS = "analysis"  # SOP step 7-8: helpdesk works on it
    ESCALATED = "escalated"  # SOP step 10: handed to the LKPP helpdesk
    CLOSED = "closed"  # SOP step 9

    @property
    def is_open(self) -> bool:
        return self is not TicketState.CLOSED


class SenderRole(str, enum.Enum):
    """Who wrote an inbound mail, as far as the bot can tell."""

    USER = "user"
    STAFF = "staff"
    LKPP = "lkpp"
    SELF = "self"  # a mail the bot itself sent (loop)


class EventKind(enum.StrEnum):
    """The kinds of ticket event the bot records (``ticket_events.kind``, the timeline, the clocks).

    A StrEnum: a member equals its stored string, so rows written before the enum existed,
    queries and tests that compare with plain strings keep working.
    """

    # a user's mail (SOP steps 1-8)
    RECEIVED = "received"
    PRIORITY_SET = "priority_set"
    PASSWORD_MASKED = "password_masked"
    DATA_REQUESTED = "data_requested"
    CALL_TASK = "call_task"
    DATA_RECEIVED = "data_received"
    ANALYSIS_STARTED = "analysis_started"
    USER_REPLIED = "user_replied"
    REOPENED = "reopened"
    FOLLOW_UP = "follow_up"
    RATED = "rated"
    USER_THANKED = "user_thanked"
    USER_SOLVED = "user_solved"  # on an open ticket the user said the problem is solved (core.solved)
    AUTO_ANSWERED = "auto_answered"
    OPENED_FOR_CALLER = "opened_for_caller"  # staff opened the ticket in the console for a caller
    # staff and LKPP (commands, answers)
    ASSIGNED = "assigned"
    PRIORITY_OVERRIDE = "priority_override"
    NOTE = "note"
    CALLED = "called"
    CANNED_ANSWER = "canned_answer"
    STAFF_ANSWERED = "staff_answered"
    STAFF_EMPTY_REPLY = "staff_empty_reply"
    COMMAND_REJECTED = "command_rejected"
    COMMAND_UNVERIFIED = "command_unverified"
    CLOSED = "closed"
    ESCALATED = "escalated"
    LKPP_REPLIED = "lkpp_replied"
    LKPP_UNVERIFIED = "lkpp_unverified"  # mail in LKPP's name without proof: shown to staff, nothing else
    LKPP_RELAYED = "lkpp_relayed"  # staff relayed such a mail to the user (``#teruskan``)
    WITHDRAWN = "withdrawn"  # staff took the escalation back from LKPP (``#tarik``)
    LKPP_MESSAGED = "lkpp_messaged"  # staff wrote to LKPP on the escalated ticket (``#lkpp``)
    ANSWER_HELD = "answer_held"  # a colleague had just answered: held until ``#kirim`` (core.team)
    ANSWER_RELEASED = "answer_released"  # the held answer sent on its sender's ``#kirim``
    MERGED = "merged"  # closed as a duplicate into another ticket (``#gabung``)
    MERGED_FROM = "merged_from"  # on the ticket that carries on: a duplicate was merged into it
    # mail that is only recorded, and mail the bot did not or could not send
    AUTO_MAIL = "auto_mail"
    BOUNCE = "bounce"
    BOUNCE_UNPROVEN = "bounce_unproven"
    DELIVERY_FAILED = "delivery_failed"
    MAIL_SUPPRESSED = "mail_suppressed"
    DOSSIER_TRIMMED = "dossier_trimmed"
    # the SLA clock
    SLA_WARNING = "sla_warning"
    SLA_BREACH = "sla_breach"
    REMINDER_SENT = "reminder_sent"
    # privacy (ops.privacy)
    PURGED = "purged"
    PERSONAL_DATA_ERASED = "personal_data_erased"


class OutcomeKind(enum.StrEnum):
    """What became of one inbound mail (``inbound_mail.outcome``; the poller moves the mail by it)."""

    OPENED = "opened"  # a new ticket
    UPDATED = "updated"  # added to a ticket (a reply, a bounce, automatic mail recorded only)
    IGNORED = "ignored"  # nothing to do (a loop, the hop limit, automatic mail without a ticket)
    DUPLICATE = "duplicate"  # its Message-ID was processed before
    QUARANTINED = "quarantined"  # could not be processed: kept for a person to look at
    BUSY = "busy"  # another worker is processing it (or just did): left in the inbox for that worker


@dataclass(frozen=True)
class Attachment:
    """One MIME leaf that is not the body text; content may be dropped when over the size cap."""

    filename: str  # sanitised, never a path
    content_type: str
    size: int  # decoded size in bytes, even when content was dropped
    content: bytes | None  # None when over the configured cap
    inline: bool = False  # Content-Disposition inline or referenced by Content-ID
    #: The file's own text, where the mail layer reads one (a PDF's: ``mail.pdftext``); searched for
    #: data items only (``core.item_sources``). Untrusted, like the rest of the mail.
    text: str = ""

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


@dataclass(frozen=True)
class InboundMail:
    """A parsed inbound message; every field is untrusted input from the sender."""

    message_id: str  # without angle brackets; a stable hash substitute when missing
    from_addr: str  # lower-cased addr-spec, "" when absent/unparseable
    from_name: str
    to: tuple[str, ...]  # lower-cased addr-specs from To
    cc: tuple[str, ...]
    subject: str  # decoded, single line
    date: datetime | None
    in_reply_to: tuple[str, ...]  # message ids without brackets
    references: tuple[str, ...]
    text: str  # full plain-text body (from text/plain, else derived from HTML)
    html: str | None  # raw HTML body when present (unsanitised: sanitise before showing)
    new_text: str  # text with quoted history and signature separator stripped
    attachments: tuple[Attachment, ...] = ()
    # The sender's own signature below "-- " (cut from new_text): the rules read the data in it
    signature: str = ""
    # Headers used for loop and authenticity decisions (raw values, may be empty).
    auto_submitted: str = ""
    precedence: str = ""
    list_id: str = ""
    list_headers: tuple[str, ...] = ()  # names of the List-* headers present (RFC 2369/2919), lower case
    x_auto_response_suppress: str = ""
    x_autoreply: str = ""  # X-Autoreply / X-Autorespond: set by autoresponders that set no Auto-Submitted
    x_mailbot_hops: int = 0  # our own hop counter, carried on every mail we send
    x_mailbot_ticket: str = ""  # set on mail the bot sent
    authentication_results: tuple[str, ...] = ()
    spam_headers: tuple[str, ...] = ()  # "name: value" of the spam filters' verdict fields (``core.spam``)
    delivered_to: tuple[str, ...] = ()  # Delivered-To / X-Original-To, for plus addresses
    content_type: str = "text/plain"  # top-level MIME type (multipart/report = DSN)
    return_path: str = ""
    size: int = 0
    defects: tuple[str, ...] = ()  # parser defects, recorded for staff
    # Several From headers or several addresses in From: ``from_addr`` is the first, and a DKIM or
    # DMARC result may be about another one (``core.auth`` takes no result as proof then).
    from_ambiguous: bool = False

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """All ids this mail says it answers, most specific first."""
        seen: dict[str, None] = {}
        for mid in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(mid, None)
        return tuple(seen)


@dataclass(frozen=True)
class MissingItem:
    """A piece of data the helpdesk needs and the mail does not contain."""

    key: str  # e.g. "kode_tender"
    label: str  # plain Indonesian, e.g. "Kode tender/paket"
    example: str  # e.g. "Kode tender: 12345678"


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired, with a human-readable reason (stored as a ticket event)."""

    rule: str
    reason: str


@dataclass(frozen=True)
class Classification:
    """What the rules engine decided about a mail (SOP steps 2-3)."""

    category: str  # key of the category, or the configured default when unmatched
    category_label: str
    priority: str  # a configured priority level, e.g. "tinggi" | "sedang" | "rendah"
    matched: bool  # False: no category rule matched; staff should classify
    missing: tuple[MissingItem, ...] = ()
    hits: tuple[RuleHit, ...] = ()
    password_found: bool = False
    phone: str | None = None  # a phone number found in the mail/signature, for SOP step 4's call
    resolution_hours: float | None = None  # resolution target of the priority


@dataclass(frozen=True)
class Event:
    """Something that happened to a ticket, with its time and actor."""

    kind: str
    at: datetime
    actor: str
    detail: str = ""
    sop_step: int | None = None
    data: dict[str, object] = field(default_factory=dict)


class EventRecord(Protocol):
    """A stored ticket event as the pure core reads it (models.TicketEvent satisfies it).

    Read-only properties: the core never writes an event, and a stored row's ``data`` is a dict
    where the core only needs a mapping.
    """

    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def sop_step(self) -> int | None: ...
    @property
    def data(self) -> Mapping[str, Any]: ...
