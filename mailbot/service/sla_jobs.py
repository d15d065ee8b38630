"""The SLA tick: act on what is due (warnings, breach notices, reminders, auto-close), the daily digest.

(Deadlines themselves are recomputed by ``deadlines.refresh_deadlines``.) ``tick`` runs every minute
from APScheduler: it picks the tickets whose ``sla_next_at`` has come (or that changed since
their last refresh), and for each one, in its own transaction, acts on what ``sla.evaluate``
says is due: warnings to the assignee, breach notices to the coordinator, reminders and the
auto-close to the user. Each is a workflow event (``SlaNoticeDue``, ``ReminderDue``,
``AutoCloseDue``): ``workflow.decide`` makes the Decision, this module applies it with
``effects.apply_decision``, exactly like a reply to an inbound mail. Every notification is a
row in ``sla_notices`` with a unique key, written in the same transaction as the outbox mail,
so each one is sent exactly once even when two ticks overlap.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.core import lkpp_decision, sla
from mailbot.core.domain import EventKind, InboundMail, TicketState
from mailbot.core.workflow import (
    LKPP_CLOCK,
    AutoCloseDue,
    ClockEvent,
    ReminderDue,
    SlaNoticeDue,
    decide,
    notice_recipient,
)
from mailbot.mail import outbox
from mailbot.mail.compose import build_message, make_message_id
from mailbot.service import effects
from mailbot.service.context import local_time
from mailbot.service.deadlines import Setup, notice_prefix, status, store_status, ticket_events
from mailbot.service.sla_due import OPEN, due_clause, due_ids
from mailbot.storage.models import SlaNotice, Ticket

if TYPE_CHECKING:
    from mailbot.service.app import App

log = logging.getLogger(__name__)

#: Age buckets of the digest, in whole working days since the ticket opened: (label, lowest, highest).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("hari ini", 0, 0), ("1-2 hari", 1, 2), ("3-5 hari", 3, 5), ("> 5 hari", 6, None))


# ---- settings -> calendar and policy --------------------------------------------------------


@dataclass
class TickResult:
    checked: int = 0
    warnings: int = 0
    breaches: int = 0
    reminders: int = 0
    autoclosed: int = 0
    errors: int = 0
    tickets: list[str] = field(default_factory=list)  # numbers of the tickets something was sent for

    def merge(self, other: TickResult) -> None:
        self.warnings += other.warnings
        self.breaches += other.breaches
        self.reminders += other.reminders
        self.autoclosed += other.autoclosed
        self.tickets += other.tickets

    def line(self) -> str:
        return (f"sla: checked={self.checked} warnings={self.warnings} breaches={self.breaches} "
                f"reminders={self.reminders} autoclosed={self.autoclosed} errors={self.errors}")


#: Helpdesk keys per ``IN (...)`` of ``due_tickets`` (SQLite's default cap on bound parameters is 999).
KEYS_PER_QUERY = 500


def due_tickets(factory: sessionmaker[Session], now: datetime, *,
                everything: Collection[str] = ()) -> dict[str, list[int]]:
    """The tickets the SLA tick must look at, by helpdesk, for the whole deployment at once.

    One query for what is due (whichever helpdesk), and for the helpdesks in ``everything`` (just
    taken by this process: their first tick) every open ticket, a query per ``KEYS_PER_QUERY``
    of them. Hundreds of helpdesks then cost one query a minute, not one each (issue 24).
    """
    found: dict[str, set[int]] = {}
    with factory() as session:
        rows = list(session.execute(select(Ticket.helpdesk, Ticket.id).where(due_clause(now))))
        keys = sorted(everything)
        for start in range(0, len(keys), KEYS_PER_QUERY):
            rows += session.execute(select(Ticket.helpdesk, Ticket.id).where(
                OPEN, Ticket.helpdesk.in_(keys[start:start + KEYS_PER_QUERY])))
    for helpdesk, ticket_id in rows:
        found.setdefault(helpdesk, set()).add(ticket_id)
    return {helpdesk: sorted(ids) for helpdesk, ids in found.items()}


def tick(app: App, now: datetime, *, everything: bool = False, ids: Sequence[int] | None = None) -> TickResult:
    """Send what is due at ``now``: one transaction per ticket; a failing ticket does not stop the rest.

    Looks at tickets whose next SLA moment has come, that changed since their last refresh,
    or (``everything``, once at start-up, after a config change) every open ticket; ``ids``: at
    these (of this helpdesk, found by ``due_tickets`` for every helpdesk at once) instead.
    """
    setup = Setup.of(app)
    result = TickResult()
    if ids is None:
        ids = due_ids(app.factory, app.settings.helpdesk_key, now, everything=everything)
    for ticket_id in ids:
        done = TickResult()  # counted only once its transaction has committed
        try:
            with app.factory.begin() as session:
                ticket = session.get(Ticket, ticket_id, with_for_update=True)
                if ticket is not None and ticket.helpdesk == app.settings.helpdesk_key:
                    _tick_ticket(app, session, ticket, setup, now, done)
            result.merge(done)
            result.checked += 1
        except IntegrityError:
            # Another tick sent the same notification first (unique key): nothing was sent twice.
            log.info("sla: ticket %s handled by a concurrent tick", ticket_id)
        except Exception:
            result.errors += 1
            log.exception("sla: ticket %s could not be handled", ticket_id)
    if result.warnings or result.breaches or result.reminders or result.autoclosed or result.errors:
        log.info(result.line())
    return result


def tick_all(apps: Mapping[str, App], now: datetime, *, first: Collection[str] = (),
             stop: threading.Event | None = None) -> dict[str, TickResult]:
    """The SLA tick of many helpdesks (``apps`` by key): ``due_tickets`` finds the work of all of
    them at once, then only the helpdesks with due tickets are ticked, one after another (each
    ticket its own short transaction, so mail intake is never held behind a wave of ticks).

    ``first``: helpdesks whose first tick this is (every open ticket). Tickets of helpdesks not in
    ``apps`` (another worker's) are left alone. ``stop`` ends it between helpdesks.
    """
    if not apps:
        return {}
    factory = next(iter(apps.values())).factory
    work = due_tickets(factory, now, everything=[key for key in first if key in apps])
    results: dict[str, TickResult] = {}
    for key, ids in sorted(work.items()):
        app = apps.get(key)
        if app is None:
            continue
        if stop is not None and stop.is_set():
            break
        with _named_for(app):
            results[key] = tick(app, now, ids=ids)
    return results


#: On a ticket's first evaluation (tickets from before the SLA clock existed), warnings and breaches
#: whose moment passed longer ago than this are recorded without a mail: an upgrade must not flood
#: the coordinator with the whole backlog (the digest lists those tickets).
FIRST_LOOK_GRACE = timedelta(minutes=10)


def _tick_ticket(app: App, session: Session, ticket: Ticket, setup: Setup, now: datetime, result: TickResult) -> None:
    st = status(session, ticket, app, now, setup)
    first_look = ticket.sla_checked_at is None
    acted = False
    for action in st.actions:
        if first_look and action.kind in {"warning", "breach"} and action.due_since < now - FIRST_LOOK_GRACE:
            for key in (action.key, *action.covers):
                _record_notice(session, ticket, key, "covered", action.clock, now, percent=action.percent,
                               deadline=action.deadline)
            continue
        event = _clock_event(app, session, ticket, action, st, setup, now)
        decision = decide(effects.ticket_view(ticket), event, now, app.policy)
        acted = True
        if not decision.effects:
            continue  # not due in the ticket's state after all (see workflow._clock)
        effects.apply_decision(app, session, ticket, clock_mail(app), decision, now, actor="mailbot")
        if action.kind == "autoclose":
            result.autoclosed += 1
        elif action.kind in {"reminder", "decision"}:
            result.reminders += 1
        elif action.kind == "breach":
            result.breaches += 1
        else:
            result.warnings += 1
    if acted:
        result.tickets.append(ticket.number or str(ticket.id))
        st = status(session, ticket, app, now, setup)
    store_status(ticket, st, now)


def clock_mail(app: App) -> InboundMail:
    """The stand-in for an inbound mail when the clock, not a mail, drives a decision.

    The service's helpers take the mail that caused a change (for the actor, threading and
    the hop count); for a timer that is the helpdesk itself, with nothing quoted.
    """
    return InboundMail(message_id="", from_addr=app.settings.helpdesk.address, from_name="", to=(), cc=(),
                       subject="", date=None, in_reply_to=(), references=(), text="", html=None, new_text="")


def _record_notice(session: Session, ticket: Ticket, key: str, kind: str, clock: str, now: datetime, *,
                   percent: int = 0, deadline: datetime | None = None, recipients: Sequence[str] = ()) -> None:
    session.add(SlaNotice(key=notice_prefix(ticket.id) + key, ticket_id=ticket.id, kind=kind, clock=clock, percent=percent,
                          deadline=deadline, recipients=list(recipients), at=now))
    session.flush()  # a duplicate key fails here, before any mail is queued


def _local(app: App, at: datetime | None) -> str:
    return local_time(app, at) if at is not None else "-"


def _sla_context(app: App, clock: sla.Clock | None, action: sla.Action | None) -> dict[str, object]:
    if clock is None:
        return {}
    working = clock.standard.working
    return {
        "clock": clock.name, "label": clock.label, "step": clock.step,
        "percent": action.percent if action is not None else round(clock.fraction * 100),
        "breached": clock.breached, "deadline": _local(app, clock.marks[-1].at), "since": _local(app, clock.started_at),
        "standard": sla.describe(clock.standard.duration, working=working),
        "used": sla.describe(clock.used, working=working),
        "remaining": sla.describe(max(clock.remaining, timedelta(0)), working=working),
    }


def _clock_event(app: App, session: Session, ticket: Ticket, action: sla.Action, st: sla.SlaStatus, setup: Setup,
                 now: datetime) -> ClockEvent:
    """The workflow event of one due action, its facts formatted for people; its notice row is
    written first (a duplicate key fails here, before any mail is queued)."""
    if action.kind in {"warning", "breach"}:
        clock = st.clock(action.clock)
        breach = action.kind == "breach"
        warn_to = app.settings.sla.warn_to
        to = "lkpp" if action.clock == LKPP_CLOCK and not breach else notice_recipient(breach, warn_to)
        recipients = effects.recipients_for(app, session, ticket, clock_mail(app), to, ticket.closed_by)
        _record_notice(session, ticket, action.key, action.kind, action.clock, now, percent=action.percent,
                       deadline=action.deadline, recipients=recipients)
        for covered in action.covers:
            _record_notice(session, ticket, covered, "covered", action.clock, now, deadline=action.deadline)
        return SlaNoticeDue(breach=breach, clock=action.clock, key=action.key, percent=action.percent,
                            step=clock.step if clock else None, label=sla.LABELS[action.clock],
                            deadline=_local(app, action.deadline), recipients=tuple(recipients),
                            sla=_sla_context(app, clock, action), warn_to=warn_to)
    if action.kind == "decision":  # LKPP answered and the helpdesk has not decided (``core.lkpp_decision``)
        warn_to = app.settings.sla.warn_to
        to = "staff" if warn_to == "staff" or not ticket.assignee else "assignee"
        recipients = effects.recipients_for(app, session, ticket, clock_mail(app), to, ticket.closed_by)
        _record_notice(session, ticket, action.key, action.kind, action.clock, now, percent=100,
                       deadline=action.deadline, recipients=recipients)
        since = st.decision.since if st.decision is not None else None
        return lkpp_decision.DecisionDue(action.key, _local(app, since), _local(app, action.deadline), warn_to)
    _record_notice(session, ticket, action.key, action.kind, "waiting", now, recipients=[ticket.requester])
    by_lkpp = st.waiting is not None and st.waiting.by_lkpp
    items = tuple(_asked_by_lkpp(session, ticket) if by_lkpp else _requested(app, session, ticket))
    waiting = _waiting_context(app, st, setup, now)
    if action.kind == "reminder":
        return ReminderDue(action.key, items, waiting, by_lkpp)
    return AutoCloseDue(action.key, setup.policy.autoclose_days, items, waiting, by_lkpp)


def _asked_by_lkpp(session: Session, ticket: Ticket) -> list[str]:
    """What LKPP asked the user for, as LKPP wrote it (its latest answer that asked)."""
    answer = next((e for e in reversed(ticket_events(session, ticket.id))
                   if e.kind == EventKind.LKPP_REPLIED and (e.data or {}).get("asked")), None)
    return [str(x) for x in (answer.data or {}).get("asked") or []] if answer is not None else []


def _requested(app: App, session: Session, ticket: Ticket) -> list[str]:
    """What the user was asked for: the latest request's items (rules' keys shown by their labels)."""
    request = next((e for e in reversed(ticket_events(session, ticket.id)) if e.kind == EventKind.DATA_REQUESTED), None)
    items = [str(x) for x in ((request.data or {}).get("items") or [])] if request is not None else []
    if request is not None and (request.data or {}).get("by") == "rules":
        return [app.table.item_label(key) for key in items]
    return items or [app.table.item_label(key) for key in ticket.missing or []]


def _waiting_context(app: App, st: sla.SlaStatus, setup: Setup, now: datetime) -> dict[str, object]:
    wait = st.waiting
    if wait is None:
        return {}
    autoclose = None
    if setup.policy.autoclose_days:
        autoclose = setup.calendar.add_days(wait.reminded_at or now, setup.policy.autoclose_days)
    return {"since": _local(app, wait.since), "reminded": _local(app, wait.reminded_at) if wait.reminded_at else "",
            "autoclose": _local(app, autoclose) if autoclose else ""}


# ---- the daily digest ------------------------------------------------------------------------


def digest(app: App, now: datetime, *, force: bool = False) -> bool:
    """Queue the daily digest to staff and the coordinator; False when not sent.

    Sent once per local date (key ``digest/<date>``) and only on working days unless ``force``.
    """
    setup = Setup.of(app)
    local_day = now.astimezone(setup.calendar.zone).date()
    if not force and not setup.calendar.is_working_day(local_day):
        return False
    settings = app.settings
    # One digest per helpdesk and day; the default helpdesk keeps the key it had before there were several.
    scope = "" if settings.helpdesk_key == "default" else f"{settings.helpdesk_key}/"
    key = f"digest/{scope}{local_day.isoformat()}"
    recipients = list(dict.fromkeys([*settings.staff.addresses, *([settings.staff.coordinator]
                                                                   if settings.staff.coordinator else [])]))
    try:
        with app.factory.begin() as session:
            if session.scalar(select(SlaNotice.id).where(SlaNotice.key == key)) is not None:
                return False
            session.add(SlaNotice(key=key, ticket_id=None, kind="digest", clock="", percent=0, deadline=None,
                                  recipients=recipients, at=now))
            session.flush()
            context = {
                "helpdesk": {"name": settings.helpdesk.name, "address": settings.helpdesk.address,
                             "phone": settings.helpdesk.phone},
                "digest": digest_context(app, session, setup, now),
            }
            rendered = app.renderer.render("staff_digest", context)
            message_id = make_message_id(settings.helpdesk.address.partition("@")[2])
            msg = build_message(rendered, sender_name=settings.helpdesk.name, sender=settings.helpdesk.address,
                                to=recipients, message_id=message_id, date=now, ticket_number="digest",
                                auto_submitted="auto-generated")
            outbox.queue(session, msg, message_id=message_id, mail_from=settings.helpdesk.address,
                         recipients=recipients, ticket_id=None, now=now, helpdesk=settings.helpdesk_key)
    except IntegrityError:
        return False  # another process queued today's digest first
    log.info("sla: daily digest for %s queued to %d recipient(s)", local_day, len(recipients))
    return True


def digest_context(app: App, session: Session, setup: Setup, now: datetime) -> dict[str, Any]:
    """Open tickets by priority and age, the ones near or past a deadline, calls to make, waiting ones."""
    cal, policy = setup.calendar, setup.policy
    tickets = list(session.scalars(select(Ticket).where(Ticket.state != TicketState.CLOSED.value,
                                                        Ticket.helpdesk == app.settings.helpdesk_key)
                                   .order_by(Ticket.id)))
    threshold = min(policy.warn_at, default=1.0)
    levels = list(app.table.level_names)
    by_level: dict[str, list[int]] = {level: [] for level in levels}
    near: list[tuple[datetime, dict[str, object]]] = []
    calls: list[dict[str, object]] = []
    waiting: list[dict[str, object]] = []
    for t in tickets:
        tag = f"[{t.number}]"
        by_level.setdefault(t.priority, []).append(cal.working_days_between(t.opened_at, now))
        events = ticket_events(session, t.id)
        st = sla.evaluate(events, state=t.state, resolution_hours=app.table.resolution_hours(t.priority),
                          policy=policy, calendar=cal, now=now)
        for clock in st.clocks:
            if clock.due_at is None or clock.fraction < threshold:
                continue
            near.append((clock.due_at, {
                "tag": tag, "number": t.number, "priority": t.priority, "label": clock.label,
                "deadline": _local(app, clock.due_at), "percent": min(round(clock.fraction * 100), 999),
                "breached": clock.breached, "assignee": t.assignee, "subject": t.subject}))
        if st.decision is not None:
            # LKPP answered and the helpdesk owes the decision (close, or ask LKPP further): listed
            # from the answer on, not only near its deadline, since nothing else shows it to staff.
            d = st.decision
            span = cal.between(d.since, d.due_at)
            fraction = cal.between(d.since, now) / span if span else 1.0
            near.append((d.due_at, {
                "tag": tag, "number": t.number, "priority": t.priority, "label": lkpp_decision.LABEL,
                "deadline": _local(app, d.due_at), "percent": min(round(fraction * 100), 999),
                "breached": d.due_at <= now, "assignee": t.assignee, "subject": t.subject}))
        call = st.clock("call")
        if call is not None:
            calls.append({"tag": tag, "requester_name": t.requester_name, "requester": t.requester, "phone": t.phone,
                          "since": _local(app, call.started_at), "subject": t.subject})
        if st.waiting is not None:
            w = st.waiting
            waiting.append({"tag": tag, "since": _local(app, w.since),
                            "remind": _local(app, w.remind_at) if w.remind_at and not w.reminded_at else "",
                            "autoclose": _local(app, w.autoclose_at) if w.autoclose_at else "",
                            "subject": t.subject})
    by_priority = []
    for level, ages in by_level.items():
        buckets = [{"label": label, "count": sum(1 for a in ages if a >= low and (high is None or a <= high))}
                   for label, low, high in AGE_BUCKETS]
        label = app.table.level(level).label if level in levels else level
        by_priority.append({"key": level, "label": label, "count": len(ages), "ages": buckets,
                            "oldest": (f"{max(ages)} hari kerja" if max(ages) else "kurang dari 1 hari kerja")
                            if ages else ""})
    near.sort(key=lambda pair: pair[0])
    return {
        "date": now.astimezone(cal.zone).strftime("%d-%m-%Y"), "generated": _local(app, now),
        "open_total": len(tickets), "by_priority": by_priority, "near": [item for _, item in near],
        "calls": calls, "waiting": waiting,
    }


# ---- scheduling ------------------------------------------------------------------------------


class _TickJob:
    """The SLA tick: its first run (at start) looks at every open ticket, later runs at what is due."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.first = True

    def __call__(self) -> None:
        everything, self.first = self.first, False
        with _named_for(self.app):
            tick(self.app, datetime.now(timezone.utc), everything=everything)


