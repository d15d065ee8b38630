"""``report sla`` and ``answers list|eval``: figures about the helpdesk and its canned answers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def report_sla(apps: list[Any], args: argparse.Namespace) -> int:
    """``report sla --from --to [--format]``: each helpdesk's report on its own calendar."""
    from mailbot.ops import report

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
