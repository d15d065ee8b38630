"""The SOP as a state machine: ``decide(ticket, event, now, policy) -> Decision``.

Pure: no I/O, no clock. The service turns a Decision's effects into stored events, ticket changes and
queued mail. Reading this module top to bottom is reading the SOP:

    new -> (priority set, step 2) -> waiting_user (step 4) <-> analysis (steps 6-8)
        analysis/waiting_user -> closed (step 9) | escalated (step 10) -> closed
        escalated -> analysis (``#tarik``: staff take it back from LKPP, LKPP is told)

While escalated, LKPP answers (then LPSE staff owe a decision: ``core.lkpp_decision``), asks the user
for data (the user's reply goes to LKPP) or closes; LPSE staff may close (LKPP is told), write to LKPP
(``#lkpp``: ``core.lkpp_message``) or take it back.
A mail in LKPP's name without proof changes nothing; staff may relay it with ``#teruskan``.
A closed ticket answered by the user within the reopen window goes back to analysis and to whoever
closed it; later, the answer opens a follow-up ticket. An open ticket's user who only says it is
solved: see ``core.solved`` (staff close it, step 9).

A reply to a ticket waiting for data (steps 5-6): see ``core.data_reply``.

Which event an inbound mail is (if any) is decided in front of this module, by ``core.triage``. The
clock's events (SLA warning or breach, reminder, auto-close) come from ``core.sla`` through the SLA
tick and are decided here too. User-visible text is not built here: a mail is a template name and its
context; the only Indonesian strings are the short refusals listed in a ``staff_error`` mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from mailbot.core import lkpp_message
from mailbot.core.commands import Command, CommandKind, StaffReply
from mailbot.core.data_reply import data_reply
from mailbot.core.decisions import (  # re-exported: the service and the tests import them from here
    Assign as Assign,
)
from mailbot.core.decisions import (
    Decision as Decision,
)
from mailbot.core.decisions import (
    Effect as Effect,
)
from mailbot.core.decisions import (
    MergeInto as MergeInto,
)
from mailbot.core.decisions import (
    OpenFollowUp as OpenFollowUp,
)
from mailbot.core.decisions import (
    Policy as Policy,
)
from mailbot.core.decisions import (
    Recipient as Recipient,
)
from mailbot.core.decisions import (
    Record as Record,
)
from mailbot.core.decisions import (
    SendMail as SendMail,
)
from mailbot.core.decisions import (
    SetMissing as SetMissing,
)
from mailbot.core.decisions import (
    SetPriority as SetPriority,
)
from mailbot.core.decisions import (
    SetRating as SetRating,
)
from mailbot.core.domain import Classification, EventKind, TicketState
from mailbot.core.feedback import just_thanks, not_solved, parse_rating
from mailbot.core.lkpp_decision import DecisionDue, decide_due
from mailbot.core.solved import reports_solved, solved_decision

S = TicketState
E = EventKind

#: SOP time standards (step -> standard), shown against each step in the timeline.
SOP_STANDARDS: Mapping[int, timedelta] = {
    2: timedelta(minutes=5),
    4: timedelta(minutes=5),
    7: timedelta(days=1),
    9: timedelta(minutes=10),
    10: timedelta(minutes=5),
}

#: (command, state it may run in) -> state after it. A pair not listed is refused.
TRANSITIONS: Mapping[tuple[CommandKind, TicketState], TicketState] = {
    **{(CommandKind.CLOSE, s): S.CLOSED for s in (S.ANALYSIS, S.WAITING_USER, S.ESCALATED)},
    **{(CommandKind.ESCALATE, s): S.ESCALATED for s in (S.ANALYSIS, S.WAITING_USER)},
    **{(CommandKind.NEED_INFO, s): S.WAITING_USER for s in (S.ANALYSIS, S.WAITING_USER)},
    **{(CommandKind.PRIORITY, s): s for s in (S.ANALYSIS, S.WAITING_USER, S.ESCALATED)},
    **{(CommandKind.NOTE, s): s for s in (S.ANALYSIS, S.WAITING_USER, S.ESCALATED, S.CLOSED)},
    **{(CommandKind.CALLED, s): s for s in (S.ANALYSIS, S.WAITING_USER, S.ESCALATED)},
    **{(CommandKind.TAKE, s): s for s in (S.ANALYSIS, S.WAITING_USER, S.ESCALATED)},
    (CommandKind.REOPEN, S.CLOSED): S.ANALYSIS,
    (CommandKind.WITHDRAW, S.ESCALATED): S.ANALYSIS,
    (CommandKind.TO_LKPP, S.ESCALATED): S.ESCALATED,  # only while LKPP holds it: ``core.lkpp_message``
    **{(CommandKind.RELAY, s): s for s in (S.ANALYSIS, S.WAITING_USER, S.ESCALATED)},
    **{(CommandKind.ANSWER, s): s for s in (S.ANALYSIS, S.WAITING_USER, S.ESCALATED)},
    # Not while LKPP holds it (take it back with #tarik first): LKPP would answer a closed duplicate.
    **{(CommandKind.MERGE, s): S.CLOSED for s in (S.ANALYSIS, S.WAITING_USER)},
}

#: The states' names in Indonesian: data for the templates (``ticket.state_label``) and for the refusals.
STATE_LABELS: Mapping[TicketState, str] = {
    S.NEW: "baru",
    S.WAITING_USER: "menunggu data dari pengguna",
    S.ANALYSIS: "dalam analisis",
    S.ESCALATED: "dieskalasi ke LKPP",
    S.CLOSED: "ditutup",
}

LKPP_CLOCK = "lkpp_turnaround"  # ``core.sla``: its warning reminds LKPP, its breach tells the coordinator


# ---- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketView:
    """What the state machine needs to know about a stored ticket."""

    state: TicketState
    priority: str
    assignee: str | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    missing: tuple[str, ...] = ()
    closed_by_lkpp: bool = False  # the last close was LKPP's: the user's "not solved" goes back to LKPP


@dataclass(frozen=True)
class UserOpened:
    """SOP step 1: a user's mail that starts a ticket, with the rules' findings."""

    actor: str
    classification: Classification
    parent_number: str | None = None  # a follow-up of a closed ticket
    opened_by: str | None = None  # the staff member who opened it for the user (``#buat``, the console)
    channel: str = ""  # how it came in when not by the user's own mail ("e-mail diteruskan", "telepon", ...)


@dataclass(frozen=True)
class UserReplied:
    """A user's mail to an existing ticket.

    ``arrived``: of the ticket's missing items, those the service found in this reply (its new text
    and attachments, re-checked with the rules' own detection). A ticket waiting for data moves
    to analysis only when no missing item is left; a ticket waiting for data staff asked for in
    words (no item keys stored) moves on any reply, and staff decide.
    """

    actor: str
    text: str = ""  # the new text of the reply (quoted history removed)
    arrived: tuple[str, ...] = ()


@dataclass(frozen=True)
class MergeTarget:
    """The ticket a ``#gabung`` names, as the service found it in the same helpdesk."""

    ticket_id: int
    number: str  # "TTS-000123"
    state: TicketState
    same_requester: bool
    same_ticket: bool = False  # the ticket the command was sent on


