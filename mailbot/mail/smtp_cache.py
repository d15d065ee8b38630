"""SMTP connections kept open between flushes of an outbox, like Postfix's connection cache.

A flush used to open its connections (TCP, STARTTLS, AUTH), send and QUIT; during a backlog the
sender flushes every half second, which made 91 logins for 1000 mails (and as many logins on the
provider's side). Now the connections of a flush that ended well stay open for
``smtp.keepalive_seconds`` (0: none is kept): the next flush of the helpdesk checks each with RSET
before its first mail, and logs in afresh in place of one the server closed meanwhile or that does
not answer. A connection open for ``REUSE_LIMIT`` (5 minutes) is not kept any more, so a session
never outlives its login by long. An idle connection is closed with QUIT after that time (one thread of the process,
``_Reaper``), and every kept one at shutdown (``close``, ``close_all``; ``atexit`` as a last resort).

What this must not change:

* A connection is used by one flush at a time: it is in its ``Keeper`` only between flushes; a
  flush takes it out (``Keeper.take``) and puts it back when it ends (``Keeper.give_back``), and
  the keeper's lock is held while its event loop runs (a flush, or closing idle connections).
* A connection belongs to the asyncio event loop it was opened on, so each helpdesk's keeper has
  a loop of its own (an ``asyncio.Runner``), run by whichever thread flushes that helpdesk.
* The outbox rows stay the truth: the check comes before a mail is marked in flight, and a
  connection that fails it is closed and replaced as a first login would be. A flush that lost a
  connection, was stopped or interrupted keeps none of its connections.
* A hanging server holds up only its own helpdesk: a check or a QUIT waits ``smtp.timeout`` at most
  (a QUIT of an idle connection ``QUIT_TIMEOUT``), and the reaper closes a helpdesk's connections
  only when it can take that helpdesk's lock at once (a flush in progress replaces them anyway).
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import logging
import math
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosmtplib

from mailbot.settings.config import SmtpSettings

log = logging.getLogger("mailbot.mail.outbox")

T = TypeVar("T")

#: Seconds a QUIT of an idle connection waits for the server's answer (then it is closed anyway).
QUIT_TIMEOUT = 5.0

#: A connection is not kept once it has been open this long (Postfix's
#: ``smtp_connection_reuse_time_limit``): a backlog of hours logs in again every few minutes, so a
#: session never outlives the login it was opened with by long (an OAuth2 token, a changed password).
REUSE_LIMIT = 300.0

#: Idle connections the whole process keeps to one server (host and port), whatever the helpdesk.
#: Each holds one of the server's SMTP processes (Postfix: 100 for everyone by default), so a
#: deployment of hundreds of helpdesks on one server must not keep one each: measured with 600
#: mailboxes, keeping every helpdesk's connection for 2 s took a burst's ack p95 from 20.5 to
#: 34.7 s, and for 30 s left half the burst unanswered after 3 minutes. A backlog of one helpdesk
#: (``smtp.connections``, at most 20) still keeps all of its own.
MAX_IDLE_PER_SERVER = 20


def account_of(settings: SmtpSettings) -> tuple[object, ...]:
    """What a kept connection must match to be reused: the server and the login."""
    return (settings.host, settings.port, settings.security, settings.username, settings.auth,
            str(settings.ca_file or ""))


@dataclass
class _Kept:
    client: aiosmtplib.SMTP
    account: tuple[object, ...]
    since: float  # monotonic time it went idle
    keepalive: float  # seconds it may stay idle
    opened: float  # monotonic time it was first taken from the keeper (about when it logged in)

    @property
    def expires(self) -> float:
        return self.since + self.keepalive


class Keeper:
    """The connections one helpdesk keeps between its flushes, and the event loop they belong to."""

    def __init__(self, key: str) -> None:
        self.key = key
        #: Held while this keeper's loop runs: by a flush (``run``) or while idle ones are closed.
        self.lock = threading.Lock()
        self._runner: asyncio.Runner | None = None
        self._kept: list[_Kept] = []
        self._lent: dict[int, float] = {}  # id of a connection a flush took -> when it was opened
        #: Logins saved so far (connections reused after their check), for the log and the tests.
        self.reused = 0

    @property
    def kept(self) -> int:
        """How many connections are kept right now."""
        return len(self._kept)

    def run(self, settings: SmtpSettings, main: Callable[[Keeper | None], Coroutine[Any, Any, T]]) -> T:
        """Run a flush, ``main(self)``, on this keeper's loop (``main(None)`` on a loop of its own
        when ``smtp.keepalive_seconds`` is 0: nothing is kept)."""
        with self.lock:
            if settings.keepalive_seconds <= 0:
                self._close_locked()  # kept under other settings: not used any more
                return asyncio.run(main(None))
            if self._runner is None:
                self._runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
            loop = self._runner.get_loop()
            # The loop's threads (name lookups) live as long as the flush, as under asyncio.run.
            executor = ThreadPoolExecutor()
            loop.set_default_executor(executor)
            try:
                result = self._runner.run(main(self), context=contextvars.copy_context())
            except BaseException:
                self._discard_locked()
                raise
            finally:
                executor.shutdown(wait=False)
                self._lent.clear()
            if self._kept:
                _reaper.schedule(self, min(k.expires for k in self._kept))
            else:
                self._close_runner_locked()
            return result

    async def take(self, settings: SmtpSettings, count: int) -> list[aiosmtplib.SMTP]:
        """Up to ``count`` kept connections of ``settings``' account that answer RSET (the
        others are closed); the rest stays kept. Called by the flush in ``run``."""
        now = time.monotonic()
        account = account_of(settings)
        usable = [k for k in self._kept if k.account == account and k.expires > now]
        stale = [k.client for k in self._kept if k not in usable]
        self._kept = usable[count:]
        usable = usable[:count]
        if stale:
            await asyncio.gather(*(_quit(c) for c in stale))
        checks = await asyncio.gather(*(_alive(k.client) for k in usable))
        alive = [k.client for k, ok in zip(usable, checks, strict=True) if ok]
        self._lent.update((id(k.client), k.opened) for k, ok in zip(usable, checks, strict=True) if ok)
        if len(alive) < len(usable):
            log.debug("smtp %s:%d: %d kept connection(s) closed by the server; logging in again", settings.host,
                      settings.port, len(usable) - len(alive))
        self.reused += len(alive)
        return alive

    async def give_back(self, settings: SmtpSettings, clients: list[aiosmtplib.SMTP]) -> None:
        """Keep ``clients`` (between transactions) for the next flush; QUIT those open for
        ``REUSE_LIMIT`` already (the others the server closed meanwhile are let go)."""
        now = time.monotonic()
        account = account_of(settings)
        room = MAX_IDLE_PER_SERVER - _idle_to(account[:2])
        retire = []
        for client in clients:
            opened = self._lent.pop(id(client), now)
            if not client.is_connected:
                client.close()
            elif now - opened >= REUSE_LIMIT or room <= 0:
                retire.append(client)
            else:
                self._kept.append(_Kept(client, account, now, settings.keepalive_seconds, opened))
                room -= 1
        if retire:
            await _quit_all(retire)

    def expire(self) -> None:
        """Close the connections idle longer than their time, unless a flush runs now (it takes
        or replaces them, and schedules the next expiry when it ends)."""
        if not self.lock.acquire(blocking=False):
            return
        try:
            now = time.monotonic()
            expired = [k.client for k in self._kept if k.expires <= now]
            self._kept = [k for k in self._kept if k.expires > now]
            if expired and self._runner is not None:
                self._runner.run(_quit_all(expired))
            if self._kept:
                _reaper.schedule(self, min(k.expires for k in self._kept))
            else:
                self._close_runner_locked()
        except Exception:  # never the reaper's end: the connections are dropped
            log.debug("smtp: closing idle connections of %s failed", self.key, exc_info=True)
            self._discard_locked()
        finally:
            self.lock.release()

    def close(self, timeout: float = -1) -> bool:
        """QUIT every kept connection (shutdown); False when a flush held the lock past ``timeout``."""
        if not self.lock.acquire(timeout=timeout):
            return False
        try:
            self._close_locked()
        finally:
            self.lock.release()
        return True

    def _close_locked(self) -> None:
        kept, self._kept = [k.client for k in self._kept], []
        try:
            if kept and self._runner is not None:
                self._runner.run(_quit_all(kept))
        except Exception:
            log.debug("smtp: closing the connections of %s failed", self.key, exc_info=True)
            self._discard_locked()
        self._close_runner_locked()

    def _discard_locked(self) -> None:
        """After an interruption: drop the connections without a word to the server, and the loop."""
        for kept in self._kept:
            kept.client.close()
        self._kept = []
        self._close_runner_locked()

    def _close_runner_locked(self) -> None:
        _reaper.forget(self)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            try:
                runner.close()
            except Exception:
                log.debug("smtp: closing the event loop of %s failed", self.key, exc_info=True)


async def _alive(client: aiosmtplib.SMTP) -> bool:
    """Whether a kept connection still works: RSET answered (which also clears any transaction)."""
    if not client.is_connected:
        return False
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
        return False
    return True


async def _quit(client: aiosmtplib.SMTP) -> None:
    """QUIT, waiting ``QUIT_TIMEOUT`` at most for the answer; closed whatever happens."""
    try:
        if client.is_connected:
            await client.quit(timeout=min(QUIT_TIMEOUT, client.timeout or QUIT_TIMEOUT))
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


async def _quit_all(clients: list[aiosmtplib.SMTP]) -> None:
    await asyncio.gather(*(_quit(c) for c in clients))


class _Reaper:
    """One thread of the process that closes kept connections when their idle time is up."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[Keeper, float] = {}  # keeper -> when its first kept connection expires
        self._thread: threading.Thread | None = None

    def schedule(self, keeper: Keeper, at: float) -> None:
        with self._cond:
            self._due[keeper] = at
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="mailbot-smtp-idle", daemon=True)
                self._thread.start()
            self._cond.notify()

    def forget(self, keeper: Keeper) -> None:
        with self._cond:
            self._due.pop(keeper, None)

    def _loop(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                ready = [k for k, at in self._due.items() if at <= now]
                if not ready:
                    nearest = min(self._due.values(), default=math.inf)
                    self._cond.wait(None if nearest == math.inf else nearest - now)
                    continue
                for keeper in ready:
                    del self._due[keeper]
            for keeper in ready:
                keeper.expire()


_reaper = _Reaper()
_keepers: dict[str, Keeper] = {}
_keepers_lock = threading.Lock()


def _idle_to(server: tuple[object, ...]) -> int:
    """Connections to ``server`` (host, port) kept idle by every keeper of the process now.

    Read without the other keepers' locks: a count off by one while another flush gives its
    connections back only moves the cap by one."""
    with _keepers_lock:
        keepers = list(_keepers.values())
    return sum(1 for keeper in keepers for kept in list(keeper._kept) if kept.account[:2] == server)


def keeper_of(key: str) -> Keeper:
    """The keeper of helpdesk ``key``'s connections (one per helpdesk and process)."""
    with _keepers_lock:
        keeper = _keepers.get(key)
        if keeper is None:
            keeper = _keepers[key] = Keeper(key)
        return keeper


def close(key: str, timeout: float = -1) -> None:
    """QUIT the connections helpdesk ``key`` keeps (its sender has stopped)."""
    with _keepers_lock:
        keeper = _keepers.get(key)
    if keeper is not None:
        keeper.close(timeout)


def close_all(timeout: float = -1) -> None:
    """QUIT every kept connection of the process (shutdown); a keeper whose flush still runs
    after ``timeout`` seconds is left as it is (its connections end with the process)."""
    with _keepers_lock:
        keepers = list(_keepers.values())
    for keeper in keepers:
        keeper.close(timeout)


# A process that ends without closing them (a web console flush, a command) still says QUIT;
# a flush still running then is not waited for.
atexit.register(close_all, 0)
