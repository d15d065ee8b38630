"""Full-text search over tickets: SQLite FTS5 or PostgreSQL tsvector, kept in step by triggers.

One search document per ticket: its number (``TTS-000123`` and the bare ``123``), the requester's
address and name, the subject, and the text of the mails people wrote into it (inbound, not
automatic: the new text of each, the whole text when it has none). The bot's own mails are left
out: every ticket has the same acknowledgment, which would only add noise.

* SQLite: an FTS5 table ``ticket_search`` (rowid = ticket id; columns number, people, subject,
  body; unicode61 tokenizer), ranked by bm25 with the number and people columns weighted highest.
* PostgreSQL: a table ``ticket_search`` (ticket_id, document tsvector) with a GIN index, built
  with the ``simple`` configuration (Indonesian: no stemming, no stop words) from text whose
  punctuation is turned into spaces first, so that ``budi.santoso@lpse.go.id`` and
  ``TTS-000123`` are words the way FTS5 splits them; ranked by ts_rank with weights A (number,
  people), B (subject), C (mails).

Database triggers on ``tickets`` and ``messages`` refresh a ticket's document whenever a row
that feeds it is inserted, changed or deleted, whoever writes it (the service's Core inserts,
the ORM, tools, the privacy eraser): no caller can forget the index. ``install`` creates the
table, the triggers and the documents of existing rows (migration 0008, ``store.create_at_head``);
``ensure_triggers`` puts back triggers that a SQLite batch migration (which recreates a table)
dropped, and ``store.upgrade`` calls it after every migration run.

Queries are user text and never reach the search syntax: ``terms`` keeps only words (letters and
digits), each whitespace-separated chunk becomes a phrase, and the last word matches as a prefix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    SQLColumnExpression,
    and_,
    column,
    exists,
    func,
    inspect,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from mailbot.storage.models import Ticket, TicketEvent

#: The search table (and, on SQLite, FTS5's shadow tables ``ticket_search_*``): not in the models'
#: metadata; ``is_search_object`` tells schema comparisons to leave them alone.
TABLE = "ticket_search"

#: Words per query and characters per word (longer words are not indexed anyway: PostgreSQL
#: refuses words over 2047 bytes in a query).
MAX_CHUNKS = 12
MAX_WORD = 100
#: The shortest last word matched as a prefix (``ta*`` would expand to half the dictionary).
MIN_PREFIX = 2
#: Characters of one mail's text that go into its ticket's document.
MAX_MESSAGE_CHARS = 20000

_WORD = re.compile(r"[^\W_]+")
_NUMBER = re.compile(r"^\s*(?:([A-Za-z][A-Za-z0-9]{0,15})\s*-\s*)?(\d{1,9})\s*$")


def is_search_object(name: str | None) -> bool:
    """True for the tables and indexes of the search index (not described by the models)."""
    return bool(name) and (name == TABLE or str(name).startswith(TABLE + "_"))


# ---- the query -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """A query as plain words: one phrase per whitespace-separated chunk; ``prefix``: the last word
    of the last phrase matches as a prefix."""

    phrases: tuple[tuple[str, ...], ...]
    prefix: bool

    def __bool__(self) -> bool:
        return bool(self.phrases)

    def fts5(self) -> str:
        """An FTS5 MATCH expression: quoted phrases (the words hold no quote), implicitly ANDed."""
        parts = ['"' + " ".join(words) + '"' for words in self.phrases]
        if self.prefix:
            parts[-1] += "*"
        return " ".join(parts)

    def tsquery(self) -> str:
        """A PostgreSQL ``to_tsquery`` text: quoted lexemes, ``<->`` within a phrase, ``&`` between."""
        phrases = [[f"'{w}'" for w in words] for words in self.phrases]
        if self.prefix:
            phrases[-1][-1] += ":*"
        return " & ".join("(" + " <-> ".join(words) + ")" for words in phrases)


def terms(query: str) -> Terms:
    """The words of a user's query (whatever it holds: quotes, ``*``, ``NEAR``, ``-``, ``:`` ...)."""
    phrases: list[tuple[str, ...]] = []
    for chunk in query.lower().split()[: MAX_CHUNKS * 4]:
        words = tuple(w for w in _WORD.findall(chunk) if len(w) <= MAX_WORD)
        if words:
            phrases.append(words[:MAX_CHUNKS])
        if len(phrases) == MAX_CHUNKS:
            break
    ends_open = bool(query) and not query[-1].isspace()
    return Terms(tuple(phrases), prefix=bool(phrases) and ends_open and len(phrases[-1][-1]) >= MIN_PREFIX)


