"""Priority and missing-data findings from the configured priority table (SOP steps 2-4). PURE.

The table (``config/priorities.toml``, loaded and validated by :mod:`mailbot.settings.priorities`) is
data; this module only applies it. It imports the standard library and :mod:`mailbot.core.domain`
only, reads no file and no clock: the time a mail arrived is passed in as ``now``.

Public API:

* :func:`classify` -- category, priority, missing items, phone, password flag, with every rule
  that fired recorded as a :class:`~mailbot.core.domain.RuleHit`;
* :func:`detect_items` -- which data items a text (plus attachments) contains;
* :func:`mask_passwords` -- hide passwords users paste into mail;
* :func:`find_phone` -- an Indonesian phone number, normalised to ``+62...``;
* :func:`normalise` / :func:`keyword_pattern` -- the text normalisation the table is matched on;
* the frozen table types :class:`PriorityTable`, :class:`Level`, :class:`Category`,
  :class:`Matcher`, :class:`DataItem`, :class:`DeadlineRule`. They live here rather than in
  ``rules_config`` so that this pure module does not depend on the loader (and its pydantic).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.core.domain import Attachment, Classification, MissingItem, RuleHit

__all__ = [
    "Category",
    "DataItem",
    "DeadlineRule",
    "Level",
    "MASK",
    "Matcher",
    "PriorityTable",
    "classify",
    "detect_items",
    "find_phone",
    "keyword_pattern",
    "mask_passwords",
    "normalise",
]

# --------------------------------------------------------------------------------------------
# The table, as the engine sees it (built by rules_config.load_priority_table)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One priority level; the table lists them from the highest to the lowest."""

    key: str
    label: str
    resolution_hours: float


@dataclass(frozen=True)
class Matcher:
    """One keyword or pattern of a category, with the weight it adds when it fires."""

    regex: re.Pattern[str]
    weight: float
    keyword: str | None = None  # the keyword as configured; None for a raw pattern
    where: str = ""  # its place in the table file, for explanations

    @property
    def is_keyword(self) -> bool:
        return self.keyword is not None


@dataclass(frozen=True)
class DataItem:
    """A piece of data the helpdesk may need; a group when ``any_of`` is set."""

    key: str
    label: str
    example: str
    patterns: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    attachment: str | None = None  # "image" | "pdf" | "any"
    min_bytes: int = 0
    any_of: tuple[str, ...] = ()

    @property
    def is_group(self) -> bool:
        return bool(self.any_of)


@dataclass(frozen=True)
class Category:
    """A problem category: how to recognise it, its priority and the data it needs."""

    key: str
    label: str
    priority: str
    required: tuple[str, ...] = ()
    matchers: tuple[Matcher, ...] = ()

    @functools.cached_property
    def by_weight(self) -> tuple[Matcher, ...]:
        """The matchers, strongest first (table order among equals); sorted once per category
        (a cache keyed by the matchers would hash all of them for every mail)."""
        return tuple(sorted(self.matchers, key=lambda m: -m.weight))


@dataclass(frozen=True)
class DeadlineRule:
    """When a mail says a deadline is near, the priority goes up by ``raise_by`` levels."""

    patterns: tuple[re.Pattern[str], ...] = ()
    raise_by: int = 1
    date_context: re.Pattern[str] | None = None  # a deadline word followed by an explicit date
    window_hours: float = 24.0


@dataclass(frozen=True)
class PriorityTable:
    """The validated priority table. Levels are ordered from the highest to the lowest."""

    levels: tuple[Level, ...]
    items: tuple[DataItem, ...]
    categories: tuple[Category, ...]
    default: Category  # used when no category reaches min_score; never has matchers
    subject_weight: float = 2.0
    reply_subject_weight: float = 1.0  # for "Re: ..." subjects, inherited from the earlier message
    min_score: float = 3.0
    deadline: DeadlineRule = DeadlineRule()
    source: str = ""  # where the table was read from, for messages

    # -- look-ups used by the engine and by the service (templates, SLA clock) --

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(level.key for level in self.levels)

    def level(self, key: str) -> Level:
        for level in self.levels:
            if level.key == key:
                return level
        raise KeyError(f"unknown priority level {key!r}")

    def level_index(self, key: str) -> int:
        return self.level_names.index(key)

    def resolution_hours(self, key: str) -> float | None:
        """The resolution target of a priority level; None for a level the table does not know."""
        try:
            return self.level(key).resolution_hours
        except KeyError:
            return None

    def item(self, key: str) -> DataItem:
        for item in self.items:
            if item.key == key:
                return item
        raise KeyError(f"unknown data item {key!r}")

    def item_label(self, key: str) -> str:
        """The Indonesian label of an item; the key itself for an item no longer configured."""
        try:
            return self.item(key).label
        except KeyError:
            return key

    def category(self, key: str) -> Category:
        if key == self.default.key:
            return self.default
        for category in self.categories:
            if category.key == key:
                return category
        raise KeyError(f"unknown category {key!r}")

    def category_label(self, key: str) -> str:
        try:
            return self.category(key).label
        except KeyError:
            return key


