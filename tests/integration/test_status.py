"""Issue 17, finding 8: ``mailbot status`` names failed mail to staff and a full database disk, and a
database error (disk full) is not called an IMAP outage by the poller, the log or the status."""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import types
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from mailbot.mail import intake
from mailbot.ops import health, poller, status
from mailbot.service.app import App, build_app
from mailbot.service.inbound import process_raw
from mailbot.settings.loading import load_settings
from mailbot.storage import errors
from mailbot.storage.models import MailboxStatus, Message, Outbox
from tests.support.offline_config import offline_toml

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
MAIL = (b"From: Budi <budi@vendor.test>\r\nTo: helpdesk@lpse.test\r\nSubject: Lupa password\r\n"
        b"Message-ID: <st-1@vendor.test>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0700\r\n\r\nSaya lupa password.\r\n")


@pytest.fixture
def app(tmp_path: Path, db_url: str) -> App:
    path = tmp_path / "mailbot.toml"
    path.write_text(offline_toml(db_url, imap_extra="poll_interval = 60"))
    return build_app(load_settings(path))


def disk_full() -> OperationalError:
    """What SQLAlchemy raises when SQLite cannot write: the SQL and its values are in its text."""
    return OperationalError("INSERT INTO messages (text) VALUES (?)", ("Saya lupa password",),
                            sqlite3.OperationalError("database or disk is full"))


def fail_rows(app: App) -> dict[str, list[int]]:
    """The ticket's outbox rows by channel, marked failed; plus a failed digest (no ticket)."""
    assert process_raw(app, MAIL, NOW).kind == "opened"
    with app.factory.begin() as session:
        channels = {m.message_id: m.channel for m in session.scalars(select(Message))}
        ids: dict[str, list[int]] = {"user": [], "staff": []}
        for row in session.scalars(select(Outbox)):
            row.status, row.last_error = "failed", "550 5.1.1 mailbox unavailable"
            ids[channels[row.message_id]].append(row.id)
        digest = Outbox(helpdesk=app.settings.helpdesk_key, message_id="digest-1@lpse.test", ticket_id=None,
                        mail_from="helpdesk@lpse.test", recipients=["staf@lpse.test"], raw=b"x", status="failed",
                        automatic=False, to_key="staf@lpse.test", attempts=5, next_attempt_at=NOW,
                        last_error="452 mailbox full", created_at=NOW)
        session.add(digest)
        session.flush()
        ids["staff"].append(digest.id)
    assert ids["user"] and len(ids["staff"]) == 2
    return ids


# ---- status: failed mail to staff ---------------------------------------------------------------


def test_failed_mail_to_staff_is_a_problem_of_its_own(app: App) -> None:
    ids = fail_rows(app)
    report = status.gather(app, offline=True, now=NOW)
    assert not report.healthy
    [to_staff] = [p for p in report.problems if "to staff" in p]
    assert "2 failed mail(s) to staff not acknowledged" in to_staff and "staff did not get" in to_staff
    assert "({}, {})".format(*ids["staff"]) in to_staff
    [others] = [p for p in report.problems if p.startswith("outbox:") and "to staff" not in p]
    assert "(" + ", ".join(map(str, ids["user"])) + ")" in others
    assert report.staff_mail_failed == ids["staff"]
    assert report.outbox["failed_unacknowledged"] == len(ids["user"]) + 2  # the counts keep their meaning
    assert "2 of them to staff" in status.render_text(report)


def test_acknowledged_staff_failures_are_no_longer_a_problem(app: App) -> None:
    ids = fail_rows(app)
    with app.factory.begin() as session:
        for row_id in ids["staff"]:
            row = session.get(Outbox, row_id)
            assert row is not None
            row.acknowledged_at = NOW
    report = status.gather(app, offline=True, now=NOW)
    assert not [p for p in report.problems if "to staff" in p] and report.staff_mail_failed == []
    assert [p for p in report.problems if "failed mail(s) not acknowledged" in p]  # the user's mail still is


def test_a_healthy_outbox_reports_nothing(app: App) -> None:
    report = status.gather(app, offline=True, now=NOW)
    assert report.healthy, report.problems
    assert report.database_free_bytes is None or report.database_free_bytes > 0


# ---- status: the database's disk ------------------------------------------------------------------


