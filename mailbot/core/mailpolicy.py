"""The ``email`` policies mailbot parses and composes with: policy.default / policy.SMTP with a
header registry that remembers the header classes it builds.

CPython's ``HeaderRegistry.__getitem__`` creates a new class (``type(...)``) for every header
object it makes, on every parse, ``msg[...]`` read and assignment; that was about 6 % of the
CPU time per inbound mail. The class depends only on the header name, so it is built once per
name here.

Parsing a header value (``_header_value_parser``) is the other cost: the stdlib parses a header
again on every ``msg[...]`` read, and ``get_content_type()`` alone reads Content-Type several
times per part. Header objects are immutable ``str`` subclasses, so the registry keeps the
recently parsed MIME headers (Content-*, MIME-Version: read again and again, and few distinct
values) and hands the same object out for the same name and value. In inbound mail the other
headers (From, Subject, Message-ID) are unique per mail and not kept: a parsed header with its
parse tree takes 10-20 KB. Outgoing mail repeats most of its headers (the helpdesk's From, the
staff's To, Auto-Submitted, the hop count, the Date shared by one mail's replies), so the
composing policy keeps every header but the thread identifiers, which never repeat.

Writing a mail folds each header again (``BaseHeader.fold`` rebuilds and refolds its parse
tree): about 5 % of the CPU time per inbound mail, for headers that are mostly the same objects
every time. The composing policy keeps the folded bytes of the header objects it has folded
recently. Behaviour is otherwise exactly the stdlib policy's.

The composing policy folds ``Subject`` itself (:func:`fold_subject`): the stdlib folder puts
the whole value on a continuation line when it would fit there but not after the name
(``Subject:\r\n [TTS-000001] ...``, for some subjects with quotes or backslashes), so the
subject began with a space once unfolded; and it loses or doubles spaces next to the encoded
words of non-ASCII text. Here the first word is always on the first line, and the value
unfolds and decodes to exactly the text that was set.

``as_bytes`` writes a mail as ``EmailMessage.as_bytes`` does, byte for byte, but hands each
part's body to the output in one piece: the stdlib generator splits a body into lines and writes
every line and line end separately (a 100 KB attachment is 1,400 lines, two calls each).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from email.generator import BytesGenerator
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from io import BytesIO
from threading import Lock
from typing import Any

#: Values longer than this are parsed every time, so the cache stays small whatever a mail carries.
CACHED_VALUE_CHARS = 200
#: Parsed headers kept, least recently used first out (about 1 MB at most).
CACHED_HEADERS = 64


#: Outgoing headers that are new in every mail: not worth a place in the cache.
UNIQUE_OUTGOING = frozenset({"message-id", "in-reply-to", "references"})


def _is_mime_header(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("content-") or lowered == "mime-version"


def _is_repeated_outgoing(name: str) -> bool:
    return name.lower() not in UNIQUE_OUTGOING


class CachingHeaderRegistry(HeaderRegistry):
    """A ``HeaderRegistry`` that builds each header name's class once, and keeps the parsed
    headers whose names ``keep`` accepts (see the module docstring)."""

    def __init__(self, keep: Callable[[str], bool] = _is_mime_header) -> None:
        super().__init__()
        self._keep = keep
        self._classes: dict[str, type[BaseHeader]] = {}
        self._parsed: OrderedDict[tuple[str, str], BaseHeader] = OrderedDict()
        self._lock = Lock()  # the sender thread composes while the intake parses

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:  # a race only builds the same class twice
            cls = self._classes[key] = super().__getitem__(name)
        return cls

    def __call__(self, name: str, value: Any) -> BaseHeader:
        # Other headers, Address objects, groups and long strings are parsed as the stdlib does.
        if (type(value) is not str or len(value) > CACHED_VALUE_CHARS
                or not self._keep(name)):
            return super().__call__(name, value)
        key = (name, value)
        with self._lock:
            header = self._parsed.get(key)
            if header is not None:
                self._parsed.move_to_end(key)
                return header
        header = super().__call__(name, value)
        with self._lock:
            self._parsed[key] = header
            if len(self._parsed) > CACHED_HEADERS:
                self._parsed.popitem(last=False)
        return header


#: Folded header lines stay within this many characters (RFC 5322's recommended 78), unless the
#: policy says otherwise (``max_line_length``).
FOLD_LINE_CHARS = 78
#: An encoded word (``=?utf-8?q?...?=``) is at most this long: "Subject: " and one fit a line.
_ENCODED_WORD_CHARS = 66
_EW_OPEN, _EW_CLOSE = "=?utf-8?q?", "?="
# RFC 2047 5(3): the characters a "Q"-encoded word in a header may carry as they are.
_Q_LITERAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


def _needs_encoding(word: str, utf8: bool, line_chars: int) -> bool:
    """A word that cannot stand in the header as it is: not printable ASCII (printable
    Unicode with ``utf8``), one that a decoder could take for an encoded word, or one too long
    for a line of its own."""
    if len(word) > line_chars - 1 or "=?" in word:
        return True
    if word.isascii():  # the test below for ASCII, in C
        return not word.isprintable() or " " in word
    return not all(("!" <= c <= "~") or (utf8 and ord(c) > 127 and c.isprintable()) for c in word)


def _q_char(c: str) -> str:
    if c in _Q_LITERAL:
        return c
    if c == " ":
        return "_"
    return "".join(f"={b:02X}" for b in c.encode("utf-8", "surrogatepass"))


def _encoded_words(text: str) -> list[str]:
    """``text`` as RFC 2047 "Q" encoded words of at most ``_ENCODED_WORD_CHARS``, split between
    characters (never inside one); decoders join adjacent encoded words without the space between."""
    room = _ENCODED_WORD_CHARS - len(_EW_OPEN) - len(_EW_CLOSE)
    words: list[str] = []
    current = ""
    for c in text:
        q = _q_char(c)
        if current and len(current) + len(q) > room:
            words.append(_EW_OPEN + current + _EW_CLOSE)
            current = ""
        current += q
    if current:
        words.append(_EW_OPEN + current + _EW_CLOSE)
    return words


def fold_subject(name: str, value: str, linesep: str = "\r\n", utf8: bool = False,
                 line_chars: int = FOLD_LINE_CHARS) -> str:
    """``name: value`` folded at spaces into lines of at most ``line_chars`` (78; a plain word
    longer than a line is encoded in pieces), the first word always on the first line.

    Words that cannot stand as they are (see ``_needs_encoding``), together with the spaces
    between them, become encoded words; a space between plain text and an encoded word is kept
    as plain text, so unfolding and decoding give back ``value`` exactly (also its runs of
    spaces; a leading space is dropped by every parser in any case).
    """
    tokens: list[str] = []
    run: list[str] = []  # words to encode together, with the spaces between them

    def flush() -> None:
        if run:
            tokens.extend(_encoded_words(" ".join(run)))
            run.clear()

    # Split at single spaces: of a run of n spaces, n - 1 stay with the text before them, and
    # a fold replaces only the one space it is made at.
    for word in value.split(" "):
        if not word:
            if run:
                run.append("")  # a doubled space inside encoded text stays in it
            elif tokens:
                tokens[-1] += " "  # ... and after plain text, stays with it
            continue
        if _needs_encoding(word, utf8, line_chars):
            run.append(word)
        else:
            flush()
            tokens.append(word)
    flush()
    if not tokens:
        return f"{name}: {linesep}"
    lines: list[str] = []
    line = f"{name}: {tokens[0]}"
    for token in tokens[1:]:
        if len(line) + 1 + len(token) > line_chars:
            lines.append(line)
            line = " " + token
        else:
            line += " " + token
    lines.append(line)
    return linesep.join(lines) + linesep


# Plain values of the headers the bot sets itself that are new in nearly every mail: dot-atom
# addresses and Message-IDs of letters, digits and ``_+=-``, and the stdlib's own Date format.
_DOT_ATOM = r"[A-Za-z0-9_+=-]+(?:\.[A-Za-z0-9_+=-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_ADDRESSES = re.compile(rf"{_DOT_ATOM}(?:, {_DOT_ATOM})*")
_IDS = re.compile(rf"<{_DOT_ATOM}>(?: <{_DOT_ATOM}>)*")
_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}")
_PLAIN: dict[str, re.Pattern[str]] = {"to": _ADDRESSES, "reply-to": _ADDRESSES, "message-id": _IDS,
                                      "in-reply-to": _IDS, "references": _IDS, "date": _DATE,
                                      "x-mailbot-ticket": re.compile(r"[A-Za-z0-9-]+")}
#: The headers of ``_PLAIN`` that the stdlib folds as unstructured text (words at spaces):
#: :func:`fold_words` folds their plain values as it does.
UNSTRUCTURED_PLAIN = frozenset({"in-reply-to", "references", "x-mailbot-ticket"})


def is_plain(name: str, value: str) -> bool:
    """A value of ``name`` that the stdlib writes exactly as it is given, when it fits a line
    (see ``FoldCachingPolicy.header_store_parse``)."""
    pattern = _PLAIN.get(name.lower())
    return pattern is not None and pattern.fullmatch(value) is not None


def fold_words(name: str, value: str, linesep: str = "\r\n", line_chars: int = FOLD_LINE_CHARS) -> str | None:
    """``name: value`` folded as the stdlib folds an unstructured header (``UNSTRUCTURED_PLAIN``)
    whose plain value (``is_plain``) has words of printable ASCII split by single spaces: whole
    when it fits a line; all on the next line when it fits there (the stdlib's choice, see
    ``fold_subject``); else words added to a line while it stays within ``line_chars``. None when
    the first word does not fit after the name or a word not on a line of its own (the stdlib
    encodes such a word): the caller lets the stdlib fold it. A test compares with the stdlib."""
    if len(name) + 2 + len(value) <= line_chars:
        return f"{name}: {value}{linesep}"
    if 1 + len(value) <= line_chars:
        return f"{name}:{linesep} {value}{linesep}"
    words = value.split(" ")
    if len(name) + 2 + len(words[0]) > line_chars or max(map(len, words)) > line_chars - 1:
        return None
    lines: list[str] = []
    line = f"{name}: {words[0]}"
    for word in words[1:]:
        if len(line) + 1 + len(word) <= line_chars:
            line += " " + word
        else:
            lines.append(line)
            line = " " + word
    lines.append(line)
    return linesep.join(lines) + linesep


class FoldCachingPolicy(EmailPolicy):
    """An ``EmailPolicy`` that folds a header object once and then reuses the bytes.

    The key is the object itself (held in the entry, so its ``id`` is not reused), the header
    name and the settings folding depends on: the generator writes each MIME part with a clone
    of the policy (``flatten(linesep=...)``), so the policy object itself is new every time.
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        # A plain value of a header new in nearly every mail (``is_plain``: its To, Message-ID,
        # threading headers, Reply-To and Date) is kept as the text, as ``policy.compat32`` keeps
        # every header: parsing it took a third of the time to build a reply (some 50 us for an
        # address), and only to write it back unchanged. Reading it (``msg["To"]``) still parses
        # it into the header object; writing it is the stdlib's, from the text: ``name: value``
        # when it fits a line (what the header object's fold gives for such a value; a test
        # compares them), parsed and folded as before when it does not.
        if type(value) is str and is_plain(name, value):
            return (name, value)
        stored: tuple[str, Any] = super().header_store_parse(name, value)
        return stored

    def fold_binary(self, name: str, value: Any) -> bytes:
        if not isinstance(value, BaseHeader) or not _is_repeated_outgoing(name):
            return super().fold_binary(name, value)
        key = (id(value), name, self.linesep, self.max_line_length, self.cte_type, self.utf8, self.refold_source)
        with _folded_lock:
            entry = _folded.get(key)
            if entry is not None and entry[0] is value:
                _folded.move_to_end(key)
                return entry[1]
        folded = super().fold_binary(name, value)
        with _folded_lock:
            _folded[key] = (value, folded)
            if len(_folded) > CACHED_HEADERS:
                _folded.popitem(last=False)
        return folded


    def _fold(self, name: str, value: Any, refold_binary: bool = False) -> str:
        # Subjects set by the bot (header objects); a value read from a source is left to the stdlib.
        if isinstance(value, BaseHeader) and name.lower() == "subject":
            return fold_subject(name, str(value), self.linesep, self.utf8, self.max_line_length or 998)
        folded: str = super()._fold(name, value, refold_binary)  # type: ignore[misc]  # private in typeshed
        return folded


