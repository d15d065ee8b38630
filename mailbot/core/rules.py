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
* :func:`compile_table_pattern` -- a pattern of the table, compiled for the linear-time matcher;
* the frozen table types :class:`PriorityTable`, :class:`Level`, :class:`Category`,
  :class:`Matcher`, :class:`DataItem`, :class:`DeadlineRule`. They live here rather than in
  ``rules_config`` so that this pure module does not depend on the loader (and its pydantic).

Every pattern of the table, and every keyword, is matched by RE2 (``google-re2``, module ``re2``:
a pure matching library), whose time is linear in the text whatever the pattern. Python's
backtracking ``re`` can take quadratic or exponential time on a hostile mail (issue 17: a 61 KB
body of ``1.1.1.`` held the mailbox for 114 s), and coordinators write the table. RE2 has no
lookaround and no backreferences; the loader refuses patterns that use them. The built-in
patterns below (passwords, phones, dates) stay on ``re`` where they need lookbehind; each is
linear or works on a bounded piece of text (tests/unit/test_rules_hostile.py).
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import re2  # type: ignore[import-untyped]  # RE2: linear-time matching, no I/O

from mailbot.core.domain import Attachment, Classification, MissingItem, RuleHit

__all__ = [
    "Category",
    "DataItem",
    "DeadlineRule",
    "Level",
    "MASK",
    "MAX_CLASSIFIED_CHARS",
    "Matcher",
    "Pattern",
    "PatternMatch",
    "PriorityTable",
    "TablePatternError",
    "classify",
    "compile_table_pattern",
    "detect_items",
    "find_phone",
    "keyword_pattern",
    "mask_passwords",
    "normalise",
]

# --------------------------------------------------------------------------------------------
# Compiled patterns: what the engine needs of one, and how the table's are matched
# --------------------------------------------------------------------------------------------


class PatternMatch(Protocol):
    """One match: its span in the searched text and the text it covers (``match[0]``)."""

    def span(self) -> tuple[int, int]: ...

    def start(self) -> int: ...

    def end(self) -> int: ...

    def __getitem__(self, group: int, /) -> str: ...


class Pattern(Protocol):
    """A compiled pattern: ``search`` finds the first match, ``finditer`` every non-overlapping one."""

    def search(self, text: str, pos: int = 0, /) -> PatternMatch | None: ...

    def finditer(self, text: str, pos: int = 0, /) -> Iterator[PatternMatch]: ...


class _Span:
    """A match: its span, and the text it was found in (the real text, not the ASCII view)."""

    __slots__ = ("_end", "_start", "_text")

    def __init__(self, text: str, start: int, end: int) -> None:
        self._text, self._start, self._end = text, start, end

    def span(self) -> tuple[int, int]:
        return self._start, self._end

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def __getitem__(self, group: int, /) -> str:
        if group != 0:
            raise IndexError("only the whole match (0) can be asked for")
        return self._text[self._start : self._end]

    def __repr__(self) -> str:
        return f"<match span={self.span()!r} match={self[0]!r}>"


# RE2's \w, \d, \s and \b are ASCII; Python's (which the table was written for) know every
# script, and RE2's Unicode classes (\p{L}) make programs of thousands of instructions (the 400
# keywords took 245 MB). So a pattern written in ASCII is matched on an ASCII view of the text:
# each other character replaced by "_" when Python's re takes it for a word character (a letter
# or digit of any script), by a space when for a space, else by NUL. The view has the same
# length, so its spans are the text's, and \w, \b, \s and [a-z] read it as Python reads the text.
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# A lone surrogate (undecodable bytes kept by a lenient decoder) has no UTF-8 form, which RE2 needs.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _ascii_stand_in(match: re.Match[str]) -> str:
    char = match[0]
    if char.isalnum():  # Python's \w for str (with "_", which is ASCII)
        return "_"
    return " " if char.isspace() else "\x00"


@functools.lru_cache(maxsize=8)  # a mail's subject and body are searched by some 450 patterns each
def _ascii_view(text: str) -> str:
    """``text`` with each non-ASCII character replaced by an ASCII one of the same class."""
    return text if text.isascii() else _NON_ASCII.sub(_ascii_stand_in, text)


def _utf8_safe(text: str) -> str:
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


