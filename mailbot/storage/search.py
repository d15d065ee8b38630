"""Full-text search over tickets: SQLite FTS5 or PostgreSQL tsvector, kept in step by triggers.

One search document per ticket: its number (``TTS-000123`` and the bare ``123``), the requester's
address and name, the subject, and the text of the mails people wrote into it (inbound, not
automatic: the new text of each, the whole text when it has none). The bot's own mails are left
out: every ticket has the same acknowledgment, which would only add noise. Two marker words make
the console's restrictions part of the full-text match: the ticket's helpdesk (``helpdesk_token``)
and, once it was escalated to LKPP, ``ESCALATED_TOKEN``; so a common word restricted to one
helpdesk's escalated tickets is an intersection inside the index, not a join over every match.

* SQLite: an FTS5 table ``ticket_search`` (rowid = ticket id; columns number, people, subject,
  body, scope; unicode61 tokenizer), ranked by bm25 with the number and people columns weighted
  highest.
* PostgreSQL: a table ``ticket_search`` (ticket_id, document tsvector) with a GIN index, built
  with the ``simple`` configuration (Indonesian: no stemming, no stop words) from text whose
  punctuation is turned into spaces first, so that ``budi.santoso@lpse.go.id`` and
  ``TTS-000123`` are words the way FTS5 splits them; ranked by ts_rank with weights A (number,
  people), B (subject), C (mails), D (markers, not ranked).

Database triggers on ``tickets``, ``messages`` and (escalations) ``events`` refresh a ticket's
document whenever a row that feeds it is inserted, changed or deleted, whoever writes it (the
service's Core inserts, the ORM, tools, the privacy eraser): no caller can forget the index.
``install`` creates the table, the triggers and the documents of existing rows (migration 0008,
``store.create_at_head``). Alembic's environment (migrations/env.py) drops the triggers while
migrations run and puts them back after: SQLite cannot rename a batch migration's copy of a table
that trigger bodies name, and a batch copy would drop the table's own triggers anyway. A later
migration that rewrites a field of the document (subject, requester, mail text) calls ``rebuild``.

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
    exists,
    inspect,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from mailbot.core.threads import format_number
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

    def fts5(self, scope: Sequence[Sequence[str]] = ()) -> str:
        """An FTS5 MATCH expression: quoted phrases (the words hold no quote), then each group of
        ``scope`` words (one of each group must be there), all ANDed."""
        parts = ['"' + " ".join(words) + '"' for words in self.phrases]
        if self.prefix:
            parts[-1] += "*"
        parts += ["(" + " OR ".join(group) + ")" for group in scope]
        return " AND ".join(parts)

    def tsquery(self, scope: Sequence[Sequence[str]] = ()) -> str:
        """A PostgreSQL ``to_tsquery`` text: quoted lexemes, ``<->`` within a phrase, ``&`` between,
        and the ``scope`` groups as in ``fts5``."""
        phrases = [[f"'{w}'" for w in words] for words in self.phrases]
        if self.prefix:
            phrases[-1][-1] += ":*"
        parts = ["(" + " <-> ".join(words) + ")" for words in phrases]
        parts += ["(" + " | ".join(f"'{w}'" for w in group) + ")" for group in scope]
        return " & ".join(parts)


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


def helpdesk_token(helpdesk: str) -> str:
    """The word that marks a helpdesk's tickets in the index (one word whatever the key holds)."""
    return "h" + helpdesk.encode().hex()


#: The word that marks an escalated ticket in the index.
ESCALATED_TOKEN = "xeskalasix"


def scope_words(helpdesk_ids: Sequence[str] | None, escalated_only: bool) -> list[list[str]]:
    """The index's marker words a match must have: any of the helpdesks', and the escalation's."""
    groups = [] if helpdesk_ids is None else [sorted({helpdesk_token(h) for h in helpdesk_ids})]
    return groups + ([[ESCALATED_TOKEN]] if escalated_only else [])


