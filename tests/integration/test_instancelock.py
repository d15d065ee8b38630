"""The instance lock: one ``mailbot run`` per mailbox and database (SQLite file lock, PostgreSQL advisory lock).

Runs on the suite's backend (``db_url``); the e2e test ``test_ops.py`` shows it between real processes.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import text

from mailbot.ops import instancelock
from mailbot.storage import store


def app_for(db_url: str, username: str = "helpdesk@lpse.test", cooperate: bool = False) -> SimpleNamespace:
    engine = store.make_engine(db_url)
    settings = SimpleNamespace(imap=SimpleNamespace(username=username, host="imap.lpse.test", port=993),
                               workers=SimpleNamespace(cooperate=cooperate, share_mailboxes=False))
    return SimpleNamespace(settings=settings, factory=store.make_sessionmaker(engine))


def test_one_run_per_mailbox(db_url: str) -> None:
    first = instancelock.acquire(app_for(db_url))  # type: ignore[arg-type]
    assert first is not None
    with pytest.raises(instancelock.LockHeld) as info:
        instancelock.acquire(app_for(db_url))  # type: ignore[arg-type]
    line = str(info.value)
    assert "another mailbot run is already working mailbox helpdesk@lpse.test@imap.lpse.test:993" in line
    assert "\n" not in line
    # Another mailbox in the same database is independent.
    other = instancelock.acquire(app_for(db_url, "lain@lpse.test"))  # type: ignore[arg-type]
    assert other is not None
    first.release()
    again = instancelock.acquire(app_for(db_url))  # type: ignore[arg-type]
    assert again is not None
    again.release()
    other.release()


def test_cooperating_workers_take_no_lock(db_url: str) -> None:
    held = instancelock.acquire(app_for(db_url))  # type: ignore[arg-type]
    assert instancelock.acquire(app_for(db_url, cooperate=True)) is None  # type: ignore[arg-type]
    assert held is not None
    held.release()


def test_many_mailboxes_of_one_process_hold_their_locks_on_one_connection(db_url: str) -> None:
    """A deployment of hundreds of mailboxes on PostgreSQL: one connection holds every lock (a
    connection per mailbox would empty the pool and the server's connection slots)."""
    engine = store.make_engine(db_url)
    factory = store.make_sessionmaker(engine)

    def app(username: str) -> SimpleNamespace:
        settings = SimpleNamespace(imap=SimpleNamespace(username=username, host="imap.lpse.test", port=993),
                                   workers=SimpleNamespace(cooperate=False, share_mailboxes=False))
        return SimpleNamespace(settings=settings, factory=factory)

    locks = [instancelock.acquire(app(f"hd{i}@lpse.test")) for i in range(40)]  # type: ignore[arg-type]
    assert all(lock is not None for lock in locks)
    with pytest.raises(instancelock.LockHeld):  # the same account twice in one process
        instancelock.acquire(app("hd0@lpse.test"))  # type: ignore[arg-type]
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            sessions = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                                         "'mailbot run pid %' AND datname = current_database()")).scalar_one()
        assert sessions == 1
    for lock in locks:
        lock.release()  # type: ignore[union-attr]
    again = instancelock.acquire(app("hd0@lpse.test"))  # type: ignore[arg-type]
    assert again is not None
    again.release()
