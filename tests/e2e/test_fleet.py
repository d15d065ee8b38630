"""Many helpdesks in one ``mailbot run`` (issue 24): a thread per mailbox, the sending shared by a
fixed pool; each helpdesk still sends through its own SMTP account, and one whose SMTP server hangs
delays nobody else."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailbot.storage import store
from tests.e2e.conftest import user_mail
from tests.support import pgstack
from tests.support.botproc import BotProcess, set_keys, wait_until
from tests.support.faultsmtp import FaultSMTP
from tests.support.fleet import fleet_config
from tests.support.mailstack import MailStack, fetch_all, send, unique_address, wait_for


@pytest.fixture
def fault(stack: MailStack) -> Iterator[FaultSMTP]:
    with FaultSMTP(stack) as server:
        yield server


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_a_hanging_smtp_server_delays_only_its_own_helpdesk(
        stack: MailStack, fault: FaultSMTP, tmp_path: Path) -> None:
    db_url = pgstack.database_url(tmp_path)
    config = tmp_path / "mailbot.toml"
    hanging = f'port = {fault.port}\nsecurity = "none"\ntimeout = 60'
    desks = fleet_config(config, stack, 4, db_url, smtp_extra={"h000": hanging})
    set_keys(config, "workers", sender_threads=2)  # fewer senders than helpdesks
    store.upgrade(store.make_engine(db_url))
    fault.mode = "hang"  # accepts the connection and never answers
    bot = BotProcess(config, tmp_path / "run.log").start()
    try:
        bot.wait_log(r"serving 4 helpdesks", timeout=60)
        stuck_user = unique_address("warga", "vendor.test")
        send(stack, user_mail(stuck_user, desks[0].address, "Kendala login", "Tidak bisa login."),
             mail_from=stuck_user, rcpt_to=[desks[0].address])
        [hung] = wait_until(lambda: fault.hung, 30, "the first helpdesk's sender on its hanging server")  # type: ignore[misc]
        started = time.monotonic()
        users = []
        for desk in desks[1:]:
            user = unique_address("warga", "vendor.test")
            users.append(user)
            send(stack, user_mail(user, desk.address, "Kendala upload", "Upload dokumen gagal."),
                 mail_from=user, rcpt_to=[desk.address])
        for user in users:  # the others' acknowledgments go out through their own accounts meanwhile
            [ack] = wait_for(stack, user, predicate=lambda m: "Tiket diterima" in m.subject, timeout=30)
        took = time.monotonic() - started
        assert hung.closed is None and len(fault.hung) == 1, "the hanging helpdesk held more than one sender"
        assert took < 30, took
        # A thread per mailbox plus a constant (main, dispatcher, 2 senders, scheduler, its job threads).
        assert threads_of(bot.pid) <= len(desks) + 8, threads_of(bot.pid)
        assert fetch_all(stack, stuck_user) == []  # its own reply still waits for its own server
    finally:
        fault.release_hung()
        assert bot.stop(timeout=90) == 0


def test_a_released_mailbox_stops_watching_at_once(stack: MailStack, tmp_path: Path) -> None:
    """A lease that moves (``Fleet.release``) ends that mailbox's IDLE wait at once, through its
    watcher's bell (no timer looks at the stop), and leaves the other mailboxes watching."""
    import threading

    from mailbot.ops.fleet import Fleet
    from mailbot.service.app import build_apps
    from mailbot.settings.loading import load_settings

    db_url = pgstack.database_url(tmp_path)
    config = tmp_path / "mailbot.toml"
    desks = fleet_config(config, stack, 2, db_url)
    apps = build_apps(load_settings(config))
    stop = threading.Event()
    fleet = Fleet(apps, stop).start()
    try:
        for desk in desks:
            fleet.take(desk.key)
        wait_until(lambda: all(store_polled(apps[0], desk.address) for desk in desks), 60, "both mailboxes polled")
        time.sleep(1)  # both in IDLE now, renewal minutes away
        watcher = fleet._watchers[desks[0].key]
        started = time.monotonic()
        fleet.release(desks[0].key, wait=10)
        assert not watcher.thread.is_alive()
        assert time.monotonic() - started < 3  # not a renewal's minutes
        assert fleet.watching() == [desks[1].key]
    finally:
        fleet.shutdown()
    assert not fleet.watching()


def store_polled(app: Any, address: str) -> bool:
    from sqlalchemy import select

    from mailbot.storage.models import MailboxStatus

    with app.factory() as session:
        rows = session.scalars(select(MailboxStatus)).all()
        return any(row.last_ok_at is not None and row.kind == "imap" and row.mailbox == address for row in rows)
