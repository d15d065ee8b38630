"""Canned answers: the library in templates/answers, and which answers fit a ticket.

Loading reads files and compiles every answer with jinja2 (so a broken answer is reported
at start and by ``check-config``, never at send time). ``suggest`` is pure scoring: the
ticket's category counts most, then the answer's keywords found in the user's mail.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, TemplateError

from mailbot.core.errors import MailbotError
from mailbot.core.matching import Prefilter, keyword_pattern, normalise

CATEGORY_SCORE = 4.0  # an answer written for the ticket's category
KEYWORD_SCORE = 1.0  # each of its keywords found in the subject or the text


class AnswersError(MailbotError, ValueError):
    """A canned answer file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class CannedAnswer:
    id: int
    key: str
    title: str
    categories: tuple[str, ...]
    keywords: tuple[str, ...]
    auto_answer: bool
    body: str  # jinja2 source
    source: str  # file it came from


@dataclass(frozen=True)
class Suggestion:
    answer: CannedAnswer
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class AnswerLibrary:
    answers: tuple[CannedAnswer, ...]

    def find(self, ref: str) -> CannedAnswer | None:
        """An answer by its number ("2") or key ("lupa-password")."""
        ref = ref.strip().lower().lstrip("#")
        for answer in self.answers:
            if ref == str(answer.id) or ref == answer.key:
                return answer
        return None

    @functools.cached_property
    def _prefilter(self) -> Prefilter:
        """Which keywords can be in a text at all (built on first use): a mail is searched for the few
        that can, not for every keyword of every answer."""
        return Prefilter(keyword_pattern(keyword) for answer in self.answers for keyword in answer.keywords)


def _parse_file(path: Path) -> CannedAnswer:
    text = path.read_text(encoding="utf-8")
    parts = text.split("+++", 2)
    if len(parts) != 3 or parts[0].strip():
        raise AnswersError(f"{path.name}: must start with a +++ TOML header +++ followed by the answer text")
    try:
        meta = tomllib.loads(parts[1])
    except tomllib.TOMLDecodeError as exc:
        raise AnswersError(f"{path.name}: header is not valid TOML: {exc}") from None
    for key, kind in (("id", int), ("key", str), ("title", str)):
        if not isinstance(meta.get(key), kind):
            raise AnswersError(f"{path.name}: header key '{key}' is missing or not a {kind.__name__}")
    unknown = set(meta) - {"id", "key", "title", "categories", "keywords", "auto_answer"}
    if unknown:
        raise AnswersError(f"{path.name}: unknown header key '{sorted(unknown)[0]}'")
    body = parts[2].strip()
    if not body:
        raise AnswersError(f"{path.name}: the answer text is empty")
    return CannedAnswer(
        id=meta["id"], key=str(meta["key"]).lower(), title=meta["title"],
        categories=tuple(meta.get("categories", [])), keywords=tuple(meta.get("keywords", [])),
        auto_answer=bool(meta.get("auto_answer", False)), body=body, source=str(path),
    )


def load_answers(folders: Iterable[Path], env: Environment, categories: Sequence[str] = ()) -> AnswerLibrary:
    """Load ``*.md`` answers; a later folder overrides an earlier one's answer of the same key."""
    by_key: dict[str, CannedAnswer] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.md")):
            if path.name.lower() == "readme.md":
                continue
            answer = _parse_file(path)
            try:
                env.from_string(answer.body)
            except TemplateError as exc:
                raise AnswersError(f"{path.name}: template error: {exc}") from None
            unknown = [c for c in answer.categories if categories and c not in categories]
            if unknown:
                raise AnswersError(f"{path.name}: category '{unknown[0]}' is not in the priority table")
            by_key[answer.key] = answer
    ids: dict[int, str] = {}
    for answer in by_key.values():
        if answer.id in ids:
            raise AnswersError(f"{Path(answer.source).name}: id {answer.id} is also used by '{ids[answer.id]}'")
        ids[answer.id] = answer.key
    return AnswerLibrary(tuple(sorted(by_key.values(), key=lambda a: a.id)))


def suggest(library: AnswerLibrary, *, category: str, subject: str, text: str, limit: int = 3,
            min_score: float = CATEGORY_SCORE) -> list[Suggestion]:
    """The best-fitting answers, best first (pure)."""
    haystack = normalise(f"{subject}\n{text}")
    possible = library._prefilter.possible(haystack)
    scored: list[Suggestion] = []
    for answer in library.answers:
        score, reasons = 0.0, []
        if category in answer.categories:
            score += CATEGORY_SCORE
            reasons.append(f"category {category}")
        for keyword in answer.keywords:
            pattern = keyword_pattern(keyword)
            if possible(pattern) and pattern.search(haystack):
                score += KEYWORD_SCORE
                reasons.append(f"keyword '{keyword}'")
        if score >= min_score:
            scored.append(Suggestion(answer, score, tuple(reasons)))
    scored.sort(key=lambda s: (-s.score, s.answer.id))
    return scored[:limit]
