"""What became of one inbound mail (the poller moves it by this)."""


from __future__ import annotations

import logging
from dataclasses import dataclass

from mailbot.core.domain import OutcomeKind

log = logging.getLogger(__name__)


#: Outcome of a mail another worker is processing (or has just processed) right now: it stays in
#: the inbox for that worker, which commits and moves it (``[workers] cooperate``, PostgreSQL).
BUSY = OutcomeKind.BUSY


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind  # a plain string is taken too (and made an OutcomeKind)
    ticket_number: str | None = None
    reason: str = ""
    ticket_id: int | None = None  # the ticket of ticket_number, recorded on the inbound row

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", OutcomeKind(self.kind))