class _RE2Pattern:
    """An RE2 regex, searched on the ASCII view of the text when it is written in ASCII.

    ``group`` is the group whose span is the match (0: the whole match). A table pattern with a
    group named ``m`` reports that group: it stands in for lookaround, e.g.
    ``(?:^|[^\\d.])(?P<m>\\d{7})(?:$|\\D)`` finds seven digits not glued to a digit or a dot, and
    only the digits count (in explanations, and against ``exclude``). The context is consumed,
    so two matches cannot share it.
    """

    __slots__ = ("ascii_only", "group", "regex")

    def __init__(self, regex: re2._Regexp, *, ascii_only: bool, group: int = 0) -> None:
        self.regex = regex
        self.ascii_only = ascii_only
        self.group = group

    def search(self, text: str, pos: int = 0, /) -> PatternMatch | None:
        return next(self.finditer(text, pos), None)

    def finditer(self, text: str, pos: int = 0, /) -> Iterator[PatternMatch]:
        view = _ascii_view(text) if self.ascii_only else _utf8_safe(text)
        for match in self.regex.finditer(view, pos):
            start, end = match.span(self.group)
            if start < 0:  # the group did not take part: the whole match counts
                start, end = match.span()
            yield _Span(text, start, end)

    @property
    def pattern(self) -> str:
        return self.regex.pattern  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<pattern {self.pattern!r}>"


class TablePatternError(ValueError):
    """A table pattern that cannot be compiled; the message names the problem, not the place."""


def _re2_options(*, case_sensitive: bool, max_mem: int) -> re2.Options:
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False  # RE2 would also print every refused pattern to stderr
    # RE2's default budget is 8 MiB per pattern, for the program and the cache of its DFA; the
    # table has some 900 patterns (and a keyword's is tiny). A smaller budget bounds the memory a
    # long mail can make them take; a pattern whose DFA runs out of it is matched more slowly,
    # still in linear time. Measured after 330 mails of 64 KB: 85 MB of RSS with the default,
    # 72 MB with these budgets, at the same speed.
    options.max_mem = max_mem
    return options


_TABLE_OPTIONS = _re2_options(case_sensitive=False, max_mem=512 << 10)
# "{,3}" is a repeat in Python's re but literal text in RE2: refused rather than silently changed.
_EMPTY_LOWER_BOUND = re.compile(r"(?<!\\)(?:\\\\)*\{,\d+\}")