def _digest_job(app: App) -> None:
    with _named_for(app):
        digest(app, datetime.now(timezone.utc))


@contextlib.contextmanager
def _named_for(app: App) -> Iterator[None]:
    """The job's thread carries the helpdesk key while it runs (a pool thread serves all helpdesks;
    the key in the name puts the helpdesk into the log lines, ``settings.logs.helpdesk_of``)."""
    thread = threading.current_thread()
    before = thread.name
    thread.name = f"mailbot-sla[{app.settings.helpdesk_key}]"
    try:
        yield
    finally:
        thread.name = before


def schedule_jobs(scheduler: Any, app: App) -> None:
    """Add one helpdesk's SLA jobs to an APScheduler 3 scheduler: a tick every minute, the digest daily.

    The first tick runs at once and looks at every open ticket, so deadlines follow a
    changed config (standards, calendar) right after a restart. It is the interval job's own
    first run, not a one-off "date" job: APScheduler 3 removes a finished one-off job, and when
    that meets a shutdown (a stop right after the start) its scheduler thread dies with
    JobLookupError (agronholm/apscheduler#104 and kin; seen in tests/e2e/test_crash.py).
    (Many helpdesks in one process share one tick instead: ``tick_all``, scheduled by ``ops.fleet``.)
    """
    now = datetime.now(timezone.utc)
    scheduler.add_job(_TickJob(app), "interval", minutes=1, id="sla_tick", name="sla tick",
                      max_instances=1, coalesce=True, next_run_time=now, misfire_grace_time=1)
    schedule_digest(scheduler, app)


def schedule_digest(scheduler: Any, app: App, *, shared: bool = False) -> None:
    """Add the helpdesk's daily digest (if configured); ``shared``: one scheduler serves every
    helpdesk of the process, the job id carries the helpdesk key."""
    s = app.settings.sla
    if s.digest:
        suffix = f"[{app.settings.helpdesk_key}]" if shared else ""
        scheduler.add_job(_digest_job, "cron", args=[app], hour=s.digest_time.hour, minute=s.digest_time.minute,
                          timezone=app.settings.helpdesk.timezone, id=f"sla_digest{suffix}", max_instances=1,
                          coalesce=True, misfire_grace_time=3 * 3600)


def unschedule_jobs(scheduler: Any, app: App) -> None:
    """Remove one helpdesk's digest from a shared scheduler (its mailbox moved to another worker)."""
    with contextlib.suppress(Exception):  # JobLookupError: no digest configured
        scheduler.remove_job(f"sla_digest[{app.settings.helpdesk_key}]")
