"""One inbound mail = one transaction: dedupe, thread, decide, store, queue replies, commit.

This is the edge where the pure core (parse, threads, rules, commands, workflow) meets
storage and the outbox. Nothing here talks to IMAP or SMTP directly; ``poller`` does.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, bindparam, func, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from mailbot import bounces, logs, marks, oauth, outbox, sla_service, store, threads
from mailbot.answers import AnswerLibrary, AnswersError, Suggestion, load_answers, suggest
from mailbot.auth import verify_staff
from mailbot.budget import Budget, BudgetExceeded
from mailbot.loops import Bounce, automatic_reason, is_bounce, parse_bounce
from mailbot.commands import CommandError, CommandKind, StaffReply, parse_staff_reply
from mailbot.compose import OutgoingAttachment, build_message, make_message_id
from mailbot.config import ConfigError, Settings
from mailbot.fingerprint import content_digest
from mailbot.domain import Classification, InboundMail, SenderRole, TicketState
from mailbot.parse import parse_mail, substitute_message_id
from mailbot.render import BUILTIN_TEMPLATES, Renderer
from mailbot.rules import classify, mask_passwords
from mailbot.rules_config import PriorityTable, load_priority_table
from mailbot.store import Message, Outbox, Quarantine, StoredAttachment, Ticket, TicketEvent, Undeliverable
from mailbot.workflow import (
    STATE_LABELS,
    Assign,
    Decision,
    LkppReplied,
    OpenFollowUp,
    Policy,
    Record,
    SendMail,
    SetMissing,
    SetPriority,
    SetRating,
    StaffReplied,
    TicketView,
    UserOpened,
    UserReplied,
    decide,
)

log = logging.getLogger(__name__)

#: Templates that go to the user, to staff, or to LKPP: decides the conversation ("channel").
_CHANNEL_OF_RECIPIENT = {"user": "user", "staff": "staff", "assignee": "staff", "closer": "staff",
                         "sender": "staff", "lkpp": "lkpp", "coordinator": "staff"}

#: Outcome of a mail another worker is processing (or has just processed) right now: it stays in
#: the inbox for that worker, which commits and moves it (``[workers] cooperate``, PostgreSQL).
BUSY = "busy"

#: With cooperating workers, a duplicate whose first processing is younger than this is left to
#: the worker that processed it (it moves the mail itself; two MOVEs could archive it twice).
COOPERATE_GRACE = timedelta(seconds=60)

#: Attempts at a mail's transaction when it loses a race (unique key, deadlock, busy SQLite).
_RACE_ATTEMPTS = 3
#: ``session.info`` keys of the conversations read in a transaction (see ``_conversation_ids``).
_CONVERSATIONS = "mailbot.conversations"
_NEW_TICKETS = "mailbot.new_tickets"


@dataclass(frozen=True)
class Outcome:
    kind: str  # opened | updated | ignored | duplicate | quarantined | busy
    ticket_number: str | None = None
    reason: str = ""
    ticket_id: int | None = None  # the ticket of ticket_number, recorded on the inbound row


@dataclass
class App:
    settings: Settings
    factory: sessionmaker[Session]
    renderer: Renderer
    table: PriorityTable
    policy: Policy
    answers: AnswerLibrary
    #: The HMAC key of reply addresses and envelope senders: the configured one, or the one
    #: generated at first start and kept in the database (``store.signing_key``).
    secret: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.helpdesk.timezone)


def build_app(settings: Settings, *, migrate: bool = True, engine: Engine | None = None) -> App:
    """The App of one helpdesk; ``engine`` shares a deployment's database (see ``build_apps``)."""
    if engine is None:
        engine = store.make_engine(settings.database.url)
        if migrate:
            store.upgrade(engine)
        _keep_rotated_tokens(engine)
    if settings.workers.cooperate and engine.dialect.name == "sqlite":
        log.warning("workers.cooperate with SQLite: workers take turns (one writer and one sender at a time); "
                    "use PostgreSQL for several workers")
    table = load_priority_table(settings.paths.priorities)
    renderer = Renderer(settings.paths.templates)
    answers = load_answer_library(settings, renderer, table)
    secret = settings.helpdesk.secret_value or store.signing_key(
        engine, f"helpdesk/{settings.helpdesk_key}", datetime.now(timezone.utc))
    logs.register_secret(secret, rotating=False)
    return App(
        settings=settings,
        factory=store.make_sessionmaker(engine),
        renderer=renderer,
        table=table,
        policy=Policy(reopen_window=timedelta(days=settings.helpdesk.reopen_window_days),
                      levels=tuple(table.level_names)),
        answers=answers,
        secret=secret,
    )


def secret_source(settings: Settings) -> str:
    """Where a helpdesk's signing secret comes from, for ``check-config`` (never the secret)."""
    if settings.helpdesk.secret_value:
        return "configured (helpdesk.secret" + ("_env" if settings.helpdesk.secret_env else "") + ")"
    return "generated at first start and kept in the database (signing_keys)"


def build_apps(settings: Settings, *, migrate: bool = True, only: str | None = None) -> list[App]:
    """One App per helpdesk of the deployment (``only``: just that one), all on one engine.

    Each has its own settings, renderer (template overrides), priority table and answers.
    """
    chosen = [settings.for_helpdesk(only)] if only is not None else list(settings.per_helpdesk())
    engine = store.make_engine(settings.database.url)
    if migrate:
        store.upgrade(engine)
    _keep_rotated_tokens(engine)
    return [build_app(s, migrate=False, engine=engine) for s in chosen]


def _keep_rotated_tokens(engine: Engine) -> None:
    """OAuth2 refresh tokens that the provider rotates are kept in this database (``oauth``)."""
    oauth.use_vault(store.DatabaseTokenVault(store.make_sessionmaker(engine)))


