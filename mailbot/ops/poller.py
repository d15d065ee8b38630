"""Drive intake: fetch a batch, process each mail in its own transaction, then move it.

``poll_once`` empties the mailbox and flushes the outbox (``mailbot poll --once``);
``run_forever`` keeps an IMAP connection, waits with IDLE when the server offers it,
reconnects with backoff on any connection or login error (one error line per outage),
sends the outbox from a thread of its own, so the intake never waits for SMTP, and runs
the periodic jobs (SLA tick and digest, ``mailbot.service.sla_jobs``) with APScheduler.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from imap_tools import BaseMailBox
from sqlalchemy.orm import Session

from mailbot.mail import intake, oauth, outbox
from mailbot.mail.outbox import OnFailed
from mailbot.ops import health, logins, metrics
from mailbot.service import sla_due
from mailbot.service.app import App
from mailbot.service.outcome import BUSY, Outcome
from mailbot.storage import errors, store
from mailbot.storage.models import Outbox

log = logging.getLogger(__name__)

#: The service's reason for a mail seen before whose first outcome was quarantine.
ALREADY_QUARANTINED = "already quarantined"

#: Longest wait between IMAP reconnection attempts.
MAX_RECONNECT_DELAY = 300.0


#: Mails processed at once in this process, over all its mailboxes (``limit_processing``; None: no cap).
_processing: threading.BoundedSemaphore | None = None


def limit_processing(limit: int | None) -> None:
    """Cap the mails processed at once by this process (``[workers] max_concurrent_mails``).

    Hundreds of mailboxes that each get a mail at the same moment would otherwise process them all
    at once, on one interpreter lock and one database: every mail then finishes late, together, and
    the memory of all of them is held at the same time. With a cap they finish one after another.
    """
    global _processing
    _processing = threading.BoundedSemaphore(limit) if limit else None


def _processing_slot() -> contextlib.AbstractContextManager[object]:
    return _processing if _processing is not None else contextlib.nullcontext()


@dataclass
class PollStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    smtp_error: str = ""
    outbox_elsewhere: bool = False  # SQLite: another process was sending the outbox (see outbox.flush)

    def add_sending(self, other: PollStats) -> None:
        """Count in another flush's replies and its first SMTP error."""
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed
        self.smtp_error = self.smtp_error or other.smtp_error

    def line(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.outcomes.items())] or ["no new mail"]
        text = "processed: " + ", ".join(parts) + f"; outbox sent={self.sent} deferred={self.deferred} failed={self.failed}"
        return text + (f" (smtp: {self.smtp_error})" if self.smtp_error else "")


def process_raw(app: App, raw: bytes, now: datetime) -> Outcome:
    """``service.inbound.process_raw``, imported with the first mail: a poll of an empty mailbox
    never loads the mail pipeline (the rules' state machine, the templates' context, ...)."""
    from mailbot.service.inbound import process_raw as process

    return process(app, raw, now)


