"""Unit tier: the pure core and what reads files, fast, with no database and no network.

``table`` is the shipped priority table (``config/priorities.toml``), loaded once per session.
"""

from __future__ import annotations

import pytest

from mailbot.core.rules import PriorityTable
from mailbot.settings.priorities import load_priority_table
from mailbot.settings.resources import default_priorities


@pytest.fixture(scope="session")
def table() -> PriorityTable:
    return load_priority_table(default_priorities())
