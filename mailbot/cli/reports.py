"""``report sla`` and ``answers list|eval``: figures about the helpdesk and its canned answers."""

from __future__ import annotations

import argparse
import calendar
import json
import sys
from datetime import date, datetime
from typing import Any


def default_period(date_from: date | None, date_to: date | None, today: date) -> tuple[date, date]:
    """The period of ``report sla``: what is given, the rest from the month of the date given
    (``--from 2026-03-10``: to 31 March; ``--to 2026-03-20``: from 1 March), else this month."""
    anchor = date_from or date_to or today
    first = anchor.replace(day=1)
    last = anchor.replace(day=calendar.monthrange(anchor.year, anchor.month)[1])
    return date_from or first, date_to or last


def report_sla(apps: list[Any], args: argparse.Namespace) -> int:
    """``report sla [--from] [--to] [--format]``: each helpdesk's report on its own calendar
    (by default this month, in the first helpdesk's time zone)."""
    from mailbot.ops import report

    args.date_from, args.date_to = default_period(args.date_from, args.date_to, datetime.now(apps[0].zone).date())
    if args.date_to < args.date_from:
        print("report: --to is before --from", file=sys.stderr)
        return 2
    if len(apps) > 1 and args.fmt in {"csv", "html"}:
        keys = ", ".join(a.settings.helpdesk_key for a in apps)
        print(f"report: --format {args.fmt} is one helpdesk's report: add --helpdesk KEY ({keys})", file=sys.stderr)
        return 2
    # Each helpdesk's report on its own calendar, time zone and priority table.
    outputs: dict[str, str] = {}
    for app in apps:
        figures = report.build(app, args.date_from, args.date_to)
        zone_name = figures.start.tzname() or ""
        title = f"Kepatuhan standar waktu SOP - {app.settings.helpdesk.name}"
        outputs[app.settings.helpdesk_key] = report.render(figures, args.fmt, title=title, zone_name=zone_name)
    if len(apps) == 1:
        sys.stdout.write(next(iter(outputs.values())))
    elif args.fmt == "json":
        print(json.dumps({key: json.loads(text) for key, text in outputs.items()}, indent=2, ensure_ascii=False))
    else:
        for app in apps:
            sys.stdout.write(f"== {app.settings.helpdesk_key}: {app.settings.helpdesk.name} ==\n")
            sys.stdout.write(outputs[app.settings.helpdesk_key] + "\n")
    return 0


def answers(app: Any, args: argparse.Namespace) -> int:
    """``answers list`` and ``answers eval [DIR]`` (top-3 hit rate of the suggestions)."""
    if args.action == "list":
        for a in app.answers.answers:
            auto = " (auto)" if a.auto_answer else ""
            print(f"#jawab {a.id:<3} {a.key:24} {a.title}{auto}  [{', '.join(a.categories)}]")
        return 0
    from pathlib import Path

    from mailbot.ops.answers_eval import suggestion_hit_rate
    from mailbot.settings.config import PROJECT_ROOT

    directory = Path(args.dir) if args.dir else PROJECT_ROOT / "tests" / "data" / "labeled"
    result = suggestion_hit_rate(app.answers, app.table, directory)
    print(f"top-3 suggestion hit rate: {result.hits}/{result.total} = {result.rate:.1%}")
    for name in result.misses:
        print(f"  miss: {name}")
    return 0