def load_answer_library(settings: Settings, renderer: Renderer, table: PriorityTable) -> AnswerLibrary:
    """Built-in answers, then the deployment's own (same key overrides); errors are one line."""
    folders = [BUILTIN_TEMPLATES / "answers"]
    if settings.paths.templates:
        folders.append(settings.paths.templates / "answers")
    try:
        library = load_answers(folders, renderer.env, [c.key for c in table.categories])
    except AnswersError as exc:
        raise ConfigError(f"canned answer error: {exc}") from None
    unknown = [c for c in settings.answers.auto_answer_categories if c not in {x.key for x in table.categories}]
    if unknown:
        raise ConfigError(f"config error: answers.auto_answer_categories: '{unknown[0]}' is not a category")
    return library


# ---- classification of the sender ------------------------------------


def sender_role(settings: Settings, mail: InboundMail) -> SenderRole:
    if mail.x_mailbot_ticket and mail.from_addr == settings.helpdesk.address:
        return SenderRole.SELF
    if settings.is_staff(mail.from_addr):
        return SenderRole.STAFF
    if mail.from_addr == settings.escalation.lkpp_address:
        return SenderRole.LKPP
    return SenderRole.USER


# ---- the transaction ----------------------------------------------------------------------


def process_raw(app: App, raw: bytes, now: datetime, *, clock: Callable[[], float] = time.monotonic) -> Outcome:
    """Handle one inbound mail in one transaction; poison mail ends in quarantine.

    The mail has ``storage.max_processing_seconds``: a mail over it (checked between stages)
    goes to quarantine with the reason, so one mail cannot hold up the mailbox for long.
    """
    budget = Budget(app.settings.storage.max_processing_seconds, clock)
    try:
        mail = parse_mail(raw, max_attachment_bytes=app.settings.storage.max_attachment_bytes)
        budget.check("parsing")
    except BudgetExceeded as exc:
        return quarantine(app, raw, None, str(exc), now)
    except Exception as exc:  # noqa: BLE001 - any parser failure is this mail's problem only
        return quarantine(app, raw, None, f"unparseable: {type(exc).__name__}: {exc}", now)
    if _not_a_mail(mail):
        return quarantine(app, raw, mail, "unparseable: not an e-mail message (no From, Date, Subject or Message-ID)", now)
    if len(raw) > app.settings.storage.max_message_bytes:
        return quarantine(app, raw, mail, f"message of {len(raw)} bytes exceeds storage.max_message_bytes", now)
    if not mail.from_addr:
        # Nobody to answer and nobody to open a ticket for: keep it where a person will look.
        return quarantine(app, raw, mail, "no sender address (From missing or unreadable)", now)
    digest = content_digest(raw)
    for attempt in range(1, _RACE_ATTEMPTS + 1):
        try:
            with app.factory.begin() as session:
                # Claim the Message-ID first: a mail seen before (a crash before the move, or another
                # worker that fetched it too) is recognised here, before any work is done.
                claim, mail = _claim(app, session, mail, digest, now)
                if claim.inbound_id is None:
                    return _seen(app, claim, now)
                outcome = _handle(app, session, mail, now, budget)
                budget.check("deciding and queueing the replies")
                store.record_inbound(session, claim, outcome=outcome.kind, reason=outcome.reason,
                                     ticket_id=outcome.ticket_id)
                return outcome
        except BudgetExceeded as exc:  # rolled back: nothing of it was kept
            log.warning("mail %s: %s", mail.message_id, exc)
            return quarantine(app, raw, mail, str(exc), now)
        except Exception as exc:  # noqa: BLE001 - the transaction rolled back; keep the mail, go on
            if store.is_conflict(exc) and attempt < _RACE_ATTEMPTS:
                # Another transaction got there first (the same mail, a ticket row, SQLite's lock):
                # nothing of ours was kept; look again, and the claim will tell what happened.
                log.info("mail %s: concurrent change (%s), trying again", mail.message_id, type(exc).__name__)
                continue
            if store.is_disconnect(exc):
                # The database went away (restart, network): not this mail's fault. It stays in the
                # inbox and is processed once the database is back (the caller reconnects).
                raise
            log.exception("mail %s could not be processed", mail.message_id)
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            return quarantine(app, raw, mail, f"processing failed: {detail}", now)
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns


def distinct_message_id(message_id: str, digest: str) -> str:
    """The key of a mail that reuses another mail's Message-ID: its own, made from its content."""
    return f"{message_id}#{digest[:24]}"[-998:]


def _claim(app: App, session: Session, mail: InboundMail, digest: str,
           now: datetime) -> tuple[store.Claim, InboundMail]:
    """Claim the mail by Message-ID; a *different* mail under a known Message-ID is its own mail.

    Scanners, broken mail merges and attackers reuse Message-IDs: only the same content is a
    duplicate. The other mail is claimed, stored and threaded under a key made from its content.
    """
    key = app.settings.helpdesk_key
    claim = store.claim_inbound(session, mail.message_id, sender=mail.from_addr, now=now, helpdesk=key,
                                digest=digest)
    if claim.other_mail(digest):
        log.warning("mail %s: Message-ID already used by a different mail; processed as its own mail",
                    mail.message_id)
        mail = replace(mail, message_id=distinct_message_id(mail.message_id, digest))
        claim = store.claim_inbound(session, mail.message_id, sender=mail.from_addr, now=now, helpdesk=key,
                                    digest=digest)
    return claim, mail


def _seen(app: App, claim: store.Claim, now: datetime) -> Outcome:
    """The outcome for a mail whose Message-ID is taken (busy elsewhere, or processed before)."""
    if claim.busy:
        return Outcome(BUSY, reason="being processed by another worker")
    if app.settings.workers.cooperate and claim.seen_at is not None and claim.seen_at > now - COOPERATE_GRACE:
        return Outcome(BUSY, reason="just processed by another worker, which moves it")
    # Seen before (a crash before the move): a quarantined mail goes back to quarantine.
    return Outcome("duplicate", reason="already quarantined" if claim.seen == "quarantined"
                   else "Message-ID already processed")


def _not_a_mail(mail: InboundMail) -> bool:
    """Bytes without any of From, Date, Subject and Message-ID are not an e-mail message."""
    return (not mail.from_addr and mail.date is None and not mail.subject
            and any(d.startswith("missing Message-ID") for d in mail.defects))


