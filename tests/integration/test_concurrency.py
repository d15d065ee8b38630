"""Several workers on one database: each mail processed once, each reply sent once (issue 7).

Threads stand in for worker processes: each "worker" is an App with its own engine and
connections, so on PostgreSQL they really race (the advisory lock and ``ON CONFLICT`` on
the inbound Message-ID, ``FOR UPDATE SKIP LOCKED`` on the outbox); on SQLite the database's
write lock serialises them and one process at a time sends the outbox. Runs on the backend
chosen by MAILBOT_TEST_DB (the e2e ``test_workers`` runs real processes on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.core.threads import format_number
from mailbot.mail import intake, outbox, send_journal, senders
from mailbot.service import outcome
from mailbot.service.app import App, build_app
from mailbot.service.inbound import process_raw
from mailbot.settings.config import Settings, SmtpSettings
from mailbot.storage import store
from mailbot.storage.models import Inbound, Message, Outbox, Quarantine, Ticket
from tests.support.smtprecorder import (
    HELPDESK,
    NOW,
    Recorder,
    queue_mails,
)

STAFF = ["staf1@lpse.test", "staf2@lpse.test"]


def settings_for(db_url: str, *, cooperate: bool = True) -> Settings:
    return Settings.model_validate({
        "helpdesk": {"name": "Helpdesk LPSE Uji", "address": HELPDESK, "secret": "uji-rahasia-panjang-0123456789"},
        "imap": {"host": "127.0.0.1", "port": 993, "username": HELPDESK, "password": "x"},
        "smtp": {"host": "127.0.0.1", "port": 587, "username": HELPDESK, "password": "x"},
        "staff": {"addresses": STAFF},
        "escalation": {"lkpp_address": "helpdesk@lkpp.test"},
        "loops": {"max_auto_mails_per_hour": 100000},
        "database": {"url": db_url},
        "workers": {"cooperate": cooperate},
    })


def mail(n: int, subject: str, body: str, *, sender: str | None = None, reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Budi {n} <{sender or f'vendor{n}@vendor.test'}>"
    msg["To"] = HELPDESK
    msg["Subject"] = subject
    msg["Date"] = format_datetime(NOW)
    msg["Message-ID"] = f"<race{n}.{id(msg)}@vendor.test>"
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg.set_content(body)
    return msg.as_bytes()


def race(workers: list[Callable[[], None]]) -> None:
    """Run the callables in threads released together; re-raise the first failure."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(fn: Callable[[], None]) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]


