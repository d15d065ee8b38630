"""How often the right canned answer is among the suggestions (top-3 hit rate) on a labeled set.

A mail counts when its labeled category has at least one canned answer; it is a hit when one
of the top suggestions (made from the rules' *predicted* category and the mail text, as in
production) was written for the labeled category.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailbot.core.parse import parse_mail
from mailbot.core.rules import PriorityTable
from mailbot.ops.rules_eval import evaluate
from mailbot.settings.answers import AnswerLibrary, suggest


@dataclass(frozen=True)
class HitRate:
    hits: int
    total: int
    misses: tuple[str, ...]  # files without a fitting suggestion

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0


def suggestion_hit_rate(library: AnswerLibrary, table: PriorityTable, directory: Path, limit: int = 3) -> HitRate:
    covered = {c for a in library.answers for c in a.categories}
    hits, total, misses = 0, 0, []
    for result in evaluate(table, directory).results:
        if result.expected_category not in covered:
            continue
        total += 1
        mail = parse_mail((Path(directory) / result.file).read_bytes())
        top = suggest(library, category=result.category, subject=mail.subject, text=mail.new_text, limit=limit)
        if any(result.expected_category in s.answer.categories for s in top):
            hits += 1
        else:
            misses.append(result.file)
    return HitRate(hits, total, tuple(misses))