_folded: OrderedDict[tuple[Any, ...], tuple[BaseHeader, bytes]] = OrderedDict()
_folded_lock = Lock()


class FetchCachingPolicy(EmailPolicy):
    """An ``EmailPolicy`` that hands out a MIME header it has read before (the values
    ``CachingHeaderRegistry`` keeps) without unfolding the raw value and asking the registry
    again: the parser, ``get_body`` and mailbot read a part's Content-Type some 15 times per mail
    (``get_content_type``, ``get_content_maintype``, ``get_param``). The same header object the
    registry gave for that value (header objects are immutable)."""

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if type(value) is not str or len(value) > CACHED_VALUE_CHARS or not _is_mime_header(name):
            return super().header_fetch_parse(name, value)
        key = (name, value)
        header = _fetched.get(key)
        if header is None:
            header = super().header_fetch_parse(name, value)
            if len(_fetched) >= CACHED_HEADERS:
                _fetched.clear()
            _fetched[key] = header
        return header


_fetched: dict[tuple[str, str], Any] = {}

#: Parsing inbound mail (``policy.default``).
DEFAULT = FetchCachingPolicy(header_factory=CachingHeaderRegistry())
#: Composing outgoing mail (``policy.SMTP``: CRLF line ends).
SMTP = FoldCachingPolicy(linesep="\r\n", header_factory=CachingHeaderRegistry(keep=_is_repeated_outgoing))