@pytest.mark.parametrize("cooperate", [True, False], ids=["cooperate", "by accident"])
def test_two_workers_on_the_same_mails_process_each_once(db_url: str, cooperate: bool) -> None:
    settings = settings_for(db_url, cooperate=cooperate)
    a, b = build_app(settings), build_app(settings, migrate=False)
    # Five tickets exist; the batch both workers fetched holds new tickets and replies to them.
    seeds = [mail(900 + i, f"Gagal login SPSE {i}", "Akun saya terkunci. User ID: cv{i}") for i in range(5)]
    for raw in seeds:
        assert process_raw(a, raw, NOW).kind == "opened"
    seed_ids = [email.message_from_bytes(raw)["Message-ID"] for raw in seeds]
    batch = [mail(i, f"Kendala SPSE no {i}", "Bagaimana cara mengganti alamat e-mail akun penyedia?")
             for i in range(40)]
    batch += [mail(100 + i, f"Re: Gagal login SPSE {i % 5}", f"Tambahan informasi {i}",
                   sender=f"vendor{900 + i % 5}@vendor.test", reply_to=seed_ids[i % 5]) for i in range(20)]
    outcomes: dict[str, list[str]] = {"a": [], "b": []}

    def worker(app: App, name: str, order: list[bytes]) -> Callable[[], None]:
        return lambda: outcomes[name].extend(process_raw(app, raw, NOW).kind for raw in order)

    race([worker(a, "a", batch), worker(b, "b", batch)])
    assert len(outcomes["a"]) == len(outcomes["b"]) == len(batch)
    per_mail = [Counter((x, y)) for x, y in zip(outcomes["a"], outcomes["b"], strict=True)]
    for raw, pair in zip(batch, per_mail, strict=True):
        done = pair["opened"] + pair["updated"]
        assert done == 1 and set(pair) - {"opened", "updated"} <= {"duplicate", outcome.BUSY}, (raw[:200], pair)
    with a.factory() as session:
        assert session.scalar(select(func.count(Quarantine.id))) == 0
        inbound = session.scalars(select(Inbound)).all()
        assert len(inbound) == len(batch) + len(seeds)
        assert {i.outcome for i in inbound} == {"opened", "updated"}
        tickets = session.scalars(select(Ticket).order_by(Ticket.id)).all()
        assert len(tickets) == 45 and len({t.subject for t in tickets}) == 45
        # Numbered in turn by the two workers: none twice, none skipped, each as its subjects show it.
        assert sorted(t.seq for t in tickets) == list(range(1, 46))
        assert all(t.number == format_number(a.settings.helpdesk.ticket_prefix, t.seq) for t in tickets)
        incoming = Counter(session.scalars(select(Message.message_id).where(Message.direction == "in")))
        assert len(incoming) == len(batch) + len(seeds) and set(incoming.values()) == {1}
        # Every reply owed is queued once: one outbox row per outgoing message, none without.
        out_ids = Counter(session.scalars(select(Message.message_id).where(Message.direction == "out")))
        assert out_ids == Counter(session.scalars(select(Outbox.message_id)))
        # The replies updated their five tickets; each seed ticket has its own mail plus its four replies.
        for t in tickets[:5]:
            assert session.scalar(select(func.count(Message.id)).where(
                Message.ticket_id == t.id, Message.direction == "in")) == 5


def test_a_quarantine_race_is_recorded_once(db_url: str) -> None:
    settings = settings_for(db_url)
    a, b = build_app(settings), build_app(settings, migrate=False)
    raw = b"From: \r\nTo: helpdesk@lpse.test\r\nSubject: x\r\nMessage-ID: <poison@vendor.test>\r\n\r\nno sender\r\n"
    kinds: list[str] = []
    race([lambda: kinds.append(process_raw(a, raw, NOW).kind),
          lambda: kinds.append(process_raw(b, raw, NOW).kind)])
    assert sorted(kinds)[-1] == "quarantined" and kinds.count("quarantined") == 1, kinds
    later = process_raw(a, raw, NOW + timedelta(hours=1))
    assert (later.kind, later.reason) == ("duplicate", "already quarantined")
    with a.factory() as session:
        assert session.scalar(select(func.count(Quarantine.id))) == 1
        assert session.scalar(select(func.count(Inbound.id))) == 1


# ---- the outbox ---------------------------------------------------------------------------------


def _engine_factory(db_url: str) -> sessionmaker[Session]:
    return store.make_sessionmaker(store.make_engine(db_url))


def test_two_senders_never_send_a_mail_twice(db_url: str, smtp: tuple[Recorder, SmtpSettings]) -> None:
    recorder, settings = smtp
    store.upgrade(store.make_engine(db_url))
    first, second = _engine_factory(db_url), _engine_factory(db_url)
    ids = queue_mails(first, 80)
    results: list[outbox.FlushResult] = []
    if first.kw["bind"].dialect.name == "postgresql":
        # Two processes' flushes at once (the per-process lock of flush() is not shared between processes).
        def sender(factory):  # type: ignore[no-untyped-def]
            return lambda: results.append(asyncio.run(
                senders.ClaimSender(factory, settings, NOW + timedelta(seconds=1)).run()))
        race([sender(first), sender(second)])
        assert all(r.sent for r in results), results  # both took part
    else:
        # SQLite: while one process sends, another one's flush sends nothing and says so.
        with send_journal.sender_slot(first) as ours:
            assert ours
            elsewhere = outbox.flush(second, settings, NOW + timedelta(seconds=1))
        assert elsewhere.elsewhere and elsewhere.sent == 0 and recorder.ids == []
        results.append(outbox.flush(second, settings, NOW + timedelta(seconds=1)))
    assert sum(r.sent for r in results) == 80 and not any(r.interrupted for r in results)
    assert Counter(recorder.ids) == Counter(dict.fromkeys(ids, 1))
    with first() as session:
        assert set(session.scalars(select(Outbox.status))) == {"sent"}


