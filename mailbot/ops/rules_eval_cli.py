"""``mailbot rules eval [DIR] [--train DIR]... [--heldout DIR]... [--table PATH]``: the command.

It measures the priority table (:mod:`mailbot.ops.rules_eval`) on training sets, whose mails that
went wrong it lists with the rule hits behind them, and on held-out sets, written blind, whose
figures only it prints; it ends with every set's figures side by side. A set may be labelled with
the table's own keys (``tests/data/labeled``) or with the coarse labels of a blind-written set
(``tests/data/blind_train*``, ``tests/data/heldout*``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mailbot.core.rules import PriorityTable
from mailbot.ops.rules_eval import (
    DEFAULT_DIR,
    DEFAULT_HELDOUT,
    DEFAULT_TABLE,
    LABELS_FILE,
    EvalError,
    EvalReport,
    HeldoutReport,
    evaluate,
    evaluate_heldout,
    format_report,
    fraction,
)
from mailbot.settings.priorities import RulesConfigError, load_priority_table

__all__ = ["default_heldout_dir", "default_training_dirs", "evaluate_any", "format_summary", "heldout_dirs", "main"]


def _pooled(reports: Sequence[EvalReport], name: str) -> EvalReport:
    """The results of several sets as one report (their figures pooled, mail by mail)."""
    results = tuple(r for report in reports for r in report.results)
    kind = HeldoutReport if all(isinstance(report, HeldoutReport) for report in reports) else EvalReport
    return kind(directory=name, table=reports[0].table if reports else "", results=results)


def _set_name(report: EvalReport) -> str:
    return Path(report.directory).name or report.directory


def format_summary(training: EvalReport | Sequence[EvalReport], heldout: EvalReport | Sequence[EvalReport]) -> str:
    """Every set's headline figures side by side, training sets first: the held-out columns are the
    ones to quote. With several held-out sets a last column pools them (every mail counted once)."""
    trains = [training] if isinstance(training, EvalReport) else list(training)
    helds = [heldout] if isinstance(heldout, EvalReport) else list(heldout)

    def figures(r: EvalReport) -> tuple[str, ...]:
        return (fraction(r.category_correct, r.total), fraction(r.priority_correct, r.total),
                fraction(r.missing_correct, r.total), f"{r.item_precision:.2f}", f"{r.item_recall:.2f}",
                f"{r.item_f1:.2f}")

    columns: list[tuple[str, str, EvalReport]] = [("training", _set_name(r), r) for r in trains]
    columns += [("held-out", _set_name(r), r) for r in helds]
    if len(helds) > 1:
        columns.append(("held-out", "all", _pooled(helds, "all")))
    names = ("category", "priority", "missing items, exact set", "missing items precision",
             "missing items recall", "missing items F1")
    width = max(16, *(len(name) + 2 for _, name, _ in columns))
    lines = ["== Summary (quote the held-out columns: the rules were tuned on the training sets) =="]
    lines.append(f"  {'':<26}" + "".join(f"{kind:>{width}}" for kind, _, _ in columns))
    lines.append(f"  {'':<26}" + "".join(f"{name:>{width}}" for _, name, _ in columns))
    cells = [figures(report) for _, _, report in columns]
    for row, name in enumerate(names):
        lines.append(f"  {name:<26}" + "".join(f"{column[row]:>{width}}" for column in cells))
    return "\n".join(lines) + "\n"


def _number(path: Path) -> int:
    """``heldout`` is 1, ``heldout2`` 2, ...: the order in which the held-out sets were written."""
    suffix = path.name.removeprefix("heldout")
    return int(suffix) if suffix.isdigit() else 1


def heldout_dirs(data: Path = DEFAULT_DIR.parent) -> list[Path]:
    """Every ``heldout*`` set, oldest first."""
    return sorted((p for p in data.glob("heldout*") if p.is_dir() and (p / LABELS_FILE).exists()), key=_number)


def default_heldout_dir(data: Path = DEFAULT_DIR.parent) -> Path:
    """The held-out set used when none is named: the newest one, the only one nobody has tuned on.
    Each earlier one was measured once, reported, and then retired into training (its README says when)."""
    sets = heldout_dirs(data)
    return sets[-1] if sets else DEFAULT_HELDOUT


def default_training_dirs(data: Path = DEFAULT_DIR.parent) -> list[Path]:
    """The training sets used when none is named: the labeled set, every ``blind_train*`` set, and
    every held-out set but the newest (retired into training after it was measured)."""
    blind = sorted(p for p in data.glob("blind_train*") if p.is_dir() and (p / LABELS_FILE).exists())
    return [data / DEFAULT_DIR.name, *blind, *heldout_dirs(data)[:-1]]


def evaluate_any(table: PriorityTable, directory: Path) -> EvalReport:
    """A set in either label format: the table's own keys (:func:`evaluate`) or the coarse labels of
    a blind-written set (:func:`evaluate_heldout`), whichever its ``labels.toml`` is written in."""
    try:
        return evaluate(table, directory)
    except EvalError as fine:
        try:
            return evaluate_heldout(table, directory)
        except EvalError:
            raise fine from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``mailbot rules eval``; 0 when it ran (and met --fail-under), else 1/2."""
    parser = argparse.ArgumentParser(
        prog="mailbot rules eval", description="Measure the priority table on labeled sets of mails."
    )
    parser.add_argument("dir", nargs="?", type=Path, default=None,
                        help=f"a training set: directory of .eml files and {LABELS_FILE} (default: tests/data/labeled, "
                             "every tests/data/blind_train* set and every held-out set but the newest)")
    parser.add_argument("--train", type=Path, action="append", default=[], metavar="DIR",
                        help="a further training set (repeatable); with DIR or --train only the sets named are used")
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE,
                        help="priority table to measure (default: config/priorities.toml)")
    parser.add_argument("--fail-under", type=float, default=None, metavar="SHARE",
                        help="exit 1 when category, priority or missing accuracy of a training set is below SHARE")
    parser.add_argument("--heldout", type=Path, action="append", default=[], metavar="DIR",
                        help="a held-out set, reported as figures only (repeatable; default: the newest "
                             "tests/data/heldout* set, the others being retired into training)")
    parser.add_argument("--no-heldout", action="store_true", help="report the training sets only")
    parser.add_argument("--heldout-details", action="store_true",
                        help="also list the held-out mails that went wrong (whoever reads it may no longer tune on them)")
    args = parser.parse_args(argv)
    named = ([args.dir] if args.dir is not None else []) + list(args.train)
    train_dirs = named or default_training_dirs()
    held_dirs = [] if args.no_heldout else (list(args.heldout) or [default_heldout_dir()])
    try:
        table = load_priority_table(args.table)
        reports = [evaluate_any(table, directory) for directory in train_dirs]
        heldouts = [evaluate_heldout(table, directory) for directory in held_dirs]
    except (RulesConfigError, EvalError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    for report in reports:
        sys.stdout.write("== Training set (the rules are tuned on it) ==\n" + format_report(report) + "\n")
    for heldout in heldouts:
        sys.stdout.write("== Held-out set (written blind; never tune on it) ==\n"
                         + format_report(heldout, details=args.heldout_details) + "\n")
    if heldouts or len(reports) > 1:
        sys.stdout.write(format_summary(reports, heldouts))
    if args.fail_under is not None:
        for report in reports:
            worst = min(report.category_accuracy, report.priority_accuracy, report.missing_accuracy)
            if worst < args.fail_under:
                print(f"below the floor {args.fail_under:g} in {report.directory}: lowest accuracy {worst:.3f}",
                      file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