def quarantine(app: App, raw: bytes, mail: InboundMail | None, error: str, now: datetime) -> Outcome:
    message_id = mail.message_id if mail else substitute_message_id(raw)
    digest = content_digest(raw)
    for attempt in range(1, _RACE_ATTEMPTS + 1):
        try:
            with app.factory.begin() as session:
                key = app.settings.helpdesk_key
                sender = mail.from_addr if mail else ""
                claim = store.claim_inbound(session, message_id, sender=sender, now=now, helpdesk=key, digest=digest)
                if claim.other_mail(digest):
                    message_id = distinct_message_id(message_id, digest)
                    claim = store.claim_inbound(session, message_id, sender=sender, now=now, helpdesk=key,
                                                digest=digest)
                if claim.inbound_id is None:
                    return _seen(app, claim, now)
                session.add(Quarantine(helpdesk=app.settings.helpdesk_key, message_id=message_id,
                                       sender=mail.from_addr if mail else "",
                                       subject=mail.subject[:500] if mail else "", error=error[:4000], raw=raw,
                                       at=now))
                store.record_inbound(session, claim, outcome="quarantined", reason=error[:4000], ticket_id=None)
            break
        except Exception as exc:
            if store.is_conflict(exc) and attempt < _RACE_ATTEMPTS:
                continue
            raise
    log.warning("mail %s quarantined: %s", message_id, error.splitlines()[0][:300])
    return Outcome("quarantined", reason=error)


def _handle(app: App, session: Session, mail: InboundMail, now: datetime, budget: Budget) -> Outcome:
    settings = app.settings
    role = sender_role(settings, mail)
    if role is SenderRole.SELF:
        return Outcome("ignored", reason="the bot's own mail came back (loop)")
    if mail.x_mailbot_hops > settings.escalation.max_hops:
        return Outcome("ignored", reason=f"hop limit: X-Mailbot-Hops {mail.x_mailbot_hops}")
    key = settings.helpdesk_key
    # Every lookup stays inside this helpdesk: its numbers, its threads (one deployment, one database).
    match = threads.match_thread(
        mail,
        prefix=settings.helpdesk.ticket_prefix,
        ticket_for_ids=lambda ids: store.ticket_for_message_ids(session, ids, key),
        participants=lambda tid: store.participants(session, tid),
        ticket_exists=lambda tid: session.get(Ticket, tid) is not None,
        ticket_for_tag=lambda seq: store.ticket_for_seq(session, key, seq),
    )
    ticket_id = match.ticket_id
    signed = threads.signed_ticket((*mail.to, *mail.cc, *mail.delivered_to), settings.helpdesk.address,
                                   app.secret)
    if ticket_id is None and role is SenderRole.STAFF and signed is not None:
        ticket_id = signed  # a staff reply to the per-ticket address, even without thread headers
    # Locked until the commit: another worker's mail for this ticket, or the SLA tick, waits for us.
    ticket = store.lock_ticket(session, ticket_id) if ticket_id is not None else None
    if ticket is not None and ticket.helpdesk != key:
        ticket = None  # another helpdesk's ticket (a reply address signed with a shared secret): not ours

    if is_bounce(mail):
        return _bounce(app, session, mail, now)
    auto = automatic_reason(mail)
    if auto is not None:
        if ticket is None:
            return Outcome("ignored", reason=f"automatic mail without a ticket: {auto}")
        _store_message(session, ticket, mail, role, channel=_channel_of(role), auto=True, now=now)
        _event(session, ticket, Record("auto_mail", f"{auto} from {mail.from_addr}"), now, mail.from_addr)
        return Outcome("updated", ticket.number, f"recorded only: {auto}", ticket.id)

    if ticket is None:
        return _open(app, session, mail, now, parent=None, budget=budget)

    view = _view(ticket)
    if role is SenderRole.STAFF:
        verdict = verify_staff(mail, ticket_id=ticket.id, signed_ticket_id=signed,
                               methods=settings.staff.command_auth,
                               trusted_authserv_ids=settings.staff.trusted_authserv_ids)
        if not verdict.ok:
            # A From header alone proves nothing: no command runs, and the real staff member is told
            # (a few times an hour at most: a flood of forgeries must not become a flood of warnings).
            _store_message(session, ticket, mail, role, channel="staff", now=now)
            warned = _recent_unverified(session, app.settings.helpdesk_key, mail.from_addr, now)
            _event(session, ticket, Record("command_unverified",
                                           f"mail from {mail.from_addr} not authenticated ({verdict.how}); "
                                           "no command run" + ("" if warned < _SPOOF_WARNINGS_PER_HOUR else
                                                               "; sender not warned again (hourly cap)")),
                   now, mail.from_addr)
            if warned < _SPOOF_WARNINGS_PER_HOUR:
                _apply(app, session, ticket, mail, Decision(view.state, (SendMail("sender", "staff_unverified", {
                    "capped": _SPOOF_WARNINGS_PER_HOUR if warned + 1 == _SPOOF_WARNINGS_PER_HOUR else 0}),)), now)
            return Outcome("updated", ticket.number, f"staff mail not authenticated: {verdict.how}", ticket.id)
        reply = _with_canned_answers(app, session, ticket, mail,
                                     parse_staff_reply(mail.new_text, app.policy.levels))
        decision = decide(view, StaffReplied(mail.from_addr, reply), now, app.policy)
        _store_message(session, ticket, mail, role, channel="staff", now=now)
    elif role is SenderRole.LKPP:
        reply = parse_staff_reply(mail.new_text, app.policy.levels)
        decision = decide(view, LkppReplied(mail.from_addr, reply), now, app.policy)
        _store_message(session, ticket, mail, role, channel="lkpp", now=now)
    else:
        decision = decide(view, UserReplied(mail.from_addr, mail.new_text), now, app.policy)
        if any(isinstance(e, OpenFollowUp) for e in decision.effects):
            return _open(app, session, mail, now, parent=ticket, budget=budget)
        _store_message(session, ticket, mail, role, channel="user", now=now)
    _apply(app, session, ticket, mail, decision, now)
    return Outcome("updated", ticket.number, f"{role.value} mail; thread by {match.how if match.ticket_id else 'reply address'}", ticket.id)


