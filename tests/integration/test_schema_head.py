"""Starting on a database at head skips Alembic; ``store.SCHEMA_HEAD`` must agree with Alembic itself
(a new migration that forgets to update it fails here)."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory

from mailbot.storage import store


def test_script_head_is_alembics_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(store.MIGRATIONS))
    assert store.script_head() == ScriptDirectory.from_config(cfg).get_current_head()


def test_at_head_only_once_migrated(db_url: str) -> None:
    engine = store.make_engine(db_url)
    assert not store.at_head(engine)  # a new database: no alembic_version yet
    store.upgrade(engine)
    assert store.at_head(engine)
    with engine.begin() as conn:  # an older schema: the real upgrade runs
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    assert not store.at_head(engine)
