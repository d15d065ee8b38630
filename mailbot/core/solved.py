"""A user who says the problem is solved while the ticket is still open ("sudah bisa pak, terima kasih").

Pure. Public API: :func:`reports_solved` (the reply's new text -> the words that say the problem
is solved, or None), :func:`solved_decision` (what ``workflow.decide`` does with such a reply) and
:func:`standing_report` (a ticket's events -> the user's latest such report that nothing has
overtaken since, or None: the console's hint).

On a closed ticket ``core.feedback`` reads the reply (a rating, thanks, "not solved"). On an open
ticket a reply that only says the problem went away means, by the SOP, that step 9 is due: the
helpdesk (not the user, not the bot) closes the ticket with its answer. The user no longer owes
data, so the reminder and the auto-close stop; staff are told in one line.

Reading it wrongly costs more one way than the other: a missed report only leaves today's
behaviour (staff read the reply), while a false one tells staff to close a ticket whose user is
still stuck. So the reply must be short, state the solution (``_SOLVED``), and contain nothing
else that asks or reports trouble:

* no question (a "?" or a question clause, :func:`mailbot.core.intent.asks`): "berhasil?",
  "apakah sudah bisa diproses";
* no "not solved" words (:func:`mailbot.core.feedback.not_solved`) and nothing still open:
  "belum", "masih", a "but" ("sudah bisa login tapi upload ..."), a wait ("terima kasih,
  ditunggu"), a hedge or a future ("semoga sudah bisa", "nanti saya coba");
* no request ("mohon dicek") and, once the solved words, thanks and apologies are blanked out,
  nothing :func:`mailbot.core.intent.amiss` finds ("sudah bisa login, upload gagal").

"sudah saya kirim datanya" says data was sent, not that anything works: no solved words, None.
The text is the reply's new text (quoted history removed); it is normalised here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailbot.core.decisions import Decision, Effect, Record, SendMail, SetMissing
from mailbot.core.domain import EventKind, EventRecord, TicketState
from mailbot.core.feedback import not_solved
from mailbot.core.intent import amiss, asks
from mailbot.core.matching import normalise, snippet

__all__ = ["MAX_CHARS", "reports_solved", "solved_decision", "standing_report"]

#: A report of a solution is a line or two; a longer reply says more than that and staff read it.
MAX_CHARS = 400

_NEG = r"(?:tidak|tdk|tak|gak|ga|gk|nggak|ngga|enggak|ndak|belum|blm|bukan|not|never|no)"
_NEG_WORD = re.compile(r"\b" + _NEG + r"\b")
# a negation just before the solved words: "tidak berhasil", "not fixed"
_NEG_BEFORE = re.compile(r"\b" + _NEG + r"\s+(?:\w+\s+)?$")

_SOLVED = re.compile(
    # "sudah bisa", "sdh berhasil upload", "sekarang sudah normal kembali", "now it works"
    r"\b(?:sudah|sdh|sdah|udah|udh|dah|telah|tlh|sekarang|skrg|skg|kini|akhirnya|now)\s+(?:\w+\s+){0,2}?"
    r"(?:bisa|bs|bsa|dapat|dpt|berhasil|berhsl|normal|lancar|teratasi|terselesaikan|sukses|works?|working)\b"
    # the same, with words that also mean other things only right after the marker: "sudah beres",
    # "sudah oke" ("sudah saya kirim ok" is no report)
    r"|\b(?:sudah|sdh|udah|udh|telah)\s+(?:aman|beres|ok|oke|okay|fine|resolved|solved|fixed)\b"
    r"|\b(?:it'?s|it\s+is|has\s+been|got)\s+(?:now\s+)?(?:fixed|resolved|solved|working)\b"
    # a trouble that is over: "masalah login saya sudah teratasi", "problem solved", "error sudah hilang"
    r"|\b(?:masalah\w*|permasalahan\w*|kendala\w*|problem\w*|issues?|error\w*|eror\w*|gangguan\w*)\s+"
    r"(?:\w+\s+){0,3}?(?:(?:sudah|sdh|udah|telah|is|has\s+been|was|been)\s+)?"
    r"(?:teratasi|terselesaikan|selesai|beres|hilang|solved|resolved|fixed|gone)\b"
    # tried again and it worked: "sudah saya coba lagi dan berhasil"
    r"|\b(?:dan|and)\s+(?:sudah\s+|sdh\s+|akhirnya\s+|now\s+|it\s+)?(?:berhasil|bisa|sukses|works?|worked)\b"
    # English: "it works now", "working fine now", "all good now"
    r"|\b(?:works|working|is\s+working|(?:is|are|all)\s+(?:fine|good|ok))(?:\s+fine)?\s+now\b|\ball\s+good\b"
    # a clause that is the solution itself: "berhasil, terima kasih", "alhamdulillah beres"
    r"|(?:^|[.!,;\n]\s*)(?:(?:alhamdulillah|puji\s+tuhan|syukurlah)\W+)?"
    r"(?:berhasil|sukses|beres|solved|resolved|fixed)\b"
    # the user says the ticket may close: "tiketnya boleh ditutup", "you can close the ticket"
    r"|\b(?:boleh|bisa|dapat|silakan|silahkan|mohon|tolong|please)\s+(?:di)?tutup\w*(?:\s+(?:saja|aja|tiket\w*))?"
    r"|\b(?:can|may)\s+close\s+(?:the\s+|this\s+)?ticket\b"
)
# a trouble said to be gone, negation and all: "sudah tidak error lagi", "tidak ada kendala lagi",
# "no more errors" (read without the negation check of ``_SOLVED``)
_GONE = re.compile(
    r"\b(?:sudah|sdh|udah|telah)\s+(?:tidak|tdk|gak|ga|nggak|ngga|enggak)\s+(?:ada\s+)?(?:muncul\s+)?"
    r"(?:error|eror|gagal|bermasalah|masalah|kendala|lemot|lambat|lelet)\w*(?:\s+lagi)?"
    r"|\b(?:tidak|tdk|gak|ga|nggak|ngga)\s+(?:ada\s+)?(?:error|eror|gagal|bermasalah|masalah|kendala|lemot|lambat)\w*"
    r"\s+lagi\b"
    r"|\bno\s+(?:more\s+|longer\s+(?:an?\s+)?)(?:errors?|issues?|problems?)\b"
)
# words that leave something open: a remaining failure ("masih"), a "but", a wait, a hedge, a
# future; "belum" anywhere (``feedback.not_solved`` knows its common phrases, not all)
_OPEN = re.compile(
    r"\b(?:belum|blm|blom|masih|msh|tapi|tp|tetapi|namun|cuma|cuman|hanya\s+saja|but|however|still|yet|except|"
    r"ditunggu|menunggu|tunggu|waiting|await\w*|semoga|mudah-?\s?mudahan|moga-?\s?moga|mungkin|sepertinya|"
    r"kayaknya|kyknya|kelihatannya|barangkali|maybe|hopefully|probably|perhaps|seems?|nanti|besok|akan|"
    r"later|will|sementara|temporar\w*|kadang\w*|sometimes|lagi\s+(?:error|eror|gagal))\b"
)
# thanks, an apology, a greeting: blanked out before the check for trouble ("terima kasih atas
# bantuannya" names help, "mohon maaf merepotkan" a bother, neither is a request)
_COURTESY = re.compile(
    r"\b(?:terima\s*kasih|terimakasih|trima\s*kasih|makasih|mksh|makasi|trims|thank\s+you|thanks?|thx|tq|nuhun|"
    r"suksma)\b(?:\s+(?:banyak|byk|sekali|so\s+much|a\s+lot|very\s+much))?"
    # what the thanks are for, wherever it stands ("terima kasih Pak Helpdesk atas bantuannya")
    r"|\b(?:atas|untuk|utk|buat|for)\s+(?:\w+\s+){0,2}?(?:bantuan\w*|respon\w*|tanggapan\w*|kerja\s*sama\w*|"
    r"perhatian\w*|pelayanan\w*|layanan\w*|informasi\w*|info\w*|arahan\w*|petunjuk\w*|solusi\w*|help|support|"
    r"assistance|kesabaran\w*)"
    r"|\b(?:mohon\s+)?maaf\b(?:\s+(?:merepotkan|mengganggu|telah\s+merepotkan))?"
)
# a request that remains: "mohon dicek", "tolong dibantu", "please advise"
_REQUEST = re.compile(r"\b(?:mohon|mhn|tolong|tlg|harap|minta|please|pls|plz)\b")


def _solved_spans(norm: str) -> list[re.Match[str]]:
    """The solved words not negated ("tidak berhasil", "sekarang tidak bisa" are no solution)."""
    found = list(_GONE.finditer(norm))
    for match in _SOLVED.finditer(norm):
        if _NEG_WORD.search(match[0]) or _NEG_BEFORE.search(norm[: match.start()][-30:]):
            continue
        if not any(g.start() < match.end() and match.start() < g.end() for g in found):
            found.append(match)
    return sorted(found, key=lambda m: m.start())


def reports_solved(text: str) -> str | None:
    """The words saying the problem is solved, when the reply says that and nothing else; None otherwise.

    ``text`` is the reply's new text. ``"sudah bisa pak, terima kasih"`` -> ``"sudah bisa"``;
    ``"sudah bisa login tapi upload masih gagal"``, ``"berhasil?"``, ``"terima kasih, ditunggu"`` -> None.
    """
    norm = normalise(text)
    if not norm or len(norm) > MAX_CHARS or "?" in norm:
        return None
    if not_solved(norm) or _OPEN.search(norm) or asks(norm) is not None:
        return None
    spans = _solved_spans(norm)
    if not spans:
        return None
    rest = list(norm)
    for match in spans:  # blank the solved words out; the rest must say nothing amiss
        rest[match.start():match.end()] = " " * (match.end() - match.start())
    remainder = _COURTESY.sub(" ", "".join(rest))
    if _REQUEST.search(remainder) or amiss(remainder) is not None:
        return None
    return snippet(spans[0][0].strip(" .,;!\n"))


def solved_decision(state: TicketState, missing: tuple[str, ...], assignee: str | None, actor: str,
                    words: str) -> Decision:
    """An open ticket's user says the problem is solved (``words``): SOP step 9 is the helpdesk's.

    Staff are told in the notification's first line (``solved`` in its context); nothing closes by
    itself, the priority stays, and the user gets no mail (the "closed" mail follows staff's close).
    Data the user was asked for is owed no more: a ticket waiting for it goes to analysis, where the
    reminder and the auto-close do not run. LKPP, when it holds the ticket, is told the same.
    """
    effects: list[Effect] = [Record(EventKind.USER_REPLIED, f"reply from {actor}")]
    data: dict[str, object] = {"words": words}
    after = state
    waiting = state is TicketState.WAITING_USER
    if waiting:
        data["waived"] = list(missing)  # empty when staff asked in words
        effects.append(SetMissing(()))
        after = TicketState.ANALYSIS
    effects.append(Record(EventKind.USER_SOLVED, f'the user reports the problem solved ({actor}): "{words}"',
                          data=data))
    if waiting:
        # SOP step 7 starts here as it does when the data arrives: its one-day clock now asks
        # staff to confirm and close, not to analyse a problem the user says is gone.
        effects.append(Record(EventKind.ANALYSIS_STARTED, "the user reports it solved", 7))
    if state is TicketState.ESCALATED:
        effects.append(SendMail("lkpp", "lkpp_user_update", {"solved": words}))
    effects.append(SendMail("assignee" if assignee else "staff", "staff_user_reply", {"solved": words}))
    return Decision(after, tuple(effects))


# Events after which a "solved" report no longer stands: the user wrote again (a reply that is a
# report records ``user_solved`` after it), the ticket reopened or closed, or someone asked for data.
_OVERTAKEN = {EventKind.USER_REPLIED, EventKind.REOPENED, EventKind.CLOSED, EventKind.MERGED,
              EventKind.DATA_REQUESTED, EventKind.ESCALATED, EventKind.WITHDRAWN}


def standing_report(events: Iterable[EventRecord]) -> EventRecord | None:
    """The latest ``user_solved`` event nothing has overtaken (oldest-first ``events``), or None.

    The console shows it as a hint on an open ticket: the user said it is solved; close it.
    """
    found: EventRecord | None = None
    for e in events:
        if e.kind == EventKind.USER_SOLVED:
            found = e
        elif e.kind in _OVERTAKEN or (e.kind == EventKind.LKPP_REPLIED and (e.data or {}).get("asked")):
            found = None
    return found
