"""Staff command keywords at the top of a reply -> commands, and the answer text below them.

Pure. Keyword lines are read from the top of the new text (quoted history already
removed); a ``#keyword`` line further down is an error (:data:`MISPLACED`). ``#keyword`` is always a command attempt (unknown ones are errors); a bare
keyword without ``#`` counts only when the whole line is a valid command, so that an
answer starting with an ordinary word such as "Ambil formulir ..." stays an answer.
"""

from __future__ import annotations

import difflib
import enum
import re
from dataclasses import dataclass


class CommandKind(str, enum.Enum):
    CLOSE = "close"
    ESCALATE = "escalate"
    NEED_INFO = "needinfo"
    PRIORITY = "priority"
    NOTE = "note"
    CALLED = "called"
    TAKE = "take"
    REOPEN = "reopen"
    ANSWER = "answer"  # send a canned answer from templates/answers
    WITHDRAW = "withdraw"  # take an escalation back from LKPP
    RELAY = "relay"  # relay the latest unverified mail in LKPP's name to the user
    CREATE = "create"  # a forwarded user's mail opens a ticket for its original sender (``core.team``)
    SEND = "send"  # send an answer held because a colleague had just answered (``core.team``)
    MERGE = "merge"  # close this ticket as a duplicate of another one of the same requester
    TO_LKPP = "to_lkpp"  # staff's own message to LKPP on an escalated ticket (``core.lkpp_message``)


#: keyword (lower case, without '#') -> kind. Indonesian first, English aliases after.
KEYWORDS: dict[str, CommandKind] = {
    "tutup": CommandKind.CLOSE,
    "close": CommandKind.CLOSE,
    "closed": CommandKind.CLOSE,
    "eskalasi": CommandKind.ESCALATE,
    "escalate": CommandKind.ESCALATE,
    "mintadata": CommandKind.NEED_INFO,
    "needinfo": CommandKind.NEED_INFO,
    "prioritas": CommandKind.PRIORITY,
    "priority": CommandKind.PRIORITY,
    "catatan": CommandKind.NOTE,
    "note": CommandKind.NOTE,
    "telepon": CommandKind.CALLED,
    "called": CommandKind.CALLED,
    "ambil": CommandKind.TAKE,
    "take": CommandKind.TAKE,
    "buka": CommandKind.REOPEN,
    "reopen": CommandKind.REOPEN,
    "jawab": CommandKind.ANSWER,
    "answer": CommandKind.ANSWER,
    "tarik": CommandKind.WITHDRAW,
    "withdraw": CommandKind.WITHDRAW,
    "teruskan": CommandKind.RELAY,
    "relay": CommandKind.RELAY,
    "buat": CommandKind.CREATE,
    "create": CommandKind.CREATE,
    "kirim": CommandKind.SEND,
    "send": CommandKind.SEND,
    "gabung": CommandKind.MERGE,
    "merge": CommandKind.MERGE,
    "lkpp": CommandKind.TO_LKPP,  # one word in both languages: no alias
}

#: Words staff write for a command that is not one ("#selesai" for "#tutup", "#minta data"): the
#: refusal names the command they meant, as it does for a typo ("#eskalsi").
_MEANT = {"selesai": "tutup", "beres": "tutup", "done": "tutup", "solved": "tutup", "tutuptiket": "tutup",
          "minta": "mintadata", "kurang": "mintadata", "prio": "prioritas", "telp": "telepon", "tlp": "telepon",
          "ambilalih": "ambil", "bukakembali": "buka", "gabungkan": "gabung", "teruskanlkpp": "eskalasi",
          "tanyalkpp": "lkpp", "kelkpp": "lkpp", "pesanlkpp": "lkpp", "kirimlkpp": "lkpp", "tolkpp": "lkpp"}


