"""``[workers] max_concurrent_mails``: hundreds of mailboxes that each get a mail at once process
at most that many at the same time (issue 24); the others wait their turn and lose nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mailbot.mail import intake
from mailbot.ops import poller
from mailbot.service.outcome import Outcome
from tests.integration.conftest import make_app


def test_mails_of_many_mailboxes_are_processed_at_most_n_at_once(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(tmp_path)
    lock = threading.Lock()
    now_in, most, done = 0, 0, []

    def process_raw(_app: Any, raw: bytes, _now: Any) -> Outcome:
        nonlocal now_in, most
        with lock:
            now_in += 1
            most = max(most, now_in)
        time.sleep(0.05)
        with lock:
            now_in -= 1
            done.append(raw)
        return Outcome("opened", ticket_number="TTS-000001")

    fetched: dict[int, bool] = {}

    def fetch_batch(box: Any, _limit: int, skip: Any = ()) -> Any:
        if not fetched.get(id(box)):
            fetched[id(box)] = True
            yield intake.RawMail("1", f"mail of box {id(box)}".encode())

    monkeypatch.setattr(poller, "process_raw", process_raw)
    monkeypatch.setattr(intake, "fetch_batch", fetch_batch)
    monkeypatch.setattr(intake, "move", lambda box, uids, folder: None)
    poller.limit_processing(3)
    try:
        boxes = [object() for _ in range(12)]
        threads = [threading.Thread(target=poller.drain, args=(app, box, poller.PollStats())) for box in boxes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        poller.limit_processing(None)
    assert most == 3 and len(done) == 12
