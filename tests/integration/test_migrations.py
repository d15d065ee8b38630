"""The Alembic migrations build exactly the schema the models describe, and a new database
(created from the models and stamped at head) gets that same schema without running them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from mailbot.storage import models, search, store


def _schema_diff(engine: Engine) -> list[object]:
    # The search index (FTS5 or tsvector, storage/search.py) is not in the models: checked by test_search.
    def ours(name: str | None, kind: str, _parents: object) -> bool:
        return not (kind in {"table", "index"} and search.is_search_object(name))

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": ours})
        return list(compare_metadata(context, models.Base.metadata))


def _run_migrations(engine: Engine) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    engine.dispose()  # SQLite: the migration's connection has foreign keys off (migrations/env.py)


def test_migrations_match_models(db_url: str) -> None:
    engine = store.make_engine(db_url)
    _run_migrations(engine)
    assert store.at_head(engine)
    store.upgrade(engine)  # at head: nothing to do
    assert _schema_diff(engine) == []


def test_a_new_database_is_created_at_head_without_migrations(db_url: str) -> None:
    engine = store.make_engine(db_url)
    store.upgrade(engine)
    assert store.at_head(engine)
    assert _schema_diff(engine) == []
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == store.SCHEMA_HEAD
        # Alembic finds its version table as it makes it, so the next migration applies cleanly.
        assert inspect(conn).get_pk_constraint("alembic_version")["constrained_columns"] == ["version_num"]
    store.upgrade(engine)  # idempotent
    assert store.at_head(engine)


def test_migrations_apply_on_a_database_created_at_head(db_url: str) -> None:
    """Stamped at head, a created database looks to Alembic exactly like a migrated one: going
    one revision down and up again (what the next release's upgrade does) works."""
    engine = store.make_engine(db_url)
    store.upgrade(engine)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    engine.dispose()
    assert not store.at_head(engine)
    store.upgrade(engine)
    assert store.at_head(engine)
    assert _schema_diff(engine) == []
