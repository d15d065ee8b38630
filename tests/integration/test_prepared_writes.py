"""The per-mail writes run on the DB-API (``storage.prepared``) store exactly what SQLAlchemy's own
``Connection.execute`` of the same statements stores, on the test database (SQLite or PostgreSQL).

Each statement of the fast path is run with the same values on two fresh databases, once through
``Connection.execute`` and once through ``Prepared.run``; the rows are then read back through the
driver (what is stored, not what SQLAlchemy makes of it) and must be equal, as must the RETURNING
values and the SQL text. The values are the awkward ones: aware datetimes with microseconds in
other zones, JSON with non-ASCII text and nesting, None, non-ASCII text, bytes with NUL and high
bytes, booleans.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import IntegrityError, StatementError

from mailbot.mail import outbox
from mailbot.service import effects
from mailbot.storage import claims, store
from mailbot.storage.prepared import Prepared, Written
from tests.support.pgstack import database_url

JAKARTA = timezone(timedelta(hours=7))
AT = datetime(2026, 12, 6, 21, 5, 7, 123456, tzinfo=JAKARTA)  # 14:05:07.123456 UTC
LATER = datetime(2026, 12, 7, 1, 2, 3, 999999, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
TEXT = "Pengadaan barang — “kutip” ñ 日本語 😀\n\tbaris kedua\x7f"
BLOB = bytes(range(256)) + b"\x00\r\n"

Runner = Callable[[Connection, Prepared, Any], Written]


def _slow(connection: Connection, prepared: Prepared, params: Any) -> Written:
    """What the code did before: ``Connection.execute`` of the Core statement."""
    result = connection.execute(prepared.statement, params)
    return Written([tuple(r) for r in result] if result.returns_rows else [], result.rowcount)


def _fast(connection: Connection, prepared: Prepared, params: Any) -> Written:
    many = not isinstance(params, dict)
    if not (many and connection.dialect.use_insertmanyvalues_wo_returning):  # else SQLAlchemy's many VALUES
        assert prepared.variant(connection.dialect, tuple(params[0] if many else params), many) is not None
    return prepared.run(connection, params)


def _ticket(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "helpdesk": "lpse-kota", "seq": 7, "number": "TTS-000007", "state": "new", "priority": "tinggi",
        "category": "akun", "category_matched": False, "subject": TEXT, "requester": "ü@contoh.go.id",
        "requester_name": "Budi Śantoso", "phone": None, "assignee": None, "closed_by": None, "parent_id": None,
        "merged_into_id": None, "missing": ["npwp", "nama paket — ñ"], "rating": None, "opened_at": AT,
        "updated_at": LATER, "closed_at": None, "due_at": AT + timedelta(microseconds=1), "paused_since": None,
        "priority_due_at": None, "call_due_at": LATER, "analysis_due_at": None, "lkpp_due_at": None,
        "remind_at": None, "autoclose_at": None, "sla_next_at": AT, "sla_checked_at": AT, "next_due_at": None,
    }
    row.update(changes)
    return row


def _message(ticket_id: int, n: int, **changes: Any) -> dict[str, Any]:
    row = {"ticket_id": ticket_id, "message_id": f"<{n}.ñ@contoh.go.id>", "direction": "in", "role": "user",
           "channel": "user", "sender": "ü@contoh.go.id", "recipients": ["a@b.id", "Ω <o@b.id>"],
           "subject": TEXT[:40], "text": TEXT, "new_text": "", "template": None, "auto": n % 2 == 0,
           "at": AT + timedelta(microseconds=n)}
    row.update(changes)
    return row


def _outbox(ticket_id: int | None, n: int) -> dict[str, Any]:
    return {"verp": None if n % 2 else f"v{n}", "helpdesk": "lpse-kota", "message_id": f"<out{n}@b.id>",
            "automatic": bool(n % 2), "to_key": "ü@contoh.go.id", "ticket_id": ticket_id, "mail_from": "hd@b.id",
            "recipients": ["ü@contoh.go.id"], "raw": BLOB + bytes([n]), "status": "pending", "attempts": 0,
            "last_error": TEXT, "next_attempt_at": LATER, "created_at": AT}


def _write_everything(connection: Connection, run: Runner) -> list[Any]:
    """Every prepared statement of the per-mail path, as the code calls it; what each returned."""
    dialect = connection.dialect.name
    out: list[Any] = []
    ticket_id = run(connection, store._INSERT_TICKET, _ticket()).scalar_one()
    out.append(ticket_id)
    numbered = {k: v for k, v in _ticket(helpdesk="lpse-kota").items() if k not in {"seq", "number"}}
    out.append(run(connection, store._numbered_insert(dialect), {**numbered, "prefix": "TTS"}).one())
    out.append(run(connection, store._numbered_insert(dialect), {**numbered, "prefix": "ÄB"}).one())
    out.append(run(connection, store._UPDATE_TICKET, {"ticket_pk": ticket_id, "state": "closed",
                                                     "closed_at": LATER, "missing": [], "category_matched": True,
                                                     "phone": "0271 555", "rating": 5}).rowcount)
    out.append(run(connection, store._UPDATE_TICKET, {"ticket_pk": ticket_id, "missing": {"ü": [1, None, 2.5]},
                                                     "paused_since": None}).rowcount)
    out.append(run(connection, store._UPDATE_TICKET, {"ticket_pk": ticket_id + 100, "state": "x"}).rowcount)
    claim = claims._claim_statement(dialect)
    values = {"helpdesk": "lpse-kota", "message_id": "<ñ@b.id>", "outcome": claims.PROCESSING, "reason": "",
              "sender": "ü@contoh.go.id", "at": AT, "digest": "ab" * 32}
    inbound_id = run(connection, claim, values).scalar()
    out.append(inbound_id)
    out.append(run(connection, claim, {**values, "digest": "cd" * 32}).scalar())  # the dedupe: no row, None
    out.append(run(connection, claims._RECORD_INBOUND, {"inbound_id": inbound_id, "outcome": "opened",
                                                        "reason": TEXT, "ticket": ticket_id}).rowcount)
    message_pk = run(connection, effects._INSERT_MESSAGE_ID, _message(ticket_id, 1)).scalar_one()
    out.append(message_pk)
    run(connection, effects._INSERT_MESSAGE, _message(ticket_id, 2, template="ack", direction="out"))
    run(connection, effects._INSERT_MESSAGE, [_message(ticket_id, n, recipients=[]) for n in range(3, 6)])
    run(connection, effects._INSERT_ATTACHMENT, [
        {"message_pk": message_pk, "filename": "berkas ñ.pdf", "content_type": "application/pdf",
         "size": len(BLOB), "content": BLOB, "inline": False},
        {"message_pk": message_pk, "filename": "besar.zip", "content_type": "application/zip", "size": 10**9,
         "content": None, "inline": True}])
    event = {"ticket_id": ticket_id, "kind": "opened", "at": AT, "actor": "ü@b.id", "detail": TEXT, "sop_step": 1,
             "data": {"kategori": "akun", "daftar": ["ñ", 1, None, True], "kosong": {}}}
    run(connection, effects.INSERT_EVENT, event)
    run(connection, effects.INSERT_EVENT, [{**event, "sop_step": None, "data": {}, "at": LATER}, event])
    run(connection, outbox._INSERT, _outbox(ticket_id, 1))
    run(connection, outbox._INSERT, [_outbox(None, 2), _outbox(ticket_id, 3)])
    return out


TABLES = ("tickets", "inbound", "messages", "attachments", "events", "outbox")


def _stored(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The rows as the driver gives them back (SQLite: the stored strings and integers)."""
    with engine.connect() as connection:
        return {t: [tuple(r) for r in connection.exec_driver_sql(f"SELECT * FROM {t} ORDER BY id")] for t in TABLES}


