"""Data values recognised by their form where they stand: tender codes, NPWP, NIB, company names. PURE.

SOP step 3 asks whether the data the helpdesk needs is in the mail. Users give it in many ways:
``Kode Tender      : 10034567000`` (a form pasted from SPSE), ``tender kode 10023456000``,
``paket 10081234000 gagal upload``, the bare code in the subject, or the code inside the SPSE
address ``/eproc4/lelang/10023456000/pengumumanlelang``. Phrases cannot list every way; the
value itself can be recognised. Every number of a text is given one kind, from its label when
one stands just before it (the nearest label wins: ``NPWP dan kode tender 10023456000``), else
from its shape: an NPWP (``01.234.567.8-901.000`` or 15 digits), a NIB (13 digits), a NIK (16),
a NIP (18), a phone (``08..``, ``+62 8..``), a date, a clock time, an amount (``150.000.000``,
``Rp``, ``juta``), or, for a plain run of 7 to 12 digits, a tender/package code.

Public API: :func:`find_values` (every recognised value of a normalised text, see
:func:`mailbot.core.matching.normalise`), :data:`KINDS` (the kinds a priority-table item may name
under ``values``), :class:`Value`.

The scans run on RE2 (linear time, like the priority table); Python's ``re`` only classifies one
number or reads the short stretch just before it, both bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import re2  # RE2: linear-time matching, no I/O

from mailbot.core.value_kinds import KINDS as KINDS  # re-exported (the table's loader reads it there)

__all__ = ["KINDS", "Value", "find_values"]


@dataclass(frozen=True)
class Value:
    """One value: its kind, its text, its span in the searched text and how it was recognised."""

    kind: str
    text: str
    start: int
    end: int
    how: str  # "label '<label>'", "shape", ...


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 256 << 10


def _re2(pattern: str) -> re2._Regexp:
    return re2.compile(pattern, _OPTIONS)


# --------------------------------------------------------------------------------------------
# Numbers written with spaces: claimed first, so their groups are not read as numbers of their own
# --------------------------------------------------------------------------------------------

_SPACED: tuple[tuple[str, re2._Regexp], ...] = (
    # NPWP 01.234.567.8-901.000 with spaces for some dots: "01 234 567 8 901 000"
    ("npwp", _re2(r"(?:^|[^\w.,/])(?P<v>\d{2}[ .]\d{3}[ .]\d{3}[ .]\d[ .\-]\d{3}[ .]\d{3})(?:$|[^\w/]|[.,](?:$|\D))")),
    # 16 digits in groups of four, as the new NPWP and the NIK are often written: "0743 8812 0093 1000",
    # "0012.3456.7890.1000", "0012-3456-7890-1000" (not a landline's "0012-3456" and the rest)
    ("sixteen", _re2(r"(?:^|[^\w.,/])(?P<v>\d{4}[ .\-]\d{4}[ .\-]\d{4}[ .\-]\d{4})(?:$|[^\w.,/\-]|[.,](?:$|\D))")),
    # NIP 19700101 199003 1 005
    ("nip", _re2(r"(?:^|[^\w.,/])(?P<v>\d{8} \d{6} \d \d{3})(?:$|[^\w.,/]|[.,](?:$|\D))")),
    # mobiles: 0812 3456 7890, +62 812-3456-7890, 62 812 3456 789, 0812.3456.7890
    ("phone", _re2(r"(?:^|[^\w.,/+])(?P<v>(?:\+ ?62|62|0) ?\(?8\)?\d{1,3}(?:[ .\-]?\d{2,5}){1,4})(?:$|[^\w.,/\-]|[.,\-](?:$|\D))")),
    # landlines: (021) 765 4321, 021-7654321, 0274 512345
    ("phone", _re2(r"(?:^|[^\w.,/])(?P<v>\(0\d{2,3}\) ?\d{3,4}[ .\-]?\d{0,4}|0\d{2,3}[ \-]\d{3,4}[ .\-]?\d{2,4})(?:$|[^\w.,/]|[.,](?:$|\D))")),
)

_SPACED_GROUPS = tuple(pattern.groupindex["v"] for _, pattern in _SPACED)

# One number: digits, possibly grouped by dots, commas, dashes or slashes (no spaces).
_NUMBER = _re2(r"\+?\d+(?:[.,\-/:]\d+)*")

# --------------------------------------------------------------------------------------------
# Labels: the word just before a number says what it is
# --------------------------------------------------------------------------------------------

# (kind, pattern) in no particular order: the label nearest to the number wins. Read only in the
# short stretch between the previous number (or the line start) and this one.
_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("tender_code", re.compile(
        r"\b(?:kode|id|no|nomor|nomer|nmr|number)\.?\s*(?:tender|paket|lelang|seleksi|pengadaan|pekerjaan|pl|"
        r"non\s*-?\s*tender|package|bid|lls|lpse)\b"
        # ("tendernya 10615870000", "kode paketnya": the suffix "nya" is "its")
        r"|\b(?:tender|paket|lelang|seleksi|package|pengadaan|pekerjaan|nontender|non\s*-?\s*tender|pl|bid)(?:nya)?\b"
        r"|\b(?:kode|kd)(?:nya)?\b|\bcode\b")),
    # the RUP code (the planning system's number) names a plan, not the SPSE tender: the helpdesk
    # cannot open the tender with it (issue 21, as the blind-written sets label it)
    # ("Kode RUP paketnya 40981127" is the package's RUP code: the RUP label reaches over the package word)
    ("rup", re.compile(r"\b(?:rup|sirup)\b(?:\s+(?:paket|tender|pekerjaan|kegiatan|lelang)(?:nya)?\b)?")),
    ("npwp", re.compile(r"\bnpwp\b")),
    ("nib", re.compile(r"\bnib\b|\bnomor\s+induk\s+berusaha\b")),
    ("nik", re.compile(r"\b(?:nik|ktp|e-?ktp)\b")),
    ("nip", re.compile(r"\b(?:nip|nrp|nipp)\b")),
    ("phone", re.compile(
        r"\b(?:telp|telpon|telepon|tlp|tel|phone|hp|handphone|ponsel|wa|whatsapp|fax|faks|kontak|contact|"
        r"hubungi|call|cp|mobile)\b")),
    ("amount", re.compile(
        r"\b(?:rp|idr|hps|pagu|nilai|harga|senilai|sebesar|total|biaya|anggaran|jaminan)\b|rp\.?\s*$")),
    ("account", re.compile(r"\b(?:rekening|norek|rek|va|virtual\s+account|billing)\b")),
    ("otp", re.compile(
        r"\b(?:otp|pin|captcha|token|kode\s+(?:verifikasi|aktivasi|pos|keamanan|akses))\b")),
    ("user_id", re.compile(
        r"\b(?:user\s*-?\s*id|userid|user\s*name|username|uname|user|id\s+pengguna|nama\s+pengguna|"
        r"id\s+login|login\s+id|id\s+akun)\b")),
    ("time", re.compile(r"\b(?:pukul|pkl|jam)\b")),
    ("date", re.compile(r"\b(?:tanggal|tgl|tahun|thn|th)\b")),
    ("ticket", re.compile(r"\b(?:tiket|ticket|tts)\b")),
    ("version", re.compile(r"\b(?:versi|version|ver|v)\b")),
    ("letter", re.compile(r"\b(?:surat|sk|perpres|perlem|peraturan|pasal|ayat|nomor\s+surat|no\.\s*surat)\b")),
)
# Some label of _LABELS (an alternative matches where its pattern would).
_ANY_LABEL = re.compile("|".join(f"(?:{pattern.pattern})" for _, pattern in _LABELS))
_VALUE_WORD = re.compile(r"[a-z][\w.@\-]*[_@\d][\w.@\-]*")
_ABBREVIATION = re.compile(r"\b(?:no|nmr|nom|rp|tgl|telp|tlp|hp|kab|kec|ds)\.")
_LOOK_BACK = 48  # characters before a number where its label may stand

# Words after a number that say what it is: "150000000 rupiah", "5 MB", "3 kali", "10.15 WIB".
_UNIT_AFTER = re.compile(
    r"\s?(?:(?P<time>wib|wita|wit|am|pm)|(?P<amount>rupiah|ribu|rb|juta|jt|miliar|milyar|triliun|m)|"
    r"mb|kb|gb|kali|x|menit|mnt|jam|detik|hari|minggu|bulan|tahun|orang|persen|%)(?:\b|$)"
)


def _label_before(text: str, start: int, floor: int) -> tuple[str, str] | None:
    """The kind and text of the label nearest before ``start`` (not before ``floor`` nor a line break)."""
    window_start = max(floor, start - _LOOK_BACK)
    window = text[window_start:start]
    cut = window.rfind("\n")
    if cut >= 0:
        window = window[cut + 1 :]
    # "No." and "Rp." end no sentence: their dot is read as a space.
    if "." in window:
        window = _ABBREVIATION.sub(lambda match: match[0][:-1] + " ", window)
    if not _ANY_LABEL.search(window):  # most numbers have none: one search instead of one per kind
        return None
    best: tuple[int, str, str] | None = None
    for kind, pattern in _LABELS:
        for match in pattern.finditer(window):
            if best is None or match.end() > best[0] or (match.end() == best[0] and kind != "tender_code"):
                best = (match.end(), kind, match[0])
    if best is None:
        return None
    # A sentence end between the label and the number breaks the link ("No." and "Rp." do not:
    # nothing but punctuation and spaces follow them).
    between = window[best[0] :]
    if re.search(r"[!?;]|\.\s", between):
        return None
    # Nor does a value the label already had ("user id sy novi_cvandri, tendernya 10615870000": the
    # account name, a word with an underscore, an @ or digits in it, stands between)
    if _VALUE_WORD.search(between):
        return None
    return best[1], best[2]


# --------------------------------------------------------------------------------------------
# Shapes: what a number is when no label says it
# --------------------------------------------------------------------------------------------

_NPWP_SHAPE = re.compile(r"\d{2}\.\d{3}\.\d{3}\.\d[.\-]\d{3}\.\d{3}")
_DATE_SHAPE = re.compile(r"\d{1,2}[/\-.]\d{1,2}[/\-.](?:\d{2}|\d{4})|\d{4}[/\-]\d{1,2}[/\-]\d{1,2}")
_TIME_SHAPE = re.compile(r"(?:[01]?\d|2[0-4])[.:][0-5]\d(?:[.:][0-5]\d)?")
_AMOUNT_SHAPE = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?")
_PHONE_SHAPE = re.compile(r"\+?(?:62|0)8\d{1,3}(?:-\d{2,5}){1,3}|0\d{2,3}-\d{5,8}")


def _shape(token: str) -> str:
    digits = re.sub(r"\D", "", token)
    if len(token) > 40:
        return "other"
    if token.startswith("+"):
        return "phone"
    if not token.isdigit():
        if _NPWP_SHAPE.fullmatch(token):
            return "npwp"
        if _PHONE_SHAPE.fullmatch(token):
            return "phone"
        if _DATE_SHAPE.fullmatch(token):
            return "date"
        if _TIME_SHAPE.fullmatch(token):
            return "time"
        if _AMOUNT_SHAPE.fullmatch(token):
            return "amount"
        return "other"  # "027/123/2024", "124.0.6367.60", ...
    n = len(digits)
    if digits.startswith("08") and 10 <= n <= 13 or digits.startswith("628") and 11 <= n <= 14:
        return "phone"
    if n == 15:
        return "npwp"
    if n == 13:
        return "nib"
    if n == 16:
        # the 16-digit NPWP of a company is "0" and its old 15 digits; a NIK starts with a province
        # code (11-94), never with 0
        return "npwp" if digits.startswith("0") else "nik"
    if n == 18:
        return "nip"
    if 7 <= n <= 12 and not digits.startswith("0"):
        return "tender_code"
    return "other"


def _phone_length(token: str) -> bool:
    """Has a phone-shaped token as many digits as an Indonesian phone number?"""
    digits = re.sub(r"\D", "", token)
    if digits.startswith("62"):
        return 10 <= len(digits) <= 14
    return 9 <= len(digits) <= 13


def _labelled_kind(label: str, token: str) -> str:
    """What a labelled number is: the label's kind, unless its form says it cannot be."""
    digits = re.sub(r"\D", "", token)
    if label == "tender_code":
        # A code is digits only; a date or a clock time after "paket" is not a code.
        if not token.isdigit() or not 5 <= len(digits) <= 14 or digits.startswith("0"):
            return _shape(token)
        return "tender_code"
    if label == "npwp":
        return "npwp" if len(digits) in (15, 16) else "other"
    if label == "nib":
        return "nib" if len(digits) == 13 else "other"
    return label


