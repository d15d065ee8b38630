"""Raw inbound mail bytes -> :class:`~mailbot.core.domain.InboundMail`.

This module is part of the pure core: it imports only the standard library, ``nh3``,
``mail-parser-reply`` and the password masking of :mod:`mailbot.core.rules`, performs no I/O and
never reads the clock.

Everything in a mail is untrusted input written by an unknown sender (or an unknown
mailer), so the parser is built to degrade instead of failing: a header that cannot be
decoded is decoded with replacement characters, a charset nobody knows is guessed, a
broken MIME tree is walked as far as it goes. Every such fallback leaves a short note in
``InboundMail.defects`` so staff can see why a mail looks odd.

The text kept of a mail is capped (:data:`DEFAULT_MAX_TEXT_CHARS`): a longer body is cut, ends
with an Indonesian line saying so, and its full text travels as the attachment
``pesan-lengkap.zip`` (holding ``pesan-lengkap.txt``), so everything after the parse (rules,
storage, notifications) works on a bounded text.

Public API:

* :func:`parse_mail` - the whole mail.
* :func:`extract_new_text` - the new part of a reply (quoted history, attribution lines,
  Outlook header blocks and signatures removed).
* :func:`html_to_text` - readable text from an HTML body.
* :func:`sanitize_html` - HTML safe to show to staff (nh3 allow-list).
* :func:`sanitize_filename` - attachment names safe to store and offer for download.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import hashlib
import html as html_module
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.feedparser import BytesFeedParser
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from itertools import islice
from typing import TYPE_CHECKING

from mailparser_reply import EmailReplyParser

from mailbot.core import mailpolicy
from mailbot.core.domain import Attachment, InboundMail

if TYPE_CHECKING:
    import nh3

__all__ = [
    "DEFAULT_MAX_ATTACHMENT_BYTES",
    "DEFAULT_MAX_TEXT_CHARS",
    "extract_new_text",
    "html_to_text",
    "parse_mail",
    "sanitize_filename",
    "sanitize_html",
    "substitute_message_id",
]

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
#: Characters of body text kept, relayed and classified per mail (``text``, ``new_text``, ``html``).
#: 256 Ki characters is some 60 printed pages: far above any mail a person types (the longest
#: of the test corpora is under 1,000 characters; a pasted error page or log is tens of KB), so
#: real mail is never cut, while all the work after the parse stays bounded: it grows with the
#: text (the priority rules took about 11 s per million characters when this was written, the
#: staff notification carries the text, the database keeps it twice, as text and new_text).
#: A longer body keeps its full text as an attachment.
DEFAULT_MAX_TEXT_CHARS = 256 * 1024
#: The attachment with the full text of a body that was cut: ``pesan-lengkap.txt`` in a ZIP,
#: ``pesan-lengkap.zip``. Zipped because the notification to staff carries it: a text this long
#: is a pasted log or a dump, which compresses ten times or more (plain, in base64, a 20 MB text
#: would make a 27 MB notification), and a ZIP opens on every office machine and phone, which a
#: .gz does not.
FULL_TEXT_NAME = "pesan-lengkap"
_FULL_TEXT_CHUNK_CHARS = 1024 * 1024  # encoded and compressed piecewise: no second full copy
_CUT_LOOKBACK_CHARS = 2000  # a cut ends at the last line break this close to the cap

# Limits. They keep hostile input from producing unbounded work or values that do not
# fit the database columns (see store.py: subject 500, sender 320, message_id 998).
MAX_SUBJECT_CHARS = 500
MAX_NAME_CHARS = 200
MAX_ADDR_CHARS = 320
MAX_ID_CHARS = 998
MAX_THREAD_IDS = 100
MAX_ADDRESSES = 200
MAX_RAW_HEADER_CHARS = 2000
MAX_AUTH_RESULTS = 20
MAX_FILENAME_CHARS = 150
MAX_MIME_DEPTH = 40  # levels of multipart / message nesting we walk into
MAX_PARTS = 1000  # MIME parts per message we look at
MAX_DEFECTS = 100
# getaddresses() and the reply regexes are Python-level loops; bound their input.
_MAX_ADDRESS_HEADER_CHARS = 64_000
_MAX_IDS_HEADER_CHARS = 200_000

_PARSE_POLICY = mailpolicy.DEFAULT
# Used to turn an embedded message (message/rfc822, DSN parts) back into bytes for the
# attachment: no refolding and 8-bit allowed, so the bytes stay as the sender wrote them.
_GEN_POLICY = mailpolicy.DEFAULT.clone(refold_source="none", cte_type="8bit", linesep="\r\n")

# ---------------------------------------------------------------------------------------
# Small text helpers
# ---------------------------------------------------------------------------------------

_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# C0/C1 controls, DEL, BOM and the bidi controls that can make a subject or name display
# as something other than what it is ("right-to-left override" spoofing).
_UNSAFE_CHARS_RE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_WS_RE = re.compile(r"\s+")


def _add_defect(defects: list[str], text: str) -> None:
    if len(defects) < MAX_DEFECTS * 4:  # deduplicated and capped again at the end
        defects.append(text)


def _unfold(value: str) -> str:
    """Undo header folding. CR and LF never carry meaning inside a header value."""
    return value.replace("\r", "").replace("\n", "")


def _one_line(text: str, cap: int) -> str:
    """Single line: controls and bidi overrides removed, whitespace collapsed, length capped."""
    text = _UNSAFE_CHARS_RE.sub(" ", text)
    text = _WS_RE.sub(" ", text).strip()
    return text[:cap].rstrip()


def _decode_guess(data: bytes) -> str:
    """Decode bytes of unknown charset: UTF-8 if valid, else Windows-1252 (never raises).

    Windows-1252 is the usual charset of undeclared 8-bit text from Windows mailers;
    undefined bytes become U+FFFD.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _unsurrogate(text: str, where: str, defects: list[str]) -> str:
    """Turn raw 8-bit header bytes (surrogate-escaped by the email package) into text."""
    if not _SURROGATE_RE.search(text):
        return text
    _add_defect(defects, f"8-bit bytes in {where}")
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        # Lone surrogates that did not come from bytes: replace them.
        return text.encode("utf-8", "replace").decode("utf-8", "replace")
    return _decode_guess(data)


# Charset labels seen in the wild that Python does not know under that name.
_CHARSET_ALIASES: dict[str, str] = {
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "x-sjis": "shift_jis",
    "gb2312": "gbk",  # GBK is a superset and mailers label GBK text as gb2312
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "ansi_x3.4-1968": "ascii",
}
# Text codecs that interpret their input instead of just decoding it; a sender must not
# be able to choose them.
_UNSAFE_CODECS = frozenset({"idna", "punycode", "raw_unicode_escape", "unicode_escape", "undefined"})


def _lookup_codec(charset: str) -> str | None:
    name = charset.strip().strip("\"'").lower()
    if not name or len(name) > 40:
        return None
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except Exception:  # LookupError, and odd names (NUL bytes) raise other errors
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None  # bytes-to-bytes codecs such as zlib or base64
    if info.name.replace("-", "_") in _UNSAFE_CODECS:
        return None
    return info.name


