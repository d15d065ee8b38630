"""Staff as a team: tickets opened for a user by forwarding (``#buat``), the colleagues' information
copy, and an answer held because a colleague has just answered (``#kirim`` sends it).

Pure, like ``core.workflow`` (whose ``decide`` still makes every ticket decision): these functions
judge a ``#buat`` mail before any ticket exists, and wrap the Decision of a staff reply. They live
apart from ``workflow`` to keep that module the SOP read top to bottom.

- ``#buat`` opens a ticket for the *original* sender of the forwarded mail, only when the staff
  member's mail is verified as staff commands are (``core.auth``; with ``reply_address`` the proof
  is the helpdesk's signed "new ticket" address, ``threads.create_address``). An unverified
  ``#buat`` opens nothing: see :func:`judge_create`.
- When a staff member answers, takes or escalates, the other staff get a short copy in the
  ticket's staff thread (``staff.copy_answers``).
- A second answer to the user within :data:`HOLD_WINDOW` of another staff member's answer is held;
  its sender is told (with the colleague's answer quoted briefly) and sends it with ``#kirim``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.core.commands import CommandKind, StaffReply
from mailbot.core.domain import EventKind, TicketState
from mailbot.core.forwarded import Forwarded
from mailbot.core.workflow import Decision, Effect, Record, SendMail

E = EventKind

#: The channel a forwarded mail's ticket is recorded with (the issue's list of channels).
FORWARD_CHANNEL = "e-mail diteruskan"
#: A second staff answer this soon after a colleague's is held until its sender confirms.
HOLD_WINDOW = timedelta(minutes=10)
#: How much of an answer the colleagues' copy and the hold warning quote.
EXCERPT_CHARS = 400
#: Mails that carry a staff member's answer to the user.
_ANSWER_TEMPLATES = {"staff_answer", "closed", "need_info", "lkpp_answer"}


# ---- #buat ----------------------------------------------------------------------------------


class CreateRoute(enum.StrEnum):
    OPEN = "open"  # open the ticket for the original sender
    UNVERIFIED = "unverified"  # the staff member's mail has no proof: nothing is opened
    NO_BLOCK = "no_block"  # no forwarded mail with a sender address found
    NOT_A_USER = "not_a_user"  # the forwarded sender is staff, the helpdesk itself or LKPP


@dataclass(frozen=True)
class StaffCreate:
    """A mail from a staff address with ``#buat`` on its first line, before any ticket exists."""

    actor: str
    verified: bool  # ``core.auth.verify_staff`` with the signed "new ticket" address
    how: str  # the proof, or why there is none
    forwarded: Forwarded | None
    ours: bool = False  # the forwarded sender is a staff address, the helpdesk or LKPP
    warned: int = 0  # notes about unverified ``#buat`` sent to this address in the last hour
    cap: int = 3


@dataclass(frozen=True)
class CreateVerdict:
    route: CreateRoute
    reason: str  # English: the log and the inbound row
    note: tuple[str, ...] = ()  # Indonesian lines for the staff member; empty: no note is sent


def judge_create(event: StaffCreate) -> CreateVerdict:
    """What becomes of a ``#buat`` mail.

    Unverified, it is refused (with a note to the staff address, a few times an hour at most),
    not treated as an ordinary mail of its sender: as an ordinary mail it would open a ticket in
    the staff member's name holding a stranger's forwarded text, and send the acknowledgment and
    the data request to staff, which is the very thing ``#buat`` exists to avoid. Refused, nothing
    is opened, nobody outside the staff address hears of it, and a genuine staff member learns how
    to send it so that it is proven.
    """
    if not event.verified:
        reason = f"#buat from {event.actor} not verified ({event.how}); no ticket opened"
        if event.warned >= event.cap:
            return CreateVerdict(CreateRoute.UNVERIFIED, reason + "; sender not told again (hourly cap)")
        return CreateVerdict(CreateRoute.UNVERIFIED, reason, (
            "e-mail ini tidak dapat diverifikasi berasal dari Anda, jadi tidak ada tiket yang dibuat",
            "kirim #buat ke alamat tiket baru yang tertera di setiap notifikasi tiket (bukan alamat helpdesk biasa)",
        ))
    if event.forwarded is None:
        return CreateVerdict(CreateRoute.NO_BLOCK, f"#buat from {event.actor}: no forwarded sender found", (
            "tidak ditemukan e-mail yang diteruskan (baris 'Dari:' / 'From:' dengan alamat e-mail pengirim asli)",
            "teruskan e-mail pengguna dengan fitur Teruskan/Forward, atau lampirkan e-mailnya, lalu tulis #buat "
            "di baris pertama",
        ))
    if event.ours:
        return CreateVerdict(CreateRoute.NOT_A_USER,
                             f"#buat from {event.actor}: forwarded sender {event.forwarded.address} is not a user", (
            f"pengirim asli {event.forwarded.address} adalah alamat petugas, helpdesk atau LKPP; tiket hanya dibuat "
            "untuk pengguna",))
    return CreateVerdict(CreateRoute.OPEN, f"#buat from {event.actor} ({event.how}): ticket for "
                         f"{event.forwarded.address}")


