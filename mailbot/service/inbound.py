"""One inbound mail = one transaction: dedupe, thread, decide, store, queue replies, commit.

This is the edge where the pure core (parse, threads, rules, commands, workflow) meets
storage and the outbox. Nothing here talks to IMAP or SMTP directly; ``poller`` does.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from mailbot.core import team, threads
from mailbot.core.auth import verify_staff
from mailbot.core.budget import Budget, BudgetExceeded
from mailbot.core.commands import CommandError, CommandKind, StaffReply, parse_staff_reply
from mailbot.core.domain import Classification, EventKind, InboundMail, OutcomeKind, SenderRole, TicketState
from mailbot.core.fingerprint import content_digest
from mailbot.core.loops import automatic_reason, is_bounce
from mailbot.core.parse import parse_mail, substitute_message_id
from mailbot.core.rules import classify, detect_items
from mailbot.core.spam import spam_verdict
from mailbot.core.triage import Facts, Route, triage
from mailbot.core.workflow import (
    Event,
    LkppReplied,
    LkppUnverified,
    OpenFollowUp,
    Record,
    SendMail,
    StaffReplied,
    StaffUnverified,
    TicketView,
    UserOpened,
    UserReplied,
    decide,
)
from mailbot.mail import pdftext
from mailbot.service import team as team_facts
from mailbot.service.app import App
from mailbot.service.context import suggestions, template_context
from mailbot.service.delivery import handle_bounce
from mailbot.service.effects import (
    apply_decision,
    change_ticket,
    closed_by_lkpp,
    finish_decision,
    lkpp_verdict,
    merge_target,
    new_conversation,
    participants,
    queue_mail,
    record_event,
    role_of,
    signed_lkpp,
    store_message,
    ticket_view,
)
from mailbot.service.outcome import Outcome
from mailbot.storage import claims, store
from mailbot.storage.models import Message, Quarantine, Ticket, TicketEvent

log = logging.getLogger(__name__)

#: With cooperating workers, a duplicate whose first processing is younger than this is left to
#: the worker that processed it (it moves the mail itself; two MOVEs could archive it twice).
COOPERATE_GRACE = timedelta(seconds=60)

#: Attempts at a mail's transaction when it loses a race (unique key, deadlock, busy SQLite).
_RACE_ATTEMPTS = 3


class HeldAsSpam(Exception):
    """``core.triage`` held a new thread the mail server marked as spam: it goes to quarantine."""


class HeldAsFlood(Exception):
    """``core.triage`` held a new thread of a sender over the hourly cap: it goes to quarantine."""


def process_raw(app: App, raw: bytes, now: datetime, *, clock: Callable[[], float] = time.monotonic,
                released: bool = False) -> Outcome:
    """Handle one inbound mail in one transaction; poison mail ends in quarantine.

    The mail has ``storage.max_processing_seconds``: a mail over it (checked between stages)
    goes to quarantine with the reason, so one mail cannot hold up the mailbox for long.
    ``released``: an operator released it from quarantine (a spam verdict no longer holds it).
    """
    budget = Budget(app.settings.storage.max_processing_seconds, clock)
    try:
        mail = parse_mail(raw, max_attachment_bytes=app.settings.storage.max_attachment_bytes)
        budget.check("parsing")
    except BudgetExceeded as exc:
        return quarantine(app, raw, None, str(exc), now)
    except Exception as exc:
        return quarantine(app, raw, None, f"unparseable: {type(exc).__name__}: {exc}", now)
    if _not_a_mail(mail):
        return quarantine(app, raw, mail, "unparseable: not an e-mail message (no From, Date, Subject or Message-ID)", now)
    if len(raw) > app.settings.storage.max_message_bytes:
        return quarantine(app, raw, mail, f"message of {len(raw)} bytes exceeds storage.max_message_bytes", now)
    if not mail.from_addr and automatic_reason(mail) in {None, "no sender address"}:
        # Nobody to answer and nobody to open a ticket for: keep it where a person will look.
        # A mail system's report without a usable From ("Mail Delivery Subsystem <MAILER-DAEMON>",
        # "MAILER-DAEMON <>") goes on: it is a bounce (maybe of our own mail) or automatic mail,
        # which is recorded and never answered.
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
                # The ticket's changes go in with one UPDATE, at the end (``record_inbound`` flushes):
                # nothing read on the way depends on them (the queries read events, messages and
                # other tickets' fixed columns), and autoflushing them before each query wrote
                # the same row up to three times per mail. Explicit flushes still happen where an
                # id is needed (a new ticket) or a row must be seen (a mark, ``service.marks``).
                with session.no_autoflush:
                    outcome = _handle(app, session, mail, now, budget, hold=not released)
                budget.check("deciding and queueing the replies")
                claims.record_inbound(session, claim, outcome=outcome.kind, reason=outcome.reason,
                                     ticket_id=outcome.ticket_id)
                return outcome
        except BudgetExceeded as exc:  # rolled back: nothing of it was kept
            log.warning("mail %s: %s", mail.message_id, exc)
            return quarantine(app, raw, mail, str(exc), now)
        except HeldAsSpam as exc:  # rolled back: no ticket, nothing queued
            return quarantine(app, raw, mail, f"spam: {exc}; not answered (mailbot quarantine retry "
                                              "processes it if it is not spam)", now)
        except HeldAsFlood as exc:  # rolled back: no ticket, nothing queued
            return quarantine(app, raw, mail, f"flood: {exc}; not answered (mailbot quarantine retry "
                                              "opens its ticket)", now)
        except Exception as exc:
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
           now: datetime) -> tuple[claims.Claim, InboundMail]:
    """Claim the mail by Message-ID; a *different* mail under a known Message-ID is its own mail.

    Scanners, broken mail merges and attackers reuse Message-IDs: only the same content is a
    duplicate. The other mail is claimed, stored and threaded under a key made from its content.
    """
    key = app.settings.helpdesk_key
    claim = claims.claim_inbound(session, mail.message_id, sender=mail.from_addr, now=now, helpdesk=key,
                                digest=digest)
    if claim.other_mail(digest):
        log.warning("mail %s: Message-ID already used by a different mail; processed as its own mail",
                    mail.message_id)
        mail = replace(mail, message_id=distinct_message_id(mail.message_id, digest))
        claim = claims.claim_inbound(session, mail.message_id, sender=mail.from_addr, now=now, helpdesk=key,
                                    digest=digest)
    return claim, mail


def _seen(app: App, claim: claims.Claim, now: datetime) -> Outcome:
    """The outcome for a mail whose Message-ID is taken (busy elsewhere, or processed before)."""
    if claim.busy:
        return Outcome(OutcomeKind.BUSY, reason="being processed by another worker")
    if app.settings.workers.cooperate and claim.seen_at is not None and claim.seen_at > now - COOPERATE_GRACE:
        return Outcome(OutcomeKind.BUSY, reason="just processed by another worker, which moves it")
    # Seen before (a crash before the move): a quarantined mail goes back to quarantine.
    return Outcome(OutcomeKind.DUPLICATE, reason="already quarantined" if claim.seen == OutcomeKind.QUARANTINED
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
                claim = claims.claim_inbound(session, message_id, sender=sender, now=now, helpdesk=key, digest=digest)
                if claim.other_mail(digest):
                    message_id = distinct_message_id(message_id, digest)
                    claim = claims.claim_inbound(session, message_id, sender=sender, now=now, helpdesk=key,
                                                digest=digest)
                if claim.inbound_id is None:
                    return _seen(app, claim, now)
                session.add(Quarantine(helpdesk=app.settings.helpdesk_key, message_id=message_id,
                                       sender=mail.from_addr if mail else "",
                                       subject=mail.subject[:500] if mail else "", error=error[:4000], raw=raw,
                                       at=now))
                claims.record_inbound(session, claim, outcome=OutcomeKind.QUARANTINED, reason=error[:4000], ticket_id=None)
            break
        except Exception as exc:
            if store.is_conflict(exc) and attempt < _RACE_ATTEMPTS:
                continue
            raise
    log.warning("mail %s quarantined: %s", message_id, error.splitlines()[0][:300])
    return Outcome(OutcomeKind.QUARANTINED, reason=error)


def _handle(app: App, session: Session, mail: InboundMail, now: datetime, budget: Budget, *,
            hold: bool = True) -> Outcome:
    """Find the facts, let ``core.triage`` route the mail, and carry out what the route calls for.

    ``hold``: a new thread may be held in quarantine (spam, a flood); not for a mail an operator released.
    """
    settings = app.settings
    role = role_of(app, session, mail)
    signed_lkpp_id = signed_lkpp(settings, mail, app.secret) if role is SenderRole.LKPP else None
    # A DKIM pass for an LKPP domain is proof before the ticket is known: its subject tag counts.
    lkpp_domain_proof = (role is SenderRole.LKPP and signed_lkpp_id is None
                         and lkpp_verdict(settings, mail, 0, None)[0])
    ticket, signed, thread = _ticket_of(app, session, mail, role, signed_lkpp_id, lkpp_domain_proof)
    verdict = None
    if role is SenderRole.STAFF and ticket is not None:
        verdict = verify_staff(mail, ticket_id=ticket.id, signed_ticket_id=signed,
                               methods=settings.staff.command_auth,
                               trusted_authserv_ids=settings.staff.trusted_authserv_ids)
    lkpp_proof, lkpp_how = (lkpp_verdict(settings, mail, ticket.id, signed_lkpp_id)
                            if role is SenderRole.LKPP and ticket is not None else (False, ""))
    auto = automatic_reason(mail)
    spam = spam_verdict(mail.spam_headers) if hold and settings.loops.hold_spam else None
    cap = settings.loops.max_new_tickets_per_sender_hour if hold else 0
    opened_lately = _opened_lately(session, settings.helpdesk_key, mail.from_addr, now, cap) if cap and ticket is None else 0
    routed = triage(Facts(role=role, hops=mail.x_mailbot_hops, max_hops=settings.escalation.max_hops,
                          bounce=is_bounce(mail), automatic=auto, spam=spam, ticket=ticket is not None, thread=thread,
                          staff_proof=verdict is not None and verdict.ok, staff_how=verdict.how if verdict else "",
                          lkpp_proof=lkpp_proof, lkpp_how=lkpp_how, opened_lately=opened_lately, max_opened=cap))
    route = routed.route
    if route in {Route.IGNORE_LOOP, Route.IGNORE_HOPS, Route.IGNORE_AUTOMATIC, Route.IGNORE_LKPP}:
        if route is Route.IGNORE_LKPP:
            log.warning("mail %s from %s: %s", mail.message_id, mail.from_addr, routed.reason)
        return Outcome(OutcomeKind.IGNORED, reason=routed.reason)
    if route is Route.BOUNCE:
        return handle_bounce(app, session, mail, now)
    if route is Route.HOLD_SPAM:
        raise HeldAsSpam(routed.reason)
    if route is Route.HOLD_FLOOD:
        raise HeldAsFlood(routed.reason)
    if route is Route.OPEN:
        if role is SenderRole.STAFF and team.is_create(parse_staff_reply(mail.new_text, app.policy.levels)):
            return _open_forwarded(app, session, mail, now, budget)
        return _open(app, session, mail, now, parent=None, budget=budget)
    assert ticket is not None  # every other route is about a ticket of this helpdesk (triage)
    updated = Outcome(OutcomeKind.UPDATED, ticket.number, routed.reason, ticket.id)
    if route is Route.RECORD_AUTOMATIC:
        store_message(session, ticket, mail, role, channel=_channel_of(role), auto=True, now=now)
        record_event(session, ticket, Record(EventKind.AUTO_MAIL, f"{auto} from {mail.from_addr}"), now,
                     mail.from_addr)
        return updated

    if route is Route.UNVERIFIED_LKPP:
        # Shown to staff as unverified; never relayed, never in the dossier, changes nothing.
        store_message(session, ticket, mail, role, channel="unverified", auto=True, now=now)
        warned = _recent_unverified(session, settings.helpdesk_key, mail.from_addr, now, EventKind.LKPP_UNVERIFIED)
        decision = decide(ticket_view(ticket), LkppUnverified(mail.from_addr, lkpp_how, mail.new_text, warned,
                                                              _SPOOF_WARNINGS_PER_HOUR), now, app.policy)
        apply_decision(app, session, ticket, mail, decision, now)
        return updated

    view = ticket_view(ticket, closed_by_lkpp(session, ticket))
    event: Event
    if route is Route.UNVERIFIED_STAFF:
        # A From header alone proves nothing: no command runs; ``decide`` tells the real staff member.
        warned = _recent_unverified(session, settings.helpdesk_key, mail.from_addr, now)
        event = StaffUnverified(mail.from_addr, verdict.how if verdict else "", warned, _SPOOF_WARNINGS_PER_HOUR)
    elif route is Route.STAFF_REPLY:
        store_message(session, ticket, mail, role, channel=_channel_of(role), now=now)
        _staff_reply(app, session, ticket, view, mail, now)
        return updated
    elif route is Route.LKPP_REPLY:
        event = LkppReplied(mail.from_addr, parse_staff_reply(mail.new_text, app.policy.levels), lkpp_how,
                            threads.find_lkpp_number(mail.subject),
                            tuple(a.filename for a in mail.attachments if a.content is not None and not a.inline))
    else:
        # SOP steps 5-6: which of the still-missing items this reply brings (text and attachments,
        # the rules' own detection); ``decide`` moves to analysis only when none is left.
        arrived: tuple[str, ...] = ()
        if view.state is TicketState.WAITING_USER and view.missing:
            files = pdftext.with_pdf_text(mail.attachments)  # the text of the PDFs among them
            arrived = tuple(sorted(detect_items(app.table, mail.new_text, files, mail.signature) & set(view.missing)))
        event = UserReplied(mail.from_addr, mail.new_text, arrived)
    decision = decide(view, event, now, app.policy)
    if any(isinstance(e, OpenFollowUp) for e in decision.effects):
        return _open(app, session, mail, now, parent=ticket, budget=budget)
    store_message(session, ticket, mail, role, channel=_channel_of(role), now=now)
    apply_decision(app, session, ticket, mail, decision, now)
    return updated


def _staff_reply(app: App, session: Session, ticket: Ticket, view: TicketView, mail: InboundMail,
                 now: datetime) -> None:
    """A proven staff member's reply: decided, then held (a colleague has just answered) or sent
    with a copy to the other staff (``core.team``); ``#kirim`` sends the held answer."""
    actor = mail.from_addr
    reply = parse_staff_reply(mail.new_text, app.policy.levels)
    held: team.HeldAnswer | None = None
    if any(c.kind is CommandKind.SEND for c in reply.commands):
        held = team_facts.held_answer(session, ticket, actor)
        refusal = team.release_refusal(view.state, actor, reply, held)
        if refusal is not None:
            apply_decision(app, session, ticket, mail, refusal, now)
            return
        assert held is not None
        mail = team_facts.held_mail(session, ticket, mail, held)  # the held text and files go out now
        reply = parse_staff_reply(mail.new_text, app.policy.levels)
    reply = with_canned_answers(app, session, ticket, mail, reply)
    relay = any(c.kind is CommandKind.RELAY for c in reply.commands)
    event = StaffReplied(actor, reply, *(unrelayed_lkpp(session, ticket) if relay else (None, None)),
                         merge_target=merge_target(session, ticket, reply),
                         files=tuple(a.filename for a in mail.attachments if a.content is not None and not a.inline))
    decision = decide(view, event, now, app.policy)
    rejected = any(isinstance(e, Record) and e.kind is EventKind.COMMAND_REJECTED for e in decision.effects)
    if held is not None:
        if not rejected:
            decision = team.released(decision, actor, held)
    elif team.answers_user(decision):
        held_decision = team.hold(view.state, actor, decision,
                                  team_facts.colleague_answer(app, session, ticket, actor, now), now, mail.message_id)
        if held_decision is not None:
            apply_decision(app, session, ticket, mail, held_decision, now)
            return
    if not rejected:
        decision = team.with_copies(decision, actor, reply.body, app.settings.staff.copy_answers)
    apply_decision(app, session, ticket, mail, decision, now)


