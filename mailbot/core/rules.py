"""Priority and missing-data findings from the configured priority table (SOP steps 2-4). PURE.

The table (``config/priorities.toml``, loaded and validated by :mod:`mailbot.settings.priorities`) is
data; this module only applies it. It reads no file and no clock: the time a mail arrived is
passed in as ``now``.

Public API:

* :func:`classify` -- category, priority, missing items, phone, password flag, with every rule
  that fired recorded as a :class:`~mailbot.core.domain.RuleHit`;
* :func:`detect_items` -- which data items a text (plus attachments) contains;
* the frozen table types :class:`PriorityTable`, :class:`Level`, :class:`Category`,
  :class:`Matcher`, :class:`DataItem`, :class:`DeadlineRule`. They live here rather than in
  the loader so that this pure module does not depend on it (and its pydantic).

The pieces it applies live beside it: :mod:`mailbot.core.matching` (the table's patterns and
keywords on RE2, linear time; text normalisation; the prefilter), :mod:`mailbot.core.passwords`
(:func:`~mailbot.core.passwords.mask_passwords`), :mod:`mailbot.core.phones`
(:func:`~mailbot.core.phones.find_phone`) and :mod:`mailbot.core.deadline_dates` (explicit
deadline dates).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mailbot.core import matching  # in_context, said (explanations' excerpts), Compiled
from mailbot.core.deadline_dates import explicit_deadline
from mailbot.core.domain import Attachment, Classification, MissingItem, RuleHit
from mailbot.core.item_sources import bounded, has_more, items_text
from mailbot.core.matching import Excluded, Pattern, PatternMatch, Possible, Prefilter, Shortlist, normalise, snippet
from mailbot.core.passwords import mask_passwords
from mailbot.core.phones import find_phone

if TYPE_CHECKING:
    from mailbot.core.values import Value

__all__ = [
    "Category",
    "Condition",
    "DataItem",
    "DeadlineRule",
    "Level",
    "MAX_CLASSIFIED_CHARS",
    "Matcher",
    "PriorityTable",
    "QuestionRule",
    "classify",
    "detect_items",
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
    values: tuple[str, ...] = ()  # kinds of :mod:`mailbot.core.values` that are this item


    @property
    def is_group(self) -> bool:
        return bool(self.any_of)


@dataclass(frozen=True)
class Condition:
    """Items or a level a category gets when the mail says something ("browser": a blank page, not a 502)."""

    patterns: tuple[Pattern, ...]
    required: tuple[str, ...]
    where: str = ""
    priority: str | None = None  # the category's level when the mail says this (first such condition)
    unless: tuple[Pattern, ...] = ()  # the condition does not hold when one of these matches
    always: bool = False  # holds for every mail of the category (no patterns), ``unless`` still applies


@dataclass(frozen=True)
class Category:
    """A problem category: how to recognise it, its priority and the data it needs."""

    key: str
    label: str
    priority: str
    required: tuple[str, ...] = ()
    matchers: tuple[Matcher, ...] = ()
    when: tuple[Condition, ...] = ()
    # False: asking about this topic still reports a blocked user ("lupa password, bagaimana
    # cara reset?"), so the [questions] rule leaves the category's priority and items alone
    question_topic: bool = True

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
    # a phrase that overlaps a match of one of these does not count: "tidak ada tahapan yang
    # mendesak hari ini" says there is no deadline today
    exclude: tuple[Pattern, ...] = ()
    # also look for a deadline from its parts (a near time next to a deadline word or a tender
    # step, :mod:`mailbot.core.near_deadline`), which holds on wordings no phrase was written for
    structural: bool = False


@dataclass(frozen=True)
class QuestionRule:
    """A mail that asks rather than reports: when ``category``'s score (the question words, minus
    the failure words) reaches ``min_score`` but another category wins, the mail is a question
    about that category's topic ("bagaimana cara membatalkan tender ...?"): it keeps the topic,
    takes the question category's priority, and nothing is asked of the user."""

    category: str
    min_score: float
    topic_min_score: float = 4.0  # when the question category wins: the score a topic needs to take over
    # also read what the mail wants (:mod:`mailbot.core.intent`): a question that reports own trouble
    # keeps its category's priority; a mail one level above this priority that only asks, complains
    # or thanks for a solved problem (at any level, the thanks) takes this category's priority
    intent: bool = False


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
    questions: QuestionRule | None = None
    source: str = ""  # where the table was read from, for messages
    compiled: matching.Compiled | None = field(default=None, compare=False, repr=False)  # its patterns' filter (loader)

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
    def _uses_values(self) -> bool:
        """Does an item need the values of a text (:func:`mailbot.core.values.find_values`)?"""
        return any(item.values for item in self.items)

    @functools.cached_property
    def _prefilter(self) -> Prefilter:
        """Which of the table's patterns can match a text at all (built on first use)."""
        patterns: list[Pattern] = []
        for category in (*self.categories, self.default):
            for matcher in category.matchers:
                patterns.append(matcher.regex)
                patterns.extend(matcher.exclude)
            for condition in category.when:
                patterns.extend(condition.patterns)
                patterns.extend(condition.unless)
        for item in self.items:
            patterns.extend(item.patterns)
            patterns.extend(item.exclude)
        patterns.extend(self.deadline.patterns)
        patterns.extend(self.deadline.exclude)
        if self.deadline.date_context is not None:
            patterns.append(self.deadline.date_context)
        return Prefilter(patterns, self.compiled)

    @functools.cached_property
    def _rules(self) -> Shortlist:
        """Which rules of each category (strongest first) may match a text (built on first use)."""
        return Shortlist(self._prefilter, [[m.regex for m in category.by_weight] for category in self.categories])


