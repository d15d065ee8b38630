"""The priority table file (``config/priorities.toml``) -> a validated :class:`PriorityTable`.

A helpdesk coordinator edits that file, so every mistake is reported as ONE line that names the
place, e.g. ``priorities.toml: categories[3].priority: 'urgent' is not a configured level``,
raised as :class:`RulesConfigError`. Regular expressions are compiled here, at load time, so a
bad one stops the bot at start instead of failing on the first mail. They are compiled for RE2
(:func:`mailbot.core.matching.compile_table_pattern`), whose matching time is linear in the text: a
pattern that needs backtracking (lookaround, backreferences) is refused here, with its place,
rather than left to stall the mailbox on a hostile mail (issue 17).

This module may read files; the engine in :mod:`mailbot.core.rules` may not. The frozen table types
are defined there (the pure core must not import this loader) and re-exported here.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mailbot.core.errors import MailbotError
from mailbot.core.matching import Compiled, Pattern, TablePatternError, compile_table_pattern, table_keyword
from mailbot.core.rules import (
    Category,
    Condition,
    DataItem,
    DeadlineRule,
    Level,
    Matcher,
    PriorityTable,
    QuestionRule,
)
from mailbot.core.value_kinds import KINDS

__all__ = ["PriorityTable", "RulesConfigError", "load_priority_table", "parse_priority_table"]

_KEY = r"^[a-z][a-z0-9_]*$"
_MACRO_REF = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class RulesConfigError(MailbotError, ValueError):
    """A problem in the priority table, phrased as one line for the coordinator."""


# --------------------------------------------------------------------------------------------
# The file's shape (pydantic checks types, required and unknown keys)
# --------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _LevelModel(_Model):
    key: str = Field(pattern=_KEY)
    label: str = Field(min_length=1)
    resolution_hours: float = Field(gt=0)


class _WhenModel(_Model):
    patterns: list[str] = []  # what the mail must say; or ``always = true``: every mail of the category
    always: bool = False
    required: list[str] = []
    priority: str | None = None  # the category's level when the mail says this ("sedang" for a slow site)
    unless: list[str] = []  # ... but not when the mail also says one of these (a 502: the server's fault)


class _DefaultModel(_Model):
    category: str = Field(pattern=_KEY)
    label: str = Field(min_length=1)
    priority: str
    required: list[str] = []
    when: list[_WhenModel] = []  # e.g. a higher level when the unrecognised mail reports a failure


class _ScoringModel(_Model):
    subject_weight: float = Field(default=2.0, ge=0)
    reply_subject_weight: float = Field(default=1.0, ge=0)
    min_score: float = Field(default=3.0, gt=0)


class _DeadlineModel(_Model):
    raise_by: int = Field(default=1, ge=0)
    window_hours: float = Field(default=24.0, ge=0)
    date_context: str | None = None
    patterns: list[str] = []
    exclude: list[str] = []  # a deadline phrase that overlaps a match of one of these does not count
    structural: bool = False  # also detect a deadline from its parts (mailbot.core.near_deadline)


class _ItemModel(_Model):
    key: str = Field(pattern=_KEY)
    label: str = Field(min_length=1)
    example: str = Field(min_length=1)
    patterns: list[str] = []
    exclude: list[str] = []
    attachment: Literal["image", "pdf", "any"] | None = None
    min_bytes: int = Field(default=0, ge=0)
    any_of: list[str] = []
    values: list[str] = []  # kinds of values recognised by their form (mailbot.core.values.KINDS)


class _MatchModel(_Model):
    weight: float
    keywords: list[str] = []
    patterns: list[str] = []
    exclude: list[str] = []  # a match of the rule that overlaps a match of one of these does not count


class _CategoryModel(_Model):
    key: str = Field(pattern=_KEY)
    label: str = Field(min_length=1)
    priority: str
    required: list[str] = []
    match: list[_MatchModel] = Field(min_length=1)
    when: list[_WhenModel] = []  # items needed only when the mail says something
    outside: bool = True  # whether the [[outside]] rules count against this category
    question_topic: bool = True  # whether a question about this topic is a question ([questions])


class _QuestionsModel(_Model):
    # a mail whose question score (this category's) reaches min_score is a question about the
    # winning category's topic: it gets this category's priority and nothing is asked
    category: str = Field(pattern=_KEY)
    min_score: float = Field(gt=0)
    topic_min_score: float = Field(default=4.0, gt=0)
    intent: bool = False  # also read what the mail wants (mailbot.core.intent)


class _TableModel(_Model):
    levels: list[_LevelModel] = Field(min_length=1)
    default: _DefaultModel
    scoring: _ScoringModel = _ScoringModel()
    deadline: _DeadlineModel = _DeadlineModel()
    macros: dict[str, str] = {}
    items: list[_ItemModel] = []
    categories: list[_CategoryModel] = Field(min_length=1)
    # rules that count against every category: the mail is about something the table does not
    # cover (e-katalog), so no category should win on words it shares with one
    outside: list[_MatchModel] = []
    questions: _QuestionsModel | None = None


# --------------------------------------------------------------------------------------------
# Error lines
# --------------------------------------------------------------------------------------------


def _where(loc: tuple[int | str, ...]) -> str:
    """('categories', 3, 'priority') -> 'categories[3].priority'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def _pydantic_line(name: str, error: ValidationError) -> str:
    first = error.errors()[0]
    kind = first["type"]
    if kind == "missing":
        message = "required key is missing"
    elif kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "string_pattern_mismatch":
        message = f"{first['input']!r} must be lower-case letters, digits and _ (starting with a letter)"
    else:
        message = first["msg"].removeprefix("Value error, ")
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{name}: {_where(tuple(first['loc']))}: {message}{suffix}"


