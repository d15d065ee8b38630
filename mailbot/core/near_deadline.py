"""A near deadline found from its parts, not from whole phrases. PURE.

Public API: :func:`near_deadline` ("batas nya jam 4 sore ini" -> the words that say so, or None).

The phrase lists in ``config/priorities.toml`` ([deadline] patterns) fit the mails they were
tuned on; new mail says the same thing in new words ("batas nya jam 4 sore ini", "bid to submit by
16:00 today"). This detector looks for two parts in the same clause, a few words apart:

* a near-time marker: today/tomorrow words ("hari ini", "sore ini", "nanti", "besok", "today",
  "tonight"), a clock time ("jam 4", "pukul 16.00", "16:00", "13.00 WIB", "4 pm");
* and a reason for that time to be a deadline: a deadline word ("batas", "deadline", "paling
  lambat", "ditutup", "terakhir", "due", "closes", "by 16:00"), or a tender step that is happening
  or due ("pembukaan", "pemasukan", "evaluasi", "sanggah", "pembuktian", "klarifikasi", "opening").
  An upload or send verb ("upload", "kirim", "submit") counts only with a clock time or a later
  part of the day: "upload hari ini gagal" is more often when the failure happened.

A countdown ("tinggal 2 jam", "1 jam lagi", "30 minutes left") is a deadline by itself. A time that
says when the problem started ("sejak jam 8", "since 13:00 today", "tadi pagi") is not a deadline,
nor a clause that denies one ("tidak ada jadwal hari ini", "no deadline today"). Explicit dates
("15 Juli pukul 14.00") are :mod:`mailbot.core.deadline_dates`' job: they need the arrival time.

The text is expected normalised (lower case, see :func:`mailbot.core.matching.normalise`). Hard
line breaks inside a paragraph are read as spaces, so a wrapped sentence stays one clause.
"""

from __future__ import annotations

import itertools
import re

from mailbot.core.matching import snippet

__all__ = ["near_deadline"]

# A clause ends at a sentence mark followed by a space (not "16.00", not "v4.5"), a semicolon,
# or a blank line; a single line break is a hard wrap and does not end it.
_CLAUSE_END = re.compile(r"[.!?;]+(?=\s|$)|\n\s*\n|\n\s*(?:[-*>•]|\d+[.)])\s")
_MAX_CLAUSE = 400  # characters: a longer clause is read in overlapping pieces of this size
_WINDOW = 110  # characters between the time marker and its reason

_PART_OF_DAY = r"(?:pagi|siang|sore|petang|malam|malem|mlm|tengah\s+malam)"
# today and later today: "hari ini", "hr ini", "sore ini", "nanti sore", "today", "tonight"
_TODAY = (
    r"\b(?:hari\s*ini|hr\s*ini|hri\s*ini|harini|" + _PART_OF_DAY + r"\s+(?:ini|ni|nih|nie)|nanti(?:\s+" + _PART_OF_DAY + r")?|"
    r"ntar\s+" + _PART_OF_DAY + r"|today|tonight|this\s+(?:morning|afternoon|evening)|"
    r"(?:the\s+)?end\s+of\s+(?:the\s+)?(?:business\s+)?day|eod|cob|midnight)\b"
)
# "hari ini" alone: weaker than a later part of the day (it is also "the day it happened")
_PLAIN_TODAY = re.compile(r"\b(?:hari\s*ini|hr\s*ini|hri\s*ini|harini|today)\b")
_TOMORROW = r"\b(?:besok|bsk|bsok|besuk|esok|tomorrow|tmrw|tomorow)\b"
_CLOCK = (
    r"\b(?:jam|jm|pukul|pkl|pk)\s*\d{1,2}(?:[.:]\d{2})?(?:\s*" + _PART_OF_DAY + r")?\b"
    r"|(?<![\d.,:/-])(?:[01]?\d|2[0-3])[.:][0-5]\d(?![\d.:,/-]?\d)(?:\s*(?:wib|wita|wit))?"
    r"|\b(?:1[0-2]|0?[1-9])(?:[.:][0-5]\d)?\s*(?:am|pm)\b"
)
_MARKER = re.compile(f"{_TODAY}|{_TOMORROW}|{_CLOCK}")
_IS_CLOCK = re.compile(_CLOCK)