# --------------------------------------------------------------------------------------------
# Data items
# --------------------------------------------------------------------------------------------


def _attachment_fits(item: DataItem, attachment: Attachment) -> bool:
    if attachment.size < item.min_bytes:
        return False
    kind = item.attachment
    if kind == "image":
        return attachment.is_image
    if kind == "pdf":
        return attachment.content_type == "application/pdf" or attachment.filename.lower().endswith(".pdf")
    return kind == "any"


_NOTHING_EXCLUDED = Excluded((), "")


def _find_item(
    item: DataItem, text: str, attachments: Sequence[Attachment], possible: Possible, values: Sequence[Value]
) -> str | None:
    """Why ``item`` (not a group) is present, or None."""
    for value in values:
        if value.kind in item.values:
            return f"found {value.kind} {matching.in_context(text, value.start, value.end)} ({value.how})"
    if item.attachment:
        for attachment in attachments:
            if _attachment_fits(item, attachment):
                how = "inline image" if attachment.inline and attachment.is_image else "attachment"
                return f"{how} {attachment.filename or '(no name)'} ({attachment.content_type})"
    patterns = [rx for rx in item.patterns if possible(rx)]
    if not patterns:
        return None
    excluded = Excluded(item.exclude, text, possible) if item.exclude else _NOTHING_EXCLUDED
    for rx in patterns:
        for match in rx.finditer(text):
            if excluded.overlaps(*match.span()):
                continue  # e.g. digits that belong to an NPWP or an amount
            return f"found {matching.in_context(text, *match.span())}"
    return None


def _detect(
    table: PriorityTable, norm_text: str, attachments: Sequence[Attachment], possible: Possible | None = None
) -> dict[str, str]:
    if possible is None:
        possible = table._prefilter.possible(norm_text)
    found: dict[str, str] = {}
    values: Sequence[Value] = []
    if table._uses_values:
        from mailbot.core.values import find_values  # with the first mail: ~35 regexes, not at start
        values = find_values(norm_text)
    for item in table.items:
        if not item.is_group:
            reason = _find_item(item, norm_text, attachments, possible, values)
            if reason is not None:
                found[item.key] = reason
    for item in table.items:
        if item.is_group:
            present = [key for key in item.any_of if key in found]
            if present:
                found[item.key] = "via " + " and ".join(present)
    return found


def detect_items(
    table: PriorityTable, text: str, attachments: Sequence[Attachment] = (), signature: str = ""
) -> set[str]:
    """Keys of the table's data items present in ``text``, the sender's ``signature`` and ``attachments``
    (satisfied groups too)."""
    return set(_detect(table, normalise(items_text(text, signature, attachments)), attachments))


# --------------------------------------------------------------------------------------------
# Near deadlines
# --------------------------------------------------------------------------------------------