def _engine(tmp_path: Path, name: str) -> Engine:
    engine = store.make_engine(database_url(tmp_path, name))
    store.upgrade(engine)
    return engine


def test_the_fast_path_stores_what_sqlalchemy_stores(tmp_path: Path) -> None:
    results, stored, texts = [], [], []
    for name, runner in (("slow", _slow), ("fast", _fast)):
        engine = _engine(tmp_path, name)
        seen: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda c, cur, statement, *rest, seen=seen: seen.append(statement))
        with engine.begin() as connection:
            results.append(_write_everything(connection, runner))
        stored.append(_stored(engine))
        texts.append(seen)
        engine.dispose()
    assert results[0] == results[1]
    assert results[1][3:6] == [1, 1, 0] and results[1][7] is None  # updates matched; the claim's dedupe
    for table in TABLES:
        assert stored[0][table] == stored[1][table], table
    assert {t: len(rows) for t, rows in stored[1].items()} == {
        "tickets": 3, "inbound": 1, "messages": 5, "attachments": 2, "events": 3, "outbox": 3}
    # The same SQL, and every statement seen by the engine's listeners (the bench counts with them).
    assert texts[0] == texts[1]


def test_values_come_back_as_written(tmp_path: Path) -> None:
    """Read through the models, the fast path's rows are the values given (times in UTC)."""
    engine = _engine(tmp_path, "back")
    with engine.begin() as connection:
        _write_everything(connection, _fast)
    factory = store.make_sessionmaker(engine)
    from mailbot.storage.models import Outbox, Ticket, TicketEvent

    with factory() as session:
        ticket = session.get(Ticket, 1)
        assert ticket is not None
        assert (ticket.subject, ticket.opened_at, ticket.closed_at) == (TEXT, AT, LATER)
        assert ticket.opened_at.tzinfo == timezone.utc and ticket.opened_at.microsecond == 123456
        missing: Any = ticket.missing  # the UPDATE stored a mapping in the JSON column
        assert missing == {"ü": [1, None, 2.5]} and ticket.category_matched is True
        numbers = [t.number for t in session.query(Ticket).order_by(Ticket.id)]
        assert numbers == ["TTS-000007", "TTS-000008", "ÄB-000009"]
        first = session.query(TicketEvent).order_by(TicketEvent.id).first()
        assert first is not None and first.data == {"kategori": "akun", "daftar": ["ñ", 1, None, True], "kosong": {}}
        raws = [o.raw for o in session.query(Outbox).order_by(Outbox.id)]
        assert raws == [BLOB + bytes([n]) for n in (1, 2, 3)]
    engine.dispose()