def _decode_bytes(data: bytes, charset: str | None, where: str, defects: list[str]) -> str:
    """Decode with the declared charset; fall back to a guess (and a defect) when unknown."""
    if not charset:
        return _decode_guess(data) if not data.isascii() else data.decode("ascii")
    codec = _lookup_codec(charset)
    if codec is None:
        _add_defect(defects, f"unknown charset {_one_line(charset, 40)!r} in {where}")
        return _decode_guess(data)
    if codec == "ascii" and not data.isascii():
        # Mislabelled 8-bit text is common; guessing beats a row of U+FFFD.
        _add_defect(defects, f"8-bit bytes in us-ascii {where}")
        return _decode_guess(data)
    try:
        return data.decode(codec, errors="replace")
    except Exception:
        _add_defect(defects, f"undecodable charset {codec!r} in {where}")
        return _decode_guess(data)


# RFC 2047 encoded word; the charset may carry an RFC 2231 language suffix ("utf-8*id").
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?]*?)\?=")


def _encoded_word_bytes(encoding: str, payload: str) -> bytes | None:
    if encoding in "bB":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        if not cleaned and payload.strip("= "):
            return None  # nothing but garbage: keep the word literally
        if len(cleaned) % 4 == 1:  # cannot be valid base64; drop the dangling char
            cleaned = cleaned[:-1]
        try:
            return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
        except (binascii.Error, ValueError):
            return None
    try:
        return binascii.a2b_qp(payload.encode("utf-8", "replace"), header=True)
    except (binascii.Error, ValueError):
        return None


def _decode_encoded_words(text: str, where: str, defects: list[str]) -> str:
    """Decode RFC 2047 encoded words anywhere in ``text`` without ever raising.

    Adjacent words of the same charset are decoded together, because encoders split
    multi-byte characters across words; whitespace between encoded words is dropped as
    RFC 2047 section 6.2 requires.
    """
    if "=?" not in text:
        return text
    pieces: list[str] = []
    buf = bytearray()
    buf_charset: str | None = None
    last_end = 0
    prev_was_word = False

    def flush() -> None:
        nonlocal buf_charset
        if buf_charset is not None:
            pieces.append(_decode_bytes(bytes(buf), buf_charset, where, defects))
            buf.clear()
            buf_charset = None

    for match in _ENCODED_WORD_RE.finditer(text):
        gap = text[last_end : match.start()]
        if not (prev_was_word and not gap.strip()):
            flush()
            pieces.append(gap)
        charset = match.group(1).split("*", 1)[0]
        data = _encoded_word_bytes(match.group(2), match.group(3))
        if data is None:
            flush()
            _add_defect(defects, f"undecodable encoded word in {where}")
            pieces.append(match.group(0))
            prev_was_word = False
        else:
            if buf_charset is not None and charset.lower() != buf_charset.lower():
                flush()
            buf_charset = charset
            buf.extend(data)
            prev_was_word = True
        last_end = match.end()
    flush()
    pieces.append(text[last_end:])
    return "".join(pieces)


def _header_text(value: str, where: str, defects: list[str]) -> str:
    """A raw header value as decoded text (may still contain odd whitespace)."""
    return _decode_encoded_words(_unsurrogate(_unfold(value), where, defects), where, defects)


# ---------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------


class _Headers:
    """Case-insensitive access to the *raw* header values of one message.

    The raw values are used instead of policy.default's header objects: those parse
    structured headers eagerly and have raised on hostile input in past CPython releases,
    while every field here has its own tolerant decoder.
    """

    def __init__(self, msg: Message) -> None:
        self._items: dict[str, list[str]] = {}
        try:
            items = list(msg.raw_items())
        except Exception:
            items = []
        for name, value in items:
            key = str(name).strip().lower()
            self._items.setdefault(key, []).append(value if isinstance(value, str) else str(value))

    def all(self, name: str) -> list[str]:
        return self._items.get(name, [])

    def first(self, name: str) -> str | None:
        values = self._items.get(name)
        return values[0] if values else None


def _raw_one_line(value: str | None, where: str, defects: list[str], cap: int = MAX_RAW_HEADER_CHARS) -> str:
    if value is None:
        return ""
    return _one_line(_unsurrogate(_unfold(value), where, defects), cap)


_ID_TOKEN_RE = re.compile(r"<([^<>]{1,2000})>")
_ID_STRIP_RE = re.compile(r"[\s\x00-\x1f\x7f]+")


def _clean_id(token: str) -> str:
    """A message id without brackets, whitespace or controls; long ids keep a hash suffix."""
    token = _ID_STRIP_RE.sub("", token).strip("<>")
    if len(token) > MAX_ID_CHARS:
        # Truncating alone could make two different ids equal; dedupe relies on ids.
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]
        token = token[: MAX_ID_CHARS - 40] + "-sha256-" + digest
    return token


def _parse_ids(values: Sequence[str], where: str, defects: list[str]) -> tuple[str, ...]:
    text = " ".join(_unsurrogate(_unfold(v), where, defects) for v in values)[:_MAX_IDS_HEADER_CHARS]
    ids = [_clean_id(m.group(1)) for m in _ID_TOKEN_RE.finditer(text)]
    if not ids and text.strip():
        # Some mailers drop the angle brackets; accept bare tokens that look like ids.
        ids = [_clean_id(tok.strip("<>,;")) for tok in text.split() if "@" in tok]
    unique = list(dict.fromkeys(i for i in ids if i))
    if len(unique) > MAX_THREAD_IDS:
        _add_defect(defects, f"{where} has {len(unique)} ids; kept {MAX_THREAD_IDS}")
        # Keep the thread root and the most recent ids: those are the ones that thread.
        unique = unique[:1] + unique[-(MAX_THREAD_IDS - 1) :]
    return tuple(unique)


def _message_id(headers: _Headers, raw: bytes, defects: list[str]) -> str:
    values = headers.all("message-id")
    if len(values) > 1:
        _add_defect(defects, "several Message-ID headers; used the first")
    if values:
        text = _unsurrogate(_unfold(values[0]), "Message-ID", defects)
        match = _ID_TOKEN_RE.search(text)
        token = _clean_id(match.group(1) if match else text)
        if token:
            return token
    _add_defect(defects, "missing Message-ID; using a hash of the raw bytes")
    return substitute_message_id(raw)


def substitute_message_id(raw: bytes) -> str:
    """The stable id of a mail without Message-ID: the same bytes fetched twice dedupe."""
    return "mailbot-sha256-" + hashlib.sha256(raw).hexdigest()[:32] + "@missing"


_ADDR_RE = re.compile(r"[^@\s<>()\[\],;:\"\\\x00-\x1f\x7f]+@[^@\s<>()\[\],;:\"\\\x00-\x1f\x7f]+")


def _clean_addr(addr: str) -> str:
    addr = addr.strip().strip("<>").strip().lower()
    if len(addr) > MAX_ADDR_CHARS or not _ADDR_RE.fullmatch(addr):
        return ""
    return addr


