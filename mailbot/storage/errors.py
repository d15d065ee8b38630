"""Errors of the database (or of the disk under it), told apart from mailbox outages.

:func:`database_problem` makes one line of them, so that a full disk is reported as
``database: disk full (...)`` and not as a lost IMAP connection.
"""

from __future__ import annotations

import errno

#: sqlite3's result code for "database or disk is full" (``sqlite_errorcode`` of its errors).
SQLITE_FULL = 13
#: PostgreSQL's SQLSTATE disk_full.
PG_DISK_FULL = "53100"
_DISK_FULL_TEXTS = ("database or disk is full", "no space left on device")
_DATABASE_MODULES = ("sqlalchemy", "sqlite3", "psycopg", "psycopg2", "alembic")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, the DBAPI error SQLAlchemy wraps (``orig``), and their causes and contexts."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 20:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        orig = getattr(item, "orig", None)
        todo.extend([orig if isinstance(orig, BaseException) else None, item.__cause__, item.__context__])
    return seen


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    if getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL:
        return True
    if PG_DISK_FULL in (getattr(exc, "sqlstate", None), getattr(exc, "pgcode", None)):
        return True
    text = str(exc).lower()
    return any(t in text for t in _DISK_FULL_TEXTS)


def _is_database_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".", 1)[0] in _DATABASE_MODULES


def database_problem(exc: BaseException) -> str | None:
    """One line for an error of the database or a full disk, ``None`` for any other error.

    ``database: disk full (sqlite3.OperationalError: database or disk is full)`` for SQLite's
    SQLITE_FULL, PostgreSQL's disk_full or an ``OSError`` ENOSPC (the sender's journal next to
    a SQLite database); ``database: <error>`` for other database errors. Only the first line of
    the driver's message: SQLAlchemy's text carries the SQL statement and PostgreSQL's DETAIL
    the values, and neither belongs in a log line.
    """
    chain = _chain(exc)
    full = next((e for e in chain if _is_disk_full(e)), None)
    database = next((e for e in chain if _is_database_error(e) and getattr(e, "orig", None) is None), None)
    if database is None:
        database = next((e for e in chain if _is_database_error(e)), None)
    if full is None and database is None:
        return None
    shown = database if database is not None and not isinstance(full, OSError) else full
    assert shown is not None
    kind = type(shown)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    lines = str(shown).strip().splitlines()
    text = " ".join(lines[0].split()) if lines else ""
    detail = f"{name}: {text}" if text else name
    return f"database: disk full ({detail})" if full is not None else f"database: {detail}"
