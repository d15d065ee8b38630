"""A new thread's transaction reads the requester's newest tickets once: for the flood cap
(``inbound._opened_lately``) and for the new-ticket notification's list (``team.requester_tickets``).
Both answers are the ones their own queries give, on the suite's database, whatever the requester's
history: tickets within the hour and before it, equal opening times, more than the cap.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailbot.service import team
from mailbot.service.app import App
from mailbot.service.inbound import _opened_lately
from mailbot.storage import store
from mailbot.storage.models import Ticket
from tests.integration.conftest import NOW, make_app

USER = "sari@vendor.test"
#: Minutes before NOW at which the requester opened tickets (two at the same time; the hour's edge).
HISTORY = (1, 5, 5, 20, 59, 60, 61, 90, 600, 3000)


@pytest.fixture
def app(tmp_path: Path) -> App:
    return make_app(tmp_path)


def _ticket(app: App, requester: str, minutes: int, n: int, helpdesk: str | None = None) -> Ticket:
    at = NOW - timedelta(minutes=minutes)
    return Ticket(helpdesk=helpdesk or app.settings.helpdesk_key, number=f"T-{n}", state="new" if n % 2 else "closed",
                  priority="sedang", category="lain", subject=f"Masalah {n}", requester=requester, opened_at=at,
                  updated_at=at)


def _history(app: App, minutes: tuple[int, ...]) -> None:
    with app.factory.begin() as session:
        session.add_all([_ticket(app, USER, m, i) for i, m in enumerate(minutes)])
        session.add_all([_ticket(app, "lain@vendor.test", 1, 100), _ticket(app, USER, 1, 101, helpdesk="kab")])


def _counted(app: App) -> int:
    with app.factory() as session:
        return session.scalar(select(func.count(Ticket.id)).where(
            Ticket.helpdesk == app.settings.helpdesk_key, Ticket.requester == USER,
            Ticket.opened_at >= NOW - timedelta(hours=1))) or 0


@pytest.mark.parametrize("history", [(), (5,), HISTORY, HISTORY[:4], HISTORY[5:]])
@pytest.mark.parametrize("cap", [1, 2, 4, 5, 30])
def test_the_count_and_the_list_are_those_of_their_own_queries(app: App, history: tuple[int, ...], cap: int) -> None:
    _history(app, history)
    key = app.settings.helpdesk_key
    with app.factory.begin() as session:
        assert _opened_lately(session, key, USER, NOW, cap) == _counted(app)
        new = _ticket(app, USER, 0, 999)
        new.seq = store.next_seq(session, key)
        store.insert_ticket(session, new)
        kept = team.requester_tickets(session, new, app)
        session.info.clear()  # nothing kept: the list's own query
        assert kept == team.requester_tickets(session, new, app)
        assert len(kept) == min(len(history), team.REQUESTER_TICKETS_SHOWN)
