"""The project's one exception base, for the errors the bot raises on purpose.

Each room keeps its own exception classes (a bad config file, a bad priority table, a processing
budget run out, a refused OAuth2 login, ...); they derive from :class:`MailbotError` and keep
the standard base their callers already catch (``ValueError`` for bad input): a caller's
``except ValueError`` keeps working next to ``except MailbotError``.
"""

from __future__ import annotations


class MailbotError(Exception):
    """Base of the exceptions mailbot raises itself (not of the libraries' it lets through)."""
