"""Staff and LKPP acting from the console: one form = one transaction through ``workflow.decide``.

A console action becomes the event the same keyword in a mail would be (``StaffReplied`` with the
command ``#tutup``, ``#mintadata`` ... gives, or LKPP's ``LkppReplied``), is decided by ``decide``
and carried out by ``apply_decision`` as a mail's would be: the same ticket changes, events and
queued mails (sent by ``mailbot run``'s outbox flush). What differs from a mail: the actor is the
signed-in person, every event records ``channel: web``, the form's text and files are stored as a
message of the staff (or LKPP) conversation, and a refusal is returned to the page instead of
mailed, with the transaction rolled back (nothing changes).

The form's idempotency token is stored (``web_actions``) in the same transaction: a second submit
of the same form finds it and does nothing. A ticket for a caller (``open_for_caller``) is opened
as the caller's first mail would open it, with a record of who opened it and how the problem came.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbot.core import team
from mailbot.core.commands import Command, CommandKind, StaffReply, parse_staff_reply
from mailbot.core.domain import Attachment, EventKind, InboundMail, SenderRole, TicketState
from mailbot.core.phones import find_phone
from mailbot.core.workflow import TRANSITIONS, Decision, Event, LkppReplied, Record, StaffReplied, decide
from mailbot.service import team as team_facts
from mailbot.service.app import App
from mailbot.service.context import template_context
from mailbot.service.effects import (
    apply_decision,
    closed_by_lkpp,
    merge_target,
    record_event,
    store_message,
    ticket_view,
)
from mailbot.service.inbound import open_ticket, unrelayed_lkpp, with_canned_answers
from mailbot.storage import store
from mailbot.storage.models import Ticket, WebAction

#: The console's staff actions (the form contract: ``<button name="action" value="...">``).
STAFF_ACTIONS = ("reply", "close", "escalate", "request_data", "take", "note", "priority", "called", "reopen",
                 "merge", "withdraw", "relay", "to_lkpp")
#: What a signed-in LKPP officer may do on an escalated ticket.
LKPP_ACTIONS = ("reply", "request_data", "close")
#: The keyword line each staff action stands for (its argument, if any, is added from the form).
KEYWORD = {"close": "#tutup", "escalate": "#eskalasi", "request_data": "#mintadata", "take": "#ambil",
           "note": "#catatan", "priority": "#prioritas", "called": "#telepon", "reopen": "#buka", "withdraw": "#tarik",
           "relay": "#teruskan", "to_lkpp": "#lkpp"}
#: The command each staff action runs (``reply`` runs none: a plain answer).
_KIND = {"close": CommandKind.CLOSE, "escalate": CommandKind.ESCALATE, "request_data": CommandKind.NEED_INFO,
         "take": CommandKind.TAKE, "note": CommandKind.NOTE, "priority": CommandKind.PRIORITY,
         "called": CommandKind.CALLED, "reopen": CommandKind.REOPEN, "merge": CommandKind.MERGE,
         "withdraw": CommandKind.WITHDRAW, "relay": CommandKind.RELAY, "to_lkpp": CommandKind.TO_LKPP}


def actions_in(state: str, lkpp: bool) -> tuple[str, ...]:
    """The actions the ticket's state allows (the page shows only their buttons; the workflow, through
    the same table, would refuse the others)."""
    try:
        current = TicketState(state)
    except ValueError:
        return ()
    if lkpp:
        return LKPP_ACTIONS if current is TicketState.ESCALATED else ()
    return tuple(a for a in STAFF_ACTIONS if (current is not TicketState.CLOSED if a == "reply"
                                              else (_KIND[a], current) in TRANSITIONS))


#: Actions whose answer text goes to the user (and may carry a canned answer and files); the text of
#: ``relay`` is the introduction above LKPP's relayed mail, as the text under ``#teruskan`` is.
_ANSWERING = {"reply", "close", "request_data", "escalate", "reopen", "merge", "relay"}
#: ``to_lkpp`` (``#lkpp``): its text and files go to LKPP, never to the user.
_TO_LKPP = {"to_lkpp"}

#: How a caller's problem reached the helpdesk (form value -> the words recorded).
CALLER_CHANNELS = {"telepon": "telepon", "whatsapp": "WhatsApp", "datang_langsung": "datang langsung",
                   "email_diteruskan": "e-mail diteruskan"}

Status = Literal["done", "duplicate", "refused", "missing"]


@dataclass(frozen=True)
class ActionForm:
    """What a console form asks for (already read from the request; files already size-checked)."""

    action: str
    text: str = ""
    items: tuple[str, ...] = ()  # request_data: the data asked for (labels)
    level: str = ""  # priority
    reason: str = ""  # priority
    assignee: str = ""  # take: a colleague to assign ("" = the actor takes it)
    into: str = ""  # merge: the number of the ticket that carries on
    answer: str = ""  # a canned answer's number or key, put after the text
    files: tuple[Attachment, ...] = ()
    confirmed: bool = False  # the second click after "a colleague already answered" (core.team.hold)


@dataclass(frozen=True)
class ActionResult:
    status: Status
    errors: tuple[str, ...] = ()
    ticket_id: int | None = None
    number: str = ""
    confirm: bool = False  # refused until confirmed: a colleague answered minutes ago


@dataclass(frozen=True)
class CallerForm:
    requester: str
    subject: str
    body: str
    channel: str
    phone: str = ""
    name: str = ""


class _Refused(Exception):
    """Raised inside the transaction so that it rolls back; carries the reasons for the page."""

    def __init__(self, errors: list[str], confirm: bool = False) -> None:
        super().__init__("; ".join(errors))
        self.errors = tuple(errors)
        self.confirm = confirm  # the page offers the same action again, confirmed


def act(app: App, ticket_id: int, actor: str, form: ActionForm, token: str, now: datetime, *,
        lkpp: bool = False) -> ActionResult:
    """Carry out one console action on a ticket of ``app``'s helpdesk, in one transaction."""
    try:
        with app.factory.begin() as session:
            if not _claim(session, token, actor, form.action, ticket_id, now):
                return ActionResult("duplicate", ticket_id=ticket_id)
            ticket = store.lock_ticket(session, ticket_id)
            if ticket is None or ticket.helpdesk != app.settings.helpdesk_key:
                raise _Refused([])
            _act(app, session, ticket, actor, form, token, now, lkpp)
            return ActionResult("done", ticket_id=ticket.id, number=ticket.number or "")
    except _Refused as refused:
        return ActionResult("refused" if refused.errors else "missing", refused.errors, ticket_id,
                            confirm=refused.confirm)
    except IntegrityError:
        # The same form sent twice at once: the other request stored the token first and acted.
        if _seen(app, token):
            return ActionResult("duplicate", ticket_id=ticket_id)
        raise


