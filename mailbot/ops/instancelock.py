"""One ``mailbot run`` per mailbox and database, unless the workers cooperate on purpose.

Two services working the same mailbox by accident (a second unit, a forgotten terminal)
would race for every mail. ``acquire(app)`` takes a lock that lives as long as the process:

* SQLite: an ``fcntl`` lock on a file next to the database
  (``mailbot.db.run-<mailbox>.lock``, holding the pid and mailbox of its owner); the kernel
  drops it when the process dies, even by SIGKILL;
* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection kept
  open for the life of the process (one connection for all the mailboxes of the process); it ends
  with the connection.

The key is the IMAP account (``user@host:port``). With ``[workers] cooperate = true`` no lock
is taken: several workers share the mailbox on PostgreSQL by design.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from mailbot.service.app import App

log = logging.getLogger(__name__)


class LockHeld(RuntimeError):
    """Another process works this mailbox; ``str()`` is the line for the operator."""


class InstanceLock:
    def __init__(self, description: str, release: Any) -> None:
        self.description = description
        self._release = release

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None


def mailbox_key(app: App) -> str:
    imap = app.settings.imap
    return f"{imap.username}@{imap.host}:{imap.port}".lower()


def acquire(app: App) -> InstanceLock | None:
    """Take the lock for this process or raise :class:`LockHeld`; None when none is needed."""
    if app.settings.workers.cooperate:
        log.info("workers.cooperate is set: no instance lock, other workers may share %s", mailbox_key(app))
        return None
    engine = app.factory.kw["bind"]
    if app.settings.workers.share_mailboxes and engine.dialect.name == "postgresql":
        return None  # the workers share the mailboxes through leases (mailbot.ops.leases), one watcher each
    if engine.dialect.name == "sqlite":
        return _sqlite_lock(app, engine.url)
    if engine.dialect.name == "postgresql":
        return _pg_lock(app, engine)
    log.warning("no instance lock for database %s: make sure one mailbot run works %s",
                engine.dialect.name, mailbox_key(app))
    return None


def _sqlite_lock(app: App, url: Any) -> InstanceLock | None:
    database = make_url(str(url)).database
    if not database or database == ":memory:":
        return None
    mailbox = mailbox_key(app)
    slug = re.sub(r"[^a-z0-9@._-]+", "_", mailbox)[:80] + "-" + hashlib.sha256(mailbox.encode()).hexdigest()[:8]
    path = Path(database).with_name(f"{Path(database).name}.run-{slug}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 300, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise LockHeld(f"another mailbot run is already working mailbox {mailbox} with database {database} "
                       f"({holder}; lock file {path}); stop it first, or set [workers] cooperate = true for "
                       f"cooperating workers on PostgreSQL") from None
    owner = (f"pid {os.getpid()} on {socket.gethostname()} since "
             f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    os.ftruncate(fd, 0)
    os.pwrite(fd, owner.encode(), 0)

    def release() -> None:
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing drops the lock

    return InstanceLock(f"lock file {path}", release)


@dataclass
class _PgSession:
    """The one database session that holds every advisory lock of this process on one database: a
    deployment of hundreds of mailboxes would otherwise keep a connection per mailbox open."""

    conn: Any
    keys: set[int] = field(default_factory=set)


_pg_sessions: dict[int, _PgSession] = {}  # id(engine) -> its session
_pg_sessions_lock = threading.Lock()


def _pg_session(engine: Any) -> _PgSession:
    session = _pg_sessions.get(id(engine))
    if session is None:
        conn = engine.connect()
        try:
            # Name the session, so the process that finds a lock taken can say who holds it.
            owner = f"mailbot run pid {os.getpid()} on {socket.gethostname()}"[:63]
            conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": owner})
            conn.commit()
        except BaseException:
            conn.close()
            raise
        session = _pg_sessions[id(engine)] = _PgSession(conn)
    return session


def _pg_session_done(engine: Any, session: _PgSession) -> None:
    if not session.keys and _pg_sessions.get(id(engine)) is session:
        del _pg_sessions[id(engine)]
        session.conn.close()


def _pg_lock(app: App, engine: Any) -> InstanceLock:
    mailbox = mailbox_key(app)
    # A signed 64-bit key from the mailbox; "mailbot run" keeps the space apart from other uses.
    key = int.from_bytes(hashlib.sha256(f"mailbot run {mailbox}".encode()).digest()[:8], "big", signed=True)
    with _pg_sessions_lock:
        session = _pg_session(engine)
        conn = session.conn
        # Advisory locks are re-entrant within a session: the same mailbox twice in one process is
        # caught here (two [[helpdesks]] entries on one account).
        got = key not in session.keys and conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()
        if got:
            session.keys.add(key)
        holder = ""
        if not got:
            try:
                row = conn.execute(text(
                    "SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l JOIN pg_stat_activity a "
                    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                    "AND ((l.classid::bigint << 32) | l.objid::bigint) = (:k)::bigint"), {"k": key}).first()
                conn.commit()
                if row is not None:
                    holder = (f"{row[0] or 'a database session'} from {row[1] or 'local socket'} since "
                              f"{row[2]:%Y-%m-%d %H:%M %z}; ")
            except Exception:
                pass
            _pg_session_done(engine, session)
    if not got:
        url = engine.url.render_as_string(hide_password=True)
        raise LockHeld(f"another mailbot run is already working mailbox {mailbox} with database {url} "
                       f"({holder}advisory lock {key}); stop it first, or set [workers] cooperate = true for "
                       f"cooperating workers")

    def release() -> None:
        with _pg_sessions_lock:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            except Exception:
                pass
            finally:
                session.keys.discard(key)
                _pg_session_done(engine, session)

    return InstanceLock(f"advisory lock {key}", release)