def drain(app: App, box: BaseMailBox, stats: PollStats, stop: threading.Event | None = None,
          progress: Callable[[], None] | None = None, committed: Callable[[], None] | None = None,
          after_batch: Callable[[], None] | None = None) -> int:
    """Process every mail waiting in the intake folder; returns how many were handled.

    With ``stop`` set, returns after the mail in hand (committed and moved). ``progress`` is
    called after each successful fetch (the service records it as a poll, see ``health``);
    ``committed`` after each mail whose transaction committed (the service wakes its sender);
    ``after_batch`` after each batch's mails were moved (``poll --once`` sends their replies).
    A mail another worker is processing (outcome ``busy``) stays in the inbox for that worker
    and is not fetched again in this drain.

    The batch is streamed (imap-tools fetches it in bulks), and the mails it committed are
    moved together after it (one UID MOVE per target folder), never before their commit.
    """
    imap = app.settings.imap
    handled = 0
    others: set[str] = set()  # UIDs left to another worker
    while True:
        batch = intake.fetch_batch(box, imap.batch_size, skip=others)
        first = next(batch, None)
        if progress is not None:
            progress()
        if first is None:
            return handled
        done: dict[str, list[str]] = {}  # target folder -> UIDs of committed mails, moved after the batch
        try:
            for item in itertools.chain((first,), batch):
                with _processing_slot():
                    started = time.perf_counter()
                    outcome = process_raw(app, item.raw, datetime.now(timezone.utc))
                metrics.observe_mail(outcome.kind, time.perf_counter() - started, app.settings.helpdesk_key)
                # Only now, with the transaction committed, may the mail leave the inbox. A mail seen
                # again after a crash goes where its first outcome sent it.
                quarantined = outcome.kind == "quarantined" or (
                    outcome.kind == "duplicate" and outcome.reason == ALREADY_QUARANTINED)
                target = imap.quarantine_folder if quarantined else imap.processed_folder
                if outcome.kind == BUSY:
                    others.add(item.uid)  # the worker that has it moves it after its commit
                elif outcome.kind == "duplicate":
                    intake.move_seen(box, item.uid, item.raw, target, imap.folder)
                else:
                    done.setdefault(target, []).append(item.uid)
                    if committed is not None:
                        committed()
                stats.outcomes[outcome.kind] += 1
                if outcome.kind == BUSY:
                    log.debug("mail uid=%s left to another worker: %s", item.uid, outcome.reason)
                else:
                    handled += 1
                    log.info("mail uid=%s -> %s %s %s", item.uid, outcome.kind, outcome.ticket_number or "",
                             outcome.reason)
                if stop is not None and stop.is_set():
                    break
        except BaseException:
            # What committed may still leave the inbox; if the connection is what broke, those mails
            # come back after the reconnect and are recognised by their Message-ID (duplicates).
            with contextlib.suppress(Exception):
                _move_done(app, box, done)
            raise
        _move_done(app, box, done)
        if after_batch is not None:
            after_batch()
        if stop is not None and stop.is_set():
            return handled


def _move_done(app: App, box: BaseMailBox, done: dict[str, list[str]]) -> None:
    if not done:
        return
    bind = app.factory.kw.get("bind")
    if bind is not None:
        store.sync_to_disk(bind)  # the commits of these mails are on disk before they leave the inbox
    for folder, uids in done.items():
        intake.move(box, uids, folder)
    done.clear()


def flush_outbox(app: App, stats: PollStats | None = None, stop: threading.Event | None = None) -> None:
    """Send everything due (in rounds of up to 1000), reporting failed replies to staff."""
    notify = _failure_notifier(app)
    while True:
        result = outbox.flush(app.factory, app.settings.smtp, on_failed=notify, stop=stop,
                              helpdesk=app.settings.helpdesk_key)
        _record_smtp(app, result)
        if stats is not None:
            stats.sent += result.sent
            stats.deferred += result.deferred
            stats.failed += result.failed
            stats.smtp_error = stats.smtp_error or result.error
            stats.outbox_elsewhere = stats.outbox_elsewhere or result.elsewhere
        # Another round while mail went out or failed (a failure may have queued a notice to staff).
        if (result.sent == 0 and result.failed == 0) or result.error or (stop is not None and stop.is_set()):
            return


def _failure_notifier(app: App) -> OnFailed:
    """``delivery_failure_notifier(app)``, made when a mail has failed for good (rare): a flush with
    nothing failing does not load the service's mail pipeline."""
    made: list[OnFailed] = []

    def notify(session: Session, row: Outbox, now: datetime, permanent: bool) -> None:
        if not made:
            from mailbot.service.delivery import delivery_failure_notifier

            made.append(delivery_failure_notifier(app))
        made[0](session, row, now, permanent)

    return notify


def _record_smtp(app: App, result: outbox.FlushResult) -> None:
    """Metrics, and the SMTP account's status: a send that worked, an error, a refused OAuth2 refresh."""
    smtp = app.settings.smtp
    metrics.observe_flush(result.sent, result.failed, app.settings.helpdesk_key)
    provider = outbox.token_provider(smtp)
    failure = provider.failure if provider is not None else None
    if failure is not None and failure.permanent and result.error:
        line = (f"{health.describe(smtp)}: OAuth2 login impossible, {failure}; renew the consent and configure a "
                f"new refresh token; replies wait in the outbox")
        if health.auth_failed(app, smtp, str(failure)):
            log.error("%s", line)
    elif result.sent:
        health.ok(app, smtp)
    elif result.error:
        health.error(app, smtp, result.error)