def _near_deadline(table: PriorityTable, text: str, now: datetime | None, possible: Possible) -> str | None:
    rule = table.deadline
    excluded = Excluded(rule.exclude, text, possible) if rule.exclude else _NOTHING_EXCLUDED
    for rx in rule.patterns:
        if not possible(rx):
            continue
        for match in rx.finditer(text):
            if not excluded.overlaps(*match.span()):
                return f"deadline phrase {snippet(match[0])!r}"
    if rule.structural:
        from mailbot.core.near_deadline import near_deadline  # with the first mail: 19 regexes, not at start
        found_near = near_deadline(text)
        if found_near is not None:
            return f"near deadline {found_near!r}"
    if rule.date_context is not None and now is not None and possible(rule.date_context):
        found = explicit_deadline(rule.date_context, text, now)
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
    index: int,
    category: Category,
    fields: Sequence[tuple[str, str, float, Possible, Sequence[Sequence[int]]]],
) -> tuple[float, list[RuleHit]]:
    """A category's score and the hits behind it.

    Within one field a stretch of text counts once, at the strongest rule that reads it: in
    "gagal upload" the phrase scores, the weaker "*upload*" inside it does not. Negative rules
    always count: they are evidence against, not a competing reading.

    ``fields``: (name, normalised text, weight, which patterns may match it, for each category
    the places in its ``by_weight`` of the rules that may) of the subject and the body;
    ``index``: the category's place in the table.
    """
    score = 0.0
    hits: list[RuleHit] = []
    rule = f"category:{category.key}"
    ordered = category.by_weight
    for where, text, factor, possible, places in fields:
        taken: list[tuple[int, int]] = []
        for place in places[index]:
            matcher = ordered[place]
            chosen: PatternMatch | None = None
            excluded: Excluded | None = None  # computed when the matcher first matches
            for match in matcher.regex.finditer(text):
                start, end = match.span()
                if matcher.exclude:
                    excluded = excluded or Excluded(matcher.exclude, text, possible)
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
                what = f"pattern matched {snippet(chosen[0])!r}"
            hits.append(RuleHit(rule, f"{what} in {where} ({sign}{_fmt(points)})"))
    return score, hits


# How much of a mail's text is classified. A person describes a helpdesk problem in the first
# few kilobytes; what follows in a longer text is pasted logs, a forwarded thread or an attack
# (issue 17). The bound keeps the work on one mail bounded however long it is, so one mail cannot
# hold up the mailbox: the whole text is still stored, masked and shown to staff.
MAX_CLASSIFIED_CHARS = 64 * 1024


def _bounded(text: str, limit: int = MAX_CLASSIFIED_CHARS) -> str:
    return bounded(text, limit)


def _question_score(
    table: PriorityTable, chosen: Category, scores: Sequence[tuple[float, int, Category]]
) -> tuple[Category, float] | None:
    """The question category and its score when the mail asks about ``chosen``'s topic rather
    than reports a failure there (see :class:`QuestionRule`); None otherwise."""
    rule = table.questions
    if rule is None or chosen.key == rule.category or chosen.key == table.default.key or not chosen.question_topic:
        return None
    for score, _, category in scores:
        if category.key == rule.category and score >= rule.min_score:
            return category, score
    return None


def _question_topic(
    table: PriorityTable, chosen: Category, ranked: Sequence[tuple[float, int, Category]]
) -> Category | None:
    """When the question category won, the topic it asks about: the best other category that
    reached ``topic_min_score`` ("apa syarat pendaftaran penyedia?" is about registration); None
    when the question names no topic clearly (opening hours, a user guide, only "tender")."""
    rule = table.questions
    if rule is None or chosen.key != rule.category:
        return None
    for score, _, category in ranked:
        if category.key != rule.category and score >= rule.topic_min_score:
            return category
    return None


def _by_intent(
    table: PriorityTable,
    chosen: Category,
    priority: str,
    question: tuple[Category, float] | None,
    body: str,
    hits: list[RuleHit],
) -> tuple[Category, float] | None:
    """The question verdict once what the mail wants is read (see :class:`QuestionRule`)."""
    from mailbot.core.intent import no_request, own_trouble  # with the first mail: 18 regexes, not at start
    rule = table.questions
    assert rule is not None
    asker = table.category(rule.category)
    if question is not None:
        trouble = own_trouble(body)
        if trouble is None:
            return question
        hits.append(RuleHit("intent", f"own trouble {trouble!r}: not only a question"))
        return None
    if chosen.key == asker.key or not chosen.question_topic:
        return None
    gap = table.level_index(asker.priority) - table.level_index(priority)
    if gap <= 0:
        return None
    wants = no_request(body)
    if wants is None or (gap > 1 and not wants.startswith("solved")):
        return None
    hits.append(RuleHit("intent", f"no request ({wants})"))
    return asker, 0.0


