"""Indonesian phone numbers in a mail, normalised to ``+62...`` (SOP step 4: staff confirm by telephone). PURE.

Public API: :func:`find_phone`. The patterns run on Python's ``re`` (they need lookbehind); each is
linear in the text (tests/unit/test_rules_hostile.py).
"""

from __future__ import annotations

import re

__all__ = ["find_phone"]

_SEP = r"[ \t.\-]?"
# Mobile: 08xx / +628xx / 628xx, any grouping by spaces, dots or dashes; not glued to more digits.
_MOBILE = re.compile(rf"(?<![\w+])(?:\+62|62|0)[ \t\-]?\(?8\)?\d(?:{_SEP}\d){{6,10}}(?!{_SEP}\d)")
# Landline: only after a telephone label, so codes, NPWP and amounts are not taken for one.
_LANDLINE = re.compile(
    r"\b(?:telp|telpon|telepon|tlp|tel|phone|kantor|office|hp|wa|whatsapp|kontak|contact|hubungi)\b\.?[ \t:]*"
    rf"(?P<number>(?:\(0\d{{2,3}}\)|0\d{{2,3}}|\+62[ \t]?\d{{2,3}})(?:{_SEP}\d){{5,8}})(?!{_SEP}\d)",
    re.IGNORECASE,
)


def _e164(raw: str) -> str | None:
    digits = re.sub(r"\D", "", raw)
    if digits.startswith("62"):
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        return None
    if national.startswith("8"):
        ok = 9 <= len(national) <= 12  # 08xx-xxxx-xxx(xx): 10 to 13 digits with the 0
    else:
        ok = 8 <= len(national) <= 11  # area code + subscriber number
    return "+62" + national if ok else None


def find_phone(text: str) -> str | None:
    """The first Indonesian phone number in ``text`` as ``+62...`` (mobiles preferred); else None."""
    for match in _MOBILE.finditer(text):
        number = _e164(match[0])
        if number:
            return number
    for match in _LANDLINE.finditer(text):
        number = _e164(match["number"])
        if number:
            return number
    return None
