"""The instance lock: one ``mailbot run`` per mailbox and database (SQLite file lock, PostgreSQL advisory lock).

Runs on the suite's backend (``db_url``); the e2e test ``test_ops.py`` shows it between real processes.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

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
