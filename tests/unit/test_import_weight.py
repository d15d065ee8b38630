"""Issue 7 (peak RSS of ``mailbot poll``): what the intake imports, and the lean holiday calendar.

Every module imported stays in memory for the life of the process, so modules that only some
commands or settings need are imported where they are used. These tests run a fresh
interpreter (``sys.modules`` of the test process is full of everything) and check that a poll
does not pull them in again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Imported only when needed: prometheus-client (``[metrics] enabled``), APScheduler (``run``),
#: Alembic (a migration), the PostgreSQL dialect (a PostgreSQL URL), urllib.request (an OAuth2
#: token refresh), the package of all ~250 countries of ``holidays`` (see mailbot.settings.holidays_id),
#: nh3 (``parse.sanitize_html``: the intake stores HTML, it never shows it), and the console's web
#: stack (``mailbot web`` only).
NOT_FOR_A_POLL = ("prometheus_client", "apscheduler", "alembic", "multiprocessing", "sqlalchemy.dialects.postgresql",
                  "urllib.request", "holidays.countries", "nh3", "starlette", "uvicorn", "mailbot.web",
                  "mailbot.storage.search")

SETTINGS = {
    "helpdesk": {"name": "Helpdesk LPSE Uji", "address": "helpdesk@lpse.test", "secret": "uji-rahasia-panjang-0123456789"},
    "imap": {"host": "127.0.0.1", "port": 993, "username": "helpdesk@lpse.test", "password": "x"},
    "smtp": {"host": "127.0.0.1", "port": 587, "username": "helpdesk@lpse.test", "password": "x"},
    "staff": {"addresses": ["staf1@lpse.test"]},
    "escalation": {"lkpp_address": "helpdesk@lkpp.test"},
    "database": {"url": "sqlite://"},
}


def run_python(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_poll_imports_nothing_it_does_not_use() -> None:
    out = run_python(f"""
import json, sys
import mailbot.cli, mailbot.ops.poller, mailbot.service.inbound
from mailbot.service import deadlines
from mailbot.settings.config import Settings
calendar = deadlines.calendar_for(Settings.model_validate({SETTINGS!r}))
calendar.holiday_name(__import__("datetime").date(2026, 8, 17))  # the first lookup loads the year
print(json.dumps(sorted(sys.modules)))
""")
    modules = json.loads(out)
    assert "holidays.countries.indonesia" in modules
    unwanted = [m for m in modules if any(m == name or m.startswith(name + ".") for name in NOT_FOR_A_POLL)
                and m != "holidays.countries.indonesia"]
    assert unwanted == []


def test_the_lean_indonesian_calendar_is_the_packages() -> None:
    dump = """
import json, sys
from mailbot.core.worktime import indonesian_holidays
years = {y: {",".join(c): {d.isoformat(): n for d, n in indonesian_holidays(y, c).items()}
             for c in [("public",), ("government",), ("public", "government")]} for y in range(2024, 2029)}
print(json.dumps({"years": years, "all_countries": "holidays.countries" in sys.modules}))
"""
    public_api = json.loads(run_python(dump))
    lean = json.loads(run_python("from mailbot.settings import holidays_id; holidays_id.preload()\n" + dump))
    assert public_api["all_countries"] and not lean["all_countries"]
    assert lean["years"] == public_api["years"]
    assert lean["years"]["2026"]["public"]["2026-08-17"] == "Hari Kemerdekaan Republik Indonesia"


#: Loaded by a poll only for a mail to process, a ticket due for the SLA tick or a mail failed for good.
#: The rules' intent and near-deadline readers compile 37 regexes at import, the value scanners ~35: with the
#: first mail too; and the decisions' data classes (the App's Policy has its own module).
MAIL_PIPELINE = ("mailbot.service.inbound", "mailbot.service.sla_jobs", "mailbot.service.delivery",
                 "mailbot.service.effects", "mailbot.core.workflow", "mailbot.core.parse", "holidays",
                 "mailbot.core.intent", "mailbot.core.near_deadline", "mailbot.core.values", "mailbot.core.decisions")


def test_a_poll_of_an_empty_mailbox_does_not_load_the_mail_pipeline() -> None:
    """``poll --once`` from cron mostly finds nothing: its start-up is then imports, and the mail
    pipeline (the state machine, parsing, the templates' context, the SLA clocks) is a fifth of them."""
    out = run_python("""
import json, sys
import mailbot.cli, mailbot.cli.run, mailbot.ops.poller, mailbot.service.app, mailbot.mail.outbox
from mailbot.settings.priorities import load_priority_table
from mailbot.settings.resources import default_priorities
load_priority_table(default_priorities())  # the table's loader checks the value kinds it names
print(json.dumps(sorted(sys.modules)))
""")
    modules = json.loads(out)
    assert [m for m in modules if any(m == name or m.startswith(name + ".") for name in MAIL_PIPELINE)] == []