@dataclass(frozen=True)
class StaffReplied:
    """A proven staff member's reply. ``unverified``: the text of the latest mail in LKPP's name
    without proof not yet relayed (``#teruskan`` sends it to the user), ``unverified_ref`` its id.
    ``merge_target``: the ticket a ``#gabung`` names (None when there is no such ticket).
    ``files``: the names of the files the reply carries (``#lkpp`` may send files alone)."""

    actor: str
    reply: StaffReply
    unverified: str | None = None
    unverified_ref: int | None = None
    merge_target: MergeTarget | None = None
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class LkppReplied:
    """A mail proven to be LKPP's (its signed per-ticket address, or a DKIM pass for an LKPP domain)."""

    actor: str
    reply: StaffReply  # LKPP may close with a keyword; other keywords are not LKPP's to use
    how: str = ""  # the proof
    lkpp_number: str | None = None  # LKPP's own ticket number from the subject (``[LKPP#4711]``)
    files: tuple[str, ...] = ()  # the names of the files it carries (an answer may be a file alone)


@dataclass(frozen=True)
class LkppUnverified:
    """A mail that claims to be LKPP's (From the LKPP address or an LKPP domain) without proof.

    Never relayed to the user and changes nothing: staff see the text, marked unverified (a few
    times an hour at most, like ``StaffUnverified``).
    """

    actor: str
    how: str  # why the mail is not proven
    text: str
    warned: int = 0
    cap: int = 3


