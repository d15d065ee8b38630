"""A time budget for one inbound mail: over it, the mail goes to quarantine and the mailbox
moves on.

Pure: the clock is passed in. The budget is checked between the stages of a mail's
processing (parse, classify, decide, store), so it bounds what any one stage can add after
the budget is spent; each stage is itself linear in the mail's size (text caps, a bounded
classification prefix, a linear-time regex engine), so no stage can run away between checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mailbot.core.errors import MailbotError


class BudgetExceeded(MailbotError):
    """The mail's processing took longer than its budget (the transaction rolls back)."""

    def __init__(self, stage: str, elapsed: float, limit: float) -> None:
        super().__init__(f"processing budget of {limit:g} s exceeded after {stage} ({elapsed:.1f} s)")
        self.stage = stage
        self.elapsed = elapsed
        self.limit = limit


@dataclass
class Budget:
    limit: float  # seconds; 0 or less: no budget
    clock: Callable[[], float]
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def check(self, stage: str) -> None:
        """Raise :class:`BudgetExceeded` when the budget is spent (``stage``: what just finished)."""
        if self.limit <= 0:
            return
        elapsed = self.clock() - self.started
        if elapsed > self.limit:
            raise BudgetExceeded(stage, elapsed, self.limit)