def poll_once(app: App) -> PollStats:
    stats = PollStats()
    imap = app.settings.imap
    try:
        box = intake.connect(imap)
    except oauth.OAuthError as exc:
        if exc.permanent:
            health.auth_failed(app, imap, str(exc))
        raise
    # One thread, batch after batch: each batch's replies go out before the next batch is fetched
    # (``imap.batch_size`` mails, 200: a backlog's first acks leave after ~2 s of processing). A
    # sender thread beside the intake, as ``run`` has for the latency of single mails, cost a
    # backlog ~10 % more CPU per mail (the two threads taking turns, replies sent a few at a time:
    # bench/README.md, "Seventh pass"). After an SMTP error the rest waits for the final flush,
    # so a failing server holds the intake up once per poll, for at most ``smtp.timeout``.
    def send_batch() -> None:
        if not stats.smtp_error:
            batch = PollStats()
            flush_round(app, batch, threading.Event(), 1.0, lambda: 0.0)
            stats.add_sending(batch)

    try:
        intake.ensure_folders(box, imap)
        drain(app, box, stats, after_batch=send_batch)
    finally:
        box.logout()
    health.ok(app, imap)
    # Deployments driven by cron get the SLA clocks too: one tick before the outbox goes out.

    try:
        now = datetime.now(timezone.utc)
        due = sla_due.due_ids(app.factory, app.settings.helpdesk_key, now)
        if due:  # the tick and its machinery are loaded only for a ticket that is due
            from mailbot.service import sla_jobs

            sla_jobs.tick(app, now, ids=due)
        flush_outbox(app, stats)  # over the connections the last batch kept (``smtp.keepalive_seconds``)
    finally:
        outbox.close_connections(app.settings.helpdesk_key)
    return stats


class OutboxWorker(threading.Thread):
    """Sends the outbox when a mail is due (``next_attempt_at``), when woken after new mail,
    and at least every ``interval`` seconds.

    After a round that sent mail, the next one starts no sooner than ``gap`` seconds later:
    woken after every committed mail during a backlog, it then sends what gathered meanwhile
    over one connection instead of one connection (TLS handshake and login) per mail. The
    first mail after a quiet time goes out at once. ``totals`` adds up every round.
    """

    def __init__(self, app: App, stop: threading.Event, interval: float, *, gap: float = 0.2) -> None:
        super().__init__(name=f"mailbot-outbox[{app.settings.helpdesk_key}]", daemon=True)
        self.app = app
        self.stop = stop
        self.interval = interval
        self.gap = gap
        self.totals = PollStats()
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        while not self.stop.is_set():
            stats = PollStats()
            wait = flush_round(self.app, stats, self.stop, self.interval, self._until_due)
            self.totals.add_sending(stats)
            if stats.sent:
                self.stop.wait(self.gap)
            self._wake.wait(wait)
            self._wake.clear()

    def _until_due(self) -> float:
        return until_due(self.app, self.interval)


#: What ``until_due`` answers for mail that is due now.
DUE_NOW = 0.05


def flush_round(app: App, stats: PollStats, stop: threading.Event, interval: float,
                until_next: Callable[[], float]) -> float:
    """One flush of ``app``'s outbox, logged; the seconds until the next (the sender loops of
    ``_Sender`` here and of ``ops.fleet`` share it). A failure is logged and waits ``interval``."""
    try:
        flush_outbox(app, stats, stop)
        # While another process sends this (SQLite) outbox, look again after the interval.
        wait = interval if stats.outbox_elsewhere else until_next()
    except Exception as exc:  # e.g. the database is busy: try again next round
        problem = errors.database_problem(exc)
        if problem is None:
            log.exception("outbox flush failed")
        else:  # a full disk is not a bug: one line, no traceback
            log.error("outbox flush failed: %s; next try in %g s", problem, interval)
        wait = interval
    if stats.sent or stats.deferred or stats.failed:
        log.info("outbox sent=%d deferred=%d failed=%d%s", stats.sent, stats.deferred, stats.failed,
                 f" (smtp: {stats.smtp_error})" if stats.smtp_error else "")
    return wait


