"""What ``mailbot run`` shares between its mailboxes (issue 24): the sender
(``ops.fleet.SendPool``), which flushes only the outboxes with mail due, decided from one question
to the whole deployment, not one per helpdesk; and the polls written together (``health.Beats``).

The pool is driven by hand here (``rescan``, ``pick``, ``done``), without its threads: these are
its decisions, not its timing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from mailbot.ops.fleet import SendPool, seconds_until


def fake_app(key: str) -> Any:
    return SimpleNamespace(settings=SimpleNamespace(helpdesk_key=key))


class Scan:
    """What ``outbox.due_by_helpdesk`` would answer; counts how often it was asked."""

    def __init__(self) -> None:
        self.pending: dict[str, datetime] = {}
        self.calls = 0
        self.error: Exception | None = None

    def __call__(self) -> dict[str, datetime]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return dict(self.pending)


def pool_of(n: int, scan: Scan) -> SendPool:
    pool = SendPool(threading.Event(), 2, scan, interval=30.0, gap=0.2)
    for i in range(n):
        pool.add(fake_app(f"h{i:03}"))
    return pool


def handed(pool: SendPool, now: float) -> list[str]:
    """The helpdesks ``pick`` hands to the senders at ``now`` (monotonic)."""
    pool.pick(now)
    keys = []
    while not pool._ready.empty():
        key = pool._ready.get()
        assert key is not None
        keys.append(key)
    return sorted(keys)


def test_seconds_until_counts_from_now_and_never_below_zero() -> None:
    now = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)
    assert seconds_until({"a": now - timedelta(minutes=5), "b": now + timedelta(seconds=12), "c": now}, now) == {
        "a": 0.0, "b": 12.0, "c": 0.0}
    assert seconds_until({}, now) == {}


def test_idle_helpdesks_are_never_flushed_and_one_question_covers_them_all() -> None:
    scan = Scan()
    pool = pool_of(600, scan)
    for _ in range(3):  # three intervals of a deployment where nothing is waiting
        pool.rescan()
        assert handed(pool, time.monotonic() + 3600) == []
    assert scan.calls == 3  # one question per interval for 600 helpdesks, not 600


def test_only_the_helpdesks_with_mail_due_are_flushed_each_when_its_mail_is_due() -> None:
    scan = Scan()
    pool = pool_of(600, scan)
    now = datetime.now(timezone.utc)
    scan.pending = {"h007": now - timedelta(seconds=1), "h123": now + timedelta(seconds=40),
                    "elsewhere": now}  # a helpdesk this process does not serve (another worker's)
    pool.rescan()
    start = time.monotonic()
    assert handed(pool, start) == ["h007"]
    assert handed(pool, start + 30) == []  # h123's mail (a retry after a failure) is not due yet
    assert handed(pool, start + 41) == ["h123"]


def test_a_woken_helpdesk_is_flushed_at_once_without_asking() -> None:
    scan = Scan()
    pool = pool_of(10, scan)
    pool.wake("h003")
    assert handed(pool, time.monotonic()) == ["h003"]
    assert scan.calls == 0


def test_after_its_round_a_helpdesk_waits_for_its_next_mail_or_its_next_wake() -> None:
    scan = Scan()
    pool = pool_of(3, scan)
    desk = pool._desks["h001"]
    pool.wake("h001")
    assert handed(pool, time.monotonic()) == ["h001"]
    pool.done(desk, math.inf, True)  # sent everything, nothing left waiting
    assert handed(pool, time.monotonic() + 3600) == []
    pool.wake("h001")  # a new reply committed: again, once the gap after the last sending has passed
    assert handed(pool, desk.not_before) == ["h001"]
    pool.done(desk, 5.0, False)  # a mail deferred by its server, due again in 5 s
    assert handed(pool, time.monotonic() + 1) == []
    assert handed(pool, time.monotonic() + 6) == ["h001"]


def test_a_helpdesk_still_sending_is_not_handed_out_again_and_the_others_go_on() -> None:
    """Its SMTP server hangs: the scan still lists its mail, but one flush of it at a time."""
    scan = Scan()
    pool = pool_of(4, scan)
    now = datetime.now(timezone.utc)
    scan.pending = {"h000": now}
    pool.rescan()
    assert handed(pool, time.monotonic()) == ["h000"]  # its flush hangs from here on
    scan.pending = {"h000": now, "h002": now}
    pool.rescan()
    pool.wake("h000")
    assert handed(pool, time.monotonic()) == ["h002"]
    pool.done(pool._desks["h000"], math.inf, False)  # the hang ended (timeout); it was woken meanwhile
    assert handed(pool, time.monotonic()) == ["h000"]


def test_a_failed_question_is_logged_and_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    scan = Scan()
    pool = pool_of(3, scan)
    scan.error = OperationalError("SELECT", {}, Exception("database or disk is full"))
    with caplog.at_level(logging.ERROR):
        pool.rescan()
    assert "outbox due check failed" in caplog.text
    assert handed(pool, time.monotonic() + 3600) == []
    scan.error = None
    scan.pending = {"h002": datetime.now(timezone.utc)}
    pool.rescan()
    assert handed(pool, time.monotonic()) == ["h002"]


def test_a_removed_helpdesk_is_not_flushed_here_any_more() -> None:
    scan = Scan()
    pool = pool_of(3, scan)
    pool.remove("h001")  # its mailbox moved to another worker
    scan.pending = {"h001": datetime.now(timezone.utc)}
    pool.rescan()
    pool.wake("h001")
    assert handed(pool, time.monotonic()) == []


class FailingFactory:
    """A sessionmaker whose database refuses every transaction (a full disk)."""

    def begin(self) -> Any:
        raise OperationalError("UPDATE", {}, Exception("database or disk is full"))


def test_polls_that_could_not_be_written_are_kept_for_the_next_write(caplog: pytest.LogCaptureFixture) -> None:
    from mailbot.ops import health
    from mailbot.settings.config import ImapSettings

    beats = health.Beats(FailingFactory())  # type: ignore[arg-type]
    imap = ImapSettings(host="127.0.0.1", port=143, username="h001@lpse.test", password="x")
    at = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)
    beats.note(imap, at)
    with caplog.at_level(logging.WARNING):
        assert beats.flush() == 0
    assert "could not record the polls of 1 mailboxes" in caplog.text
    assert beats._seen == {health.key_of(imap): at}  # the service goes on; the poll is written later
    beats.note(imap, at + timedelta(seconds=60))  # a newer poll replaces it
    assert beats._seen == {health.key_of(imap): at + timedelta(seconds=60)}