def is_create(reply: StaffReply) -> bool:
    """Does this staff mail ask for a ticket for someone else (``#buat`` among its first lines)?"""
    return any(c.kind is CommandKind.CREATE for c in reply.commands)


# ---- the colleagues' information copy ---------------------------------------------------------

#: What the copy says each recorded step was (Indonesian, listed in the ``staff_copy`` mail).
_ACTIONS = {
    E.STAFF_ANSWERED: "menjawab pengguna",
    E.ASSIGNED: "mengambil tiket ini (#ambil)",
    E.ESCALATED: "mengeskalasi tiket ke LKPP",
    E.CLOSED: "menutup tiket",
    E.DATA_REQUESTED: "meminta data dari pengguna",
    E.LKPP_MESSAGED: "mengirim pesan ke LKPP (#lkpp)",
}


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " ..."


def with_copies(decision: Decision, actor: str, answer: str, enabled: bool = True) -> Decision:
    """The Decision plus one short copy to the other staff when it answers, takes or escalates."""
    if not enabled:
        return decision
    actions = [_ACTIONS[e.kind] for e in decision.effects if isinstance(e, Record) and e.kind in _ACTIONS]
    if not actions:
        return decision
    copy = SendMail("others", "staff_copy", {"team": {
        "by": actor, "actions": list(dict.fromkeys(actions)),
        "answer": excerpt(answer) if answers_user(decision) or _kinds(decision) & _TO_LKPP else ""}})
    return Decision(decision.state, (*decision.effects, copy), closed_by=decision.closed_by)


#: Steps whose text went to LKPP: the colleagues' copy quotes it as it quotes an answer to the user.
_TO_LKPP = {E.ESCALATED.value, E.LKPP_MESSAGED.value}


def _kinds(decision: Decision) -> set[str]:
    return {e.kind.value for e in decision.effects if isinstance(e, Record)}


# ---- the held answer --------------------------------------------------------------------------


def answers_user(decision: Decision) -> bool:
    """Does this Decision send a staff member's answer to the user?"""
    return any(m.to == "user" and m.template in _ANSWER_TEMPLATES for m in decision.mails())


@dataclass(frozen=True)
class ColleagueAnswer:
    """The latest answer another staff member sent the user on this ticket."""

    actor: str
    at: datetime
    text: str


def hold(state: TicketState, actor: str, decision: Decision, colleague: ColleagueAnswer | None,
         now: datetime, message_id: str = "") -> Decision | None:
    """The Decision that holds this answer back, or None when it may go out.

    Held: it answers the user, and another staff member answered less than :data:`HOLD_WINDOW`
    ago. Nothing of the reply runs (its commands neither), the ticket does not change, and its
    sender is warned with the colleague's answer quoted; ``#kirim`` to that warning sends it.
    """
    if colleague is None or colleague.actor.lower() == actor.lower() or not answers_user(decision):
        return None
    if not (now - HOLD_WINDOW <= colleague.at <= now):
        return None
    minutes = max(int((now - colleague.at).total_seconds() // 60), 0)
    return Decision(state, (
        Record(E.ANSWER_HELD, f"answer from {actor} held: {colleague.actor} answered {minutes} minute(s) before",
               data={"by": actor, "colleague": colleague.actor, "message_id": message_id}),
        SendMail("sender", "staff_held", {"team": {"by": colleague.actor, "answer": excerpt(colleague.text),
                                                   "minutes": minutes}}),
    ))


@dataclass(frozen=True)
class HeldAnswer:
    """A staff member's answer held by :func:`hold` and not sent yet."""

    message_id: str  # the held mail's Message-ID (stored with the ticket)
    text: str  # its new text: command lines and answer


def release_refusal(state: TicketState, actor: str, reply: StaffReply, held: HeldAnswer | None) -> Decision | None:
    """``#kirim``: None when the held answer may now be decided as if just written, else the refusal."""
    errors = []
    if any(c.kind is not CommandKind.SEND for c in reply.commands) or reply.body:
        errors.append("#kirim dikirim sendiri, tanpa perintah atau teks lain")
    if held is None:
        errors.append("tidak ada jawaban Anda yang sedang ditahan untuk tiket ini")
    if not errors:
        return None
    return Decision(state, (
        Record(E.COMMAND_REJECTED, "; ".join(errors), data={"by": actor}),
        SendMail("sender", "staff_error", {"errors": errors}),
    ))


def released(decision: Decision, actor: str, held: HeldAnswer) -> Decision:
    """The held answer's Decision, recorded as sent on its sender's confirmation."""
    first: tuple[Effect, ...] = (Record(E.ANSWER_RELEASED, f"held answer from {actor} sent on confirmation (#kirim)",
                                        data={"by": actor, "message_id": held.message_id}),)
    return Decision(decision.state, first + decision.effects, closed_by=decision.closed_by)