def test_errors_are_raised_as_sqlalchemy_raises_them(tmp_path: Path) -> None:
    """A conflict is an IntegrityError that ``is_conflict`` recognises (the mail is retried); a
    value a type refuses is a StatementError; the connection stays usable after a rollback."""
    engine = _engine(tmp_path, "errors")
    with pytest.raises(IntegrityError) as caught, engine.begin() as connection:
        ticket_id = _fast(connection, store._INSERT_TICKET, _ticket()).scalar_one()
        _fast(connection, outbox._INSERT, _outbox(ticket_id, 1))
        _fast(connection, outbox._INSERT, _outbox(ticket_id, 1))  # outbox.message_id is unique
    assert store.is_conflict(caught.value) and "INSERT INTO outbox" in str(caught.value.statement)
    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as connection:
        _fast(connection, store._INSERT_TICKET, _ticket(opened_at=datetime(2026, 12, 6)))
    with engine.begin() as connection:  # usable again, and nothing of the failed transactions is left
        ticket_id = _fast(connection, store._INSERT_TICKET, _ticket()).scalar_one()
    assert [row[0] for row in _stored(engine)["tickets"]] == [ticket_id] and _stored(engine)["outbox"] == []
    engine.dispose()


def test_a_connection_outside_a_transaction_goes_through_sqlalchemy(tmp_path: Path) -> None:
    """``Connection.execute`` begins the transaction itself (autobegin); the fast path leaves that to it."""
    engine = _engine(tmp_path, "autobegin")
    with engine.connect() as connection:
        assert not connection.in_transaction()
        assert store._INSERT_TICKET.run(connection, _ticket()).scalar_one() == 1
        assert connection.in_transaction()
        connection.commit()
    assert len(_stored(engine)["tickets"]) == 1
    engine.dispose()


