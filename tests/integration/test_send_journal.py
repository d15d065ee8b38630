"""The SQLite sender's journal (``send_journal.SendJournal``, used by ``senders.JournalSender``): few database writes, nothing sent twice.

On SQLite the sender writes its marks to the lock file of its slot instead of committing
twice per mail, and records the accepted mails in batches. These tests check what the
batching must not cost: every mail is recorded exactly as sent, and after a crash the mails the
server had accepted are recorded, not sent again, while the one in flight is resent.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from mailbot.mail import outbox, send_journal, senders
from mailbot.mail import smtp as smtp_module  # ``smtp`` is the fixture here
from mailbot.settings.config import SmtpSettings
from mailbot.storage import store
from mailbot.storage.models import Outbox
from tests.support.smtprecorder import NOW, Recorder, queue_mails

LATER = NOW + timedelta(seconds=1)


@pytest.fixture
def db(tmp_path: Path) -> tuple[sessionmaker[Session], Path]:
    path = tmp_path / "mailbot.db"
    engine = store.make_engine(f"sqlite:///{path}")
    store.upgrade(engine)
    return store.make_sessionmaker(engine), Path(f"{path}.outbox.lock")


def _rows(factory: sessionmaker[Session]) -> dict[str, Outbox]:
    with factory() as session:
        return {row.message_id: row for row in session.scalars(select(Outbox))}


def test_a_flush_records_its_mails_in_a_few_commits(db: tuple[sessionmaker[Session], Path],
                                                    smtp: tuple[Recorder, SmtpSettings]) -> None:
    factory, journal_file = db
    recorder, settings = smtp
    ids = queue_mails(factory, 120)
    commits: list[int] = []
    event.listen(factory.kw["bind"], "commit", lambda conn: commits.append(1))

    result = outbox.flush(factory, settings, LATER)

    assert (result.sent, result.deferred, result.failed, result.interrupted) == (120, 0, 0, 0)
    assert Counter(recorder.ids) == Counter(dict.fromkeys(ids, 1))
    rows = _rows(factory)
    assert {r.status for r in rows.values()} == {"sent"}
    assert {r.attempts for r in rows.values()} == {1} and {r.last_error for r in rows.values()} == {""}
    assert all(r.sent_at is not None and r.sent_at >= NOW for r in rows.values())
    # One write per JOURNAL_BATCH mails (or second), not two per mail: the sender no longer queues
    # behind the intake's transactions for SQLite's single write lock.
    assert len(commits) <= 120 // senders.JOURNAL_BATCH + 2, len(commits)
    assert journal_file.read_bytes() == b""  # everything is in the database


def test_after_a_crash_accepted_mails_are_recorded_and_only_the_one_in_flight_is_resent(
        db: tuple[sessionmaker[Session], Path], smtp: tuple[Recorder, SmtpSettings],
        caplog: pytest.LogCaptureFixture) -> None:
    factory, journal_file = db
    recorder, settings = smtp
    first, second, third, fourth = queue_mails(factory, 4)
    ids = {mid: row.id for mid, row in _rows(factory).items()}
    accepted_at = datetime(2026, 11, 27, 3, 0, 0, 500000, tzinfo=timezone.utc)
    # What a sender killed in the middle of its batch leaves: the first mail accepted by the server,
    # the second in flight, and the mark of the third cut short by the kill (no newline).
    journal_file.write_text(f"sending {ids[first]} {accepted_at.isoformat()}\n"
                            f"sent {ids[first]} {accepted_at.isoformat()}\n"
                            f"sending {ids[second]} {accepted_at.isoformat()}\n"
                            f"sending {ids[third]} 2026-11-")

    with caplog.at_level(logging.INFO, logger="mailbot.mail.outbox"):
        result = outbox.flush(factory, settings, LATER)

    assert first not in recorder.ids  # accepted before the crash: not sent twice
    assert sorted(recorder.ids) == sorted([second, third, fourth])
    assert (result.sent, result.interrupted) == (3, 1)
    rows = _rows(factory)
    assert {r.status for r in rows.values()} == {"sent"}
    assert rows[first].sent_at == accepted_at and rows[first].attempts == 1
    assert rows[second].attempts == 2  # the interrupted try counts
    assert f"mail {second} was being sent when the bot stopped" in caplog.text
    assert "1 mail(s) accepted by the server before the sender stopped" in caplog.text
    assert journal_file.read_bytes() == b""


def test_a_refused_mail_is_recorded_at_once_with_the_accepted_ones(
        db: tuple[sessionmaker[Session], Path], smtp: tuple[Recorder, SmtpSettings]) -> None:
    factory, journal_file = db
    recorder, settings = smtp
    good, bad, after = queue_mails(factory, 3)
    with factory.begin() as session:  # a recipient the server refuses for good
        session.scalars(select(Outbox).where(Outbox.message_id == bad)).one().recipients = ["refused@vendor.test"]

    result = outbox.flush(factory, settings, LATER)

    assert (result.sent, result.failed) == (2, 1)
    rows = _rows(factory)
    assert (rows[good].status, rows[bad].status, rows[after].status) == ("sent", "failed", "sent")
    assert rows[bad].attempts == 1 and rows[bad].last_error.startswith("recipients refused")
    assert sorted(recorder.ids) == sorted([good, after])
    assert journal_file.read_bytes() == b""


def _breaking_on_call(n: int):  # type: ignore[no-untyped-def]
    """smtp_module.send as it is, except that its n-th call raises (the process going down mid-send)."""
    real_send = smtp_module.send
    calls = 0

    async def send(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == n:
            raise RuntimeError("the process is going down")
        return await real_send(*args, **kwargs)

    return send


def test_a_flush_that_breaks_mid_send_leaves_the_mail_in_flight_marked(
        db: tuple[sessionmaker[Session], Path], smtp: tuple[Recorder, SmtpSettings],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    factory, journal_file = db
    recorder, settings = smtp
    settings = settings.model_copy(update={"connections": 1})  # one mail in flight at a time
    first, second, third = queue_mails(factory, 3)
    real_send = smtp_module.send
    monkeypatch.setattr(smtp_module, "send", _breaking_on_call(2))
    with pytest.raises(RuntimeError):
        outbox.flush(factory, settings, LATER)
    rows = _rows(factory)
    assert (rows[first].status, rows[second].status, rows[third].status) == ("sent", "pending", "pending")
    assert b"sending" in journal_file.read_bytes()  # the interrupted mail's mark is kept

    monkeypatch.setattr(smtp_module, "send", real_send)
    with caplog.at_level(logging.WARNING, logger="mailbot.mail.outbox"):
        result = outbox.flush(factory, settings, LATER)
    assert (result.sent, result.interrupted) == (2, 1)
    assert f"mail {second} was being sent when the bot stopped" in caplog.text
    assert Counter(recorder.ids) == Counter({first: 1, second: 1, third: 1})


def test_mails_go_out_over_several_connections_at_once(db: tuple[sessionmaker[Session], Path],
                                                       smtp: tuple[Recorder, SmtpSettings]) -> None:
    """``smtp.connections``: a backlog is sent over that many connections side by side, each
    mail once, and all recorded as sent."""
    factory, journal_file = db
    recorder, settings = smtp
    ids = queue_mails(factory, 30)

    result = outbox.flush(factory, settings.model_copy(update={"connections": 3}), LATER)

    assert (result.sent, result.deferred, result.failed) == (30, 0, 0)
    assert Counter(recorder.ids) == Counter(dict.fromkeys(ids, 1))
    assert recorder.most_at_once == 3
    assert {row.status for row in _rows(factory).values()} == {"sent"}
    assert journal_file.read_bytes() == b""


def test_connections_the_server_refuses_only_mean_fewer(db: tuple[sessionmaker[Session], Path],
                                                         smtp: tuple[Recorder, SmtpSettings],
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """A provider that allows fewer connections than configured: the mail still goes out, over
    the connections it allowed, and the log says so once."""
    factory, _ = db
    recorder, settings = smtp
    ids = queue_mails(factory, 9)
    real_login = smtp_module.login
    logins = 0

    async def one_connection_per_account(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal logins
        logins += 1
        if logins > 1:
            raise aiosmtplib.SMTPConnectError("421 4.7.0 too many connections")
        return await real_login(*args, **kwargs)

    monkeypatch.setattr(smtp_module, "login", one_connection_per_account)
    monkeypatch.setattr(smtp_module, "_fewer_connections", set())
    with caplog.at_level(logging.WARNING, logger="mailbot.mail.outbox"):
        result = outbox.flush(factory, settings.model_copy(update={"connections": 3}), LATER)
        queue_mails(factory, 3)
        # The first flush's connection is still open (kept for the next flush): still the only one.
        assert outbox.flush(factory, settings.model_copy(update={"connections": 3}), LATER).sent == 3

    assert (result.sent, result.deferred, result.error) == (9, 0, "")
    assert Counter(recorder.ids[:9]) == Counter(dict.fromkeys(ids, 1))
    assert recorder.most_at_once == 1
    assert caplog.text.count("1 of 3 connections opened") == 1


def test_one_connection_sends_one_mail_at_a_time(db: tuple[sessionmaker[Session], Path],
                                                 smtp: tuple[Recorder, SmtpSettings]) -> None:
    factory, _ = db
    recorder, settings = smtp
    queue_mails(factory, 6)
    assert outbox.flush(factory, settings.model_copy(update={"connections": 1}), LATER).sent == 6
    assert recorder.most_at_once == 1


def test_an_interrupted_flush_over_several_connections_resends_only_what_was_in_flight(
        db: tuple[sessionmaker[Session], Path], smtp: tuple[Recorder, SmtpSettings],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The mails on the other connections when one breaks keep their marks; the next flush
    resends those (perhaps twice, as any mail in flight), and never a mail recorded as sent."""
    factory, journal_file = db
    recorder, settings = smtp
    settings = settings.model_copy(update={"connections": 3})
    ids = queue_mails(factory, 12)
    real_send = smtp_module.send
    monkeypatch.setattr(smtp_module, "send", _breaking_on_call(8))
    with pytest.raises(RuntimeError):
        outbox.flush(factory, settings, LATER)
    rows = _rows(factory)
    sent_before = {mid for mid, row in rows.items() if row.status == "sent"}
    fd = os.open(journal_file, os.O_RDONLY)
    try:
        accepted, in_flight = send_journal.SendJournal(fd).entries()
    finally:
        os.close(fd)
    in_flight_ids = {mid for mid, row in rows.items() if row.id in in_flight}
    assert in_flight_ids and not in_flight_ids & sent_before  # the broken connection's mail at least

    monkeypatch.setattr(smtp_module, "send", real_send)
    result = outbox.flush(factory, settings, LATER)
    assert result.interrupted == len(in_flight_ids)
    assert {row.status for row in _rows(factory).values()} == {"sent"}
    received = Counter(recorder.ids)
    assert set(received) == set(ids)  # nothing lost
    twice = {mid for mid, k in received.items() if k > 1}
    assert twice <= in_flight_ids  # a second copy only of a mail that was in flight


