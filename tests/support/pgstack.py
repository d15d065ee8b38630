"""A throwaway PostgreSQL server for the tests, and the test database of the selected backend.

``ensure_started()`` runs ``scripts/pgstack.sh start`` (once per process; the script is
idempotent and locked, so parallel processes are fine): a cluster under /tmp owned by the
``postgres`` user, on 127.0.0.1:15432, trust authentication. ``fresh_database()`` creates
a new, empty database and returns its SQLAlchemy URL (``postgresql+psycopg://...``); the
tests use one per test (e2e deployments) or per module, so they never see each other's rows.

The backend of the suite is chosen with ``MAILBOT_TEST_DB`` = ``sqlite`` (default) or
``postgresql``; ``database_url(folder)`` gives a URL of that backend: a SQLite file in
``folder``, or a fresh PostgreSQL database.

Databases are named ``mbt_<pid>_<n>``; ``drop_created()`` drops this process's at the end of
the session, and ``ensure_started()`` drops those left behind by processes that are gone.
"""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PgStack", "SCRIPT", "backend", "database_url", "drop_created", "drop_database", "ensure_started",
           "fresh_database"]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pgstack.sh"
PREFIX = "mbt_"


@dataclass(frozen=True)
class PgStack:
    host: str
    port: int
    user: str
    folder: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={database}"


_lock = threading.Lock()
_started: PgStack | None = None
_counter = itertools.count(1)
_created: list[str] = []


def backend() -> str:
    """``sqlite`` or ``postgresql``, from MAILBOT_TEST_DB (``pg``/``postgres`` also mean PostgreSQL)."""
    value = os.environ.get("MAILBOT_TEST_DB", "sqlite").strip().lower()
    if value in {"", "sqlite", "sqlite3"}:
        return "sqlite"
    if value in {"pg", "postgres", "postgresql"}:
        return "postgresql"
    raise ValueError(f"MAILBOT_TEST_DB={value!r}: use sqlite or postgresql")


def _env() -> dict[str, str]:
    out = subprocess.run(["bash", str(SCRIPT), "env"], check=True, capture_output=True, text=True).stdout
    values: dict[str, str] = {}
    for line in out.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            values[name] = value
    return values


def ensure_started() -> PgStack:
    """Start the cluster (if this process has not already) and describe it."""
    global _started
    with _lock:
        if _started is None:
            proc = subprocess.run(["bash", str(SCRIPT), "start"], stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"{SCRIPT} start failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
            env = _env()
            _started = PgStack(host=env["PGSTACK_HOST"], port=int(env["PGSTACK_PORT"]), user=env["PGSTACK_USER"],
                               folder=Path(env["PGSTACK_DIR"]))
            _drop_orphans(_started)
        return _started


def _admin(stack: PgStack):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(stack.conninfo(), autocommit=True, connect_timeout=10)


def fresh_database(tag: str = "") -> str:
    """Create an empty database on the test cluster; returns its URL."""
    stack = ensure_started()
    name = f"{PREFIX}{os.getpid()}_{next(_counter)}"
    if tag:
        name += "_" + "".join(c for c in tag.lower() if c.isalnum())[:20]
    with _admin(stack) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _created.append(name)
    return stack.url(name)


def drop_database(url: str) -> None:
    """Drop a database made by ``fresh_database`` (its connections are ended first)."""
    stack = ensure_started()
    name = url.rpartition("/")[2]
    if not name.startswith(PREFIX):
        raise ValueError(f"not a test database: {url}")
    with _admin(stack) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if name in _created:
        _created.remove(name)


def drop_created() -> None:
    """Drop every database this process created and has not dropped yet."""
    if _started is None:
        return
    for name in list(_created):
        try:
            drop_database(_started.url(name))
        except Exception:
            pass


def _drop_orphans(stack: PgStack) -> None:
    """Drop test databases of processes that no longer run (a run that was killed)."""
    with _admin(stack) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'mbt\\_%'")]
        for name in names:
            pid = name.removeprefix(PREFIX).partition("_")[0]
            if pid.isdigit() and not _alive(int(pid)):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def database_url(folder: Path, name: str = "mailbot") -> str:
    """A database of the selected backend: ``sqlite:///folder/name.db`` or a fresh PostgreSQL database."""
    if backend() == "postgresql":
        return fresh_database(name)
    return f"sqlite:///{folder / (name + '.db')}"
