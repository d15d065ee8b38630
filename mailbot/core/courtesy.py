"""Whether a staff answer already greets the user or signs off, so a template adds neither twice.

Pure. Staff often write a whole letter ("Selamat siang Pak Budi, ... Salam, Andi"); the mail
that carries it then skips its own "Yth. ...," and "Salam, <helpdesk>". Only the first line
counts as a greeting and only the last few lines as a sign-off: a "terima kasih" in the middle
of an answer is neither.
"""

from __future__ import annotations

import re

_GREETING = re.compile(
    r"^\W*(?:yth\b|yang terhormat|kepada yth|dengan hormat|selamat (?:pagi|siang|sore|malam|datang)\b|"
    r"assalamu.?alaikum|salam sejahtera|om swastiastu|halo\b|hallo\b|hai\b|hi\b|hello\b|dear\b|"
    r"good (?:morning|afternoon|evening)\b)",
    re.IGNORECASE,
)
# "Pak Budi," / "Ibu Sari yth.," on a line of its own: an address that greets.
_ADDRESS_LINE = re.compile(r"^\W*(?:pak|bu|bapak|ibu|sdr|saudara|saudari|mas|mbak)\b[^.!?\n]{0,40}[,!]\s*$",
                           re.IGNORECASE)
# "Pak Andi, berikut panduannya.": the user's name called at the start of the first sentence greets
# as well (a capitalised name is required: "Ibu dapat mencoba, lalu ..." is no greeting).
_ADDRESS_OPENING = re.compile(r"^\W*(?i:pak|bu|bapak|ibu|sdr|saudara|saudari|mas|mbak)(?:\s+[A-Z][\w.'-]*){1,3}\s*,\s*\S")
_SIGN_OFF = re.compile(
    r"^\W*(?:salam\b|hormat (?:kami|saya)\b|wassalam|regards\b|best regards\b|kind regards\b|sincerely\b|"
    r"terima ?kasih,\s*$|salam hangat\b|tabik\b)",
    re.IGNORECASE,
)
_SIGN_OFF_LINES = 4  # a sign-off, a name, a role, a phone number


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def greets(text: str) -> bool:
    """The answer opens with a greeting of its own ("Selamat siang Pak Budi,", "Yth. Ibu Sari,")."""
    lines = _lines(text)
    return bool(lines) and any(r.match(lines[0]) for r in (_GREETING, _ADDRESS_LINE, _ADDRESS_OPENING))


def signs_off(text: str) -> bool:
    """The answer ends with a sign-off of its own ("Salam,\\nAndi", "Hormat kami,\\n...")."""
    return bool(split_sign_off(text)[1])


def split_sign_off(text: str) -> tuple[str, str]:
    """``(body, sign_off)``: the answer without its closing block, and that block ("" when none).

    A mail that adds paragraphs after the staff text (the closing note, the rating request) puts
    the staff sign-off at its end, where a reader expects it, instead of in the middle. The block
    starts at the first sign-off line among the last few; the answer's first line never starts
    it ("Salam sejahtera, ..." opens a letter), so a body always remains.
    """
    raw = text.replace("\r\n", "\n").split("\n")
    filled = [i for i, line in enumerate(raw) if line.strip()]
    if len(filled) < 2:
        return text, ""
    start = next((i for i in filled[-_SIGN_OFF_LINES:] if i != filled[0] and _SIGN_OFF.match(raw[i].strip())), None)
    if start is None:
        return text, ""
    return "\n".join(raw[:start]).rstrip(), "\n".join(line.strip() for line in raw[start:]).strip()


def without_sign_off(text: str) -> str:
    """The answer without its own closing block (see :func:`split_sign_off`)."""
    return split_sign_off(text)[0]


def sign_off(text: str) -> str:
    """The answer's own closing block ("Salam,\\nAndi"), or ""."""
    return split_sign_off(text)[1]
