"""The inbound row of a mail: claimed first in the mail's transaction, its outcome set last.

What keeps a mail processed once with several workers is described in ``store`` ("several
workers on one database"); this module is the claim and its outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailbot.storage.models import Inbound
from mailbot.storage.prepared import Prepared, run
from mailbot.storage.store import advisory_key, write_changed_tickets

#: ``inbound.outcome`` of a claim whose transaction has not committed yet (never seen by others).
PROCESSING = "processing"


@dataclass(frozen=True)
class Claim:
    """What claiming a Message-ID found: ours to process, seen before, or busy elsewhere."""

    inbound_id: int | None = None  # claimed: set the outcome on this row before the commit
    seen: str | None = None  # the outcome recorded by whoever processed the mail first
    seen_at: datetime | None = None
    busy: bool = False  # another worker is processing it right now (PostgreSQL)
    seen_digest: str = ""  # the content digest recorded with it ("" on rows from before 0007)

    def other_mail(self, digest: str) -> bool:
        """True when the Message-ID was taken by a *different* mail (its content differs)."""
        return self.inbound_id is None and not self.busy and bool(self.seen_digest) and self.seen_digest != digest


def claim_inbound(session: Session, message_id: str, *, sender: str, now: datetime,
                  helpdesk: str = "default", digest: str = "") -> Claim:
    """Claim ``message_id`` in the session's transaction (call it first, before any other work).

    The inbound row is inserted with the outcome ``processing``; the caller sets the real
    outcome with :func:`record_inbound` in the same transaction. If the transaction rolls
    back, so does the claim, and the mail can be processed again. Claims are per ``helpdesk``:
    one mail sent to two helpdesks of the deployment is processed once by each.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        key = advisory_key("inbound", message_id if helpdesk == "default" else f"{helpdesk} {message_id}")
        if not session.scalar(select(func.pg_try_advisory_xact_lock(key))):
            return Claim(busy=True)
    values = {"helpdesk": helpdesk, "message_id": message_id, "outcome": PROCESSING, "reason": "",
              "sender": sender[:320], "at": now, "digest": digest}
    if dialect in {"postgresql", "sqlite"}:
        row_id = run(session, _claim_statement(dialect), values).scalar()
    else:  # another backend: a plain insert; a concurrent one fails its transaction (see is_conflict)
        seen_id = session.scalar(select(Inbound.id).where(Inbound.helpdesk == helpdesk,
                                                           Inbound.message_id == message_id))
        row_id = None
        if seen_id is None:
            row = Inbound(**values)
            session.add(row)
            session.flush()
            row_id = row.id
    if row_id is not None:
        return Claim(inbound_id=row_id)
    seen = session.execute(select(Inbound.outcome, Inbound.at, Inbound.digest).where(
        Inbound.helpdesk == helpdesk, Inbound.message_id == message_id)).first()
    assert seen is not None  # the conflicting row has committed (or this is the same transaction)
    return Claim(seen=seen[0], seen_at=seen[1], seen_digest=seen[2] or "")


#: Built once (the claim and its outcome are two statements of every mail): a statement built
#: per call costs its construction and cache key each time. On the table, not the mapped class:
#: a mail's session never loads its inbound row, so the ORM has nothing to keep in step.
_INBOUND = cast(Table, Inbound.__table__)
_RECORD_INBOUND = Prepared(update(_INBOUND).where(_INBOUND.c.id == bindparam("inbound_id"))
                           .values(outcome=bindparam("outcome"), reason=bindparam("reason"),
                                   ticket_id=bindparam("ticket")))
_CLAIM_STATEMENTS: dict[str, Prepared] = {}


def _claim_statement(dialect: str) -> Prepared:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` of an inbound row, for ``dialect``."""
    prepared = _CLAIM_STATEMENTS.get(dialect)
    if prepared is None:
        statement: Any
        if dialect == "postgresql":
            # Imported here: the PostgreSQL dialect package (with its asyncpg, pg8000 and psycopg
            # modules) costs 2 MB of RSS that a SQLite deployment never uses.
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement = pg_insert(_INBOUND).on_conflict_do_nothing(index_elements=["helpdesk", "message_id"])
        else:
            statement = sqlite_insert(_INBOUND).on_conflict_do_nothing(index_elements=["helpdesk", "message_id"])
        prepared = _CLAIM_STATEMENTS[dialect] = Prepared(statement.returning(_INBOUND.c.id))
    return prepared


def record_inbound(session: Session, claim: Claim, *, outcome: str, reason: str, ticket_id: int | None) -> None:
    """Set the outcome of a claimed inbound row (same transaction as the claim), the last write of
    the mail's transaction: the changed tickets are written first (the row refers to the mail's
    ticket), and the caller commits."""
    if not write_changed_tickets(session):
        session.flush()
    run(session, _RECORD_INBOUND, {"inbound_id": claim.inbound_id, "outcome": outcome, "reason": reason,
                                      "ticket": ticket_id})
