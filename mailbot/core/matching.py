"""The linear-time matcher of the priority table: compiled patterns and keywords on RE2. PURE.

Every pattern of the table, and every keyword, is matched by RE2 (``google-re2``, module ``re2``:
a pure matching library), whose time is linear in the text whatever the pattern. Python's
backtracking ``re`` can take quadratic or exponential time on a hostile mail (issue 17: a 61 KB
body of ``1.1.1.`` held the mailbox for 114 s), and coordinators write the table. RE2 has no
lookaround and no backreferences; the loader refuses patterns that use them.

Public API:

* :class:`Pattern` / :class:`PatternMatch` -- what the engine needs of a compiled pattern and a match;
* :func:`compile_table_pattern` -- a pattern of the table, compiled for RE2
  (:class:`TablePatternError` when it cannot be); :class:`Compiled` -- where a table's patterns are
  compiled once, for themselves and for their :class:`Prefilter`;
* :func:`normalise` / :func:`keyword_pattern` -- the text normalisation the table is matched on,
  and a configured keyword as a whole-word pattern;
* :class:`Prefilter` -- which of a table's patterns can match a text at all (RE2's literal
  prefilter), as a :data:`Possible` test; :class:`Shortlist` -- the same for ordered lists of
  patterns, as the places to run;
* :class:`Excluded` -- the spans of ``exclude`` patterns, and whether a match overlaps one;
* :func:`snippet` -- a match's text on one line, shortened, for explanations.

A pattern written in ASCII is searched on an ASCII stand-in of the text of the same length (see
``_ascii_view``), so its spans are the text's.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

import re2  # RE2: linear-time matching, no I/O

__all__ = [
    "Compiled",
    "Excluded",
    "first_match",
    "Pattern",
    "PatternMatch",
    "Possible",
    "Prefilter",
    "Shortlist",
    "TablePatternError",
    "compile_table_pattern",
    "keyword_pattern",
    "in_context",
    "table_keyword",
    "normalise",
    "said",
    "snippet",
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
def _ascii_view(text: str) -> bytes:
    """``text`` with each non-ASCII character replaced by an ASCII one of the same class, as bytes.

    Bytes, because RE2 searches them as they are: a ``str`` is encoded to UTF-8 again at every
    search, and every match's offsets converted back. In ASCII a byte offset is a character's.
    """
    return (text if text.isascii() else _NON_ASCII.sub(_ascii_stand_in, text)).encode("ascii")


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
        view: str | bytes = _ascii_view(text) if self.ascii_only else _utf8_safe(text)
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


def compile_table_pattern(source: str, shown: str | None = None, compiled: Compiled | None = None) -> Pattern:
    """A pattern of the priority table, compiled by RE2: case-insensitive, ``^``/``$`` at line ends.

    Those are the flags the table always had (``re.IGNORECASE | re.MULTILINE``). The syntax is
    Python's without lookaround and backreferences; a group named ``m`` marks the part the
    pattern finds (see :class:`_RE2Pattern`). Raises :class:`TablePatternError` with a one-phrase
    reason that quotes ``shown`` (default: ``source``; the loader passes the pattern as written,
    before its macros were expanded). With ``compiled``, a pattern written in ASCII (one the
    prefilter takes) is compiled there, for itself and for the table's :class:`Prefilter`.
    """
    shown = source if shown is None else shown
    if _EMPTY_LOWER_BOUND.search(source):
        raise TablePatternError(f"pattern {shown!r} uses {{,N}}, which RE2 reads as text: write {{0,N}}")
    try:
        ascii_only = source.isascii()
        make = compiled.compile if compiled is not None and ascii_only else re2.compile
        regex = make("(?m)" + source, _TABLE_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
    else:
        return _RE2Pattern(regex, ascii_only=ascii_only, group=regex.groupindex.get("m", 0))
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
_HSPACE_TO_CHANGE = re.compile(r"[^\S\n ]|  ")  # a run of _HSPACE that is not one " "
_NEWLINES = re.compile(r" ?\n[\s]*")


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _without_marks(run: re.Match[str]) -> str:
    return "".join(ch for ch in run[0] if not unicodedata.combining(ch))


def normalise(text: str) -> str:
    """Lower case, accents stripped, quotes straightened, whitespace collapsed (newlines kept once).

    Line breaks survive (as single ``\\n``) so a pattern may anchor on a line start, e.g. a
    signature line; keyword matching treats them as any other space.
    """
    decomposed = unicodedata.normalize("NFKD", _utf8_safe(text))
    # the marks are not ASCII: only the runs of other characters are looked at, one by one
    if decomposed.isascii():  # "`" is the only ASCII character _TRANSLATE changes
        lowered = decomposed.replace("`", "'").lower()
    else:
        lowered = _NON_ASCII_RUN.sub(_without_marks, decomposed).translate(_TRANSLATE).lower()
    if _HSPACE_TO_CHANGE.search(lowered):  # else every run of spaces is one " " already
        lowered = _HSPACE.sub(" ", lowered)
    return _NEWLINES.sub("\n", lowered).strip()


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

    def __init__(self, words: str, *, ascii_only: bool, compiled: Compiled | None = None) -> None:
        self.pattern = words
        self.ascii_only = ascii_only  # matched on the ASCII view of the text
        make = compiled.compile if compiled is not None and ascii_only else re2.compile
        self.first = make(rf"(?:\A|{self._not_word})({words})(?:{self._not_word}|\z)", _KEYWORD_OPTIONS)
        self._next: re2._Regexp | None = None  # compiled when a search goes past the first match

    @property
    def _not_word(self) -> str:
        return _ASCII_NOT_WORD if self.ascii_only else _UNICODE_NOT_WORD

    def search(self, text: str, pos: int = 0, /) -> PatternMatch | None:
        return next(self.finditer(text, pos), None)

    def finditer(self, text: str, pos: int = 0, /) -> Iterator[PatternMatch]:
        view: str | bytes = _ascii_view(text) if self.ascii_only else _utf8_safe(text)
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


#: keyword_pattern's cache (canned-answer suggestions ask for the same keywords per mail). A table's
#: keywords (compiled in its filter, see Compiled) are put here too, so the answers share them.
_KEYWORDS: dict[str, _KeywordPattern] = {}


def keyword_pattern(keyword: str) -> Pattern:
    """The matcher of a configured keyword: whole words, any spaces/hyphens between them, ``*`` = letters."""
    pattern = _KEYWORDS.get(keyword)
    if pattern is None:
        words, ascii_only = _keyword_words(keyword)
        pattern = _remember(keyword, _KeywordPattern(words, ascii_only=ascii_only))
    return pattern


def _remember(keyword: str, pattern: _KeywordPattern) -> _KeywordPattern:
    if len(_KEYWORDS) >= 4096:  # a bound, as the lru_cache it replaces had
        _KEYWORDS.clear()
    _KEYWORDS[keyword] = pattern
    return pattern


def table_keyword(keyword: str, compiled: Compiled) -> Pattern:
    """:func:`keyword_pattern`, compiled in ``compiled`` (once per keyword and table)."""
    return compiled.keyword(keyword)


@functools.lru_cache(maxsize=4096)
def _keyword_words(keyword: str) -> tuple[str, bool]:
    """The words of a keyword as RE2 syntax, and whether they are ASCII (ValueError: not a keyword)."""
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
    return between.join(parts), ascii_only


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


class Compiled:
    """Where a table's patterns are compiled once: in the RE2 filter that will prefilter them.

    RE2's FilteredRE2 compiles every pattern added to it and hands the compiled pattern out
    (``Filter.re``). A :class:`Prefilter` built from plain patterns added each one again, so every
    start that classified a mail compiled the table's ~800 patterns twice (~0.1 s each time). The
    table's loader compiles the patterns the filter takes (those written in ASCII) here; the
    table's Prefilter takes this filter with their numbers, and compiles only the filter. A filter
    is compiled once: the first Prefilter takes it, a later one builds its own as before.
    """

    def __init__(self) -> None:
        self._filter: re2.Filter | None = re2.Filter()
        self._untaken = [self._filter]  # list.pop: one taker, even between threads
        self._numbers: dict[re2._Regexp, int] = {}  # compiled pattern (by identity) -> its number
        # A text written twice in the table is one compiled pattern, as re2.compile's own cache made
        # it (its DFA, built as mails are searched, is then built once).
        self._by_source: dict[tuple[str, re2.Options], re2._Regexp] = {}  # options by identity
        self._keywords: dict[str, _KeywordPattern] = {}  # one per keyword, as keyword_pattern's cache

    def compile(self, source: str, options: re2.Options) -> re2._Regexp:
        """``re2.compile(source, options)``, in the filter (re2.error as re2.compile raises it)."""
        if self._filter is None:  # a Prefilter took the filter already
            return re2.compile(source, options)
        key = (source, options)
        if key in self._by_source:
            return self._by_source[key]
        try:
            number = self._filter.Add(source, options)
        except re2.error:  # the filter gives no reason: RE2 says why (or compiles it after all)
            return re2.compile(source, options)
        regex = self._filter.re(number)  # the filter's own compiled pattern (it keeps the filter alive)
        self._numbers[regex] = number
        self._by_source[key] = regex
        return regex

    def keyword(self, keyword: str) -> _KeywordPattern:
        """:func:`keyword_pattern` of ``keyword``, compiled here (ValueError: not a keyword)."""
        if keyword not in self._keywords:
            words, ascii_only = _keyword_words(keyword)
            pattern = _KeywordPattern(words, ascii_only=ascii_only, compiled=self)
            self._keywords[keyword] = _remember(keyword, pattern)  # keyword_pattern gives this one now
        return self._keywords[keyword]

    def take(self) -> tuple[re2.Filter, dict[re2._Regexp, int]] | None:
        """The filter and the numbers of the patterns compiled in it, to the first caller only."""
        try:
            taken = self._untaken.pop()
        except IndexError:
            return None
        self._filter = None  # what is compiled from now on is not in it
        return taken, self._numbers


class Prefilter:
    """Which of a table's patterns can match a text at all, in one pass over the text.

    RE2's FilteredRE2 knows the literal strings each pattern needs ("upload", "gagal" ...),
    finds those the text contains in one pass, and names the patterns that may match; the others
    are not run. Without it a mail costs some 900 searches (the table's 450 keywords and
    patterns, on the subject and on the body) of a few microseconds of call overhead each, over
    twice the time of the backtracking ``re`` it replaced. It only ever skips a pattern that
    cannot match; a pattern it cannot take is always run.
    """

    def __init__(self, patterns: Iterable[Pattern], compiled: Compiled | None = None) -> None:
        # pattern -> its number in the filter (the compiled patterns hash by identity)
        self._index: dict[Pattern, int] = {}
        self._filter: re2.Filter | None = None
        taken = compiled.take() if compiled is not None else None
        candidate, numbers = taken if taken is not None else (re2.Filter(), {})
        for pattern in patterns:
            regex = _filterable(pattern)
            if regex is None or pattern in self._index:
                continue
            if regex in numbers:  # compiled in this filter already (see Compiled)
                self._index[pattern] = numbers[regex]
                continue
            try:
                self._index[pattern] = candidate.Add(regex.pattern, regex.options)
            except re2.error:
                continue
        if self._index:
            try:
                candidate.Compile()
                self._filter = candidate
            except re2.error:
                self._index = {}

    def number(self, pattern: Pattern) -> int | None:
        """The pattern's number in the filter; None for one it does not take (always run)."""
        return self._index.get(pattern)

    def found(self, text: str) -> frozenset[int] | None:
        """The numbers of the patterns that may match ``text``; None when every pattern may."""
        if self._filter is None:
            return None
        return frozenset(self._filter.Match(_ascii_view(text), True) or ())

    def possible(self, text: str) -> Possible:
        """A test: may this pattern match ``text``? (False only when it cannot.)"""
        return self.test(self.found(text))

    def test(self, found: frozenset[int] | None) -> Possible:
        """:meth:`possible` for the numbers :meth:`found` gave."""
        if found is None:
            return _anything
        index = self._index

        def possible(pattern: Pattern) -> bool:
            number = index.get(pattern)
            return number is None or number in found

        return possible