def test_a_claimed_mail_is_sent_when_another_worker_holds_its_lock_for_an_instant(
        db_url: str, smtp: tuple[Recorder, SmtpSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    """Another worker's claim query can lock the row between our claim and our send (PostgreSQL
    locks a row whose new version it then finds not due); the sender waits for it, never skips
    its own claim (that once left 1 of 80 mails in flight for the lease's 10 s)."""
    recorder, settings = smtp
    store.upgrade(store.make_engine(db_url))
    factory, other = _engine_factory(db_url), _engine_factory(db_url)
    if factory.kw["bind"].dialect.name != "postgresql":
        pytest.skip("row locks between claim and send exist on PostgreSQL only; SQLite has one sender")
    [mid] = queue_mails(factory, 1)
    claim, locked, released = senders.ClaimSender.claim, threading.Event(), threading.Event()

    def hold_row() -> None:
        with other.begin() as session:  # the other worker's brief lock on the claimed row
            session.scalars(select(Outbox).with_for_update()).all()
            locked.set()
            released.wait(0.5)

    def claim_then_collide(*args, **kwargs):  # type: ignore[no-untyped-def]
        claimed = claim(*args, **kwargs)
        threading.Thread(target=hold_row).start()
        assert locked.wait(10)
        return claimed

    monkeypatch.setattr(senders.ClaimSender, "claim", claim_then_collide)
    result = outbox.flush(factory, settings, NOW + timedelta(seconds=1))
    released.set()
    assert (result.sent, result.interrupted) == (1, 0)
    assert recorder.ids == [mid]
    with factory() as session:
        assert session.scalar(select(Outbox.status)) == "sent"


def test_a_mail_left_in_flight_by_a_dead_sender_is_sent_again(db_url: str,
                                                               smtp: tuple[Recorder, SmtpSettings]) -> None:
    recorder, settings = smtp
    store.upgrade(store.make_engine(db_url))
    factory = _engine_factory(db_url)
    pg = factory.kw["bind"].dialect.name == "postgresql"
    [mid] = queue_mails(factory, 1)
    with factory.begin() as session:  # what a sender killed during its SMTP transaction leaves behind
        row = session.scalar(select(Outbox))
        row.attempts, row.last_error = 1, f"{senders.IN_FLIGHT}2026-11-27T03:00:00+00:00 by gone pid 1 #00"
        if pg:
            row.next_attempt_at = NOW + senders.IN_FLIGHT_LEASE  # the lease of the dead sender's claim
    if pg:  # within the lease, nobody else takes it (its sender may still be about to send it)
        assert outbox.flush(factory, settings, NOW + timedelta(seconds=1)).sent == 0
    result = outbox.flush(factory, settings, NOW + senders.IN_FLIGHT_LEASE + timedelta(seconds=1))
    assert (result.sent, result.interrupted) == (1, 1)
    assert recorder.ids == [mid]


def test_workers_starting_together_on_a_new_database_migrate_it_once(db_url: str) -> None:
    """Every start runs the migrations: several workers started at once must not trip over each other."""
    engines = [store.make_engine(db_url) for _ in range(3)]
    race([lambda e=e: store.upgrade(e) for e in engines])
    with engines[0].connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1


def test_a_database_outage_does_not_quarantine_the_mail(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = build_app(settings_for(db_url))
    raw = mail(1, "Kendala SPSE", "Bagaimana cara mengganti alamat e-mail akun penyedia?")

    def server_gone(*_args: object, **_kw: object) -> outcome.Outcome:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"),
                               connection_invalidated=True)

    with monkeypatch.context() as m:
        m.setattr("mailbot.service.inbound._handle", server_gone)
        with pytest.raises(OperationalError):
            process_raw(app, raw, NOW)
    with app.factory() as session:
        assert session.scalar(select(func.count(Quarantine.id))) == 0
        assert session.scalar(select(func.count(Inbound.id))) == 0
    assert process_raw(app, raw, NOW).kind == "opened"  # the database is back


def test_a_fetched_mail_with_no_bytes_is_left_out_only_when_it_is_gone() -> None:
    """Dovecot answers a FETCH of a mail another session has just moved with an empty body."""

    class Msg:
        def __init__(self, uid: str, raw: bytes) -> None:
            self.uid, self.raw = uid, raw

    class Box:
        def __init__(self, present: list[str]) -> None:
            self.present = present

        def uids(self, criteria: object) -> list[str]:
            text = str(criteria)
            return list(self.present) if "UID" not in text else [u for u in self.present if f"UID {u}" in text]

        def fetch(self, criteria: object, **_kw: object) -> Iterator[Msg]:
            yield Msg("1", b"From: a@vendor.test\r\n\r\nhalo\r\n")
            yield Msg("2", b"")  # moved by another worker: no longer present

    assert [(m.uid, bool(m.raw)) for m in intake.fetch_batch(Box(["1", "3"]), 10)] == [  # type: ignore[arg-type]
        ("1", True)]
    # Still there with no bytes (no server seen doing it; Dovecot refuses to store one): processed, quarantined.
    assert [(m.uid, bool(m.raw)) for m in intake.fetch_batch(Box(["1", "2"]), 10)] == [  # type: ignore[arg-type]
        ("1", True), ("2", False)]


def test_a_hanging_smtp_server_of_one_helpdesk_does_not_hold_up_another(
        db_url: str, smtp: tuple[Recorder, SmtpSettings]) -> None:
    """Two helpdesks of one deployment send side by side: while the default helpdesk's SMTP server
    accepts the connection and then says nothing, the other helpdesk's mail goes out."""
    recorder, settings = smtp
    store.upgrade(store.make_engine(db_url))
    factory = _engine_factory(db_url)
    stuck_ids = queue_mails(factory, 2)
    other_ids = queue_mails(factory, 3, helpdesk="kab")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        hanging = SmtpSettings(host="127.0.0.1", port=silent.getsockname()[1], security="none", username="",
                               password="x", timeout=120)
        stuck: list[outbox.FlushResult] = []
        first = threading.Thread(target=lambda: stuck.append(outbox.flush(factory, hanging, NOW + timedelta(seconds=1))))
        first.start()
        conn, _ = silent.accept()  # the default helpdesk's flush is now waiting for a greeting
        with conn:
            other: list[outbox.FlushResult] = []
            second = threading.Thread(target=lambda: other.append(
                outbox.flush(factory, settings, NOW + timedelta(seconds=1), helpdesk="kab")))
            second.start()
            second.join(60)
            assert not second.is_alive() and first.is_alive()  # done while the other still hangs
        first.join(60)  # the connection closed: the default helpdesk's mail is deferred, not lost
    assert other[0].sent == 3 and sorted(recorder.ids) == sorted(other_ids)
    assert stuck[0].sent == 0 and stuck[0].deferred == 2
    with factory() as session:
        pending = session.scalars(select(Outbox.message_id).where(Outbox.status == "pending")).all()
    assert sorted(pending) == sorted(stuck_ids)
