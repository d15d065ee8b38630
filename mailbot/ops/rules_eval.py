"""``mailbot rules eval [DIR] [--table PATH]``: measure the priority table on a labeled set of mails.

A labeled set is a directory of ``.eml`` files plus ``labels.toml``, which maps each file name to
the decision a helpdesk officer would make::

    ["001_upload_formal_lengkap.eml"]
    category = "tender_upload"
    priority = "tinggi"
    missing = []            # required item keys the mail lacks
    note = "optional explanation"

Each mail is parsed with the project's parser (:func:`mailbot.core.parse.parse_mail`: subject, new text
without quoted history, attachments) and classified with its own ``Date`` as ``now``: the rules
run when a mail arrives. The report gives accuracy for category, priority and missing items
(exact set per mail, and item-level precision/recall), a confusion table of categories, and every
mail that went wrong with the rule hits that explain why. Coordinators use it to check an edited
table before deploying it; the unit tests assert accuracy floors on ``tests/data/labeled``.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mailbot.settings.config import PROJECT_ROOT
from mailbot.core.domain import RuleHit
from mailbot.core.parse import parse_mail
from mailbot.core.rules import PriorityTable, classify
from mailbot.settings.priorities import RulesConfigError, load_priority_table

__all__ = ["EvalError", "EvalReport", "MailResult", "evaluate", "format_report", "main"]

DEFAULT_DIR = PROJECT_ROOT / "tests" / "data" / "labeled"
DEFAULT_TABLE = PROJECT_ROOT / "config" / "priorities.toml"
LABELS_FILE = "labels.toml"


class EvalError(ValueError):
    """The labeled set itself is broken (missing labels file, unknown category, ...): one line."""


@dataclass(frozen=True)
class MailResult:
    """One labeled mail: what the officer decided and what the rules decided."""

    file: str
    expected_category: str
    expected_priority: str
    expected_missing: frozenset[str]
    category: str
    priority: str
    missing: tuple[str, ...]  # in table order, as the engine returns them
    matched: bool
    hits: tuple[RuleHit, ...]
    note: str = ""

    @property
    def category_ok(self) -> bool:
        return self.category == self.expected_category

    @property
    def priority_ok(self) -> bool:
        return self.priority == self.expected_priority

    @property
    def missing_ok(self) -> bool:
        return frozenset(self.missing) == self.expected_missing

    @property
    def ok(self) -> bool:
        return self.category_ok and self.priority_ok and self.missing_ok


@dataclass(frozen=True)
class EvalReport:
    """All results of one run, with the derived measures."""

    directory: str
    table: str
    results: tuple[MailResult, ...]

    @property
    def total(self) -> int:
        return len(self.results)

    def _share(self, count: int) -> float:
        return count / self.total if self.total else 0.0

    @property
    def category_correct(self) -> int:
        return sum(r.category_ok for r in self.results)

    @property
    def priority_correct(self) -> int:
        return sum(r.priority_ok for r in self.results)

    @property
    def missing_correct(self) -> int:
        return sum(r.missing_ok for r in self.results)

    @property
    def category_accuracy(self) -> float:
        return self._share(self.category_correct)

    @property
    def priority_accuracy(self) -> float:
        return self._share(self.priority_correct)

    @property
    def missing_accuracy(self) -> float:
        """Share of mails whose missing-item set is exactly right."""
        return self._share(self.missing_correct)

    @property
    def item_counts(self) -> tuple[int, int, int]:
        """(true positives, predicted, expected) over all missing items of all mails."""
        tp = predicted = expected = 0
        for r in self.results:
            got = set(r.missing)
            tp += len(got & r.expected_missing)
            predicted += len(got)
            expected += len(r.expected_missing)
        return tp, predicted, expected

    @property
    def item_precision(self) -> float:
        """Of the items the rules asked for, the share the officer would ask for too."""
        tp, predicted, _ = self.item_counts
        return tp / predicted if predicted else 1.0

    @property
    def item_recall(self) -> float:
        """Of the items the officer would ask for, the share the rules asked for."""
        tp, _, expected = self.item_counts
        return tp / expected if expected else 1.0

    @property
    def confusion(self) -> Counter[tuple[str, str]]:
        """(expected category, predicted category) -> number of mails."""
        return Counter((r.expected_category, r.category) for r in self.results)

    @property
    def failures(self) -> tuple[MailResult, ...]:
        return tuple(r for r in self.results if not r.ok)


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Label:
    category: str
    priority: str
    missing: frozenset[str]
    note: str


def _load_labels(table: PriorityTable, path: Path) -> dict[str, _Label]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"{path}: labels file does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise EvalError(f"{path.name}: not valid TOML: {exc}") from None
    categories = {c.key for c in table.categories} | {table.default.key}
    items = {i.key for i in table.items}
    labels: dict[str, _Label] = {}
    for name, entry in data.items():
        where = f"{path.name}: [{name!r}]"
        if not isinstance(entry, dict):
            raise EvalError(f"{where}: must be a table with category, priority and missing")
        unknown = set(entry) - {"category", "priority", "missing", "note"}
        if unknown:
            raise EvalError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        # A typo in a label would quietly lower the accuracy: refuse it instead.
        if entry.get("category") not in categories:
            raise EvalError(f"{where}.category: {entry.get('category')!r} is not a category of the table")
        if entry.get("priority") not in table.level_names:
            raise EvalError(f"{where}.priority: {entry.get('priority')!r} is not a configured level")
        missing = entry.get("missing")
        if not isinstance(missing, list) or not all(isinstance(k, str) for k in missing):
            raise EvalError(f"{where}.missing: must be a list of item keys")
        for key in missing:
            if key not in items:
                raise EvalError(f"{where}.missing: {key!r} is not a configured item")
        labels[name] = _Label(str(entry["category"]), str(entry["priority"]), frozenset(missing),
                              str(entry.get("note", "")))
    return labels


def evaluate(table: PriorityTable, directory: Path) -> EvalReport:
    """Classify every ``.eml`` in ``directory`` and compare with its ``labels.toml``."""
    directory = Path(directory)
    labels = _load_labels(table, directory / LABELS_FILE)
    files = sorted(p.name for p in directory.glob("*.eml"))
    unlabeled = [name for name in files if name not in labels]
    if unlabeled:
        raise EvalError(f"{unlabeled[0]} has no entry in {LABELS_FILE}")
    absent = sorted(set(labels) - set(files))
    if absent:
        raise EvalError(f"{LABELS_FILE}: {absent[0]} is labeled but the file does not exist")

    results: list[MailResult] = []
    for name in files:
        mail = parse_mail((directory / name).read_bytes())
        decision = classify(
            table, subject=mail.subject, text=mail.new_text, attachments=mail.attachments, now=mail.date
        )
        label = labels[name]
        results.append(
            MailResult(
                file=name,
                expected_category=label.category,
                expected_priority=label.priority,
                expected_missing=label.missing,
                category=decision.category,
                priority=decision.priority,
                missing=tuple(m.key for m in decision.missing),
                matched=decision.matched,
                hits=decision.hits,
                note=label.note,
            )
        )
    return EvalReport(directory=str(directory), table=table.source, results=tuple(results))


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} {100 * part / whole:5.1f}%" if whole else f"{part}/{whole}    n/a"


def _confusion_lines(report: EvalReport) -> list[str]:
    counts = report.confusion
    keys = sorted({k for pair in counts for k in pair})
    # Columns are numbered (legend = row order) so the table stays narrow with a dozen categories.
    width = max(len(k) for k in keys) + 5
    head = " " * width + "".join(f"{n:>4}" for n in range(1, len(keys) + 1))
    lines = ["Category confusion (rows: expected, columns: predicted, numbered as the rows)", head]
    for n, expected in enumerate(keys, 1):
        cells = "".join(f"{(counts.get((expected, got), 0) or '.'):>4}" for got in keys)
        lines.append(f"{n:>3}. {expected:<{width - 5}}{cells}")
    return lines


def format_report(report: EvalReport) -> str:
    """A plain-text report: accuracies, the confusion table, then every mail that went wrong."""
    tp, predicted, expected = report.item_counts
    total = report.total
    lines = [
        f"Rules evaluation: {total} mails in {report.directory}",
        f"Table: {report.table}",
        "",
        f"  category accuracy          {_pct(report.category_correct, total)}",
        f"  priority accuracy          {_pct(report.priority_correct, total)}",
        f"  missing items (exact set)  {_pct(report.missing_correct, total)}",
        f"  missing items precision    {_pct(tp, predicted)}",
        f"  missing items recall       {_pct(tp, expected)}",
        "",
    ]
    if total:
        lines += _confusion_lines(report)
    failures = report.failures
    lines += ["", f"Mails with a difference: {len(failures)}" if failures else "Every mail matches its label."]
    for r in failures:
        lines.append("")
        lines.append(f"{r.file}" + (f"  ({r.note})" if r.note else ""))
        if not r.category_ok:
            flag = "" if r.matched else " (unmatched)"
            lines.append(f"  category: expected {r.expected_category}, got {r.category}{flag}")
        if not r.priority_ok:
            lines.append(f"  priority: expected {r.expected_priority}, got {r.priority}")
        if not r.missing_ok:
            want = ", ".join(sorted(r.expected_missing)) or "-"
            got = ", ".join(r.missing) or "-"
            lines.append(f"  missing:  expected [{want}], got [{got}]")
        for hit in r.hits:
            lines.append(f"    {hit.rule}: {hit.reason}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``mailbot rules eval``; 0 when it ran (and met --fail-under), else 1/2."""
    parser = argparse.ArgumentParser(
        prog="mailbot rules eval", description="Measure the priority table on a labeled set of mails."
    )
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR,
                        help=f"directory of .eml files and {LABELS_FILE} (default: tests/data/labeled)")
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE,
                        help="priority table to measure (default: config/priorities.toml)")
    parser.add_argument("--fail-under", type=float, default=None, metavar="SHARE",
                        help="exit 1 when category, priority or missing accuracy is below SHARE (e.g. 0.9)")
    args = parser.parse_args(argv)
    try:
        table = load_priority_table(args.table)
        report = evaluate(table, args.dir)
    except (RulesConfigError, EvalError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    sys.stdout.write(format_report(report))
    if args.fail_under is not None:
        worst = min(report.category_accuracy, report.priority_accuracy, report.missing_accuracy)
        if worst < args.fail_under:
            print(f"below the floor {args.fail_under:g}: lowest accuracy {worst:.3f}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
