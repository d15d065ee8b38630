"""The database engine, migrations, and the queries the service needs (lookups, claims, locks).

The tables themselves are in ``models``. Schema changes go through Alembic
(``mailbot/storage/migrations``); ``upgrade()`` applies them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple, cast

from sqlalchemy import (
    Column,
    Connection,
    CursorResult,
    Engine,
    Executable,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.selectable import TypedReturnsRows

from mailbot.storage import loads
from mailbot.storage.models import (
    Base,
    Inbound,
    Message,
    SigningKey,
    Ticket,
)
from mailbot.storage.prepared import Prepared
from mailbot.storage.prepared import connection_of as _connection
from mailbot.storage.prepared import fetch as fetch
from mailbot.storage.prepared import run as run


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 (``postgresql+psycopg://``)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in {"postgres", "postgresql"}:
        return f"postgresql+psycopg://{rest}"
    return url


def make_engine(url: str) -> Engine:
    """Create the engine; for SQLite make the folder, enable WAL (synchronous=NORMAL) and foreign keys.

    PostgreSQL (``postgresql+psycopg://``) connections are checked before use, so a
    restarted database server costs one reconnect, not an error.
    """
    url = normalize_url(url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql"):
        engine = create_engine(url, pool_pre_ping=True, connect_args={"application_name": "mailbot"})
    else:
        engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            # With WAL, NORMAL syncs at checkpoints instead of at every commit: a commit survives a
            # crash of the process, only a power loss may undo the last ones. The intake moves mail
            # out of the inbox after ``sync_to_disk``, so a mail never leaves before its commit is on disk.
            cur.execute("PRAGMA synchronous=NORMAL")
            # A small page cache per connection (default 2 MB each): the OS caches the file anyway.
            cur.execute("PRAGMA cache_size=-512")
            cur.close()

    return engine


def sync_to_disk(engine: Engine) -> None:
    """Make every transaction committed so far durable (SQLite with ``synchronous=NORMAL``).

    Committed WAL frames are written but not yet fsynced; one fsync of the WAL file covers all
    of them (frames already checkpointed are in the database file, which the checkpoint synced).
    One call per intake batch replaces an fsync per commit. Other databases: nothing to do.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return
    try:
        fd = os.open(f"{database}-wal", os.O_RDONLY)
    except FileNotFoundError:
        return  # no WAL (yet): nothing is waiting
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (idempotent).

    A database already at head (every start but the first after an upgrade) is recognised
    without importing Alembic or taking the migration lock. A new, empty database gets the
    models' tables and is stamped at head, as Alembic's cookbook advises ("building an up to
    date database from scratch"); ``tests/unit/test_migrations.py`` checks that this schema is
    the one the migrations build. Only an existing older database runs the migrations: Alembic
    (with Mako) costs the process about 11 MB that it keeps for as long as it runs.
    """
    if at_head(engine):
        return
    # Every start migrates: workers started together take turns (the later ones find it done).
    with _migration_lock(engine), engine.connect() as conn:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(advisory_key("migrate", "schema"))))
            if not sa_inspect(conn).get_table_names():
                create_at_head(conn)
                return
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        if conn.dialect.name == "sqlite":
            # migrations/env.py switched foreign keys off for the migration; this connection goes
            # back to the pool, so switch them on again (possible now, outside the transaction).
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


#: Alembic's version table, as Alembic itself creates it.
_ALEMBIC_VERSION = Table(
    "alembic_version", MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def create_at_head(conn: Connection) -> None:
    """Create the models' tables in an empty database and record the head revision (the caller's
    transaction)."""
    from mailbot.storage import search  # a new database only: a poll does not search

    Base.metadata.create_all(conn)
    search.install(conn)  # not in the models' metadata: an FTS5 table or a tsvector, and triggers
    _ALEMBIC_VERSION.create(conn)
    conn.execute(_ALEMBIC_VERSION.insert().values(version_num=script_head()))


#: The newest migration's revision. Kept here so that a start on a database already at head needs
#: no Alembic import (its import and script scan cost more than the check); a new migration must
#: update it, which ``tests/unit/test_schema_head.py`` checks against Alembic's own answer.
SCHEMA_HEAD = "0013"


def script_head() -> str:
    """The head revision of ``mailbot/migrations`` (see ``SCHEMA_HEAD``)."""
    return SCHEMA_HEAD


def at_head(engine: Engine) -> bool:
    """True when the database records exactly the scripts' head revision (anything else: migrate)."""
    head = script_head()
    try:
        with engine.connect() as conn:
            versions = [row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")]
    except DBAPIError:
        return False  # no alembic_version table yet: a new database
    return versions == [head]


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """SQLite: an ``flock`` on ``<database>.migrate.lock`` while migrating (PostgreSQL: see upgrade)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    fd = os.open(f"{database}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def signing_key(engine: Engine, name: str, now: datetime) -> str:
    """The generated secret ``name``, made (randomly, 32 bytes) and kept at its first use.

    Several workers starting together agree on one key: the first insert wins and everybody
    reads what was stored.
    """
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        value = session.scalar(select(SigningKey.value).where(SigningKey.name == name))
        if value is not None:
            return value
    try:
        with factory.begin() as session:
            session.add(SigningKey(name=name, value=secrets.token_urlsafe(32), created_at=now))
    except IntegrityError:
        pass  # another worker made it first: use theirs
    with factory.begin() as session:
        return session.scalars(select(SigningKey.value).where(SigningKey.name == name)).one()


def ticket_by_number(session: Session, number: str, helpdesk: str | None = None) -> Ticket | None:
    """A ticket by number (``TTS-000123``) or id; numbers repeat across helpdesks, so give ``helpdesk``
    (without it, the first ticket with that number)."""
    number = number.strip().upper()
    if number.isdigit():
        ticket = session.get(Ticket, int(number))
        return ticket if ticket is not None and helpdesk in (None, ticket.helpdesk) else None
    query = select(Ticket).where(Ticket.number == number).order_by(Ticket.id)
    if helpdesk is not None:
        query = query.where(Ticket.helpdesk == helpdesk)
    return session.scalars(query.limit(1)).first()


_T = TypeVar("_T")


def padded(values: Sequence[_T]) -> list[_T]:
    """``values`` for an ``IN (...)`` list, padded to a power of two by repeating the last one.

    Each length of an IN list is another SQL text, and the database driver keeps a prepared
    statement per text and connection (Python's sqlite3: the last 128). With lists of every
    length from 1 to 50 (or 1,000), those caches filled with one-off statements, which evicted
    the ones used for every mail, and each kept its size: the process grew by 5 MB over a
    3,000-mail backlog. Padded, a list of up to 64 values has 7 texts; a repeated value matches
    nothing more.
    """
    out = list(values)
    if out:
        out.extend(out[-1:] * ((1 << (len(out) - 1).bit_length()) - len(out)))
    return out


# The lookups below run for almost every mail: built once, with bind parameters, they skip the
# statement's construction and cache key each time (and behave exactly the same).
_TICKET_FOR_SEQ = select(Ticket.id).where(Ticket.helpdesk == bindparam("helpdesk"), Ticket.seq == bindparam("seq"))
_LAST_SEQ = select(func.max(Ticket.seq)).where(Ticket.helpdesk == bindparam("helpdesk"))
_OWNERS = select(Message.message_id, Message.ticket_id).where(Message.message_id.in_(bindparam("ids", expanding=True)))
_OWNERS_IN_HELPDESK = (_OWNERS.join(Ticket, Ticket.id == Message.ticket_id)
                       .where(Ticket.helpdesk == bindparam("helpdesk")).order_by(Message.id))
_OWNERS = _OWNERS.order_by(Message.id)
_CONVERSATION = (select(Message.message_id, Message.direction, Message.channel)
                 .where(Message.ticket_id == bindparam("ticket")).order_by(Message.id))
_CONVERSATION_AND_PEOPLE = Prepared(select(Message.message_id, Message.direction, Message.channel, Message.sender,
                                           Message.recipients)
                                    .where(Message.ticket_id == bindparam("ticket")).order_by(Message.id))


def write(session: Session, statement: Executable, params: Any = None) -> CursorResult[Any]:
    """Run a Core INSERT or UPDATE of a table (built once) on the session's connection, in its
    transaction.

    ``session.execute`` runs such a statement on the same connection too (it is not an ORM
    statement: nothing is flushed first), after its own bookkeeping: 40-60 us per statement
    against about 20 us here, for the dozen statements of every mail.
    """
    return _connection(session).execute(statement, params)


_Ts = TypeVarTuple("_Ts")


def read(session: Session, statement: TypedReturnsRows[*_Ts], params: Any = None) -> CursorResult[*_Ts]:
    """Run a SELECT of columns (built once) on the session's connection, as ``write`` does;
    pending changes are flushed first when the session autoflushes, as ``session.execute`` does
    for a select of mapped columns. (A select of whole objects stays ``session.execute``.)"""
    if session.autoflush:
        session.flush()
    return _connection(session).execute(statement, params)


def ticket_for_seq(session: Session, helpdesk: str, seq: int) -> int | None:
    """The id of the helpdesk's ticket numbered ``seq`` (what a ``[TTS-000123]`` subject tag names)."""
    return read(session, _TICKET_FOR_SEQ, {"helpdesk": helpdesk, "seq": seq}).scalar()


def ticket_by_seq(session: Session, helpdesk: str, seq: int) -> Ticket | None:
    """The helpdesk's ticket numbered ``seq``, loaded (``ticket_for_seq`` and ``session.get`` in one
    query, prepared: ``loads``)."""
    return loads.ticket_by_seq(session, helpdesk, seq)


_SEQ_LOCKS: dict[str, Executable] = {}


def _lock_numbering(session: Session, helpdesk: str) -> None:
    """PostgreSQL: take the helpdesk's numbering lock (``next_seq``) for the rest of the transaction."""
    if session.get_bind().dialect.name == "postgresql":
        statement = _SEQ_LOCKS.get(helpdesk)
        if statement is None:  # per helpdesk: a deployment has a few
            statement = _SEQ_LOCKS[helpdesk] = select(func.pg_advisory_xact_lock(advisory_key("ticket-seq", helpdesk)))
        write(session, statement)


def next_seq(session: Session, helpdesk: str) -> int:
    """The number of the helpdesk's next ticket, in the session's transaction.

    PostgreSQL: a transaction advisory lock per helpdesk makes concurrent openers take turns
    (the second reads the first's committed ticket), so cooperating workers do not collide;
    the unique (helpdesk, seq) constraint catches anything else, and the mail is retried
    (``service.process_raw``). SQLite's write lock serialises writers anyway.
    """
    _lock_numbering(session, helpdesk)
    last = read(session, _LAST_SEQ, {"helpdesk": helpdesk}).scalar()
    return (last or 0) + 1


_TICKETS = cast(Table, Ticket.__table__)
_INSERT_TICKET = Prepared(insert(_TICKETS).returning(_TICKETS.c.id))
_INSERT_NUMBERED: dict[str, Prepared] = {}


def _numbered_insert(dialect: str) -> Prepared:
    """The INSERT of a ticket that takes the helpdesk's next seq itself (``INSERT ... SELECT`` from
    ``max(seq) + 1``), its number made from it as ``threads.format_number`` makes it (``<prefix>-``
    and at least six digits), RETURNING id, seq and number: ``next_seq``'s query and the INSERT
    in one statement. Under the same locks as ``next_seq``, so the same numbers."""
    statement = _INSERT_NUMBERED.get(dialect)
    if statement is not None:
        return statement
    columns = [c for c in _TICKETS.columns if not c.primary_key]
    n = (select((func.coalesce(func.max(_TICKETS.c.seq), 0) + 1).label("seq"))
         .where(_TICKETS.c.helpdesk == bindparam("helpdesk")).subquery("n"))
    if dialect == "sqlite":
        digits: Any = func.printf("%06d", n.c.seq)
    else:  # lpad alone would cut a seventh digit
        text = sql_cast(n.c.seq, Text)
        digits = func.lpad(text, func.greatest(6, func.length(text)), "0")
    number = bindparam("prefix", type_=String) + "-" + digits
    values = [n.c.seq if c.key == "seq" else number if c.key == "number" else bindparam(c.key, type_=c.type)
              for c in columns]
    statement = _INSERT_NUMBERED[dialect] = Prepared(
        insert(_TICKETS).from_select([c.key for c in columns], select(*values).select_from(n))
        .returning(_TICKETS.c.id, _TICKETS.c.seq, _TICKETS.c.number))
    return statement


def insert_ticket(session: Session, ticket: Ticket, prefix: str | None = None) -> None:
    """Write a new ticket with one INSERT, and keep it in the session as if it had been loaded:
    it has its id, and later changes to it are flushed as for any ticket.

    A ticket without a ``seq`` (give the helpdesk's ``prefix``) takes the next one of its
    helpdesk in the INSERT itself, and its number with it (``_numbered_insert``).

    The ORM's unit of work would do the same for the one object at several times the cost (it
    runs for every new ticket). Columns the ticket was not given take their defaults, on the
    object as in the row, so that reading one never goes back to the database.
    """
    numbered = ticket.seq is None
    values: dict[str, Any] = {}
    for column in _TICKETS.columns:
        if column.primary_key or (numbered and column.key in {"seq", "number"}):
            continue
        if column.key in ticket.__dict__:
            value = getattr(ticket, column.key)
        else:
            default = column.default
            value = None if default is None else default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]
            setattr(ticket, column.key, value)
        values[column.key] = value
    if numbered:
        if prefix is None:
            raise ValueError("a ticket without a seq needs its helpdesk's prefix")
        _lock_numbering(session, ticket.helpdesk)
        row: Any = run(session, _numbered_insert(session.get_bind().dialect.name), {**values, "prefix": prefix}).one()
        ticket.id, ticket.seq, ticket.number = row
    else:
        ticket.id = run(session, _INSERT_TICKET, values).scalar_one()
    make_transient_to_detached(ticket)
    session.add(ticket)
    _keep_latest(session, ticket)


# ---- a requester's latest tickets: the flood cap, then the new-ticket notification ---------------

#: Their id, number, subject, state and opening time, newest first (``ix_tickets_requester_opened``).
_LATEST_OF_REQUESTER = Prepared(select(Ticket.id, Ticket.number, Ticket.subject, Ticket.state, Ticket.opened_at)
                                .where(Ticket.helpdesk == bindparam("helpdesk"),
                                       Ticket.requester == bindparam("requester"))
                                .order_by(Ticket.opened_at.desc(), Ticket.id.desc()).limit(bindparam("limit")))
#: ``session.info`` key: what ``latest_of_requester`` read in the transaction, by (helpdesk, requester).
_LATEST = "mailbot.latest_of_requester"


@dataclass
class Latest:
    """A requester's newest tickets as of now in this transaction: ``rows`` (``_LATEST_OF_REQUESTER``'s
    columns) are the first ones of all their tickets in that order; ``complete``: all of them."""

    rows: list[tuple[int, str | None, str, str, datetime]]
    complete: bool


def latest_of_requester(session: Session, helpdesk: str, requester: str, limit: int) -> Latest:
    """The requester's ``limit`` newest tickets of ``helpdesk``, kept for the rest of the transaction
    (``kept_latest``; ``insert_ticket`` adds the tickets it writes)."""
    rows = [(pk, number, subject, state, opened_at) for pk, number, subject, state, opened_at
            in fetch(session, _LATEST_OF_REQUESTER, {"helpdesk": helpdesk, "requester": requester, "limit": limit})]
    latest = session.info.setdefault(_LATEST, {})[(helpdesk, requester)] = Latest(rows, len(rows) < limit)
    return latest


def kept_latest(session: Session, helpdesk: str, requester: str) -> Latest | None:
    """What ``latest_of_requester`` read for the requester in this transaction, if it did."""
    kept: dict[tuple[str, str], Latest] = session.info.get(_LATEST, {})
    return kept.get((helpdesk, requester))


def _keep_latest(session: Session, ticket: Ticket) -> None:
    """Put a ticket just written among its requester's kept latest tickets (where it sorts)."""
    latest = kept_latest(session, ticket.helpdesk, ticket.requester)
    if latest is None:
        return
    row = (ticket.id, ticket.number, ticket.subject, ticket.state, ticket.opened_at)
    position = next((i for i, r in enumerate(latest.rows) if (r[4], r[0]) < (row[4], row[0])), len(latest.rows))
    if position < len(latest.rows) or latest.complete:  # past the last one read, it may not be next
        latest.rows.insert(position, row)


@event.listens_for(Session, "before_flush")
def _number_new_tickets(session: Session, _context: Any, _instances: Any) -> None:
    """Give a new ticket without a seq the next ones of its helpdesk (the service sets it itself,
    with ``next_seq``; this covers tickets made elsewhere, e.g. by tools and tests)."""
    fresh = [t for t in session.new if isinstance(t, Ticket) and t.seq is None]
    if not fresh:
        return
    with session.no_autoflush:
        taken: dict[str, int] = {}
        for ticket in fresh:
            key = ticket.helpdesk or "default"
            ticket.helpdesk = key
            if key not in taken:
                taken[key] = next_seq(session, key) - 1
            taken[key] += 1
            ticket.seq = taken[key]


#: ``_OWNERS_IN_HELPDESK`` with the whole ticket (``ticket_for_message_ids`` with ``keep``).
_OWNER_TICKETS_IN_HELPDESK = (select(Message.message_id, Ticket).join(Ticket, Ticket.id == Message.ticket_id)
                              .where(Message.message_id.in_(bindparam("ids", expanding=True)),
                                     Ticket.helpdesk == bindparam("helpdesk")).order_by(Message.id))


def ticket_for_message_ids(session: Session, ids: tuple[str, ...], helpdesk: str | None = None,
                           keep: list[Ticket] | None = None) -> int | None:
    """The ticket that owns the first of ``ids`` we know (inbound or outbound), of ``helpdesk`` if given.

    ``keep`` (with ``helpdesk``): on SQLite the tickets are loaded with it and the owner is put
    in ``keep`` (the session's identity map holds only what is referenced), so that
    ``lock_ticket(writing=True)`` finds it instead of reading it again: one query, not two, for
    every reply found by its headers. PostgreSQL reads it again anyway, locked.
    """
    if not ids:
        return None
    owner: dict[str, int] = {}
    if helpdesk is not None and keep is not None and session.get_bind().dialect.name == "sqlite":
        tickets = loads.owner_tickets_in_helpdesk(session, padded(ids), helpdesk)  # prepared (or None)
        if tickets is None:
            tickets = {}
            for mid, ticket in session.execute(_OWNER_TICKETS_IN_HELPDESK, {"ids": padded(ids), "helpdesk": helpdesk}):
                tickets.setdefault(mid, ticket)
        found = next((tickets[mid] for mid in ids if mid in tickets), None)
        if found is None:
            return None
        keep.append(found)
        return found.id
    if helpdesk is not None:
        # One mail sent to two helpdesks is a message of a ticket in each: only ours counts.
        prepared = loads.owners_in_helpdesk(session, padded(ids), helpdesk)
        rows = prepared if prepared is not None else read(
            session, _OWNERS_IN_HELPDESK, {"ids": padded(ids), "helpdesk": helpdesk}).all()
    else:
        rows = read(session, _OWNERS, {"ids": padded(ids)}).all()
    for mid, ticket_id in rows:
        owner.setdefault(mid, ticket_id)
    for mid in ids:
        if mid in owner:
            return owner[mid]
    return None


def conversation(session: Session, ticket_id: int) -> list[tuple[str, str, str]]:
    """The ticket's messages, oldest first: (Message-ID, direction, channel)."""
    return [(mid, direction, channel) for mid, direction, channel in read(session, _CONVERSATION, {"ticket": ticket_id})]


def conversation_and_participants(session: Session, ticket_id: int) -> tuple[list[tuple[str, str, str]], set[str]]:
    """``conversation``, and the addresses that have written to or been written to in the ticket
    (one query: a mail matched by its subject tag needs both)."""
    messages: list[tuple[str, str, str]] = []
    people: set[str] = set()
    for mid, direction, channel, sender, recipients in fetch(session, _CONVERSATION_AND_PEOPLE, {"ticket": ticket_id}):
        messages.append((mid, direction, channel))
        people.add(sender.lower())
        people.update(r.lower() for r in recipients or [])
    return messages, people


def participants(session: Session, ticket_id: int) -> set[str]:
    """Addresses that have written to or been written to in a ticket."""
    return conversation_and_participants(session, ticket_id)[1]


def already_seen(session: Session, message_id: str, helpdesk: str = "default") -> bool:
    return session.scalar(select(Inbound.id).where(Inbound.helpdesk == helpdesk,
                                                   Inbound.message_id == message_id)) is not None


# ---- several workers on one database -----------------------------------------------------------
#
# Two ``mailbot run`` processes may fetch the same mail (one mailbox) and look at the same outbox
# rows (one database). What keeps each mail processed once and each reply sent once:
#
# * the inbound row is claimed first in the mail's transaction (INSERT ... ON CONFLICT DO NOTHING
#   on ``inbound.message_id``): the loser finds the winner's committed row, a duplicate, and did
#   no work. On PostgreSQL a transaction-scoped advisory lock per Message-ID is tried before that,
#   so a worker skips a mail another one is processing right now instead of waiting for it;
# * the ticket a mail changes is locked (``FOR NO KEY UPDATE``) for the rest of the transaction,
#   so two mails of one ticket (or a mail and the SLA tick) are applied one after the other;
# * outbox rows are claimed with ``FOR UPDATE SKIP LOCKED`` (``mailbot.mail.outbox``).
#
# On SQLite the database's single write lock serialises all of this. The claim is in ``claims``.

def advisory_key(namespace: str, value: str) -> int:
    """A signed 64-bit advisory-lock key for ``value`` (stable across processes and hosts)."""
    digest = hashlib.sha256(f"mailbot {namespace} {value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


#: Ticket attribute -> column; the UPDATE of a ticket's changed columns (the ORM's own statement).
_TICKET_COLUMNS = {prop.key: prop.columns[0].key for prop in sa_inspect(Ticket).column_attrs}
_TICKET_ATTRIBUTES = frozenset(sa_inspect(Ticket).attrs.keys())
_UPDATE_TICKET = Prepared(update(_TICKETS).where(_TICKETS.c.id == bindparam("ticket_pk")))


def write_changed_tickets(session: Session) -> bool:
    """Write the session's changed tickets with Core UPDATEs and detach them, as the last writes
    before the commit; False (nothing done) unless changed tickets are all the session would flush.

    The mail's ticket changes in nearly every mail; the ORM's flush of that one object costs about
    three times its UPDATE. Its values are the ORM's: the columns whose value differs from the
    loaded one (``InstanceState.unmodified``, ``AttributeState.history``), one UPDATE per ticket in
    id order, which must match one row. Detached (``expunge``), a ticket is not flushed again by
    the commit; the caller must not use it in this session any more.
    """
    dirty = session.dirty
    if not dirty or session.new or session.deleted or any(type(obj) is not Ticket for obj in dirty):
        return False
    updates: list[tuple[Ticket, dict[str, Any]]] = []
    for ticket in sorted(dirty, key=lambda t: t.id):
        state = sa_inspect(ticket)
        values: dict[str, Any] = {}
        for key in _TICKET_ATTRIBUTES - state.unmodified:
            column = _TICKET_COLUMNS.get(key)
            if column is None:  # a relationship changed: the ORM's business
                return False
            added = get_history(ticket, key).added  # loaded (it changed): nothing is read
            if added:
                values[column] = added[0]
        updates.append((ticket, values))
    for ticket, values in updates:
        if values:
            result = run(session, _UPDATE_TICKET, {"ticket_pk": ticket.id, **values})
            if result.rowcount != 1:
                raise StaleDataError(f"UPDATE of ticket {ticket.id} matched {result.rowcount} rows, not 1")
        session.expunge(ticket)
    return True


def lock_ticket(session: Session, ticket_id: int, *, writing: bool = False) -> Ticket | None:
    """The ticket, locked against concurrent changes until the transaction ends (fresh values).

    PostgreSQL: ``SELECT ... FOR NO KEY UPDATE`` (rows that merely reference the ticket, such as
    new events, are not blocked). SQLite has no row locks; its write lock serialises writers.
    ``writing``: the transaction has written already, so on SQLite it holds that lock, and a
    ticket it has loaded since is current: it is not read again.
    """
    if writing and session.get_bind().dialect.name == "sqlite":
        return session.get(Ticket, ticket_id)
    return session.get(Ticket, ticket_id, with_for_update={"key_share": True}, populate_existing=True)


#: SQLSTATEs of a transaction that lost a race: unique violation, serialization failure, deadlock,
#: lock not available.
_CONFLICT_STATES = {"23505", "40001", "40P01", "55P03"}


def is_disconnect(exc: BaseException) -> bool:
    """True when ``exc`` is the database connection going away (not a problem of the data)."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def is_conflict(exc: BaseException) -> bool:
    """True when ``exc`` means another transaction got there first: retry, and look again."""
    if not isinstance(exc, DBAPIError):
        return False
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if state in _CONFLICT_STATES:
        return True
    text = str(exc.orig).lower()
    if isinstance(exc, IntegrityError):
        return "unique" in text or "duplicate key" in text
    return isinstance(exc, OperationalError) and ("database is locked" in text or "deadlock" in text)