class Shortlist:
    """Ordered lists of patterns (a category's rules, strongest first), and which of each to run on a text.

    Built once per table. Asking the prefilter's test of each of a table's thousand rules, twice
    a mail, cost more than running the few dozen that can match; instead the numbers the prefilter
    found name their rules directly. The places come back in list order, so a rule is read in the
    same order as when every rule was tested.
    """

    def __init__(self, prefilter: Prefilter, lists: Sequence[Sequence[Pattern]]) -> None:
        self._size = len(lists)
        self._all = tuple(tuple(range(len(patterns))) for patterns in lists)
        always: list[list[int]] = [[] for _ in lists]  # patterns the filter does not take
        where: dict[int, list[tuple[int, int]]] = {}  # filter number -> (list, place) of its patterns
        for which, patterns in enumerate(lists):
            for place, pattern in enumerate(patterns):
                number = prefilter.number(pattern)
                if number is None:
                    always[which].append(place)
                else:
                    where.setdefault(number, []).append((which, place))
        self._always = tuple(tuple(places) for places in always)
        self._where = {number: tuple(places) for number, places in where.items()}

    def pick(self, found: frozenset[int] | None) -> list[Sequence[int]]:
        """For each list, the places of its patterns that may match (``found``: :meth:`Prefilter.found`)."""
        if found is None:
            return list(self._all)
        picked: list[list[int]] = [list(places) for places in self._always]
        where = self._where
        for number in found:
            for which, place in where.get(number, ()):
                picked[which].append(place)
        for places in picked:
            places.sort()
        return list(picked)