def _line_ends(lines: str, newline: str) -> str:
    """What ``NLCRE.sub(newline, lines)`` gives (CRLF, then a lone CR or LF, each one line end,
    left to right), by ``str.replace``: the regex made one match per line."""
    if "\r" in lines:
        lines = lines.replace("\r\n", "\n").replace("\r", "\n")
    return lines if newline == "\n" else lines.replace("\n", newline)


def crlf_body(payload: str) -> bytes:
    """A text body as ``as_bytes`` writes it with CRLF line ends (``compose.message_bytes``)."""
    return _line_ends(payload, "\r\n").encode("ascii", "surrogateescape")


class _WholeBodyGenerator(BytesGenerator):
    """``BytesGenerator`` that writes a body's lines in one call, line ends made ``policy.linesep``
    exactly as the stdlib's ``_write_lines`` makes them (each CRLF, lone CR or lone LF one line end)."""

    def _write_lines(self, lines: str) -> None:
        if lines:
            self.write(_line_ends(lines, self._NL))  # type: ignore[attr-defined]  # _NL: set by Generator


def as_bytes(msg: EmailMessage) -> bytes:
    """``msg.as_bytes()``, written with fewer calls (see the module docstring)."""
    buf = BytesIO()
    _WholeBodyGenerator(buf, mangle_from_=False, policy=msg.policy).flatten(msg)
    return buf.getvalue()