def test_python_side_defaults_are_left_to_sqlalchemy(tmp_path: Path) -> None:
    """A row without a column that has a Python default (``recipients`` = ``[]``) is not compiled
    for the fast path: ``Connection.execute`` fills the default in, as before."""
    engine = _engine(tmp_path, "defaults")
    row = {k: v for k, v in _message(0, 1).items() if k not in {"recipients", "text"}}
    with engine.begin() as connection:
        row["ticket_id"] = _fast(connection, store._INSERT_TICKET, _ticket()).scalar_one()
        assert effects._INSERT_MESSAGE.variant(connection.dialect, tuple(row)) is None
        effects._INSERT_MESSAGE.run(connection, row)
    from mailbot.storage.models import Message

    with store.make_sessionmaker(engine)() as session:
        stored = session.query(Message).one()
        assert (stored.recipients, stored.text, stored.subject) == ([], "", TEXT[:40])
    engine.dispose()


def test_prepared_selects_read_what_sqlalchemy_reads(tmp_path: Path) -> None:
    """The hot SELECTs run on the DB-API give the rows ``Connection.execute`` gives: aware UTC
    datetimes, JSON decoded, EXISTS as a bool, counts, None."""
    from mailbot.service import deadlines
    from mailbot.storage.models import SlaNotice, Undeliverable

    engine = _engine(tmp_path, "selects")
    with engine.begin() as connection:
        ticket_id = _write_everything(connection, _slow)[0]
        connection.execute(SlaNotice.__table__.insert(), {  # type: ignore[attr-defined]
            "key": f"t{ticket_id}/due@x:50", "ticket_id": ticket_id, "kind": "warning", "clock": "due", "percent": 50,
            "deadline": LATER, "recipients": ["ñ@b.id"], "at": AT})
        connection.execute(Undeliverable.__table__.insert(), {  # type: ignore[attr-defined]
            "helpdesk": "lpse-kota", "address": "ü@contoh.go.id", "reason": TEXT, "ticket_id": None, "at": AT,
            "permanent": False, "expires_at": LATER})
    cases: list[tuple[Prepared, dict[str, Any]]] = [
        (store._LATEST_OF_REQUESTER, {"helpdesk": "lpse-kota", "requester": "ü@contoh.go.id", "limit": 2}),
        (store._LATEST_OF_REQUESTER, {"helpdesk": "lpse-kota", "requester": "nobody@b.id", "limit": 5}),
        (store._CONVERSATION_AND_PEOPLE, {"ticket": ticket_id}),
        (deadlines._CLOCK_FACTS, {"ticket": ticket_id}),
        (deadlines._CLOCK_FACTS_AND_CONVERSATION, {"ticket": ticket_id}),
    ]
    for now in (AT, LATER + timedelta(seconds=1)):  # the mark in force, then expired
        for address in ("ü@contoh.go.id", "other@b.id"):
            cases.append((effects._BOUNCED_AND_RECENT, {"address": address, "helpdesk": "lpse-kota", "now": now,
                                                        "since": now - timedelta(days=2)}))
    with engine.begin() as connection:
        for prepared, params in cases:
            slow = _slow(connection, prepared, params).rows
            assert prepared.variant(connection.dialect, tuple(params)) is not None
            fast = prepared.run(connection, params).rows
            assert fast == slow, prepared.statement
            assert [[type(v) for v in row] for row in fast] == [[type(v) for v in row] for row in slow]
        facts = deadlines._CLOCK_FACTS_AND_CONVERSATION.run(connection, {"ticket": ticket_id}).rows
        assert facts[0][3] == AT and facts[0][3].tzinfo == timezone.utc and facts[0][7]["daftar"] == ["ñ", 1, None, True]
        marks = [effects._BOUNCED_AND_RECENT.run(connection, params).one() for prepared, params in cases[5:]]
        assert marks == [(True, 2), (False, 0), (False, 2), (False, 0)]  # outbox rows 1 and 3 are automatic
    engine.dispose()
