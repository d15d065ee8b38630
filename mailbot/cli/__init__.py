"""Command-line entry point: ``mailbot [--config PATH] COMMAND``.

Errors the operator can fix (configuration, unreachable servers) print one line and exit
non-zero; tracebacks are for bugs only.

The commands only parse their arguments, call the rooms below (``service``, ``ops``, ...) and
print; one module per area:

- ``parser``: the argparse parser of every command;
- ``run``: ``poll --once``, ``run`` and ``status``;
- ``tickets``: ``tickets list|show``;
- ``quarantine``, ``outbox``, ``addresses``: the queues and marks the operator looks after;
- ``reports``: ``report sla`` and ``answers list|eval``;
- ``privacy``: ``purge`` and ``person export|erase``;
- ``config_check``: ``check-config``; ``oauth``: ``oauth authorize``; ``web``: ``web`` (the console);
- ``common``: row ids from the command line, the App of a helpdesk.

Each command's module is imported when that command runs: ``poll --once`` from cron (most often
on an empty mailbox) does not load the console, the reports or ``check-config``'s checks.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from mailbot.cli.parser import build_parser
from mailbot.ops import heap
from mailbot.settings import logs
from mailbot.settings.config import ConfigError, Settings
from mailbot.settings.loading import load_settings, resolve_config_path
from mailbot.settings.priorities import RulesConfigError
from mailbot.storage import store

__all__ = ["dispatch", "main"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(verbose=args.verbose)
    if args.command == "rules":
        from mailbot.ops import rules_eval_cli

        extra = [args.dir] if args.dir else []
        extra += ["--table", args.table] if args.table else []
        extra += [arg for directory in args.train or () for arg in ("--train", directory)]
        extra += [arg for directory in args.heldout or () for arg in ("--heldout", directory)]
        extra += ["--fail-under", args.fail_under] if args.fail_under else []
        extra += ["--no-heldout"] if args.no_heldout else []
        extra += ["--heldout-details"] if args.heldout_details else []
        return rules_eval_cli.main(extra)
    try:
        # ``oauth authorize`` obtains the first refresh token: the settings may have none yet.
        settings = load_settings(resolve_config_path(args.config), consent=args.command == "oauth")
        logs.configure(settings.logging, verbose=args.verbose)
        for one in settings.per_helpdesk():  # every helpdesk's passwords and secret are masked
            logs.register_settings(one)
        return dispatch(args, settings)
    except (ConfigError, RulesConfigError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # ``mailbot tickets show X | head``: the reader has gone, nothing is wrong. Later writes
        # (the interpreter's final flush) go nowhere instead of raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell tool ends


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command of ``args`` (all but ``rules``, which needs no settings)."""
    if args.command == "check-config":
        from mailbot.cli import config_check

        return config_check.check_config(settings)
    if args.command == "oauth":
        from mailbot.cli import oauth

        return oauth.authorize(settings, args)
    from mailbot.service.app import build_apps

    if args.command in {"poll", "run"}:
        heap.tune()  # the long jobs: RSS stays flat over a backlog
    if args.command == "db":
        store.upgrade(store.make_engine(settings.database.url))
        print("database schema is up to date")
        return 0
    # One App per helpdesk of the deployment, on one engine; --helpdesk KEY keeps one of them.
    only: str | None = getattr(args, "helpdesk", None)
    apps = build_apps(settings, only=only)
    multi = len(settings.per_helpdesk()) > 1
    return _command(args, settings, apps, multi, only)


def _command(args: argparse.Namespace, settings: Settings, apps: list[Any], multi: bool, only: str | None) -> int:
    """The commands that work on the helpdesks' Apps; each imports its module when it runs."""
    app = apps[0]
    command = args.command
    if command in {"poll", "run", "status"}:
        from mailbot.cli import run

        if command == "poll":
            return run.poll(apps, multi)
        return run.run(apps) if command == "run" else run.status(apps, args, multi and only is None)
    if command == "web":
        from mailbot.cli import web

        return web.link(apps, args.link) if args.link else web.web(apps)
    if command in {"report", "answers"}:
        from mailbot.cli import reports

        return reports.report_sla(apps, args) if command == "report" else reports.answers(app, args)
    if command == "outbox":
        from mailbot.cli import outbox

        return outbox.command(app, args, only)
    if command == "addresses":
        from mailbot.cli import addresses

        return addresses.command(app, args, only)
    if command == "tickets":
        from mailbot.cli import tickets

        if args.action == "list":
            return tickets.list_tickets(app, args, only, multi)
        return tickets.show_ticket(apps, settings, args, only)
    if command == "quarantine":
        from mailbot.cli import quarantine

        if args.action == "list":
            return quarantine.list_entries(app, only, multi)
        return quarantine.retry(apps, settings, args)
    if command in {"purge", "person"}:
        from mailbot.cli import privacy

        return privacy.command(app, args)
    raise AssertionError(args)