@dataclass(frozen=True)
class StaffUnverified:
    """A mail in a staff member's name without proof (``core.auth``): no command runs.

    The real staff member is told, a few times an hour at most: a flood of forgeries must not
    become a flood of warnings.
    """

    actor: str
    how: str  # why the mail is not verified
    warned: int  # warnings already sent about mail in this address's name in the last hour
    cap: int  # at most this many warnings per address and hour


# The clock's events (the SLA tick; ``core.sla.evaluate`` says what is due). Times in them are
# already formatted for people by the service (local time zone); keys name the notice sent once.


@dataclass(frozen=True)
class SlaNoticeDue:
    """A clock passed a threshold: a warning to staff (LKPP for its own clock), or (100 %) a breach notice to the coordinator."""

    breach: bool
    clock: str  # priority | call | analysis | resolution | lkpp_turnaround
    key: str
    percent: int
    step: int | None  # the clock's SOP step
    label: str  # the clock's name, for the record
    deadline: str  # local time, for the record
    recipients: tuple[str, ...] = ()  # who ``notice_recipient`` resolved to (recorded with the event)
    sla: Mapping[str, object] = field(default_factory=dict)  # the clock, formatted for the mail
    warn_to: Literal["assignee", "staff"] = "assignee"  # config ``sla.warn_to``


@dataclass(frozen=True)
class ReminderDue:
    """The user has not sent the requested data for ``reminder_days`` working days."""

    key: str
    items: tuple[str, ...]  # what the user was asked for (labels)
    waiting: Mapping[str, object] = field(default_factory=dict)  # since, reminded, autoclose (formatted)
    by_lkpp: bool = False  # LKPP asked for the data (the ticket is escalated), not LPSE


@dataclass(frozen=True)
class AutoCloseDue:
    """Still no data ``days`` working days after the reminder: the ticket is closed for lack of data."""

    key: str
    days: int
    items: tuple[str, ...] = ()
    waiting: Mapping[str, object] = field(default_factory=dict)
    by_lkpp: bool = False  # LKPP asked for the data: LKPP is told the ticket closed


ClockEvent = SlaNoticeDue | ReminderDue | AutoCloseDue | DecisionDue  # the last: ``core.lkpp_decision``
Event = UserOpened | UserReplied | StaffReplied | LkppReplied | LkppUnverified | StaffUnverified | ClockEvent


# ---- the decision -------------------------------------------------------------------------


def decide(ticket: TicketView | None, event: Event, now: datetime, policy: Policy) -> Decision:
    """Apply one event to one ticket (None for a ticket being opened)."""
    if isinstance(event, UserOpened):
        return _opened(event)
    if ticket is None:
        raise ValueError(f"{type(event).__name__} needs an existing ticket")
    if isinstance(event, UserReplied):
        return _user_replied(ticket, event, now, policy)
    if isinstance(event, StaffReplied):
        return _staff_replied(ticket, event, policy)
    if isinstance(event, LkppReplied):
        return _lkpp_replied(ticket, event)
    if isinstance(event, LkppUnverified):
        return _lkpp_unverified(ticket, event)
    if isinstance(event, StaffUnverified):
        return _staff_unverified(ticket, event)
    if isinstance(event, DecisionDue):
        return decide_due(ticket.state, ticket.assignee, event)
    return _clock(ticket, event)