def _unknown(word: str) -> str:
    meant = _MEANT.get(word) or next(iter(difflib.get_close_matches(word, KEYWORDS, n=1, cutoff=0.75)), "")
    return f"perintah '#{word}' tidak dikenal" + (f"; maksud Anda #{meant}?" if meant else "")


#: How staff write each command, in the order the staff guide lists them: the one list the
#: keyword lines of the templates (``commands`` in every template) are made from.
USAGE: dict[CommandKind, str] = {
    CommandKind.CLOSE: "#tutup",
    CommandKind.ESCALATE: "#eskalasi",
    CommandKind.NEED_INFO: "#mintadata <data>",
    CommandKind.ANSWER: "#jawab <nomor/kunci>",
    CommandKind.PRIORITY: "#prioritas tinggi/sedang/rendah",
    CommandKind.NOTE: "#catatan",
    CommandKind.CALLED: "#telepon",
    CommandKind.TAKE: "#ambil",
    CommandKind.REOPEN: "#buka",
    CommandKind.WITHDRAW: "#tarik <alasan>",
    CommandKind.RELAY: "#teruskan",
    CommandKind.TO_LKPP: "#lkpp <pesan>",
    CommandKind.MERGE: "#gabung <nomor tiket>",
    CommandKind.SEND: "#kirim",
    CommandKind.CREATE: "#buat",
}

#: What a staff member who put a keyword below the answer is told (the whole reply is refused).
MISPLACED = "perintah harus di baris paling atas balasan, sebelum teks jawaban; kirim ulang balasan dengan " \
    "perintah di baris pertama"

#: Priority words staff may use -> the configured level names used by default.
PRIORITY_WORDS: dict[str, str] = {
    "tinggi": "tinggi",
    "high": "tinggi",
    "sedang": "sedang",
    "medium": "sedang",
    "rendah": "rendah",
    "low": "rendah",
}

#: Commands whose arguments are free text (the rest of the line).
_FREE_TEXT = {CommandKind.NEED_INFO, CommandKind.NOTE, CommandKind.CALLED, CommandKind.CLOSE, CommandKind.ESCALATE,
              CommandKind.WITHDRAW, CommandKind.TO_LKPP}
#: Commands that count only with their ``#``: an answer may well begin with a line "LKPP" or "LKPP:".
_HASH_ONLY = {CommandKind.TO_LKPP}
_NO_ARGS = {CommandKind.TAKE, CommandKind.REOPEN, CommandKind.RELAY, CommandKind.CREATE, CommandKind.SEND}

#: A ticket's number as staff write it: "TTS-000123", "[TTS-000123]", "000123" or "123".
_TICKET_REF = re.compile(r"\[?(?:[A-Za-z][A-Za-z0-9]{0,9}-)?0*(\d{1,9})\]?")

#: Commands that only add to the ticket (an answer, the assignee, the priority, the call) and the ones
#: that end it. Staff write "#tutup" first as often as last ("#tutup\n#jawab 9" as "#jawab 9\n#tutup");
#: run in the order written, the first would close the ticket and refuse the rest.
_ADDS_TO_TICKET = {CommandKind.ANSWER, CommandKind.TAKE, CommandKind.PRIORITY, CommandKind.CALLED}
_ENDS_TICKET = {CommandKind.CLOSE, CommandKind.MERGE}

_LINE = re.compile(r"^\s*(?P<hash>#)?\s*(?P<word>[A-Za-z]+)\s*:?\s*(?P<rest>.*?)\s*$")


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    arg: str  # normalised argument ("" when none)
    line: str  # the line as written, for error messages and the timeline


@dataclass(frozen=True)
class CommandError:
    line: str
    message: str  # in Indonesian: it goes back to the staff member


@dataclass(frozen=True)
class StaffReply:
    commands: tuple[Command, ...]
    errors: tuple[CommandError, ...]
    body: str  # the answer: what follows the command lines


