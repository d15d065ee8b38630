"""The helpdesk's settings that ``workflow.decide`` reads. PURE.

Its own module: the App holds one, and building it imports neither the state machine nor the
decisions' data classes (``core.decisions`` re-exports it), which an empty poll never uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["Policy"]


@dataclass(frozen=True)
class Policy:
    """The helpdesk's settings ``decide`` reads (the App holds one)."""

    reopen_window: timedelta = timedelta(days=7)
    levels: tuple[str, ...] = ("tinggi", "sedang", "rendah")