def _opened(event: UserOpened) -> Decision:
    c = event.classification
    hits = [{"rule": h.rule, "reason": h.reason} for h in c.hits]
    effects: list[Effect] = [
        Record(E.RECEIVED, f"ticket opened by {event.actor}" + (
            f" (opened by {event.opened_by}, {event.channel})" if event.opened_by else ""), 1,
               {**({"parent": event.parent_number} if event.parent_number else {}),
                **({"opened_by": event.opened_by, "channel": event.channel} if event.opened_by else {})}),
        SetPriority(c.priority),
        Record(
            E.PRIORITY_SET,
            f"priority {c.priority}, category {c.category}" + ("" if c.matched else " (unmatched: please classify)"),
            2,
            {"category": c.category, "priority": c.priority, "matched": c.matched, "hits": hits},
        ),
        # One mail per event: the acknowledgment carries the data request (SOP steps 1 and 4).
        SendMail("user", "ack", {"items": c.missing}),
    ]
    if c.password_found:
        effects.append(Record(E.PASSWORD_MASKED, "the mail contained a password; it was masked"))
    missing = tuple(item.key for item in c.missing)
    effects.append(SetMissing(missing))
    if missing:
        effects += [
            Record(E.DATA_REQUESTED, "missing: " + ", ".join(missing), 4, {"items": list(missing), "by": "rules"}),
            Record(E.CALL_TASK, "confirm the data request by telephone" + (f" ({c.phone})" if c.phone else ""), 4,
                   {"phone": c.phone}),
        ]
        state = S.WAITING_USER
    else:
        effects.append(Record(E.ANALYSIS_STARTED, "data complete", 7))
        state = S.ANALYSIS
    effects.append(SendMail("staff", "staff_new", {"opened": {"by": event.opened_by, "channel": event.channel}}
                            if event.opened_by else {}))
    return Decision(state, tuple(effects))


def _user_replied(ticket: TicketView, event: UserReplied, now: datetime, policy: Policy) -> Decision:
    if ticket.state is S.CLOSED:
        # A rating or a thank-you is not a new problem: record it, keep the ticket closed.
        rating = parse_rating(event.text)
        if rating is not None and not not_solved(event.text):
            return Decision(S.CLOSED, (SetRating(rating), Record(E.RATED, f"rated {rating}/5 by {event.actor}",
                                                                data={"rating": rating})))
        if just_thanks(event.text):
            return Decision(S.CLOSED, (Record(E.USER_THANKED, f"closing courtesy from {event.actor}"),))
        if ticket.closed_at is not None and now - ticket.closed_at > policy.reopen_window:
            return Decision(S.CLOSED, (OpenFollowUp(),))
        why = "says it is not solved" if not_solved(event.text) else "answered the closed ticket"
        if ticket.closed_by_lkpp:
            # LKPP closed it: the answer goes back to LKPP (in LKPP's wording, no LPSE command list),
            # LPSE staff are told; nobody is assigned (an LKPP officer is no LPSE staff member).
            return Decision(S.ESCALATED, (
                Record(E.REOPENED, f"the user {why} ({event.actor}); back to LKPP",
                       data={"not_solved": not_solved(event.text), "to_lkpp": True}),
                SendMail("user", "reopened", {"to_lkpp": True}),
                SendMail("lkpp", "lkpp_reopened", {"answer": event.text}),
                SendMail("assignee" if ticket.assignee else "staff", "staff_reopened", {"to_lkpp": True}),
            ))
        effects: list[Effect] = [Record(E.REOPENED, f"the user {why} ({event.actor})",
                                        data={"not_solved": not_solved(event.text)})]
        if ticket.closed_by:
            effects.append(Assign(ticket.closed_by))
        effects += [SendMail("user", "reopened"), SendMail("closer" if ticket.closed_by else "staff", "staff_reopened"),
                    Record(E.ANALYSIS_STARTED, "reopened", 7)]
        return Decision(S.ANALYSIS, tuple(effects))
    solved = reports_solved(event.text)
    if solved is not None:  # "sudah bisa, terima kasih": staff are to close it (step 9)
        return solved_decision(ticket.state, ticket.missing, ticket.assignee, event.actor, solved)
    state = ticket.state
    if state is S.WAITING_USER:
        return data_reply(ticket.missing, event.arrived, ticket.assignee, event.actor)
    effects = [Record(E.USER_REPLIED, f"reply from {event.actor}")]
    if ticket.state is S.ESCALATED:
        effects.append(SendMail("lkpp", "lkpp_user_update"))
    effects.append(SendMail("assignee" if ticket.assignee else "staff", "staff_user_reply"))
    return Decision(state, tuple(effects))