class _Builder:
    """Turns the checked shape into the engine's table, with cross-reference checks."""

    def __init__(self, name: str, model: _TableModel) -> None:
        self.name = name
        self.model = model
        self.macros: dict[str, str] = {}
        # The patterns and keywords, compiled once for themselves and for the table's prefilter.
        self.compiled = Compiled()

    def fail(self, where: str, message: str) -> RulesConfigError:
        return RulesConfigError(f"{self.name}: {where}: {message}")

    # -- regular expressions --

    def expand(self, source: str, where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name not in self.macros:
                raise self.fail(where, f"unknown macro {{{name}}} (define it under [macros])")
            return f"(?:{self.macros[name]})"

        return _MACRO_REF.sub(replace, source)

    def compile(self, source: str, where: str, shown: str | None = None, compiled: Compiled | None = None) -> Pattern:
        """RE2 takes it, or one line naming the place and the pattern as written."""
        try:
            return compile_table_pattern(source, shown, compiled)
        except TablePatternError as exc:
            raise self.fail(where, str(exc)) from None

    def regex(self, source: str, where: str, *, macros: bool = True) -> Pattern:
        if not source.strip():
            raise self.fail(where, "empty pattern")
        expanded = self.expand(source, where) if macros else source
        compiled = self.compile(expanded, where, shown=source, compiled=self.compiled)
        # A pattern that matches empty text would fire on every mail.
        if compiled.search("") is not None:
            raise self.fail(where, f"pattern {source!r} matches empty text, so it would fire on every mail")
        return compiled

    # -- sections --

    def build(self, source: str) -> PriorityTable:
        model = self.model
        for name, value in model.macros.items():
            where = f"macros.{name}"
            if not re.fullmatch(_KEY, name):
                raise self.fail(where, "a macro name must be lower-case letters, digits and _")
            self.compile(value, where)
            if _MACRO_REF.search(value):
                raise self.fail(where, "a macro cannot use another macro")
            self.macros[name] = value

        levels = self.levels()
        level_keys = {level.key for level in levels}
        items = self.items()
        item_keys = [item.key for item in items]

        default_model = model.default
        if default_model.priority not in level_keys:
            raise self.fail("default.priority", f"{default_model.priority!r} is not a configured level")
        self.check_required(default_model.required, item_keys, "default.required")
        default = Category(
            key=default_model.category,
            label=default_model.label,
            priority=default_model.priority,
            required=tuple(default_model.required),
            when=self.conditions(default_model.when, "default", item_keys, level_keys),
        )

        for index, rule in enumerate(model.outside):
            if rule.weight >= 0:
                raise self.fail(f"outside[{index}].weight", "must be negative: these rules count against every category")
        outside = self.matchers(model.outside, "") if model.outside else ()
        categories: list[Category] = []
        seen: dict[str, int] = {}
        for index, cat in enumerate(model.categories):
            where = f"categories[{index}]"
            if cat.key in seen:
                raise self.fail(f"{where}.key", f"{cat.key!r} is already used by categories[{seen[cat.key]}]")
            if cat.key == default.key:
                raise self.fail(f"{where}.key", f"{cat.key!r} is the default category's key")
            seen[cat.key] = index
            if cat.priority not in level_keys:
                raise self.fail(f"{where}.priority", f"{cat.priority!r} is not a configured level")
            self.check_required(cat.required, item_keys, f"{where}.required")
            conditions = self.conditions(cat.when, where, item_keys, level_keys)
            categories.append(
                Category(
                    key=cat.key,
                    label=cat.label,
                    priority=cat.priority,
                    required=tuple(cat.required),
                    matchers=self.matchers(cat.match, where) + (outside if cat.outside else ()),
                    when=tuple(conditions),
                    question_topic=cat.question_topic,
                )
            )

        deadline_model = model.deadline
        deadline = DeadlineRule(
            patterns=tuple(
                self.regex(p, f"deadline.patterns[{i}]") for i, p in enumerate(deadline_model.patterns)
            ),
            raise_by=deadline_model.raise_by,
            date_context=(
                self.regex(deadline_model.date_context, "deadline.date_context")
                if deadline_model.date_context
                else None
            ),
            window_hours=deadline_model.window_hours,
            structural=deadline_model.structural,
            exclude=tuple(
                self.regex(p, f"deadline.exclude[{i}]") for i, p in enumerate(deadline_model.exclude)
            ),
        )
        questions = None
        if model.questions is not None:
            if model.questions.category not in seen:
                raise self.fail("questions.category", f"{model.questions.category!r} is not a configured category")
            questions = QuestionRule(category=model.questions.category, min_score=model.questions.min_score,
                                     topic_min_score=model.questions.topic_min_score,
                                     intent=model.questions.intent)
        return PriorityTable(
            questions=questions,
            levels=levels,
            items=items,
            categories=tuple(categories),
            default=default,
            subject_weight=model.scoring.subject_weight,
            reply_subject_weight=model.scoring.reply_subject_weight,
            min_score=model.scoring.min_score,
            deadline=deadline,
            source=source,
            compiled=self.compiled,
        )

    def levels(self) -> tuple[Level, ...]:
        seen: set[str] = set()
        out: list[Level] = []
        for index, level in enumerate(self.model.levels):
            if level.key in seen:
                raise self.fail(f"levels[{index}].key", f"level {level.key!r} is listed twice")
            seen.add(level.key)
            out.append(Level(level.key, level.label, level.resolution_hours))
        return tuple(out)

    def items(self) -> tuple[DataItem, ...]:
        models = self.model.items
        base = {m.key for m in models if not m.any_of}
        seen: set[str] = set()
        out: list[DataItem] = []
        for index, item in enumerate(models):
            where = f"items[{index}]"
            if item.key in seen:
                raise self.fail(f"{where}.key", f"item {item.key!r} is listed twice")
            seen.add(item.key)
            for j, kind in enumerate(item.values):
                if kind not in KINDS:
                    known = ", ".join(sorted(KINDS))
                    raise self.fail(f"{where}.values[{j}]", f"{kind!r} is not a kind of value the bot knows ({known})")
            if item.any_of:
                if item.patterns or item.exclude or item.attachment or item.values:
                    raise self.fail(where, "an any_of group has no patterns, exclude, values or attachment of its own")
                for j, member in enumerate(item.any_of):
                    if member not in base:
                        raise self.fail(f"{where}.any_of[{j}]", f"{member!r} is not a configured item (groups cannot nest)")
            elif not item.patterns and not item.attachment and not item.values:
                raise self.fail(where, "needs patterns, values, attachment or any_of to be detectable")
            out.append(
                DataItem(
                    key=item.key,
                    label=item.label,
                    example=item.example,
                    patterns=tuple(self.regex(p, f"{where}.patterns[{j}]") for j, p in enumerate(item.patterns)),
                    exclude=tuple(self.regex(p, f"{where}.exclude[{j}]") for j, p in enumerate(item.exclude)),
                    attachment=item.attachment,
                    min_bytes=item.min_bytes,
                    any_of=tuple(item.any_of),
                    values=tuple(item.values),
                )
            )
        return tuple(out)

    def conditions(
        self, whens: list[_WhenModel], where: str, item_keys: list[str], level_keys: set[str]
    ) -> tuple[Condition, ...]:
        out: list[Condition] = []
        for j, when in enumerate(whens):
            here = f"{where}.when[{j}]"
            self.check_required(when.required, item_keys, f"{here}.required")
            if not when.required and when.priority is None:
                raise self.fail(here, "needs required items or a priority")
            if when.priority is not None and when.priority not in level_keys:
                raise self.fail(f"{here}.priority", f"{when.priority!r} is not a configured level")
            if when.always == bool(when.patterns):
                raise self.fail(here, "needs patterns, or always = true for every mail of the category (not both)")
            patterns = tuple(self.regex(p, f"{here}.patterns[{k}]") for k, p in enumerate(when.patterns))
            unless = tuple(self.regex(p, f"{here}.unless[{k}]") for k, p in enumerate(when.unless))
            out.append(
                Condition(patterns=patterns, required=tuple(when.required), where=here, priority=when.priority,
                          unless=unless, always=when.always)
            )
        return tuple(out)

    def check_required(self, required: list[str], item_keys: list[str], where: str) -> None:
        for index, key in enumerate(required):
            if key not in item_keys:
                raise self.fail(f"{where}[{index}]", f"{key!r} is not a configured item")
        duplicates = {key for key in required if required.count(key) > 1}
        if duplicates:
            raise self.fail(where, f"{sorted(duplicates)[0]!r} is listed twice")

    def matchers(self, rules: list[_MatchModel], where: str) -> tuple[Matcher, ...]:
        out: list[Matcher] = []
        for index, rule in enumerate(rules):
            at = f"{where}.match[{index}]" if where else f"outside[{index}]"
            if rule.weight == 0:
                raise self.fail(f"{at}.weight", "must not be 0 (use a negative weight to count against)")
            if not rule.keywords and not rule.patterns:
                raise self.fail(at, "needs keywords or patterns")
            exclude = tuple(self.regex(p, f"{at}.exclude[{j}]") for j, p in enumerate(rule.exclude))
            for j, keyword in enumerate(rule.keywords):
                try:
                    regex = table_keyword(keyword, self.compiled)
                except ValueError as exc:
                    raise self.fail(f"{at}.keywords[{j}]", str(exc)) from None
                out.append(Matcher(regex, rule.weight, keyword=keyword.strip(), where=f"{at}.keywords[{j}]",
                                   exclude=exclude))
            for j, pattern in enumerate(rule.patterns):
                out.append(Matcher(self.regex(pattern, f"{at}.patterns[{j}]"), rule.weight, where=f"{at}.patterns[{j}]",
                                   exclude=exclude))
        return tuple(out)


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def parse_priority_table(text: str, name: str = "priorities.toml") -> PriorityTable:
    """Validate the TOML ``text`` of a priority table; ``name`` starts every error line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesConfigError(f"{name}: not valid TOML: {exc}") from None
    try:
        model = _TableModel.model_validate(data)
    except ValidationError as exc:
        raise RulesConfigError(_pydantic_line(name, exc)) from None
    return _Builder(name, model).build(name)


def load_priority_table(path: Path) -> PriorityTable:
    """Read and validate the priority table at ``path``; RulesConfigError (one line) on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesConfigError(f"{path.name}: file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesConfigError(f"{path.name}: cannot read {path}: {exc}") from None
    table = parse_priority_table(text, path.name)
    # Keep the full path for messages such as the eval report's header.
    return dataclasses.replace(table, source=str(path))
