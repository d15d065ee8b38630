"""Measure the priority table on a labeled set of mails (``mailbot rules eval``, see :mod:`mailbot.ops.rules_eval_cli`).

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

import dataclasses
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from mailbot.core.domain import InboundMail, RuleHit
from mailbot.core.parse import parse_mail
from mailbot.core.parse.reply import is_client_tagline
from mailbot.core.rules import PriorityTable, classify, detect_items
from mailbot.mail import pdftext
from mailbot.settings.config import PROJECT_ROOT

__all__ = [
    "CATEGORY_MAP",
    "EvalError",
    "EvalReport",
    "HeldoutReport",
    "HeldoutResult",
    "ITEM_MAP",
    "MailResult",
    "evaluate",
    "evaluate_heldout",
    "format_report",
    "fraction",
    "reply_text_check",
]

DEFAULT_DIR = PROJECT_ROOT / "tests" / "data" / "labeled"
DEFAULT_HELDOUT = PROJECT_ROOT / "tests" / "data" / "heldout"
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

    @property
    def item_tp(self) -> int:
        """Missing items the rules asked for that the label expects too."""
        return len(set(self.missing) & self.expected_missing)


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
            tp += r.item_tp
            predicted += len(set(r.missing))
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
    def item_f1(self) -> float:
        p, r = self.item_precision, self.item_recall
        return 2 * p * r / (p + r) if p + r else 0.0

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


def _read(path: Path) -> InboundMail:
    """A mail of a set, with the text of its PDFs read as the service reads it (``mail.pdftext``;
    the service reads them only when data is missing, which gives the same outcome)."""
    mail = parse_mail(path.read_bytes())
    return dataclasses.replace(mail, attachments=pdftext.with_pdf_text(mail.attachments))


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
        mail = _read(directory / name)
        decision = classify(
            table, subject=mail.subject, text=mail.new_text, attachments=mail.attachments, now=mail.date,
            signature=mail.signature,
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
# The held-out set: written blind, coarse labels, mapped to the table's keys
# --------------------------------------------------------------------------------------------

#: Held-out category -> the table categories that count as right. ``"*default*"`` stands for the
#: table's default category. Fixed before any result was seen: never change it to improve numbers.
CATEGORY_MAP: dict[str, frozenset[str]] = {
    "akun_login": frozenset({"akun_lupa_password", "akun_login", "akun_roaming"}),
    "akun_verifikasi": frozenset({"akun_verifikasi", "akun_registrasi", "akun_perubahan_data"}),
    "upload_penawaran": frozenset({"tender_upload", "tender_dekripsi"}),
    "jadwal_tender": frozenset({"tender_jadwal", "tender_proses"}),
    "sistem_down": frozenset({"spse_down"}),
    "katalog": frozenset({"pertanyaan_umum", "pelatihan", "*default*"}),
    "lainnya": frozenset({"pertanyaan_umum", "pelatihan", "*default*"}),
}

#: Table item key -> the held-out missing-item labels it answers. Items absent here (``peran``,
#: ``lpse``) answer none: asking for them is a false positive. The table items ``npwp`` and
#: ``nama_perusahaan`` (added with issue 21) answer the labels of the same name, and the group
#: ``identitas_akun`` ("user id, or a vendor's NPWP") answers either, once, as
#: ``pesan_error_atau_screenshot`` does.
ITEM_MAP: dict[str, frozenset[str]] = {
    "kode_tender": frozenset({"kode_tender"}),
    "user_id": frozenset({"user_id"}),
    "npwp": frozenset({"npwp"}),
    "nama_perusahaan": frozenset({"nama_perusahaan"}),
    "identitas_akun": frozenset({"user_id", "npwp"}),
    "screenshot": frozenset({"screenshot"}),
    "pesan_error": frozenset({"pesan_error"}),
    "pesan_error_atau_screenshot": frozenset({"screenshot", "pesan_error"}),
    "waktu_kejadian": frozenset({"waktu_kejadian"}),
    "browser": frozenset({"browser"}),
}
HELDOUT_ITEMS = frozenset({"kode_tender", "user_id", "screenshot", "pesan_error", "waktu_kejadian", "browser",
                           "npwp", "nama_perusahaan"})


def _matched_items(predicted: tuple[str, ...], expected: frozenset[str]) -> int:
    """How many predicted table items answer a distinct expected label (a small bipartite matching)."""
    best = 0

    def walk(index: int, used: frozenset[str], count: int) -> None:
        nonlocal best
        if index == len(predicted):
            best = max(best, count)
            return
        for label in ITEM_MAP.get(predicted[index], frozenset()) & expected - used:
            walk(index + 1, used | {label}, count + 1)
        walk(index + 1, used, count)

    walk(0, frozenset(), 0)
    return best


def _norm_line(line: str) -> str:
    return " ".join(line.split())


def reply_text_check(expected: str, got: str) -> tuple[bool, bool]:
    """(every line of the user's ``expected`` new text is in ``got``, ``got`` has no other line).

    A line the mail app added ("Sent from Yahoo Mail on Android") is not one of the user's lines:
    the bot drops it on purpose, so it is not required (blind writers included it with the signature)."""
    want = [_norm_line(line) for line in expected.splitlines() if _norm_line(line) and not is_client_tagline(line)]
    have = [_norm_line(line) for line in got.splitlines() if _norm_line(line)]
    joined = " ".join(have)
    present = all(line in have or line in joined for line in want)
    wanted = " ".join(want)
    clean = all(line in want or line in wanted for line in have)
    return present, clean


@dataclass(frozen=True)
class HeldoutResult:
    """One held-out mail; right when the table's answer falls in the mapped set of the coarse label."""

    file: str
    expected_category: str  # the coarse held-out label
    expected_priority: str
    expected_missing: frozenset[str]  # held-out item labels
    allowed_categories: frozenset[str]  # table keys that count as right
    category: str
    priority: str
    missing: tuple[str, ...]  # table item keys
    matched: bool
    hits: tuple[RuleHit, ...]
    note: str = ""
    thread_of: str = ""  # a reply: the file of the mail it answers (its ticket), when in the set
    expected_reply_text: str | None = None
    reply_text: str | None = None

    @property
    def category_ok(self) -> bool:
        return self.category in self.allowed_categories

    @property
    def priority_ok(self) -> bool:
        return self.priority == self.expected_priority

    @property
    def item_tp(self) -> int:
        return _matched_items(self.missing, self.expected_missing)

    @property
    def missing_ok(self) -> bool:
        return self.item_tp == len(self.missing) == len(self.expected_missing)

    @property
    def ok(self) -> bool:
        return self.category_ok and self.priority_ok and self.missing_ok and self.reply_ok is not False

    @property
    def reply_check(self) -> tuple[bool, bool] | None:
        if self.expected_reply_text is None:
            return None
        return reply_text_check(self.expected_reply_text, self.reply_text or "")

    @property
    def reply_ok(self) -> bool | None:
        check = self.reply_check
        return None if check is None else all(check)


@dataclass(frozen=True)
class HeldoutReport(EvalReport):
    """The held-out figures; the same measures as :class:`EvalReport`, plus the reply text."""

    @property
    def replies(self) -> tuple[HeldoutResult, ...]:
        return tuple(r for r in self.results if isinstance(r, HeldoutResult) and r.expected_reply_text is not None)

    @property
    def reply_correct(self) -> int:
        return sum(bool(r.reply_ok) for r in self.replies)

    @property
    def reply_lines_present(self) -> int:
        return sum(bool(r.reply_check and r.reply_check[0]) for r in self.replies)

    @property
    def reply_no_history(self) -> int:
        return sum(bool(r.reply_check and r.reply_check[1]) for r in self.replies)


def _load_heldout_labels(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"{path}: labels file does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise EvalError(f"{path.name}: not valid TOML: {exc}") from None
    for name, entry in data.items():
        where = f"{path.name}: [{name!r}]"
        if not isinstance(entry, dict):
            raise EvalError(f"{where}: must be a table")
        if entry.get("category") not in CATEGORY_MAP:
            raise EvalError(f"{where}.category: {entry.get('category')!r} is not a held-out category")
        missing = entry.get("missing")
        if not isinstance(missing, list) or any(key not in HELDOUT_ITEMS for key in missing):
            raise EvalError(f"{where}.missing: must be a list of held-out item labels")
    return data


def evaluate_heldout(table: PriorityTable, directory: Path) -> HeldoutReport:
    """Classify the held-out set and compare with its coarse labels through the fixed maps.

    A reply that answers a mail of the set belongs to that mail's ticket: its category and
    priority are the ticket's, and its missing items are the ticket's minus what the reply
    brought (the same detection the service runs on a user reply). A reply whose original is
    not in the set is classified on its own.
    """
    directory = Path(directory)
    labels = _load_heldout_labels(directory / LABELS_FILE)
    files = sorted(p.name for p in directory.glob("*.eml"))
    unlabeled = [name for name in files if name not in labels]
    if unlabeled:
        raise EvalError(f"{unlabeled[0]} has no entry in {LABELS_FILE}")
    mails = {name: _read(directory / name) for name in files}
    by_id = {mail.message_id: name for name, mail in mails.items()}
    decisions = {
        name: classify(table, subject=mail.subject, text=mail.new_text, attachments=mail.attachments, now=mail.date,
                       signature=mail.signature)
        for name, mail in mails.items()
    }
    results: list[HeldoutResult] = []
    for name in files:
        mail, label, decision = mails[name], labels[name], decisions[name]
        original = next((by_id[mid] for mid in mail.thread_ids if mid in by_id and by_id[mid] != name), "")
        category, priority, matched, hits = decision.category, decision.priority, decision.matched, decision.hits
        missing = tuple(m.key for m in decision.missing)
        if original:
            ticket = decisions[original]
            arrived = detect_items(table, mail.new_text, mail.attachments, mail.signature)
            category, priority, matched = ticket.category, ticket.priority, ticket.matched
            missing = tuple(m.key for m in ticket.missing if m.key not in arrived)
            hits = (RuleHit("thread", f"a reply to {original}; arrived: {', '.join(sorted(arrived)) or '-'}"),
                    *ticket.hits)
        allowed = {table.default.key if key == "*default*" else key for key in CATEGORY_MAP[str(label["category"])]}
        reply_expected = label.get("reply_new_text")
        results.append(
            HeldoutResult(
                file=name,
                expected_category=str(label["category"]),
                expected_priority=str(label["priority"]),
                expected_missing=frozenset(str(x) for x in cast(list[object], label["missing"])),
                allowed_categories=frozenset(allowed),
                category=category,
                priority=priority,
                missing=missing,
                matched=matched,
                hits=tuple(hits),
                note=str(label.get("why", "")),
                thread_of=original,
                expected_reply_text=None if reply_expected is None else str(reply_expected),
                reply_text=mail.new_text if reply_expected is not None else None,
            )
        )
    # A HeldoutResult answers every question EvalReport asks of a MailResult (same fields, same
    # properties), with the coarse label's allowed set behind them.
    return HeldoutReport(directory=str(directory), table=table.source,
                         results=cast(tuple[MailResult, ...], tuple(results)))


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def fraction(part: int, whole: int) -> str:
    """``part/whole`` and its percentage, as the reports print it."""
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


def format_report(report: EvalReport, *, details: bool = True) -> str:
    """A plain-text report: accuracies, the confusion table, then every mail that went wrong.

    ``details=False`` gives the figures only: what is printed for the held-out set by default,
    so that reading the report does not turn the held-out mails into tuning material.
    """
    tp, predicted, expected = report.item_counts
    total = report.total
    lines = [
        f"Rules evaluation: {total} mails in {report.directory}",
        f"Table: {report.table}",
        "",
        f"  category accuracy          {fraction(report.category_correct, total)}",
        f"  priority accuracy          {fraction(report.priority_correct, total)}",
        f"  missing items (exact set)  {fraction(report.missing_correct, total)}",
        f"  missing items precision    {fraction(tp, predicted)}",
        f"  missing items recall       {fraction(tp, expected)}",
        f"  missing items F1           {report.item_f1:.2f}",
    ]
    if isinstance(report, HeldoutReport):
        replies = len(report.replies)
        lines += [
            f"  reply new text right       {fraction(report.reply_correct, replies)}",
            f"    user's lines all present {fraction(report.reply_lines_present, replies)}",
            f"    no quoted history        {fraction(report.reply_no_history, replies)}",
        ]
    if not details:
        lines += ["", "(figures only: per-mail results are not shown for a held-out set; --heldout-details shows them)"]
        return "\n".join(lines) + "\n"
    lines.append("")
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
        if isinstance(r, HeldoutResult) and r.reply_ok is False:
            present, clean = r.reply_check or (True, True)
            what = " and ".join(x for x, bad in (("user lines lost", not present), ("quoted history kept", not clean))
                                if bad)
            lines.append(f"  reply text: {what}; got {(r.reply_text or '')[:300]!r}")
        for hit in r.hits:
            lines.append(f"    {hit.rule}: {hit.reason}")
    return "\n".join(lines) + "\n"