# Refusals: short lines of data listed by the ``staff_error`` template (which holds the mail's text); here because
# they name the command and the state (reached by ``earlier``, a command of the same reply, when given).
def _refusal(command: Command, state: TicketState, earlier: Command | None = None) -> str:
    if command.kind is CommandKind.CREATE:  # ``core.team``: only a new mail forwarding a user's mail
        return f"'{command.line}' hanya untuk e-mail baru yang meneruskan e-mail pengguna, bukan balasan tiket"
    if command.kind is CommandKind.TO_LKPP:  # says why the ticket is not at LKPP, and what to do instead
        return lkpp_message.refusal(command, state, earlier)
    if earlier is not None:
        return f"'{command.line}' tidak bisa dipakai setelah '{earlier.line}' (tiket menjadi {STATE_LABELS[state]})"
    return f"'{command.line}' tidak bisa dipakai saat tiket {STATE_LABELS[state]}"


def _staff_replied(ticket: TicketView, event: StaffReplied, policy: Policy) -> Decision:
    reply = event.reply
    errors = [f"{e.line.strip()}: {e.message}" for e in reply.errors]
    state = ticket.state
    changed_by: Command | None = None  # the latest command of this reply that changed the state
    for command in reply.commands:  # check the whole reply first: all or nothing
        nxt = TRANSITIONS.get((command.kind, state))
        if nxt is None:
            errors.append(_refusal(command, state, changed_by))
            continue
        if command.kind is CommandKind.NEED_INFO and not (command.arg or reply.body):
            errors.append(f"'{command.line}': sebutkan data yang diminta")
        if command.kind is CommandKind.RELAY and event.unverified is None:
            errors.append(f"'{command.line}': tidak ada e-mail atas nama LKPP yang belum diteruskan")
        if command.kind is CommandKind.MERGE:
            errors += _merge_refusals(command, event.merge_target, ticket)
        if command.kind is CommandKind.TO_LKPP:
            errors += filter(None, [lkpp_message.empty_refusal(command, reply.body, event.files)])
        changed_by, state = (command if nxt is not state else changed_by), nxt
    if errors:
        return Decision(ticket.state, (
            Record(E.COMMAND_REJECTED, "; ".join(errors), data={"by": event.actor}),
            SendMail("sender", "staff_error", {"errors": errors}),
        ))
    if not reply.commands:
        if not reply.body:
            return Decision(ticket.state, (Record(E.STAFF_EMPTY_REPLY, f"empty reply from {event.actor}"),))
        if ticket.state is S.CLOSED:
            return Decision(ticket.state, (
                Record(E.COMMAND_REJECTED, "answer to a closed ticket", data={"by": event.actor}),
                SendMail("sender", "staff_error",
                         {"errors": ["tiket sudah ditutup: kirim #buka dulu untuk membukanya kembali"]}),
            ))
        return Decision(ticket.state, (Record(E.STAFF_ANSWERED, f"answer from {event.actor}"),
                                       SendMail("user", "staff_answer", {"answer": reply.body})))
    return _run_commands(ticket, event, policy)


def _merge_refusals(command: Command, target: MergeTarget | None, ticket: TicketView) -> list[str]:
    """Why ``#gabung`` cannot merge this ticket into ``target`` (nothing when it can)."""
    if target is None:
        return [f"'{command.line}': tiket nomor {command.arg} tidak ada di helpdesk ini"]
    if target.same_ticket:
        return [f"'{command.line}': tiket tidak bisa digabung ke dirinya sendiri"]
    if target.state is S.CLOSED:
        return [f"'{command.line}': tiket {target.number} sudah ditutup; buka dulu dengan #buka di tiket itu"]
    if not target.same_requester:
        # Merging two people's tickets would send one person's answers to the other.
        return [f"'{command.line}': tiket {target.number} dari pelapor lain; hanya tiket dari pelapor yang sama "
                "yang bisa digabung"]
    return []


