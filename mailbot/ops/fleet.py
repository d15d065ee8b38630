"""``mailbot run`` of many helpdesks in one process: a thread per watched mailbox, shared pools
for the rest (issue 24).

A deployment may hold hundreds of mailboxes. Each watched mailbox costs one thread (its IMAP
connection, waiting in IDLE: ``poller.watch``); everything else is shared by all of them:

* :class:`SendPool`, ``[workers] sender_threads`` threads that send the outboxes. Each helpdesk
  still sends through its own SMTP account (``outbox.flush`` with its settings), and at most one
  flush of a helpdesk is in flight at a time, so a helpdesk whose SMTP server hangs holds one
  thread of the pool until its ``smtp.timeout``, never the others' mail. Which outboxes have mail
  due is asked of the whole deployment at once (``outbox.due_by_helpdesk``), so hundreds of idle
  helpdesks cost one query per ``interval``, not one each;
* one APScheduler with ``[workers] job_threads`` threads: one SLA tick a minute for every helpdesk
  at once (``sla_jobs.tick_all``: one query finds the helpdesks with due tickets, only those are
  ticked), and each helpdesk's daily digest;
* at most ``[workers] max_concurrent_mails`` mails in process at once (``poller.limit_processing``),
  so a burst of one mail per mailbox is answered one mail after another, not all late together.

So the threads are the mailboxes plus a constant: the main thread, the pool's dispatcher and
senders, the scheduler and its job threads. :class:`Fleet` starts and stops the mailboxes of this
process: all of them, or (PostgreSQL, ``[workers] share_mailboxes``) those whose lease it holds
(``mailbot.ops.leases``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from mailbot.mail import outbox
from mailbot.ops import health, poller
from mailbot.service import sla_jobs
from mailbot.service.app import App
from mailbot.storage import errors

log = logging.getLogger(__name__)

#: The APScheduler id of the SLA tick shared by all helpdesks of the process.
TICK_JOB = "sla_tick"

#: Seconds between the writes of the watchers' polls (``health.Beats``; at most a poll interval): one
#: transaction for all the mailboxes, well within the 3 poll intervals (IDLE renewals) after which
#: ``mailbot status`` calls a mailbox stale.
BEATS_EVERY = 15.0


class _Watcher:
    """One watched mailbox: its thread, its stop, and a bell that wakes its IDLE wait at once
    when the stop is set (its lease moved, the process stops). Without the bell, each watcher
    looked at its stop every few seconds: 600 mailboxes woke the process 120 times a second at
    rest, a large part of its idle CPU (issue 24)."""

    def __init__(self, name: str, body: Callable[[_Watcher], None]) -> None:
        self.thread = threading.Thread(target=body, args=(self,), name=name, daemon=True)
        self.stop = threading.Event()
        self.bell, self._ringer = socket.socketpair()
        self._ringer.setblocking(False)
        self._lock = threading.Lock()  # a ring never meets a close halfway

    def halt(self) -> None:
        """Set the stop and wake the watcher (a no-op once its thread has ended)."""
        self.stop.set()
        with self._lock, contextlib.suppress(OSError):  # closed: the watcher is gone already
            self._ringer.send(b"x")

    def close(self) -> None:
        with self._lock:
            self.bell.close()
            self._ringer.close()


@dataclass
class _Desk:
    app: App
    due: float = math.inf  # monotonic time of its next flush; inf: no mail of its known to be waiting
    not_before: float = 0.0  # after a round that sent mail: gather what comes meanwhile (``gap``)
    running: bool = False
    woken: bool = False


def seconds_until(pending: Mapping[str, datetime], now: datetime) -> dict[str, float]:
    """Seconds from ``now`` until each helpdesk's earliest pending mail is due (0: due now), from
    ``outbox.due_by_helpdesk``."""
    return {key: max(0.0, (at - now).total_seconds()) for key, at in pending.items()}


@dataclass
class SendPool:
    """Sends the outboxes of many helpdesks from ``size`` threads; one flush per helpdesk at a time.

    A helpdesk's outbox is sent when it is woken (a mail committed) and when its earliest mail is
    due (``next_attempt_at``). What is due is asked of the whole deployment at once, every
    ``interval`` seconds (``scan``: ``outbox.due_by_helpdesk``, one query), so an idle helpdesk
    costs nothing: only the helpdesks with pending mail are flushed. After a round that sent mail
    the next waits ``gap`` seconds, to send what gathered meanwhile over one connection.
    """

    stop: threading.Event
    size: int
    scan: Callable[[], Mapping[str, datetime]]
    interval: float = 30.0
    gap: float = 0.2
    _desks: dict[str, _Desk] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _ready: queue.SimpleQueue[str | None] = field(default_factory=queue.SimpleQueue)
    _threads: list[threading.Thread] = field(default_factory=list)
    _next_scan: float = 0.0  # monotonic time of the next ``scan``; at once for the first

    def add(self, app: App) -> None:
        """Serve this helpdesk's outbox; the next scan (soon) tells whether mail of its is waiting."""
        with self._cond:
            self._desks[app.settings.helpdesk_key] = _Desk(app)
            self._next_scan = min(self._next_scan, time.monotonic() + 1.0)
            self._cond.notify()

    def remove(self, key: str) -> None:
        with self._cond:
            self._desks.pop(key, None)

    def wake(self, key: str) -> None:
        with self._cond:
            desk = self._desks.get(key)
            if desk is None:
                return
            desk.woken = True
            if not desk.running:
                desk.due = min(desk.due, max(time.monotonic(), desk.not_before))
                self._cond.notify()

    def waker(self, key: str) -> Callable[[], None]:
        return lambda: self.wake(key)

    def start(self) -> SendPool:
        self._threads.append(threading.Thread(target=self._dispatch, name="mailbot-send-dispatch", daemon=True))
        self._threads += [threading.Thread(target=self._send, name=f"mailbot-sender-{i}", daemon=True)
                          for i in range(self.size)]
        for thread in self._threads:
            thread.start()
        return self

    def join(self, timeout: float) -> None:
        """After ``stop``: wait up to ``timeout`` s for the flushes in hand (each ends after its mail in hand)."""
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _dispatch(self) -> None:
        while not self.stop.is_set():
            if time.monotonic() >= self._next_scan:
                self._next_scan = time.monotonic() + self.interval
                self.rescan()  # outside the lock: woken helpdesks are dispatched meanwhile
            with self._cond:
                nearest = self.pick(time.monotonic())
                self._cond.wait(max(0.01, min(nearest, self._next_scan) - time.monotonic()))
        for _ in range(self.size):
            self._ready.put(None)

    def rescan(self) -> None:
        """Ask which helpdesks have mail waiting, and when it is due (one query for all of them)."""
        try:
            pending = self.scan()
        except Exception as exc:  # e.g. the database is busy: ask again next round
            problem = errors.database_problem(exc)
            if problem is None:
                log.exception("outbox due check failed")
            else:  # a full disk is not a bug: one line, no traceback
                log.error("outbox due check failed: %s; next try in %g s", problem, self.interval)
            return
        left = seconds_until(pending, datetime.now(timezone.utc))
        with self._cond:
            now = time.monotonic()
            for key, seconds in left.items():
                desk = self._desks.get(key)
                if desk is not None and not desk.running:  # a running one asks itself after its round
                    desk.due = min(desk.due, max(now + seconds, desk.not_before))
            self._cond.notify()

    def pick(self, now: float) -> float:
        """(Under the lock.) Hand the helpdesks that are due to the senders; the time of the next one due."""
        nearest = math.inf
        for key, desk in self._desks.items():
            if desk.running:
                continue
            if desk.due <= now:
                desk.running, desk.woken = True, False
                self._ready.put(key)
            else:
                nearest = min(nearest, desk.due)
        return nearest

    def _send(self) -> None:
        thread = threading.current_thread()
        name = thread.name
        while True:
            key = self._ready.get()
            if key is None:
                return
            with self._cond:
                desk = self._desks.get(key)
            if desk is None:
                continue
            thread.name = f"mailbot-outbox[{key}]"  # the helpdesk's key goes into its log lines
            try:
                wait, sent = self._round(desk.app)
            finally:
                thread.name = name
            self.done(desk, wait, sent)

    def done(self, desk: _Desk, wait: float, sent: bool) -> None:
        """A round of ``desk`` ended: its next is due in ``wait`` s (inf: nothing waiting), or at
        once if it was woken meanwhile, and not before ``gap`` s after a round that sent mail."""
        with self._cond:
            now = time.monotonic()
            desk.running = False
            desk.not_before = now + self.gap if sent else now
            desk.due = desk.not_before if desk.woken else max(desk.not_before, now + wait)
            desk.woken = False
            self._cond.notify()

    def _round(self, app: App) -> tuple[float, bool]:
        """One flush of one helpdesk's outbox: (seconds until its next, inf if nothing waits; whether mail went out)."""
        stats = poller.PollStats()
        wait = poller.flush_round(app, stats, self.stop, self.interval, lambda: poller.until_due(app, math.inf))
        return wait, bool(stats.sent)