#: Warnings about unverified mail in a staff member's name, per address and hour.
_SPOOF_WARNINGS_PER_HOUR = 3


def _recent_unverified(session: Session, helpdesk: str, sender: str, now: datetime) -> int:
    """How many unverified mails in ``sender``'s name this helpdesk recorded in the last hour."""
    return session.scalar(select(func.count(TicketEvent.id)).join(Ticket, Ticket.id == TicketEvent.ticket_id).where(
        Ticket.helpdesk == helpdesk, TicketEvent.kind == "command_unverified", TicketEvent.actor == sender,
        TicketEvent.at >= now - timedelta(hours=1))) or 0


def _bounce(app: App, session: Session, mail: InboundMail, now: datetime) -> Outcome:
    """A delivery report: believed only when it is about a mail we sent (see ``bounces``).

    A believed report marks (for this helpdesk) only the recipients of that mail, and staff are
    told once per new mark. Any other report is recorded and changes nothing.
    """
    report = parse_bounce(mail)
    key = app.settings.helpdesk_key
    sent, proof = _reported_mail(app, session, mail, report)
    verdict = bounces.judge(report, proof=proof, sent_to=sent.recipients if sent else (), now=now)
    ticket_id = sent.ticket_id if sent is not None else None
    if ticket_id is None and not verdict.believed:
        # Recorded on the ticket it seems to be about, for staff to see; it marks nothing.
        ticket_id = store.ticket_for_message_ids(session, mail.thread_ids, key)
    ticket = store.lock_ticket(session, ticket_id) if ticket_id is not None else None
    if ticket is not None and ticket.helpdesk != key:
        ticket = None
    new_marks = [m for m in verdict.marks if marks.mark_address(session, key, m, ticket.id if ticket else None, now)]
    summary = ", ".join(f"{r.address} ({r.status or '?'})" for r in report.recipients) or "unknown recipient"
    what = "bounce" if verdict.believed else "unproven delivery report"
    detail = f"{what}: {summary}; {verdict.how}"
    if verdict.ignored:
        detail += "; not marked: " + "; ".join(verdict.ignored)
    if ticket is None:
        return Outcome("ignored", reason=f"{detail} (no ticket)"[:4000])
    _store_message(session, ticket, mail, SenderRole.USER, channel="user", now=now, auto=True)
    _event(session, ticket, Record("bounce" if verdict.believed else "bounce_unproven", detail[:4000], data={
        "recipients": [r.address for r in report.recipients], "marked": [m.address for m in verdict.marks],
        "proof": verdict.how if verdict.believed else ""}), now, mail.from_addr)
    staff = set(app.settings.staff.addresses)
    # Staff hear of each new mark once, and of every refused message (it did not arrive); never of a
    # bounced staff notification (that would answer a bounce with more mail to the same place).
    told = [m for m in new_marks if m.address not in staff]
    refused = [r for r in verdict.refused if r.address not in staff]
    if told or refused:
        _queue_mail(app, session, ticket, mail, SendMail("staff", "staff_bounce", {
            "bounced": ", ".join([f"{m.address} ({m.reason[:200]})" for m in told]
                                 + [f"{r.address} ({r.status} {r.diagnostic[:200]})".strip() for r in refused]),
            "marks": [{"address": m.address, "permanent": m.permanent, "refused": False,
                       "until": _local(app, m.expires_at) if m.expires_at else ""} for m in told]
            + [{"address": r.address, "permanent": False, "refused": True, "until": ""} for r in refused]}),
            now, None, None)
    return Outcome("updated", ticket.number, detail[:4000], ticket.id)


@dataclass(frozen=True)
class _SentMail:
    recipients: tuple[str, ...]
    ticket_id: int | None


def _reported_mail(app: App, session: Session, mail: InboundMail,
                   report: Bounce) -> tuple[_SentMail | None, str | None]:
    """The mail of ours a delivery report is about, and the proof of it (or None, None)."""
    key = app.settings.helpdesk_key
    token = bounces.verp_token((*mail.to, *mail.cc, *mail.delivered_to), app.settings.helpdesk.address, app.secret)
    if token is not None:
        row = session.execute(select(Outbox.recipients, Outbox.ticket_id).where(
            Outbox.verp == token, Outbox.helpdesk == key)).first()
        if row is not None:
            return _SentMail(tuple(row[0]), row[1]), "returned to the signed envelope sender of our mail"
    if report.original_message_id:
        row = session.execute(select(Outbox.recipients, Outbox.ticket_id).where(
            Outbox.message_id == report.original_message_id, Outbox.helpdesk == key)).first()
        if row is not None:
            return _SentMail(tuple(row[0]), row[1]), f"quotes our Message-ID {report.original_message_id}"
    return None, None


def _with_canned_answers(app: App, session: Session, ticket: Ticket, mail: InboundMail,
                         reply: StaffReply) -> StaffReply:
    """Put the text of each ``#jawab`` answer after the staff member's own text; unknown ones are errors."""
    texts: list[str] = []
    errors = list(reply.errors)
    for command in reply.commands:
        if command.kind is not CommandKind.ANSWER:
            continue
        answer = app.answers.find(command.arg)
        if answer is None:
            errors.append(CommandError(command.line, f"jawaban '{command.arg}' tidak ada di pustaka jawaban"))
            continue
        context = _context(app, session, ticket, mail, None)
        texts.append(app.renderer.env.from_string(answer.body).render(context).strip())
    if not texts and len(errors) == len(reply.errors):
        return reply
    body = "\n\n".join(x for x in (reply.body, *texts) if x)
    return StaffReply(reply.commands, tuple(errors), body)


def _suggestions(app: App, ticket: Ticket, mail: InboundMail) -> list[Suggestion]:
    return suggest(app.answers, category=ticket.category, subject=mail.subject, text=mail.new_text,
                   limit=app.settings.answers.suggestions)


