"""The header fields of a mail: addresses, Message-ID and threading ids, date, loop counter.

Raw header values are read (:class:`Headers`) and decoded by this package's own tolerant
decoders (:mod:`mailbot.core.parse.decoding`); every value comes out as a single line capped
to the size of its database column, and what had to be guessed or dropped is a defect.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from mailbot.core.domain import fold_address
from mailbot.core.parse.decoding import (
    add_defect,
    decode_encoded_words,
    header_text,
    one_line,
    unfold,
    unsurrogate,
)

# Limits. They keep hostile input from producing unbounded work or values that do not
# fit the database columns (see mailbot/storage/models.py: subject 500, sender 320, message_id 998).
MAX_SUBJECT_CHARS = 500
MAX_NAME_CHARS = 200
MAX_ADDR_CHARS = 320
MAX_ID_CHARS = 998
MAX_THREAD_IDS = 100
MAX_ADDRESSES = 200
MAX_RAW_HEADER_CHARS = 2000
MAX_AUTH_RESULTS = 20
# getaddresses() and the reply regexes are Python-level loops; bound their input.
_MAX_ADDRESS_HEADER_CHARS = 64_000
_MAX_IDS_HEADER_CHARS = 200_000


class Headers:
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

    def names(self) -> list[str]:
        """The lower-cased names of the headers present, in order of first appearance."""
        return list(self._items)

    def first(self, name: str) -> str | None:
        values = self._items.get(name)
        return values[0] if values else None


def raw_one_line(value: str | None, where: str, defects: list[str], cap: int = MAX_RAW_HEADER_CHARS) -> str:
    if value is None:
        return ""
    return one_line(unsurrogate(unfold(value), where, defects), cap)


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


def parse_ids(values: Sequence[str], where: str, defects: list[str]) -> tuple[str, ...]:
    text = " ".join(unsurrogate(unfold(v), where, defects) for v in values)[:_MAX_IDS_HEADER_CHARS]
    ids = [_clean_id(m.group(1)) for m in _ID_TOKEN_RE.finditer(text)]
    if not ids and text.strip():
        # Some mailers drop the angle brackets; accept bare tokens that look like ids.
        ids = [_clean_id(tok.strip("<>,;")) for tok in text.split() if "@" in tok]
    unique = list(dict.fromkeys(i for i in ids if i))
    if len(unique) > MAX_THREAD_IDS:
        add_defect(defects, f"{where} has {len(unique)} ids; kept {MAX_THREAD_IDS}")
        # Keep the thread root and the most recent ids: those are the ones that thread.
        unique = unique[:1] + unique[-(MAX_THREAD_IDS - 1) :]
    return tuple(unique)


def message_id_of(headers: Headers, raw: bytes, defects: list[str]) -> str:
    values = headers.all("message-id")
    if len(values) > 1:
        add_defect(defects, "several Message-ID headers; used the first")
    if values:
        text = unsurrogate(unfold(values[0]), "Message-ID", defects)
        match = _ID_TOKEN_RE.search(text)
        token = _clean_id(match.group(1) if match else text)
        if token:
            return token
    add_defect(defects, "missing Message-ID; using a hash of the raw bytes")
    return substitute_message_id(raw)


def substitute_message_id(raw: bytes) -> str:
    """The stable id of a mail without Message-ID: the same bytes fetched twice dedupe."""
    return "mailbot-sha256-" + hashlib.sha256(raw).hexdigest()[:32] + "@missing"


_ADDR_RE = re.compile(r"[^@\s<>()\[\],;:\"\\\x00-\x1f\x7f]+@[^@\s<>()\[\],;:\"\\\x00-\x1f\x7f]+")


def _clean_addr(addr: str) -> str:
    addr = fold_address(addr.strip().strip("<>").strip())
    if len(addr) > MAX_ADDR_CHARS or not _ADDR_RE.fullmatch(addr):
        return ""
    return addr


_CACHED_ADDRESS_CHARS = 1000


@functools.lru_cache(maxsize=256)
def _getaddresses(text: str) -> tuple[tuple[str, str], ...]:
    """``getaddresses([text])``, kept for the values that come again and again (the helpdesk's
    own address in To and Delivered-To, a user's From on each reply): it is a Python-level
    parser, some 20 us for one address."""
    return tuple(getaddresses([text]))


def _address_pairs(values: Iterable[str], where: str, defects: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for value in values:
        text = unsurrogate(unfold(value), where, defects)
        if len(text) > _MAX_ADDRESS_HEADER_CHARS:
            add_defect(defects, f"{where} header truncated")
            text = text[:_MAX_ADDRESS_HEADER_CHARS]
        try:
            pairs.extend(_getaddresses(text) if len(text) <= _CACHED_ADDRESS_CHARS else getaddresses([text]))
        except Exception:
            add_defect(defects, f"unparseable {where} header")
    return pairs


def addresses(values: Sequence[str], where: str, defects: list[str]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for _name, addr in _address_pairs(values, where, defects):
        cleaned = _clean_addr(addr)
        if cleaned:
            found.setdefault(cleaned, None)
        if len(found) >= MAX_ADDRESSES:
            break
    return tuple(found)


def sender(headers: Headers, defects: list[str]) -> tuple[str, str]:
    """(from_name, from_addr) from the first From header."""
    name, addr, _ = sender_and_pairs(headers, defects)
    return name, addr


def sender_and_pairs(headers: Headers, defects: list[str]) -> tuple[str, str, list[tuple[str, str]]]:
    """``sender``, and the (name, address) pairs of the first From header it read, for
    ``several_senders`` (``getaddresses`` is a Python-level parser: once per mail is enough)."""
    values = headers.all("from")
    if not values:
        add_defect(defects, "missing From header")
        return "", "", []
    if len(values) > 1:
        add_defect(defects, "several From headers; used the first")
    pairs = _address_pairs(values[:1], "From", defects)
    for name, addr in pairs:
        cleaned = _clean_addr(addr)
        if cleaned:
            return one_line(decode_encoded_words(name, "From", defects), MAX_NAME_CHARS), cleaned, pairs
    add_defect(defects, "no usable address in From header")
    # Keep whatever text there was so staff can still see who it claims to be.
    return one_line(header_text(values[0], "From", defects), MAX_NAME_CHARS), "", pairs


def several_senders(headers: Headers, defects: list[str], pairs: list[tuple[str, str]] | None = None) -> bool:
    """Whether the mail names more than one sender: several From headers, or several addresses in
    the first one (``staf@lpse.test <other@lpse.test>`` is two to ``getaddresses``).

    ``sender`` takes the first address; a receiving server's DKIM or DMARC check may have read
    another one (the address in angle brackets), so no authentication result can vouch for it.
    ``pairs``: the first From header's pairs as ``sender_and_pairs`` read them (else read here).
    """
    values = headers.all("from")
    if len(values) > 1:
        return True
    if pairs is None:
        pairs = _address_pairs(values[:1], "From", [])
    usable = {c for _name, addr in pairs if (c := _clean_addr(addr))}
    if len(usable) > 1:
        add_defect(defects, "several addresses in From header; used the first")
        return True
    return False


# Indonesian month abbreviations that parsedate() does not know (Mei, Agu, Okt, Des ...).
_ID_MONTHS = {
    "mei": "May", "agu": "Aug", "agt": "Aug", "okt": "Oct", "des": "Dec",
    "nop": "Nov", "peb": "Feb", "januari": "Jan", "februari": "Feb", "maret": "Mar",
    "april": "Apr", "juni": "Jun", "juli": "Jul", "agustus": "Aug", "september": "Sep",
    "oktober": "Oct", "november": "Nov", "desember": "Dec",
}  # fmt: skip
_WORD_RE = re.compile(r"[A-Za-z]+")


def parse_date(value: str | None, defects: list[str]) -> datetime | None:
    if value is None:
        return None
    text = one_line(unsurrogate(unfold(value), "Date", defects), 200)
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
    add_defect(defects, "unparseable Date header")
    return None


_HOPS_RE = re.compile(r"\s*(\d{1,6})\s*")


def hops(values: Sequence[str], defects: list[str]) -> int:
    best = 0
    for value in values:
        match = _HOPS_RE.fullmatch(unfold(value))
        if match is None:
            add_defect(defects, "invalid X-Mailbot-Hops header")
            continue
        # The highest counter wins: a forged low value must not hide a loop.
        best = max(best, int(match.group(1)))
    return best
