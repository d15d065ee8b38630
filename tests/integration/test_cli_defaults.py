"""The CLI's defaults on a real (SQLite) database: ``report sla`` without dates reports this month,
in the helpdesk's zone, and the database of a config without ``[database]`` is beside the file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbot import cli

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


def test_report_sla_without_dates_reports_this_month(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "etc" / "mailbot.toml"
    config.parent.mkdir()
    config.write_text(CONFIG)  # no [database]: sqlite:///var/mailbot.db, beside the file
    assert cli.main(["report", "sla", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    today = datetime.now(ZoneInfo("Asia/Makassar")).date()
    assert f"{today.replace(day=1):%d-%m-%Y} s.d. " in out and "(WITA)" in out, out
    assert (tmp_path / "etc" / "var" / "mailbot.db").is_file()