def _channel_of(role: SenderRole) -> str:
    return {SenderRole.STAFF: "staff", SenderRole.LKPP: "lkpp"}.get(role, "user")


def _open(app: App, session: Session, mail: InboundMail, now: datetime, parent: Ticket | None,
          budget: Budget | None = None) -> Outcome:
    settings = app.settings
    classification = classify(app.table, subject=mail.subject, text=mail.new_text, attachments=mail.attachments,
                              now=now)
    if budget is not None:
        budget.check("the priority rules")
    subject = threads.clean_subject(mail.subject, settings.helpdesk.ticket_prefix) or "(tanpa subjek)"
    seq = store.next_seq(session, settings.helpdesk_key)
    ticket = Ticket(
        helpdesk=settings.helpdesk_key, seq=seq, number=threads.format_number(settings.helpdesk.ticket_prefix, seq),
        state=TicketState.NEW.value, priority=classification.priority, category=classification.category,
        category_matched=classification.matched, subject=subject[:500], requester=mail.from_addr,
        requester_name=mail.from_name[:200], phone=classification.phone, parent_id=parent.id if parent else None,
        missing=[], opened_at=now, updated_at=now,
    )
    session.add(ticket)
    session.flush()
    _new_conversation(session, ticket.id)
    _store_message(session, ticket, mail, SenderRole.USER, channel="user", now=now)
    decision = decide(None, UserOpened(mail.from_addr, classification, parent.number if parent else None), now,
                      app.policy)
    if parent is not None:
        _event(session, parent, Record("follow_up", f"the user wrote after closing; new ticket {ticket.number}"),
               now, mail.from_addr)
    _apply(app, session, ticket, mail, decision, now, classification=classification, new_ticket=True)
    _maybe_auto_answer(app, session, ticket, mail, classification, now)
    return Outcome("opened", ticket.number, "new thread" if parent is None else f"follow-up of {parent.number}", ticket.id)


def _maybe_auto_answer(app: App, session: Session, ticket: Ticket, mail: InboundMail,
                       classification: Classification, now: datetime) -> None:
    """Auto-answer mode: a confident canned answer for configured categories; staff still follow up."""
    cfg = app.settings.answers
    if ticket.category not in cfg.auto_answer_categories or ticket.missing or not classification.matched:
        return
    best = next(iter(_suggestions(app, ticket, mail)), None)
    if best is None or not best.answer.auto_answer or best.score < cfg.auto_answer_min_score \
            or ticket.category not in best.answer.categories:
        return
    text = app.renderer.env.from_string(best.answer.body).render(_context(app, session, ticket, mail, None)).strip()
    _event(session, ticket, Record("auto_answered", f"canned answer {best.answer.key} sent automatically "
                                   f"(score {best.score:g}: {', '.join(best.reasons)})",
                                   data={"answer": best.answer.key, "score": best.score}), now, "mailbot")
    _queue_mail(app, session, ticket, mail, SendMail("user", "auto_answer", {"answer": text}), now, classification,
                None)


def _view(ticket: Ticket) -> TicketView:
    return TicketView(state=TicketState(ticket.state), priority=ticket.priority, assignee=ticket.assignee,
                      closed_by=ticket.closed_by, closed_at=ticket.closed_at, missing=tuple(ticket.missing or ()))


def _store_message(session: Session, ticket: Ticket, mail: InboundMail, role: SenderRole, *, channel: str,
                   now: datetime, auto: bool = False) -> None:
    # Users do send passwords: never store or relay them in clear.
    text, _ = mask_passwords(mail.text)
    new_text, _ = mask_passwords(mail.new_text)
    message_pk = _add_message(session, {
        "ticket_id": ticket.id, "message_id": mail.message_id, "direction": "in", "role": role.value,
        "channel": channel, "sender": mail.from_addr, "recipients": list(mail.to + mail.cc),
        "subject": mail.subject[:500], "text": text, "new_text": new_text, "template": None, "auto": auto, "at": now,
    }, returning_id=bool(mail.attachments))
    if mail.attachments:
        session.execute(insert(StoredAttachment.__table__), [
            {"message_pk": message_pk, "filename": att.filename, "content_type": att.content_type, "size": att.size,
             "content": att.content, "inline": att.inline} for att in mail.attachments])
    ticket.updated_at = now


def _event_row(ticket: Ticket, record: Record, now: datetime, actor: str) -> dict[str, Any]:
    return {"ticket_id": ticket.id, "kind": record.kind, "at": now, "actor": actor, "detail": record.detail,
            "sop_step": record.sop_step, "data": dict(record.data)}


#: Events go in as Core inserts, at once (like messages, see ``_add_message``): in the order they
#: happen, without the ORM's bookkeeping.
_INSERT_EVENT = insert(TicketEvent.__table__)


def _event(session: Session, ticket: Ticket, record: Record, now: datetime, actor: str) -> None:
    session.execute(_INSERT_EVENT, _event_row(ticket, record, now, actor))


