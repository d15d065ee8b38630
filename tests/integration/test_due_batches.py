"""The periodic work of many helpdesks asked of the database once for the deployment (issue 24):
which outboxes have mail waiting (``outbox.due_by_helpdesk``) and which tickets the SLA tick must
look at (``sla_jobs.due_tickets``, ``tick_all``); and the mailboxes' polls written together
(``health.Beats``). Runs on the suite's backend (``db_url``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import event, select, update

from mailbot.mail import outbox
from mailbot.ops import health
from mailbot.service import sla_jobs
from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from mailbot.storage.models import MailboxStatus, Outbox, Ticket
from tests.integration.test_helpdesks import NOW, mail, two_helpdesks


@contextmanager
def statements(app: App) -> Iterator[list[str]]:
    """The SQL statements run on the deployment's engine meanwhile."""
    seen: list[str] = []
    engine = app.factory.kw["bind"]

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def queue_mail(app: App, n: int, *, due: timedelta = timedelta(0), status: str = "pending") -> None:
    msg = EmailMessage()
    msg["Subject"] = f"Balasan {n}"
    msg.set_content("Terima kasih.")
    key = app.settings.helpdesk_key
    with app.factory.begin() as session:
        outbox.queue(session, msg, message_id=f"<{key}-{n}@lpse.test>", mail_from=app.settings.helpdesk.address,
                     recipients=["budi@vendor.test"], ticket_id=None, now=NOW, helpdesk=key)
        session.execute(update(Outbox).where(Outbox.message_id == f"<{key}-{n}@lpse.test>")
                        .values(next_attempt_at=NOW + due, status=status))


def open_tickets(app: App, n: int) -> list[int]:
    ids = []
    for i in range(n):
        address = app.settings.helpdesk.address
        outcome = process_raw(app, mail(f"<{app.settings.helpdesk_key}-{i}@vendor.test>", address,
                                        f"Gagal login {i}", "Akun saya terkunci."), NOW)
        assert outcome.kind == "opened" and outcome.ticket_id is not None
        ids.append(outcome.ticket_id)
    return ids


def test_one_query_finds_every_helpdesk_with_mail_waiting_and_when_it_is_due(tmp_path: Path, db_url: str) -> None:
    kota, kab = two_helpdesks(tmp_path, db_url)
    assert outbox.due_by_helpdesk(kota.factory) == {}
    queue_mail(kota, 1, due=timedelta(minutes=2))
    queue_mail(kota, 2)  # kota's earliest
    queue_mail(kab, 1, due=timedelta(seconds=40))  # a retry after its server deferred it
    queue_mail(kab, 2, status="sent")
    queue_mail(kab, 3, status="failed")
    with statements(kota) as seen:
        pending = outbox.due_by_helpdesk(kota.factory)
    assert pending == {"kota": NOW, "kab": NOW + timedelta(seconds=40)}
    assert len(seen) == 1
    with kab.factory.begin() as session:  # kab's mail went out: kab has nothing waiting any more
        session.execute(update(Outbox).where(Outbox.helpdesk == "kab").values(status="sent"))
    assert outbox.due_by_helpdesk(kota.factory) == {"kota": NOW}


def test_the_tickets_due_for_the_sla_tick_are_found_for_all_helpdesks_at_once(tmp_path: Path, db_url: str) -> None:
    kota, kab = two_helpdesks(tmp_path, db_url)
    kota_ids, kab_ids = open_tickets(kota, 2), open_tickets(kab, 2)
    with kota.factory() as session:
        next_at = {i: at for i, at in session.execute(select(Ticket.id, Ticket.sla_next_at)) if at is not None}
    assert len(next_at) == 4 and min(next_at.values()) > NOW  # each has a deadline ahead
    with statements(kota) as seen:
        assert sla_jobs.due_tickets(kota.factory, NOW) == {}  # freshly refreshed: nothing due
    assert len(seen) == 1
    # A warning of one of kota's tickets comes (before the other deadlines): that ticket alone.
    soon = NOW + timedelta(seconds=1)
    assert min(next_at.values()) > soon
    with kota.factory.begin() as session:
        session.execute(update(Ticket).where(Ticket.id == kota_ids[1]).values(sla_next_at=soon))
    assert sla_jobs.due_tickets(kota.factory, soon) == {"kota": [kota_ids[1]]}
    assert sla_jobs.due_tickets(kota.factory, NOW) == {}
    # A ticket changed without its deadlines refreshed is looked at too.
    with kab.factory.begin() as session:
        session.execute(update(Ticket).where(Ticket.id == kab_ids[1]).values(updated_at=NOW + timedelta(minutes=1)))
    assert sla_jobs.due_tickets(kota.factory, NOW) == {"kab": [kab_ids[1]]}
    # A helpdesk just taken by this process: all its open tickets (not the closed ones).
    with kab.factory.begin() as session:
        session.execute(update(Ticket).where(Ticket.id == kab_ids[0]).values(state="closed"))
    assert sla_jobs.due_tickets(kota.factory, NOW, everything={"kota"}) == {"kota": kota_ids, "kab": [kab_ids[1]]}
    far = max(next_at.values()) + timedelta(days=30)  # every moment has come (the closed one's too)
    assert sla_jobs.due_tickets(kota.factory, far) == {"kota": kota_ids, "kab": kab_ids}