def _run_commands(ticket: TicketView, event: StaffReplied, policy: Policy) -> Decision:
    reply, actor = event.reply, event.actor
    effects: list[Effect] = []
    state = ticket.state
    closed_by: str | None = None
    body_used = False  # the answer goes out once, with the first command that sends mail
    kinds = {c.kind for c in reply.commands}
    for command in reply.commands:
        state_before, state = state, TRANSITIONS[(command.kind, state)]
        kind = command.kind
        if kind is CommandKind.TAKE:
            # From the console a staff member may also assign a colleague (the argument): by mail
            # ``#ambil`` takes no argument, and the reply's sender takes the ticket.
            who = command.arg or actor
            effects += [Assign(who), Record(E.ASSIGNED, f"taken by {actor}" if who == actor
                                            else f"assigned to {who} by {actor}",
                                            data={} if who == actor else {"by": actor, "to": who})]
        elif kind is CommandKind.PRIORITY:
            level, _, reason = command.arg.partition(" ")
            effects += [SetPriority(level), Record(E.PRIORITY_OVERRIDE, f"{ticket.priority} -> {level} by {actor}",
                                                   2, {"from": ticket.priority, "to": level, "reason": reason})]
        elif kind is CommandKind.NOTE:
            note = "\n".join(x for x in (command.arg, "" if kinds - {CommandKind.NOTE} else reply.body) if x)
            effects.append(Record(E.NOTE, note, data={"by": actor}))
            body_used = body_used or not (kinds - {CommandKind.NOTE})
        elif kind is CommandKind.CALLED:
            effects.append(Record(E.CALLED, command.arg or "telephone confirmation done", 4, {"by": actor}))
        elif kind is CommandKind.ANSWER:
            # The service already put the canned text into the body; it goes out with the
            # first mailing command of this reply, or as a plain answer.
            effects.append(Record(E.CANNED_ANSWER, f"canned answer {command.arg} by {actor}", data={"answer": command.arg}))
        elif kind is CommandKind.REOPEN:
            effects += [Record(E.REOPENED, f"reopened by {actor}"), Record(E.ANALYSIS_STARTED, "reopened", 7)]
        elif kind is CommandKind.NEED_INFO:
            items = [x.strip() for x in command.arg.replace(";", ",").split(",") if x.strip()]
            effects += [
                SendMail("user", "need_info", {"requested": items, "answer": "" if body_used else reply.body}),
                Record(E.DATA_REQUESTED, f"by {actor}: " + ", ".join(items), 4, {"items": items, "by": actor}),
                Record(E.CALL_TASK, "confirm the data request by telephone", 4),
            ]
            body_used = True
        elif kind is CommandKind.CLOSE:
            closed_by = actor
            effects += [SendMail("user", "closed", {"answer": "" if body_used else reply.body}),
                        Record(E.CLOSED, f"closed by {actor}", 9, {"from_state": state_before.value})]
            if state_before is S.ESCALATED:  # LKPP is told it need not work on it any more
                effects.append(SendMail("lkpp", "lkpp_closed", {"answer": "" if body_used else reply.body}))
            body_used = True
        elif kind is CommandKind.ESCALATE:
            effects += [SendMail("lkpp", "escalation", {"note": "" if body_used else reply.body}),
                        SendMail("user", "escalated"),
                        Record(E.ESCALATED, f"escalated to LKPP by {actor}", 10)]
            body_used = True
        elif kind is CommandKind.WITHDRAW:
            # LKPP need not work on it any more; the LPSE resolution clock runs again (``core.sla``).
            effects += [SendMail("lkpp", "lkpp_withdrawn", {"note": command.arg}),
                        Record(E.WITHDRAWN, f"taken back from LKPP by {actor}" + (f": {command.arg}" if command.arg
                                                                                  else ""), 10,
                               {"by": actor, "reason": command.arg}),
                        Record(E.ANALYSIS_STARTED, "taken back from LKPP", 7)]
        elif kind is CommandKind.MERGE and event.merge_target is not None:
            target = event.merge_target
            closed_by = actor
            effects += [MergeInto(target.ticket_id, target.number),
                        SendMail("user", "merged", {"into": target.number, "answer": "" if body_used else reply.body}),
                        Record(E.MERGED, f"merged into {target.number} by {actor}", 9,
                               {"into": target.number, "into_id": target.ticket_id, "from_state": state_before.value})]
            body_used = True
        elif kind is CommandKind.RELAY:
            # Staff vouch for a mail in LKPP's name that had no proof: the user gets it as LKPP's answer.
            effects += [SendMail("user", "lkpp_answer", {"answer": event.unverified or "", "relay": event.unverified_ref,
                                                         "intro": "" if body_used else reply.body}),
                        Record(E.LKPP_RELAYED, f"unverified LKPP mail relayed to the user by {actor}",
                               data={"by": actor, "message": event.unverified_ref})]
            body_used = True
        elif kind is CommandKind.TO_LKPP:  # the reply's text is for LKPP, never for the user too
            effects += lkpp_message.effects(command, "" if body_used else reply.body, actor, event.files)
            body_used = True
    if reply.body and not body_used and state is not S.CLOSED:
        effects += [Record(E.STAFF_ANSWERED, f"answer from {actor}"),
                    SendMail("user", "staff_answer", {"answer": reply.body})]
    return Decision(state, tuple(effects), closed_by=closed_by)