def _apply(app: App, session: Session, ticket: Ticket, mail: InboundMail, decision: Decision, now: datetime,
           classification: Classification | None = None, *, new_ticket: bool = False) -> None:
    """Carry out a Decision: ticket fields, events, and queued mail (all in this transaction).

    ``new_ticket``: the ticket was created in this transaction and has no events yet.
    """
    previous_closer = ticket.closed_by
    events: list[dict[str, Any]] = []
    for effect in decision.effects:
        if isinstance(effect, Record):
            if effect.kind in {"closed", "escalated"} and mail.date is not None:
                # When staff wrote the command: the SOP's "10 minutes after solving" runs from here.
                effect = Record(effect.kind, effect.detail, effect.sop_step,
                                {**effect.data, "written_at": mail.date.isoformat()})
            events.append(_event_row(ticket, effect, now, mail.from_addr))
        elif isinstance(effect, SetPriority):
            ticket.priority = effect.level
        elif isinstance(effect, Assign):
            ticket.assignee = effect.address
        elif isinstance(effect, SetMissing):
            ticket.missing = list(effect.items)
        elif isinstance(effect, SetRating):
            ticket.rating = effect.rating
    if decision.state is TicketState.CLOSED and ticket.state != TicketState.CLOSED.value:
        ticket.closed_at = now
        ticket.closed_by = decision.closed_by
    elif decision.state is not TicketState.CLOSED and ticket.state == TicketState.CLOSED.value:
        ticket.closed_at = None
    ticket.state = decision.state.value
    ticket.updated_at = now
    # Deadlines are columns on the ticket, recomputed with every change (the scheduler only ticks);
    # before the mails, so that notifications can state the deadline. The events go in with one
    # executemany (ORM objects would be inserted one by one, for their ids). A new ticket's
    # events are all here: its clocks need no query, so its row is written once, with them.
    if new_ticket:
        sla_service.refresh_deadlines(session, ticket, app, now,
                                      new_ticket_events=[TicketEvent(**row) for row in events])
    if events:
        session.execute(_INSERT_EVENT, events)
    if not new_ticket:
        sla_service.refresh_deadlines(session, ticket, app, now)
    for effect in decision.mails():
        _queue_mail(app, session, ticket, mail, effect, now, classification, previous_closer)


def _recipients(app: App, ticket: Ticket, mail: InboundMail, to: str, previous_closer: str | None) -> list[str]:
    staff = list(app.settings.staff.addresses)
    if to == "user":
        return [ticket.requester]
    if to == "lkpp":
        return [app.settings.escalation.lkpp_address]
    if to == "sender":
        return [mail.from_addr]
    if to == "assignee":
        return [ticket.assignee] if ticket.assignee else staff
    if to == "closer":
        return [previous_closer] if previous_closer else staff
    if to == "coordinator":  # SLA breach notices (sla_service); all staff when none is configured
        return [app.settings.staff.coordinator] if app.settings.staff.coordinator else staff
    return staff


def _queue_mail(app: App, session: Session, ticket: Ticket, mail: InboundMail, effect: SendMail, now: datetime,
                classification: Classification | None, previous_closer: str | None) -> None:
    settings = app.settings
    recipients = [r for r in _recipients(app, ticket, mail, effect.to, previous_closer) if r]
    if not recipients:
        return
    role = sender_role(settings, mail)
    automatic = role in {SenderRole.USER, SenderRole.LKPP} and effect.to in {"user", "lkpp"}
    if automatic:
        # LKPP's answer to the user is a person's answer: like staff's, a mark does not hold it back.
        blocked = _not_sendable(app, session, recipients[0], now, marks=role is SenderRole.USER)
        if blocked:
            _event(session, ticket, Record("mail_suppressed", f"{effect.template} to {recipients[0]} not sent: {blocked}"),
                   now, "mailbot")
            return
    channel = _CHANNEL_OF_RECIPIENT[effect.to]
    attachments, omitted = _attachments_for(app, session, ticket, mail, effect.template)
    context = _context(app, session, ticket, mail, classification)
    context.update(effect.context)
    if omitted:
        context.update(omitted=omitted, dossier_limit=_size_text(app.settings.escalation.max_dossier_bytes))
        _event(session, ticket, Record("dossier_trimmed", f"{len(omitted)} attachment(s) not in the {effect.template} "
                                       "mail (size budget escalation.max_dossier_bytes), listed by name instead",
                                       data={"omitted": [a["filename"] for a in omitted]}), now, "mailbot")
    rendered = app.renderer.render(effect.template, context)
    rows = _conversation_ids(session, ticket.id, channel)
    thread = [mid for mid, _ in rows]
    if channel == "user" and effect.to == "user":
        # Answer the user's own latest mail so their client threads it.
        user_ids = [mid for mid, direction in rows if direction == "in"]
        in_reply_to = user_ids[-1] if user_ids else (thread[-1] if thread else None)
    else:
        in_reply_to = thread[-1] if thread else None
    domain = settings.helpdesk.address.partition("@")[2]
    message_id = make_message_id(domain)
    staff_facing = channel == "staff"
    msg = build_message(
        rendered, sender_name=settings.helpdesk.name, sender=settings.helpdesk.address, to=recipients,
        message_id=message_id, date=now, ticket_number=ticket.number or "", in_reply_to=in_reply_to,
        references=list(thread), hops=mail.x_mailbot_hops + 1,
        reply_to=threads.reply_address(settings.helpdesk.address, ticket.id, app.secret)
        if staff_facing else None,
        auto_submitted="auto-replied" if channel == "user" else "auto-generated",
        attachments=attachments,
    )
    token = bounces.new_token() if settings.smtp.verp else None
    mail_from = bounces.verp_address(settings.helpdesk.address, token, app.secret) if token else settings.helpdesk.address
    outbox.queue(session, msg, message_id=message_id, mail_from=mail_from, recipients=recipients,
                 ticket_id=ticket.id, now=now, automatic=automatic, helpdesk=settings.helpdesk_key, verp=token)
    _add_message(session, {
        "ticket_id": ticket.id, "message_id": message_id, "direction": "out", "role": "bot", "channel": channel,
        "sender": settings.helpdesk.address, "recipients": recipients, "subject": rendered.subject[:500],
        "text": rendered.text, "new_text": rendered.text, "template": effect.template, "auto": False, "at": now,
    })


_CONVERSATION = (select(Message.message_id, Message.direction)
                 .where(Message.ticket_id == bindparam("ticket"), Message.channel == bindparam("channel"))
                 .order_by(Message.id))


def _conversation_ids(session: Session, ticket_id: int, channel: str) -> list[tuple[str, str]]:
    """The (Message-ID, direction) pairs of one channel of a ticket's conversation, oldest first.

    Read once per transaction and then kept current by ``_add_message``: a mail that queues
    several replies (the acknowledgment, the notice to staff) would otherwise read it again
    for each. A ticket opened in this transaction needs no query at all (``_new_conversation``).
    """
    known: dict[tuple[int, str], list[tuple[str, str]]] = session.info.setdefault(_CONVERSATIONS, {})
    key = (ticket_id, channel)
    if key not in known:
        if ticket_id in session.info.get(_NEW_TICKETS, ()):
            known[key] = []
        else:
            known[key] = [(mid, direction) for mid, direction in session.execute(
                _CONVERSATION, {"ticket": ticket_id, "channel": channel})]
    return known[key]