def _open_forwarded(app: App, session: Session, mail: InboundMail, now: datetime, budget: Budget) -> Outcome:
    """``#buat``: a verified staff member's forward opens the ticket for the original sender."""
    event = team_facts.create_event(app, session, mail, now)
    verdict = team.judge_create(event)
    if verdict.route is not team.CreateRoute.OPEN or event.forwarded is None:
        team_facts.refuse_create(app, session, mail, event, verdict, now)
        return Outcome(OutcomeKind.IGNORED, reason=verdict.reason)
    original = team_facts.original_mail(mail, event.forwarded, app.settings.helpdesk.ticket_prefix)
    return _open(app, session, original, now, parent=None, budget=budget, opened_by=mail.from_addr)


def _ticket_of(app: App, session: Session, mail: InboundMail, role: SenderRole, signed_lkpp_id: int | None = None,
               lkpp_domain_proof: bool = False) -> tuple[Ticket | None, int | None, str]:
    """The ticket of this helpdesk the mail belongs to (locked until the commit), the ticket its
    signed reply address names, and how the ticket was found.

    LKPP's mail to a signed LKPP address belongs to the ticket it names, whatever its headers say
    (LKPP's systems and officers answer without threading headers, from any address)."""
    settings = app.settings
    key = settings.helpdesk_key
    loaded: list[Ticket] = []  # held, so that the session keeps them (its identity map is weak)

    def ticket_exists(ticket_id: int) -> bool:
        ticket = session.get(Ticket, ticket_id)
        if ticket is not None:
            loaded.append(ticket)
        return ticket is not None

    def ticket_for_tag(seq: int) -> int | None:
        # The whole ticket at once: ``ticket_exists`` and ``lock_ticket`` (on SQLite) then find
        # it in the session instead of reading it again.
        ticket = store.ticket_by_seq(session, key, seq)
        if ticket is None:
            return None
        loaded.append(ticket)
        return ticket.id

    # Every lookup stays inside this helpdesk: its numbers, its threads (one deployment, one database).
    match = threads.match_thread(
        mail,
        prefix=settings.helpdesk.ticket_prefix,
        ticket_for_ids=lambda ids: store.ticket_for_message_ids(session, ids, key, keep=loaded),
        participants=lambda tid: participants(session, tid),
        ticket_exists=ticket_exists,
        ticket_for_tag=ticket_for_tag,
        trust_tag=lkpp_domain_proof,
    )
    if signed_lkpp_id is not None:
        match = threads.ThreadMatch(signed_lkpp_id, "lkpp-address", "signed LKPP reply address")
    ticket_id = match.ticket_id
    signed = threads.signed_ticket((*mail.to, *mail.cc, *mail.delivered_to), settings.helpdesk.address,
                                   app.secret)
    if ticket_id is None and role is SenderRole.STAFF and signed is not None:
        ticket_id = signed  # a staff reply to the per-ticket address, even without thread headers
    # Locked until the commit: another worker's mail for this ticket, or the SLA tick, waits for us.
    # (The claim was this transaction's first write: see ``lock_ticket``.)
    ticket = store.lock_ticket(session, ticket_id, writing=True) if ticket_id is not None else None
    if ticket is not None and ticket.helpdesk != key:
        ticket = None  # another helpdesk's ticket (a reply address signed with a shared secret): not ours
    how = match.how if match.ticket_id else "reply address"
    # The user's mail in a merged duplicate's thread belongs to the ticket that carries on (staff
    # keep the duplicate: their proof, a signed reply address, names it).
    for _ in range(5):  # a chain of merges; never a cycle (a merge target is open, its source closed)
        if ticket is None or ticket.merged_into_id is None or role is not SenderRole.USER:
            break
        target = store.lock_ticket(session, ticket.merged_into_id)
        if target is None or target.helpdesk != key:
            break
        ticket, how = target, f"{how}, merged into {target.number}"
    return ticket, signed, how


