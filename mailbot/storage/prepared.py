"""The Core statements of every mail, compiled once by SQLAlchemy and run on the DB-API cursor.

``Connection.execute`` of a statement built once still does SQLAlchemy's work per execution (the
execution context, ``construct_params``, the bind processors looked up, the result set up): an
INSERT of an event cost about 40 us on SQLite, against 19 us this way, and a mail runs about ten
such statements: the biggest cost of ``process_raw`` left (bench/README.md, sixth pass).

A ``Prepared`` statement does that work once per dialect and set of parameter names: SQLAlchemy
compiles the statement (the SQL text is exactly the one it executes), the order of its
parameters and their converters are taken from the compiled form and the types' public
``bind_processor`` and ``result_processor`` (so a datetime, JSON, boolean or bytes value goes to
the driver and comes back exactly as with SQLAlchemy), and each run only converts the values and
calls the dialect's ``do_execute``/``do_executemany`` on a cursor of the session's own
connection, in its transaction.

A row's values are picked with one ``itemgetter`` and only the columns whose type has a
converter go through it; a converter that makes None of None (every one but JSON's) is not
called for a None (bench/README.md, seventh pass).

What stays SQLAlchemy's: the engine's ``before_cursor_execute``/``after_cursor_execute``
listeners are called (with no execution context: the bench and tests count statements with
them), and a driver error is raised as SQLAlchemy raises it (``DBAPIError.instance``, a dropped
connection invalidated). Anything the fast path does not do the way ``execute`` would (Python-side
column defaults, expanding or literal-execute parameters, echo, a connection outside a
transaction, several rows that the dialect inserts with one statement of many VALUES, as
SQLAlchemy does on PostgreSQL) goes through ``Connection.execute`` instead.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import CompoundSelect, Connection, Dialect, Select
from sqlalchemy.exc import DBAPIError, InvalidRequestError, MultipleResultsFound, NoResultFound, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

_Row = Mapping[str, Any]
_Params = _Row | Sequence[_Row]
#: A value's converter at a position (or parameter name), and whether it makes None of None.
_Converter = tuple[Any, Callable[[Any], Any], bool]
#: A compiled variant per dialect and parameter names; past this many (a statement called with
#: ever new sets of names) the statement is run by ``Connection.execute``.
MAX_VARIANTS = 64


class Written:
    """What a prepared statement did: its RETURNING rows (tuples) and the rows it matched."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        """The first column of the first row, None without one (as ``Result.scalar``)."""
        return self.rows[0][0] if self.rows else None

    def one(self) -> tuple[Any, ...]:
        """The only row (as ``Result.one``)."""
        if not self.rows:
            raise NoResultFound("No row was found when one was required")
        if len(self.rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self.rows[0]

    def scalar_one(self) -> Any:
        return self.one()[0]


class _Variant:
    """The statement compiled for one dialect and one set of parameter names; ``parameters``
    makes the driver's parameters of one row."""

    __slots__ = ("sql", "parameters", "results", "returns")

    def __init__(self, sql: str, parameters: Callable[[_Row], Any], results: list[_Converter] | None,
                 returns: bool) -> None:
        self.sql, self.parameters, self.results, self.returns = sql, parameters, results, returns


