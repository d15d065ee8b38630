"""Prometheus metrics (prometheus-client), served by ``mailbot run`` when ``[metrics] enabled``.

Counted in the process since the endpoint started (``mailbot run`` starts it before it takes any mail):

* ``mailbot_mails_processed_total{helpdesk,outcome}``: inbound mails by outcome (opened, updated,
  ignored, duplicate, quarantined);
* ``mailbot_mail_processing_seconds{helpdesk}``: histogram of the time one inbound mail takes
  (parse, decide, store, commit);
* ``mailbot_outbox_sent_total{helpdesk}``, ``mailbot_outbox_failed_total{helpdesk}``: mails this
  process sent, or marked failed.

Read from the database at scrape time (a handful of grouped counts, no row is loaded):

* ``mailbot_tickets{helpdesk,state,priority}``: tickets by state and priority;
* ``mailbot_tickets_overdue{helpdesk}``: open tickets with a deadline (resolution, an SOP step or LKPP's answer) passed;
* ``mailbot_outbox_mails{helpdesk,status}``: ``pending`` and ``failed`` mails;
  ``mailbot_outbox_failed_unacknowledged{helpdesk}``;
* ``mailbot_quarantine_mails{helpdesk}``: mails in quarantine, not yet resolved;
* ``mailbot_sla_breaches_total{helpdesk,clock}``, ``mailbot_sla_warnings_total{helpdesk,clock}``: SLA
  notices sent;
* ``mailbot_last_poll_timestamp_seconds{mailbox}``, ``mailbot_oauth_failing{mailbox,kind}``,
  ``mailbot_oauth_refresh_failures_total{mailbox,kind}``: from the mailbox status.

Every figure of a deployment serving several helpdesks carries the ``helpdesk`` label (its key;
``default`` for a deployment of one), so one scrape shows each helpdesk apart.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from mailbot.settings.config import DEFAULT_HELPDESK
from mailbot.storage.models import MailboxStatus, Outbox, Quarantine, SlaNotice, Ticket

if TYPE_CHECKING:
    from collections.abc import Iterator
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    from mailbot.service.app import App

log = logging.getLogger(__name__)


class _Instruments:
    """The process's counters and their registry (prometheus-client objects)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.mails_processed = Counter("mailbot_mails_processed", "Inbound mails processed, by outcome",
                                       ["helpdesk", "outcome"], registry=self.registry)
        self.processing_seconds = Histogram(
            "mailbot_mail_processing_seconds", "Time to process one inbound mail", ["helpdesk"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=self.registry)
        self.outbox_sent = Counter("mailbot_outbox_sent", "Mails sent by this process", ["helpdesk"],
                                   registry=self.registry)
        self.outbox_failed = Counter("mailbot_outbox_failed", "Mails this process marked failed", ["helpdesk"],
                                     registry=self.registry)


#: Created by the first :meth:`MetricsServer.start`, which happens before ``mailbot run`` takes
#: any mail. Until then, and in every process without the endpoint (``poll --once``, ``run``
#: without ``[metrics] enabled``), nobody can read the counters, so the observe functions do
#: nothing and prometheus-client (with ``http.server``, ``wsgiref``, ...) is not even imported:
#: 1-2 MB of RSS (issue 7).
_instruments: _Instruments | None = None
_instruments_lock = threading.Lock()


def instruments() -> _Instruments:
    global _instruments
    with _instruments_lock:
        if _instruments is None:
            _instruments = _Instruments()
        return _instruments


def observe_mail(outcome: str, seconds: float, helpdesk: str = DEFAULT_HELPDESK) -> None:
    live = _instruments
    if live is None:
        return
    live.mails_processed.labels(helpdesk=helpdesk, outcome=outcome).inc()
    live.processing_seconds.labels(helpdesk=helpdesk).observe(seconds)


def observe_flush(sent: int, failed: int, helpdesk: str = DEFAULT_HELPDESK) -> None:
    live = _instruments
    if live is None:
        return
    if sent:
        live.outbox_sent.labels(helpdesk=helpdesk).inc(sent)
    if failed:
        live.outbox_failed.labels(helpdesk=helpdesk).inc(failed)


_OPEN_DEADLINES = ("due_at", "priority_due_at", "call_due_at", "analysis_due_at", "lkpp_due_at")


def _decision_overdue(now: datetime) -> ColumnElement[bool]:
    """An escalated ticket LKPP answered whose decision (close or ask further) is late: on such a
    ticket every other clock is stopped, so ``next_due_at`` is that decision's deadline
    (``core.lkpp_decision``)."""
    return and_(Ticket.state == "escalated", Ticket.lkpp_due_at.is_(None), Ticket.next_due_at < now)


class DatabaseCollector:
    """Figures read from the database at each scrape (grouped counts only).

    A prometheus-client collector (its ``Collector`` is a protocol: ``collect`` is all it needs).
    """

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            yield from self._collect()
        except Exception:
            log.warning("metrics: could not read the database", exc_info=True)
            up = GaugeMetricFamily("mailbot_database_up", "1 if the last scrape could read the database")
            up.add_metric([], 0)
            yield up

    def _collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        now = datetime.now(timezone.utc)
        tickets = GaugeMetricFamily("mailbot_tickets", "Tickets by state and priority",
                                    labels=["helpdesk", "state", "priority"])
        overdue = GaugeMetricFamily("mailbot_tickets_overdue", "Open tickets with a deadline passed", labels=["helpdesk"])
        outbox = GaugeMetricFamily("mailbot_outbox_mails", "Mails in the outbox by status", labels=["helpdesk", "status"])
        unacked = GaugeMetricFamily("mailbot_outbox_failed_unacknowledged", "Failed mails not acknowledged",
                                    labels=["helpdesk"])
        quarantine = GaugeMetricFamily("mailbot_quarantine_mails", "Mails in quarantine (unresolved)",
                                       labels=["helpdesk"])
        breaches = CounterMetricFamily("mailbot_sla_breaches", "SLA breach notices sent", labels=["helpdesk", "clock"])
        warnings = CounterMetricFamily("mailbot_sla_warnings", "SLA warnings sent", labels=["helpdesk", "clock"])
        last_poll = GaugeMetricFamily("mailbot_last_poll_timestamp_seconds",
                                      "Unix time of the last successful poll (IMAP) or send (SMTP)",
                                      labels=["mailbox", "kind"])
        failing = GaugeMetricFamily("mailbot_oauth_failing", "1 while the OAuth2 token refresh is refused",
                                    labels=["mailbox", "kind"])
        refusals = CounterMetricFamily("mailbot_oauth_refresh_failures", "Refused OAuth2 token refreshes",
                                       labels=["mailbox", "kind"])
        keys = [s.helpdesk_key for s in self.app.settings.per_helpdesk()]
        with self.app.factory() as session:
            for helpdesk, state, priority, count in session.execute(
                    select(Ticket.helpdesk, Ticket.state, Ticket.priority, func.count())
                    .group_by(Ticket.helpdesk, Ticket.state, Ticket.priority)):
                tickets.add_metric([helpdesk, state, priority], count)
            late = _per_helpdesk(session, select(Ticket.helpdesk, func.count()).where(
                Ticket.state != "closed", or_(*(getattr(Ticket, c) < now for c in _OPEN_DEADLINES),
                                              _decision_overdue(now)))
                .group_by(Ticket.helpdesk))
            waiting: dict[tuple[str, str], int] = {(h, s): n for h, s, n in session.execute(
                select(Outbox.helpdesk, Outbox.status, func.count()).where(Outbox.status.in_(["pending", "failed"]))
                .group_by(Outbox.helpdesk, Outbox.status)).all()}
            not_acked = _per_helpdesk(session, select(Outbox.helpdesk, func.count()).where(
                Outbox.status == "failed", Outbox.acknowledged_at.is_(None)).group_by(Outbox.helpdesk))
            held = _per_helpdesk(session, select(Quarantine.helpdesk, func.count()).where(
                Quarantine.resolved_at.is_(None)).group_by(Quarantine.helpdesk))
            # Every configured helpdesk gets its zeros too: an absent series is not a zero to an alert.
            for helpdesk in sorted({*keys, *late, *not_acked, *held, *(h for h, _ in waiting)}):
                overdue.add_metric([helpdesk], late.get(helpdesk, 0))
                for status in ("pending", "failed"):
                    outbox.add_metric([helpdesk, status], waiting.get((helpdesk, status), 0))
                unacked.add_metric([helpdesk], not_acked.get(helpdesk, 0))
                quarantine.add_metric([helpdesk], held.get(helpdesk, 0))
            for helpdesk, kind, clock, count in session.execute(
                    select(Ticket.helpdesk, SlaNotice.kind, SlaNotice.clock, func.count())
                    .join(Ticket, SlaNotice.ticket_id == Ticket.id)
                    .where(SlaNotice.kind.in_(["breach", "warning"]))
                    .group_by(Ticket.helpdesk, SlaNotice.kind, SlaNotice.clock)):
                (breaches if kind == "breach" else warnings).add_metric([helpdesk, clock], count)
            for row in session.scalars(select(MailboxStatus)):
                labels = [row.mailbox, row.kind]
                if row.last_ok_at is not None:
                    last_poll.add_metric(labels, row.last_ok_at.timestamp())
                failing.add_metric(labels, 1 if row.auth_failed_at is not None else 0)
                refusals.add_metric(labels, row.auth_failures)
        up = GaugeMetricFamily("mailbot_database_up", "1 if the last scrape could read the database")
        up.add_metric([], 1)
        yield from (tickets, overdue, outbox, unacked, quarantine, breaches, warnings, last_poll, failing,
                    refusals, up)


def _per_helpdesk(session: Session, query: Select[str, int]) -> dict[str, int]:
    return dict(session.execute(query).all())


class MetricsServer:
    """The HTTP endpoint (``/metrics``) of one ``mailbot run``."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.collector = DatabaseCollector(app)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._registry: CollectorRegistry | None = None

    def start(self) -> MetricsServer:
        from prometheus_client import start_http_server

        settings = self.app.settings.metrics
        self._registry = instruments().registry
        self._registry.register(self.collector)
        try:
            self._server, self._thread = start_http_server(settings.port, addr=settings.host,
                                                           registry=self._registry)
        except BaseException:
            self._registry.unregister(self.collector)
            raise
        log.info("metrics on http://%s:%d/metrics", settings.host, settings.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._registry is not None:
            try:
                self._registry.unregister(self.collector)
            except KeyError:
                pass
