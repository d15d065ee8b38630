"""What a user's reply to a closed ticket means: a rating, "not solved", or just thanks.

Pure. A helpdesk must not reopen a ticket because the user said "terima kasih" or
rated the service, and must reopen it when the user says it is still broken.
"""

from __future__ import annotations

import re

from mailbot.core.matching import normalise

_RATING = re.compile(
    r"^\s*(?:(?:nilai|penilaian|rating|skor|score|bintang)\s*(?:saya|nya)?\s*[:=]?\s*)?([1-5])\s*(?:/\s*5|dari\s*5|bintang|stars?)?\s*[.!]?\s*$",
    re.IGNORECASE,
)
# "4 terima kasih infonya bu", "5, makasih": a rating with the thanks on the same line, as replies
# typed on a phone often are. Only thanks may follow: "3 hari belum ada jawaban" is no rating.
_RATING_THANKS = re.compile(
    r"^\s*(?:(?:nilai|penilaian|rating|skor|score|bintang)\s*(?:saya|nya)?\s*[:=]?\s*)?([1-5])\s*(?:/\s*5|dari\s*5|bintang|stars?)?"
    r"\s*[,.!:;\-]?\s+(?:terima ?kasih|makasih|trims|thanks?|thank you|tq)\b[^?]{0,80}$",
    re.IGNORECASE,
)
_NOT_SOLVED = [
    "belum selesai", "belum teratasi", "belum beres", "belum bisa", "belum berhasil", "masih error", "masih eror",
    "masih gagal", "masih tidak bisa", "masih ga bisa", "masih gak bisa", "masih belum", "tidak bisa juga",
    "tetap tidak bisa", "tetap gagal", "tetap error", "gak bisa juga", "ga bisa juga", "tdk bisa juga",
    "masalah belum", "not solved", "still not working", "still error", "still failing", "doesn't work", "does not work",
]
_THANKS = re.compile(r"\b(terima ?kasih|makasih|trims|thanks?|thank you|tq|sudah bisa|berhasil|oke|ok|baik)\b")


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def parse_rating(text: str) -> int | None:
    """A 1-5 rating written as the reply's first line ("5", "nilai 4", "5/5", "★★★★", "4 terima kasih")."""
    line = first_line(text)
    stars = line.count("\u2b50") + line.count("\u2605")
    if stars and 1 <= stars <= 5 and not line.replace("\u2b50", "").replace("\u2605", "").replace("\ufe0f", "").strip():
        return stars
    match = _RATING.match(line) or _RATING_THANKS.match(line)
    return int(match.group(1)) if match else None


def not_solved(text: str) -> bool:
    norm = normalise(text)
    return any(phrase in norm for phrase in _NOT_SOLVED)


def just_thanks(text: str) -> bool:
    """A short closing courtesy that asks for nothing more."""
    norm = normalise(text)
    return len(norm) <= 160 and "?" not in norm and bool(_THANKS.search(norm)) and not not_solved(text)
