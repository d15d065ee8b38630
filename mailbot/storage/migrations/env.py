"""Alembic environment: runs migrations on the connection handed in by ``store.upgrade``.

Standalone use (``alembic -x url=sqlite:///var/mailbot.db upgrade head``) is supported too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from mailbot.storage import search
from mailbot.storage.models import Base

target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode recreates tables (copy, drop, rename) that other rows reference: with foreign
        # keys on, the drop fails. Effective only before the transaction's first write, which is
        # where we are; the references are checked below instead. store.upgrade disposes of the
        # pool afterwards, so no connection keeps them off.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch ALTERs
    )
    with context.begin_transaction():
        # The search index's triggers (storage/search.py) name tickets and messages in their bodies:
        # SQLite refuses a batch migration's rename of a copied table under them. Off while migrating,
        # back (for the schema as it ends up) before the commit.
        search.drop_triggers(connection)
        context.run_migrations()
        search.ensure_triggers(connection)
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("alembic: give the database with -x url=... (mailbot runs migrations itself on start)")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