def test_a_full_disk_under_a_sqlite_database_is_named(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    if status._sqlite_path(app) is None:
        pytest.skip("a SQLite file database only")
    usage = types.SimpleNamespace(total=10**9, used=10**9 - 4096, free=4096)
    monkeypatch.setattr(status.shutil, "disk_usage", lambda path: usage)
    report = status.gather(app, offline=True, now=NOW)
    assert not report.healthy
    [problem] = [p for p in report.problems if p.startswith("database:")]
    assert problem.startswith("database: disk full (0.0 MB free on the file system of ")
    assert "storage.max_message_bytes" in problem
    assert not any(p.startswith("imap") for p in report.problems)  # not an IMAP outage
    assert report.database_free_bytes == 4096


def test_a_database_that_cannot_be_read_is_one_problem_not_a_traceback(app: App,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status, "_disk_problem", lambda _app: (None, None))

    class Factory:
        kw = app.factory.kw

        def __call__(self) -> Any:
            raise disk_full()

    monkeypatch.setattr(app, "factory", Factory())
    report = status.gather(app, offline=True, now=NOW)
    assert report.problems == ["database: disk full (sqlite3.OperationalError: database or disk is full): the "
                               "service's records could not be read"]


# ---- the classification ---------------------------------------------------------------------------


def test_database_errors_are_told_from_mailbox_outages() -> None:
    assert errors.database_problem(disk_full()) == (
        "database: disk full (sqlite3.OperationalError: database or disk is full)")
    assert "INSERT" not in str(errors.database_problem(disk_full()))  # no SQL, no values
    enospc = OSError(errno.ENOSPC, "No space left on device")
    assert errors.database_problem(enospc) == "database: disk full (OSError: [Errno 28] No space left on device)"

    class DiskFull(Exception):  # psycopg's errors.DiskFull carries SQLSTATE 53100
        sqlstate = "53100"

    DiskFull.__module__ = "psycopg.errors"
    wrapped = OperationalError("INSERT", {}, DiskFull('could not extend file "base/1/2": wrote only 4096\nDETAIL: x'))
    assert errors.database_problem(wrapped) == (
        'database: disk full (psycopg.errors.DiskFull: could not extend file "base/1/2": wrote only 4096)')
    locked = OperationalError("SELECT 1", (), sqlite3.OperationalError("database is locked"))
    assert errors.database_problem(locked) == "database: sqlite3.OperationalError: database is locked"
    for other in (ConnectionResetError(104, "Connection reset by peer"), TimeoutError(), OSError(errno.EPIPE, "x")):
        assert errors.database_problem(other) is None
    try:  # a database error raised while handling another one still counts
        try:
            raise disk_full()
        except OperationalError as inner:
            raise RuntimeError("processing failed") from inner
    except RuntimeError as outer:
        assert errors.database_problem(outer) == (
            "database: disk full (sqlite3.OperationalError: database or disk is full)")


def test_describe_failure_names_the_database_not_the_mailbox(app: App) -> None:
    imap = app.settings.imap
    assert intake.describe_failure(imap, disk_full(), lost=True) == (
        "database: disk full (sqlite3.OperationalError: database or disk is full)")
    assert intake.describe_failure(imap, ConnectionResetError("peer"), lost=True).startswith(
        "imap helpdesk@lpse.test at 127.0.0.1:1 connection lost: ConnectionResetError")


# ---- the poller -------------------------------------------------------------------------------------


class QuickStop(threading.Event):
    """A stop whose waits are short: the backoff (1 s, 2 s, ...) takes milliseconds here."""

    def wait(self, timeout: float | None = None) -> bool:
        return super().wait(min(timeout or 0.01, 0.01))


class Box:
    def __init__(self) -> None:
        self.client = types.SimpleNamespace(capabilities=(), untagged_responses={})

    def logout(self) -> None:
        pass


def test_a_full_disk_is_not_an_imap_outage_in_the_service_loop(app: App, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    stop = QuickStop()
    drains: list[str] = []

    def drain(app: App, box: Any, stats: Any, stop_: Any = None, progress: Any = None, committed: Any = None) -> int:
        drains.append("drain")
        if len(drains) <= 3:
            raise disk_full()
        if len(drains) >= 5:
            stop.set()
        return 0

    monkeypatch.setattr(intake, "connect", lambda settings: Box())
    monkeypatch.setattr(intake, "ensure_folders", lambda box, settings: None)
    monkeypatch.setattr(poller, "drain", drain)
    caplog.set_level(logging.DEBUG, logger="mailbot")
    thread = threading.Thread(target=poller.run_forever, args=(app, stop), daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name == "mailbot.ops.poller"]
    assert errors == ["database: disk full (sqlite3.OperationalError: database or disk is full); the mail stays in "
                      "the inbox, retrying with backoff"]  # one line for the episode, no "imap ... connection lost"
    assert any(r.getMessage().startswith("database: works again after") for r in caplog.records)
    with app.factory() as session:
        rows = list(session.scalars(select(MailboxStatus)))
    assert all(r.last_error == "" for r in rows), [(r.key, r.last_error) for r in rows]


def test_the_outbox_thread_logs_a_full_disk_as_one_line(app: App, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    stop = QuickStop()
    calls: list[int] = []

    def flush_outbox(app: App, stats: Any = None, stop_: Any = None) -> None:
        calls.append(1)
        if len(calls) >= 2:
            stop.set()
        raise disk_full()

    monkeypatch.setattr(poller, "flush_outbox", flush_outbox)
    worker = poller.OutboxWorker(app, stop, interval=0.01)
    worker.start()
    worker.join(30)
    records = [r for r in caplog.records if r.name == "mailbot.ops.poller" and r.levelno >= logging.ERROR]
    assert records and all(r.exc_info is None for r in records)
    assert records[0].getMessage().startswith(
        "outbox flush failed: database: disk full (sqlite3.OperationalError: database or disk is full)")


def test_a_record_that_cannot_be_written_is_one_warning_line(app: App, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    def refuse(*_a: Any, **_kw: Any) -> Any:
        raise disk_full()

    monkeypatch.setattr(health, "_write", refuse)
    health.ok(app, app.settings.imap)
    [record] = [r for r in caplog.records if r.name == "mailbot.ops.health"]
    assert record.exc_info is None and record.getMessage() == (
        "could not record the status of imap mailbox helpdesk@lpse.test at 127.0.0.1:1: "
        "database: disk full (sqlite3.OperationalError: database or disk is full)")
    monkeypatch.setattr(health, "_write", lambda *a, **kw: 1 / 0)
    health.ok(app, app.settings.imap)
    assert caplog.records[-1].exc_info is not None  # a bug keeps its traceback