# --------------------------------------------------------------------------------------------
# Spans that do not count (``exclude``), and a match's text as explanations show it
# --------------------------------------------------------------------------------------------


def snippet(text: str, limit: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


def in_context(text: str, start: int, end: int, width: int = 24) -> str:
    """``text[start:end]`` in brackets with up to ``width`` characters either side, quoted, one line.

    An operator reading "user_id: 'g'" cannot tell what matched; "...login dengan user id [g] sejak
    pagi..." shows it. The sides are cut at a word boundary where one is near, and marked "...".
    """
    before, after = text[max(0, start - width):start], text[end:end + width]
    if start > width and " " in before:
        before = "..." + before[before.index(" ") + 1:]
    if end + width < len(text) and " " in after:
        after = after[:after.rindex(" ")] + "..."
    return '"' + " ".join(f"{before}[{snippet(text[start:end])}]{after}".split()) + '"'


def first_match(patterns: Iterable[Pattern], text: str, possible: Possible) -> PatternMatch | None:
    """The first match in ``text`` of the first of ``patterns`` that matches (skipping the impossible)."""
    return next((m for rx in patterns if possible(rx) for m in rx.finditer(text)), None)


def said(both: str, subject_len: int, match: PatternMatch) -> str:
    """'the body says "...[match]..."': a match in ``both`` (subject, newline, body), in its field's context."""
    start, end = match.span()
    if start < subject_len:
        return f"the subject says {in_context(both[:subject_len], start, min(end, subject_len))}"
    offset = subject_len + 1
    return f"the body says {in_context(both[offset:], start - offset, end - offset)}"


class Excluded:
    """The spans of the matches of some ``exclude`` patterns; is a span overlapping one of them?

    Found at the first question (most texts have no match for the rule to check, and then the
    exclude patterns need not run), and sorted once, so each question costs a binary search, not
    a pass over every excluded span (a mail with thousands of amounts and thousands of numbers
    would otherwise be quadratic).
    """

    __slots__ = ("_ends", "_patterns", "_possible", "_starts", "_text")

    def __init__(self, patterns: Sequence[Pattern], text: str, possible: Possible = _anything) -> None:
        self._patterns, self._text, self._possible = patterns, text, possible
        self._starts: list[int] | None = None  # found at the first question
        self._ends: list[int] = []

    def _find(self) -> list[int]:
        possible, text = self._possible, self._text
        spans = sorted(m.span() for rx in self._patterns if possible(rx) for m in rx.finditer(text))
        # _ends[i]: the furthest end among the first i+1 spans (spans may overlap across patterns).
        furthest = -1
        for _, end in spans:
            furthest = max(furthest, end)
            self._ends.append(furthest)
        self._starts = [start for start, _ in spans]
        return self._starts

    def overlaps(self, start: int, end: int) -> bool:
        """Does [start, end) overlap an excluded span? (A span x overlaps iff x.start < end and start < x.end.)"""
        starts = self._find() if self._starts is None else self._starts
        before = bisect.bisect_left(starts, end)  # the spans that start before ``end``
        return before > 0 and self._ends[before - 1] > start
