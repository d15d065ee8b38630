"""Polite to mail servers (issue 24): a server handles only so many logins at once (Dovecot: 100
login processes by default) and leaves the rest hanging or resets them. ``mailbot run`` sends every
login through a process-wide cap (``[workers] max_concurrent_logins``), so a deployment of many
mailboxes starting at once gets every mailbox in.

The limit is shown on a Dovecot of the test's own (``tests.support.fleet.SmallDovecot``, 8 login
processes): the shared stack is never reconfigured."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from imap_tools import MailBoxUnencrypted
from sqlalchemy import select

from mailbot.storage import store
from mailbot.storage.models import MailboxStatus
from tests.support import pgstack
from tests.support.botproc import BotProcess, set_keys, wait_until
from tests.support.fleet import SmallDovecot, fleet_config
from tests.support.mailstack import MailStack

LOGIN_LIMIT = 8
MAILBOXES = 40


@pytest.fixture
def small_dovecot() -> Iterator[SmallDovecot]:
    server = SmallDovecot(LOGIN_LIMIT).start()
    try:
        yield server
    finally:
        server.stop()


def storm(server: SmallDovecot, n: int, gate: threading.Semaphore | None = None) -> list[str]:
    """``n`` logins started at the same instant; returns the failures."""
    start = threading.Barrier(n)
    failures: list[str] = []
    boxes: list[MailBoxUnencrypted] = []

    def one(i: int) -> None:
        start.wait()
        try:
            if gate is not None:
                gate.acquire()
            try:
                boxes.append(MailBoxUnencrypted(server.host, server.port, timeout=5).login(
                    f"storm{i}@lpse.test", "secret"))
            finally:
                if gate is not None:
                    gate.release()
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for box in boxes:
        box.logout()
    return failures


def test_the_servers_login_limit_is_real(small_dovecot: SmallDovecot) -> None:
    """Without a cap, a storm of logins beyond the server's login processes fails in part."""
    failures = storm(small_dovecot, MAILBOXES)
    assert len(failures) >= MAILBOXES // 4, failures


def test_a_deployment_of_many_mailboxes_starts_through_the_login_cap(
        small_dovecot: SmallDovecot, stack: MailStack, tmp_path: Path) -> None:
    db_url = pgstack.database_url(tmp_path)
    config = tmp_path / "mailbot.toml"
    desks = fleet_config(config, stack, MAILBOXES, db_url, imap_host=small_dovecot.host,
                         imap_port=small_dovecot.port, imap_security="none")
    set_keys(config, "workers", max_concurrent_logins=LOGIN_LIMIT // 2)
    engine = store.make_engine(db_url)
    store.upgrade(engine)
    factory = store.make_sessionmaker(engine)
    bot = BotProcess(config, tmp_path / "run.log").start()

    def all_in() -> bool:
        with factory() as session:
            rows = session.scalars(select(MailboxStatus).where(MailboxStatus.kind == "imap")).all()
        return sum(1 for r in rows if r.last_ok_at is not None) == len(desks)

    try:
        wait_until(all_in, 60, f"all {MAILBOXES} mailboxes logged in and polled")
        assert bot.error_lines() == []  # not one login refused, reset or timed out
    finally:
        assert bot.stop() == 0