class _Slot:
    """Stands for a row's value while the compiled statement's parameters are laid out."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


def _getter(value: Any, processor: Callable[[Any], Any] | None) -> Callable[[_Row], Any]:
    if not isinstance(value, _Slot):  # a value of the statement itself (e.g. a literal): converted once
        fixed = processor(value) if processor is not None else value
        return lambda row: fixed
    key = value.key
    if processor is None:
        return lambda row: row[key]
    return lambda row: processor(row[key])


def _keeps_none(processor: Callable[[Any], Any]) -> bool:
    """True when the converter makes None of None (not JSON's: ``'null'``): a None is passed on
    as it is, without the call (SQLAlchemy's converters are functions of the value alone)."""
    try:
        return processor(None) is None
    except Exception:
        return False


def _parameters(names: list[str], values: list[Any], processors: list[Callable[[Any], Any] | None],
                positional: bool, as_sequence: Callable[[Any], Any]) -> Callable[[_Row], Any]:
    """The function that makes the driver's parameters (``names`` in the statement's order) of one
    row: each ``values[i]`` (a row's key, ``_Slot``, or a value of the statement itself) through
    its converter, if it has one. The common case, every value from the row, picks them all with
    one ``itemgetter`` and calls only the converters there are (not for a None they keep)."""
    if not names or not all(isinstance(v, _Slot) for v in values):
        getters = [_getter(v, p) for v, p in zip(values, processors, strict=True)]
        if positional:
            return lambda row: as_sequence([get(row) for get in getters])
        return lambda row: {name: get(row) for name, get in zip(names, getters, strict=True)}
    pick = itemgetter(*(v.key for v in values))
    one = len(values) == 1  # ``itemgetter`` of one key gives the value, not a tuple
    converted: list[_Converter] = [(i if positional else names[i], p, _keeps_none(p))
                                   for i, p in enumerate(processors) if p is not None]
    if positional:
        def parameters(row: _Row) -> Any:
            picked = (pick(row),) if one else pick(row)
            if not converted:
                return picked if as_sequence is tuple else as_sequence(picked)
            out = list(picked)
            for i, process, keeps_none in converted:
                value = out[i]
                if value is not None or not keeps_none:
                    out[i] = process(value)
            return as_sequence(out)
        return parameters

    def named(row: _Row) -> Any:
        out = dict(zip(names, (pick(row),) if one else pick(row), strict=True))
        for name, process, keeps_none in converted:
            value = out[name]
            if value is not None or not keeps_none:
                out[name] = process(value)
        return out
    return named


class Prepared:
    """A Core INSERT, UPDATE or SELECT of columns (built once, at import) run straight on the
    DB-API (see the module)."""

    def __init__(self, statement: UpdateBase | Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._variants: weakref.WeakKeyDictionary[Dialect, dict[tuple[bool, tuple[str, ...]], _Variant | None]] = (
            weakref.WeakKeyDictionary())
        self._last: tuple[Dialect, dict[tuple[bool, tuple[str, ...]], _Variant | None]] | None = None

    def variant(self, dialect: Dialect, keys: tuple[str, ...], many: bool = False) -> _Variant | None:
        """The statement compiled for ``dialect`` and rows with ``keys`` (``many``: for an
        executemany); None: ``Connection.execute`` runs it."""
        last = self._last
        if last is not None and last[0] is dialect:
            variants = last[1]
        else:
            variants = self._variants.setdefault(dialect, {})
            self._last = (dialect, variants)
        try:
            return variants[many, keys]
        except KeyError:
            if len(variants) >= MAX_VARIANTS:
                return None
            made = variants[many, keys] = self._compile(dialect, keys, many)
            return made

    def _compile(self, dialect: Dialect, keys: tuple[str, ...], many: bool) -> _Variant | None:
        # As ``Connection.execute`` compiles it: the column keys are the parameters' names, sorted;
        # for one row PostgreSQL's INSERT gets an implicit RETURNING of the new id, for many not.
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=sorted(keys), for_executemany=many)
        if (compiled.insert_prefetch or compiled.update_prefetch or compiled.literal_execute_params
                or compiled.post_compile_params or compiled.schema_translate_map
                or any(b.callable is not None for b in compiled.binds.values())):
            return None  # Python-side defaults or values made per execution: SQLAlchemy's work
        try:
            laid_out = compiled.construct_params({key: _Slot(key) for key in keys}, escape_names=False)
        except InvalidRequestError:
            return None  # a required value missing: ``execute`` raises it as it does
        order = list(compiled.positiontup) if compiled.positional else list(laid_out)
        escaped = compiled.escaped_bind_names or {}
        parameters = _parameters(order if compiled.positional else [escaped.get(name, name) for name in order],
                                 [laid_out[name] for name in order],
                                 [_bind_processor(compiled.binds[name].type, dialect) for name in order],
                                 compiled.positional, dialect.execute_sequence_format)
        returns = bool(self.statement.exported_columns)  # a SELECT, or RETURNING columns
        return _Variant(compiled.string, parameters, None, returns)

    def _results(self, dialect: Dialect, description: Sequence[Any]) -> list[_Converter]:
        """The converters of the result's columns, as SQLAlchemy takes them: from each selected
        column's type, given the driver's type code of the column (its ``cursor.description``);
        only the columns that have one, with the column's position."""
        columns = list(self.statement.exported_columns)
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, d[1])
                      for c, d in zip(columns, description, strict=True)]
        return [(i, p, _keeps_none(p)) for i, p in enumerate(processors) if p is not None]

    def run(self, connection: Connection, params: _Params) -> Written:
        """Run the statement with one row of values (a mapping) or several (executemany) on
        ``connection``, in its transaction."""
        many = type(params) is not dict and not isinstance(params, Mapping)  # (the ABC's check is slower)
        rows: Sequence[_Row] = params if many else (params,)  # type: ignore[assignment]
        if not rows:
            return Written([], 0)
        dialect = connection.dialect
        variant = self.variant(dialect, tuple(rows[0]), many)
        if (variant is None or connection.engine.echo or not connection.in_transaction()
                or (many and self.statement.is_insert and dialect.use_insertmanyvalues_wo_returning)):
            # PostgreSQL (psycopg): SQLAlchemy sends several rows as one INSERT of many VALUES.
            return self._execute(connection, params)
        sql = variant.sql
        try:
            parameters: Any = [variant.parameters(row) for row in rows] if many else variant.parameters(rows[0])
        except Exception as error:  # a converter refused a value: a StatementError, as from execute
            raise _wrapped(connection, None, error, sql, params, many) from error
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        cursor = dbapi_connection.cursor()
        # Listeners of the connection or the engine, as ``Connection`` itself checks for them
        # (walking the empty collections costs more than the check).
        dispatch = connection.dispatch if connection._has_events or connection.engine._has_events else None
        try:
            if dispatch is not None:
                for listener in dispatch.before_cursor_execute:
                    listener(connection, cursor, sql, parameters, None, many)
            if many:
                dialect.do_executemany(cursor, sql, parameters)
            else:
                dialect.do_execute(cursor, sql, parameters)
            if dispatch is not None:
                for listener in dispatch.after_cursor_execute:
                    listener(connection, cursor, sql, parameters, None, many)
            if variant.returns:
                fetched = cursor.fetchall()
                if variant.results is None:  # the first run: the driver describes the columns
                    variant.results = self._results(dialect, cursor.description)
                written = Written(_processed(fetched, variant.results), cursor.rowcount)
            else:
                written = Written([], cursor.rowcount)
        except dialect.loaded_dbapi.Error as error:
            raise _wrapped(connection, cursor, error, sql, parameters, many) from error
        cursor.close()
        return written

    def _execute(self, connection: Connection, params: _Params) -> Written:
        result = connection.execute(self.statement, params)
        rows = [tuple(row) for row in result] if result.returns_rows else []
        return Written(rows, result.rowcount)


