"""Ids on the command line: ``tickets show``, ``quarantine retry``, ``outbox retry|ack``.

An id that is not a positive whole number within 64 bits (the SQL column), or that names no row,
gets one line on stderr and exit code 2, never a traceback (``tickets show 99999999999999999999999``
was an OverflowError from the database driver).
"""

from __future__ import annotations

import contextlib
import io
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from mailbot import cli
from mailbot.service.app import build_app
from mailbot.service.inbound import process_raw
from mailbot.settings.loading import load_settings
from mailbot.storage.models import Outbox, Quarantine
from tests.support.offline_config import offline_toml

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
MAIL = (b"From: Budi <budi@vendor.test>\r\nTo: helpdesk@lpse.test\r\nSubject: Lupa password\r\n"
        b"Message-ID: <ids-1@vendor.test>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0700\r\n\r\nSaya lupa password.\r\n")
TOO_BIG = "99999999999999999999999"
NOT_IDS = [TOO_BIG, "9223372036854775808", "0", "-1", "+5", "1.5", "abc", "", " ", "1e3", "\u0661\u0662", "9" * 5000]


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(offline_toml(db_url, name="Helpdesk LPSE Kota Uji", staff=("staf1@lpse.test",),
                                 lkpp="lkpp@lkpp.test"))
    app = build_app(load_settings(path))
    assert process_raw(app, MAIL, NOW).kind == "opened"
    # A second ticket: each new ticket queues an acknowledgment and a staff notification.
    assert process_raw(app, MAIL.replace(b"ids-1@", b"ids-2@"), NOW).kind == "opened"
    assert process_raw(app, b"\x00\x01 not a mail at all", NOW).kind == "quarantined"
    with app.factory.begin() as session:
        rows = list(session.scalars(select(Outbox).order_by(Outbox.id)))
        assert len(rows) >= 3
        rows[0].status, rows[0].sent_at = "sent", NOW  # 1: sent
        rows[1].status, rows[1].last_error = "failed", "550 no such user"  # 2: failed; 3...: pending
    return path


def run(config: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["--config", str(config), *args])
    return code, out.getvalue(), err.getvalue()


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("command", [("tickets", "show"), ("quarantine", "retry"), ("outbox", "retry"),
                                     ("outbox", "ack")], ids=" ".join)
def test_an_id_that_is_not_a_positive_64_bit_number_is_one_line_and_exit_2(config: Path,
                                                                           command: tuple[str, str]) -> None:
    for text in NOT_IDS:
        if command == ("tickets", "show") and not text.strip().lstrip("+-").isdigit():
            continue  # not a number: a ticket number, looked up as such (below)
        code, out, err = run(config, *command, text)
        assert code == 2, (text, out, err)
        assert one_line(err) and "is not an id" in err, (text, err)
        assert out == ""


@pytest.mark.parametrize("args", [("tickets", "show", "999"), ("tickets", "show", "TTS-999999"),
                                  ("tickets", "show", "abc"), ("quarantine", "retry", "999"),
                                  ("outbox", "retry", "999"), ("outbox", "ack", "999")], ids=" ".join)
def test_an_id_that_names_nothing_is_one_line_and_exit_2(config: Path, args: tuple[str, ...]) -> None:
    code, out, err = run(config, *args)
    assert code == 2, (out, err)
    assert one_line(err) and err.startswith("no "), err
    assert out == ""


def test_ids_that_exist_still_work(config: Path) -> None:
    code, out, _ = run(config, "tickets", "show", "1")
    assert code == 0 and "TTS-000001" in out
    code, out, _ = run(config, "tickets", "show", " TTS-000001 ")
    assert code == 0 and "Lupa password" in out
    # Present but not in a state for the command: a clear line, exit 1 as before.
    code, _, err = run(config, "outbox", "retry", "1")
    assert code == 1 and one_line(err) and "was sent" in err
    code, _, err = run(config, "outbox", "ack", "3")
    assert code == 1 and one_line(err) and "pending" in err
    code, out, _ = run(config, "outbox", "ack", "2")
    assert code == 0 and "acknowledged 1 failed mail(s)" in out
    code, _, err = run(config, "outbox", "ack", "2")
    assert code == 1 and "acknowledged already" in err
    code, out, _ = run(config, "outbox", "retry", "2")
    assert code == 0 and "pending again" in out
    code, out, _ = run(config, "outbox", "ack", "--all")
    assert code == 0


def test_quarantine_retry_of_an_existing_entry(config: Path) -> None:
    settings = load_settings(config)
    app = build_app(settings, migrate=False)
    with app.factory() as session:
        qid = session.scalar(select(Quarantine.id))
    code, out, _ = run(config, "quarantine", "retry", f" {qid}")
    assert code == 1 and "quarantined" in out  # a blob stays a blob
    with app.factory.begin() as session:
        entry = session.get(Quarantine, qid)
        assert entry is not None
        entry.resolved_at = NOW
    code, _, err = run(config, "quarantine", "retry", str(qid))
    assert code == 1 and one_line(err) and "processed again already" in err