def _new_conversation(session: Session, ticket_id: int) -> None:
    """``ticket_id`` was created in this transaction: its messages are all added through here."""
    session.info.setdefault(_NEW_TICKETS, set()).add(ticket_id)


#: A ticket's messages go in as Core inserts, at once and in the order they are added (their ids
#: order the conversation): as ORM objects, each cost the unit of work's bookkeeping, and most
#: were inserted one by one anyway, by whichever query came next and flushed them.
_INSERT_MESSAGE = insert(Message.__table__)
_INSERT_MESSAGE_ID = insert(Message.__table__).returning(Message.__table__.c.id)


def _add_message(session: Session, row: dict[str, Any], *, returning_id: bool = False) -> int | None:
    """Every message of a transaction goes in through here, so that ``_conversation_ids`` stays
    true; with ``returning_id``, the new row's id (for its attachments)."""
    message_pk = None
    if returning_id:
        message_pk = session.execute(_INSERT_MESSAGE_ID, row).scalar_one()
    else:
        session.execute(_INSERT_MESSAGE, row)
    known: dict[tuple[int, str], list[tuple[str, str]]] = session.info.setdefault(_CONVERSATIONS, {})
    key = (row["ticket_id"], row["channel"])
    if key in known:
        known[key].append((row["message_id"], row["direction"]))
    elif row["ticket_id"] in session.info.get(_NEW_TICKETS, ()):
        known[key] = [(row["message_id"], row["direction"])]
    return message_pk


#: How many automatic mails a helpdesk queued to an address since a time (the hourly cap).
_RECENT_AUTOMATIC = select(func.count(Outbox.id)).where(
    Outbox.to_key == bindparam("address"), Outbox.helpdesk == bindparam("helpdesk"), Outbox.automatic.is_(True),
    Outbox.created_at >= bindparam("since"))
# Built once (it runs for nearly every automatic reply). One query for both checks, both per
# helpdesk: one helpdesk's bounces and mail must not silence another's.
_BOUNCED = select(Undeliverable.id).where(
    Undeliverable.address == bindparam("address"), Undeliverable.helpdesk == bindparam("helpdesk"),
    or_(Undeliverable.expires_at.is_(None), Undeliverable.expires_at > bindparam("now"))).exists()
_BOUNCED_AND_RECENT = select(_BOUNCED, _RECENT_AUTOMATIC.scalar_subquery())


def recent_automatic_mail(address: str, helpdesk: str, now: datetime) -> Select[tuple[int]]:
    """How many automatic mails ``helpdesk`` queued to ``address`` in the hour before ``now``."""
    return _RECENT_AUTOMATIC.params(address=address.lower(), helpdesk=helpdesk, since=now - timedelta(hours=1))


def _not_sendable(app: App, session: Session, address: str, now: datetime, *, marks: bool = True) -> str | None:
    """Why an *automatic* mail to ``address`` must not go out (marked undeliverable for this
    helpdesk, or the automatic-mail cap), or None. Staff answers and escalations are never
    held back: they are sent, and a failure is reported."""
    is_bounced, count = session.execute(_BOUNCED_AND_RECENT, {
        "address": address.lower(), "helpdesk": app.settings.helpdesk_key, "now": now,
        "since": now - timedelta(hours=1)}).one()
    if is_bounced and marks:
        return "address marked undeliverable (mailbot addresses list)"
    if (count or 0) >= app.settings.loops.max_auto_mails_per_hour:
        return f"cap of {app.settings.loops.max_auto_mails_per_hour} automatic mails per hour reached"
    return None


def _attachments_for(app: App, session: Session, ticket: Ticket, mail: InboundMail,
                     template: str) -> tuple[list[OutgoingAttachment], list[dict[str, object]]]:
    """The files a mail carries, and (for the escalation dossier) those left out by its size budget."""
    if template == "escalation":
        return _dossier_attachments(app, session, ticket)
    if template in {"staff_new", "staff_user_reply", "lkpp_user_update"}:
        return [OutgoingAttachment(a.filename, a.content_type, a.content) for a in mail.attachments
                if a.content is not None], []
    return [], []


#: Base64 makes an attachment a third larger, and the dossier's text and headers need room too.
_DOSSIER_SHARE = 0.7


def _dossier_attachments(app: App, session: Session,
                         ticket: Ticket) -> tuple[list[OutgoingAttachment], list[dict[str, object]]]:
    """The user's files that fit the escalation's size budget (oldest first), and the others.

    Sizes are read first and only the chosen files' contents are loaded: a ticket with 60 MB of
    attachments must not need 60 MB (and its copies) in memory to send a 10 MB mail.
    """
    budget = int(app.settings.escalation.max_dossier_bytes * _DOSSIER_SHARE)
    rows = session.execute(
        select(StoredAttachment.id, StoredAttachment.filename, StoredAttachment.size)
        .join(Message).where(Message.ticket_id == ticket.id, Message.direction == "in",
                             StoredAttachment.content.is_not(None))
        .order_by(StoredAttachment.id)).all()
    chosen: list[int] = []
    omitted: list[dict[str, object]] = []
    used = 0
    for row_id, filename, size in rows:
        if used + size <= budget:
            chosen.append(row_id)
            used += size
        else:
            omitted.append({"filename": filename, "size": size, "size_text": _size_text(size)})
    files = [OutgoingAttachment(a.filename, a.content_type, a.content) for a in session.scalars(
        select(StoredAttachment).where(StoredAttachment.id.in_(store.padded(chosen)))
        .order_by(StoredAttachment.id)) if a.content is not None] if chosen else []
    return files, omitted


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{max(size, 1) / 1024:.0f} KB"


