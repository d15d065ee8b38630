"""Workers share a deployment's mailboxes through PostgreSQL: a lease per mailbox (issue 24).

With ``[workers] share_mailboxes = true`` on PostgreSQL, every ``mailbot run`` of the deployment
(on one machine or several, all with the same config) watches only the mailboxes whose lease it
holds, and for those also sends the outbox and runs the SLA jobs. PostgreSQL does the coordinating;
there is no service of our own:

* each worker keeps a heartbeat row (``worker_beats``) that expires ``lease_seconds`` after its last
  renewal; the live workers are the rows not expired;
* a mailbox's lease (``mailbox_leases``) is taken with one conditional statement,
  ``INSERT ... ON CONFLICT (mailbox) DO UPDATE ... WHERE mailbox_leases.expires_at < now()``, so
  of several workers reaching for a free or expired mailbox exactly one gets it;
* every ``lease_seconds / 3`` a worker renews its heartbeat and its leases, and moves towards its
  fair share, ``ceil(mailboxes / live workers)``: it takes free mailboxes while it holds fewer,
  and gives up (after the mail in hand) the ones it holds beyond it, so a new worker gets its share;
* a killed worker renews nothing: its leases and its heartbeat expire after ``lease_seconds``
  and the others take its mailboxes within one more round (30 s + 10 s by default);
* a worker that cannot renew (the database is gone) stops watching before its leases can expire,
  so two workers never watch one mailbox.

Times are the database's clock (``now()``), never the machines' own, so workers on several
machines agree on what has expired. ``mailbot status`` shows each mailbox's holder.
"""

from __future__ import annotations

import logging
import math
import os
import random
import socket
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from mailbot.ops.instancelock import mailbox_key
from mailbot.storage import errors
from mailbot.storage.models import MailboxLease

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailbot.service.app import App

log = logging.getLogger(__name__)

_NOW = "(now() AT TIME ZONE 'utc')"  # the columns hold UTC without a zone (``models.UTCDateTime``)


