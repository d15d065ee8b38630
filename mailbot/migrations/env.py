"""Alembic environment: runs migrations on the connection handed in by ``store.upgrade``.

Standalone use (``alembic -x url=sqlite:///var/mailbot.db upgrade head``) is supported too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from mailbot.store import Base

target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch ALTERs
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