def number_seq(query: str) -> tuple[str | None, int] | None:
    """``("TTS", 123)`` for ``TTS-000123``, ``(None, 123)`` for ``123``; None for anything else."""
    match = _NUMBER.match(query)
    if match is None:
        return None
    return (match[1].upper() if match[1] else None), int(match[2])


# ---- searching -------------------------------------------------------------------------------------


def was_escalated(ticket_id: SQLColumnExpression[int]) -> ColumnElement[bool]:
    """True for a ticket that was escalated to LKPP (an ``escalated`` event: it stays true after
    LKPP's answer and the close)."""
    return exists().where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "escalated")


def _scope(query: Select[Any], helpdesk_ids: Sequence[str] | None, escalated_only: bool) -> Select[Any]:
    if helpdesk_ids is not None:
        query = query.where(Ticket.helpdesk.in_(list(helpdesk_ids)))
    if escalated_only:
        query = query.where(was_escalated(Ticket.id))
    return query


def search_tickets(session: Session, query: str, *, helpdesk_ids: Sequence[str] | None,
                   escalated_only: bool = False, limit: int = 50) -> list[int]:
    """Ids of the tickets matching ``query``, best first, at most ``limit``.

    A query that is a ticket number (``TTS-000123``, ``000123``, ``123``) puts the tickets with
    that number first; then full-text matches on number, requester address and name, subject and
    the mails' text (every word must match; the last one as a prefix), by relevance, newer first
    among equals. ``helpdesk_ids``: only these helpdesks' tickets (None: every helpdesk; empty:
    nothing); ``escalated_only``: only tickets escalated to LKPP. Never raises on odd input: a
    query without words finds nothing.
    """
    if limit <= 0 or (helpdesk_ids is not None and not helpdesk_ids):
        return []
    found: list[int] = []
    numbered = number_seq(query)
    if numbered is not None:
        prefix, seq = numbered
        exact = select(Ticket.id).where(Ticket.seq == seq)
        if prefix is not None:
            exact = exact.where(func.upper(Ticket.number).like(prefix + "-%"))
        found = list(session.scalars(_scope(exact, helpdesk_ids, escalated_only).order_by(Ticket.id.desc())
                                     .limit(limit)))
    words = terms(query)
    if words and len(found) < limit:
        dialect = session.get_bind().dialect.name
        statement = (_fts5(words) if dialect == "sqlite" else _tsquery(words) if dialect == "postgresql"
                     else _like(words))
        statement = _scope(statement, helpdesk_ids, escalated_only).limit(limit + len(found))
        seen = set(found)
        found += [i for i in session.scalars(statement) if i not in seen]
    return found[:limit]


def _fts5(words: Terms) -> Select[Any]:
    search: ColumnElement[Any] = literal_column(TABLE)
    # bm25 is lower for better matches; weights per column: number, people, subject, body.
    rank = func.bm25(search, 10.0, 8.0, 3.0, 1.0)
    return (select(Ticket.id).select_from(table(TABLE))
            .join(Ticket, Ticket.id == literal_column(f"{TABLE}.rowid"))
            .where(search.op("MATCH")(words.fts5()))
            .order_by(rank, Ticket.id.desc()))


_PG_SEARCH = table(TABLE, column("ticket_id"), column("document"))


def _tsquery(words: Terms) -> Select[Any]:
    query = func.to_tsquery(literal_column("'simple'"), words.tsquery())
    document = _PG_SEARCH.c.document
    return (select(Ticket.id).select_from(_PG_SEARCH)
            .join(Ticket, Ticket.id == _PG_SEARCH.c.ticket_id)
            .where(document.op("@@")(query))
            .order_by(func.ts_rank(document, query).desc(), Ticket.id.desc()))