# --------------------------------------------------------------------------------------------
# Text normalisation (the table is matched against this form)
# --------------------------------------------------------------------------------------------

_TRANSLATE = str.maketrans(
    {
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'", "`": "'",
        "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": "", "\u00ad": "",
        "\u2028": "\n", "\u2029": "\n",
    }
)
_HSPACE = re.compile(r"[^\S\n]+")
_NEWLINES = re.compile(r" ?\n[\s]*")


def normalise(text: str) -> str:
    """Lower case, accents stripped, quotes straightened, whitespace collapsed (newlines kept once).

    Line breaks survive (as single ``\\n``) so a pattern may anchor on a line start, e.g. a
    signature line; keyword matching treats them as any other space.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    lowered = stripped.translate(_TRANSLATE).lower()
    return _NEWLINES.sub("\n", _HSPACE.sub(" ", lowered)).strip()


@functools.lru_cache(maxsize=4096)  # pure; canned-answer suggestions ask for the same keywords per mail
def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """The regex of a configured keyword: whole words, any spaces/hyphens between them, ``*`` = letters."""
    words = [w for w in re.split(r"[\s\-]+", normalise(keyword)) if w]
    if not words:
        raise ValueError("empty keyword")
    parts: list[str] = []
    for index, word in enumerate(words):
        core = word.strip("*")
        if not core:
            raise ValueError(f"keyword {keyword!r} has a word made only of '*'")
        literal = re.escape(core)
        suffix = r"\w*" if word.endswith("*") else ""
        if word.startswith("*"):
            # (?<!\w) / (?!\w) rather than \b: they also hold next to punctuation in a keyword.
            parts.append((r"(?<!\w)" if index == 0 else "") + r"\w*" + literal + suffix)
        elif index == 0:
            # The word-start test written after the literal, not before it: a pattern that
            # starts with a literal lets the regex engine skip ahead to it, about 30 times
            # faster, and the table's 400 keywords are matched against every mail.
            parts.append(literal + r"(?<!\w" + literal + ")" + suffix)
        else:
            parts.append(literal + suffix)
    return re.compile(r"[\s\-]+".join(parts) + r"(?!\w)")


# --------------------------------------------------------------------------------------------
# Passwords
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Phone numbers (SOP step 4: staff confirm by telephone)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Data items
# --------------------------------------------------------------------------------------------


def _snippet(text: str, limit: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


def _attachment_fits(item: DataItem, attachment: Attachment) -> bool:
    if attachment.size < item.min_bytes:
        return False
    kind = item.attachment
    if kind == "image":
        return attachment.is_image
    if kind == "pdf":
        return attachment.content_type == "application/pdf" or attachment.filename.lower().endswith(".pdf")
    return kind == "any"


def _find_item(item: DataItem, text: str, attachments: Sequence[Attachment]) -> str | None:
    """Why ``item`` (not a group) is present, or None."""
    if item.attachment:
        for attachment in attachments:
            if _attachment_fits(item, attachment):
                how = "inline image" if attachment.inline and attachment.is_image else "attachment"
                return f"{how} {attachment.filename or '(no name)'} ({attachment.content_type})"
    if not item.patterns:
        return None
    excluded = [m.span() for rx in item.exclude for m in rx.finditer(text)]
    for rx in item.patterns:
        for match in rx.finditer(text):
            start, end = match.span()
            if any(start < x_end and x_start < end for x_start, x_end in excluded):
                continue  # e.g. digits that belong to an NPWP or an amount
            return f"found {_snippet(match[0])!r}"
    return None


def _detect(table: PriorityTable, norm_text: str, attachments: Sequence[Attachment]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in table.items:
        if not item.is_group:
            reason = _find_item(item, norm_text, attachments)
            if reason is not None:
                found[item.key] = reason
    for item in table.items:
        if item.is_group:
            present = [key for key in item.any_of if key in found]
            if present:
                found[item.key] = "via " + " and ".join(present)
    return found


def detect_items(table: PriorityTable, text: str, attachments: Sequence[Attachment] = ()) -> set[str]:
    """Keys of the table's data items present in ``text`` and ``attachments`` (satisfied groups too)."""
    return set(_detect(table, normalise(text), attachments))