def _claim(session: Session, token: str, actor: str, action: str, ticket_id: int | None, now: datetime) -> bool:
    """Store the form's token; False when it is stored already (the form acted before)."""
    if not token or session.scalar(select(WebAction.id).where(WebAction.token == token)) is not None:
        return False
    session.add(WebAction(token=token[:64], at=now, address=actor[:320], action=action[:20], ticket_id=ticket_id))
    session.flush()
    return True


def _seen(app: App, token: str) -> bool:
    with app.factory() as session:
        return session.scalar(select(WebAction.id).where(WebAction.token == token)) is not None


def _pseudo_mail(app: App, actor: str, token: str, subject: str, text: str, now: datetime,
                 files: tuple[Attachment, ...] = (), name: str = "") -> InboundMail:
    """The form as the mail it stands for: what ``apply_decision`` and the templates read of a mail."""
    domain = app.settings.helpdesk.address.partition("@")[2]
    return InboundMail(message_id=f"web.{token}@{domain}", from_addr=actor.lower(), from_name=name, to=(app.settings.helpdesk.address,),
                       cc=(), subject=subject, date=now, in_reply_to=(), references=(), text=text, html=None,
                       new_text=text, attachments=files)


def _act(app: App, session: Session, ticket: Ticket, actor: str, form: ActionForm, token: str, now: datetime,
         lkpp: bool) -> None:
    allowed = LKPP_ACTIONS if lkpp else STAFF_ACTIONS
    if form.action not in allowed:
        raise _Refused([f"aksi '{form.action}' tidak dikenal"])
    text = form.text.strip()
    body = text if form.action in _ANSWERING | _TO_LKPP or form.action == "note" else ""
    files = form.files if form.action in _ANSWERING | _TO_LKPP else ()
    mail = _pseudo_mail(app, actor, token, f"Re: [{ticket.number}] {ticket.subject}", body, now, files)
    view = ticket_view(ticket, closed_by_lkpp(session, ticket))
    event: Event
    if lkpp:
        if view.state is not TicketState.ESCALATED:
            raise _Refused(["tiket ini tidak sedang dieskalasi ke LKPP"])
        reply = _reply(app, form, text, lkpp=True)
        if form.action == "reply" and not (reply.body or files):
            raise _Refused(["tulis jawaban atau lampirkan berkas"])
        event = LkppReplied(actor, reply, "signed in to the console", None, tuple(f.filename for f in files))
    else:
        reply = _reply(app, form, body, lkpp=False)
        if form.answer and form.action in _ANSWERING:
            reply = StaffReply((Command(CommandKind.ANSWER, form.answer.strip().lower(), f"#jawab {form.answer}"),
                                *reply.commands), reply.errors, reply.body)
            reply = with_canned_answers(app, session, ticket, mail, reply)
            mail = replace(mail, text=reply.body, new_text=reply.body)
        if form.action == "reply" and not reply.body:
            raise _Refused(["tulis jawaban atau pilih jawaban baku dulu"])
        if form.action == "note" and not reply.body:
            raise _Refused(["tulis catatannya dulu"])
        if form.action == "priority" and not form.reason.strip():
            raise _Refused(["sebutkan alasan perubahan prioritas"])
        if form.action == "take" and form.assignee and not app.settings.is_staff(form.assignee):
            raise _Refused([f"{form.assignee} bukan petugas helpdesk ini"])
        # #teruskan: the latest mail in LKPP's name without proof not relayed yet (the workflow refuses without one).
        unverified = unrelayed_lkpp(session, ticket) if form.action == "relay" else (None, None)
        event = StaffReplied(actor, reply, *unverified, merge_target=merge_target(session, ticket, reply),
                             files=tuple(f.filename for f in files))
    decision = decide(view, event, now, app.policy)
    refusal = _refusal(decision)
    if refusal:
        raise _Refused(refusal)
    if not lkpp:
        # The e-mail side holds such an answer until #kirim; here the second click is the #kirim.
        colleague = team_facts.colleague_answer(app, session, ticket, actor, now)
        if not form.confirmed and colleague is not None and team.hold(view.state, actor, decision, colleague, now):
            minutes = max(int((now - colleague.at).total_seconds() // 60), 0)
            raise _Refused([f"{colleague.actor} sudah menjawab tiket ini {minutes} menit lalu: "
                            f"\u201c{team.excerpt(colleague.text)}\u201d. Baca dulu jawabannya; bila jawaban Anda "
                            "tetap perlu dikirim, klik tombol yang sama sekali lagi."], confirm=True)
        decision = team.with_copies(decision, actor, reply.body, app.settings.staff.copy_answers)
    if mail.new_text or files:
        store_message(session, ticket, mail, SenderRole.LKPP if lkpp else SenderRole.STAFF,
                      channel="lkpp" if lkpp else "staff", now=now)
    apply_decision(app, session, ticket, mail, _from_web(decision), now, actor=actor)


def canned_text(app: App, ticket_id: int, actor: str, ref: str, now: datetime) -> str | None:
    """A canned answer's text for this ticket, as ``#jawab`` would put it in the mail (None: no such answer).

    Reads only: the console shows it in the text box, where the staff member edits it before sending.
    """
    answer = app.answers.find(ref)
    if answer is None:
        return None
    with app.factory() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None or ticket.helpdesk != app.settings.helpdesk_key:
            return None
        mail = _pseudo_mail(app, actor, "preview", ticket.subject, "", now)
        return app.renderer.env.from_string(answer.body).render(
            template_context(app, session, ticket, mail, None)).strip()


def _reply(app: App, form: ActionForm, body: str, *, lkpp: bool) -> StaffReply:
    """The StaffReply the keyword line of ``form.action`` and ``body`` below it would parse to."""
    action = form.action
    if action == "reply":
        return StaffReply((), (), body)
    if lkpp and action == "close":
        line = "#tutup"
    elif action == "request_data":
        line = "#mintadata " + ", ".join(" ".join(i.split()) for i in form.items if i.strip())
    elif action == "priority":
        line = f"#prioritas {form.level.strip()} {' '.join(form.reason.split())}"
    elif action == "called":
        line = "#telepon " + " ".join(form.text.split())
    elif action == "withdraw":  # the reason is for LKPP (the keyword's argument), not an answer to the user
        line = "#tarik " + " ".join(form.reason.split())
    elif action == "merge":
        line = "#gabung " + " ".join(form.into.split())
    else:
        line = KEYWORD[action]
    parsed = parse_staff_reply(line.strip(), app.policy.levels)
    commands = parsed.commands
    if action == "take" and form.assignee and commands:
        commands = (Command(CommandKind.TAKE, form.assignee.strip().lower(), f"#ambil {form.assignee}"),)
    return StaffReply(commands, parsed.errors, body)


def _refusal(decision: Decision) -> list[str]:
    """Why ``decide`` refused (the lines it would have mailed the sender), or [] when it acted."""
    kinds = {e.kind for e in decision.effects if isinstance(e, Record)}
    if EventKind.COMMAND_REJECTED in kinds:
        return [str(x) for m in decision.mails() if m.template == "staff_error"
                for x in m.context.get("errors", []) or []] or ["aksi ini tidak bisa dilakukan"]  # type: ignore[attr-defined]
    if EventKind.STAFF_EMPTY_REPLY in kinds:
        return ["tulis jawaban dulu"]
    return []


def _from_web(decision: Decision) -> Decision:
    """The same Decision, each event marked as done from the console."""
    effects = tuple(replace(e, data={**e.data, "channel": "web"}) if isinstance(e, Record) else e
                    for e in decision.effects)
    return replace(decision, effects=effects)


# ---- tickets for callers ----------------------------------------------------------------------


def open_for_caller(app: App, actor: str, form: CallerForm, token: str, now: datetime) -> ActionResult:
    """Open a ticket for a caller (phone, WhatsApp, at the desk, a forwarded mail): the caller's own.

    The caller is the requester: the acknowledgment and every later mail go to them; the rules run
    on the text as on a first mail. Staff and the channel are recorded with the ticket.
    """
    errors = caller_errors(app, form)
    if errors:
        return ActionResult("refused", tuple(errors))
    try:
        with app.factory.begin() as session:
            if not _claim(session, token, actor, "new", None, now):
                return ActionResult("duplicate")
            mail = _pseudo_mail(app, form.requester.strip().lower(), token, form.subject.strip(), form.body.strip(),
                                now, name=form.name.strip()[:200])
            outcome = open_ticket(app, session, mail, now)
            ticket = session.get(Ticket, outcome.ticket_id)
            assert ticket is not None
            phone = find_phone(form.phone) if form.phone.strip() else None
            if phone:
                ticket.phone = phone
            how = CALLER_CHANNELS[form.channel]
            record_event(session, ticket, Record(
                EventKind.OPENED_FOR_CALLER, f"opened by {actor} for {mail.from_addr} (came by {how})", 1,
                {"by": actor, "channel": "web", "source": how, "phone": ticket.phone}), now, actor)
            row = session.scalar(select(WebAction).where(WebAction.token == token))
            if row is not None:
                row.ticket_id = ticket.id
            return ActionResult("done", ticket_id=ticket.id, number=ticket.number or "")
    except IntegrityError:
        if _seen(app, token):
            return ActionResult("duplicate")
        raise


def caller_errors(app: App, form: CallerForm) -> list[str]:
    """What is wrong with a caller form (Indonesian, shown on the page)."""
    errors = []
    requester = form.requester.strip().lower()
    local, at, domain = requester.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() or c in "<>,;\"" for c in requester):
        errors.append("alamat e-mail pelapor tidak sah")
    elif app.settings.is_staff(requester) or requester == app.settings.helpdesk.address.lower():
        errors.append("pelapor harus pengguna, bukan petugas atau alamat helpdesk")
    if not form.subject.strip():
        errors.append("perihal wajib diisi")
    if not form.body.strip():
        errors.append("uraian masalah wajib diisi")
    if form.channel not in CALLER_CHANNELS:
        errors.append("pilih saluran: telepon, WhatsApp, datang langsung atau e-mail diteruskan")
    if form.phone.strip() and find_phone(form.phone) is None:
        errors.append("nomor telepon tidak dikenali")
    return errors