def _lkpp_replied(ticket: TicketView, event: LkppReplied) -> Decision:
    reply = event.reply
    # LKPP's keywords count only while LKPP holds the ticket: after ``#tarik`` or a close by the LPSE
    # a late "#tutup" from LKPP must not close the LPSE's ticket (its text is still passed on).
    closes = any(c.kind is CommandKind.CLOSE for c in reply.commands) and ticket.state is S.ESCALATED
    data: dict[str, object] = {"how": event.how}
    if event.lkpp_number:
        data["lkpp_number"] = event.lkpp_number
    staff: Recipient = "assignee" if ticket.assignee else "staff"
    asks = [c for c in reply.commands if c.kind is CommandKind.NEED_INFO]
    if asks and not closes and ticket.state is S.ESCALATED:
        # LKPP asks the user for data: relayed; the ticket stays with LKPP and the user's reply goes
        # back to LKPP (``lkpp_user_update``); LKPP's clock waits for it (``core.sla``).
        items = ([x.strip() for c in asks for x in c.arg.replace(";", ",").split(",") if x.strip()]
                 or ["data yang disebutkan dalam pesan di atas"])  # LKPP named them in its text only
        data["asked"] = items
        return Decision(ticket.state, (
            Record(E.LKPP_REPLIED, f"LKPP ({event.actor}) asks the user for data: " + ", ".join(items), data=data),
            SendMail("user", "need_info", {"requested": items, "answer": reply.body, "by_lkpp": True}),
            SendMail(staff, "staff_lkpp_reply", {"answer": reply.body, "closed": False, "asked": items}),
        ))
    effects: list[Effect] = [Record(E.LKPP_REPLIED, f"answer from LKPP ({event.actor})", data=data)]
    if closes:
        effects += [SendMail("user", "closed", {"answer": reply.body, "by_lkpp": True}),
                    SendMail(staff, "staff_lkpp_reply", {"answer": reply.body, "closed": True}),
                    Record(E.CLOSED, f"closed by LKPP ({event.actor})", 9,
                           {"from_state": ticket.state.value, "by_lkpp": True})]
        return Decision(S.CLOSED, tuple(effects), closed_by=event.actor)
    if reply.body or event.files:
        effects.append(SendMail("user", "lkpp_answer", {"answer": reply.body}))
    effects.append(SendMail(staff, "staff_lkpp_reply", {"answer": reply.body, "closed": False}))
    return Decision(ticket.state, tuple(effects))


def _lkpp_unverified(ticket: TicketView, event: LkppUnverified) -> Decision:
    warn = event.warned < event.cap
    detail = f"mail in LKPP's name from {event.actor} not proven ({event.how}); not relayed, nothing changed"
    effects: list[Effect] = [Record(E.LKPP_UNVERIFIED, detail + ("" if warn else "; staff not told again (hourly cap)"),
                                    data={"how": event.how})]
    if warn:
        effects.append(SendMail("assignee" if ticket.assignee else "staff", "staff_lkpp_unverified",
                                {"answer": event.text, "how": event.how,
                                 "capped": event.cap if event.warned + 1 == event.cap else 0}))
    return Decision(ticket.state, tuple(effects))


