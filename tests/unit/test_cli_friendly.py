"""The command line and the logs, as an operator meets them: --config before or after the command,
typo'd sections named, report sla for this month by default, every printed time with its zone, one
line per watched mailbox and no scheduler chatter."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from mailbot import cli
from mailbot.cli.common import local_time
from mailbot.cli.parser import build_parser
from mailbot.cli.reports import default_period
from mailbot.ops.poller import watching_line
from mailbot.ops.status import _shown
from mailbot.settings import logs
from mailbot.settings.loading import load_settings

CONFIG = """
[helpdesk]
name = "Helpdesk LPSE Uji"
address = "helpdesk@lpse.test"
timezone = "Asia/Makassar"
[imap]
host = "127.0.0.1"
port = 993
username = "helpdesk@lpse.test"
password = "x"
poll_interval = 45
[smtp]
host = "127.0.0.1"
port = 587
username = "helpdesk@lpse.test"
password = "x"
[staff]
addresses = ["staf1@lpse.test"]
[escalation]
lkpp_address = "helpdesk@lkpp.test"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(CONFIG)
    return path


@pytest.mark.parametrize("argv", [
    ["--config", "/etc/mailbot/mailbot.toml", "poll", "--once"],
    ["poll", "--once", "--config", "/etc/mailbot/mailbot.toml"],
    ["poll", "--config", "/etc/mailbot/mailbot.toml", "--once"],
    ["--config", "/elsewhere.toml", "poll", "--once", "--config", "/etc/mailbot/mailbot.toml"],  # the last wins
])
def test_config_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.command, args.once, args.config) == ("poll", True, "/etc/mailbot/mailbot.toml")


def test_config_after_a_nested_command_and_verbose_anywhere() -> None:
    args = build_parser().parse_args(["tickets", "show", "TTS-000001", "--config", "m.toml", "-v"])
    assert (args.action, args.id, args.config, args.verbose) == ("show", "TTS-000001", "m.toml", True)
    args = build_parser().parse_args(["-v", "tickets", "list"])
    assert (args.config, args.verbose) == (None, True)  # not reset by the subcommand's defaults


def test_an_unknown_section_is_named_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mailbot.toml"
    path.write_text(CONFIG.replace("[smtp]", "[smpt]"))
    assert cli.main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"config error in {path}: unknown section smpt (did you mean smtp?) (and 1 more)\n"


@pytest.mark.parametrize(("given", "expected"), [
    ((None, None), (date(2026, 2, 1), date(2026, 2, 28))),
    ((date(2026, 3, 10), None), (date(2026, 3, 10), date(2026, 3, 31))),
    ((None, date(2026, 1, 20)), (date(2026, 1, 1), date(2026, 1, 20))),
    ((date(2025, 12, 1), date(2026, 1, 31)), (date(2025, 12, 1), date(2026, 1, 31))),
])
def test_report_sla_defaults_to_a_month(given: tuple[date | None, date | None], expected: tuple[date, date]) -> None:
    assert default_period(*given, today=date(2026, 2, 14)) == expected


def test_printed_times_name_their_zone() -> None:
    at = datetime(2026, 3, 2, 1, 30, 5, tzinfo=timezone.utc)
    assert local_time(at, ZoneInfo("Asia/Jakarta")) == "2026-03-02 08:30 WIB"
    assert local_time(at, ZoneInfo("Asia/Jayapura"), seconds=True) == "2026-03-02 10:30:05 WIT"
    assert _shown("2026-03-02T01:30:05+00:00") == "2026-03-02 01:30:05 UTC"
    assert _shown(None) == ""


def test_log_lines_carry_their_utc_offset() -> None:
    record = logging.makeLogRecord({"msg": "x", "levelname": "INFO", "name": "mailbot.ops.poller"})
    line = logs.TextFormatter().format(record)
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d INFO mailbot\.ops\.poller: x$", line), line


@pytest.mark.parametrize(("verbose", "level"), [(False, logging.WARNING), (True, logging.DEBUG)])
def test_the_scheduler_is_quiet_unless_verbose(monkeypatch: pytest.MonkeyPatch, verbose: bool, level: int) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # as in a real process: nobody else set logging up
    monkeypatch.setattr(root, "level", root.level)
    for name in ("apscheduler", "alembic"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
    logs.configure(verbose=verbose)
    assert logging.getLogger("apscheduler").level == level
    assert logging.getLogger("apscheduler.executors.default").getEffectiveLevel() == level
    assert logging.getLogger("alembic").level == level


def test_run_says_which_mailbox_it_watches(config: Path) -> None:
    app = SimpleNamespace(settings=load_settings(config))
    assert watching_line(app) == (  # type: ignore[arg-type]
        "watching mailbox helpdesk@lpse.test at 127.0.0.1:993 (folder INBOX, IDLE where the server offers it, renewed every 300 s, "
        "else every 45 s) for helpdesk default <helpdesk@lpse.test>; replies through helpdesk@lpse.test at "
        "127.0.0.1:587")


def test_output_piped_into_head_ends_quietly(config: Path) -> None:
    # ``mailbot tickets show TTS-000001 | head`` printed a traceback ("a traceback means a bug").
    code = ("import sys; from mailbot import cli\n"
            "cli.dispatch = lambda args, settings: [print('x' * 80) for _ in range(200_000)] and 0\n"
            f"sys.exit(cli.main(['--config', {str(config)!r}, 'tickets', 'list']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip() == b"x" * 80
    proc.stdout.close()  # what head does after its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and "Traceback" not in err and err == ""
