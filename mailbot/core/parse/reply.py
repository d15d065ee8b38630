"""The new part of a reply (:func:`extract_new_text`): quoted history and signatures cut off.

Our own markers (quote blocks, "On ... wrote:" / "Pada ... menulis:" attributions and their
Italian, Dutch, French, Nordic ... forms, Zoho's "---- On ... wrote ----", Outlook header
blocks in the languages of its UI, separators, signatures) decide first; mail-parser-reply
gets a second look at what they left. A reply written between or below the quotes keeps the
user's lines there. Forwarded mail is kept: it is what the user brings us. Measured on
tests/data/replies (tests/unit/test_reply_corpus.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain

from mailparser_reply import EmailReplyParser
from mailparser_reply.parser import EmailMessage

from mailbot.core.parse.decoding import normalise_newlines

_QUOTE_RE = re.compile(r"^[ \t]*>")
_QUOTE_PREFIX = r"^[ \t]*(?:>[ \t]?)*"
# The verbs clients put at the end of an attribution ("... wrote:"), in the languages our
# users' and their correspondents' clients speak.
_WROTE_VERBS = (
    r"(?:wrote|menulis|schrieb|a écrit|escribió|ha scritto|schreef|het volgende geschreven|"
    r"napisała?|skrev|đã viết|написала?|kirjoitti|escreveu|yazdı)"
)
# Attribution lines (Gmail, Thunderbird, Apple Mail, Yahoo, Outlook for Mac), English and
# Indonesian; Gmail wraps long ones over two or three lines, so callers join lines first.
_ATTRIBUTION_START_RE = re.compile(_QUOTE_PREFIX + r"(?:On|Pada)\s")
_ATTRIBUTION_RE = re.compile(_QUOTE_PREFIX + r"(?:On|Pada)\s.{3,600}?\s?(?:wrote|menulis)\s*:\s*$")
_ATTRIBUTION_END_RE = re.compile(r"(?:wrote|menulis)\s*:\s*$")
# Any other language's attribution: "Il giorno ... ha scritto:", "Op ... schreef ...:",
# "Le ... a écrit :", "Den ... skrev:". Without a known opening word it must carry an
# address or a time, not only a year.
_ANY_ATTRIBUTION_END_RE = re.compile(_WROTE_VERBS + r"(?:[ \t]+[^:]{1,80})?\s*:\s*$", re.IGNORECASE)
# Zoho and Android stock mail frame it in dashes: "---- On <date> <name> wrote ----".
_DASHED_START_RE = re.compile(_QUOTE_PREFIX + r"-{2,}[ \t]*\S")
_DASHED_END_RE = re.compile(r"\b" + _WROTE_VERBS + r"[ \t]*-{2,}[ \t]*$", re.IGNORECASE)
# What makes an attribution real and not a sentence of the user: an address, a time or a
# year. "On Monday I wrote:" has none of them.
_EVIDENCE_RE = re.compile(r"@|\b\d{1,2}[:.]\d{2}\b|\b(?:19|20)\d{2}\b")
_TIME_OR_AT_RE = re.compile(r"@|\b\d{1,2}[:.]\d{2}\b")
_TIME_RE = re.compile(r"\b\d{1,2}[:.]\d{2}\b")
_YEAR_RE = re.compile(r"\b(?:19|20)\d{2}\b")
# A line that ends with a "wrote"-verb right above a quote block (other clients/languages).
_WROTE_VERB_END_RE = re.compile(_WROTE_VERBS + r"(?:[ \t]+[^:]{1,80})?\s*:\s*$", re.IGNORECASE)
_ORIGINAL_RE = re.compile(
    _QUOTE_PREFIX
    + r"-{3,}[ \t]*(?:Original Message|Reply Message|Original-Nachricht|Ursprüngliche Nachricht|Pesan Asli|"
    r"Pesan Awal|Pesan Sebelumnya|Messaggio originale|Oorspronkelijk bericht|Oorspronkelijk Bericht|"
    r"Message d'origine|Mensaje original|Mensagem original|Oprindelig meddelelse|Ursprungligt meddelande)"
    r"[ \t]*-{3,}[ \t]*$",
    re.IGNORECASE,
)
_FORWARD_RE = re.compile(
    r"^[ \t]*(?:-{3,}[ \t]*(?:Forwarded message|Pesan terusan|Pesan yang diteruskan|Pesan diteruskan)[ \t]*-{3,}"
    r"|Begin forwarded message:|Awal pesan yang diteruskan:)[ \t]*$",
    re.IGNORECASE,
)
# Outlook's header block above the history, in the languages of its UI (Indonesian,
# English, Dutch, Italian, French, German, Nordic, Portuguese, Spanish).
_HEADER_FROM_RE = re.compile(
    _QUOTE_PREFIX + r"\*?(?:From|Dari|Van|Da|De|Von|Fra|Från|Od|Remitente)\*?[ \t]*:", re.IGNORECASE
)
_HEADER_DATE_RE = re.compile(
    _QUOTE_PREFIX + r"\*?(?:Sent|Date|Dikirim|Terkirim|Tanggal|Verzonden|Datum|Inviato|Data|Envoyé|Gesendet|"
    r"Sendt|Skickat|Enviada em|Enviado|Fecha)\*?[ \t]*:",
    re.IGNORECASE,
)
_HEADER_OTHER_RE = re.compile(
    _QUOTE_PREFIX + r"\*?(?:To|Cc|Subject|Kepada|Ke|Subjek|Perihal|Tembusan|Aan|Onderwerp|A|Oggetto|À|Objet|An|"
    r"Betreff|Til|Emne|Till|Ämne|Para|Assunto|Asunto|Reply-To)\*?[ \t]*:",
    re.IGNORECASE,
)
_HEADER_LINE_RE = re.compile(r"^[ \t]*\*?[A-Za-z][\w -]{0,30}\*?[ \t]*:")
_UNDERSCORE_RE = re.compile(r"^[ \t]*_{20,}[ \t]*$")
_SIGNATURE_RE = re.compile(r"^--[ \t]*$")
_DECORATION_RE = re.compile(r"^[ \t]*[-_=*~]{3,}[ \t]*$")
_MOBILE_SIGNATURE_RE = re.compile(
    r"^[ \t]*(?:Sent from my \S.{0,40}|Sent from (?:Mail|Outlook|Yahoo Mail)\b.{0,40}|Get Outlook for \S.{0,40}"
    r"|Dapatkan Outlook untuk \S.{0,40}"  # Outlook for Android/iOS in Indonesian
    r"|Dikirim dari (?:iPhone|iPad|ponsel|perangkat|Yahoo Mail|Outlook|Samsung|Android|Email|HP|handphone|smartphone"
    r"|Xiaomi|Redmi|OPPO|vivo|Huawei|realme)\b.{0,40})[ \t]*$",
    re.IGNORECASE,
)


def is_client_tagline(line: str) -> bool:
    """A line the user's mail app adds ("Sent from my iPhone", "Dikirim dari Yahoo Mail di Android"),
    not the user's words: staff are not shown it."""
    return bool(_MOBILE_SIGNATURE_RE.match(line))