def _staff_unverified(ticket: TicketView, event: StaffUnverified) -> Decision:
    warn = event.warned < event.cap
    detail = f"mail from {event.actor} not authenticated ({event.how}); no command run"
    effects: list[Effect] = [Record(E.COMMAND_UNVERIFIED, detail + ("" if warn else "; sender not warned again "
                                                                              "(hourly cap)"))]
    if warn:  # the last warning of the hour says so (and how many there are per hour)
        effects.append(SendMail("sender", "staff_unverified",
                                {"capped": event.cap if event.warned + 1 == event.cap else 0}))
    return Decision(ticket.state, tuple(effects))


def notice_recipient(breach: bool, warn_to: str) -> Recipient:
    """Who an SLA notice goes to: a breach to the coordinator, a warning to the assignee (or all staff)."""
    if breach:
        return "coordinator"
    return "staff" if warn_to == "staff" else "assignee"


def _clock(ticket: TicketView, event: SlaNoticeDue | ReminderDue | AutoCloseDue) -> Decision:
    """The SLA tick's events. Each is due only in the states ``core.sla`` gives it in; in any other
    state (the ticket changed since) the Decision changes nothing and sends nothing."""
    if isinstance(event, SlaNoticeDue):
        if ticket.state is S.CLOSED or (event.clock == LKPP_CLOCK and ticket.state is not S.ESCALATED):
            return Decision(ticket.state, ())
        if event.clock == LKPP_CLOCK and not event.breach:
            # LKPP's turnaround: the warning is a polite reminder to LKPP, in the escalation's thread.
            return Decision(ticket.state, (
                Record(E.SLA_WARNING, f"{event.label}: {event.percent}% of the standard used, deadline "
                       f"{event.deadline}; LKPP reminded", event.step,
                       {"clock": event.clock, "percent": event.percent, "key": event.key,
                        "to": list(event.recipients)}),
                SendMail("lkpp", "lkpp_reminder", {"sla": dict(event.sla)}),
            ))
        if event.breach:
            kind, template = E.SLA_BREACH, "staff_sla_breach"
            detail = f"{event.label}: deadline {event.deadline} passed; coordinator told"
        else:
            kind, template = E.SLA_WARNING, "staff_sla_warning"
            detail = f"{event.label}: {event.percent}% of the standard used, deadline {event.deadline}"
        return Decision(ticket.state, (
            Record(kind, detail, event.step, {"clock": event.clock, "percent": event.percent, "key": event.key,
                                              "to": list(event.recipients)}),
            SendMail(notice_recipient(event.breach, event.warn_to), template, {"sla": dict(event.sla)}),
        ))
    # Data owed to LPSE waits in waiting_user; data LKPP asked for waits while the ticket stays escalated.
    if ticket.state is not (S.ESCALATED if event.by_lkpp else S.WAITING_USER):
        return Decision(ticket.state, ())
    whose = "LKPP's" if event.by_lkpp else "the"
    lkpp = {"by_lkpp": True} if event.by_lkpp else {}
    context = {"sla": dict(event.waiting), "requested": list(event.items), **lkpp}
    if isinstance(event, ReminderDue):
        # The reminder is the moment the auto-close counts from: recorded before the mail goes out.
        return Decision(ticket.state, (
            Record(E.REMINDER_SENT, f"the user was reminded of {whose} data request", 10 if event.by_lkpp else 4,
                   {"key": event.key, "items": list(event.items), **lkpp}),
            SendMail("user", "reminder", context),
        ))
    # closed_by stays None: a reply reopens the ticket for all staff, not for the bot.
    effects: list[Effect] = [
        Record(E.CLOSED, f"closed automatically: no data from the user {event.days} working day(s) after the "
               f"reminder{' (LKPP asked for it)' if event.by_lkpp else ''}", 9,
               {"auto": True, "from_state": ticket.state.value, "key": event.key, **lkpp}),
        SendMail("user", "autoclosed", context)]
    if event.by_lkpp:  # LKPP holds the ticket: it must hear that it closed, and why
        effects.append(SendMail("lkpp", "lkpp_closed", {"answer": "", "autoclosed": True, **context}))
    return Decision(S.CLOSED, tuple(effects), closed_by=None)
