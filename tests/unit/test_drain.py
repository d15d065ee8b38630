"""poller.drain: mails leave the inbox only after their transaction committed, one MOVE per batch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace

import pytest

from mailbot.ops import poller
from mailbot.service.outcome import Outcome


class Msg:
    def __init__(self, uid: str, raw: bytes) -> None:
        self.uid, self.raw = uid, raw


class Box:
    """The few IMAP calls drain makes, recorded in ``log`` with the commits."""

    def __init__(self, mails: dict[str, bytes], log: list[str]) -> None:
        self.mails = dict(mails)
        self.log = log
        self.client = SimpleNamespace(untagged_responses={})  # imaplib's, kept until asked for

    def uids(self, criteria: object) -> list[str]:
        return sorted(self.mails, key=int)

    def fetch(self, criteria: object, **_kw: object) -> Iterator[Msg]:
        wanted = str(criteria).strip("()").removeprefix("UID ").split(",")  # imap-tools: "(UID 1,2,3)"
        for uid in wanted:
            if uid in self.mails:
                yield Msg(uid, self.mails[uid])

    def move(self, uids: str | list[str], folder: str) -> None:
        uids = [uids] if isinstance(uids, str) else list(uids)
        self.log.append(f"move {','.join(uids)} -> {folder}")
        for uid in uids:
            self.mails.pop(uid, None)
            # A server's answer to UID MOVE: "* n EXPUNGE" per mail (imaplib keeps the numbers).
            self.client.untagged_responses.setdefault("EXPUNGE", []).append(b"1")
        self.client.untagged_responses.setdefault("COPYUID", []).append(b"1 1:2 3:4")  # one per command


def _app(batch_size: int = 10) -> SimpleNamespace:
    imap = SimpleNamespace(batch_size=batch_size, folder="INBOX", processed_folder="Processed",
                           quarantine_folder="Quarantine")
    return SimpleNamespace(settings=SimpleNamespace(imap=imap, helpdesk_key="default"), factory=SimpleNamespace(kw={}))


def _process(log: list[str], fail: bytes | None = None):  # type: ignore[no-untyped-def]
    def process_raw(app: object, raw: bytes, now: datetime) -> Outcome:
        if raw == fail:
            raise RuntimeError("database gone")
        log.append(f"commit {raw.decode()}")
        return Outcome("quarantined" if raw == b"bad" else "opened", "TTS-1", ticket_id=1)
    return process_raw


def test_a_batch_is_moved_after_its_commits_in_one_move_per_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    monkeypatch.setattr(poller, "process_raw", _process(log))
    box = Box({"1": b"a", "2": b"bad", "3": b"c"}, log)
    stats = poller.PollStats()
    assert poller.drain(_app(), box, stats) == 3  # type: ignore[arg-type]
    assert log == ["commit a", "commit bad", "commit c", "move 1,3 -> Processed", "move 2 -> Quarantine"]
    assert box.mails == {} and stats.outcomes == {"opened": 2, "quarantined": 1}
    # Nothing reads the moves' EXPUNGE responses: dropped, or a long run would keep one per mail.
    assert box.client.untagged_responses == {}


def test_what_committed_before_a_failure_still_leaves_the_inbox(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    monkeypatch.setattr(poller, "process_raw", _process(log, fail=b"c"))
    box = Box({"1": b"a", "2": b"b", "3": b"c", "4": b"d"}, log)
    with pytest.raises(RuntimeError):
        poller.drain(_app(), box, poller.PollStats())  # type: ignore[arg-type]
    assert log == ["commit a", "commit b", "move 1,2 -> Processed"]
    assert sorted(box.mails) == ["3", "4"]  # not committed: still in the inbox


def test_stop_ends_the_drain_after_the_mail_in_hand_committed_and_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    stop = threading.Event()

    def process_raw(app: object, raw: bytes, now: datetime) -> Outcome:
        log.append(f"commit {raw.decode()}")
        stop.set()  # a SIGTERM while this mail is processed
        return Outcome("opened", "TTS-1", ticket_id=1)

    monkeypatch.setattr(poller, "process_raw", process_raw)
    box = Box({"1": b"a", "2": b"b"}, log)
    assert poller.drain(_app(), box, poller.PollStats(), stop) == 1  # type: ignore[arg-type]
    assert log == ["commit a", "move 1 -> Processed"] and sorted(box.mails) == ["2"]


def test_batches_follow_one_another_until_the_inbox_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    committed: list[int] = []
    monkeypatch.setattr(poller, "process_raw", _process(log))
    box = Box({str(n): f"m{n}".encode() for n in range(1, 6)}, log)
    assert poller.drain(_app(batch_size=2), box, poller.PollStats(),  # type: ignore[arg-type]
                        committed=lambda: committed.append(1)) == 5
    assert [x for x in log if x.startswith("move")] == ["move 1,2 -> Processed", "move 3,4 -> Processed",
                                                         "move 5 -> Processed"]
    assert log.index("move 1,2 -> Processed") < log.index("commit m3") and len(committed) == 5
