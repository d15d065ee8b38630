"""``store.write`` and ``store.read`` keep the session's connection for the rest of its transaction:
each statement must still run in the session's *current* transaction, whatever the session did
before (committed, rolled back, failed), or a mail's rows would land outside its transaction.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError, PendingRollbackError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.storage import store
from mailbot.storage.models import SigningKey
from tests.integration.conftest import NOW

_ADD = insert(SigningKey)
_COUNT = select(func.count(SigningKey.name))


def _row(name: str) -> dict[str, object]:
    return {"name": name, "value": "v", "created_at": NOW}


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = store.make_engine(db_url)
    store.upgrade(engine)
    yield store.make_sessionmaker(engine)
    engine.dispose()


def test_statements_follow_the_sessions_transactions(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        store.write(session, _ADD, _row("kept"))
        assert store.read(session, _COUNT).scalar() == 1
        session.commit()
        store.write(session, _ADD, _row("undone"))  # a new transaction, on whatever connection it has
        assert store.read(session, _COUNT).scalar() == 2
        session.rollback()
        assert store.read(session, _COUNT).scalar() == 1
        with session.begin_nested():  # a savepoint is the same transaction: the same connection
            store.write(session, _ADD, _row("nested"))
        session.commit()
    with factory() as other:
        assert set(other.scalars(select(SigningKey.name))) == {"kept", "nested"}
        other.execute(delete(SigningKey))
        other.commit()


def test_a_failed_flush_stops_the_statements_as_the_session_does(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        store.write(session, _ADD, _row("first"))
        session.add(SigningKey(**_row("first")))  # the same key: the flush fails
        with pytest.raises(IntegrityError):
            session.flush()
        with pytest.raises(PendingRollbackError):
            store.write(session, _ADD, _row("after"))
        session.rollback()
        assert store.read(session, _COUNT).scalar() == 0
