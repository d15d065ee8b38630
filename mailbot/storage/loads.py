"""Tickets of the mail path loaded by a prepared SELECT of their columns, put in the session as
the ORM's own query would put them there.

Every reply finds its ticket by its thread headers (the owner of a Message-ID, one query with an
``IN`` list) or by the number in its subject, and an ORM query of a whole ``Ticket`` costs about
three times the SQL itself: the statement's compile-cache look-up, the ORM's execution and
loading context, the expanding ``IN`` list rendered per execution. Here the SELECT is a
``prepared.Prepared`` (the same columns, the same result converters) and the row becomes the
object the ORM would make:

* a ticket already in the session (the identity map) is returned as it is, with its changes, as
  the ORM's query returns it (it does not overwrite a loaded object's values); one with an
  expired column (``Session.expire``) is read again by the ORM query itself;
* a ticket not in it is made from the row with ``make_transient_to_detached`` and added
  (SQLAlchemy's documented way to make an object "look as if it were loaded, without emitting
  SQL"): persistent, in the identity map, nothing changed, its relationships loaded on first use.

``IN`` lists are padded (``store.padded``) to a power of two; each length up to ``MAX_IDS`` is a
statement of its own (separate bind parameters, compiled once), a longer list goes the ORM way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from mailbot.storage.models import Message, Ticket
from mailbot.storage.prepared import Prepared, fetch

_TICKETS = cast(Table, Ticket.__table__)
_MAPPER = sa_inspect(Ticket)
#: The ticket's attributes in the table's column order (the SELECTs' columns); each attribute is
#: named as its column (``test_loads``).
_KEYS = tuple(prop.key for prop in _MAPPER.column_attrs)
_COLUMN_KEYS = frozenset(_KEYS)
assert _KEYS == tuple(_TICKETS.columns.keys())
#: The longest padded ``IN`` list with a prepared statement of its own (7 statements).
MAX_IDS = 64


def ticket_from_row(session: Session, row: Sequence[Any]) -> Ticket | None:
    """The session's ticket for a row of ``_TICKETS``' columns (in order), as the ORM's query
    gives it; None: one in the session has an expired column, the caller must ask the ORM."""
    key = _MAPPER.identity_key_from_primary_key((row[0],))
    present = session.identity_map.get(key)
    if present is not None:
        expired = sa_inspect(present).expired_attributes
        if expired and not expired.isdisjoint(_COLUMN_KEYS):
            return None
        return present
    ticket = Ticket()
    ticket.__dict__.update(zip(_KEYS, row, strict=True))  # the instance's state dict: values as loaded
    make_transient_to_detached(ticket)
    session.add(ticket)
    return ticket


# ---- the ticket of a helpdesk by its number (``[TTS-000123]`` in a subject) ---------------------

_BY_SEQ = Prepared(select(_TICKETS).where(_TICKETS.c.helpdesk == bindparam("helpdesk"),
                                          _TICKETS.c.seq == bindparam("seq")))
_ORM_BY_SEQ = select(Ticket).where(Ticket.helpdesk == bindparam("helpdesk"), Ticket.seq == bindparam("seq"))


def ticket_by_seq(session: Session, helpdesk: str, seq: int) -> Ticket | None:
    """The helpdesk's ticket numbered ``seq``, loaded (``(helpdesk, seq)`` is unique)."""
    params = {"helpdesk": helpdesk, "seq": seq}
    row = fetch(session, _BY_SEQ, params).first()
    if row is None:
        return None
    ticket = ticket_from_row(session, row)
    if ticket is None:
        return session.scalars(_ORM_BY_SEQ, params).first()
    return ticket


# ---- the owners of Message-IDs (a reply's In-Reply-To and References) ---------------------------

class _BySize:
    """A prepared statement per padded length 1, 2, 4 ... ``MAX_IDS``, its ``IN`` list of
    parameters ``id0``, ``id1``...; each built at its first use (not at import: start-up)."""

    def __init__(self, build: Callable[[list[Any]], Any]) -> None:
        self._build = build
        self._made: dict[int, Prepared] = {}

    def get(self, size: int) -> Prepared | None:
        made = self._made.get(size)
        if made is None and size <= MAX_IDS and size & (size - 1) == 0 and size > 0:
            made = self._made[size] = Prepared(self._build([bindparam(f"id{i}", type_=String) for i in range(size)]))
        return made


def _by_ids(ids: list[str], **params: Any) -> dict[str, Any]:
    return {**params, **{f"id{i}": mid for i, mid in enumerate(ids)}}


_OWNERS_IN_HELPDESK = _BySize(lambda ids: select(Message.message_id, Message.ticket_id)
                               .join(Ticket, Ticket.id == Message.ticket_id)
                               .where(Message.message_id.in_(ids), Ticket.helpdesk == bindparam("helpdesk"))
                               .order_by(Message.id))
_OWNER_TICKETS_IN_HELPDESK = _BySize(lambda ids: select(Message.message_id, _TICKETS)
                                      .join(_TICKETS, _TICKETS.c.id == Message.ticket_id)
                                      .where(Message.message_id.in_(ids), _TICKETS.c.helpdesk == bindparam("helpdesk"))
                                      .order_by(Message.id))


def owners_in_helpdesk(session: Session, ids: list[str], helpdesk: str) -> list[tuple[str, int]] | None:
    """(Message-ID, ticket id) of the helpdesk's messages with one of ``ids`` (padded), in the
    order of the messages; None: a list too long for the prepared statements."""
    statement = _OWNERS_IN_HELPDESK.get(len(ids))
    if statement is None:
        return None
    return [(mid, pk) for mid, pk in fetch(session, statement, _by_ids(ids, helpdesk=helpdesk))]


def owner_tickets_in_helpdesk(session: Session, ids: list[str], helpdesk: str) -> dict[str, Ticket] | None:
    """``owners_in_helpdesk``, the tickets loaded (``ticket_from_row``): the first owner of each
    Message-ID; None: a list too long, or a ticket the ORM must read (the caller asks it)."""
    statement = _OWNER_TICKETS_IN_HELPDESK.get(len(ids))
    if statement is None:
        return None
    tickets: dict[str, Ticket] = {}
    for mid, *row in fetch(session, statement, _by_ids(ids, helpdesk=helpdesk)):
        if mid in tickets:
            continue
        ticket = ticket_from_row(session, row)
        if ticket is None:
            return None
        tickets[mid] = ticket
    return tickets