# --------------------------------------------------------------------------------------------
# Company names
# --------------------------------------------------------------------------------------------

# "PT Sinar Jaya Abadi", "CV. Maju Bersama", "UD Sumber Rejeki", "Koperasi Tani Makmur"; the next
# word is the name's first, so "CV saya", "PT tersebut" and "PT-nya" are no company.
_COMPANY = _re2(
    r"(?:^|[^\w.])(?P<v>(?:pt|cv|ud|pd|kso|koperasi|firma|fa)(?:\. ?| )(?:\(persero\) ?)?"
    r"(?P<name>[a-z][a-z0-9&'\-]*)(?: [a-z0-9&'.\-]+){0,3})"
)
_NOT_A_NAME = frozenset(
    "saya kami kita anda kamu ini itu tersebut yang yg dan atau untuk dengan dari di ke pada nya mana apa apakah "
    "tidak tdk belum blm sudah sdh bisa dapat juga lain lainnya baru lama kecil besar perorangan nya sebagai "
    "adalah yaitu ya jadi kalau kalo jika".split()
)


# A form's label before a name with no legal form: "Nama Perusahaan : Sinar Jaya Abadi",
# "Nama Penyedia: Berkah Mandiri", "Company name: ..." (the label says what the name is).
_COMPANY_LABEL = _re2(
    r"(?:^|[^\w])(?:nama\s+(?:perusahaan|penyedia|badan\s+usaha|rekanan|vendor)|perusahaan|badan\s+usaha|"
    r"company(?:\s+name)?|nama\s+company)\s*:\s*(?P<v>(?P<name>[a-z][a-z0-9&'.\-]*)(?: [a-z0-9&'.\-]+){0,4})"
)


