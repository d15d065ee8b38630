"""Times the console's queries on the province-sized database of ``bench/console_data.py``.

Each case is a callable ``run(session, pick) -> result`` timed ``--runs`` times (after a few
untimed warm-up runs), each in a fresh session as a web request would have it, from the session's
start to the last row read; ``pick`` holds the run's random but realistic parameters (a helpdesk,
one of its staff, an open ticket, ...). The table shows p50 / p95 / max in milliseconds and the mean
number of rows returned.

The cases: ``search_tickets`` (storage/search.py) on each kind of query staff type (a ticket
number, a bare number, an address, a name, a tender code, common and rare words, a prefix) within
the staff's helpdesk, and LKPP's search of escalated tickets of every helpdesk; the queue (open
tickets of one helpdesk by next deadline, filtered by state, priority, assignee or overdue, a page
of 50 and the count); a ticket page (the ticket, its messages with their attachments' names, its
events, the requester's earlier tickets).

Adding a query (the web console's own functions, say) is a few lines at the end of ``CASES``:

    CASES.append(Case("web: queue", lambda s, p: web.queries.queue(s, p.helpdesk, assignee=p.staff)))

    .venv/bin/python bench/console_bench.py                        # SQLite: /tmp/mailbot-console/console.db
    .venv/bin/python bench/console_bench.py --backend postgresql   # database mailbot_console on pgstack
    .venv/bin/python bench/console_bench.py --runs 200 --only search
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer, selectinload

from bench.console_data import NOW, PG_DATABASE, SQLITE_DEFAULT
from mailbot.storage import search, store
from mailbot.storage.models import Message, StoredAttachment, Ticket
from mailbot.web import queries as wq
from mailbot.web.access import Viewer

OPEN_STATES = ("new", "waiting_user", "analysis", "escalated")


@dataclass
class Pools:
    """What the runs pick from, read once from the database."""

    helpdesks: list[str]
    staff: dict[str, list[str]]
    open_tickets: list[int]
    tickets: list[tuple[int, str, int, str, str, str, str]]  # id, helpdesk, seq, number, requester, name, subject
    codes: list[tuple[int, str, str]]  # (ticket id, helpdesk, a tender code in its first mail)
    common: list[str] = field(default_factory=lambda: ["upload", "tender", "gagal", "mohon bantuan", "dokumen",
                                                       "password", "login", "penawaran"])
    rare: list[str] = field(default_factory=lambda: ["dekripsi", "roaming", "verifikasi akun", "apendo", "sertifikat",
                                                     "jadwal evaluasi", "addendum", "kualifikasi"])


@dataclass
class Pick:
    """One run's parameters."""

    rng: random.Random
    pools: Pools
    helpdesk: str
    staff: str
    ticket_id: int
    row: tuple[int, str, int, str, str, str, str]

    def code(self) -> tuple[int, str, str]:
        return self.rng.choice(self.pools.codes)


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Session, Pick], Any]


def load_pools(session: Session, rng: random.Random) -> Pools:
    helpdesks = sorted(session.scalars(select(Ticket.helpdesk).distinct()))
    staff: dict[str, list[str]] = {}
    for hd, assignee in session.execute(select(Ticket.helpdesk, Ticket.assignee).where(Ticket.assignee.is_not(None))
                                        .distinct()):
        staff.setdefault(hd, []).append(assignee)
    open_tickets = list(session.scalars(select(Ticket.id).where(Ticket.state.in_(OPEN_STATES))))
    ids = rng.sample(range(1, (session.scalar(select(func.max(Ticket.id))) or 1) + 1), 2000)
    tickets = [tuple(r) for r in session.execute(select(
        Ticket.id, Ticket.helpdesk, Ticket.seq, Ticket.number, Ticket.requester, Ticket.requester_name, Ticket.subject)
        .where(Ticket.id.in_(ids)))]
    codes = []
    for tid, hd, body in session.execute(select(Ticket.id, Ticket.helpdesk, Message.new_text).join(Message)
                                         .where(Message.ticket_id.in_(ids[:500]), Message.direction == "in",
                                                Message.role == "user")):
        codes += [(tid, hd, c) for c in re.findall(r"(?<!\d)\d{11}(?!\d)", body)]
    return Pools(helpdesks, staff, open_tickets, tickets, codes)  # type: ignore[arg-type]