def until_due(app: App, interval: float) -> float:
    """Seconds until the helpdesk's earliest pending mail is due (``DUE_NOW`` at least), at most ``interval``."""
    due = outbox.next_due(app.factory, app.settings.helpdesk_key)
    if due is None:
        return interval
    left = (due - datetime.now(timezone.utc)).total_seconds()
    return min(max(left, DUE_NOW), interval)


def watching_line(app: App) -> str:
    """The one line ``mailbot run`` logs per mailbox at start: what it watches and how it answers."""
    imap, smtp = app.settings.imap, app.settings.smtp
    waiting = (f"IDLE where the server offers it, renewed every {imap.idle_refresh:g} s, else every "
               f"{imap.poll_interval:g} s" if imap.use_idle else f"every {imap.poll_interval:g} s")
    return (f"watching mailbox {imap.username} at {imap.host}:{imap.port} (folder {imap.folder}, {waiting}) "
            f"for helpdesk {app.settings.helpdesk_key} <{app.settings.helpdesk.address}>; "
            f"replies through {smtp.username} at {smtp.host}:{smtp.port}")


def run_forever(app: App, stop: threading.Event) -> None:
    """The service loop of one helpdesk with its own outbox thread and scheduler; returns when
    ``stop`` is set, after the mail in hand. (``mailbot run`` serves its helpdesks with shared
    pools instead: ``mailbot.ops.fleet``.)"""
    # Imported here, not at module level: ``poll --once`` has no scheduler (1 MB of RSS with multiprocessing).
    from apscheduler.schedulers.background import BackgroundScheduler

    from mailbot.service import sla_jobs

    worker = OutboxWorker(app, stop, interval=min(30.0, app.settings.imap.poll_interval))
    worker.start()
    scheduler = BackgroundScheduler(timezone=app.settings.helpdesk.timezone)
    sla_jobs.schedule_jobs(scheduler, app)
    scheduler.start()
    try:
        watch(app, stop, worker.wake)
    finally:
        stop.set()
        worker.wake()
        scheduler.shutdown(wait=True)  # a job in progress finishes its transaction
        # Let the outbox finish the mail it is sending (the commit that records it), no more.
        worker.join(timeout=app.settings.smtp.timeout + 5)
        outbox.close_connections(app.settings.helpdesk_key, timeout=1.0)  # QUIT the kept ones