def search_tickets(session: Session, query: str, *, helpdesk_ids: Sequence[str] | None,
                   escalated_only: bool = False, limit: int = 50) -> list[int]:
    """Ids of the tickets matching ``query``, best first, at most ``limit``.

    A query that is a ticket number (``TTS-000123``, ``000123``, ``123``) puts the tickets with
    that number first, newest first; then full-text matches on number, requester address and name,
    subject and the mails' text (every word must match; the last one as a prefix), by relevance
    among the newest ``CANDIDATES`` matches (a word in half the tickets is not worth ranking all
    of them: the recent ones are what staff look for), newer first among equals.
    ``helpdesk_ids``: only these helpdesks' tickets (None: every helpdesk; empty: nothing);
    ``escalated_only``: only tickets escalated to LKPP. Never raises on odd input: a query without
    words finds nothing.
    """
    if limit <= 0 or (helpdesk_ids is not None and not helpdesk_ids):
        return []
    found = _numbered(session, query, helpdesk_ids, escalated_only, limit)
    words = terms(query)
    if words and len(found) < limit:
        dialect = session.get_bind().dialect.name
        scope = scope_words(helpdesk_ids, escalated_only)
        params = {"limit": limit + len(found), "candidates": max(CANDIDATES, limit + len(found))}
        if dialect == "sqlite":
            rows = session.scalars(_FTS5, {"q": words.fts5(scope), **params})
        elif dialect == "postgresql":
            rows = session.scalars(_TSQUERY, {"filter": words.tsquery(scope), "rank": words.tsquery([]), **params})
        else:
            rows = session.scalars(_like(words, helpdesk_ids, escalated_only).limit(limit + len(found)))
        seen = set(found)
        found += [i for i in rows if i not in seen]
    return found[:limit]


def _numbered(session: Session, query: str, helpdesk_ids: Sequence[str] | None, escalated_only: bool,
              limit: int) -> list[int]:
    numbered = number_seq(query)
    if numbered is None:
        return []
    prefix, seq = numbered
    exact = select(Ticket.id).where(Ticket.seq == seq)
    if prefix is not None:
        exact = select(Ticket.id).where(Ticket.number == format_number(prefix, seq))
    return list(session.scalars(_where(exact, helpdesk_ids, escalated_only).order_by(Ticket.id.desc()).limit(limit)))


def _where(query: Select[Any], helpdesk_ids: Sequence[str] | None, escalated_only: bool) -> Select[Any]:
    if helpdesk_ids is not None:
        query = query.where(Ticket.helpdesk.in_(list(helpdesk_ids)))
    if escalated_only:
        query = query.where(was_escalated(Ticket.id))
    return query


#: How many of the newest matches are ranked (see ``search_tickets``).
CANDIDATES = 1000

# The newest matches (FTS5 walks its doclists by rowid, descending, and stops), then bm25 over them
# (lower is better; per column: number, people, subject, body, and the markers not at all).
_FTS5 = text(f"SELECT id FROM (SELECT rowid AS id, bm25({TABLE}, 10.0, 8.0, 3.0, 1.0, 0.0) AS score FROM {TABLE} "
             f"WHERE {TABLE} MATCH :q ORDER BY rowid DESC LIMIT :candidates) ORDER BY score, id DESC LIMIT :limit")
# Ranked by the user's words only (the markers are in every candidate).
_TSQUERY = text(f"SELECT ticket_id FROM (SELECT ticket_id, document FROM {TABLE} "
                f"WHERE document @@ to_tsquery('simple', :filter) ORDER BY ticket_id DESC LIMIT :candidates) c "
                f"ORDER BY ts_rank(c.document, to_tsquery('simple', :rank)) DESC, ticket_id DESC LIMIT :limit")


def _like(words: Terms, helpdesk_ids: Sequence[str] | None, escalated_only: bool) -> Select[Any]:
    """Another backend (none is supported today): every word somewhere in the ticket's own fields."""
    fields = (Ticket.number, Ticket.requester, Ticket.requester_name, Ticket.subject)
    query = select(Ticket.id).where(
        and_(*(or_(*(f.ilike(f"%{w}%") for f in fields)) for phrase in words.phrases for w in phrase)))
    return _where(query, helpdesk_ids, escalated_only).order_by(Ticket.id.desc())


# ---- the index -----------------------------------------------------------------------------------
#
# Both backends compute a ticket's document from the rows themselves, in SQL, so that a trigger
# can refresh it: the same fields, the same choice of mails, the same marker words.

_MAIL_TEXT = f"substr(CASE WHEN m.new_text <> '' THEN m.new_text ELSE m.text END, 1, {MAX_MESSAGE_CHARS})"
_MAILS_WHERE = "m.direction = 'in' AND NOT m.auto"
_ESCALATED = "EXISTS (SELECT 1 FROM events e WHERE e.ticket_id = t.id AND e.kind = 'escalated')"
_EVENT_WHEN = "kind = 'escalated'"
#: A new message changes the document only if it is one of the mails indexed (the bot's own are
#: 1.4 per inbound mail: no refresh for them).
_MAIL_WHEN = "direction = 'in' AND NOT {row}.auto"