def _like(words: Terms) -> Select[Any]:
    """Another backend (none is supported today): every word somewhere in the ticket's own fields."""
    fields = (Ticket.number, Ticket.requester, Ticket.requester_name, Ticket.subject)
    return (select(Ticket.id)
            .where(and_(*(or_(*(f.ilike(f"%{w}%") for f in fields)) for phrase in words.phrases for w in phrase)))
            .order_by(Ticket.id.desc()))


# ---- the index -----------------------------------------------------------------------------------
#
# Both backends compute a ticket's document from the rows themselves, in SQL, so that a trigger
# can refresh it: the same fields, the same choice of mails.

_MAIL_TEXT = (f"substr(CASE WHEN m.new_text <> '' THEN m.new_text ELSE m.text END, 1, {MAX_MESSAGE_CHARS})")
_MAILS_WHERE = "m.direction = 'in' AND NOT m.auto"

_SQLITE_ROW = (
    f"SELECT t.id, coalesce(t.number, '') || ' ' || t.seq, t.requester || ' ' || t.requester_name, t.subject, "
    f"coalesce((SELECT group_concat({_MAIL_TEXT}, ' ') FROM messages m WHERE m.ticket_id = t.id "
    f"AND {_MAILS_WHERE}), '') FROM tickets t")
_SQLITE_REFRESH = f"INSERT OR REPLACE INTO {TABLE} (rowid, number, people, subject, body) {_SQLITE_ROW} WHERE t.id = "

_SQLITE_CREATE = (f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
                  "number, people, subject, body, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')")
_SQLITE_TRIGGERS = {
    f"{TABLE}_ticket_insert": f"AFTER INSERT ON tickets BEGIN {_SQLITE_REFRESH} new.id; END",
    f"{TABLE}_ticket_update": ("AFTER UPDATE OF number, seq, requester, requester_name, subject ON tickets "
                               f"BEGIN {_SQLITE_REFRESH} new.id; END"),
    f"{TABLE}_ticket_delete": f"AFTER DELETE ON tickets BEGIN DELETE FROM {TABLE} WHERE rowid = old.id; END",
    f"{TABLE}_message_insert": f"AFTER INSERT ON messages BEGIN {_SQLITE_REFRESH} new.ticket_id; END",
    f"{TABLE}_message_update": ("AFTER UPDATE OF ticket_id, direction, auto, text, new_text ON messages "
                                f"BEGIN {_SQLITE_REFRESH} old.ticket_id; {_SQLITE_REFRESH} new.ticket_id; END"),
    f"{TABLE}_message_delete": f"AFTER DELETE ON messages BEGIN {_SQLITE_REFRESH} old.ticket_id; END",
}

# PostgreSQL: punctuation to spaces (as FTS5's tokenizer splits), then the 'simple' configuration.
_PG_FUNCTIONS = [
    f"""CREATE OR REPLACE FUNCTION {TABLE}_words(value text) RETURNS tsvector LANGUAGE sql IMMUTABLE AS $$
        SELECT to_tsvector('simple', regexp_replace(coalesce(value, ''), '[^[:alnum:]]+', ' ', 'g')) $$""",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_document(ticket integer) RETURNS tsvector LANGUAGE sql STABLE AS $$
        SELECT setweight({TABLE}_words(coalesce(t.number, '') || ' ' || t.seq || ' ' || t.requester || ' '
                                        || t.requester_name), 'A')
            || setweight({TABLE}_words(t.subject), 'B')
            || setweight({TABLE}_words((SELECT string_agg({_MAIL_TEXT}, ' ' ORDER BY m.id) FROM messages m
                                        WHERE m.ticket_id = t.id AND {_MAILS_WHERE})), 'C')
        FROM tickets t WHERE t.id = ticket $$""",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_refresh(ticket integer) RETURNS void LANGUAGE plpgsql AS $$
        DECLARE doc tsvector := {TABLE}_document(ticket);
        BEGIN
            IF doc IS NULL THEN
                DELETE FROM {TABLE} WHERE ticket_id = ticket;
            ELSE
                INSERT INTO {TABLE} (ticket_id, document) VALUES (ticket, doc)
                ON CONFLICT (ticket_id) DO UPDATE SET document = excluded.document;
            END IF;
        END $$""",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_ticket_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                DELETE FROM {TABLE} WHERE ticket_id = OLD.id;
            ELSE
                PERFORM {TABLE}_refresh(NEW.id);
            END IF;
            RETURN NULL;
        END $$""",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_message_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                PERFORM {TABLE}_refresh(OLD.ticket_id);
            END IF;
            IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.ticket_id <> OLD.ticket_id) THEN
                PERFORM {TABLE}_refresh(NEW.ticket_id);
            END IF;
            RETURN NULL;
        END $$""",
]
_PG_CREATE = [
    f"CREATE TABLE IF NOT EXISTS {TABLE} (ticket_id integer PRIMARY KEY, document tsvector NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_document ON {TABLE} USING gin (document)",
]
_PG_TRIGGERS = [
    f"""CREATE OR REPLACE TRIGGER {TABLE}_ticket AFTER INSERT OR DELETE
        OR UPDATE OF number, seq, requester, requester_name, subject ON tickets
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_ticket_changed()""",
    f"""CREATE OR REPLACE TRIGGER {TABLE}_message AFTER INSERT OR DELETE
        OR UPDATE OF ticket_id, direction, auto, text, new_text ON messages
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_message_changed()""",
]


