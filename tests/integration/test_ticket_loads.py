"""The mail path's ticket loads (``storage.loads``: a prepared SELECT made into the session's
object) give what the ORM's own query gives: the same ticket with the same values and types, a
persistent object in the identity map that nothing has changed, its relationships loaded on use,
and a ticket the session already holds returned as it is, with its changes.

Every comparison runs the fast path in one session and the ORM query in another, on the test
database (SQLite, or PostgreSQL with MAILBOT_TEST_DB).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailbot.storage import loads, store
from mailbot.storage.models import Message, Ticket

JAKARTA = timezone(timedelta(hours=7))
AT = datetime(2026, 12, 6, 21, 5, 7, 123456, tzinfo=JAKARTA)
TEXT = "Pengadaan barang — “kutip” ñ 日本語 😀"
HELPDESKS = ("lpse-kota", "lpse-prov")
_COLUMNS = [c.key for c in inspect(Ticket).column_attrs]


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = store.make_engine(db_url)
    store.upgrade(engine)
    factory = store.make_sessionmaker(engine)
    rng = random.Random(5)
    with factory.begin() as session:
        for n in range(1, 25):
            helpdesk = HELPDESKS[n % 2]
            maybe = lambda value: value if rng.random() < 0.5 else None  # noqa: E731
            ticket = Ticket(
                helpdesk=helpdesk, seq=n, number=maybe(f"TTS-{n:06d}"), state=rng.choice(["new", "waiting_user"]),
                priority="tinggi", category="akun", category_matched=rng.random() < 0.5, subject=f"{TEXT} {n}",
                requester=f"u{n % 5}@contoh.go.id", requester_name=maybe("Budi Śantoso") or "", phone=maybe("0812"),
                missing=rng.choice([[], ["npwp"], ["npwp", "nama paket — ñ"]]), rating=maybe(n % 5 + 1),
                opened_at=AT + timedelta(microseconds=n), updated_at=AT + timedelta(hours=n),
                due_at=maybe(AT + timedelta(days=1, microseconds=7)), sla_next_at=maybe(AT),
                closed_at=maybe(AT.astimezone(timezone(timedelta(hours=-3, minutes=-30)))))
            session.add(ticket)
            session.flush()
            for m in range(n % 4):  # messages with Message-IDs some of which two tickets share
                session.add(Message(ticket_id=ticket.id, message_id=f"<m{(n + m) % 9}@contoh.go.id>", direction="in",
                                    role="user", channel="user", sender="u@contoh.go.id", recipients=["a@b.id"],
                                    subject="s", text="t", at=AT))
    yield factory
    engine.dispose()


def _values(ticket: Ticket) -> dict[str, Any]:
    return {key: (getattr(ticket, key), type(getattr(ticket, key))) for key in _COLUMNS}


def _loaded_as_the_orm_loads(session: Session, ticket: Ticket) -> None:
    state = inspect(ticket)
    assert state.persistent and state.session is session
    assert session.identity_map.get(state.key) is ticket
    assert not session.dirty and not session.new and not state.modified
    assert all(getattr(ticket, key) == value for key, (value, _t) in _values(ticket).items())


def test_by_number_as_the_orm(factory: sessionmaker[Session]) -> None:
    for helpdesk in (*HELPDESKS, "other"):
        for seq in range(0, 27):
            with factory() as fast, factory() as slow:
                ticket = loads.ticket_by_seq(fast, helpdesk, seq)
                orm = slow.scalars(select(Ticket).where(Ticket.helpdesk == helpdesk, Ticket.seq == seq)).first()
                assert (ticket is None) == (orm is None)
                if ticket is None or orm is None:
                    continue
                assert _values(ticket) == _values(orm)
                _loaded_as_the_orm_loads(fast, ticket)
                # Relationships load on first use, as for the ORM's object; nothing is read twice.
                assert [m.message_id for m in ticket.messages] == [m.message_id for m in orm.messages]
                assert fast.get(Ticket, ticket.id) is ticket


def test_by_message_ids_as_the_orm(factory: sessionmaker[Session]) -> None:
    rng = random.Random(11)
    known = [f"<m{n}@contoh.go.id>" for n in range(9)]
    for _ in range(150):
        size = rng.choice([1, 2, 3, 5, 8, 13, 40, 64, 65, 90])  # 65 and more: the ORM's query
        ids = tuple(rng.choice(known) if rng.random() < 0.3 else f"<x{rng.random()}@b>" for _ in range(size))
        helpdesk = rng.choice(HELPDESKS)
        with factory() as fast, factory() as slow:
            kept: list[Ticket] = []
            found = store.ticket_for_message_ids(fast, ids, helpdesk, keep=kept)
            rows = slow.execute(select(Message.message_id, Ticket).join(Ticket, Ticket.id == Message.ticket_id)
                                .where(Message.message_id.in_(ids), Ticket.helpdesk == helpdesk)
                                .order_by(Message.id)).all()
            first: dict[str, Ticket] = {}
            for mid, ticket in rows:
                first.setdefault(mid, ticket)
            expected = next((first[mid] for mid in ids if mid in first), None)
            assert found == (expected.id if expected else None)
            assert store.ticket_for_message_ids(fast, ids, helpdesk) == found  # the ids alone (PostgreSQL's way)
            if expected is None:
                assert kept == []
                continue
            if fast.get_bind().dialect.name == "sqlite":
                assert [_values(t) for t in kept] == [_values(expected)]
                _loaded_as_the_orm_loads(fast, kept[0])


def test_a_ticket_in_the_session_is_returned_with_its_changes(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.helpdesk == "lpse-kota", Ticket.seq == 2)).one()
        mid = session.scalars(select(Message.message_id).where(Message.ticket_id == ticket.id)).first()
        assert mid is not None
        ticket.state = "closed"
        ticket.missing = ["baru"]
        with session.no_autoflush:  # as the mail path reads: the change is not written yet
            assert loads.ticket_by_seq(session, "lpse-kota", 2) is ticket
            padded = store.padded([mid])
            assert loads.owner_tickets_in_helpdesk(session, padded, "lpse-kota") == {mid: ticket}
        assert ticket.state == "closed" and ticket.missing == ["baru"] and ticket in session.dirty
        assert store.write_changed_tickets(session)  # written as any loaded ticket's change
        session.commit()
    with factory() as session:
        assert session.get(Ticket, ticket.id).state == "closed"  # type: ignore[union-attr]


def test_a_loaded_ticket_changed_is_written(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        ticket = loads.ticket_by_seq(session, "lpse-prov", 3)
        assert ticket is not None
        ticket.priority, ticket.closed_at = "rendah", AT
        assert list(session.dirty) == [ticket]
        assert store.write_changed_tickets(session)
        session.commit()
    with factory() as session:
        again = session.get(Ticket, ticket.id)
        assert again is not None and (again.priority, again.closed_at, again.state) == ("rendah", AT, ticket.state)


def test_an_expired_column_is_read_again_by_the_orm(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        ticket = loads.ticket_by_seq(session, "lpse-kota", 4)
        assert ticket is not None
        with factory.begin() as other:
            other.execute(update(Ticket).where(Ticket.id == ticket.id).values(state="analysis"))
        session.expire(ticket, ["state"])
        assert loads.ticket_by_seq(session, "lpse-kota", 4) is ticket
        assert ticket.state == "analysis"
