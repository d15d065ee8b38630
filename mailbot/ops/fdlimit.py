"""The process's open-file limit, raised at start to what its mailboxes need.

Every watched mailbox holds an IMAP socket, and while it sends (and ``smtp.keepalive_seconds``
after), up to ``smtp.connections`` SMTP sockets and the event loop they belong to; the database, the logs and the interpreter take a few more. Many systems start a
process with a soft ``RLIMIT_NOFILE`` of 1024 (the hard limit is usually far higher), which a
deployment of a few hundred mailboxes passes: connections then fail with EMFILE. ``mailbot run``
raises its own soft limit (never above the hard limit, which only root may raise; the systemd
unit sets ``LimitNOFILE``) and logs one line when even the hard limit is too low.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

#: Descriptors of the process itself: interpreter, logs, database files and pool, metrics server.
BASE_DESCRIPTORS = 256
#: Per mailbox, besides its SMTP connections: the IMAP socket, a reconnect's overlap, a database
#: connection, the IDLE wait's epoll, and its watcher's wake-up pair (``fleet._Watcher``).
PER_MAILBOX = 7
#: The event loop of a helpdesk's SMTP connections (its epoll and wake-up pair), kept with them.
PER_SMTP_LOOP = 3


def needed(apps: Iterable[Any]) -> int:
    """The descriptors a ``run`` of these helpdesks may hold at once."""
    return BASE_DESCRIPTORS + sum(PER_MAILBOX + PER_SMTP_LOOP + int(app.settings.smtp.connections) for app in apps)


def target(need: int, soft: int, hard: int) -> int:
    """The soft limit to set: ``need`` (never lowered below the current soft limit), at most ``hard``."""
    if hard != resource.RLIM_INFINITY:
        need = min(need, hard)
    return max(soft, need)


def raise_to(need: int) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to ``need`` if the hard limit allows; returns the soft limit now.

    One warning line when the hard limit is below ``need`` (the service still starts: fewer
    mailboxes may be enough, and the operator learns what to set).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = target(need, soft, hard)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            log.debug("open-file limit raised from %d to %d (%d needed)", soft, wanted, need)
            soft = wanted
        except (ValueError, OSError) as exc:
            log.warning("open-file limit: cannot raise it from %d to %d: %s", soft, wanted, exc)
    if soft < need:
        log.warning("open-file limit %d (hard limit %s) is below the %d the configured mailboxes may need; "
                    "raise it (systemd: LimitNOFILE=, shell: ulimit -Hn) or connections will fail with "
                    "'Too many open files'", soft, "unlimited" if hard == resource.RLIM_INFINITY else hard, need)
    return soft