# "tinggal 2 jam", "sisa 30 menit", "1 jam lagi", "2 hours left", "in 30 minutes"
_COUNTDOWN = re.compile(
    r"\b(?:tinggal|sisa(?:\s+waktu)?|kurang|only|just)\s+(?:\d+|satu|dua|tiga|setengah|se)\s*(?:jam|menit|mnt|hours?|hrs?|minutes?|mins?)\b"
    r"|\b(?:\d+|satu|dua|tiga|setengah)\s*(?:jam|menit|mnt)\s+lagi\b|\bsejam\s+lagi\b"
    r"|\b\d+\s*(?:hours?|hrs?|minutes?|mins?)\s+(?:left|remaining|to\s+go)\b"
)

# "silakan coba kembali 30 menit lagi": a lockout message, not a deadline
_RETRY = re.compile(r"\b(?:coba|dicoba|mencoba|try|retry|tunggu|menunggu|wait|setelah|after)\b(?:\s+\S+){0,2}\s*$")
# "kalau nanti ...", "nanti saya kirim": a bare "nanti" is "later", not a time of day
_BARE_LATER = re.compile(r"^nanti$")
# words that make a near time a deadline
_DEADLINE_WORD = re.compile(
    r"\b(?:batas\w*|btas\w*|bts|btsnya|deadline\w*|dedline\w*|dead\s+line|dateline\w*|tenggat|paling\s+lambat|plg\s+lambat|selambat-?lambatnya|"
    r"maksimal|maks|ditutup|tutup|ditutupnya|berakhir\w*|terakhir\w*|trakhir\w*|penutupan|jatuh\s+tempo|"
    r"harus|wajib|mesti|hrs|due|closes?|closing|ends?|expires?|last\s+day|must|has\s+to|have\s+to|need\s+to)\b"
)
# an obligation is no deadline next to a bare "nanti": "apakah nanti ada email atau harus cek
# sendiri?" asks what will happen later, "nanti harus upload ulang" is later, not by when
_OBLIGATION = re.compile(r"\b(?:harus|wajib|mesti|hrs|must|has\s+to|have\s+to|need\s+to)\b")
# "by 16:00", "sebelum jam 4", "before tomorrow": the word is right before the time
_BY_BEFORE = re.compile(r"\b(?:by|before|sebelum|sblm|until|sampai|hingga|s/?d)\s+(?:about\s+|sekitar\s+)?$")
# a tender step that happens on a set day
_STEP = re.compile(
    r"\b(?:pembukaan|pemasukan|pemasukkan|evaluasi|sanggah\w*|pembuktian|penetapan|pengumuman\s+pemenang|"
    r"klarifikasi|negosiasi|aanwijzing|penjelasan|jadwal\w*|tahap\w*|opening|submission|bidding\s+closes?)\b"
)
# an action that must be done in time: counts only with a clock time or a later part of the day
_ACTION = re.compile(
    r"\b(?:di|meng|me|ng|ter)?(?:up\s?load|uplod|aplod|unggah|ungah|kirim|krm|submit)(?:kan|nya|in|ed|ing)?\b|\bbid\b"
)
# a date or a weekday just before a clock time: an explicit date, whose nearness needs the arrival
# time (mailbot.core.deadline_dates), or a mail header ("Date: Sen, 3 Jun 2024 09.12")
_DATED = re.compile(
    r"\d{1,2}\s*[/-]\s*\d{1,2}\s*[/-]\s*\d{2,4}|\b\d{1,2}\s+[a-z]{3,9}\.?(?:\s+\d{4})?\b|\b[a-z]{3,9}\s+\d{1,2},?\s+\d{4}\b"
    r"|\b(?:senin|selasa|rabu|kamis|jumat|jum'at|sabtu|minggu|sen|sel|kam|jum|sab|min|monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun|tanggal|tgl|date)\b"
)
# "sampai hari ini belum ..." is "up to now"
_UP_TO_NOW = re.compile(r"\b(?:sampai|hingga|sampe|smpai|smp|sd|until|up\s+to)\s+(?:dengan\s+|dgn\s+)?$")
# the time says when something started or happened, not when it is due
_PAST_BEFORE = re.compile(
    r"\b(?:sejak|semenjak|dari|mulai\s+dari|since|started|starting|from|tadi|td|kemarin|kmrn|kemaren|yesterday|"
    r"at\s+about|around)(?:\s+" + _PART_OF_DAY + r"|\s+(?:morning|afternoon|evening))?\s+"
    r"(?:(?:about|sekitar|kira-?kira|kurang\s+lebih|kurleb|\+-|pukul|jam|pkl)\s+)?$"
)
_PAST_AFTER = re.compile(r"^\s*(?:tadi|td|kemarin|kmrn|kemaren|yang\s+lalu|yg\s+lalu|ago|lalu)\b")
# "pada jam 10 saya upload", "saat pukul 14.00 kami kirim": when it happened; only a deadline word
# ("pada hari ini pukul 15.00 batas akhir ...") makes such a time a deadline
_OCCASION_BEFORE = re.compile(r"\b(?:pada|pd|saat|ketika|waktu|wkt|when|while)\s+(?:hari\s+ini\s+)?$")
# a step or a deadline that is already over: "tender sudah ditutup kemarin, hari ini saya mau tanya"
_OVER = re.compile(
    r"\b(?:sudah|telah|sdh|udah|already|has\s+been|was)\s+(?:\w+\s+)?(?:selesai|lewat|terlewat|berakhir|ditutup|"
    r"tutup|closed|over|passed|ended|expired)\b"
)
# the writer denies a deadline, or puts it far away
_DENIED = re.compile(
    r"\b(?:tidak|tdk|bukan|belum|blm|no|not|nggak|gak|ga)\s+(?:ada\s+)?(?:\w+\s+){0,2}"
    r"(?:tahap\w*|jadwal\w*|deadline|batas\w*|tenggat|urgent|mendesak|buru-?buru)\b"
    r"|\bmasa\s+sanggah\s+(?:di)?mulai\b|\b(?:minggu|bulan|pekan)\s+depan\b|\bnext\s+(?:week|month)\b|\bmasih\s+lama\b|\bbesok\s+lusa\b|\blusa\b"
    r"|\b(?:terakhir|trakhir)\s+(?:kali|kalinya|saya|sy|kami|dicoba|coba|login|masuk)\b"
)


