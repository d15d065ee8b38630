"""Passwords users paste into mail, found and masked (``password saya: ********``). PURE.

Public API: :func:`mask_passwords` and the :data:`MASK` it writes. The patterns run on Python's
``re`` (they need lookbehind); each is linear in the text (tests/unit/test_rules_hostile.py).
"""

from __future__ import annotations

import functools
import re

__all__ = ["MASK", "mask_passwords"]

MASK = "********"

_PW_LABEL = r"(?:password|passwort|passwd|passwrd|pasword|paswd|passw|pass|pwd|pw|kata\s*sandi|sandi)"
# Words that may sit between the label and the value: "password saya", "password akun SPSE saya".
_PW_QUALIFIER = (
    r"(?:saya|sy|aku|ku|kami|nya|baru|lama|akun|login|spse|lpse|user|sekarang|my|the|new|old|"
    r"yang\s+(?:saya\s+)?(?:pakai|gunakan|benar|dipakai|digunakan)|yg\s+(?:saya\s+)?(?:pakai|gunakan|benar))"
)
# A value ends before whitespace; a comma, semicolon or full stop right before it is punctuation.
_PW_VALUE = r"(?P<value>\"[^\"\n]{1,64}\"|'[^'\n]{1,64}'|[^\s\"']\S*?(?=[.,;]?(?:\s|$)))"
# "password saya: Rahasia123", "pwd=abc", "kata sandi adalah Rahasia", "my password is Secret1"
_PW_EXPLICIT = re.compile(
    rf"(?P<label>(?<![/\\])\b{_PW_LABEL}\b(?:[ \t]+{_PW_QUALIFIER}\b){{0,3}}[ \t]*"
    r"(?:[:=]|\b(?:adalah|adlh|yaitu|yakni|is|nya)\b)[ \t]*)" + _PW_VALUE,
    re.IGNORECASE,
)
# "password saya Budi2024" (no separator): only a value that looks like a secret counts.
_PW_BARE = re.compile(
    rf"(?P<label>(?<![/\\])\b{_PW_LABEL}\b(?:[ \t]+{_PW_QUALIFIER}\b){{0,3}}[ \t]+)(?P<value>[^\s\"']\S*?(?=[.,;]?(?:\s|$)))",
    re.IGNORECASE,
)
# "user/pass: budi / Rahasia123"
_PW_PAIR = re.compile(
    r"(?P<label>\b(?:user(?:name|\s*id)?|id|login)\s*/\s*(?:pass\w*|pwd|pw|sandi)\s*[:=][ \t]*\S+[ \t]*/[ \t]*)"
    r"(?P<value>\S+)",
    re.IGNORECASE,
)
# Each label of the three patterns has one of these in it (as they match it: ignoring case).
_ANY_LABEL = re.compile(r"pas|pw|sandi", re.IGNORECASE)
# Values after "password:" that are ordinary words of a sentence, not a password.
_NOT_SECRETS = frozenset(
    """
    saya sy aku kami kita anda sudah sdh udah belum blm tidak tdk ga gak gk nggak tak salah benar bener
    lupa lupakan yang yg dan atau untuk ke di dari pada dengan tetap tetep masih selalu terus sama bisa
    dapat harus wajib minimal maksimal minimum maximum diganti diubah direset kadaluarsa expired salahnya
    tersebut itu ini baru lama sekarang kosong dikirim terkirim apa bagaimana gimana berapa mana
    incorrect wrong invalid not required correct case sensitive reset changed expired too the a an
    berhasil gagal error eror tertera sesuai cocok valid terkunci diblokir dibuat
    """.split()
)


def _looks_secret(value: str) -> bool:
    """A token that is probably a password even without "password:" before it."""
    if len(value) < 4 or value.lower() in _NOT_SECRETS:
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    has_symbol = any(not c.isalnum() for c in value.rstrip(".,;:!?)"))
    inner_upper = any(c.isupper() for c in value[1:]) and any(c.islower() for c in value)
    if has_digit and not has_alpha:
        return len(value) >= 6  # "123456": common and weak, but a password all the same
    return (has_digit and has_alpha) or (has_symbol and has_alpha) or inner_upper


def _is_secret_value(value: str, explicit: bool) -> bool:
    bare = value.strip("\"'")
    if not bare or set(bare) <= {"*"}:  # empty, or already masked
        return False
    if explicit:
        return bare.lower().rstrip(".,;:!?") not in _NOT_SECRETS and bool(bare.rstrip(".,;:!?)"))
    return _looks_secret(bare)


@functools.lru_cache(maxsize=8)
def mask_passwords(text: str) -> tuple[str, bool]:
    """Replace passwords in ``text`` by ``********`` (the label stays); say whether any was found.

    "password saya: Rahasia123" -> "password saya: ********". Sentences that only talk about a
    password ("lupa password", "reset password akun saya", "password salah") are left alone.

    Kept for the last few texts: one mail's text is masked for its classification, for storing,
    and for every reply that quotes it (a pure function of an immutable string).
    """
    if not _ANY_LABEL.search(text):  # no label, nothing to mask: one pass instead of three
        return text, False
    found = False

    def explicit(match: re.Match[str]) -> str:
        nonlocal found
        if not _is_secret_value(match["value"], explicit=True):
            return match[0]
        found = True
        return match["label"] + MASK

    def bare(match: re.Match[str]) -> str:
        nonlocal found
        if not _is_secret_value(match["value"], explicit=False):
            return match[0]
        found = True
        return match["label"] + MASK

    masked = _PW_PAIR.sub(explicit, text)
    masked = _PW_EXPLICIT.sub(explicit, masked)
    masked = _PW_BARE.sub(bare, masked)
    return masked, found