def _processed(rows: Sequence[Any], converters: list[_Converter]) -> list[tuple[Any, ...]]:
    if not converters:
        return [tuple(row) for row in rows]
    out = []
    for row in rows:
        values = list(row)
        for i, process, keeps_none in converters:
            value = values[i]
            if value is not None or not keeps_none:
                values[i] = process(value)
        out.append(tuple(values))
    return out


def _bind_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The type's converter of a Python value for the driver, as SQLAlchemy's execution uses it."""
    processor: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _wrapped(connection: Connection, cursor: Any, error: Exception, sql: str, parameters: Any,
             many: bool) -> StatementError:
    """``error`` as ``Connection.execute`` raises it: the driver's as an ``IntegrityError``,
    ``OperationalError``..., a dropped connection invalidated; any other in a ``StatementError``."""
    dialect = connection.dialect
    disconnect = cursor is not None and isinstance(error, dialect.loaded_dbapi.Error) and dialect.is_disconnect(
        error, connection.connection.dbapi_connection, cursor)
    wrapped = DBAPIError.instance(sql, parameters, error, dialect.loaded_dbapi.Error,
                                  hide_parameters=connection.engine.hide_parameters,
                                  connection_invalidated=disconnect, dialect=dialect, ismulti=many)
    if disconnect:
        connection.invalidate(error)
    elif cursor is not None:
        try:
            cursor.close()
        except dialect.loaded_dbapi.Error:
            pass  # the error being raised is the one that matters
    return wrapped


def connection_of(session: Session) -> Connection:
    """``session.connection()``, kept in ``session.info`` for the rest of its (active) transaction:
    asking the session again costs its checks each time, for the dozen statements of a mail."""
    transaction = session.get_transaction()
    kept = session.info.get("mailbot.connection")
    if kept is not None and transaction is not None and kept[0] is transaction and transaction.is_active:
        return kept[1]  # type: ignore[no-any-return]
    connection = session.connection()
    session.info["mailbot.connection"] = (session.get_transaction(), connection)
    return connection


def run(session: Session, statement: Prepared, params: _Params) -> Written:
    """Run a prepared INSERT or UPDATE on the session's connection, in its transaction (as
    ``store.write`` runs a Core statement: the session is not flushed first)."""
    return statement.run(connection_of(session), params)


def fetch(session: Session, statement: Prepared, params: _Row) -> Written:
    """Run a prepared SELECT of columns on the session's connection, as ``store.read`` does: the
    session's pending changes are flushed first when it autoflushes."""
    if session.autoflush:
        session.flush()
    return statement.run(connection_of(session), params)