# ... or a form line with no colon: the label opens the line and the name fills the rest of it
# ("Nama Perusahaan      Sinar Jaya Abadi" aligned with spaces, "Nama Penyedia | Berkah Mandiri" from a
# table); a sentence ("nama perusahaan kami salah ketik") is no such line
_COMPANY_LINE = _re2(
    r"(?m)^(?:nama\s+(?:perusahaan|penyedia|badan\s+usaha|rekanan|vendor)|company\s+name)\s*\|?\s*"
    r"(?P<v>(?P<name>[a-z][a-z0-9&'.\-]*)(?: [a-z0-9&'.\-]+){0,4})\s*$"
)
_COMPANY_GROUPS = (_COMPANY_LINE.groupindex, _COMPANY_LABEL.groupindex, _COMPANY.groupindex)  # read once, not per match
_NOT_IN_A_NAME = frozenset(
    "tidak tdk belum blm sudah sdh salah berubah diubah ganti diganti mohon harus seharusnya kurang lebih "
    "tertulis terdaftar ada sama beda berbeda lama baru kosong".split()
)


def _companies(text: str, searched: str | bytes) -> Iterator[Value]:
    """The company names of ``text`` (``searched``: the text, or its bytes when it is ASCII)."""
    line, label, form = _COMPANY_GROUPS
    for match in _COMPANY_LINE.finditer(searched):
        start, end = match.span(line["v"])
        words = text[start:end].split(" ")
        if words[0] in _NOT_A_NAME or words[0] in ("-", "belum", "kosong") or _NOT_IN_A_NAME.intersection(words):
            continue
        yield Value("company", text[start:end], start, end, "form line")
    for match in _COMPANY_LABEL.finditer(searched):
        name_start, name_end = match.span(label["name"])
        if text[name_start:name_end] in _NOT_A_NAME or text[name_start:name_end] in ("-", "belum", "kosong"):
            continue
        start, end = match.span(label["v"])
        yield Value("company", text[start:end], start, end, "label")
    pos = 0
    while (match := _COMPANY.search(searched, pos)) is not None:
        name_start, name_end = match.span(form["name"])
        pos = match.end()
        if text[name_start:name_end] in _NOT_A_NAME:
            # "pt kami PT Anugerah Tani": the next legal form may stand inside this match
            pos = name_start
            continue
        start, end = match.span(form["v"])
        words = text[start:end].split(" ")
        while words and words[-1] in _NOT_A_NAME:  # "PT Sinar Jaya dan ...": the name ends before "dan"
            words.pop()
        end = start + len(" ".join(words))
        yield Value("company", text[start:end], start, end, "legal form")