def compile_table_pattern(source: str, shown: str | None = None) -> Pattern:
    """A pattern of the priority table, compiled by RE2: case-insensitive, ``^``/``$`` at line ends.

    Those are the flags the table always had (``re.IGNORECASE | re.MULTILINE``). The syntax is
    Python's without lookaround and backreferences; a group named ``m`` marks the part the
    pattern finds (see :class:`_RE2Pattern`). Raises :class:`TablePatternError` with a one-phrase
    reason that quotes ``shown`` (default: ``source``; the loader passes the pattern as written,
    before its macros were expanded).
    """
    shown = source if shown is None else shown
    if _EMPTY_LOWER_BOUND.search(source):
        raise TablePatternError(f"pattern {shown!r} uses {{,N}}, which RE2 reads as text: write {{0,N}}")
    try:
        compiled = re2.compile("(?m)" + source, _TABLE_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
    else:
        return _RE2Pattern(compiled, ascii_only=source.isascii(), group=compiled.groupindex.get("m", 0))
    try:
        re.compile(source)
    except re.error as exc:  # not a regular expression at all
        raise TablePatternError(f"bad regular expression {shown!r}: {exc}") from None
    if "(?=" in reason or "(?!" in reason or "(?<" in reason:
        what = "lookaround ((?=...), (?!...), (?<=...), (?<!...))"
        hint = "match the context too and mark the part that counts (?P<m>...), or list what must not count under `exclude`"
    elif "too large" in reason:
        raise TablePatternError(f"pattern {shown!r} is too large for the matcher (RE2): split it into several patterns")
    elif re.search(r"invalid escape sequence: \\[1-9]", reason) or "(?P=" in source:
        what = "a backreference (\\1, (?P=name))"
        hint = "spell out the alternatives"
    else:
        what = f"syntax RE2 does not have ({reason})"
        hint = "write \\z for the end of the text" if "\\Z" in reason else "see https://github.com/google/re2/wiki/Syntax"
    raise TablePatternError(f"pattern {shown!r} uses {what}, which the linear-time matcher (RE2) cannot run; {hint}")


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

    regex: Pattern
    weight: float
    keyword: str | None = None  # the keyword as configured; None for a raw pattern
    where: str = ""  # its place in the table file, for explanations
    exclude: tuple[Pattern, ...] = ()  # a match that overlaps a match of one of these does not count

    @property
    def is_keyword(self) -> bool:
        return self.keyword is not None


@dataclass(frozen=True)
class DataItem:
    """A piece of data the helpdesk may need; a group when ``any_of`` is set."""

    key: str
    label: str
    example: str
    patterns: tuple[Pattern, ...] = ()
    exclude: tuple[Pattern, ...] = ()
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

    patterns: tuple[Pattern, ...] = ()
    raise_by: int = 1
    date_context: Pattern | None = None  # a deadline word followed by an explicit date
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

    # -- the engine's own --

    @functools.cached_property
    def _prefilter(self) -> _Prefilter:
        """Which of the table's patterns can match a text at all (built on first use)."""
        patterns: list[Pattern] = []
        for category in self.categories:
            for matcher in category.matchers:
                patterns.append(matcher.regex)
                patterns.extend(matcher.exclude)
        for item in self.items:
            patterns.extend(item.patterns)
            patterns.extend(item.exclude)
        patterns.extend(self.deadline.patterns)
        if self.deadline.date_context is not None:
            patterns.append(self.deadline.date_context)
        return _Prefilter(patterns)


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
    decomposed = unicodedata.normalize("NFKD", _utf8_safe(text))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    lowered = stripped.translate(_TRANSLATE).lower()
    return _NEWLINES.sub("\n", _HSPACE.sub(" ", lowered)).strip()


# Keywords are whole words in Python's sense: "akun" is not found in "akunnya", nor "upload" in
# "ßupload". A keyword written in ASCII is matched on the ASCII view (see _ascii_view), with
# these classes; one with other letters ("ø") on the text itself, with Unicode classes.
_ASCII_WORD = "[0-9A-Za-z_]"
_ASCII_NOT_WORD = "[^0-9A-Za-z_]"
_ASCII_SPACE_OR_HYPHEN = r"[\t-\r\x1c-\x1f \-]+"  # Python's \s among ASCII characters, and -
_UNICODE_WORD = r"[\p{L}\p{N}_]"
_UNICODE_NOT_WORD = r"[^\p{L}\p{N}_]"
_UNICODE_SPACE_OR_HYPHEN = r"[\t-\r\x1c-\x1f\x85\p{Z}\-]+"
_KEYWORD_OPTIONS = _re2_options(case_sensitive=True, max_mem=64 << 10)


class _KeywordPattern:
    r"""The words of a keyword, found only as whole words: ``(?<!\w)words(?!\w)`` without lookaround.

    RE2 has no lookaround, so the character before and the one after are matched (a non-word
    character, or the start/end of the text) and the words are reported as group 1. Searching on
    from the end of the words, with the character just before as the context, finds the same
    non-overlapping matches, in the same places, as Python's ``finditer`` of the lookaround form.
    """

    __slots__ = ("_next", "ascii_only", "first", "pattern")

    def __init__(self, words: str, *, ascii_only: bool) -> None:
        self.pattern = words
        self.ascii_only = ascii_only  # matched on the ASCII view of the text
        self.first = re2.compile(rf"(?:\A|{self._not_word})({words})(?:{self._not_word}|\z)", _KEYWORD_OPTIONS)
        self._next: re2._Regexp | None = None  # compiled when a search goes past the first match

    @property
    def _not_word(self) -> str:
        return _ASCII_NOT_WORD if self.ascii_only else _UNICODE_NOT_WORD

    def search(self, text: str, pos: int = 0, /) -> PatternMatch | None:
        return next(self.finditer(text, pos), None)

    def finditer(self, text: str, pos: int = 0, /) -> Iterator[PatternMatch]:
        view = _ascii_view(text) if self.ascii_only else _utf8_safe(text)
        pos = max(0, pos)
        while pos <= len(view):
            # From pos-1: the character before pos may be the non-word context of a match at pos.
            if pos == 0:
                match = self.first.search(view)
            else:
                if self._next is None:
                    self._next = re2.compile(rf"{self._not_word}({self.pattern})(?:{self._not_word}|\z)", _KEYWORD_OPTIONS)
                match = self._next.search(view, pos - 1)
            if match is None:
                return
            start, end = match.span(1)
            yield _Span(text, start, end)
            pos = end

    def __repr__(self) -> str:
        return f"<keyword pattern {self.pattern!r}>"


@functools.lru_cache(maxsize=4096)  # pure; canned-answer suggestions ask for the same keywords per mail
def keyword_pattern(keyword: str) -> Pattern:
    """The matcher of a configured keyword: whole words, any spaces/hyphens between them, ``*`` = letters."""
    words = [w for w in re.split(r"[\s\-]+", normalise(keyword)) if w]
    if not words:
        raise ValueError("empty keyword")
    ascii_only = all(word.isascii() for word in words)
    letters = _ASCII_WORD if ascii_only else _UNICODE_WORD
    parts: list[str] = []
    for word in words:
        core = word.strip("*")
        if not core:
            raise ValueError(f"keyword {keyword!r} has a word made only of '*'")
        prefix = letters + "*" if word.startswith("*") else ""
        suffix = letters + "*" if word.endswith("*") else ""
        parts.append(prefix + re2.escape(core) + suffix)
    between = _ASCII_SPACE_OR_HYPHEN if ascii_only else _UNICODE_SPACE_OR_HYPHEN
    return _KeywordPattern(between.join(parts), ascii_only=ascii_only)


# --------------------------------------------------------------------------------------------
# Which patterns can match a text at all
# --------------------------------------------------------------------------------------------

Possible = Callable[[Pattern], bool]


def _anything(pattern: Pattern) -> bool:
    return True


def _filterable(pattern: Pattern) -> re2._Regexp | None:
    """The regex that finds the pattern's matches in the ASCII view (None: always run it)."""
    if isinstance(pattern, _RE2Pattern) and pattern.ascii_only:
        return pattern.regex
    if isinstance(pattern, _KeywordPattern) and pattern.ascii_only:
        return pattern.first
    return None


class _Prefilter:
    """Which of a table's patterns can match a text at all, in one pass over the text.

    RE2's FilteredRE2 knows the literal strings each pattern needs ("upload", "gagal" ...),
    finds those the text contains in one pass, and names the patterns that may match; the others
    are not run. Without it a mail costs some 900 searches (the table's 450 keywords and
    patterns, on the subject and on the body) of a few microseconds of call overhead each, over
    twice the time of the backtracking ``re`` it replaced. It only ever skips a pattern that
    cannot match; a pattern it cannot take is always run.
    """

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self._index: dict[int, int] = {}  # id(pattern) -> its number in the filter
        self._patterns: list[Pattern] = []  # kept, so that the ids stay theirs
        self._filter: re2.Filter | None = None
        candidate = re2.Filter()
        for pattern in patterns:
            regex = _filterable(pattern)
            if regex is None or id(pattern) in self._index:
                continue
            try:
                self._index[id(pattern)] = candidate.Add(regex.pattern, regex.options)
            except re2.error:
                continue
            self._patterns.append(pattern)
        if self._index:
            try:
                candidate.Compile()
                self._filter = candidate
            except re2.error:
                self._index = {}

    def possible(self, text: str) -> Possible:
        """A test: may this pattern match ``text``? (False only when it cannot.)"""
        if self._filter is None:
            return _anything
        found = frozenset(self._filter.Match(_ascii_view(text), True) or ())
        index = self._index

        def possible(pattern: Pattern) -> bool:
            number = index.get(id(pattern))
            return number is None or number in found

        return possible


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


class _Excluded:
    """The spans of the matches of some ``exclude`` patterns; is a span overlapping one of them?

    Sorted once, so each question costs a binary search, not a pass over every excluded span (a
    mail with thousands of amounts and thousands of numbers would otherwise be quadratic).
    """

    __slots__ = ("_ends", "_starts")

    def __init__(self, patterns: Sequence[Pattern], text: str, possible: Possible = _anything) -> None:
        spans = sorted(m.span() for rx in patterns if possible(rx) for m in rx.finditer(text))
        self._starts = [start for start, _ in spans]
        # _ends[i]: the furthest end among the first i+1 spans (spans may overlap across patterns).
        self._ends: list[int] = []
        furthest = -1
        for _, end in spans:
            furthest = max(furthest, end)
            self._ends.append(furthest)

    def overlaps(self, start: int, end: int) -> bool:
        """Does [start, end) overlap an excluded span? (A span x overlaps iff x.start < end and start < x.end.)"""
        before = bisect.bisect_left(self._starts, end)  # the spans that start before ``end``
        return before > 0 and self._ends[before - 1] > start


_NOTHING_EXCLUDED = _Excluded((), "")


def _find_item(item: DataItem, text: str, attachments: Sequence[Attachment], possible: Possible) -> str | None:
    """Why ``item`` (not a group) is present, or None."""
    if item.attachment:
        for attachment in attachments:
            if _attachment_fits(item, attachment):
                how = "inline image" if attachment.inline and attachment.is_image else "attachment"
                return f"{how} {attachment.filename or '(no name)'} ({attachment.content_type})"
    patterns = [rx for rx in item.patterns if possible(rx)]
    if not patterns:
        return None
    excluded = _Excluded(item.exclude, text, possible) if item.exclude else _NOTHING_EXCLUDED
    for rx in patterns:
        for match in rx.finditer(text):
            if excluded.overlaps(*match.span()):
                continue  # e.g. digits that belong to an NPWP or an amount
            return f"found {_snippet(match[0])!r}"
    return None


def _detect(
    table: PriorityTable, norm_text: str, attachments: Sequence[Attachment], possible: Possible | None = None
) -> dict[str, str]:
    if possible is None:
        possible = table._prefilter.possible(norm_text)
    found: dict[str, str] = {}
    for item in table.items:
        if not item.is_group:
            reason = _find_item(item, norm_text, attachments, possible)
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


def _explicit_deadline(context: Pattern, text: str, now: datetime) -> tuple[str, datetime] | None:
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


def _near_deadline(table: PriorityTable, text: str, now: datetime | None, possible: Possible) -> str | None:
    rule = table.deadline
    for rx in rule.patterns:
        match = rx.search(text) if possible(rx) else None
        if match:
            return f"deadline phrase {_snippet(match[0])!r}"
    if rule.date_context is not None and now is not None and possible(rule.date_context):
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
    category: Category,
    fields: Sequence[tuple[str, str, float, Possible]],
) -> tuple[float, list[RuleHit]]:
    """A category's score and the hits behind it.

    Within one field a stretch of text counts once, at the strongest rule that reads it: in
    "gagal upload" the phrase scores, the weaker "*upload*" inside it does not. Negative rules
    always count: they are evidence against, not a competing reading.

    ``fields``: (name, normalised text, weight, which patterns may match it) of the subject and
    the body.
    """
    score = 0.0
    hits: list[RuleHit] = []
    rule = f"category:{category.key}"
    ordered = category.by_weight
    for where, text, factor, possible in fields:
        taken: list[tuple[int, int]] = []
        for matcher in ordered:
            if not possible(matcher.regex):
                continue
            chosen: PatternMatch | None = None
            excluded: _Excluded | None = None  # computed when the matcher first matches
            for match in matcher.regex.finditer(text):
                start, end = match.span()
                if matcher.exclude:
                    excluded = excluded or _Excluded(matcher.exclude, text, possible)
                    if excluded.overlaps(start, end):
                        continue  # e.g. "cara" in "cara mengatasinya": not a how-to question
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


