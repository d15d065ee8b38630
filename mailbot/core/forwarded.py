"""The forwarded mail inside a staff member's ``#buat`` mail: its original sender, subject and text.

Pure. Staff forward a user's mail to the helpdesk with ``#buat`` on the first line; the ticket
is the original sender's. Mail clients write the forwarded headers as a block of ``Label: value``
lines, in the language of their interface (Gmail "---------- Forwarded message ---------" /
"Pesan terusan", Outlook "From: / Sent: / To: / Subject:", Apple Mail "Begin forwarded message:",
Thunderbird with Subject first). A forwarded ``message/rfc822`` attachment is turned into the
same kind of block by ``core.parse`` (its ``From:``, ``Date:``, ``Subject:`` lines), so one
reader serves both.

The block is found by its sender line (``From``/``Dari``/``Van``/``Da``/``De``/``Von``) carrying
an e-mail address; the header lines next to it belong to the block; the text after it is the
forwarded mail. Nothing here is proof of anything: the forwarded headers are whatever the
forwarding client wrote; only a verified staff member's ``#buat`` is read at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr

_LABEL = r"^[ \t>]*\*?(?P<label>[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ .-]{0,20}?)\*?[ \t]*:[ \t]*(?P<value>.*)$"
_HEADER_RE = re.compile(_LABEL)
_FROM_LABELS = {"from", "dari", "van", "da", "de", "von", "pengirim", "sender"}
_SUBJECT_LABELS = {"subject", "subjek", "perihal", "hal", "judul", "onderwerp", "oggetto", "objet", "betreff",
                   "asunto", "assunto"}
# Other header lines of a forwarded block: they belong to it (and are not the forwarded text).
_OTHER_LABELS = {"date", "sent", "tanggal", "dikirim", "terkirim", "to", "kepada", "untuk", "cc", "bcc", "reply-to",
                 "datum", "verzonden", "aan", "inviato", "data", "a", "envoyé", "à", "gesendet", "an", "fecha",
                 "para", "enviado", "importance", "kepentingan"}
_MARKER_RE = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:Forwarded message|Forwarded Message|Original Message|Pesan terusan|"
    r"Pesan yang diteruskan|Pesan diteruskan|Pesan Asli)[ \t]*-{2,}|Begin forwarded message:|"
    r"Awal pesan yang diteruskan:|_{5,})[ \t]*$", re.IGNORECASE)
_ADDRESS_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
#: The forwarded headers sit within a few lines of each other; a letter that merely starts with
#: "Dari: PT ..." has no address in it and is not a block.
_MAX_BLOCK_LINES = 12


@dataclass(frozen=True)
class Forwarded:
    """The original mail as the forwarding client wrote it."""

    address: str  # lower case
    name: str
    subject: str
    text: str  # the forwarded mail's text (below its header block)


def _label(line: str) -> tuple[str, str] | None:
    match = _HEADER_RE.match(line)
    if not match:
        return None
    return match.group("label").strip().lower(), match.group("value").strip()


def sender_of(value: str) -> tuple[str, str] | None:
    """(address, name) from a forwarded From value: ``Budi <b@x.id>``, ``Budi [mailto:b@x.id]``,
    ``"Budi" b@x.id``, ``b@x.id``; None when it holds no address."""
    cleaned = re.sub(r"\[mailto:([^\]]+)\]", r"<\1>", value)
    name, address = parseaddr(cleaned)
    if not _ADDRESS_RE.fullmatch(address or ""):
        found = _ADDRESS_RE.search(cleaned)
        if not found:
            return None
        address = found.group(0)
        name = cleaned[:found.start()].strip(" \t<>\"'(")
    if name and _ADDRESS_RE.fullmatch(name.strip("\"' ")):
        name = ""  # "b@x.id <b@x.id>": no name
    return address.lower(), name.strip().strip("\"'").strip()


def find_forwarded(text: str) -> Forwarded | None:
    """The first forwarded mail in ``text`` (a staff member's mail, whole), or None."""
    lines = text.replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        labelled = _label(line)
        if labelled is None or labelled[0] not in _FROM_LABELS:
            continue
        sender = sender_of(labelled[1])
        if sender is None:
            continue
        start, end = _block(lines, i)
        if end - start < 2 and not (start > 0 and _MARKER_RE.match(lines[start - 1])):
            continue  # a lone "Dari: ..." line in a letter, not a forwarded header block
        subject = ""
        for header in lines[start:end]:
            got = _label(header)
            if got and got[0] in _SUBJECT_LABELS and not subject:
                subject = got[1]
        body = "\n".join(lines[end:]).strip()
        return Forwarded(address=sender[0], name=sender[1], subject=subject, text=body)
    return None


def _block(lines: list[str], i: int) -> tuple[int, int]:
    """The header block around the sender line ``lines[i]``: [start, end)."""
    def is_header(line: str) -> bool:
        got = _label(line)
        return got is not None and got[0] in _FROM_LABELS | _SUBJECT_LABELS | _OTHER_LABELS

    start = i
    while start > 0 and i - start < _MAX_BLOCK_LINES and is_header(lines[start - 1]):
        start -= 1
    end = i + 1
    while end < len(lines) and end - start < _MAX_BLOCK_LINES and is_header(lines[end]):
        end += 1
    return start, end