def test_clearing_the_journal_keeps_the_mails_still_in_flight(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "journal", os.O_RDWR | os.O_CREAT)
    try:
        journal = send_journal.SendJournal(fd)
        journal.sending(1)
        second = journal.sending(2)
        journal.sent(1, NOW)
        journal.clear(keep=[second])
        accepted, in_flight = journal.entries()
        assert accepted == {}
        assert list(in_flight) == [2]
    finally:
        os.close(fd)


def test_the_read_ahead_is_bounded_by_bytes(db: tuple[sessionmaker[Session], Path],
                                            smtp: tuple[Recorder, SmtpSettings],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Mails are read ahead in bulk, but never more bytes than PEEK_BYTES at once (big escalations)."""
    factory, _ = db
    recorder, settings = smtp
    ids = queue_mails(factory, 7)
    peeks: list[int] = []
    real_peek = senders.JournalSender.read_ahead

    def counting_peek(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = real_peek(*args, **kwargs)
        peeks.append(len(found))
        return found

    monkeypatch.setattr(senders.JournalSender, "read_ahead", counting_peek)
    monkeypatch.setattr(senders, "PEEK_BYTES", 1)  # smaller than any mail: one mail per read
    assert outbox.flush(factory, settings, LATER).sent == 7
    assert peeks == [1] * 7
    monkeypatch.setattr(senders, "PEEK_BYTES", 1 << 20)
    peeks.clear()
    more = queue_mails(factory, 7)
    assert outbox.flush(factory, settings, LATER).sent == 7
    assert peeks == [7]
    assert Counter(recorder.ids) == Counter(dict.fromkeys(ids + more, 1))


def test_a_flush_that_follows_new_mail_uses_a_few_sql_texts(db: tuple[sessionmaker[Session], Path],
                                                            smtp: tuple[Recorder, SmtpSettings],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Mail queued while a flush sends goes out in the same flush, and every round asks the
    database with the same few statements. Each new SQL text is a prepared statement the driver
    keeps (up to 128 per connection): with one text per round (a list of the ids tried so far,
    read-ahead lists of every length), a long backlog filled those caches and the process grew.
    """
    factory, _ = db
    recorder, settings = smtp
    first = queue_mails(factory, 3)
    later: list[str] = []
    real_send = smtp_module.send

    async def send_and_queue_more(*args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = await real_send(*args, **kwargs)
        if len(later) < 60:  # the intake queues replies meanwhile, 1 to 3 at a time
            later.extend(queue_mails(factory, 1 + len(later) % 3))
        return outcome

    monkeypatch.setattr(smtp_module, "send", send_and_queue_more)
    texts: set[str] = set()
    event.listen(factory.kw["bind"], "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: texts.add(statement))
    queued_by_the_test = "INSERT INTO outbox"

    result = outbox.flush(factory, settings)  # no clock: follows what is queued meanwhile

    assert result.sent == len(first) + len(later) and len(later) >= 60
    assert Counter(recorder.ids) == Counter(dict.fromkeys(first + later, 1))
    assert {r.status for r in _rows(factory).values()} == {"sent"}
    # The due ids (first round, later rounds), the sizes and the mails read ahead (each IN list
    # padded to 1, 2, 4, ... 64 values: 7 lengths of JOURNAL_BATCH or fewer ids), the batch record:
    # a bounded number of texts however many rounds. The old code made 22 here.
    sender_texts = sorted(t for t in texts if not t.startswith(queued_by_the_test))
    assert senders.JOURNAL_BATCH <= 64
    assert len(sender_texts) <= 2 + 2 * 7 + 1, sender_texts


def test_in_lists_are_padded_to_a_power_of_two_with_the_same_values() -> None:
    for n in range(0, 70):
        values = list(range(100, 100 + n))
        out = store.padded(values)
        assert out[:n] == values and set(out) == set(values)
        assert len(out) == (0 if n == 0 else 1 << (n - 1).bit_length())
    assert store.padded(("a", "b", "c")) == ["a", "b", "c", "c"]


def test_the_read_ahead_reads_exactly_the_due_mails_it_was_asked_for(db: tuple[sessionmaker[Session], Path],
                                                                     smtp: tuple[Recorder, SmtpSettings]) -> None:
    """The read-ahead queries a range of ids: another helpdesk's mail, mail not due yet, sent or
    failed mail and ids it was not asked for inside that range are left out, as when it asked
    for the ids themselves; each mail comes with its sender, recipients and bytes. The same with
    the sizes kept from the query of the due ids, made before some of them were sent or deferred."""
    import random

    factory, journal_file = db
    _, settings = smtp
    rng = random.Random(7)
    for _ in range(12):
        queue_mails(factory, rng.randint(1, 4), helpdesk=rng.choice(["default", "other"]))
    fd = os.open(journal_file, os.O_RDWR | os.O_CREAT)
    sender = senders.JournalSender(factory, settings, LATER, journal=send_journal.SendJournal(fd))
    sender._due_ids(1000)  # every mail of the helpdesk is due now: their sizes are kept
    known = dict(sender.sizes)
    with factory.begin() as session:
        rows = list(session.scalars(select(Outbox).order_by(Outbox.id)))
        for row in rows:
            row.recipients = [f"r{row.id}@vendor.test", f"s{row.id}@vendor.test"][:rng.randint(1, 2)]
            match rng.randrange(5):
                case 0:
                    row.next_attempt_at = LATER + timedelta(minutes=5)
                case 1:
                    row.status = rng.choice(["sent", "failed"])
    with factory() as session:
        every = {row.id: row for row in session.scalars(select(Outbox))}
    due = [i for i, row in sorted(every.items()) if row.helpdesk == "default"]
    assert sorted(known) == due
    try:
        kinds: Counter[bool] = Counter()
        for n in range(200):
            asked = sorted(rng.sample(due, rng.randint(1, len(due))))
            # The sizes as the query of the due ids left them (some mails sent or deferred since), or none.
            sender.sizes = dict(known) if n % 2 else {}
            found = sender.read_ahead(asked)
            assert list(found) == asked
            for row_id, mail in found.items():
                row = every[row_id]
                expected = (row.mail_from, row.recipients, row.raw) if (
                    row.status == "pending" and row.next_attempt_at <= LATER) else None
                assert mail == expected
                kinds[mail is None] += 1
    finally:
        os.close(fd)
    assert kinds[True] and kinds[False]  # both kinds were asked for
    assert {row.helpdesk for row in every.values()} == {"default", "other"}