def test_helpdesks_taken_together_are_asked_in_chunks(tmp_path: Path, db_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    kota, kab = two_helpdesks(tmp_path, db_url)
    kota_ids, kab_ids = open_tickets(kota, 1), open_tickets(kab, 1)
    monkeypatch.setattr(sla_jobs, "KEYS_PER_QUERY", 1)
    with statements(kota) as seen:
        found = sla_jobs.due_tickets(kota.factory, NOW, everything=["kota", "kab", "gone"])
    assert found == {"kota": kota_ids, "kab": kab_ids}
    assert len(seen) == 4  # what is due, then one per chunk of keys


def test_tick_all_ticks_only_the_helpdesks_with_something_due_and_only_its_own(tmp_path: Path, db_url: str) -> None:
    kota, kab = two_helpdesks(tmp_path, db_url)
    [kota_id], [kab_id] = open_tickets(kota, 1), open_tickets(kab, 1)
    with kota.factory() as session:
        checked = dict(session.execute(select(Ticket.id, Ticket.sla_checked_at)).all())
        due = max(at for at in session.scalars(select(Ticket.sla_next_at)) if at is not None)
    # Nothing due: one query for both helpdesks, and no helpdesk is ticked.
    with statements(kota) as seen:
        assert sla_jobs.tick_all({"kota": kota, "kab": kab}, NOW) == {}
    assert len(seen) == 1
    # Both tickets due, but this process serves kota only (kab's mailbox is another worker's).
    results = sla_jobs.tick_all({"kota": kota}, due)
    assert set(results) == {"kota"} and results["kota"].checked == 1 and results["kota"].errors == 0
    with kota.factory() as session:
        after = dict(session.execute(select(Ticket.id, Ticket.sla_checked_at)).all())
    assert after[kota_id] == due and after[kab_id] == checked[kab_id]
    # A helpdesk's first tick here looks at all its open tickets even when nothing is due.
    results = sla_jobs.tick_all({"kota": kota, "kab": kab}, NOW, first={"kab"})
    assert set(results) == {"kab"} and results["kab"].checked == 1


def test_the_polls_of_many_mailboxes_are_written_in_one_statement(tmp_path: Path, db_url: str) -> None:
    kota, kab = two_helpdesks(tmp_path, db_url)
    for app in (kota, kab):
        health.ok(app, app.settings.imap, NOW)  # a connection's first poll: the row, at once
    beats = health.Beats(kota.factory)
    with statements(kota) as seen:
        assert beats.flush() == 0
    assert seen == []  # nothing noted, nothing written
    beats.note(kota.settings.imap, NOW + timedelta(seconds=60))
    beats.note(kab.settings.imap, NOW + timedelta(seconds=30))
    beats.note(kab.settings.imap, NOW + timedelta(seconds=61))  # the newest of a mailbox counts
    with statements(kota) as seen:
        assert beats.flush() == 2
    assert len([s for s in seen if s.lstrip().upper().startswith("UPDATE")]) == 1
    with kota.factory() as session:
        rows = dict(session.execute(select(MailboxStatus.key, MailboxStatus.last_ok_at)).all())
    assert rows == {health.key_of(kota.settings.imap): NOW + timedelta(seconds=60),
                    health.key_of(kab.settings.imap): NOW + timedelta(seconds=61)}
    # A poll noted before one written at once (a reconnect) never moves the time back.
    health.ok(kota, kota.settings.imap, NOW + timedelta(seconds=90))
    beats.note(kota.settings.imap, NOW + timedelta(seconds=75))
    beats.flush()
    with kota.factory() as session:
        assert session.scalar(select(MailboxStatus.last_ok_at).where(
            MailboxStatus.key == health.key_of(kota.settings.imap))) == NOW + timedelta(seconds=90)
