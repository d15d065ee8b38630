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
    lines = _lines(text)
    return len(lines) > 1 and any(_SIGN_OFF.match(line) for line in lines[-_SIGN_OFF_LINES:])