_MAX_MARKER_LINE = 1000  # no attribution or header line is longer; skip regexes on longer ones
_MAX_DASHED = 400  # Zoho's "---- On <date> <name> <address> wrote ----" is shorter
_VERB_TAIL = 160  # an attribution's verb, what may follow it ("schreef <name> <addr>") and its colon


def _attribution_at(lines: Sequence[str], i: int) -> int:
    """Number of lines (1-3) forming an attribution starting at ``lines[i]``, or 0."""
    if len(lines[i]) > _MAX_MARKER_LINE or not lines[i].strip():
        return 0
    line = lines[i].rstrip()
    if (line.endswith("--") and len(line) <= _MAX_DASHED and _DASHED_START_RE.match(line)
            and _DASHED_END_RE.search(line[-_VERB_TAIL:])):
        return 1
    known_start = bool(_ATTRIBUTION_START_RE.match(lines[i]))
    joined = ""
    for count in range(1, 4):
        if i + count > len(lines):
            break
        line = lines[i + count - 1]
        if count > 1 and (not line.strip() or len(line) > _MAX_MARKER_LINE):
            break
        joined = f"{joined} {line.strip()}" if joined else line
        # Every attribution ends with its verb and a colon: look at the end only (a long line
        # full of "wrote" must not cost a regex search per word).
        if not joined.rstrip().endswith(":"):
            continue
        tail = joined[-_VERB_TAIL:]
        if known_start and _ATTRIBUTION_END_RE.search(tail):
            if len(joined) <= 700 and _ATTRIBUTION_RE.match(joined) and _EVIDENCE_RE.search(joined):
                return count
            return 0
        # Another language's attribution opens with its date ("Il lun 15 gen 2025 alle 17:03, ..."):
        # over several lines, a first line without one is the user's text above it.
        if (count == 1 or _EVIDENCE_RE.search(lines[i])) and _ANY_ATTRIBUTION_END_RE.search(tail):
            # Another language's opening word: an address, or a time and a year ("jam 10.15
            # sistem menulis:" above an error message is the user's sentence), and short.
            if len(joined) <= 400 and ("@" in joined or (_TIME_RE.search(joined) and _YEAR_RE.search(joined))):
                return count
            return 0
    return 0


