"""What templates see: the ticket, the mail in hand, the helpdesk, lazily the history."""


from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.core import sla, threads
from mailbot.core.domain import Classification, EventKind, InboundMail, TicketState
from mailbot.core.kronologi import kronologi
from mailbot.core.passwords import mask_passwords
from mailbot.core.workflow import (
    STATE_LABELS,
)
from mailbot.service import deadlines, team
from mailbot.service.app import App
from mailbot.settings.answers import Suggestion, suggest
from mailbot.storage import store
from mailbot.storage.models import StoredAttachment, Ticket, TicketEvent

log = logging.getLogger(__name__)



def suggestions(app: App, ticket: Ticket, mail: InboundMail) -> list[Suggestion]:
    return suggest(app.answers, category=ticket.category, subject=mail.subject, text=mail.new_text,
                   limit=app.settings.answers.suggestions)


def _rating_links(address: str, number: str | None) -> list[object]:
    """The mailto: links, best score first, that pre-fill a rating reply (threaded by the subject
    tag): one subject for the five."""
    subject = quote(f"Re: [{number}] Penilaian layanan")
    return [{"score": n, "label": _RATING_LABELS[n], "href": f"mailto:{address}?subject={subject}&body={n}"}
            for n in range(5, 0, -1)]


_RATING_LABELS = {5: "sangat baik", 4: "baik", 3: "cukup", 2: "kurang", 1: "buruk"}


def priority_reason(app: App, classification: Classification | None) -> str:
    """Why the ticket got its priority, in one Indonesian line for a phone (the rules' scores,
    in English, stay in the ticket's timeline: ``mailbot tickets show``)."""
    if classification is None:
        return ""
    level = classification.priority.upper()
    if not classification.matched:
        return f"tidak ada kategori yang cocok, prioritas bawaan {level}; mohon periksa (#prioritas)"
    line = f"kategori \"{classification.category_label}\": prioritas {level}"
    try:
        base = app.table.category(classification.category).priority
    except KeyError:
        return line
    if base != classification.priority and any(h.rule == "deadline" for h in classification.hits):
        line = f"kategori \"{classification.category_label}\" ({base.upper()}), naik ke {level} karena tenggat waktu dekat"
    return line


def local_time(app: App, at: datetime) -> str:
    return at.astimezone(app.zone).strftime("%d-%m-%Y %H:%M %Z")


def template_context(app: App, session: Session, ticket: Ticket, mail: InboundMail,
             classification: Classification | None) -> dict[str, object]:
    settings = app.settings
    table = app.table
    missing_labels = [table.item_label(key) for key in ticket.missing or []]
    hours = table.resolution_hours(ticket.priority)
    new_text, _ = mask_passwords(mail.new_text)
    ctx: dict[str, object] = {
        "helpdesk": {"name": settings.helpdesk.name, "address": settings.helpdesk.address,
                     "phone": settings.helpdesk.phone},
        "tag": threads.subject_tag(settings.helpdesk.ticket_prefix, ticket.seq),
        "ticket": {
            "number": ticket.number, "subject": ticket.subject, "priority": ticket.priority,
            "category": ticket.category, "category_label": table.category_label(ticket.category),
            "category_matched": ticket.category_matched, "state": ticket.state,
            "state_label": STATE_LABELS[TicketState(ticket.state)], "requester": ticket.requester,
            "requester_name": ticket.requester_name, "phone": ticket.phone, "assignee": ticket.assignee,
            "missing_labels": missing_labels, "resolution_hours": hours,
            "resolution_text": f"{hours:g} jam kerja" if hours else "",
            "opened_local": local_time(app, ticket.opened_at),
            "due_local": local_time(app, ticket.due_at) if ticket.due_at else "",
            # The analysis step's deadline (SOP step 7, working time), for the user's "data complete" mail.
            "analysis_due_local": day_time(app, ticket.analysis_due_at) if ticket.analysis_due_at else "",
            "url": _console_url(settings.web.base_url, ticket.id),
        },
        "message": {"sender": mail.from_addr, "text": new_text or "(tanpa teks)",
                    "attachments": [a.filename for a in mail.attachments]},
        "answer": "", "items": [], "requested": [], "errors": [], "note": "", "closed": False, "by_lkpp": False,
        "password_found": bool(classification and classification.password_found),
        "reasons": [h.reason for h in classification.hits] if classification else [],
        "reopen_days": f"{settings.helpdesk.reopen_window_days:g}",
        # The ticket's history and the suggestions cost queries and scoring, and few templates show
        # them (escalation, staff_new, or a deployment's own): computed when a template reads them.
        "timeline": _Lazy(lambda: [{"at": local_time(app, e.at), "kind": e.kind, "detail": e.detail}
                                   for e in ticket.events]),
        "conversation": _Lazy(lambda: _conversation(app, session, ticket)),
        # The same history told in Indonesian, for LKPP (the dossier's "Kronologi").
        "kronologi": _Lazy(lambda: [{"at": local_time(app, r.at), "step": r.step, "step_name": r.step_name,
                                     "text": r.text}
                                    for r in kronologi(ticket.events, item=table.item_label,
                                                       category=table.category_label)]),
        "bounced": "", "marks": [], "omitted": [], "dossier_limit": "", "capped": 0,
        "how": "", "to_lkpp": False, "intro": "", "relay": None, "asked": [],
        # the words of a user's reply that says the problem is solved (``core.solved``): the headline
        "solved": "",
        # LKPP's own ticket number (``[LKPP#4711]`` in its subject), kept on the ticket as event data.
        "lkpp_number": _LazyText(lambda: _lkpp_number(session, ticket.id)),
        # The ack of a mail written outside working hours says when staff start on it.
        "opened_off_hours": _LazyText(lambda: off_hours_until(app, ticket.opened_at)),
        # The analysis step's standard in words ("8 jam kerja"): the deployment's SLA policy.
        "analysis_target": _LazyText(lambda: analysis_target(app)),
        "suggestions": _Lazy(lambda: [{"id": x.answer.id, "key": x.answer.key, "title": x.answer.title}
                                      for x in suggestions(app, ticket, mail)]),
        # Only the closing mail shows them: made when a template reads them.
        "rating_links": _Lazy(partial(_rating_links, settings.helpdesk.address, ticket.number)),
        "priority_reason": priority_reason(app, classification),
        # The new-ticket notification lists the requester's last tickets; #buat's signed address.
        "requester_tickets": _Lazy(lambda: team.requester_tickets(session, ticket, app)),
        "create_address": _LazyText(lambda: threads.create_address(settings.helpdesk.address, app.secret)),
    }
    return ctx


_DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")


def off_hours_until(app: App, at: datetime) -> str:
    """When the next working hours start ("Senin, 07-12-2026 pukul 08:00 WIB") if ``at`` is outside
    the helpdesk's working hours (evening, weekend, holiday), else ""."""
    calendar = deadlines.calendar_for(app.settings)
    if calendar.is_working(at):
        return ""
    return day_time(app, calendar.next_working(at))


def day_time(app: App, at: datetime) -> str:
    """``at`` for a user, with the weekday: "Senin, 07-12-2026 pukul 08:00 WIB"."""
    local = at.astimezone(app.zone)
    return f"{_DAYS[local.weekday()]}, {local:%d-%m-%Y} pukul {local:%H:%M %Z}"


def analysis_target(app: App) -> str:
    """How long the analysis step (SOP step 7) may take, in words, as the SLA clocks count it."""
    standard = deadlines.Setup.of(app).policy.standards["analysis"]
    return sla.describe(standard.duration, working=standard.working)


def _console_url(base_url: str, ticket_id: int | None) -> str:
    """The ticket's page in the console, for staff reading a notice on a phone; "" without a console
    or when its address is this machine's own (the example's ``127.0.0.1``), which no phone opens."""
    host = (urlsplit(base_url).hostname or "") if base_url else ""
    if not host or not ticket_id or host == "localhost" or host.startswith("127.") or host == "::1":
        return ""
    return f"{base_url}/tiket/{ticket_id}"


def _lkpp_number(session: Session, ticket_id: int) -> str:
    rows = session.scalars(select(TicketEvent.data).where(TicketEvent.ticket_id == ticket_id,
                                                          TicketEvent.kind == EventKind.LKPP_REPLIED)
                           .order_by(TicketEvent.id.desc()))
    return next((str(d["lkpp_number"]) for d in rows if d and d.get("lkpp_number")), "")


class _LazyText:
    """A text made on first use (rendering, truth), then kept."""

    __slots__ = ("_make", "_text")

    def __init__(self, make: Callable[[], str]) -> None:
        self._make = make
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = self._make()
        return self._text

    def __bool__(self) -> bool:
        return bool(str(self))

    def __eq__(self, other: object) -> bool:
        return str(self) == (str(other) if isinstance(other, _LazyText) else other)

    __hash__ = None  # type: ignore[assignment]

    def __html__(self) -> str:  # Jinja's autoescape reads it as text to escape
        from markupsafe import escape
        return str(escape(str(self)))


class _Lazy(Sequence[object]):
    """A list made on first use (iteration, length, truth, indexing), then kept.

    Not a ``list`` subclass on purpose: C code such as ``str.join`` reads a list's storage
    directly and would see it empty.
    """

    __slots__ = ("_make", "_items")

    def __init__(self, make: Callable[[], list[object]]) -> None:
        self._make = make
        self._items: list[object] | None = None

    def _list(self) -> list[object]:
        if self._items is None:
            self._items = self._make()
        return self._items

    def __getitem__(self, index: Any) -> Any:
        return self._list()[index]

    def __len__(self) -> int:
        return len(self._list())

    def __iter__(self) -> Iterator[object]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        return self._list() == (other._list() if isinstance(other, _Lazy) else other)

    __hash__ = None  # type: ignore[assignment]  # like a list

    def __repr__(self) -> str:
        return repr(self._list())


def _conversation(app: App, session: Session, ticket: Ticket) -> list[object]:
    """The user's (and staff's) own mails in the ticket, with the names of their attachments.

    The names come from a column query: loading the attachment rows would read their contents.
    """
    mails = [m for m in ticket.messages if m.direction == "in" and not m.auto]
    names: dict[int, list[str]] = {}
    if mails:
        rows = session.execute(select(StoredAttachment.message_pk, StoredAttachment.filename)
                               .where(StoredAttachment.message_pk.in_(store.padded([m.id for m in mails])))
                               .order_by(StoredAttachment.id))
        for message_pk, filename in rows:
            names.setdefault(message_pk, []).append(filename)
    return [{"at": local_time(app, m.at), "role": m.role, "sender": m.sender, "text": m.new_text or m.text,
             "attachments": names.get(m.id, [])} for m in mails]


# ---- delivery failures reported by the outbox ----------------------------------------------


