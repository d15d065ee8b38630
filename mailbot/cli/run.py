"""The mailboxes: ``poll --once``, ``run`` (the service, one thread per mailbox) and ``status``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any

from mailbot.mail import intake

log = logging.getLogger("mailbot")


def poll(apps: list[Any], multi: bool) -> int:
    """``poll --once`` for every helpdesk: a mailbox that fails is reported and the others go on."""
    from mailbot.mail.oauth import OAuthError
    from mailbot.ops import health
    from mailbot.ops.poller import PollStats, flush_outbox, poll_once

    failed = 0
    for app in apps:
        imap = app.settings.imap
        prefix = f"helpdesk {app.settings.helpdesk_key}: " if multi else ""
        try:
            stats = poll_once(app)
        except Exception as exc:
            failed += 1
            line = intake.describe_failure(imap, exc)
            log.error("%s%s", prefix, line)
            log.debug("poll of %s failed", imap.username, exc_info=True)
            if not isinstance(exc, OAuthError):  # OAuth2 refusals are recorded by poll_once itself
                health.error(app, imap, line)
            # The mail already owed by this helpdesk still goes out (its SMTP account may be fine).
            stats = PollStats()
            try:
                flush_outbox(app, stats)
            except Exception:
                log.exception("%soutbox flush failed", prefix)
            print(f"{prefix}FAILED: {line}; " + stats.line().split("; ", 1)[1])
            continue
        print(prefix + stats.line())
    return 1 if failed else 0


def status(apps: list[Any], args: argparse.Namespace, multi: bool) -> int:
    from mailbot.ops import status as health_status

    reports = [health_status.gather(app, offline=args.offline, expect_run=args.expect_run) for app in apps]
    if not multi:
        report = reports[0]
        if args.json:
            print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        else:
            sys.stdout.write(health_status.render_text(report))
        return 0 if report.healthy else 1
    # Several helpdesks: each one's report, and the deployment is healthy when every one is.
    healthy = all(r.healthy for r in reports)
    keys = [app.settings.helpdesk_key for app in apps]
    if args.json:
        print(json.dumps({
            "healthy": healthy,
            "problems": [f"{key}: {p}" for key, r in zip(keys, reports, strict=True) for p in r.problems],
            "checked_at": reports[0].checked_at,
            "helpdesks": [{"key": key, "name": app.settings.helpdesk.name, **r.as_dict()}
                          for key, app, r in zip(keys, apps, reports, strict=True)],
        }, indent=2, ensure_ascii=False))
    else:
        print(f"mailbot deployment: {'healthy' if healthy else 'UNHEALTHY'} ({len(apps)} helpdesks)")
        for key, app, r in zip(keys, apps, reports, strict=True):
            sys.stdout.write(f"\n[{key}] {app.settings.helpdesk.name} <{app.settings.helpdesk.address}>\n")
            sys.stdout.write(health_status.render_text(r))
    return 0 if healthy else 1


#: ``mailbot run`` exit code when another run holds the mailbox (the instance lock).
EXIT_LOCKED = 3


def run(apps: list[Any]) -> int:
    from mailbot.ops import fdlimit, instancelock

    fdlimit.raise_to(fdlimit.needed(apps))  # hundreds of mailboxes pass the common soft limit of 1024
    # The deployment's lock: every mailbox it serves (a second run of any of them exits at once).
    locks: list[Any] = []

    def release_all() -> None:
        for lock in reversed(locks):
            if lock is not None:
                lock.release()

    for app in apps:
        try:
            locks.append(instancelock.acquire(app))
        except instancelock.LockHeld as exc:
            log.error("%s", exc)
            release_all()
            return EXIT_LOCKED
    app = apps[0]
    server = None
    if app.settings.metrics.enabled:
        from mailbot.ops.metrics import MetricsServer

        try:
            server = MetricsServer(app).start()
        except OSError as exc:
            m = app.settings.metrics
            log.error("metrics: cannot listen on %s:%d: %s", m.host, m.port, exc.strerror or exc)
            release_all()
            return 1
    try:
        return serve(apps)
    finally:
        if server is not None:
            server.stop()
        release_all()


def serve(apps: list[Any]) -> int:
    """Serve every helpdesk: a thread per mailbox, shared pools for the rest (``ops.fleet``), one stop for all."""
    from mailbot.ops import fleet

    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            # Second signal: leave at once (no waiting for the outbox thread or the interpreter).
            log.warning("signal %d again: exiting now", signum)
            os._exit(1)
        log.info("signal %d: finishing the mail in hand, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    # A thread per mailbox; sending, SLA jobs and the digest in pools shared by every helpdesk.
    fleet.serve(apps, stop)
    return 0