def _parse_line(line: str, levels: tuple[str, ...]) -> Command | CommandError | None:
    """A command, an error, or None when the line is not a command at all."""
    match = _LINE.match(line)
    if not match:
        return CommandError(line, "format perintah tidak dikenali") if line.lstrip().startswith("#") else None
    hashed = bool(match.group("hash"))
    word = match.group("word").lower()
    rest = match.group("rest")
    kind = KEYWORDS.get(word)
    if kind is None or (kind in _HASH_ONLY and not hashed):
        return CommandError(line, _unknown(word)) if hashed else None
    if kind is CommandKind.PRIORITY:
        level = PRIORITY_WORDS.get(rest.split()[0].lower(), rest.split()[0].lower()) if rest else ""
        reason = " ".join(rest.split()[1:])
        if level not in levels:
            if not hashed:
                return None
            allowed = ", ".join(levels)
            return CommandError(line, f"prioritas harus salah satu dari: {allowed}")
        return Command(kind, f"{level} {reason}".strip(), line.strip())
    if kind in _NO_ARGS and rest:
        return CommandError(line, f"'#{word}' tidak memakai argumen") if hashed else None
    if kind is CommandKind.ANSWER:
        # "#jawab 2" / "jawab lupa-password": exactly one reference to a canned answer.
        if len(rest.split()) == 1:
            return Command(kind, rest.lower(), line.strip())
        if not hashed:
            return None
        return CommandError(line, "tulis satu nomor atau kunci jawaban, misalnya #jawab 2")
    if kind is CommandKind.MERGE:
        # "#gabung TTS-000123" / "#gabung 123": the ticket that carries on, by its number.
        ref = _TICKET_REF.fullmatch(rest)
        if ref and int(ref[1]) > 0:
            return Command(kind, str(int(ref[1])), line.strip())
        if not hashed:
            return None
        return CommandError(line, "tulis nomor tiket tujuan, misalnya #gabung TTS-000123")
    if not hashed and rest and kind not in (CommandKind.NEED_INFO,):
        # A bare word followed by text is most likely an ordinary sentence.
        return None
    if kind is CommandKind.NEED_INFO and not rest and not hashed:
        return None
    return Command(kind, rest if kind in _FREE_TEXT else "", line.strip())


def parse_staff_reply(new_text: str, levels: tuple[str, ...] = ("tinggi", "sedang", "rendah")) -> StaffReply:
    """Split a staff reply into its leading command lines and the answer below them."""
    lines = new_text.replace("\r\n", "\n").split("\n")
    commands: list[Command] = []
    errors: list[CommandError] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        parsed = _parse_line(line, levels)
        if parsed is None:
            break
        if isinstance(parsed, CommandError):
            errors.append(parsed)
        else:
            commands.append(parsed)
        index += 1
    body = "\n".join(lines[index:]).strip()
    # A keyword line below the answer ("... terima kasih.\n#tutup") is not run, and must not
    # reach the user as text either: the reply is refused and its sender told where it goes.
    for line in lines[index:]:
        match = _LINE.match(line)
        if match and match.group("hash") and match.group("word").lower() in KEYWORDS:
            errors.append(CommandError(line.strip(), MISPLACED))
    return StaffReply(_ending_last(commands), tuple(errors), body)


def _ending_last(commands: list[Command]) -> tuple[Command, ...]:
    """The commands in the order written, except that one adding to the ticket (``#jawab``, ``#ambil``,
    ``#prioritas``, ``#telepon``) written after ``#tutup``/``#gabung`` runs before it, as staff mean it.
    A reply with ``#buka`` keeps its order: there the order is the meaning."""
    first_end = next((i for i, c in enumerate(commands) if c.kind in _ENDS_TICKET), None)
    if first_end is None or any(c.kind is CommandKind.REOPEN for c in commands):
        return tuple(commands)
    after = commands[first_end:]
    return (*commands[:first_end], *(c for c in after if c.kind in _ADDS_TO_TICKET),
            *(c for c in after if c.kind not in _ADDS_TO_TICKET))
