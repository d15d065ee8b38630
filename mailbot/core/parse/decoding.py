"""Bytes and raw header values to text, never raising; and the list of defects.

Everything in a mail is untrusted, so each step here degrades instead of failing: a charset
nobody knows is guessed (UTF-8, else Windows-1252), 8-bit bytes in a header are decoded the
same way, a broken RFC 2047 encoded word stays as it was written. Every such fallback adds a
short note to the mail's ``defects`` (:func:`add_defect`) so staff can see why a mail looks odd.

The bottom of :mod:`mailbot.core.parse`: the headers, the MIME bodies, the HTML and the reply
text all decode and clean their text with these helpers; it imports nothing of the package.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

#: Defects kept per mail, after deduplication: a hostile mail can make thousands, staff need the first.
MAX_DEFECTS = 100

_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# C0/C1 controls, DEL, BOM and the bidi controls that can make a subject or name display
# as something other than what it is ("right-to-left override" spoofing).
_UNSAFE_CHARS_RE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
WS_RE = re.compile(r"\s+")


def add_defect(defects: list[str], text: str) -> None:
    if len(defects) < MAX_DEFECTS * 4:  # deduplicated and capped again at the end
        defects.append(text)


def unfold(value: str) -> str:
    """Undo header folding. CR and LF never carry meaning inside a header value."""
    return value.replace("\r", "").replace("\n", "")


def one_line(text: str, cap: int) -> str:
    """Single line: controls and bidi overrides removed, whitespace collapsed, length capped."""
    text = _UNSAFE_CHARS_RE.sub(" ", text)
    text = WS_RE.sub(" ", text).strip()
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


def unsurrogate(text: str, where: str, defects: list[str]) -> str:
    """Turn raw 8-bit header bytes (surrogate-escaped by the email package) into text."""
    if not _SURROGATE_RE.search(text):
        return text
    add_defect(defects, f"8-bit bytes in {where}")
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


def decode_bytes(data: bytes, charset: str | None, where: str, defects: list[str]) -> str:
    """Decode with the declared charset; fall back to a guess (and a defect) when unknown."""
    if not charset:
        return _decode_guess(data) if not data.isascii() else data.decode("ascii")
    codec = _lookup_codec(charset)
    if codec is None:
        add_defect(defects, f"unknown charset {one_line(charset, 40)!r} in {where}")
        return _decode_guess(data)
    if codec == "ascii" and not data.isascii():
        # Mislabelled 8-bit text is common; guessing beats a row of U+FFFD.
        add_defect(defects, f"8-bit bytes in us-ascii {where}")
        return _decode_guess(data)
    try:
        return data.decode(codec, errors="replace")
    except Exception:
        add_defect(defects, f"undecodable charset {codec!r} in {where}")
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


def decode_encoded_words(text: str, where: str, defects: list[str]) -> str:
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
            pieces.append(decode_bytes(bytes(buf), buf_charset, where, defects))
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
            add_defect(defects, f"undecodable encoded word in {where}")
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


def header_text(value: str, where: str, defects: list[str]) -> str:
    """A raw header value as decoded text (may still contain odd whitespace)."""
    return decode_encoded_words(unsurrogate(unfold(value), where, defects), where, defects)


def normalise_newlines(text: str) -> str:
    # NUL is dropped because text columns (PostgreSQL) refuse it; it is never meaningful.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