def _clauses(text: str) -> list[str]:
    out: list[str] = []
    start = 0
    for end in _CLAUSE_END.finditer(text):
        out.append(text[start : end.start()])
        start = end.end()
    out.append(text[start:])
    clauses: list[str] = []
    for raw in out:
        clause = " ".join(raw.split())
        # a long run-on paragraph (no full stops) is read in overlapping pieces, so no part is skipped
        step = _MAX_CLAUSE - _WINDOW
        clauses.extend(clause[i : i + _MAX_CLAUSE] for i in range(0, max(1, len(clause) - _WINDOW), step))
    return [c for c in clauses if c]


def _reason(clause: str, marker: re.Match[str]) -> str | None:
    """Why the near time in ``marker`` is a deadline, or None."""
    lo = max(0, marker.start() - _WINDOW)
    hi = min(len(clause), marker.end() + _WINDOW)
    before, after = clause[lo : marker.start()], clause[marker.end() : hi]
    if _PAST_BEFORE.search(before[-40:]) or _PAST_AFTER.search(after):
        return None
    if _BARE_LATER.match(marker[0]):
        near = before[-50:] + " " + after[:50]
        if not any(not _OBLIGATION.fullmatch(m[0]) for m in _DEADLINE_WORD.finditer(near)):
            return None
    plain_today = _PLAIN_TODAY.fullmatch(marker[0]) is not None
    if plain_today and _UP_TO_NOW.search(before[-20:]):
        return None
    if _IS_CLOCK.fullmatch(marker[0]) and _DATED.search(before[-35:]):
        return None
    if _BY_BEFORE.search(before[-30:]):
        return "by"
    around = before + " " + after
    if _DEADLINE_WORD.search(around):
        return "cue"
    if _OCCASION_BEFORE.search(before[-25:]):
        return None
    if _STEP.search(around):
        return "step"
    if _ACTION.search(around) and not plain_today:
        return "action"
    return None


def near_deadline(text: str) -> str | None:
    """The words saying that a deadline (or a tender step) is today or tomorrow, or None."""
    for clause in _clauses(text):
        countdown = _COUNTDOWN.search(clause)
        if countdown and _RETRY.search(clause[max(0, countdown.start() - 40) : countdown.start()]):
            countdown = None
        if countdown and not _DENIED.search(clause):
            return snippet(countdown[0])
        markers = _MARKER.finditer(clause)
        first = next(markers, None)  # most clauses have no near time: nothing to deny then
        if first is None or _DENIED.search(clause) or _OVER.search(clause):
            continue
        for marker in itertools.chain((first,), markers):
            if _reason(clause, marker) is not None:
                lo = max(0, marker.start() - 40)
                return snippet(clause[lo : marker.end() + 20].strip())
    return None
