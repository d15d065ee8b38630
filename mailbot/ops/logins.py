"""Polite to mail servers: a process-wide cap on IMAP logins in progress, and jittered backoff.

A deployment of hundreds of mailboxes that starts (or whose server comes back) would otherwise
open every connection at the same instant: a server limits the logins it handles at once
(Dovecot: 100 login processes by default) and resets the rest. So every login, the first one
and every reconnect, goes through :class:`LoginGate` (``[workers] max_concurrent_logins`` at
once, process-wide), and every mailbox waits between its attempts on a :class:`Backoff` of its
own with *full jitter* (a random wait between 0 and the exponential bound): mailboxes that failed
together do not come back together, and a mailbox the server refuses backs off alone.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable, Iterator

#: The first backoff bound (seconds); it doubles with every failed attempt up to the cap.
BASE_DELAY = 1.0


class LoginGate:
    """At most ``limit`` logins in progress in this process; a login waits for a free slot."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.in_progress = 0
        self.most = 0  # the highest number of logins in progress at once (for tests and the bench)

    @contextlib.contextmanager
    def slot(self, stop: threading.Event | None = None, step: float = 0.5) -> Iterator[bool]:
        """Hold a slot while the body logs in; yields False (and holds none) when ``stop`` came first."""
        while not self._slots.acquire(timeout=step):
            if stop is not None and stop.is_set():
                yield False
                return
        with self._lock:
            self.in_progress += 1
            self.most = max(self.most, self.in_progress)
        try:
            yield True
        finally:
            with self._lock:
                self.in_progress -= 1
            self._slots.release()


class Backoff:
    """Exponential backoff with full jitter for one mailbox: the n-th wait after a failure is
    uniform in [0, min(cap, base * 2**n)], so the average is half the plain exponential wait and
    the retries of many mailboxes spread over the whole interval instead of arriving together."""

    def __init__(self, cap: float, base: float = BASE_DELAY, rand: Callable[[], float] = random.random) -> None:
        self.cap = cap
        self.base = base
        self.failures = 0
        self._rand = rand

    def bound(self) -> float:
        """The longest the next wait may be."""
        return float(min(self.cap, self.base * 2.0 ** min(self.failures, 62)))

    def next(self) -> float:
        """The wait before the next attempt; counts one more failure."""
        wait = self.bound() * self._rand()
        self.failures += 1
        return wait

    def reset(self) -> None:
        """The mailbox works again: the next outage starts from the first bound."""
        self.failures = 0


_shared: LoginGate | None = None
_shared_lock = threading.Lock()


def shared_gate(limit: int) -> LoginGate:
    """The process's gate (made at the first call with ``limit``; a different limit makes a new one)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.limit != limit:
            _shared = LoginGate(limit)
        return _shared