def watch(app: App, stop: threading.Event, wake: Callable[[], None], *, tick: float | None = 1.0,
          wakeup: socket.socket | None = None, beats: health.Beats | None = None) -> None:
    """Watch one mailbox until ``stop`` is set, after the mail in hand; ``wake`` tells the sender
    that replies are waiting (the sender and the SLA jobs run elsewhere). In IDLE ``stop`` is looked
    at every ``tick`` seconds (``None``: never), and at once when ``wakeup`` becomes readable
    (``intake.idle_wait``). IDLE is renewed every ``imap.idle_refresh`` seconds, less a random
    fifth: mailboxes that logged in together do not renew together.
    ``beats``: the polls after the first of each connection are noted there, and written together
    with the other mailboxes' (``health.Beats``), not in a transaction each.

    Network and login errors never end it: it reconnects with exponential backoff with full
    jitter (a random wait up to 1 s, doubling to 5 min, ``logins.Backoff``), each login through the
    process's login cap (``logins.LoginGate``), and logs one error line per outage, and one line
    when it is over.
    """
    imap = app.settings.imap
    health.run_started(app)
    log.info("%s", watching_line(app))
    last_beat = 0.0
    fresh = True  # the first poll of a connection is written at once (it may end an OAuth2 outage)

    def beat() -> None:  # a successful fetch, recorded at most every few seconds during a backlog
        nonlocal last_beat, fresh
        if time.monotonic() - last_beat >= min(5.0, imap.poll_interval / 2):
            last_beat = time.monotonic()
            if beats is None or fresh:
                health.ok(app, imap)
            else:
                beats.note(imap)
        fresh = False

    gate = logins.shared_gate(app.settings.workers.max_concurrent_logins)
    backoff = logins.Backoff(MAX_RECONNECT_DELAY)  # this mailbox's own: another's outage never slows it
    delay = 0.0
    outage_since: float | None = None
    database_since: float | None = None  # a database error (a full disk) broke off the last drain
    try:
        while not stop.is_set():
            try:
                with gate.slot(stop) as admitted:  # never more than max_concurrent_logins at once
                    if not admitted:
                        break
                    box = intake.connect(imap)
            except Exception as exc:  # network and auth errors: wait and retry
                delay = backoff.next()
                if isinstance(exc, oauth.OAuthError) and exc.permanent:
                    # Refused consent: ONE loud line per outage (also after a "connection lost" line),
                    # the status records it and the coordinator is told; the rest of the service goes on.
                    if health.auth_failed(app, imap, str(exc)):
                        log.error("%s; retrying with backoff", intake.describe_failure(imap, exc))
                        wake()  # the notice to the coordinator goes out now
                    else:
                        log.debug("%s; next try in %.0f s", intake.describe_failure(imap, exc), delay)
                    if outage_since is None:
                        outage_since = time.monotonic()
                    stop.wait(delay)
                    continue
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.error("%s; retrying with backoff", intake.describe_failure(imap, exc))
                    health.error(app, imap, intake.describe_failure(imap, exc))
                else:
                    log.debug("%s; next try in %.0f s", intake.describe_failure(imap, exc), delay)
                stop.wait(delay)
                continue
            if outage_since is not None:
                log.info("imap connection for %s restored after %.0f s", imap.username,
                         time.monotonic() - outage_since)
                outage_since = None
            fresh = True
            healthy = False  # True once this connection has logged in, selected and drained
            try:
                intake.ensure_folders(box, imap)
                idle_ok = imap.use_idle and "IDLE" in box.client.capabilities
                while not stop.is_set():
                    stats = PollStats()
                    if drain(app, box, stats, stop, progress=beat, committed=wake):
                        wake()  # replies go out from the outbox thread; intake goes on
                        log.info(stats.line())
                    if not healthy:  # this connection works: a later outage starts the backoff afresh
                        healthy = True
                        backoff.reset()
                    if database_since is not None:
                        log.info("database: works again after %.0f s", time.monotonic() - database_since)
                        database_since = None
                    if stop.is_set():
                        break
                    if idle_ok:
                        # New mail wakes IDLE at once; the renewal is the safety net (RFC 2177).
                        # Jittered, so hundreds of mailboxes started together spread their renewals.
                        refresh = imap.idle_refresh * random.uniform(0.8, 1.0)
                        log.debug("imap idle for %s (up to %.0f s)", imap.username, refresh)
                        intake.idle_wait(box, refresh, stop, tick, wakeup)
                    else:
                        stop.wait(imap.poll_interval)
            except Exception as exc:  # a dropped connection: reconnect
                database = errors.database_problem(exc)
                if database is not None:
                    # Not an IMAP outage (the mailbox is fine, the mail stays in it): the database
                    # refused the work, a full disk above all. One line per episode, then backoff.
                    delay = backoff.next()
                    if database_since is None:
                        database_since = time.monotonic()
                        log.error("%s; the mail stays in the inbox, retrying with backoff", database)
                    else:
                        log.debug("%s; next try in %.0f s", database, delay)
                    stop.wait(delay)
                    continue
                outage_since = time.monotonic()
                log.error("%s; reconnecting", intake.describe_failure(imap, exc, lost=True))
                health.error(app, imap, intake.describe_failure(imap, exc, lost=True))
                if not healthy:  # failing right after connecting, every time: do not spin
                    stop.wait(backoff.next())
            finally:
                try:
                    box.logout()
                except Exception:  # already broken
                    pass
    finally:
        health.run_stopped(app)