# Built once (bind parameters), run on the session's connection: it runs for every new thread, and
# building it and going through the ORM's execution cost three times what the query itself does.
_OPENED_LATELY = select(func.count(Ticket.id)).where(
    Ticket.requester == bindparam("requester"), Ticket.opened_at >= bindparam("since"),
    Ticket.helpdesk == bindparam("helpdesk"))


def _opened_lately(session: Session, helpdesk: str, requester: str, now: datetime, cap: int) -> int:
    """How many tickets ``requester`` opened in this helpdesk in the last hour (``ix_tickets_requester_opened``).

    Read as the requester's ``cap`` + 3 newest tickets, which the new-ticket notification lists
    from too (``team.requester_tickets``): one query for both. Those of the last hour come first;
    when fewer than ``cap`` are among them, they are all of them. Otherwise (the mail is held)
    they are counted in the database, for the exact number in the reason.
    """
    since = now - timedelta(hours=1)
    latest = store.latest_of_requester(session, helpdesk, requester, cap + team_facts.REQUESTER_TICKETS_SHOWN)
    recent = sum(1 for row in latest.rows if row[4] >= since)
    if recent < cap:
        return recent
    return store.read(session, _OPENED_LATELY, {"requester": requester, "since": since,
                                                "helpdesk": helpdesk}).scalar() or 0