class Fleet:
    """The mailboxes this process watches, and the pools they share; ``stop`` ends everything."""

    def __init__(self, apps: list[App], stop: threading.Event) -> None:
        # Imported here, not at module level: ``poll --once`` has no scheduler (1 MB of RSS with multiprocessing).
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        workers = apps[0].settings.workers
        self.apps = {app.settings.helpdesk_key: app for app in apps}
        self.stop = stop
        interval = min(30.0, min(app.settings.imap.poll_interval for app in apps))
        factory = apps[0].factory  # one engine for every helpdesk (``build_apps``)
        self.sender = SendPool(stop, workers.sender_threads, lambda: outbox.due_by_helpdesk(factory),
                               interval=interval)
        self.scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(workers.job_threads)},
                                             timezone="UTC")
        self._watchers: dict[str, _Watcher] = {}
        poller.limit_processing(workers.max_concurrent_mails)
        self._lock = threading.Lock()
        self.beats = health.Beats(factory)  # the watchers' polls, written together (``beats_every``)
        self._first_tick: set[str] = set()  # helpdesks taken since the last SLA tick: it looks at all their open tickets
        self._tick_soon = False  # the tick's next run was brought forward for them

    def start(self) -> Fleet:
        self.sender.start()
        # One SLA tick for every helpdesk of this process (``sla_jobs.tick_all``): a query or two a
        # minute for all of them, then only the helpdesks with something due. A tick that waits for
        # a free thread is late, not missed.
        self.scheduler.add_job(self._tick, "interval", minutes=1, id=TICK_JOB, name="sla tick", max_instances=1,
                               coalesce=True, misfire_grace_time=50)
        every = min(BEATS_EVERY, min(app.settings.imap.poll_interval for app in self.apps.values()))
        self.scheduler.add_job(self.beats.flush, "interval", seconds=every, id="health_beats",
                               name="mailbox polls", max_instances=1, coalesce=True, misfire_grace_time=None)
        self.scheduler.start()
        return self

    def _tick(self) -> None:
        with self._lock:
            self._tick_soon = False
            first, self._first_tick = self._first_tick, set()
            apps = {key: self.apps[key] for key in self._watchers}
        try:
            results = sla_jobs.tick_all(apps, datetime.now(timezone.utc), first=first, stop=self.stop)
        except Exception as exc:  # the database is busy or gone: the next minute looks again
            with self._lock:
                self._first_tick |= {key for key in first if key in self._watchers}
            problem = errors.database_problem(exc)
            if problem is None:
                log.exception("sla: the tick failed")
            else:
                log.error("sla: the tick failed: %s; next try in a minute", problem)
            return
        for key, result in results.items():
            if result.tickets:  # it queued mail: send it now, not at the next outbox scan
                self.sender.wake(key)

    def _bring_tick_forward(self) -> None:
        """(Under the lock.) A helpdesk was taken: its first tick runs within a second or two, not
        at the next minute; many taken together (the start, a lease round) share that tick."""
        if self._tick_soon:
            return
        self._tick_soon = True
        with contextlib.suppress(Exception):  # JobLookupError: the scheduler is shutting down
            self.scheduler.modify_job(TICK_JOB, next_run_time=datetime.now(timezone.utc) + timedelta(seconds=1))

    def watching(self) -> list[str]:
        with self._lock:
            return [key for key, watcher in self._watchers.items() if watcher.thread.is_alive()]

    def take(self, key: str) -> None:
        """Watch this helpdesk's mailbox, send its outbox and run its SLA jobs in this process."""
        app = self.apps[key]
        with self._lock:
            if self.stop.is_set():
                return
            if key in self._watchers and self._watchers[key].thread.is_alive():
                return
            watcher = _Watcher(f"mailbot[{key}]", lambda own: self._watch(app, own))
            self._watchers[key] = watcher
            self._first_tick.add(key)
            self._bring_tick_forward()
        try:
            self.sender.add(app)
            sla_jobs.schedule_digest(self.scheduler, app, shared=True)
            watcher.thread.start()
        except BaseException:  # e.g. no thread to be had: not left half-taken, its bell not left open
            with self._lock:
                if self._watchers.get(key) is watcher:
                    del self._watchers[key]
            watcher.close()
            raise

    def release(self, key: str, wait: float = 0.0) -> None:
        """Stop watching this mailbox (after the mail in hand); its jobs and outbox leave this process."""
        with self._lock:
            entry = self._watchers.pop(key, None)
            self._first_tick.discard(key)
        app = self.apps[key]
        sla_jobs.unschedule_jobs(self.scheduler, app)
        self.sender.remove(key)
        if entry is not None:
            entry.halt()
            if wait:
                entry.thread.join(wait)

    def _watch(self, app: App, watcher: _Watcher) -> None:
        # ``watcher.stop`` is this mailbox's: set by ``release`` (its lease moved) and by ``shutdown``,
        # each of which rings the bell, so the IDLE wait needs no tick of its own.
        try:
            poller.watch(app, watcher.stop, self.sender.waker(app.settings.helpdesk_key), tick=None,
                         wakeup=watcher.bell, beats=self.beats)
        except Exception:
            log.exception("helpdesk %s: the service loop failed", app.settings.helpdesk_key)
        finally:
            watcher.close()

    def wait(self) -> None:
        """Block (in short steps, so the main thread takes the signals) until ``stop`` is set."""
        while not self.stop.wait(0.5):
            pass

    def shutdown(self) -> None:
        self.stop.set()
        with self._lock:
            watchers = list(self._watchers.values())
        for watcher in watchers:
            watcher.halt()
        for watcher in watchers:
            if watcher.thread.ident is not None:  # started
                watcher.thread.join()  # each finishes the mail in hand
        self.beats.flush()
        self.scheduler.shutdown(wait=True)  # a job in progress finishes its transaction
        # Let the outbox finish the mail it is sending (the commit that records it), no more.
        self.sender.join(max(app.settings.smtp.timeout for app in self.apps.values()) + 5)
        outbox.close_connections(timeout=1.0)  # QUIT the SMTP connections kept between flushes


def serve(apps: list[App], stop: threading.Event) -> None:
    """Watch the mailboxes of ``apps`` until ``stop`` is set: all of them, or with
    ``[workers] share_mailboxes`` on PostgreSQL this worker's share (``ops.leases``)."""
    from mailbot.ops import leases

    workers = apps[0].settings.workers
    fleet = Fleet(apps, stop).start()
    if leases.sharing(apps[0]):
        leases.LeaseKeeper(fleet, workers.lease_seconds).run()  # shuts the fleet down when it ends
        return
    if workers.share_mailboxes:
        log.warning("workers.share_mailboxes needs PostgreSQL: with %s this run watches every mailbox",
                    apps[0].factory.kw["bind"].dialect.name)
    try:
        for key in fleet.apps:
            fleet.take(key)
        if len(apps) > 1:
            log.info("serving %d helpdesks: %s", len(apps), ", ".join(
                f"{a.settings.helpdesk_key} ({a.settings.imap.username})" for a in apps))
        fleet.wait()
    finally:
        fleet.shutdown()
