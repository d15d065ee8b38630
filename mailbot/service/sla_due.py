"""Which tickets the SLA tick must look at: the query alone, without the tick's machinery.

``poll --once`` asks this first and loads the tick (``sla_jobs``: the workflow, the templates'
context, the clocks) only when a ticket is due: a poll of an empty mailbox with nothing due, the
common case of a poll from cron, then never imports the state machine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from mailbot.core.domain import TicketState
from mailbot.storage.models import Ticket

#: The tickets that are not closed.
OPEN = Ticket.state != TicketState.CLOSED.value


def due_clause(now: datetime) -> Any:
    """The tickets a tick looks at: their next SLA moment has come, they changed since their
    last refresh, or an open one was never refreshed."""
    return or_(Ticket.sla_next_at <= now, Ticket.updated_at > Ticket.sla_checked_at,
               and_(Ticket.sla_checked_at.is_(None), OPEN))


def due_ids(factory: sessionmaker[Session], helpdesk: str, now: datetime, *, everything: bool = False) -> list[int]:
    """The ids of ``helpdesk``'s tickets the tick must look at ``now`` (``everything``: every
    open one), in id order."""
    with factory() as session:
        return list(session.scalars(select(Ticket.id).where(OPEN if everything else due_clause(now),
                                                            Ticket.helpdesk == helpdesk).order_by(Ticket.id)))