# --------------------------------------------------------------------------------------------
# Near deadlines
# --------------------------------------------------------------------------------------------

_MONTHS = {
    "jan": 1, "januari": 1, "january": 1,
    "feb": 2, "februari": 2, "pebruari": 2, "february": 2,
    "mar": 3, "maret": 3, "march": 3,
    "apr": 4, "april": 4,
    "mei": 5, "may": 5,
    "jun": 6, "juni": 6, "june": 6,
    "jul": 7, "juli": 7, "july": 7,
    "agu": 8, "agt": 8, "agus": 8, "agustus": 8, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9,
    "okt": 10, "oktober": 10, "oct": 10, "october": 10,
    "nov": 11, "nopember": 11, "november": 11,
    "des": 12, "desember": 12, "dec": 12, "december": 12,
}
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{4}|\d{2})\b")
_NAMED_DATE = re.compile(r"\b(\d{1,2})\s+(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?(?:\s+(\d{4}))?")
_TIME = re.compile(r"(?:pukul|pkl|jam|at)?\s*\b([01]?\d|2[0-3])[.:]([0-5]\d)\b")


def _explicit_deadline(context: re.Pattern[str], text: str, now: datetime) -> tuple[str, datetime] | None:
    """A deadline word followed by a date (and time) that falls within the coming window."""
    for match in context.finditer(text):
        tail = text[match.end() : match.end() + 80]
        date = _NAMED_DATE.search(tail)
        numeric = _NUMERIC_DATE.search(tail)
        if numeric and (date is None or numeric.start() < date.start()):
            day, month, year = int(numeric[1]), int(numeric[2]), int(numeric[3])
            found = numeric
        elif date:
            day, month = int(date[1]), _MONTHS[date[2]]
            year = int(date[3]) if date[3] else now.year
            found = date
        else:
            continue
        if year < 100:
            year += 2000
        time = _TIME.search(tail, found.end(), found.end() + 25)
        try:
            if time:
                at = datetime(year, month, day, int(time[1]), int(time[2]))
            else:
                at = datetime(year, month, day, 23, 59)  # a date alone: the deadline is that day
        except ValueError:
            continue  # "31/02": not a date
        if now.tzinfo is not None:
            at = at.replace(tzinfo=now.tzinfo)  # written in the sender's (= helpdesk's) local time
        end = (time or found).end()
        return _snippet(match[0] + tail[:end]), at
    return None


def _near_deadline(table: PriorityTable, text: str, now: datetime | None) -> str | None:
    rule = table.deadline
    for rx in rule.patterns:
        match = rx.search(text)
        if match:
            return f"deadline phrase {_snippet(match[0])!r}"
    if rule.date_context is not None and now is not None:
        found = _explicit_deadline(rule.date_context, text, now)
        if found:
            phrase, at = found
            if now <= at <= now + timedelta(hours=rule.window_hours):
                hours = (at - now).total_seconds() / 3600
                return f"deadline {phrase!r} is {hours:.1f} h after the mail arrived"
    return None


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------


def _fmt(number: float) -> str:
    return f"{number:g}"