# --------------------------------------------------------------------------------------------
# All values of a text
# --------------------------------------------------------------------------------------------


# The labels that name a number and may be glued to it when a table is flattened to text
_GLUED_LABEL = re.compile(r"(?:^|[^a-z])(?P<k>npwp|nib)$")


def _glued(text: str, start: int, end: int) -> bool:
    """Is the number part of a word (``cvmaju01``, ``TTS-000123``, ``rp150000``, an address)?"""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if before.isalpha() or before == "_" or after.isalpha() or after in "_@":
        return True
    if before in "-#" and start > 1 and text[start - 2].isalpha():
        return before == "-"  # "TTS-000123" is a ticket; "#10023456000" is a number
    return False


# How much of a text is read, and how many numbers at most: a person gives the data in the first
# kilobytes and among the first numbers; more is a pasted log or an attack, and reading it all
# would let one mail cost seconds (issue 17).
MAX_CHARS = 64 * 1024
MAX_NUMBERS = 2000


def _searched(text: str) -> str | bytes:
    """What the scans search: RE2 searches bytes as they are, where a str is encoded again at every
    search and its match offsets converted back; in ASCII (most mails) the offsets are the same."""
    return text.encode("ascii") if text.isascii() else text


def find_values(text: str) -> list[Value]:
    """Every number of ``text`` with its kind, and every company name, in text order.

    ``text`` is normalised (lower case, see :func:`mailbot.core.matching.normalise`). Only its
    first :data:`MAX_CHARS` characters and :data:`MAX_NUMBERS` numbers are read.
    """
    text = text[:MAX_CHARS]
    searched = _searched(text)
    values: list[Value] = []
    claimed = bytearray(len(text))  # 1 where a spaced number was found
    for (kind, pattern), group in zip(_SPACED, _SPACED_GROUPS, strict=True):
        for count, match in enumerate(pattern.finditer(searched)):
            if count >= MAX_NUMBERS:
                break
            start, end = match.span(group)
            found = text[start:end]
            if " " not in found and kind not in ("phone", "sixteen"):
                continue  # unspaced forms are read below, with their labels
            if any(claimed[start:end]):
                continue
            if kind == "phone" and not _phone_length(found):
                continue
            label = _label_before(text, start, 0)
            if kind == "sixteen":  # an NPWP or a NIK: its first digit tells when no label does
                kind = _shape(re.sub(r"\D", "", found))
            got = kind if label is None or label[0] in (kind, "phone") else _labelled_kind(label[0], found)
            values.append(Value(got, text[start:end], start, end, "shape (spaced)"))
            claimed[start:end] = b"\x01" * (end - start)
    floor = 0
    for count, match in enumerate(_NUMBER.finditer(searched)):
        if count >= MAX_NUMBERS:
            break
        start, end = match.span()
        if any(claimed[start:end]):
            floor = end
            continue
        token = text[start:end]
        if glued := _GLUED_LABEL.search(text, max(0, start - 8), start):
            # a form's label glued to its value (a table flattened to text: "NPWP0012.3456.7890.1000")
            kind, how = _labelled_kind(glued["k"], token), f"label {glued['k']!r} (glued)"
        elif _glued(text, start, end):
            kind, how = "other", "part of a word"
        elif unit := _UNIT_AFTER.match(text, end):
            kind = "time" if unit["time"] else "amount" if unit["amount"] else "quantity"
            how = f"{unit[0].strip()!r} after it"
        else:
            label = _label_before(text, start, floor)
            if label is not None:
                kind, how = _labelled_kind(label[0], token), f"label {label[1]!r}"
            else:
                kind, how = _shape(token), "shape"
        values.append(Value(kind, token, start, end, how))
        floor = end
    values.extend(islice(_companies(text, searched), MAX_NUMBERS))
    values.sort(key=lambda value: value.start)
    return values