def pick(rng: random.Random, pools: Pools) -> Pick:
    row = rng.choice(pools.tickets)
    return Pick(rng, pools, row[1], rng.choice(pools.staff[row[1]]), rng.choice(pools.open_tickets), row)


# ---- the cases -------------------------------------------------------------------------------------


def find(session: Session, query: str, helpdesk: str | None, escalated_only: bool = False) -> list[int]:
    return search.search_tickets(session, query, helpdesk_ids=[helpdesk] if helpdesk else None,
                                 escalated_only=escalated_only)


def next_deadline() -> Any:
    """The queue's "next deadline": the resolution deadline, or the auto-close date of a ticket
    waiting for the user (its resolution clock is paused). The web console may define its own."""
    return func.coalesce(Ticket.due_at, Ticket.autoclose_at)


def queue(session: Session, helpdesk: str, *, state: str | None = None, priority: str | None = None,
          assignee: str | None = None, unassigned: bool = False, overdue_at: datetime | None = None,
          page: int = 0) -> tuple[int, list[Ticket]]:
    """Open tickets of one helpdesk, by next deadline: the count and one page of 50."""
    where = [Ticket.helpdesk == helpdesk, Ticket.state.in_(OPEN_STATES)]
    if state:
        where.append(Ticket.state == state)
    if priority:
        where.append(Ticket.priority == priority)
    if assignee:
        where.append(Ticket.assignee == assignee)
    if unassigned:
        where.append(Ticket.assignee.is_(None))
    if overdue_at is not None:
        where.append(Ticket.due_at < overdue_at)
    total = session.scalar(select(func.count()).select_from(Ticket).where(*where)) or 0
    rows = list(session.scalars(select(Ticket).where(*where)
                                .order_by(next_deadline().asc().nulls_last(), Ticket.id).limit(50).offset(page * 50)))
    return total, rows


def queue_case(session: Session, p: Pick) -> list[Ticket]:
    kind = p.rng.choices(["all", "state", "priority", "mine", "unassigned", "overdue"], [30, 20, 15, 15, 10, 10])[0]
    _total, rows = queue(session, p.helpdesk, state=p.rng.choice(OPEN_STATES[1:]) if kind == "state" else None,
                         priority=p.rng.choice(["tinggi", "sedang", "rendah"]) if kind == "priority" else None,
                         assignee=p.staff if kind == "mine" else None, unassigned=kind == "unassigned",
                         overdue_at=NOW if kind == "overdue" else None)
    return rows


def ticket_page(session: Session, ticket_id: int) -> tuple[Ticket, list[Any]]:
    """A ticket with its messages (attachments without their bytes), events, and the requester's other tickets."""
    ticket = session.get(Ticket, ticket_id, options=[
        selectinload(Ticket.messages).selectinload(Message.attachments).options(defer(StoredAttachment.content)),
        selectinload(Ticket.events)])
    assert ticket is not None
    earlier = list(session.execute(select(Ticket.id, Ticket.number, Ticket.subject, Ticket.state, Ticket.opened_at)
                                   .where(Ticket.requester == ticket.requester, Ticket.id != ticket.id)
                                   .order_by(Ticket.id.desc()).limit(20)))
    for m in ticket.messages:
        _ = [a.filename for a in m.attachments]
    return ticket, earlier


def _prefix(p: Pick) -> str:
    word = p.rng.choice(list(re.findall(r"[a-z]{6,}", p.row[6].lower())) or ["dokumen"])
    return word[: p.rng.randint(3, 5)]


def found(ids: list[int], wanted: int, first: bool = False) -> list[int]:
    """``ids``, after checking that they hold the ticket the query was made from (first, if asked)."""
    if (ids[:1] if first else ids).count(wanted) != 1:
        raise AssertionError(f"ticket {wanted} not found: {ids[:10]}")
    return ids


