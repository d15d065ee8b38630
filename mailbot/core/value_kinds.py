"""The kinds of value a priority-table item may be detected by (``values = ["tender_code"]``). PURE.

Apart from :mod:`mailbot.core.values` (which re-exports them), so that loading the table at start
checks the kinds without compiling the value scanners' ~35 regexes: those come with the first mail.
"""

from __future__ import annotations

__all__ = ["KINDS"]

#: Kinds an item of the priority table may be detected by (``values = ["tender_code"]``).
KINDS = frozenset({"tender_code", "npwp", "nib", "nik", "company"})
