"""Workers share a deployment's mailboxes through leases in PostgreSQL (issue 24): each mailbox
held by exactly one worker, each worker its fair share, a dead worker's mailboxes taken over.

The keepers here drive a stand-in for the fleet (it records which mailboxes it was told to watch
and to stop); the real processes and mail are tests/e2e/test_leases_e2e.py's."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from mailbot.ops import leases
from mailbot.storage import store
from tests.integration.conftest import make_app
from tests.support import pgstack

needs_postgresql = pytest.mark.skipif(
    pgstack.backend() != "postgresql",
    reason="leases live in PostgreSQL: runs with MAILBOT_TEST_DB=postgresql (SQLite: see the first test)")

MAILBOXES = 5


class FleetStandIn:
    def __init__(self, factory: Any) -> None:
        self.stop = threading.Event()
        self.apps = {f"h{i}": SimpleNamespace(
            factory=factory, settings=SimpleNamespace(imap=SimpleNamespace(username=f"hd{i}@lpse.test",
                                                                           host="imap.test", port=993)))
            for i in range(MAILBOXES)}
        self.watching: set[str] = set()

    def take(self, key: str) -> None:
        assert key not in self.watching
        self.watching.add(key)

    def release(self, key: str, wait: float = 0.0) -> None:
        self.watching.discard(key)

    def shutdown(self) -> None:
        self.stop.set()
        self.watching.clear()


def test_sqlite_keeps_one_process_watching_every_mailbox(tmp_path: Path) -> None:
    app = make_app(tmp_path, "[workers]\nshare_mailboxes = true\n")
    assert leases.sharing(app) is (app.factory.kw["bind"].dialect.name == "postgresql")


@pytest.fixture
def factory(db_url: str) -> Any:
    engine = store.make_engine(db_url)
    store.upgrade(engine)
    return store.make_sessionmaker(engine)


def holders(factory: Any) -> dict[str, str]:
    with factory() as session:
        return {str(k): str(v) for k, v in session.execute(text("SELECT helpdesk, holder FROM mailbox_leases"))}


def die(factory: Any, worker: str) -> None:
    """What a kill -9 leaves once its lease time has passed: its rows, expired."""
    with factory.begin() as session:
        for table, column in (("mailbox_leases", "holder"), ("worker_beats", "worker")):
            session.execute(text(f"UPDATE {table} SET expires_at = expires_at - interval '1 hour' "
                                 f"WHERE {column} = :w"), {"w": worker})


@needs_postgresql
def test_workers_split_the_mailboxes_and_take_over_a_dead_ones(factory: Any) -> None:
    one, two = FleetStandIn(factory), FleetStandIn(factory)
    first = leases.LeaseKeeper(one, 30, worker="w1")
    second = leases.LeaseKeeper(two, 30, worker="w2")

    first.round()  # alone: every mailbox
    assert len(one.watching) == MAILBOXES and set(holders(factory).values()) == {"w1"}

    second.round()  # a second worker: all are taken, it waits for its share
    assert two.watching == set()
    first.round()  # the first gives up what is beyond ceil(5 / 2) = 3
    assert len(one.watching) == 3
    second.round()
    assert len(two.watching) == 2
    assert one.watching.isdisjoint(two.watching)
    assert holders(factory) == {**dict.fromkeys(one.watching, "w1"), **dict.fromkeys(two.watching, "w2")}
    first.round(), second.round()  # stable: nothing moves
    assert (len(one.watching), len(two.watching)) == (3, 2)

    die(factory, "w1")  # killed: renews nothing any more
    second.round()
    assert len(two.watching) == MAILBOXES and set(holders(factory).values()) == {"w2"}


@needs_postgresql
def test_of_two_workers_reaching_for_one_mailbox_one_gets_it(factory: Any) -> None:
    one, two = FleetStandIn(factory), FleetStandIn(factory)
    first = leases.LeaseKeeper(one, 30, worker="w1")
    second = leases.LeaseKeeper(two, 30, worker="w2")
    mailbox = next(iter(first.mailboxes))
    first.claim([mailbox], 1)  # the one statement both would run
    second.claim([mailbox], 1)
    assert (len(one.watching), len(two.watching)) == (1, 0)
    die(factory, "w1")
    second.claim([mailbox], 1)  # expired: now it is free
    assert len(two.watching) == 1 and set(holders(factory).values()) == {"w2"}


@needs_postgresql
def test_a_clean_stop_hands_the_mailboxes_over_at_once(factory: Any) -> None:
    one, two = FleetStandIn(factory), FleetStandIn(factory)
    first = leases.LeaseKeeper(one, 30, worker="w1")
    second = leases.LeaseKeeper(two, 30, worker="w2")
    first.round()
    first.give_up()
    with factory() as session:
        assert session.execute(text("SELECT count(*) FROM worker_beats WHERE worker = 'w1'")).scalar_one() == 0
    second.round()
    assert len(two.watching) == MAILBOXES