CASES: list[Case] = [
    Case("search: ticket number", lambda s, p: found(find(s, p.row[3], p.row[1]), p.row[0], first=True)),
    Case("search: bare number", lambda s, p: found(find(s, str(p.row[2]), p.row[1]), p.row[0], first=True)),
    Case("search: requester address", lambda s, p: found(find(s, p.row[4], p.row[1]), p.row[0])),
    Case("search: requester name", lambda s, p: find(s, p.row[5], p.helpdesk)),
    Case("search: tender code", lambda s, p: (lambda t: found(find(s, t[2], t[1]), t[0]))(p.code())),
    Case("search: common words", lambda s, p: find(s, p.rng.choice(p.pools.common), p.helpdesk)),
    Case("search: rare words", lambda s, p: find(s, p.rng.choice(p.pools.rare), p.helpdesk)),
    Case("search: prefix of a word", lambda s, p: find(s, _prefix(p), p.helpdesk)),
    Case("search: LKPP, all helpdesks, escalated", lambda s, p: find(
        s, p.rng.choice(p.pools.common + p.pools.rare + [p.row[5]]), None, escalated_only=True)),
    Case("queue: page of 50 + count", queue_case),
    Case("ticket page", lambda s, p: ticket_page(s, p.ticket_id)),
]


# ---- the web console's own query functions (mailbot/web/queries.py), as its pages call them -----------


def _staff(p: Pick) -> Viewer:
    return Viewer(p.staff, "staff", (p.helpdesk,))


def _web_page(s: Session, p: Pick) -> list[int]:
    page = wq.ticket_page(s, _staff(p), p.row[0], NOW)
    assert page is not None  # the staff member of the ticket's helpdesk sees it
    return [page.ticket.id]


CASES += [
    Case("web: queue (staff, one helpdesk)", lambda s, p: wq.queue(s, _staff(p), wq.QueueFilters(), NOW).rows),
    Case("web: queue, mine", lambda s, p: wq.queue(s, _staff(p), wq.QueueFilters(assignee="mine"), NOW).rows),
    Case("web: queue, closed", lambda s, p: wq.queue(s, _staff(p), wq.QueueFilters(state="closed"), NOW).rows),
    Case("web: queue (LKPP, every helpdesk)", lambda s, p: wq.queue(
        s, Viewer("helpdesk@lkpp.test", "lkpp", tuple(p.pools.helpdesks)), wq.QueueFilters(), NOW).rows),
    Case("web: ticket page", _web_page),
    Case("web: dashboard (staff)", lambda s, p: [wq.dashboard(s, _staff(p), NOW, NOW.replace(hour=0))]),
    Case("web: dashboard (LKPP)", lambda s, p: [wq.dashboard(
        s, Viewer("helpdesk@lkpp.test", "lkpp", tuple(p.pools.helpdesks)), NOW, NOW.replace(hour=0))]),
]


# ---- the stopwatch ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(factory: Any, case: Case, pools: Pools, runs: int, seed: int, warmup: int = 5) -> tuple[list[float], float]:
    rng = random.Random(seed)
    times, sizes = [], []
    for i in range(warmup + runs):
        p = pick(rng, pools)
        start = time.perf_counter()
        with factory() as session:
            result = case.run(session, p)
        elapsed = (time.perf_counter() - start) * 1000
        if i >= warmup:
            times.append(elapsed)
            sizes.append(len(result) if isinstance(result, list) else len(result[0].messages)
                         if isinstance(result, tuple) else 1)
    return times, statistics.mean(sizes)


def engine_for(backend: str, url: str | None, database: str) -> Any:
    if url is None:
        if backend == "sqlite":
            url = f"sqlite:///{SQLITE_DEFAULT}"
        else:
            from tests.support import pgstack

            url = pgstack.ensure_started().url(database)
    return store.make_engine(url)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--url")
    ap.add_argument("--database", default=PG_DATABASE, help="PostgreSQL: the database on pgstack")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--only", default="", help="cases whose name contains this")
    args = ap.parse_args(argv)
    engine = engine_for(args.backend, args.url, args.database)
    factory = store.make_sessionmaker(engine)
    with factory() as session:
        pools = load_pools(session, random.Random(args.seed))
        tickets = session.scalar(select(func.count()).select_from(Ticket))
    print(f"{engine.dialect.name}: {tickets:,} tickets, {len(pools.open_tickets):,} open; {args.runs} runs per case; "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"| {'case':<40} | p50 ms | p95 ms | max ms | rows |")
    print(f"| {'-' * 40} | ------ | ------ | ------ | ---- |")
    for case in CASES:
        if args.only and args.only not in case.name:
            continue
        times, rows = measure(factory, case, pools, args.runs, args.seed)
        print(f"| {case.name:<40} | {percentile(times, 0.5):6.1f} | {percentile(times, 0.95):6.1f} | "
              f"{max(times):6.1f} | {rows:4.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