#: Warnings about unverified mail in a staff member's name, per address and hour.
_SPOOF_WARNINGS_PER_HOUR = 3


def _recent_unverified(session: Session, helpdesk: str, sender: str, now: datetime,
                       kind: EventKind = EventKind.COMMAND_UNVERIFIED) -> int:
    """How many unverified mails in ``sender``'s name this helpdesk recorded in the last hour."""
    return session.scalar(select(func.count(TicketEvent.id)).join(Ticket, Ticket.id == TicketEvent.ticket_id).where(
        Ticket.helpdesk == helpdesk, TicketEvent.kind == kind, TicketEvent.actor == sender,
        TicketEvent.at >= now - timedelta(hours=1))) or 0


def unrelayed_lkpp(session: Session, ticket: Ticket) -> tuple[str | None, int | None]:
    """The latest mail in LKPP's name without proof that staff have not relayed yet (text, id)."""
    relayed = {d.get("message") for d in session.scalars(select(TicketEvent.data).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.LKPP_RELAYED)) if d}
    rows = session.execute(select(Message.id, Message.new_text, Message.text).where(
        Message.ticket_id == ticket.id, Message.channel == "unverified").order_by(Message.id.desc()))
    return next(((new_text or text, pk) for pk, new_text, text in rows if pk not in relayed), (None, None))