def install(conn: Connection) -> None:
    """Create the search index, its triggers, and the documents of the tickets already there."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(_SQLITE_CREATE)
    elif conn.dialect.name == "postgresql":
        for statement in _PG_CREATE:
            conn.exec_driver_sql(statement)
    else:
        return
    ensure_triggers(conn)
    rebuild(conn)


def ensure_triggers(conn: Connection) -> None:
    """(Re)create the triggers that keep the index in step (idempotent; nothing before 0008)."""
    if not inspect(conn).has_table(TABLE):
        return
    if conn.dialect.name == "sqlite":
        for name, body in _SQLITE_TRIGGERS.items():
            conn.exec_driver_sql(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
    elif conn.dialect.name == "postgresql":
        for statement in _PG_FUNCTIONS + _PG_TRIGGERS:
            conn.exec_driver_sql(statement)


def drop_triggers(conn: Connection) -> None:
    """Remove the triggers (a bulk load does, then calls ``install``, which rebuilds everything)."""
    if conn.dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {TABLE}_ticket ON tickets")
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {TABLE}_message ON messages")


def uninstall(conn: Connection) -> None:
    """Drop the index, its triggers and functions (migration 0008's downgrade)."""
    drop_triggers(conn)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
        for name in ("message_changed()", "ticket_changed()", "refresh(integer)", "document(integer)", "words(text)"):
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {TABLE}_{name}")


def rebuild(conn: Connection) -> None:
    """Recompute every ticket's document, in one statement per backend."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DELETE FROM {TABLE}")
        conn.exec_driver_sql(
            f"INSERT INTO {TABLE} (rowid, number, people, subject, body) "
            f"SELECT t.id, coalesce(t.number, '') || ' ' || t.seq, t.requester || ' ' || t.requester_name, "
            f"t.subject, coalesce(b.body, '') FROM tickets t LEFT JOIN "
            f"(SELECT m.ticket_id, group_concat({_MAIL_TEXT}, ' ') AS body FROM messages m WHERE {_MAILS_WHERE} "
            f"GROUP BY m.ticket_id) b ON b.ticket_id = t.id")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"TRUNCATE {TABLE}")
        conn.execute(text(
            f"INSERT INTO {TABLE} (ticket_id, document) SELECT t.id, "
            f"setweight({TABLE}_words(coalesce(t.number, '') || ' ' || t.seq || ' ' || t.requester || ' ' "
            f"|| t.requester_name), 'A') || setweight({TABLE}_words(t.subject), 'B') "
            f"|| setweight({TABLE}_words(b.body), 'C') FROM tickets t LEFT JOIN "
            f"(SELECT m.ticket_id, string_agg({_MAIL_TEXT}, ' ' ORDER BY m.id) AS body FROM messages m "
            f"WHERE {_MAILS_WHERE} GROUP BY m.ticket_id) b ON b.ticket_id = t.id"))
        conn.exec_driver_sql(f"ANALYZE {TABLE}")
