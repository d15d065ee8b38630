"""Staff write to LKPP themselves on an escalated ticket (``#lkpp <pesan>``): ask further, send data.

PURE: no I/O, no clock. While LKPP holds a ticket (escalated, not taken back nor closed) a staff member's
``#lkpp`` sends the text after the keyword and below the keyword line, with the reply's files, to the LKPP
address(es) in the escalation's thread (the ``lkpp_message`` mail; the service addresses it as every
mail to LKPP: its signed reply address, the ticket's tag). The user gets nothing; the ticket keeps its
state; the timeline records it (``lkpp_messaged``, with who wrote and what).

LKPP owes an answer again: the helpdesk's decision after LKPP's last answer is no longer pending
(``core.lkpp_decision``) and LKPP's turnaround clock starts anew when LKPP owed nothing
(``core.sla``). ``core.workflow`` asks this module why a ``#lkpp`` is refused and what it does.
"""

from __future__ import annotations

from mailbot.core.commands import Command
from mailbot.core.decisions import Effect, Record, SendMail
from mailbot.core.domain import EventKind, TicketState

#: The SOP step the message belongs to: the escalation (step 10).
STEP = 10
#: How much of the message the timeline's line shows (the whole of it is in the event's data and in
#: the mail stored with the ticket).
DETAIL_CHARS = 300


def message(command: Command, body: str) -> str:
    """What LKPP reads: the text after ``#lkpp`` on its line, then the reply's text below it."""
    return "\n\n".join(x for x in (command.arg.strip(), body.strip()) if x)


def refusal(command: Command, state: TicketState, earlier: Command | None = None) -> str:
    """Why ``#lkpp`` cannot run in ``state`` (reached by ``earlier``, a command of the same reply)."""
    if earlier is not None:
        return (f"'{command.line}' tidak bisa dipakai setelah '{earlier.line}': tiket tidak lagi di LKPP; "
                "tulis #lkpp sebelum perintah itu")
    if state is TicketState.CLOSED:
        return (f"'{command.line}': tiket sudah ditutup, pesan tidak dikirim ke LKPP; bila masih perlu bantuan "
                "LKPP, buka dulu dengan #buka lalu eskalasikan dengan #eskalasi")
    return (f"'{command.line}': tiket ini tidak sedang di LKPP (belum dieskalasi, atau eskalasinya sudah "
            "ditarik), pesan tidak dikirim; eskalasikan dulu dengan #eskalasi, atau catat dengan #catatan")


def empty_refusal(command: Command, body: str, files: tuple[str, ...]) -> str | None:
    """Why a ``#lkpp`` with nothing to send is refused (None when there is a text or a file)."""
    if message(command, body) or files:
        return None
    return f"'{command.line}': tulis pesan untuk LKPP di belakang #lkpp atau di bawahnya (atau lampirkan berkas)"


def effects(command: Command, body: str, actor: str, files: tuple[str, ...]) -> list[Effect]:
    """The mail to LKPP and its record. The reply's text is LKPP's: it never goes to the user as well."""
    text = message(command, body)
    shown = text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS].rstrip() + " ..."
    detail = f"message to LKPP from {actor}" + (f": {shown}" if shown else "") + (
        f" [files: {', '.join(files)}]" if files else "")
    return [SendMail("lkpp", "lkpp_message", {"staff_message": text, "files": list(files)}),
            Record(EventKind.LKPP_MESSAGED, detail, STEP, {"by": actor, "message": text, "files": list(files)})]