def classify(
    table: PriorityTable,
    *,
    subject: str,
    text: str,
    attachments: Sequence[Attachment] = (),
    now: datetime | None = None,
    signature: str = "",
) -> Classification:
    """Decide category, priority and missing data of a new mail (SOP steps 2-3).

    ``text`` is the new text of the mail (quoted history already removed). ``now`` is when the
    mail arrived: with it, an explicit deadline date ("batas akhir ... 15 Juli 2024 pukul
    14.00") counts when it is near; without it only phrases like "hari ini" do.

    Only the first :data:`MAX_CLASSIFIED_CHARS` characters of the subject and of the text are
    read: rules, data items, deadline, password and phone alike. ``signature`` (the sender's own,
    cut from the new text) is read for data items only: it names who writes, not the problem.
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
    found_subject, found_body = prefilter.found(norm_subject), prefilter.found(norm_body)
    fields = (
        ("subject", norm_subject, subject_weight, prefilter.test(found_subject), table._rules.pick(found_subject)),
        ("body", norm_body, 1.0, prefilter.test(found_body), table._rules.pick(found_body)),
    )
    scores: list[tuple[float, int, Category]] = []
    for index, category in enumerate(table.categories):
        score, category_hits = _score(index, category, fields)
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

    question = _question_score(table, chosen, scores)
    topic = _question_topic(table, chosen, ranked)
    if topic is not None:
        # a topic whose questions still report a blocked user keeps its own priority and items
        question = (chosen, best_score) if topic.question_topic else None
        chosen = topic
        hits.append(RuleHit("category", f"a question about {chosen.key}'s topic: {chosen.key}"))

    priority = chosen.priority
    level = table.level(priority)
    hits.append(RuleHit("priority", f"category {chosen.key} -> {priority} ({_fmt(level.resolution_hours)} h)"))

    both = norm_subject + "\n" + norm_body
    possible = prefilter.possible(both)
    required = set(chosen.required)
    for condition in chosen.when:
        match = None if condition.always else matching.first_match(condition.patterns, both, possible)
        if match is None and not condition.always:
            continue
        why = f"every {chosen.key} mail" if match is None else matching.said(both, len(norm_subject), match)
        against = matching.first_match(condition.unless, both, possible)
        if against is not None:
            hits.append(RuleHit("needs", f"not {', '.join(condition.required) or condition.priority}, because "
                                         f"{matching.said(both, len(norm_subject), against)} ({condition.where}.unless)"))
            continue
        if condition.required:
            required.update(condition.required)
            hits.append(RuleHit("needs", f"{', '.join(condition.required)}, because {why} ({condition.where})"))
        if condition.priority is not None and priority == chosen.priority:
            priority = condition.priority
            level = table.level(priority)
            hits.append(RuleHit("priority", f"{why} ({condition.where}) -> {priority}"))
    if table.questions is not None and table.questions.intent:
        question = _by_intent(table, chosen, priority, question, norm_body, hits)
    if question is not None:
        asker, score = question
        priority = asker.priority
        level = table.level(priority)
        required = set()
        hits.append(RuleHit("priority", f"a question about {chosen.key} ({asker.key} scored {_fmt(score)}) -> "
                                        f"{priority}, nothing asked"))
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

    if has_more(signature, attachments):  # data items only: the signature's, the files' (``core.item_sources``)
        both = normalise(items_text(both, signature, attachments))
        possible = prefilter.possible(both)
    found = _detect(table, both, attachments, possible)
    for key, reason in found.items():
        hits.append(RuleHit(f"item:{key}", reason))
    missing = tuple(
        MissingItem(item.key, item.label, item.example)
        for item in table.items  # table order, so the "need more data" reply reads the same every time
        if item.key in required and item.key not in found
    )
    if missing:
        hits.extend(RuleHit("missing", f"{m.key}: not found (required)") for m in missing)

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
