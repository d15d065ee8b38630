"""The login cap and the jittered backoff of ``mailbot.ops.logins`` (issue 24)."""

from __future__ import annotations

import random
import threading
import time

from mailbot.ops.logins import Backoff, LoginGate


def test_full_jitter_waits_anywhere_up_to_a_doubling_bound() -> None:
    backoff = Backoff(cap=300, rand=lambda: 1.0)
    assert [backoff.next() for _ in range(11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    backoff.reset()
    assert backoff.next() == 1.0


def test_mailboxes_that_fail_together_do_not_retry_together() -> None:
    """600 mailboxes after their third failure: their retries spread over the whole 8 s, not one instant."""
    rng = random.Random(7)
    waits = []
    for _ in range(600):
        b = Backoff(cap=300, rand=rng.random)
        b.failures = 3
        waits.append(b.next())
    assert all(0 <= w <= 8 for w in waits)
    per_second = [sum(1 for w in waits if s <= w < s + 1) for s in range(8)]
    assert max(per_second) < 110  # about 75 a second, never the whole fleet at once


def test_the_gate_lets_only_so_many_in_at_once() -> None:
    gate = LoginGate(3)
    start = threading.Barrier(12)

    def login() -> None:
        start.wait()
        with gate.slot() as admitted:
            assert admitted
            time.sleep(0.05)

    threads = [threading.Thread(target=login) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gate.most == 3 and gate.in_progress == 0


def test_a_stop_ends_the_wait_for_a_slot() -> None:
    gate = LoginGate(1)
    stop = threading.Event()
    with gate.slot() as first:
        assert first
        stop.set()
        with gate.slot(stop, step=0.01) as second:
            assert second is False
    assert gate.in_progress == 0
