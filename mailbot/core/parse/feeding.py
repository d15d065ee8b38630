"""The raw bytes of a mail into the stdlib's feed parser, long runs of base64 lines as one line each.

The stdlib's ``FeedParser`` reads a mail line by line in Python (pop the line, test it against
every open boundary, append it to the text being collected): a 100 KB attachment is 1,400 lines,
and that loop was about 85 % of the time the parser took per mail of the benchmark corpus.

A line made only of base64 characters (letters, digits, ``+``, ``/``, ``=``) cannot change what
the parser does next: it is not a header line (no colon, no leading blank, not ``From ``), not a
blank line and not a boundary (those start with ``--``). Wherever it stands (a part's body, a
preamble or an epilogue, a block of a delivery report, or right after a header block, which it
ends as any non-header line does) it is appended to the text being collected, as any other such
line would be. So a run of such lines goes into the parser as one placeholder line of the same
kind, and the run is put back into the parsed message's text afterwards: the same message tree,
payloads, preambles, epilogues and defects, with a handful of lines through the Python loop
instead of thousands. The last line of a run is fed as it is, so a placeholder is never the last
line of a text (whose line end the parser strips before a boundary), nor is it ever at the start
of an epilogue (whose leading line end the parser strips: a placeholder has none there).

A mail that already contains the placeholder's marker, or where a placeholder comes back twice
or cut (which the reasoning above rules out), is parsed from its own bytes, line by line.
"""

from __future__ import annotations

import re
from email.feedparser import BytesFeedParser
from email.message import Message
from email.policy import Policy

#: Lines of a run folded into one placeholder (the run's last line is fed as it is): fewer are
#: not worth a placeholder.
MIN_FOLDED_LINES = 8
_FEED_CHUNK_BYTES = 64 * 1024

# Base64 characters only, so the placeholder line is a line of the same kind as those it stands for.
_MARK = "MailbotFoldedLinesQ7"
_MARK_BYTES = _MARK.encode("ascii")
_BASE64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
#: A run: lines of base64 characters, then one more (fed as it is). The definition; ``fold_runs``
#: finds the same runs in the mail's classes (a test compares).
RUN = re.compile(rb"^(?:[A-Za-z0-9+/=]++\r?\n){%d,}(?=[A-Za-z0-9+/=]++\r?\n)" % MIN_FOLDED_LINES, re.MULTILINE)
# The class of each byte: "a" for a base64 character, CR and LF as they are, "#" for any other. The
# patterns below are ``RUN`` over the classes (same offsets): ``RUN`` tests a character class for
# every byte of an attachment, these compare with one literal, and the search for the next line
# start looks for a literal LF (a tight loop) instead of trying ``^`` at every byte. The first
# line of the mail is tried on its own; a run's LF prefix is the end of the line before it, never
# part of the previous run (whose last line is the one more, fed as it is, and cannot start one).
_CLASSES = bytes(
    ord("a") if c in _BASE64_CHARS else c if c in b"\r\n" else ord("#") for c in range(256)
)
_FIRST_RUN = re.compile(rb"(?:a++\r?\n){%d,}(?=a++\r?\n)" % MIN_FOLDED_LINES)
_NEXT_RUN = re.compile(rb"\n((?:a++\r?\n){%d,})(?=a++\r?\n)" % MIN_FOLDED_LINES)
_PLACEHOLDER = re.compile(_MARK + r"(\d+)Z\n")


def run_spans(raw: bytes) -> list[tuple[int, int]]:
    """``[m.span() for m in RUN.finditer(raw)]``, found in the classes of the bytes (see above)."""
    classes = raw.translate(_CLASSES)
    spans: list[tuple[int, int]] = []
    first = _FIRST_RUN.match(classes)
    if first is not None:
        spans.append(first.span())
    spans.extend(m.span(1) for m in _NEXT_RUN.finditer(classes, first.end() if first is not None else 0))
    return spans


def fold_runs(raw: bytes) -> tuple[bytes, list[str]]:
    """(``raw`` with each run of base64 lines but its last one replaced by a placeholder line, the
    runs as text); ``(raw, [])`` when nothing is folded."""
    if _MARK_BYTES in raw:
        return raw, []
    spans = run_spans(raw)
    if not spans:
        return raw, []
    pieces: list[bytes] = []
    runs: list[str] = []
    end = 0
    for index, (start, stop) in enumerate(spans):
        pieces.append(raw[end:start])
        pieces.append(b"%s%dZ\n" % (_MARK_BYTES, index))
        runs.append(raw[start:stop].decode("ascii"))
        end = stop
    pieces.append(raw[end:])
    return b"".join(pieces), runs


def unfold_runs(root: Message, runs: list[str]) -> bool:
    """Put the runs back where their placeholders are in ``root``'s tree (payloads, preambles,
    epilogues); False if one came back twice or a placeholder was left (a text the parser cut).

    A placeholder may be gone: the parser drops what follows the close boundary of a multipart
    whose start boundary never came, and it dropped the run's lines with it just the same.
    """
    seen = [0] * len(runs)

    def run(match: re.Match[str]) -> str:
        index = int(match.group(1))
        seen[index] += 1
        return runs[index]

    def unfolded(text: str) -> str | None:
        try:
            text = _PLACEHOLDER.sub(run, text)
        except IndexError:
            return None
        return None if _MARK in text else text

    stack = [root]
    while stack:
        part = stack.pop()
        # The text as parsed: ``get_payload()`` would decode a text with 8-bit bytes in it.
        payload = getattr(part, "_payload", None)
        if isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
        elif isinstance(payload, str) and _MARK in payload:
            text = unfolded(payload)
            if text is None:
                return False
            part.set_payload(text)
        for name in ("preamble", "epilogue"):
            value = getattr(part, name, None)
            if isinstance(value, str) and _MARK in value:
                text = unfolded(value)
                if text is None:
                    return False
                setattr(part, name, text)
    return all(n <= 1 for n in seen)


def feed(raw: bytes, policy: Policy) -> Message:
    """``BytesParser(policy=policy).parsebytes(raw)``, the same message, parsed with long runs of
    base64 lines folded (see the module docstring).

    The bytes are fed in pieces, as ``Parser.parse`` feeds a file: ``parsebytes`` first copies the
    whole mail into a ``StringIO``, four bytes per character, which made the parser's peak 7.5
    times the size of the mail (160 MB for 21 MB) instead of 2.5 times.
    """
    folded, runs = fold_runs(raw)
    msg = _feed(folded, policy)
    if runs and not unfold_runs(msg, runs):
        msg = _feed(raw, policy)
    return msg


def _feed(data: bytes, policy: Policy) -> Message:
    parser = BytesFeedParser(policy=policy)
    for start in range(0, len(data), _FEED_CHUNK_BYTES):
        parser.feed(data[start : start + _FEED_CHUNK_BYTES])
    return parser.close()