def _outlook_block_at(lines: Sequence[str], i: int) -> bool:
    """An Outlook-style "From: / Sent: / To: / Subject:" header block starts at ``lines[i]``."""
    if len(lines[i]) > _MAX_MARKER_LINE or not _HEADER_FROM_RE.match(lines[i]):
        return False
    block = lines[i : i + 7]
    has_date = any(_HEADER_DATE_RE.match(line) for line in block[1:])
    others = sum(1 for line in block[1:] if _HEADER_DATE_RE.match(line) or _HEADER_OTHER_RE.match(line))
    # An address or a time is what tells Outlook's block from a letter that starts with
    # "Dari: PT ... / Kepada: ... / Perihal: ...".
    return has_date and others >= 2 and any(_TIME_OR_AT_RE.search(line) for line in block)


def _forward_header_end(lines: Sequence[str], i: int) -> int:
    """Index of the first line after the header block that follows a forward marker."""
    j = i + 1
    while j < len(lines) and j <= i + 2 and not lines[j].strip():
        j += 1
    end = min(len(lines), j + 15)
    while j < end and _HEADER_LINE_RE.match(lines[j]):
        j += 1
    return j


def _lookback_attribution(lines: Sequence[str], q: int) -> int:
    """Start of the history that begins with a quote block at ``q``: include its attribution."""
    p = q - 1
    while p >= 0 and q - p <= 3 and not lines[p].strip():
        p -= 1
    if p < 0 or q - p > 3 or len(lines[p]) > _MAX_MARKER_LINE:
        return q
    line = lines[p].rstrip()
    if not line.endswith(":"):
        return q
    if not (_WROTE_VERB_END_RE.search(line[-_VERB_TAIL:]) or "@" in line):
        return q
    # A wrapped attribution: take the line(s) above while what we have is only its tail
    # ("ha scritto:", "<addr>> wrote:") or the line above breaks off ("... <", "..., ").
    start = p
    while start > 0 and p - start < 2 and lines[start - 1].strip() and len(lines[start - 1]) <= _MAX_MARKER_LINE:
        top, above = lines[start].strip(), lines[start - 1].rstrip()
        if _TIME_OR_AT_RE.search(top) and not (above.endswith(("<", ",")) or top[:1] in "<(" or top[:1].islower()):
            break
        start -= 1
    joined = " ".join(x.strip() for x in lines[start : p + 1])
    return start if _EVIDENCE_RE.search(joined) or start == p else p


def _history_start(lines: Sequence[str]) -> tuple[int, str] | None:
    """(index, kind) of the first line of quoted history, or None."""
    forward_header_until = -1
    for i, line in enumerate(lines):
        if _QUOTE_RE.match(line):
            return _lookback_attribution(lines, i), "quote"
        if len(line) > _MAX_MARKER_LINE:
            continue
        if _FORWARD_RE.match(line):
            # Forwarded content is what the user brings us, not history: keep it, and do
            # not mistake its From:/Date:/Subject: lines for an Outlook reply block.
            forward_header_until = _forward_header_end(lines, i)
            continue
        if i >= forward_header_until and _outlook_block_at(lines, i):
            return i, "outlook"
        if _ORIGINAL_RE.match(line):
            return i, "original"
        if _UNDERSCORE_RE.match(line):
            return i, "separator"
        if _SIGNATURE_RE.match(line):
            return i, "signature"
        if _attribution_at(lines, i):
            return i, "attribution"
    return None


def _quote_follows(lines: Sequence[str], j: int) -> bool:
    """A ``>`` quote line starts at ``lines[j]``, after at most three blank lines."""
    end = min(len(lines), j + 4)
    while j < end and not lines[j].strip():
        j += 1
    return j < len(lines) and bool(_QUOTE_RE.match(lines[j]))