# "Re:", "RE:", "Bls:", "Balas:", "AW:", "SV:", "Antw:", possibly repeated or after a "[TTS-1]" tag.
_REPLY_SUBJECT = re.compile(r"^\s*(?:\[[^\]]*\]\s*)*(?:re|bls|balas|aw|sv|antw|odp|r)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)


def _score(
    table: PriorityTable, category: Category, subject: str, body: str, subject_weight: float
) -> tuple[float, list[RuleHit]]:
    """A category's score and the hits behind it.

    Within one field a stretch of text counts once, at the strongest rule that reads it: in
    "gagal upload" the phrase scores, the weaker "*upload*" inside it does not. Negative rules
    always count: they are evidence against, not a competing reading.
    """
    score = 0.0
    hits: list[RuleHit] = []
    rule = f"category:{category.key}"
    ordered = category.by_weight
    for where, text, factor in (("subject", subject, subject_weight), ("body", body, 1.0)):
        taken: list[tuple[int, int]] = []
        for matcher in ordered:
            chosen: re.Match[str] | None = None
            for match in matcher.regex.finditer(text):
                start, end = match.span()
                if matcher.weight < 0 or not any(start < t_end and t_start < end for t_start, t_end in taken):
                    chosen = match
                    break
            if chosen is None:
                continue
            if matcher.weight > 0:
                taken.append(chosen.span())
            points = matcher.weight * factor
            score += points
            sign = "+" if points >= 0 else ""
            if matcher.keyword is not None:
                what = f"keyword {matcher.keyword!r}"
            else:
                what = f"pattern matched {_snippet(chosen[0])!r}"
            hits.append(RuleHit(rule, f"{what} in {where} ({sign}{_fmt(points)})"))
    return score, hits


def classify(
    table: PriorityTable,
    *,
    subject: str,
    text: str,
    attachments: Sequence[Attachment] = (),
    now: datetime | None = None,
) -> Classification:
    """Decide category, priority and missing data of a new mail (SOP steps 2-3).

    ``text`` is the new text of the mail (quoted history already removed). ``now`` is when the
    mail arrived: with it, an explicit deadline date ("batas akhir ... 15 Juli 2024 pukul
    14.00") counts when it is near; without it only phrases like "hari ini" do.
    """
    masked_subject, pw_subject = mask_passwords(subject)
    masked_text, pw_text = mask_passwords(text)
    password_found = pw_subject or pw_text
    norm_subject = normalise(masked_subject)
    norm_body = normalise(masked_text)

    hits: list[RuleHit] = []
    subject_weight = table.subject_weight
    if _REPLY_SUBJECT.match(norm_subject):
        subject_weight = table.reply_subject_weight
        hits.append(RuleHit("subject", f"a reply's subject: it counts x{_fmt(subject_weight)}"))
    scores: list[tuple[float, int, Category]] = []
    for index, category in enumerate(table.categories):
        score, category_hits = _score(table, category, norm_subject, norm_body, subject_weight)
        hits.extend(category_hits)
        if category_hits:
            scores.append((score, index, category))

    # Highest score first; on a tie the category listed first in the table.
    ranked = sorted(scores, key=lambda entry: (-entry[0], entry[1]))
    eligible = [entry for entry in ranked if entry[0] >= table.min_score and entry[0] > 0]
    if eligible:
        best_score, _, chosen = eligible[0]
        matched = True
        runner = f"; runner-up {ranked[1][2].key} {_fmt(ranked[1][0])}" if len(ranked) > 1 else ""
        hits.append(RuleHit("category", f"{chosen.key} scored {_fmt(best_score)}{runner}"))
    else:
        chosen = table.default
        matched = False
        best = f" (best: {ranked[0][2].key} {_fmt(ranked[0][0])})" if ranked else ""
        hits.append(
            RuleHit(
                "category",
                f"no category reached {_fmt(table.min_score)}{best}: default {chosen.key}, flagged for staff",
            )
        )

    priority = chosen.priority
    level = table.level(priority)
    hits.append(RuleHit("priority", f"category {chosen.key} -> {priority} ({_fmt(level.resolution_hours)} h)"))

    deadline = _near_deadline(table, norm_subject + "\n" + norm_body, now)
    if deadline is not None and table.deadline.raise_by > 0:
        index = table.level_index(priority)
        raised = max(0, index - table.deadline.raise_by)
        if raised < index:
            priority = table.levels[raised].key
            level = table.levels[raised]
            hits.append(RuleHit("deadline", f"{deadline}: priority raised to {priority}"))
        else:
            hits.append(RuleHit("deadline", f"{deadline}: already at the top level {priority}"))

    found = _detect(table, norm_subject + "\n" + norm_body, attachments)
    for key, reason in found.items():
        hits.append(RuleHit(f"item:{key}", reason))
    required = set(chosen.required)
    missing = tuple(
        MissingItem(item.key, item.label, item.example)
        for item in table.items  # table order, so the "need more data" reply reads the same every time
        if item.key in required and item.key not in found
    )
    if missing:
        hits.append(RuleHit("missing", "required but not found: " + ", ".join(m.key for m in missing)))

    if password_found:
        hits.append(RuleHit("password", "the mail contains a password; it was masked"))

    return Classification(
        category=chosen.key,
        category_label=chosen.label,
        priority=priority,
        matched=matched,
        missing=missing,
        hits=tuple(hits),
        password_found=password_found,
        # The masked text: a password made of digits must not come back as a phone number.
        phone=find_phone(masked_subject + "\n" + masked_text),
        resolution_hours=level.resolution_hours,
    )