def _address_pairs(values: Iterable[str], where: str, defects: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for value in values:
        text = _unsurrogate(_unfold(value), where, defects)
        if len(text) > _MAX_ADDRESS_HEADER_CHARS:
            _add_defect(defects, f"{where} header truncated")
            text = text[:_MAX_ADDRESS_HEADER_CHARS]
        try:
            pairs.extend(getaddresses([text]))
        except Exception:
            _add_defect(defects, f"unparseable {where} header")
    return pairs


def _addresses(values: Sequence[str], where: str, defects: list[str]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for _name, addr in _address_pairs(values, where, defects):
        cleaned = _clean_addr(addr)
        if cleaned:
            found.setdefault(cleaned, None)
        if len(found) >= MAX_ADDRESSES:
            break
    return tuple(found)


def _sender(headers: _Headers, defects: list[str]) -> tuple[str, str]:
    """(from_name, from_addr) from the first From header."""
    values = headers.all("from")
    if not values:
        _add_defect(defects, "missing From header")
        return "", ""
    if len(values) > 1:
        _add_defect(defects, "several From headers; used the first")
    pairs = _address_pairs(values[:1], "From", defects)
    for name, addr in pairs:
        cleaned = _clean_addr(addr)
        if cleaned:
            return _one_line(_decode_encoded_words(name, "From", defects), MAX_NAME_CHARS), cleaned
    _add_defect(defects, "no usable address in From header")
    # Keep whatever text there was so staff can still see who it claims to be.
    return _one_line(_header_text(values[0], "From", defects), MAX_NAME_CHARS), ""


# Indonesian month abbreviations that parsedate() does not know (Mei, Agu, Okt, Des ...).
_ID_MONTHS = {
    "mei": "May", "agu": "Aug", "agt": "Aug", "okt": "Oct", "des": "Dec",
    "nop": "Nov", "peb": "Feb", "januari": "Jan", "februari": "Feb", "maret": "Mar",
    "april": "Apr", "juni": "Jun", "juli": "Jul", "agustus": "Aug", "september": "Sep",
    "oktober": "Oct", "november": "Nov", "desember": "Dec",
}  # fmt: skip
_WORD_RE = re.compile(r"[A-Za-z]+")


def _parse_date(value: str | None, defects: list[str]) -> datetime | None:
    if value is None:
        return None
    text = _one_line(_unsurrogate(_unfold(value), "Date", defects), 200)
    if not text:
        return None
    for candidate in (text, _WORD_RE.sub(lambda m: _ID_MONTHS.get(m.group(0).lower(), m.group(0)), text)):
        try:
            parsed = parsedate_to_datetime(candidate)
        except Exception:  # ValueError, TypeError, OverflowError, IndexError on odd input
            continue
        if parsed is None:
            continue
        if parsed.tzinfo is None:
            # RFC 5322 "-0000": UTC, local offset unknown. Naive datetimes are not allowed.
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed
    _add_defect(defects, "unparseable Date header")
    return None


_HOPS_RE = re.compile(r"\s*(\d{1,6})\s*")


def _hops(values: Sequence[str], defects: list[str]) -> int:
    best = 0
    for value in values:
        match = _HOPS_RE.fullmatch(_unfold(value))
        if match is None:
            _add_defect(defects, "invalid X-Mailbot-Hops header")
            continue
        # The highest counter wins: a forged low value must not hide a loop.
        best = max(best, int(match.group(1)))
    return best


# ---------------------------------------------------------------------------------------
# MIME structure
# ---------------------------------------------------------------------------------------

_CTYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")


def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"
    return ctype if _CTYPE_RE.fullmatch(ctype) else "application/octet-stream"


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _filename(part: Message, defects: list[str]) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        _add_defect(defects, "unparseable attachment filename")
        return None
    if name is None:
        return None
    name = str(name)
    if "=?" in name:  # RFC 2047 inside a parameter: not allowed, but Outlook and Gmail do it
        name = _decode_encoded_words(name, "filename", defects)
    return name


def _is_container(part: Message) -> bool:
    return _content_type(part).startswith("multipart/") and isinstance(part.get_payload(), list)


def _defect_names(part: Message) -> list[str]:
    return [type(d).__name__ for d in getattr(part, "defects", ())]


@dataclass
class _Node:
    part: Message
    depth: int
    parent: int  # index of the parent node, -1 for the root


def _walk(root: Message, max_depth: int, defects: list[str]) -> tuple[list[_Node], bool]:
    """Iterative pre-order walk (no recursion, so deep nesting cannot blow the stack).

    Only multipart containers are entered; message/* parts are leaves here (the caller
    decides what to do with an embedded message). Returns (nodes, truncated).
    """
    nodes: list[_Node] = []
    truncated = False
    stack: list[tuple[Message, int, int]] = [(root, 0, -1)]
    while stack:
        part, depth, parent = stack.pop()
        if len(nodes) >= MAX_PARTS:
            _add_defect(defects, f"more than {MAX_PARTS} MIME parts; the rest ignored")
            truncated = True
            break
        index = len(nodes)
        nodes.append(_Node(part, depth, parent))
        for name in _defect_names(part):
            _add_defect(defects, name)
        if not _is_container(part):
            continue
        if depth >= max_depth:
            if not truncated:
                _add_defect(defects, f"MIME nesting deeper than {MAX_MIME_DEPTH} levels; deeper parts ignored")
            truncated = True
            continue
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        for child in reversed(children):
            stack.append((child, depth + 1, index))
    return nodes, truncated


def _part_bytes(part: Message) -> bytes:
    """Decoded content of a leaf (base64 / quoted-printable undone)."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _message_part_bytes(part: Message, defects: list[str]) -> bytes:
    """The body of a message/* part (the embedded mail, the DSN fields) as bytes."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _part_bytes(part)
    buf = io.BytesIO()
    try:
        generator = BytesGenerator(buf, mangle_from_=False, policy=_GEN_POLICY)
        for sub in payload:
            if isinstance(sub, Message):
                generator.flatten(sub)
    except Exception:  # includes RecursionError on absurdly nested embedded mail
        _add_defect(defects, f"could not re-serialise embedded {_content_type(part)}")
        return b""
    return buf.getvalue()


def _part_text(part: Message, where: str, defects: list[str]) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text = _decode_bytes(_part_bytes(part), charset, where, defects)
    return _normalise_newlines(text)


def _normalise_newlines(text: str) -> str:
    # NUL is dropped because text columns (PostgreSQL) refuse it; it is never meaningful.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


_BOUNDARY_LINE_RE = re.compile(rb"^--([^\r\n]{1,70}?)[ \t]*\r?$", re.MULTILINE)


def _repair_boundary(msg: Message, defects: list[str]) -> Message | None:
    """Re-parse a multipart whose boundary is missing or wrong, guessing it from the body.

    Mailers that build MIME by hand sometimes omit the boundary parameter or declare one
    that never appears; the first ``--token`` line of the body is then the real boundary.
    """
    payload = msg.get_payload()
    if not isinstance(payload, str):
        return None
    body = _safe_encode_payload(payload)
    match = _BOUNDARY_LINE_RE.search(body)
    if match is None:
        return None
    boundary = match.group(1).strip()
    if boundary.endswith(b"--"):  # the first delimiter seen is a closing one
        boundary = boundary[:-2]
    if not boundary or b'"' in boundary or b"\\" in boundary:
        return None
    ctype = _content_type(msg).encode("ascii")
    rebuilt = b"Content-Type: " + ctype + b'; boundary="' + boundary + b'"\r\n\r\n' + body
    try:
        repaired = BytesParser(policy=_PARSE_POLICY).parsebytes(rebuilt)
    except Exception:
        return None
    if not _is_container(repaired) or not repaired.get_payload():
        return None
    _add_defect(defects, "multipart boundary missing or wrong; guessed it from the body")
    return repaired


def _safe_encode_payload(payload: str) -> bytes:
    try:
        return payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return payload.encode("utf-8", "surrogateescape")


_FORWARD_MARKER = "---------- Forwarded message ----------"


@dataclass
class _Body:
    text: str = ""
    new_text: str = ""
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


def _is_inline_text(part: Message, ctype: str, defects: list[str]) -> bool:
    if ctype not in ("text/plain", "text/html"):
        return False
    if _disposition(part) == "attachment":
        return False
    return _filename(part, defects) is None


def _choose_bodies(
    root: Message, nodes: list[_Node], truncated: bool, defects: list[str]
) -> tuple[Message | None, Message | None]:
    """(plain-or-html body part, html body part) using get_body() where it is safe."""
    if not truncated and isinstance(root, EmailMessage):
        try:
            return (
                root.get_body(preferencelist=("plain", "html")),
                root.get_body(preferencelist=("html",)),
            )
        except Exception:
            _add_defect(defects, "body selection failed; used the first text part")
    # Fallback over the parts we did walk: first inline text/plain, first inline text/html.
    plain = html = None
    for node in nodes:
        ctype = _content_type(node.part)
        if _is_container(node.part) or not _is_inline_text(node.part, ctype, defects):
            continue
        if ctype == "text/plain" and plain is None:
            plain = node.part
        elif ctype == "text/html" and html is None:
            html = node.part
    return (plain or html), html


def _forward_header(headers: _Headers, defects: list[str]) -> str:
    lines = [_FORWARD_MARKER]
    for label, name in (("From", "from"), ("Date", "date"), ("Subject", "subject"), ("To", "to")):
        value = headers.first(name)
        if value is not None:
            text = _one_line(_header_text(value, f"forwarded {label}", defects), MAX_SUBJECT_CHARS)
            if text:
                lines.append(f"{label}: {text}")
    return "\n".join(lines)


def _extract(
    root: Message,
    base_depth: int,
    defects: list[str],
    max_attachment_bytes: int,
    collect_attachments: bool,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> _Body:
    """Text, reply text, HTML and attachments of one message (or one embedded message).

    ``text`` is the whole text (the caller caps it); ``new_text`` is found in the first
    ``max_text_chars`` characters only, so its cost does not grow with the body.
    """
    nodes, truncated = _walk(root, MAX_MIME_DEPTH - base_depth, defects)
    body_part, html_part = _choose_bodies(root, nodes, truncated, defects)
    result = _Body()

    main_texts: list[str] = []
    if html_part is not None:
        result.html = _part_text(html_part, "HTML body", defects)
    if body_part is not None and _content_type(body_part) == "text/plain":
        main_texts.append(_part_text(body_part, "text body", defects))
    if (not main_texts or not main_texts[0].strip()) and result.html is not None:
        # Only HTML (or an empty text/plain alternative): derive the text from the HTML.
        main_texts = [html_to_text(result.html)]

    # Ancestors of the chosen body parts: other text leaves under one of their
    # multipart/alternative ancestors are just other renderings of the same body.
    chosen = {id(p) for p in (body_part, html_part) if p is not None}
    body_ancestors: set[int] = set()
    for node in nodes:
        if id(node.part) in chosen:
            parent = node.parent
            while parent >= 0:
                body_ancestors.add(parent)
                parent = nodes[parent].parent

    forwards: list[tuple[str, str]] = []
    for node in nodes:
        part = node.part
        if id(part) in chosen or _is_container(part):
            continue
        ctype = _content_type(part)
        parent_ctype = _content_type(nodes[node.parent].part) if node.parent >= 0 else ""

        if ctype.startswith("multipart/"):
            # A multipart whose boundary never showed up: its body is all we have.
            main_texts.append(_part_text(part, "broken multipart", defects))
            continue
        if _is_inline_text(part, ctype, defects):
            ancestor = node.parent
            in_alternative = False
            while ancestor >= 0:
                if ancestor in body_ancestors and _content_type(nodes[ancestor].part) == "multipart/alternative":
                    in_alternative = True
                    break
                ancestor = nodes[ancestor].parent
            if not in_alternative:
                # Text split around inline images (Apple Mail) or a list footer.
                extra = _part_text(part, "text part", defects)
                main_texts.append(html_to_text(extra) if ctype == "text/html" else extra)
            continue

        if ctype == "message/rfc822" and parent_ctype != "multipart/report":
            # A forwarded mail: its text is part of what the user sends us. (In a DSN
            # the embedded message is our own returned mail, not new content.)
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                depth = base_depth + node.depth + 1
                if depth >= MAX_MIME_DEPTH:
                    _add_defect(defects, f"MIME nesting deeper than {MAX_MIME_DEPTH} levels; deeper parts ignored")
                else:
                    sub = _extract(inner[0], depth, defects, max_attachment_bytes, collect_attachments=False,
                                   max_text_chars=max_text_chars)
                    header = _forward_header(_Headers(inner[0]), defects)
                    forwards.append((header + "\n\n" + sub.text, header + "\n\n" + sub.new_text))

        if collect_attachments:
            result.attachments.append(_attachment(part, ctype, len(result.attachments) + 1, max_attachment_bytes, defects))

    main = "\n\n".join(t.strip("\n") for t in main_texts if t.strip())
    del main_texts
    result.text = "\n\n".join([main, *(f[0] for f in forwards)]).strip()
    result.new_text = "\n\n".join(
        t for t in [extract_new_text(_cut(main, max_text_chars)), *(f[1].strip() for f in forwards)] if t
    ).strip()
    return result


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a line break near the end when there is one."""
    if len(text) <= limit:
        return text
    newline = text.rfind("\n", max(0, limit - _CUT_LOOKBACK_CHARS), limit + 1)
    return text[: newline if newline > 0 else limit].rstrip()


def _size_text(size: int) -> str:
    """A size for the Indonesian marker line: "20,0 MB", "300 KB"."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")
    return f"{max(1, round(size / 1024))} KB"


def _full_text_attachment(text: str, max_bytes: int) -> tuple[Attachment, int]:
    """(attachment, size of the text in bytes): the full text of a body that was cut, passwords
    masked, as ``pesan-lengkap.txt`` in ``pesan-lengkap.zip``.

    UTF-8, with a byte order mark when it is not ASCII (Windows editors guess the charset of a
    text file otherwise); encoded and compressed piece by piece (no second full copy), with a
    fixed time stamp (the result depends on the text alone; no clock is read). Over
    ``max_bytes`` the content is dropped, as for any attachment.
    """
    # Passwords pasted into the body are masked everywhere else (the service masks the kept
    # text); the full text is the body too. Called past its cache, which would keep a 20 MB text.
    import zipfile  # only for the rare huge body: the module pulls in bz2 and lzma

    from mailbot.core.rules import mask_passwords

    masked, _ = getattr(mask_passwords, "__wrapped__", mask_passwords)(text)
    buf = io.BytesIO()
    info = zipfile.ZipInfo(f"{FULL_TEXT_NAME}.txt", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    with zipfile.ZipFile(buf, "w") as archive, archive.open(info, "w") as member:
        if not masked.isascii():
            member.write(codecs.BOM_UTF8)
        for start in range(0, len(masked), _FULL_TEXT_CHUNK_CHARS):
            member.write(masked[start : start + _FULL_TEXT_CHUNK_CHARS].encode("utf-8", "replace"))
    data = buf.getvalue()
    attachment = Attachment(filename=f"{FULL_TEXT_NAME}.zip", content_type="application/zip", size=len(data),
                            content=data if len(data) <= max_bytes else None)
    return attachment, info.file_size


def _cut_marker(text_bytes: int, attachment: Attachment) -> str:
    """The Indonesian line that ends a cut text: what happened and where the rest is."""
    where = (f"Teks lengkapnya ada di lampiran {attachment.filename}." if attachment.content is not None
             else "Teks lengkapnya terlalu besar untuk dilampirkan; lihat e-mail aslinya di kotak surat helpdesk.")
    return f"[Teks e-mail ini terlalu panjang ({_size_text(text_bytes)}) sehingga dipotong di sini. {where}]"


def _attachment(part: Message, ctype: str, index: int, max_bytes: int, defects: list[str]) -> Attachment:
    data = _message_part_bytes(part, defects) if ctype.startswith("message/") else _part_bytes(part)
    try:
        has_cid = part.get("content-id") is not None
    except Exception:
        has_cid = False
    return Attachment(
        filename=sanitize_filename(_filename(part, defects), ctype, index),
        content_type=ctype,
        size=len(data),
        content=data if len(data) <= max_bytes else None,
        inline=_disposition(part) == "inline" or has_cid,
    )


_FEED_CHUNK_BYTES = 64 * 1024


def _parse_message(raw: bytes, defects: list[str]) -> tuple[Message, bool]:
    """(message, body_usable). The stdlib parser recurses once per MIME level.

    The bytes are fed in pieces, as ``Parser.parse`` feeds a file: ``parsebytes`` first
    copies the whole mail into a ``StringIO``, four bytes per character, which made the
    parser's peak 7.5 times the size of the mail (160 MB for 21 MB) instead of 2.5 times.
    """
    try:
        parser = BytesFeedParser(policy=_PARSE_POLICY)
        for start in range(0, len(raw), _FEED_CHUNK_BYTES):
            parser.feed(raw[start : start + _FEED_CHUNK_BYTES])
        return parser.close(), True
    except RecursionError:
        _add_defect(defects, "MIME structure too deeply nested to parse; body not extracted")
        return BytesParser(policy=_PARSE_POLICY).parsebytes(raw, headersonly=True), False


# ---------------------------------------------------------------------------------------
# parse_mail
# ---------------------------------------------------------------------------------------

_FORWARD_SUBJECT_RE = re.compile(r"^\s*(?:fwd?|fw|tr|wg|terusan|diteruskan)\s*:", re.IGNORECASE)


def parse_mail(
    raw: bytes,
    *,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> InboundMail:
    """Parse the raw bytes of one mail (as fetched by IMAP) into an :class:`InboundMail`.

    Contract:

    * Accepts any ``bytes`` (also ``bytearray``/``memoryview``) and does not raise for any
      content: undecodable headers, unknown charsets, broken or absurdly deep MIME trees and
      malformed dates all degrade to a best-effort value plus an entry in ``defects``. The
      only exceptions left are the impossible ones (``MemoryError``, a non-bytes argument:
      ``TypeError``). The caller still quarantines a mail on any exception.
    * Deterministic: the same bytes always give an equal result (a missing Message-ID is
      replaced by ``"mailbot-sha256-<first 32 hex of sha256(raw)>@missing"``, so dedupe by
      Message-ID works for such mails too).
    * ``text`` holds the body text (text/plain, else derived from HTML) followed by the text
      of forwarded ``message/rfc822`` attachments; ``new_text`` is the same with quoted
      history and signatures removed (see :func:`extract_new_text`).
    * Attachments keep their decoded ``size``; ``content`` is ``None`` when the size is over
      ``max_attachment_bytes``. Filenames are sanitised (:func:`sanitize_filename`).
    * Header-derived values are single lines, capped to the database column sizes.
    * ``text`` and ``new_text`` hold at most ``max_text_chars`` characters of the body (and
      ``html`` at most that many of the HTML). A longer body is cut at a line break, both end
      with one Indonesian line saying so, and the full text (passwords masked) is added to the
      attachments as ``pesan-lengkap.zip`` (holding ``pesan-lengkap.txt``), its content subject
      to ``max_attachment_bytes`` like any attachment. Time and memory stay
      linear in the size of the mail.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_mail() needs bytes, not {type(raw).__name__}")
    data = bytes(raw)
    defects: list[str] = []
    msg, body_usable = _parse_message(data, defects)
    headers = _Headers(msg)

    message_id = _message_id(headers, data, defects)
    from_name, from_addr = _sender(headers, defects)
    subject_raw = headers.first("subject")
    subject = "" if subject_raw is None else _one_line(_header_text(subject_raw, "Subject", defects), MAX_SUBJECT_CHARS)

    body = _Body()
    if not body_usable:
        for name in _defect_names(msg):
            _add_defect(defects, name)
    else:
        root = msg
        if _content_type(msg).startswith("multipart/") and not _is_container(msg):
            root = _repair_boundary(msg, defects) or msg
            for name in _defect_names(msg):  # the repaired copy has lost the original ones
                _add_defect(defects, name)
        try:
            body = _extract(root, 0, defects, max_attachment_bytes, collect_attachments=True,
                            max_text_chars=max_text_chars)
        except RecursionError:
            # Defensive: the walk is iterative and depth-capped, but get_body() and the
            # generator are recursive stdlib code.
            _add_defect(defects, "MIME structure too deeply nested; body not extracted")

    text, new_text, html = body.text, body.new_text, body.html
    attachments = body.attachments
    if len(text) > max_text_chars:
        full_text, full_bytes = _full_text_attachment(text, max_attachment_bytes)
        marker = _cut_marker(full_bytes, full_text)
        _add_defect(defects, f"body text of {len(text)} characters cut to {max_text_chars}; "
                             f"the full text is the attachment {full_text.filename}")
        text = _cut(text, max_text_chars) + "\n\n" + marker
        # The marker also ends the new text: whatever staff read, the mail was longer.
        new_text = _cut(new_text, max_text_chars) + "\n\n" + marker
        attachments = [*attachments, full_text]
    elif len(new_text) > max_text_chars:  # many forwarded mails, each under the cap
        new_text = _cut(new_text, max_text_chars)
    if html is not None and len(html) > max_text_chars:
        html = html[:max_text_chars]  # never relayed; the text above is what the mail says
    if not new_text and text and _FORWARD_SUBJECT_RE.match(subject):
        # A forward with no comment: the forwarded mail *is* the new content.
        new_text = text

    delivered: dict[str, None] = {}
    for name in ("delivered-to", "x-original-to"):
        for addr in _addresses(headers.all(name), name, defects):
            delivered.setdefault(addr, None)

    return InboundMail(
        message_id=message_id,
        from_addr=from_addr,
        from_name=from_name,
        to=_addresses(headers.all("to"), "To", defects),
        cc=_addresses(headers.all("cc"), "Cc", defects),
        subject=subject,
        date=_parse_date(headers.first("date"), defects),
        in_reply_to=_parse_ids(headers.all("in-reply-to"), "In-Reply-To", defects),
        references=_parse_ids(headers.all("references"), "References", defects),
        text=text,
        html=html,
        new_text=new_text,
        attachments=tuple(attachments),
        auto_submitted=_raw_one_line(headers.first("auto-submitted"), "Auto-Submitted", defects),
        precedence=_raw_one_line(headers.first("precedence"), "Precedence", defects),
        list_id=_raw_one_line(headers.first("list-id"), "List-Id", defects),
        x_auto_response_suppress=_raw_one_line(
            headers.first("x-auto-response-suppress"), "X-Auto-Response-Suppress", defects
        ),
        x_mailbot_hops=_hops(headers.all("x-mailbot-hops"), defects),
        x_mailbot_ticket=_raw_one_line(headers.first("x-mailbot-ticket"), "X-Mailbot-Ticket", defects, 200),
        authentication_results=tuple(
            _raw_one_line(v, "Authentication-Results", defects)
            for v in headers.all("authentication-results")[:MAX_AUTH_RESULTS]
        ),
        delivered_to=tuple(delivered),
        content_type=_content_type(msg),
        return_path=_raw_one_line(headers.first("return-path"), "Return-Path", defects, MAX_ADDR_CHARS + 2),
        size=len(data),
        defects=tuple(dict.fromkeys(defects))[:MAX_DEFECTS],
    )


# ---------------------------------------------------------------------------------------
# Reply text
# ---------------------------------------------------------------------------------------

_QUOTE_RE = re.compile(r"^[ \t]*>")
_QUOTE_PREFIX = r"^[ \t]*(?:>[ \t]?)*"
# Attribution lines (Gmail, Thunderbird, Apple Mail, Yahoo, Outlook for Mac), English and
# Indonesian; Gmail wraps long ones over two or three lines, so callers join lines first.
_ATTRIBUTION_START_RE = re.compile(_QUOTE_PREFIX + r"(?:On|Pada)\s")
_ATTRIBUTION_RE = re.compile(_QUOTE_PREFIX + r"(?:On|Pada)\s.{3,600}?\s?(?:wrote|menulis)\s*:\s*$")
_ATTRIBUTION_END_RE = re.compile(r"(?:wrote|menulis)\s*:\s*$")
# What makes an attribution real and not a sentence of the user: an address, a time or a
# year. "On Monday I wrote:" has none of them.
_EVIDENCE_RE = re.compile(r"@|\b\d{1,2}[:.]\d{2}\b|\b(?:19|20)\d{2}\b")
_TIME_OR_AT_RE = re.compile(r"@|\b\d{1,2}[:.]\d{2}\b")
# A line that ends with a "wrote"-verb right above a quote block (other clients/languages).
_WROTE_VERB_END_RE = re.compile(
    r"(?:wrote|menulis|tulis|schrieb|a écrit|escribió|ha scritto|schreef|napisał)\s*:\s*$", re.IGNORECASE
)
_ORIGINAL_RE = re.compile(
    _QUOTE_PREFIX
    + r"-{3,}[ \t]*(?:Original Message|Original-Nachricht|Pesan Asli|Pesan Awal|Pesan Sebelumnya)[ \t]*-{3,}[ \t]*$",
    re.IGNORECASE,
)
_FORWARD_RE = re.compile(
    r"^[ \t]*(?:-{3,}[ \t]*(?:Forwarded message|Pesan terusan|Pesan yang diteruskan|Pesan diteruskan)[ \t]*-{3,}"
    r"|Begin forwarded message:|Awal pesan yang diteruskan:)[ \t]*$",
    re.IGNORECASE,
)
_HEADER_FROM_RE = re.compile(_QUOTE_PREFIX + r"\*?(?:From|FROM|Dari|DARI)\*?[ \t]*:")
_HEADER_DATE_RE = re.compile(_QUOTE_PREFIX + r"\*?(?:Sent|Date|Dikirim|Terkirim|Tanggal)\*?[ \t]*:", re.IGNORECASE)
_HEADER_OTHER_RE = re.compile(
    _QUOTE_PREFIX + r"\*?(?:To|Cc|Subject|Kepada|Subjek|Perihal|Tembusan)\*?[ \t]*:", re.IGNORECASE
)
_HEADER_LINE_RE = re.compile(r"^[ \t]*\*?[A-Za-z][\w -]{0,30}\*?[ \t]*:")
_UNDERSCORE_RE = re.compile(r"^[ \t]*_{20,}[ \t]*$")
_SIGNATURE_RE = re.compile(r"^--[ \t]*$")
_DECORATION_RE = re.compile(r"^[ \t]*[-_=*~]{3,}[ \t]*$")
_MOBILE_SIGNATURE_RE = re.compile(
    r"^[ \t]*(?:Sent from my \S.{0,40}|Sent from (?:Mail|Outlook|Yahoo Mail)\b.{0,40}|Get Outlook for \S.{0,40}"
    r"|Dikirim dari (?:iPhone|iPad|ponsel|perangkat|Yahoo Mail|Outlook|Samsung|Android|Email)\b.{0,40})[ \t]*$",
    re.IGNORECASE,
)
_MAX_MARKER_LINE = 1000  # no attribution or header line is longer; skip regexes on longer ones


def _attribution_at(lines: Sequence[str], i: int) -> int:
    """Number of lines (1-3) forming an attribution starting at ``lines[i]``, or 0."""
    if len(lines[i]) > _MAX_MARKER_LINE or not _ATTRIBUTION_START_RE.match(lines[i]):
        return 0
    joined = ""
    for count in range(1, 4):
        if i + count > len(lines):
            break
        line = lines[i + count - 1]
        if count > 1 and (not line.strip() or len(line) > _MAX_MARKER_LINE):
            break
        joined = f"{joined} {line.strip()}" if joined else line
        if _ATTRIBUTION_END_RE.search(joined):
            if len(joined) <= 700 and _ATTRIBUTION_RE.match(joined) and _EVIDENCE_RE.search(joined):
                return count
            return 0
    return 0


def _outlook_block_at(lines: Sequence[str], i: int) -> bool:
    """An Outlook-style "From: / Sent: / To: / Subject:" header block starts at ``lines[i]``."""
    if len(lines[i]) > _MAX_MARKER_LINE or not _HEADER_FROM_RE.match(lines[i]):
        return False
    block = lines[i : i + 6]
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
    while p >= 0 and q - p <= 2 and not lines[p].strip():
        p -= 1
    if p < 0 or q - p > 2 or len(lines[p]) > _MAX_MARKER_LINE:
        return q
    line = lines[p].rstrip()
    if not line.endswith(":"):
        return q
    if _WROTE_VERB_END_RE.search(line) or "@" in line:
        # A wrapped attribution whose first line is the one above.
        if p > 0 and _attribution_at(lines, p - 1) == 2:
            return p - 1
        return p
    return q


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
_LIBRARY_MAX_CHARS = 20_000  # its regexes are quadratic on long lines; see _library_cut


def _library_cut(lines: list[str]) -> list[str]:
    """Second opinion from mail-parser-reply on text our own markers left intact.

    The library normalises the text (strips every line) and returns only the reply, so
    its result is mapped back to a line count and our original, unmodified lines are
    kept. Its cut is accepted only when the header it found carries an address or a time:
    its patterns also match lines a user may write ("Date: ... / Subject: ...").
    """
    text = "\n".join(lines)
    if not text.strip() or len(text) > _LIBRARY_MAX_CHARS or any(len(l) > _MAX_MARKER_LINE for l in lines):
        return lines
    try:
        latest = _REPLY_PARSER.parse_reply(text)
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
    lines = _normalise_newlines(text).split("\n")
    found = _history_start(lines)
    head = list(lines if found is None else lines[: found[0]])
    if found is not None:
        # Decoration right above the history ("-----" from an HTML <hr>, "=====") is
        # part of the separator, not of the user's text.
        while head and (not head[-1].strip() or _DECORATION_RE.match(head[-1])):
            head.pop()
    if found is not None and not "".join(head).strip() and found[1] in ("quote", "attribution"):
        head = _interleaved_replies(lines)
    else:
        # The library does not know forward markers and would take the forwarded
        # From:/Date:/Subject: lines for a reply header: it only sees the text above.
        forward = next((n for n, line in enumerate(head) if _FORWARD_RE.match(line)), len(head))
        above = _library_cut(head[:forward])
        head = above if len(above) < forward else head
    # A trailing "Sent from my iPhone" / "Dikirim dari Yahoo Mail di Android" line.
    while head and not head[-1].strip():
        head.pop()
    if head and len(head[-1]) <= 100 and _MOBILE_SIGNATURE_RE.match(head[-1]):
        head.pop()
    return "\n".join(head).strip()


# ---------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------
#
# html.parser is not used: on CPython 3.11 it is quadratic on unclosed constructs
# ("<a <a <a ..." of a few MB takes minutes). This tokenizer follows the HTML tokenizer
# states closely enough for text extraction and runs in linear time: every loop
# iteration consumes input and nothing is rescanned.

_TAG_OPEN_RE = re.compile(r"<(/?)([A-Za-z][^\s/>]*)")
# One attribute: a name (any char but space, "/", ">"; "=" only first, as in the HTML
# tokenizer), then an optional value. A quote never closed runs to the end of input,
# as in browsers (the tag is then dropped).
_ATTR_RE = re.compile(r"""[^\s/>][^\s/>=]*(?:\s*=\s*(?:"[^"]*"?|'[^']*'?|[^\s>]*))?""")
_SPACES_RE = re.compile(r"\s*")
_COMMENT_END_RE = re.compile(r"--!?>")
# Elements whose content is raw text, not markup (for "title"/"textarea" entities would
# count, but their content is never part of the readable body anyway).
_RAWTEXT_TAGS = frozenset({"script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript"})
_RAWTEXT_CLOSE_RE = {name: re.compile(rf"</{name}[\s/>]", re.IGNORECASE) for name in _RAWTEXT_TAGS}


def _tag_end(html: str, i: int) -> int:
    """Index just past the ">" that ends the tag whose name ends at ``i`` (or len(html))."""
    n = len(html)
    while True:
        spaces = _SPACES_RE.match(html, i)
        i = spaces.end() if spaces else i
        if i >= n:
            return n
        char = html[i]
        if char == ">":
            return i + 1
        if char == "/":
            i += 1
            continue
        attribute = _ATTR_RE.match(html, i)
        # It always matches here (html[i] is not space, "/" or ">"); "+ 1" only guarantees progress.
        i = attribute.end() if attribute else i + 1


def _html_tokens(html: str) -> Iterator[tuple[str, int, int, str]]:
    """(kind, start, end, tag name) for kind in data / start / end / raw / comment."""
    n = len(html)
    pos = text_start = 0
    while True:
        lt = html.find("<", pos)
        if lt < 0:
            break
        match = _TAG_OPEN_RE.match(html, lt)
        if match is None and not html.startswith(("<!", "<?", "</"), lt):
            pos = lt + 1  # a lone "<" ("a < b", "<3") is text
            continue
        if lt > text_start:
            yield "data", text_start, lt, ""
        if match is not None:
            name = match.group(2).lower()
            end = _tag_end(html, match.end())
            yield ("end" if match.group(1) else "start"), lt, end, name
            if not match.group(1) and name in _RAWTEXT_TAGS and end < n:
                close = _RAWTEXT_CLOSE_RE[name].search(html, end)
                raw_end = n if close is None else close.start()
                if raw_end > end:
                    yield "raw", end, raw_end, name
                if close is not None:
                    close_end = _tag_end(html, close.start() + 2 + len(name))
                    yield "end", close.start(), close_end, name
                    end = close_end
                else:
                    end = n
        elif html.startswith("<!--", lt):
            if html.startswith("<!-->", lt) or html.startswith("<!--->", lt):  # abrupt empty comment
                end = html.index(">", lt + 4) + 1
            else:
                close = _COMMENT_END_RE.search(html, lt + 4)
                end = n if close is None else close.end()
            yield "comment", lt, end, ""
        else:
            # <!DOCTYPE ...>, <![CDATA[...]]>, <?...>, </3...>: bogus comments up to ">".
            gt = html.find(">", lt + 2)
            end = n if gt < 0 else gt + 1
            yield "comment", lt, end, ""
        pos = text_start = end
    if text_start < n:
        yield "data", text_start, n, ""


_BLOCK_TAGS = frozenset(
    "address article aside center dd details dialog dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header li main nav ol section summary table tbody thead tfoot tr ul div".split()
)
_SKIP_TAGS = frozenset({"head", "template"})  # content is not part of the readable body
_HTML_WS_RE = re.compile(r"[ \t\r\n\f\v]+")
_MAX_QUOTE_PREFIX = 10


class _TextBuilder:
    """Readable text from HTML tokens: block elements become lines, blockquotes "> " lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._buf: list[str] = []
        self._has_text = False  # the current line has more than whitespace (kept, not recomputed)
        self._skip = 0
        self._quote = 0
        self._pre = 0

    def _prefix(self) -> str:
        # Capped: a hostile mail nesting 100 000 blockquotes must not make every line huge.
        return "> " * min(self._quote, _MAX_QUOTE_PREFIX)

    def _flush(self, force: bool = False) -> None:
        line = "".join(self._buf)
        self._buf = []
        self._has_text = False
        line = line.rstrip() if self._pre else line.strip()
        if line:
            self.lines.append(self._prefix() + line)
        elif force:
            self.lines.append(self._prefix().rstrip())

    def _block(self) -> None:
        if self._has_text:
            self._flush()
        else:
            self._buf = []

    def _blank(self) -> None:
        if self.lines and self.lines[-1].strip("> "):
            self.lines.append(self._prefix().rstrip())

    def start(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "body":
            self._skip = 0  # an unclosed <head> must not hide the body
        elif self._skip:
            return
        elif tag == "br":
            self._flush(force=True)
        elif tag == "p":
            self._block()
            self._blank()
        elif tag == "blockquote":
            self._block()
            self._quote += 1
        elif tag == "pre":
            self._block()
            self._pre += 1
        elif tag == "hr":
            self._block()
            self.lines.append(self._prefix() + "-----")
        elif tag == "li":
            self._block()
            self._buf.append("- ")
        elif tag in ("td", "th"):
            self._buf.append(" ")
        elif tag in _BLOCK_TAGS:
            self._block()

    def end(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif self._skip:
            return
        elif tag == "p":
            self._block()
            self._blank()
        elif tag == "blockquote":
            self._block()
            self._quote = max(0, self._quote - 1)
        elif tag == "pre":
            self._block()
            self._pre = max(0, self._pre - 1)
        elif tag in _BLOCK_TAGS:
            self._block()

    def data(self, text: str) -> None:
        if self._skip:
            return
        if self._pre:
            for n, chunk in enumerate(text.split("\n")):
                if n:
                    self._flush(force=True)
                self._buf.append(chunk.replace("\xa0", " "))
                self._has_text = self._has_text or bool(chunk.strip())
            return
        text = _HTML_WS_RE.sub(" ", text)
        if not self._has_text or (self._buf and self._buf[-1].endswith(" ")):
            text = text.lstrip(" ")  # whitespace collapses across tags, too
        # &nbsp; is a space HTML does not collapse: replaced only after collapsing.
        text = text.replace("\xa0", " ")
        if text:
            self._buf.append(text)
            self._has_text = self._has_text or bool(text.strip())

    def close(self) -> None:
        self._flush()


_MANY_BLANKS_RE = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML mail body (never raises, linear time).

    Tags are dropped, entities unescaped; <br>, <p>, <div>, list items and table rows
    give line breaks, <blockquote> content is prefixed with "> " (so quoted history in
    HTML-only replies is recognised like plain-text quotes); script, style, title and
    head content and comments are skipped.
    """
    builder = _TextBuilder()
    html = _normalise_newlines(html)
    for kind, start, end, name in _html_tokens(html):
        if kind == "data":
            builder.data(html_module.unescape(html[start:end]))
        elif kind == "start":
            builder.start(name)
        elif kind == "end":
            builder.end(name)
    builder.close()
    text = "\n".join(line.rstrip() for line in builder.lines)
    text = _MANY_BLANKS_RE.sub("\n\n", _normalise_newlines(text))
    return text.strip()


_SAFE_TAGS = frozenset(
    "a abbr b blockquote br caption cite code col colgroup dd del div dl dt em font h1 h2 h3 h4 h5 h6 "
    "hr i img ins kbd li mark ol p pre q s samp small span strike strong sub sup table tbody td tfoot "
    "th thead tr tt u ul".split()
)
_SAFE_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "ol": {"start"},
}


def _filter_attribute(tag: str, attr: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if tag == "img" and attr == "src":
        # Only inline images from this mail: remote images are tracking beacons.
        return value if lowered.startswith("cid:") else None
    if tag == "a" and attr == "href":
        return value if lowered.startswith(("http://", "https://", "mailto:")) else None
    return value


@functools.cache
def _cleaner() -> nh3.Cleaner:
    # nh3 is imported here, at the first use: its library is 1.4 MB of resident memory that
    # the intake, which stores mail and never shows it, would otherwise keep for nothing.
    import nh3

    return nh3.Cleaner(
        tags=set(_SAFE_TAGS),
        clean_content_tags={"script", "style", "title", "template", "noscript", "iframe", "object", "embed", "svg",
                            "math"},
        attributes=_SAFE_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        url_schemes={"http", "https", "mailto", "cid"},
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


# nh3 (html5ever) spends time quadratic in the nesting depth and in the number of open
# formatting elements: 10 000 nested <b id=N> take seconds. Above these budgets (far above
# real mail) the mail is shown as escaped text instead. The counts are upper bounds of what
# html5ever sees: every start tag it builds starts with "<" and a letter in the source.
_SANITIZE_MAX_TAGS = 10_000
_SANITIZE_MAX_FORMATTING_TAGS = 2_000
_START_TAG_RE = re.compile(r"<[A-Za-z]")
_FORMATTING_TAG_RE = re.compile(r"<(?:a|b|big|code|em|font|i|nobr|s|small|strike|strong|tt|u)[\s/>]", re.IGNORECASE)


def _more_than(pattern: re.Pattern[str], text: str, limit: int) -> bool:
    return sum(1 for _ in islice(pattern.finditer(text), limit + 1)) > limit


def sanitize_html(html: str) -> str:
    """HTML that is safe to show to staff: a conservative nh3 allow-list.

    Text formatting, lists, tables and links (http/https/mailto, with
    ``rel="noopener noreferrer nofollow"``) stay; scripts, styles, iframes, forms, event
    handlers, ``javascript:`` URLs and remote images go. Images survive only as
    ``cid:`` references to attachments of the same mail. Markup too large to sanitise
    in bounded time comes back as ``<pre>`` with the escaped :func:`html_to_text`.
    """
    if _more_than(_START_TAG_RE, html, _SANITIZE_MAX_TAGS) or _more_than(
        _FORMATTING_TAG_RE, html, _SANITIZE_MAX_FORMATTING_TAGS
    ):
        return "<pre>" + html_module.escape(html_to_text(html), quote=False) + "</pre>"
    return _cleaner().clean(html)


# ---------------------------------------------------------------------------------------
# Filenames
# ---------------------------------------------------------------------------------------

# A fixed table instead of the mimetypes module: mimetypes reads system files (I/O, and
# results that differ between machines).
_EXTENSIONS: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/pjpeg": "jpg",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/webp": "webp",
    "image/tiff": "tif",
    "image/heic": "heic",
    "image/svg+xml": "svg",
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/x-rar-compressed": "rar",
    "application/vnd.rar": "rar",
    "application/x-7z-compressed": "7z",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/ms-tnef": "dat",
    "application/vnd.ms-tnef": "dat",
    "application/json": "json",
    "application/xml": "xml",
    "text/plain": "txt",
    "text/html": "html",
    "text/csv": "csv",
    "text/xml": "xml",
    "text/calendar": "ics",
    "text/rfc822-headers": "txt",
    "message/rfc822": "eml",
    "message/delivery-status": "txt",
    "message/disposition-notification": "txt",
    "audio/mpeg": "mp3",
    "video/mp4": "mp4",
}
_FILENAME_FORBIDDEN_RE = re.compile(r'[<>:"|?*]')
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))}
)


def _extension_for(content_type: str) -> str:
    return _EXTENSIONS.get(content_type.strip().lower(), "bin")


def sanitize_filename(name: str | None, content_type: str, index: int) -> str:
    """A filename safe to store and to offer for download; never a path.

    Keeps only the last path component (``/`` and ``\\`` both count), removes control,
    format (bidi override) and unassigned characters, replaces characters Windows refuses,
    strips leading/trailing dots and spaces (no ``..``, no hidden files), defuses Windows
    device names and caps the length at 150 characters keeping the extension. When
    nothing usable is left: ``attachment-<index>.<ext>``, ``ext`` from ``content_type``.
    """
    cleaned = ""
    if name:
        text = str(name).encode("utf-8", "replace").decode("utf-8", "replace")  # lone surrogates
        text = unicodedata.normalize("NFC", text)
        text = text.replace("\\", "/").rsplit("/", 1)[-1]
        text = _WS_RE.sub(" ", text)
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
        text = _FILENAME_FORBIDDEN_RE.sub("_", text)
        text = _WS_RE.sub(" ", text).strip(". ")
        if text:
            stem, dot, ext = text.rpartition(".")
            if not dot or len(ext) > 16:
                stem, ext = text, ""
            if stem.split(".", 1)[0].strip().upper() in _WINDOWS_RESERVED:
                stem = "_" + stem
            room = MAX_FILENAME_CHARS - (len(ext) + 1 if ext else 0)
            stem = stem[:room].rstrip(". ")
            cleaned = f"{stem}.{ext}" if ext and stem else stem
    if not cleaned:
        cleaned = f"attachment-{index}.{_extension_for(content_type)}"
    return cleaned
