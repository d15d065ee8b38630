"""A text part's body as ``set_content(text, subtype, charset="utf-8")`` encodes it, written faster.

``email.contentmanager._encode_text`` picks 7bit, quoted-printable or base64 (by the longest line
and by which of the two encodes the first ten lines shorter) and encodes with
``email.quoprimime.body_encode``, which maps every character of the body through a 256-entry
table in ``str.translate`` (the slow path of ``translate``: one lookup and one new string per
character) before it cuts the lines. That was a quarter of the time it took to compose a reply.
Here the characters to escape are found by a regex over the UTF-8 bytes (a reply has few: ``=``
and the bytes of non-ASCII letters), the lines are cut by the stdlib's own loop, and the result
is written with CRLF line ends, as ``mailpolicy.crlf_body`` writes the stdlib's. The same
choice and the same bytes; a test compares both ways over varied and random text.
"""

from __future__ import annotations

import binascii
import re
from email.contentmanager import _encode_text  # type: ignore[attr-defined]
from email.policy import EmailPolicy

from mailbot.core import mailpolicy

# What ``quoprimime`` leaves as it is in a body: printable ASCII but "=", space, tab, CR and LF.
_PLAIN = bytes([9, 10, 13, *range(32, 61), *range(62, 127)])
_TO_ESCAPE = re.compile(rb"[^\t\n\r !-<>-~]+")
_LONG_LINE = {n: re.compile(rb"[^\r\n]{%d}" % (n + 1)) for n in (76, 78, 998)}


def _escaped(match: re.Match[bytes]) -> bytes:
    return b"=" + match.group().hex("=").upper().encode("ascii")


def _escape(data: bytes) -> str:
    """``data.decode("latin-1").translate(quoprimime._QUOPRI_BODY_ENCODE_MAP)``: "=XX" for every
    byte that is not plain (a reply's text has few: "=" and the bytes of non-ASCII letters)."""
    rest = data.translate(None, _PLAIN)
    if not rest:
        return data.decode("ascii")
    if rest.count(b"=") == len(rest):
        return data.replace(b"=", b"=3D").decode("ascii")
    return _TO_ESCAPE.sub(_escaped, data).decode("ascii")


def _cut(body: str, maxlinelen: int, eol: str, pieces: list[str], max_lines: int = -1) -> int:
    """The stdlib's loop (email/quoprimime.py, ``body_encode``), unchanged: each line of the
    escaped ``body`` cut into ``pieces`` of at most ``maxlinelen`` characters with soft breaks,
    whitespace at its end quoted. Returns how many pieces the first ``max_lines`` lines made."""
    soft_break = "=" + eol
    maxlinelen1 = maxlinelen - 1
    append = pieces.append
    first = -1
    for number, line in enumerate(body.splitlines()):
        if number == max_lines:
            first = len(pieces)
        start = 0
        laststart = len(line) - 1 - maxlinelen
        while start <= laststart:
            stop = start + maxlinelen1
            if line[stop - 2] == "=":  # never break an escape sequence
                append(line[start : stop - 1])
                start = stop - 2
            elif line[stop - 1] == "=":
                append(line[start:stop])
                start = stop - 1
            else:
                append(line[start:stop] + "=")
                start = stop
        if line and line[-1] in " \t":  # whitespace at the end of a line is quoted
            room = start - laststart
            if room >= 3:
                q = f"={ord(line[-1]):02X}"
            elif room == 2:
                q = line[-1] + soft_break
            else:
                q = soft_break + f"={ord(line[-1]):02X}"
            append(line[start:-1] + q)
        else:
            append(line[start:])
    return len(pieces) if first < 0 else first


def qp_body(data: bytes, maxlinelen: int, eol: str = "\n") -> str:
    """``quoprimime.body_encode(data.decode("latin-1"), maxlinelen, eol)``, the same text."""
    if maxlinelen < 4:
        raise ValueError("maxlinelen must be at least 4")
    if not data:
        return ""
    pieces: list[str] = []
    _cut(_escape(data), maxlinelen, eol, pieces)
    if data[-1:] in (b"\r", b"\n"):
        pieces.append("")
    return eol.join(pieces)


def _base64_lines(data: bytes, max_line_length: int) -> bytes:
    """``_encode_base64(data, max_line_length)`` with CRLF line ends: ``max_line_length // 4 * 3``
    bytes per line, each line one ``b2a_base64`` (so the same padding)."""
    step = max_line_length // 4 * 3
    return b"".join(binascii.b2a_base64(data[i : i + step]) for i in range(0, len(data), step)).replace(b"\n", b"\r\n")


_SNIFF_LINES = 10  # _encode_text judges quoted-printable against base64 on the first ten lines


def encode_text(text: str, policy: EmailPolicy = mailpolicy.SMTP) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body with CRLF line ends) of ``text`` in UTF-8: what
    ``set_content(text, charset="utf-8")`` chooses and the generator writes
    (``crlf_body(_encode_text(text, "utf-8", None, policy)[1])``).

    The stdlib encodes the first ten lines (joined with CRLF) to choose between quoted-printable
    and base64, and then the whole text again. Quoted-printable cuts each line on its own, so
    here the whole text is cut once and the first ten lines' length is counted from its pieces.
    """
    limit = policy.max_line_length or 0
    long_line = _LONG_LINE.get(limit)
    if long_line is None or policy.linesep != "\r\n":  # not the composing policy: the stdlib's own
        cte, payload = _encode_text(text, "utf-8", None, policy)
        return cte, mailpolicy.crlf_body(payload)
    data = text.encode("utf-8")
    lines = data.splitlines()
    if long_line.search(data) is None:
        if data.isascii():
            return "7bit", b"\r\n".join(lines) + b"\r\n"
        if policy.cte_type == "8bit":  # the bytes as they are (written back from surrogates)
            return "8bit", b"\r\n".join(lines) + b"\r\n"
    # The lines joined with LF (as ``normal_body``): escaping leaves the line ends as they are, so
    # the escaped text has the same lines as ``lines``.
    pieces: list[str] = []
    sniffed = _cut(_escape(b"\n".join(lines) + b"\n"), limit, "\n", pieces, _SNIFF_LINES)
    sniff_qp_chars = sum(map(len, pieces[:sniffed])) + sniffed  # + the LF after each, with the last
    sniff_bytes = sum(map(len, lines[:_SNIFF_LINES])) + 2 * min(len(lines), _SNIFF_LINES)
    if sniff_qp_chars > (sniff_bytes + 2) // 3 * 4 + 1:  # len(b2a_base64(sniff)), its newline counted
        return "base64", _base64_lines(b"\r\n".join(lines) + b"\r\n", limit)
    pieces.append("")
    return "quoted-printable", "\r\n".join(pieces).replace("=\n", "=\r\n").encode("ascii")
