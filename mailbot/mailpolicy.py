"""The ``email`` policies mailbot parses and composes with: policy.default / policy.SMTP with a
header registry that remembers the header classes it builds.

CPython's ``HeaderRegistry.__getitem__`` creates a new class (``type(...)``) for every header
object it makes, on every parse, ``msg[...]`` read and assignment; that was about 6 % of the
CPU time per inbound mail. The class depends only on the header name, so it is built once per
name here. Behaviour is otherwise exactly the stdlib policy's.
"""

from __future__ import annotations

from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry


class CachingHeaderRegistry(HeaderRegistry):
    """A ``HeaderRegistry`` that builds each header name's class once."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:  # a race only builds the same class twice
            cls = self._classes[key] = super().__getitem__(name)
        return cls


#: Parsing inbound mail (``policy.default``).
DEFAULT = policy.default.clone(header_factory=CachingHeaderRegistry())
#: Composing outgoing mail (``policy.SMTP``: CRLF line ends).
SMTP = policy.SMTP.clone(header_factory=CachingHeaderRegistry())
