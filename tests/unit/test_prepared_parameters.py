"""A prepared statement's parameters (``storage.prepared``): the fast path (one ``itemgetter``,
only the converters there are, none called for a None it keeps) gives the driver exactly what
each value through its type's converter gives, as SQLAlchemy's execution does, for SQLite's
positional and PostgreSQL's named parameters, on rows of varied values and Nones; the result
rows' converters likewise.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Dialect, Table, insert
from sqlalchemy.dialects import postgresql, sqlite

from mailbot.storage.models import Message, Ticket, TicketEvent
from mailbot.storage.prepared import Prepared, _keeps_none, _processed

_DIALECTS = [sqlite.dialect(), postgresql.psycopg.dialect()]  # type: ignore[attr-defined]
_TABLES = [cast(Table, t.__table__) for t in (Ticket, Message, TicketEvent)]


def _value(column: Any, rng: random.Random) -> Any:
    if rng.random() < 0.35:
        return None
    python = getattr(column.type, "impl_instance", column.type).python_type  # UTCDateTime: its DateTime's
    if python is datetime:
        zone = timezone(timedelta(minutes=rng.choice([0, 420, -210])))
        return datetime(2026, 12, 6, rng.randrange(24), 5, 7, rng.randrange(10**6), tzinfo=zone)
    if python is bool:
        return rng.random() < 0.5
    if python is int:
        return rng.randrange(-5, 10**6)
    if python is list or python is dict:
        return rng.choice([[], ["npwp", "ñ — 日本"], {"a": [1, None], "b": "ü"}])
    return rng.choice(["", "teks", "Pengadaan “kutip” 😀"])


def _comparable(parameters: Any) -> Any:
    """psycopg's ``Json`` wrapper has no equality: compared by its type and object."""
    def plain(value: Any) -> Any:
        return (type(value).__name__, value.obj) if hasattr(value, "obj") else value
    if isinstance(parameters, dict):
        return {name: plain(value) for name, value in parameters.items()}
    return tuple(plain(value) for value in parameters)


def _expected(dialect: Dialect, statement: Any, keys: tuple[str, ...], row: dict[str, Any]) -> Any:
    """Each parameter's value through its converter, in the compiled statement's order."""
    compiled: Any = statement.compile(dialect=dialect, column_keys=sorted(keys))
    names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)

    def converted(name: str) -> Any:
        processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        return processor(row[name]) if processor is not None else row[name]
    if compiled.positional:
        return tuple(converted(name) for name in names)
    return {name: converted(name) for name in names if name in row}


@pytest.mark.parametrize("dialect", _DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("table", _TABLES, ids=lambda t: t.name)
def test_parameters_are_the_converted_values(dialect: Dialect, table: Table) -> None:
    rng = random.Random(3)
    columns = [c for c in table.columns if not c.primary_key]
    statement = Prepared(insert(table))
    for n in range(200):
        # Every column, or some (each set of names is a variant of its own; a column with a
        # Python-side default left out is SQLAlchemy's business, so those are always given).
        chosen = [c for c in columns if n % 4 or c.default is not None or rng.random() < 0.7]
        row = {c.key: _value(c, rng) for c in chosen}
        variant = statement.variant(dialect, tuple(row))
        assert variant is not None
        assert _comparable(variant.parameters(row)) == _comparable(
            _expected(dialect, statement.statement, tuple(row), row))


def test_result_rows_are_the_converted_values() -> None:
    dialect = sqlite.dialect()
    rng = random.Random(4)
    columns = list(cast(Table, Ticket.__table__).columns)
    processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
    converters = [(i, p, _keeps_none(p)) for i, p in enumerate(processors) if p is not None]
    stored = {datetime: "2026-12-06 14:05:07.123456", object: '["a", {"b": null}]', bool: 1, int: 7, str: "s"}  # object: JSON
    kinds = [getattr(c.type, "impl_instance", c.type).python_type for c in columns]
    rows = [tuple(None if rng.random() < 0.4 else stored[kind] for kind in kinds) for _ in range(100)]
    assert _processed(rows, converters) == [
        tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True)) for row in rows]