def _rating_link(address: str, ticket: Ticket, score: int) -> str:
    """A mailto: link that pre-fills a rating reply (threaded by the subject tag)."""
    subject = quote(f"Re: [{ticket.number}] Penilaian layanan")
    return f"mailto:{address}?subject={subject}&body={score}"


def _local(app: App, at: datetime) -> str:
    return at.astimezone(app.zone).strftime("%d-%m-%Y %H:%M %Z")


def _context(app: App, session: Session, ticket: Ticket, mail: InboundMail,
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
            "opened_local": _local(app, ticket.opened_at),
            "due_local": _local(app, ticket.due_at) if ticket.due_at else "",
        },
        "message": {"sender": mail.from_addr, "text": new_text or "(tanpa teks)",
                    "attachments": [a.filename for a in mail.attachments]},
        "answer": "", "items": [], "requested": [], "errors": [], "note": "", "closed": False, "by_lkpp": False,
        "password_found": bool(classification and classification.password_found),
        "reasons": [h.reason for h in classification.hits] if classification else [],
        "reopen_days": f"{settings.helpdesk.reopen_window_days:g}",
        # The ticket's history and the suggestions cost queries and scoring, and few templates show
        # them (escalation, staff_new, or a deployment's own): computed when a template reads them.
        "timeline": _Lazy(lambda: [{"at": _local(app, e.at), "kind": e.kind, "detail": e.detail}
                                   for e in ticket.events]),
        "conversation": _Lazy(lambda: _conversation(app, session, ticket)),
        "bounced": "", "marks": [], "omitted": [], "dossier_limit": "", "capped": 0,
        "suggestions": _Lazy(lambda: [{"id": x.answer.id, "key": x.answer.key, "title": x.answer.title}
                                      for x in _suggestions(app, ticket, mail)]),
        "rating_links": [{"score": n, "href": _rating_link(settings.helpdesk.address, ticket, n)} for n in range(5, 0, -1)],
    }
    return ctx


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
    return [{"at": _local(app, m.at), "role": m.role, "sender": m.sender, "text": m.new_text or m.text,
             "attachments": names.get(m.id, [])} for m in mails]


# ---- delivery failures reported by the outbox ----------------------------------------------


def delivery_failure_notifier(app: App) -> outbox.OnFailed:
    """The outbox's ``on_failed`` hook: record a failed mail on its ticket and tell staff.

    Only mail in a ticket's user or LKPP conversation is reported; a failed mail to staff
    (a notification, or one of these notices) is only recorded, so a broken staff mailbox
    cannot make the bot mail staff about mailing staff. A permanent refusal of the address (not
    of the message: 552 too large, content) also marks it undeliverable, as a bounce does.
    """

    def on_failed(session: Session, row: Outbox, now: datetime, permanent: bool) -> None:
        ticket = session.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
        if ticket is None:
            return
        failed = session.scalar(select(Message).where(Message.message_id == row.message_id))
        recipients = ", ".join(row.recipients)
        how = "refused permanently" if permanent else f"not accepted after {row.attempts} attempts"
        _event(session, ticket, Record("delivery_failed", f"mail to {recipients} {how}: {row.last_error[:500]}",
                                       data={"outbox_id": row.id, "message_id": row.message_id,
                                             "permanent": permanent}), now, "mailbot")
        if failed is None or failed.channel == "staff":
            return  # never notify about a failed notification
        if permanent:  # an address-level refusal marks the address; a refused message does not
            for mark in bounces.refusal_marks(row.last_error, row.recipients, now):
                marks.mark_address(session, app.settings.helpdesk_key, mark, ticket.id, now)
        # No inbound mail is behind this notice: "the mail in hand" is the bot's own.
        me = InboundMail(message_id=row.message_id, from_addr=app.settings.helpdesk.address,
                         from_name=app.settings.helpdesk.name, to=(), cc=(), subject="", date=None, in_reply_to=(),
                         references=(), text="", html=None, new_text="")
        delivery = {
            "outbox_id": row.id, "recipients": recipients, "subject": failed.subject, "error": row.last_error[:500],
            "attempts": row.attempts, "permanent": permanent, "template": failed.template or "",
            "sent_local": _local(app, row.created_at),
        }
        _queue_mail(app, session, ticket, me, SendMail("staff", "staff_delivery_failed", {"delivery": delivery}),
                    now, None, None)
        log.info("staff told that mail %s to %s could not be delivered", row.message_id, recipients)

    return on_failed


# ---- read side for the CLI ----------------------------------------------------------------


def ticket_summary(ticket: Ticket) -> dict[str, object]:
    return {
        "helpdesk": ticket.helpdesk, "number": ticket.number, "state": ticket.state, "priority": ticket.priority,
        "category": ticket.category,
        "subject": ticket.subject, "requester": ticket.requester, "assignee": ticket.assignee,
        "opened_at": ticket.opened_at.isoformat(), "updated_at": ticket.updated_at.isoformat(),
        "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
    }


def ticket_detail(ticket: Ticket) -> dict[str, object]:
    detail = ticket_summary(ticket)
    detail.update({
        "requester_name": ticket.requester_name, "phone": ticket.phone, "missing": ticket.missing,
        "closed_by": ticket.closed_by, "category_matched": ticket.category_matched, "rating": ticket.rating,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
        "paused_since": ticket.paused_since.isoformat() if ticket.paused_since else None,
        "messages": [
            {"message_id": m.message_id, "direction": m.direction, "role": m.role, "channel": m.channel,
             "sender": m.sender, "recipients": m.recipients, "subject": m.subject, "at": m.at.isoformat(),
             "template": m.template, "auto": m.auto, "text": m.new_text,
             "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size}
                             for a in m.attachments]}
            for m in ticket.messages
        ],
        "events": [
            {"kind": e.kind, "at": e.at.isoformat(), "actor": e.actor, "detail": e.detail, "sop_step": e.sop_step,
             "data": e.data}
            for e in ticket.events
        ],
    })
    return detail
