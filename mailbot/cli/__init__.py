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
"""

from __future__ import annotations

import argparse
import os
import sys

from mailbot.cli import (
    addresses,
    config_check,
    oauth,
    outbox,
    privacy,
    quarantine,
    reports,
    run,
    tickets,
    web,
)
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
        return config_check.check_config(settings)
    if args.command == "oauth":
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
    app = apps[0]
    multi = len(settings.per_helpdesk()) > 1
    if args.command == "poll":
        return run.poll(apps, multi)
    if args.command == "run":
        return run.run(apps)
    if args.command == "web":
        return web.link(apps, args.link) if args.link else web.web(apps)
    if args.command == "status":
        return run.status(apps, args, multi and only is None)
    if args.command == "report":
        return reports.report_sla(apps, args)
    if args.command == "outbox":
        return outbox.command(app, args, only)
    if args.command == "addresses":
        return addresses.command(app, args, only)
    if args.command == "tickets" and args.action == "list":
        return tickets.list_tickets(app, args, only, multi)
    if args.command == "tickets":
        return tickets.show_ticket(apps, settings, args, only)
    if args.command == "quarantine" and args.action == "list":
        return quarantine.list_entries(app, only, multi)
    if args.command == "quarantine":
        return quarantine.retry(apps, settings, args)
    if args.command == "answers":
        return reports.answers(app, args)
    if args.command in {"purge", "person"}:
        return privacy.command(app, args)
    raise AssertionError(args)
