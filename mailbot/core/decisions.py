"""What ``workflow.decide`` returns: a Decision, the ticket's next state and the effects the service
carries out (events to record, mail to queue, fields to set). Pure data, no behaviour; kept apart
from the state machine so that the service's appliers and the SOP's rules read separately.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mailbot.core.domain import EventKind, TicketState
from mailbot.core.policy import Policy as Policy  # re-exported: the settings decide reads (core.policy)

#: Who a mail goes to; the service resolves each to addresses (``effects.recipients_for``).
Recipient = Literal["user", "staff", "assignee", "closer", "lkpp", "sender", "coordinator", "others"]


@dataclass(frozen=True)
class SendMail:
    to: Recipient
    template: str
    context: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    kind: EventKind
    detail: str = ""
    sop_step: int | None = None
    data: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Assign:
    address: str


@dataclass(frozen=True)
class SetPriority:
    level: str


@dataclass(frozen=True)
class SetMissing:
    items: tuple[str, ...]


@dataclass(frozen=True)
class SetRating:
    rating: int  # 1-5, the user's satisfaction with the help


@dataclass(frozen=True)
class OpenFollowUp:
    """The user wrote to a ticket closed longer ago than the reopen window."""


@dataclass(frozen=True)
class MergeInto:
    """This ticket is closed as a duplicate of ``ticket_id``: the service links the two and records
    it on that ticket; the user's later mail in this thread goes there."""

    ticket_id: int
    number: str


Effect = SendMail | Record | Assign | SetPriority | SetMissing | SetRating | OpenFollowUp | MergeInto


@dataclass(frozen=True)
class Decision:
    state: TicketState
    effects: tuple[Effect, ...]
    closed_by: str | None = None  # set when this decision closes the ticket

    def mails(self) -> list[SendMail]:
        return [e for e in self.effects if isinstance(e, SendMail)]