# How much of a mail's text is classified. A person describes a helpdesk problem in the first
# few kilobytes; what follows in a longer text is pasted logs, a forwarded thread or an attack
# (issue 17). The bound keeps the work on one mail bounded however long it is, so one mail cannot
# hold up the mailbox: the whole text is still stored, masked and shown to staff.
MAX_CLASSIFIED_CHARS = 64 * 1024


def _bounded(text: str, limit: int = MAX_CLASSIFIED_CHARS) -> str:
    """The first ``limit`` characters of ``text``, cut at a space near the end when there is one
    (so a password, a phone number or a code is not cut in two)."""
    if len(text) <= limit:
        return text
    space = max(text.rfind(" ", limit - 256, limit + 1), text.rfind("\n", limit - 256, limit + 1))
    return text[: space if space > 0 else limit]


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

    Only the first :data:`MAX_CLASSIFIED_CHARS` characters of the subject and of the text are
    read: rules, data items, deadline, password and phone alike.
    """
    masked_subject, pw_subject = mask_passwords(_bounded(subject))
    masked_text, pw_text = mask_passwords(_bounded(text))
    password_found = pw_subject or pw_text
    norm_subject = normalise(masked_subject)
    norm_body = normalise(masked_text)

    hits: list[RuleHit] = []
    subject_weight = table.subject_weight
    if _REPLY_SUBJECT.match(norm_subject):
        subject_weight = table.reply_subject_weight
        hits.append(RuleHit("subject", f"a reply's subject: it counts x{_fmt(subject_weight)}"))
    prefilter = table._prefilter
    fields = (
        ("subject", norm_subject, subject_weight, prefilter.possible(norm_subject)),
        ("body", norm_body, 1.0, prefilter.possible(norm_body)),
    )
    scores: list[tuple[float, int, Category]] = []
    for index, category in enumerate(table.categories):
        score, category_hits = _score(category, fields)
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

    both = norm_subject + "\n" + norm_body
    possible = prefilter.possible(both)
    deadline = _near_deadline(table, both, now, possible)
    if deadline is not None and table.deadline.raise_by > 0:
        index = table.level_index(priority)
        raised = max(0, index - table.deadline.raise_by)
        if raised < index:
            priority = table.levels[raised].key
            level = table.levels[raised]
            hits.append(RuleHit("deadline", f"{deadline}: priority raised to {priority}"))
        else:
            hits.append(RuleHit("deadline", f"{deadline}: already at the top level {priority}"))

    found = _detect(table, both, attachments, possible)
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