def _interleaved_replies(lines: Sequence[str]) -> list[str]:
    """The user's lines of a bottom-posted or interleaved reply (quotes and attributions out)."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _QUOTE_RE.match(line):
            i += 1
            continue
        consumed = _attribution_at(lines, i)
        if consumed:
            if not _quote_follows(lines, i + consumed):
                break  # older history, not quoted: nothing of the user's below it
            i += consumed
            continue
        next_quote = i + 1
        while next_quote < len(lines) and next_quote - i <= 2 and not lines[next_quote].strip():
            next_quote += 1
        if (
            next_quote < len(lines)
            and _QUOTE_RE.match(lines[next_quote])
            and _lookback_attribution(lines, next_quote) <= i
        ):
            i += 1
            continue
        if len(line) <= _MAX_MARKER_LINE and (
            _SIGNATURE_RE.match(line)
            or _ORIGINAL_RE.match(line)
            or _UNDERSCORE_RE.match(line)
            or _outlook_block_at(lines, i)
        ):
            break
        if line.strip() or (out and out[-1].strip()):
            out.append(line)
        i += 1
    return out


_REPLY_PARSER = EmailReplyParser(languages=["en"])
# Its reply-header pattern depends on the languages alone; an EmailMessage builds it again each time.
_REPLY_HEADERS = EmailMessage(text="", languages=list(_REPLY_PARSER.languages)).HEADER_REGEX


def latest_reply(text: str) -> str | None:
    """``_REPLY_PARSER.parse_reply(text)``: the first part of the text above a reply header, as
    ``EmailMessage.read`` cuts it, without the signature and disclaimer searches it makes in
    every part for fields ``parse_reply`` does not return (two thirds of its time). A test
    compares it with ``parse_reply``."""
    body: str = EmailMessage(text=text, languages=list(_REPLY_PARSER.languages)).text  # normalised
    headers = [header for header in chain.from_iterable(_REPLY_HEADERS.findall(body)) if header]
    current = 0
    for header in headers:  # EmailMessage.read's loop; the first part with text is the latest reply
        position = body.find(header, current + 1 if current > 0 else current)
        content = body[current:position].strip()
        current = position if position >= 0 else 0
        if content:
            return content
    return body[current:].strip()
_LIBRARY_MAX_CHARS = 20_000  # its regexes are quadratic on long lines; see _library_cut


def _library_cut(lines: list[str]) -> list[str]:
    """Second opinion from mail-parser-reply on text our own markers left intact.

    The library normalises the text (strips every line) and returns only the reply, so
    its result is mapped back to a line count and our original, unmodified lines are
    kept. Its cut is accepted only when the header it found carries an address or a time:
    its patterns also match lines a user may write ("Date: ... / Subject: ...").
    """
    text = "\n".join(lines)
    if not text.strip() or len(text) > _LIBRARY_MAX_CHARS or any(len(line) > _MAX_MARKER_LINE for line in lines):
        return lines
    try:
        latest = latest_reply(text)
    except Exception:  # a library bug must not lose the mail
        return lines
    if not latest:
        return lines
    latest = latest.strip()
    normalised = [line.strip() for line in lines]
    start = 0
    while start < len(normalised) and not normalised[start]:
        start += 1
    end = start + latest.count("\n") + 1
    if end >= len(lines) or "\n".join(normalised[start:end]) != latest:
        return lines  # no cut, or the library changed the text in a way we cannot map
    rest = lines[end : end + 8]
    while rest and not rest[0].strip():
        rest.pop(0)
    block: list[str] = []
    for line in rest:
        if not line.strip():
            break
        block.append(line)
    if not block or _ATTRIBUTION_START_RE.match(block[0]):
        # An "On ... wrote:" line our own check (which wants a date or an address in the
        # line itself) did not accept: "On Monday I wrote:" is the user's sentence.
        return lines
    if _TIME_OR_AT_RE.search("\n".join(block[:3])):
        return lines[:end]
    return lines


def extract_new_text(text: str) -> str:
    """The new part of a reply: quoted history, attributions and signature removed.

    Cuts at the first of: a ``>`` quote line (with the attribution line above it), an
    attribution such as ``Pada Sen, 23 Nov 2026 pukul 10.15, Budi <budi@x> menulis:`` or
    ``On ... wrote:`` (also wrapped over up to three lines), ``-----Original Message-----``
    / ``-----Pesan Asli-----``, an Outlook ``From:/Sent:`` (``Dari:/Dikirim:``) block, a
    line of underscores, or the ``-- `` signature separator. mail-parser-reply gets a
    second look at what is left. Forwarded messages (``---------- Forwarded message``)
    are kept: they are content. A bottom-posted or interleaved reply keeps the user's
    unquoted lines. Content lines that merely contain "wrote" or "menulis" stay.
    """
    lines = normalise_newlines(text).split("\n")
    found = _history_start(lines)
    head = list(lines if found is None else lines[: found[0]])
    if found is not None:
        # Decoration right above the history ("-----" from an HTML <hr>, "=====") is
        # part of the separator, not of the user's text.
        while head and (not head[-1].strip() or _DECORATION_RE.match(head[-1])):
            head.pop()
    quoted = found is not None and (
        found[1] == "quote"
        or (found[1] == "attribution" and _quote_follows(lines, found[0] + _attribution_at(lines, found[0])))
    )
    # The library does not know forward markers and would take the forwarded
    # From:/Date:/Subject: lines for a reply header: it only sees the text above.
    forward = next((n for n, line in enumerate(head) if _FORWARD_RE.match(line)), len(head))
    above = _library_cut(head[:forward])
    if len(above) < forward:
        head = above
    elif found is not None and quoted:
        # A reply written between or below the quotes keeps the user's lines there
        # (interleaved answers, a sign-off under the quote).
        tail = _interleaved_replies(lines[found[0] :])
        if any(line.strip() for line in tail):
            head = _without_mobile_signature(head)
            head = [*head, "", *tail] if head else tail
    return "\n".join(_without_mobile_signature(head)).strip()


#: A signature is a few short lines (name, company, user id, phone); more is something else.
_MAX_SIGNATURE_LINES = 12
_MAX_SIGNATURE_CHARS = 800


def own_signature(text: str) -> str:
    """The sender's own signature: the lines below a ``-- `` separator that ends the new text.

    :func:`extract_new_text` cuts there, so staff see the message without it; but a user often
    gives data only there ("User ID: TIRTAKENCANA" under "Hormat kami, PT Tirta Kencana"), and the
    rules must not ask for it again. Only the block right below the separator counts, up to the
    next quoted history, attribution or separator (someone else's signature is in the history)
    and at most :data:`_MAX_SIGNATURE_LINES` lines; "" when the new text has no such block.
    """
    lines = normalise_newlines(text).split("\n")
    found = _history_start(lines)
    if found is None or found[1] != "signature":
        return ""
    rest = lines[found[0] + 1 :]
    after = _history_start(rest)
    block = rest if after is None else rest[: after[0]]
    block = _without_mobile_signature(block)[:_MAX_SIGNATURE_LINES]
    return "\n".join(line for line in block if len(line) <= _MAX_MARKER_LINE).strip()[:_MAX_SIGNATURE_CHARS]


def forwarded_text(text: str) -> str:
    """The forwarded mail below a forward's comment, when the client wrote it like reply history.

    Outlook forwards with a line of underscores and a ``Dari:/Terkirim:/Kepada:/Perihal:``
    (``From:/Sent:``) block, exactly as it quotes a reply; :func:`extract_new_text` cuts there.
    In a mail whose subject says it is a forward ("FW:"), what follows that block is the
    problem the user brings us: its new text (its own history removed), or "" when there is
    no such block.
    """
    lines = normalise_newlines(text).split("\n")
    found = _history_start(lines)
    if found is None or found[1] not in ("outlook", "separator", "original"):
        return ""
    i = found[0]
    while i < len(lines) and (not lines[i].strip() or _DECORATION_RE.match(lines[i]) or _UNDERSCORE_RE.match(lines[i])
                              or _ORIGINAL_RE.match(lines[i])):
        i += 1
    end = min(len(lines), i + 15)
    if i >= end or not _HEADER_FROM_RE.match(lines[i]):
        return ""  # a separator with no forwarded headers: a signature line or older history
    while i < end and _HEADER_LINE_RE.match(lines[i]):
        i += 1
    return extract_new_text("\n".join(lines[i:]))


def _without_mobile_signature(head: list[str]) -> list[str]:
    """Drop trailing blank lines and a trailing "Sent from my iPhone" / "Dikirim dari ..." line."""
    head = list(head)
    while head and not head[-1].strip():
        head.pop()
    if head and len(head[-1]) <= 100 and _MOBILE_SIGNATURE_RE.match(head[-1]):
        head.pop()
        while head and not head[-1].strip():
            head.pop()
    return head
