"""Drive intake: fetch a batch, process each mail in its own transaction, then move it.

``poll_once`` empties the mailbox and flushes the outbox (``mailbot poll --once``);
``run_forever`` keeps an IMAP connection, waits with IDLE when the server offers it,
reconnects with backoff on network errors, and lets APScheduler flush the outbox.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from imap_tools import BaseMailBox

from mailbot import intake, outbox
from mailbot.service import App, process_raw

log = logging.getLogger(__name__)


@dataclass
class PollStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    smtp_error: str = ""

    def line(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.outcomes.items())] or ["no new mail"]
        text = "processed: " + ", ".join(parts) + f"; outbox sent={self.sent} deferred={self.deferred} failed={self.failed}"
        return text + (f" (smtp: {self.smtp_error})" if self.smtp_error else "")


def drain(app: App, box: BaseMailBox, stats: PollStats, stop: threading.Event | None = None) -> int:
    """Process every mail waiting in the intake folder; returns how many were handled."""
    imap = app.settings.imap
    handled = 0
    while True:
        batch = list(intake.fetch_batch(box, imap.batch_size))
        if not batch:
            return handled
        for item in batch:
            outcome = process_raw(app, item.raw, datetime.now(timezone.utc))
            # Only now, with the transaction committed, may the mail leave the inbox.
            target = imap.quarantine_folder if outcome.kind == "quarantined" else imap.processed_folder
            intake.move(box, item.uid, target)
            stats.outcomes[outcome.kind] += 1
            handled += 1
            log.info("mail uid=%s -> %s %s %s", item.uid, outcome.kind, outcome.ticket_number or "", outcome.reason)
            if stop is not None and stop.is_set():
                return handled


def flush_outbox(app: App, stats: PollStats | None = None) -> None:
    while True:
        result = outbox.flush(app.factory, app.settings.smtp)
        if stats is not None:
            stats.sent += result.sent
            stats.deferred += result.deferred
            stats.failed += result.failed
            stats.smtp_error = stats.smtp_error or result.error
        if result.sent == 0 or result.error:
            return


def poll_once(app: App) -> PollStats:
    stats = PollStats()
    box = intake.connect(app.settings.imap)
    try:
        intake.ensure_folders(box, app.settings.imap)
        drain(app, box, stats)
    finally:
        box.logout()
    flush_outbox(app, stats)
    return stats


def run_forever(app: App, stop: threading.Event) -> None:
    """The long-running service loop; returns when ``stop`` is set."""
    imap = app.settings.imap
    scheduler = BackgroundScheduler(timezone=app.settings.helpdesk.timezone)
    scheduler.add_job(flush_outbox, "interval", args=[app], seconds=min(30.0, imap.poll_interval),
                      id="outbox", max_instances=1, coalesce=True)
    scheduler.start()
    delay = 1.0
    outage_logged = False
    try:
        while not stop.is_set():
            try:
                box = intake.connect(imap)
            except Exception as exc:  # noqa: BLE001 - network and auth errors: wait and retry
                if not outage_logged:
                    log.error("imap unavailable (%s: %s); retrying with backoff", type(exc).__name__, exc)
                    outage_logged = True
                stop.wait(delay)
                delay = min(delay * 2, 300.0)
                continue
            if outage_logged:
                log.info("imap connection restored")
            outage_logged, delay = False, 1.0
            try:
                intake.ensure_folders(box, imap)
                idle_ok = imap.use_idle and "IDLE" in box.client.capabilities
                while not stop.is_set():
                    stats = PollStats()
                    if drain(app, box, stats, stop):
                        flush_outbox(app, stats)
                        log.info(stats.line())
                    if idle_ok:
                        # Wake at least every poll_interval (and within 5 s of a stop request).
                        deadline = time.monotonic() + imap.poll_interval
                        while not stop.is_set() and time.monotonic() < deadline:
                            if box.idle.wait(timeout=5):
                                break
                    else:
                        stop.wait(imap.poll_interval)
            except Exception as exc:  # noqa: BLE001 - a dropped connection: reconnect
                log.error("imap connection lost (%s: %s); reconnecting", type(exc).__name__, exc)
                outage_logged = True
            finally:
                try:
                    box.logout()
                except Exception:  # noqa: BLE001 - already broken
                    pass
    finally:
        scheduler.shutdown(wait=True)
        flush_outbox(app)