def sharing(app: App) -> bool:
    """Whether this deployment splits its mailboxes between workers (PostgreSQL only)."""
    return bool(app.settings.workers.share_mailboxes) and app.factory.kw["bind"].dialect.name == "postgresql"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaseKeeper:
    """Keeps this worker's share of the mailboxes (``run`` until ``fleet.stop`` is set)."""

    def __init__(self, fleet: Any, lease_seconds: float, worker: str | None = None) -> None:
        """``fleet``: the ``ops.fleet.Fleet`` whose mailboxes this worker starts and stops."""
        self.fleet = fleet
        self.engine = next(iter(fleet.apps.values())).factory.kw["bind"]
        self.lease = lease_seconds
        self.interval = lease_seconds / 3
        self.worker = worker or worker_id()
        # mailbox key -> helpdesk key, for every mailbox of the deployment
        self.mailboxes = {mailbox_key(app): key for key, app in fleet.apps.items()}
        self.held: set[str] = set()
        self.renewed = time.monotonic()
        self._failing = False

    def run(self) -> None:
        log.info("sharing %d mailboxes with the other workers as %s (leases of %g s)", len(self.mailboxes),
                 self.worker, self.lease)
        stop = self.fleet.stop
        try:
            while not stop.is_set():
                try:
                    self.round()
                    if self._failing:
                        log.info("leases: the database answers again")
                        self._failing = False
                except Exception as exc:
                    problem = errors.database_problem(exc) or f"{type(exc).__name__}: {exc}"
                    if not self._failing:
                        log.error("leases: cannot renew (%s); retrying", problem)
                        self._failing = True
                    if self.held and time.monotonic() - self.renewed > self.lease * 0.7:
                        # Our leases may expire before we renew them: stop watching before anyone may take over.
                        log.error("leases: not renewed for %.0f s: stopping %d mailboxes until they are",
                                  time.monotonic() - self.renewed, len(self.held))
                        for mailbox in sorted(self.held):
                            self.fleet.release(self.mailboxes[mailbox])
                        self.held.clear()
                stop.wait(self.interval * random.uniform(0.8, 1.0))  # workers' rounds drift apart
        finally:
            self.fleet.shutdown()
            self.give_up()

    def round(self) -> None:
        """Renew, then take or give mailboxes towards this worker's fair share."""
        lease = {"w": self.worker, "secs": self.lease}
        with self.engine.begin() as conn:
            conn.execute(text(
                f"INSERT INTO worker_beats (worker, started_at, expires_at) VALUES (:w, {_NOW}, {_NOW} + "
                f"make_interval(secs => :secs)) ON CONFLICT (worker) DO UPDATE SET expires_at = EXCLUDED.expires_at"),
                lease)
            renewed = set(conn.execute(text(
                f"UPDATE mailbox_leases SET expires_at = {_NOW} + make_interval(secs => :secs) "
                f"WHERE holder = :w RETURNING mailbox"), lease).scalars())
            live = conn.execute(text(f"SELECT count(*) FROM worker_beats WHERE expires_at > {_NOW}")).scalar_one()
            taken = set(conn.execute(text(f"SELECT mailbox FROM mailbox_leases WHERE expires_at > {_NOW}")).scalars())
            # Heartbeats of workers long gone: nobody needs them.
            conn.execute(text(f"DELETE FROM worker_beats WHERE expires_at < {_NOW} - interval '1 day'"))
        self.renewed = time.monotonic()
        for mailbox in sorted(self.held - renewed):  # taken by another worker meanwhile: stop at once
            log.warning("leases: mailbox %s is no longer ours; stopping it", mailbox)
            self.fleet.release(self.mailboxes[mailbox])
        self.held &= renewed
        share = math.ceil(len(self.mailboxes) / max(1, int(live)))
        if len(self.held) > share:
            self._give(sorted(self.held)[share:])
        elif len(self.held) < share:
            free = [m for m in self.mailboxes if m not in taken]
            random.shuffle(free)  # workers reaching at once mostly reach for different mailboxes
            self.claim(free, share - len(self.held))

    def claim(self, candidates: list[str], want: int) -> None:
        got: list[str] = []
        for mailbox in candidates:
            if len(got) >= want:
                break
            with self.engine.begin() as conn:
                won = conn.execute(text(
                    f"INSERT INTO mailbox_leases (mailbox, helpdesk, holder, acquired_at, expires_at) "
                    f"VALUES (:m, :h, :w, {_NOW}, {_NOW} + make_interval(secs => :secs)) "
                    f"ON CONFLICT (mailbox) DO UPDATE SET helpdesk = EXCLUDED.helpdesk, holder = EXCLUDED.holder, "
                    f"acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at "
                    f"WHERE mailbox_leases.expires_at < {_NOW} RETURNING mailbox"),
                    {"m": mailbox, "h": self.mailboxes[mailbox], "w": self.worker, "secs": self.lease}).first()
            if won is not None:
                got.append(mailbox)
                self.held.add(mailbox)
                self.fleet.take(self.mailboxes[mailbox])
        if got:
            log.info("leases: took %d mailbox%s (%s); holding %d", len(got), "" if len(got) == 1 else "es",
                     ", ".join(self.mailboxes[m] for m in got), len(self.held))

    def _give(self, mailboxes: list[str]) -> None:
        """Give up mailboxes beyond the fair share: stop watching each (after the mail in hand), then
        delete its lease so another worker takes it at once."""
        for mailbox in mailboxes:
            self.fleet.release(self.mailboxes[mailbox], wait=self.lease / 2)
            with self.engine.begin() as conn:
                conn.execute(text("DELETE FROM mailbox_leases WHERE mailbox = :m AND holder = :w"),
                             {"m": mailbox, "w": self.worker})
            self.held.discard(mailbox)
        log.info("leases: gave up %d mailbox%s (%s) for the other workers; holding %d", len(mailboxes),
                 "" if len(mailboxes) == 1 else "es", ", ".join(self.mailboxes[m] for m in mailboxes),
                 len(self.held))

    def give_up(self) -> None:
        """A clean stop: the leases and the heartbeat go at once (the others take over in one round)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(text("DELETE FROM mailbox_leases WHERE holder = :w"), {"w": self.worker})
                conn.execute(text("DELETE FROM worker_beats WHERE worker = :w"), {"w": self.worker})
        except Exception as exc:  # they expire by themselves
            log.warning("leases: could not give them up at stop (%s); they expire in %g s",
                        errors.database_problem(exc) or exc, self.lease)
        self.held.clear()


def holder_of(session: Session, app: App) -> tuple[MailboxLease | None, datetime]:
    """The lease row of this helpdesk's mailbox (None: none) and the database's clock, for ``status``."""
    row = session.get(MailboxLease, mailbox_key(app))
    now: datetime = session.execute(text(f"SELECT {_NOW}")).scalar_one()
    return row, now.replace(tzinfo=timezone.utc)