def with_canned_answers(app: App, session: Session, ticket: Ticket, mail: InboundMail,
                         reply: StaffReply) -> StaffReply:
    """Put the text of each ``#jawab`` answer after the staff member's own text; unknown ones are errors."""
    texts: list[str] = []
    errors = list(reply.errors)
    for command in reply.commands:
        if command.kind is not CommandKind.ANSWER:
            continue
        answer = app.answers.find(command.arg)
        if answer is None:
            # A short line of data for the ``staff_error`` template (which holds the mail's text).
            errors.append(CommandError(command.line, f"jawaban '{command.arg}' tidak ada di pustaka jawaban"))
            continue
        context = template_context(app, session, ticket, mail, None)
        texts.append(app.renderer.env.from_string(answer.body).render(context).strip())
    if not texts and len(errors) == len(reply.errors):
        return reply
    body = "\n\n".join(x for x in (reply.body, *texts) if x)
    return StaffReply(reply.commands, tuple(errors), body)


def _channel_of(role: SenderRole) -> str:
    return {SenderRole.STAFF: "staff", SenderRole.LKPP: "lkpp"}.get(role, "user")


def open_ticket(app: App, session: Session, mail: InboundMail, now: datetime) -> Outcome:
    """Open a new ticket for ``mail``'s sender, as a first mail does (the console's tickets for callers)."""
    return _open(app, session, mail, now, parent=None)


