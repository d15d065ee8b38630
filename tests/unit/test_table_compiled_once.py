"""The priority table's patterns are compiled once, for themselves and for their prefilter.

``matching.Compiled`` compiles a table's ASCII patterns and keywords in the RE2 filter that later
prefilters them; the table's ``Prefilter`` takes that filter instead of compiling every pattern a
second time. What a user depends on: the same rules are tried on every mail (the prefilter says
the same "may match" for every pattern and text as one built the old way, from the patterns
alone), and the table's errors are the same one-line errors at load.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import re2

from mailbot.core import matching
from mailbot.core.parse import parse_mail
from mailbot.core.rules import PriorityTable, classify
from mailbot.settings.priorities import RulesConfigError, load_priority_table, parse_priority_table

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "priorities.toml"
LABELED = ROOT / "tests" / "data" / "labeled"


def _patterns(table: PriorityTable) -> list[matching.Pattern]:
    """Every pattern the table's prefilter was built from (what ``PriorityTable._prefilter`` collects)."""
    out: list[matching.Pattern] = []
    for category in (*table.categories, table.default):
        for matcher in category.matchers:
            out += [matcher.regex, *matcher.exclude]
        for condition in category.when:
            out += [*condition.patterns, *condition.unless]
    for item in table.items:
        out += [*item.patterns, *item.exclude]
    out += [*table.deadline.patterns, *table.deadline.exclude]
    return out + ([table.deadline.date_context] if table.deadline.date_context is not None else [])


def _texts(table: PriorityTable) -> list[str]:
    """The labeled mails, and random soups of the table's own keywords and of mail words (seeded)."""
    texts = []
    for path in sorted(LABELED.glob("*.eml")):
        mail = parse_mail(path.read_bytes())
        texts.append(matching.normalise(f"{mail.subject}\n{mail.new_text}"))
    words = [m.keyword for c in table.categories for m in c.matchers if m.keyword]
    words += " ".join(texts).split()[:3000]
    words += ["Café", "ßupload", "ø", "Ærø", "1.10234567", "(10234567)", "e-katalog", "\n", "budi01@x.go.id"]
    rng = random.Random(24)
    for _ in range(300):
        texts.append(matching.normalise(" ".join(rng.choice(words) for _ in range(rng.randint(1, 40)))))
    return texts + ["", " ", "x"]


@pytest.fixture(scope="module")
def table() -> PriorityTable:
    return load_priority_table(SHIPPED)


def test_the_table_prefilter_says_what_a_prefilter_of_the_patterns_alone_says(table: PriorityTable) -> None:
    patterns = _patterns(table)
    alone = matching.Prefilter(patterns)  # the way every table's prefilter was built before
    assert table.compiled is not None
    shared = table._prefilter
    assert len(shared._index) == len(alone._index) > 700  # the same patterns are filtered
    for text in _texts(table):
        ours, theirs = shared.possible(text), alone.possible(text)
        assert [ours(p) for p in patterns] == [theirs(p) for p in patterns], text[:80]


def test_each_pattern_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    compiles: list[str] = []
    adds: list[str] = []
    real_compile, real_add = re2.compile, re2.Filter.Add

    def counting_compile(pattern: str, options: re2.Options | None = None) -> re2._Regexp:
        compiles.append(pattern)
        return real_compile(pattern, options)

    def counting_add(self: re2.Filter, pattern: str, options: re2.Options | None = None) -> int:
        adds.append(pattern)
        return real_add(self, pattern, options)

    monkeypatch.setattr(re2, "compile", counting_compile)
    monkeypatch.setattr(re2.Filter, "Add", counting_add)
    monkeypatch.setattr(matching, "_KEYWORDS", {})
    table = load_priority_table(SHIPPED)
    loaded = len(adds)
    table._prefilter  # noqa: B018  (built on first use)
    assert len(adds) == loaded > 700  # the prefilter compiled nothing again
    assert len(set(adds)) == len(adds)  # a text the table has twice is compiled once
    # what was compiled outside the filter: the macros (checked alone) and the non-ASCII patterns
    assert len(compiles) < 40


def test_a_second_prefilter_of_the_same_table_builds_its_own_filter(table: PriorityTable) -> None:
    again = matching.Prefilter(_patterns(table), table.compiled)  # the table's filter is taken already
    first = table._prefilter
    for text in _texts(table)[:60]:
        ours, theirs = first.possible(text), again.possible(text)
        assert [ours(p) for p in _patterns(table)] == [theirs(p) for p in _patterns(table)]


def test_classify_is_the_same_with_a_table_without_its_compiled_filter() -> None:
    pooled = load_priority_table(SHIPPED)
    plain = load_priority_table(SHIPPED)
    object.__setattr__(plain, "compiled", None)  # its prefilter compiles the patterns again, as before
    mails = [parse_mail(p.read_bytes()) for p in sorted(LABELED.glob("*.eml"))]
    for mail in mails:
        args = {"subject": mail.subject, "text": mail.new_text, "attachments": mail.attachments, "now": mail.date}
        assert repr(classify(pooled, **args)) == repr(classify(plain, **args))


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(?=x)abc", "lookaround"),
        ("(a)\\1", "backreference"),
        ("[abc", "bad regular expression"),
        ("a{,3}", "{,N}"),
        ("x*", "matches empty text"),
    ],
)
def test_a_bad_pattern_still_fails_at_load_with_one_line(pattern: str, message: str) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    bad = text + f"\n[[categories]]\nkey = 'zz'\nlabel = 'Z'\npriority = 'sedang'\n" \
        f"[[categories.match]]\npatterns = ['{pattern}']\nweight = 2\n"
    with pytest.raises(RulesConfigError) as raised:
        parse_priority_table(bad, "t.toml")
    line = str(raised.value)
    assert "\n" not in line and message in line and "categories[" in line


def test_the_answers_keywords_share_the_tables() -> None:
    """As with keyword_pattern's cache before: a keyword of the table and of a canned answer is one
    compiled pattern (one DFA warmed by both), and finds what a pattern of its own finds."""
    table = load_priority_table(SHIPPED)
    matcher = next(m for c in table.categories for m in c.matchers if m.keyword == "apendo")
    assert matching.keyword_pattern("apendo") is matcher.regex
    alone = matching._KeywordPattern(*matching._keyword_words("apendo")[:1], ascii_only=True)
    for text in ("gagal buka apendo", "diapendo", "apendo, apendo-nya, APENDO", ""):
        assert [m.span() for m in matcher.regex.finditer(text)] == [m.span() for m in alone.finditer(text)]
