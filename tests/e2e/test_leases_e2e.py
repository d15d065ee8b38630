"""Workers share a deployment's mailboxes through PostgreSQL (issue 24): two ``mailbot run``
processes with ``[workers] share_mailboxes = true`` split six mailboxes, each watched by one of
them; ``kill -9`` of one and the other takes its mailboxes over within 60 s (a 30 s lease); every
mail is acknowledged exactly once; ``mailbot status`` names each mailbox's holder."""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from mailbot import cli
from mailbot.storage import store
from tests.e2e.conftest import user_mail
from tests.support import pgstack
from tests.support.botproc import BotProcess, set_keys, wait_until
from tests.support.fleet import fleet_config
from tests.support.mailstack import MailStack, fetch_all, send, unique_address, wait_for

pytestmark = pytest.mark.skipif(
    pgstack.backend() != "postgresql",
    reason="workers share mailboxes through PostgreSQL: runs with MAILBOT_TEST_DB=postgresql (the second pass "
           "of scripts/test.sh)")

MAILBOXES = 6


def holders(factory: object) -> dict[str, int]:
    """helpdesk key -> pid of the worker whose lease on its mailbox is live."""
    with factory() as session:  # type: ignore[operator]
        rows = session.execute(text("SELECT helpdesk, holder FROM mailbox_leases "
                                    "WHERE expires_at > (now() AT TIME ZONE 'utc')")).all()
    return {str(key): int(str(holder).split(":")[1]) for key, holder in rows}


def acks(stack: MailStack, user: str) -> int:
    return sum(1 for m in fetch_all(stack, user) if "Tiket diterima" in m.subject)


def test_two_workers_split_the_mailboxes_and_one_takes_over_when_the_other_is_killed(
        stack: MailStack, tmp_path: Path) -> None:
    db_url = pgstack.database_url(tmp_path)
    config = tmp_path / "mailbot.toml"
    desks = fleet_config(config, stack, MAILBOXES, db_url)
    set_keys(config, "workers", share_mailboxes=True, lease_seconds=30)
    engine = store.make_engine(db_url)
    store.upgrade(engine)
    factory = store.make_sessionmaker(engine)
    workers = [BotProcess(config, tmp_path / f"worker{n}.log").start() for n in (1, 2)]
    try:
        pids = {w.pid for w in workers}
        # Each takes its fair share, ceil(6 / 2) = 3 (the first may take all, then give three up).
        wait_until(lambda: sorted(list(holders(factory).values()).count(p) for p in pids) == [3, 3], 90,
                   "three mailboxes for each worker")

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            cli.main(["--config", str(config), "status", "--offline"])
        lease_lines = [line for line in out.getvalue().splitlines() if line.strip().startswith("lease:")]
        assert len(lease_lines) == MAILBOXES, out.getvalue()
        assert all("held by worker" in line for line in lease_lines)
        assert {p for p in pids if any(f":{p}:" in line for line in lease_lines)} == pids

        users: dict[str, str] = {}

        def mail_each(keys: list[str]) -> None:
            for desk in desks:
                if desk.key in keys:
                    user = unique_address("warga", "vendor.test")
                    users[user] = desk.key
                    send(stack, user_mail(user, desk.address, "Kendala login", "Tidak bisa login SPSE."),
                         mail_from=user, rcpt_to=[desk.address])

        mail_each([d.key for d in desks])
        for user in list(users):
            wait_for(stack, user, predicate=lambda m: "Tiket diterima" in m.subject, timeout=60)

        # kill -9 one worker: its mailboxes, and the mail arriving in them now, go to the other.
        victim, survivor = workers
        lost = [key for key, pid in holders(factory).items() if pid == victim.pid]
        assert len(lost) == 3
        victim.kill()
        killed_at = time.monotonic()
        mail_each(lost)
        wait_until(lambda: set(holders(factory).values()) == {survivor.pid} and len(holders(factory)) == MAILBOXES,
                   75, "the survivor to hold every mailbox")
        takeover = time.monotonic() - killed_at
        print(f"takeover after kill -9: {takeover:.1f} s")
        assert takeover <= 60, takeover
        for user, key in users.items():
            if key in lost:
                wait_for(stack, user, predicate=lambda m: "Tiket diterima" in m.subject, timeout=60)
        time.sleep(3)  # a second acknowledgment, if any were sent, would be delivered by now
        assert {user: acks(stack, user) for user in users} == dict.fromkeys(users, 1)
        with factory() as session:
            assert session.execute(text("SELECT count(*) FROM inbound")).scalar_one() == MAILBOXES + 3
        assert survivor.stop() == 0
        assert holders(factory) == {}  # a clean stop hands its mailboxes back at once
    finally:
        for w in workers:
            w.kill()