def _open(app: App, session: Session, mail: InboundMail, now: datetime, parent: Ticket | None,
          budget: Budget | None = None, opened_by: str | None = None) -> Outcome:
    settings = app.settings
    classification = classify(app.table, subject=mail.subject, text=mail.new_text, attachments=mail.attachments,
                              now=now, signature=mail.signature)
    if classification.missing:
        # What is asked for may be in a PDF the user attached: read the files' text, classify again.
        with_text = pdftext.with_pdf_text(mail.attachments)
        if any(a.text for a in with_text):
            classification = classify(app.table, subject=mail.subject, text=mail.new_text, attachments=with_text,
                                      now=now, signature=mail.signature)
    if budget is not None:
        budget.check("the priority rules")
    # The ticket's subject (data, shown in its mails): a placeholder when the mail has none.
    subject = threads.clean_subject(mail.subject, settings.helpdesk.ticket_prefix) or "(tanpa subjek)"
    ticket = Ticket(  # its seq and number are the helpdesk's next, taken by the INSERT (``store.insert_ticket``)
        helpdesk=settings.helpdesk_key, state=TicketState.NEW.value, priority=classification.priority, category=classification.category,
        category_matched=classification.matched, subject=subject[:500], requester=mail.from_addr,
        requester_name=mail.from_name[:200], phone=classification.phone, parent_id=parent.id if parent else None,
        missing=[], opened_at=now, updated_at=now,
    )
    decision = decide(None, UserOpened(mail.from_addr, classification, parent.number if parent else None,
                                       opened_by, team.FORWARD_CHANNEL if opened_by else ""), now, app.policy)
    # The decision's fields and clocks go into the ticket before its INSERT (for its id, now):
    # its row is written once, complete, not inserted and then updated.
    change = change_ticket(app, session, ticket, mail, decision, now, new_ticket=True)
    store.insert_ticket(session, ticket, settings.helpdesk.ticket_prefix)
    new_conversation(session, ticket.id)
    store_message(session, ticket, mail, SenderRole.USER, channel="user", now=now)
    if parent is not None:
        record_event(session, parent, Record(EventKind.FOLLOW_UP, f"the user wrote after closing; new ticket {ticket.number}"),
               now, mail.from_addr)
    finish_decision(app, session, ticket, mail, decision, now, change, classification)
    _maybe_auto_answer(app, session, ticket, mail, classification, now)
    reason = ("new thread" if parent is None else f"follow-up of {parent.number}") + (
        f"; forwarded by {opened_by} (#buat)" if opened_by else "")
    return Outcome(OutcomeKind.OPENED, ticket.number, reason, ticket.id)


def _maybe_auto_answer(app: App, session: Session, ticket: Ticket, mail: InboundMail,
                       classification: Classification, now: datetime) -> None:
    """Auto-answer mode: a confident canned answer for configured categories; staff still follow up."""
    cfg = app.settings.answers
    if ticket.category not in cfg.auto_answer_categories or ticket.missing or not classification.matched:
        return
    best = next(iter(suggestions(app, ticket, mail)), None)
    if best is None or not best.answer.auto_answer or best.score < cfg.auto_answer_min_score \
            or ticket.category not in best.answer.categories:
        return
    text = app.renderer.env.from_string(best.answer.body).render(template_context(app, session, ticket, mail, None)).strip()
    record_event(session, ticket, Record(EventKind.AUTO_ANSWERED, f"canned answer {best.answer.key} sent automatically "
                                   f"(score {best.score:g}: {', '.join(best.reasons)})",
                                   data={"answer": best.answer.key, "score": best.score}), now, "mailbot")
    queue_mail(app, session, ticket, mail, SendMail("user", "auto_answer", {"answer": text}), now, classification,
                None)