# SQLite: hex() is upper case; FTS5's tokenizer folds it as it folds the query's words.
_SQLITE_SCOPE = f"'h' || hex(t.helpdesk) || CASE WHEN {_ESCALATED} THEN ' {ESCALATED_TOKEN}' ELSE '' END"
_SQLITE_FIELDS = ("coalesce(t.number, '') || ' ' || t.seq, t.requester || ' ' || t.requester_name, t.subject, "
                  "coalesce({body}, ''), " + _SQLITE_SCOPE)
_SQLITE_REFRESH = (f"INSERT OR REPLACE INTO {TABLE} (rowid, number, people, subject, body, scope) SELECT t.id, "
                   + _SQLITE_FIELDS.format(body=f"(SELECT group_concat({_MAIL_TEXT}, ' ') FROM messages m "
                                                f"WHERE m.ticket_id = t.id AND {_MAILS_WHERE})")
                   + " FROM tickets t WHERE t.id = ")
# Accents are kept (PostgreSQL's 'simple' configuration keeps them, and unaccent is an extension a
# server may not have): both backends find the same tickets; letters are folded to lower case by both.
_SQLITE_CREATE = (f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5(number, people, subject, body, scope, "
                  "tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3')")
_SQLITE_TRIGGERS = {
    f"{TABLE}_ticket_insert": f"AFTER INSERT ON tickets BEGIN {_SQLITE_REFRESH} new.id; END",
    f"{TABLE}_ticket_update": ("AFTER UPDATE OF helpdesk, number, seq, requester, requester_name, subject ON tickets "
                               f"BEGIN {_SQLITE_REFRESH} new.id; END"),
    f"{TABLE}_ticket_delete": f"AFTER DELETE ON tickets BEGIN DELETE FROM {TABLE} WHERE rowid = old.id; END",
    f"{TABLE}_message_insert": (f"AFTER INSERT ON messages WHEN new.{_MAIL_WHEN.format(row='new')} "
                                f"BEGIN {_SQLITE_REFRESH} new.ticket_id; END"),
    f"{TABLE}_message_update": ("AFTER UPDATE OF ticket_id, direction, auto, text, new_text ON messages "
                                f"BEGIN {_SQLITE_REFRESH} old.ticket_id; {_SQLITE_REFRESH} new.ticket_id; END"),
    f"{TABLE}_message_delete": f"AFTER DELETE ON messages BEGIN {_SQLITE_REFRESH} old.ticket_id; END",
    f"{TABLE}_event_insert": (f"AFTER INSERT ON events WHEN new.{_EVENT_WHEN} "
                              f"BEGIN {_SQLITE_REFRESH} new.ticket_id; END"),
    f"{TABLE}_event_update": (f"AFTER UPDATE OF kind, ticket_id ON events WHEN old.{_EVENT_WHEN} OR new.{_EVENT_WHEN} "
                              f"BEGIN {_SQLITE_REFRESH} old.ticket_id; {_SQLITE_REFRESH} new.ticket_id; END"),
    f"{TABLE}_event_delete": (f"AFTER DELETE ON events WHEN old.{_EVENT_WHEN} "
                              f"BEGIN {_SQLITE_REFRESH} old.ticket_id; END"),
}

# PostgreSQL: punctuation to spaces (as FTS5's tokenizer splits), then the 'simple' configuration;
# the markers go through the same function, so the query's to_tsquery reads them the same way.
_PG_DOCUMENT = (
    f"setweight({TABLE}_words(coalesce(t.number, '') || ' ' || t.seq || ' ' || t.requester || ' ' "
    f"|| t.requester_name), 'A') || setweight({TABLE}_words(t.subject), 'B') "
    f"|| setweight({TABLE}_words({{body}}), 'C') "
    f"|| setweight({TABLE}_words('h' || encode(convert_to(t.helpdesk, 'UTF8'), 'hex') "
    f"|| CASE WHEN {_ESCALATED} THEN ' {ESCALATED_TOKEN}' ELSE '' END), 'D')")
_PG_FUNCTIONS = [
    f"""CREATE OR REPLACE FUNCTION {TABLE}_words(value text) RETURNS tsvector LANGUAGE sql IMMUTABLE AS $$
        SELECT to_tsvector('simple', regexp_replace(coalesce(value, ''), '[^[:alnum:]]+', ' ', 'g')) $$""",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_document(ticket integer) RETURNS tsvector LANGUAGE sql STABLE AS $$
        SELECT {_PG_DOCUMENT.format(body=f"(SELECT string_agg({_MAIL_TEXT}, ' ' ORDER BY m.id) FROM messages m "
                                         f"WHERE m.ticket_id = t.id AND {_MAILS_WHERE})")}
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
    # Messages, and escalation events (the trigger's WHEN picks them): the old ticket and the new one.
    f"""CREATE OR REPLACE FUNCTION {TABLE}_child_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                PERFORM {TABLE}_refresh(OLD.ticket_id);
            END IF;
            IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.ticket_id <> OLD.ticket_id) THEN
                PERFORM {TABLE}_refresh(NEW.ticket_id);
            END IF;
            RETURN NULL;
        END $$""",
]
_PG_CREATE = [
    f"CREATE TABLE IF NOT EXISTS {TABLE} (ticket_id integer PRIMARY KEY, document tsvector NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_document ON {TABLE} USING gin (document)",
]
_PG_TRIGGERS = {
    f"{TABLE}_ticket": ("tickets", "AFTER INSERT OR DELETE OR UPDATE OF helpdesk, number, seq, requester, "
                                   "requester_name, subject", "", "ticket_changed"),
    f"{TABLE}_message_insert": ("messages", "AFTER INSERT", f"WHEN (NEW.{_MAIL_WHEN.format(row='NEW')})",
                                "child_changed"),
    f"{TABLE}_message": ("messages", "AFTER DELETE OR UPDATE OF ticket_id, direction, auto, text, new_text", "",
                         "child_changed"),
    f"{TABLE}_event_insert": ("events", "AFTER INSERT", f"WHEN (NEW.{_EVENT_WHEN})", "child_changed"),
    f"{TABLE}_event_update": ("events", "AFTER UPDATE OF kind, ticket_id",
                              f"WHEN (OLD.{_EVENT_WHEN} OR NEW.{_EVENT_WHEN})", "child_changed"),
    f"{TABLE}_event_delete": ("events", "AFTER DELETE", f"WHEN (OLD.{_EVENT_WHEN})", "child_changed"),
}


def install(conn: Connection, *, triggers: bool = True) -> None:
    """Create the search index, its triggers (unless ``triggers`` is false: a migration's, whose
    environment creates them at the end), and the documents of the tickets already there."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(_SQLITE_CREATE)
    elif conn.dialect.name == "postgresql":
        for statement in _PG_CREATE + _PG_FUNCTIONS:
            conn.exec_driver_sql(statement)
    else:
        return
    if triggers:
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
        for statement in _PG_FUNCTIONS:
            conn.exec_driver_sql(statement)
        for name, (on, when, condition, function) in _PG_TRIGGERS.items():
            conn.exec_driver_sql(f"CREATE OR REPLACE TRIGGER {name} {when} ON {on} FOR EACH ROW {condition} "
                                 f"EXECUTE FUNCTION {TABLE}_{function}()")


def drop_triggers(conn: Connection) -> None:
    """Remove the triggers (a bulk load does, then calls ``install``, which rebuilds everything;
    migrations/env.py while migrating). Nothing to do before 0008."""
    if not inspect(conn).has_table(TABLE):
        return
    if conn.dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    elif conn.dialect.name == "postgresql":
        for name, (on, *_rest) in _PG_TRIGGERS.items():
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {on}")


def uninstall(conn: Connection) -> None:
    """Drop the index, its triggers and functions (migration 0008's downgrade)."""
    drop_triggers(conn)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
        for name in ("child_changed()", "ticket_changed()", "refresh(integer)", "document(integer)", "words(text)"):
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {TABLE}_{name}")


def rebuild(conn: Connection) -> None:
    """Recompute every ticket's document, in one statement per backend."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DELETE FROM {TABLE}")
        conn.exec_driver_sql(
            f"INSERT INTO {TABLE} (rowid, number, people, subject, body, scope) SELECT t.id, "
            + _SQLITE_FIELDS.format(body="b.body") + " FROM tickets t LEFT JOIN "
            f"(SELECT m.ticket_id, group_concat({_MAIL_TEXT}, ' ') AS body FROM messages m WHERE {_MAILS_WHERE} "
            f"GROUP BY m.ticket_id) b ON b.ticket_id = t.id")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"TRUNCATE {TABLE}")
        conn.exec_driver_sql(
            f"INSERT INTO {TABLE} (ticket_id, document) SELECT t.id, " + _PG_DOCUMENT.format(body="b.body")
            + f" FROM tickets t LEFT JOIN (SELECT m.ticket_id, string_agg({_MAIL_TEXT}, ' ' ORDER BY m.id) AS body "
            f"FROM messages m WHERE {_MAILS_WHERE} GROUP BY m.ticket_id) b ON b.ticket_id = t.id")
        conn.exec_driver_sql(f"ANALYZE {TABLE}")
