"""Issue 9, running it for real: ``mailbot status``, the Prometheus endpoint, the instance lock, logs.

* ``status`` is healthy (exit 0) on a working deployment, and unhealthy (exit 1, the reason
  named) when SMTP cannot be reached, when failed outbox mail is not acknowledged, and when a
  ``mailbot run`` that should be polling has stopped (killed) for more than 3 poll intervals;
* ``mailbot run`` with ``[metrics] enabled`` serves /metrics over HTTP: the mail it processed,
  tickets by state and priority, the outbox, SLA breaches, the processing-time histogram;
* a second ``mailbot run`` on the same mailbox exits at once (exit 3) with one clear line while
  the first goes on; after the first is gone (SIGTERM or SIGKILL) a new one starts; with
  ``[workers] cooperate = true`` no lock is taken;
* text logs: one line per event, and the mailbox password never appears.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import urllib.request
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from mailbot.storage.models import Outbox, SlaNotice, Ticket
from tests.e2e.conftest import Deployment, start_bot
from tests.support.botproc import BotProcess, set_keys, wait_until
from tests.support.mailstack import MailStack

SUBJECT = "Jadwal pelatihan SPSE"
QUESTION = "Selamat pagi,\nKapan jadwal pelatihan SPSE untuk penyedia bulan depan?\nTerima kasih."


def count(d: Deployment, model: type) -> int:
    with d.sessions()() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def status(d: Deployment, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code, out, err = d.cli("status", "--json", *args)
    return code, json.loads(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_failed_mail(d: Deployment) -> int:
    now = datetime.now(timezone.utc)
    with d.sessions().begin() as session:
        row = Outbox(message_id=f"<failed-{time.time_ns()}@lpse.test>", mail_from=d.helpdesk, recipients=[d.user],
                     raw=b"Subject: x\r\n\r\nx\r\n", status="failed", attempts=8, next_attempt_at=now,
                     last_error="550 5.1.1 no such user", created_at=now, to_key=d.user)
        session.add(row)
        session.flush()
        return row.id


def test_status_healthy_and_unhealthy(deployment: Deployment, bots: list[BotProcess]) -> None:
    d = deployment
    set_keys(d.config_path, "imap", poll_interval=1, use_idle=False)
    d.new_mail(SUBJECT, QUESTION)
    d.wait_helpdesk_inbox(1)
    d.poll()

    code, report = status(d)
    assert code == 0, report
    assert report["healthy"] and report["problems"] == []
    imap, smtp = report["mailboxes"]
    assert (imap["kind"], imap["mailbox"], imap["reachable"]) == ("imap", d.helpdesk, True)
    assert (smtp["kind"], smtp["reachable"]) == ("smtp", True)
    assert imap["last_ok_at"] and not imap["run_expected"]  # poll --once recorded its poll
    assert report["outbox"] == {"pending": 0, "oldest_pending": None, "failed": 0, "failed_unacknowledged": 0}
    assert report["quarantine"] == 0
    code, out, _ = d.cli("status")
    assert code == 0 and out.startswith("mailbot status: healthy") and f"imap {d.helpdesk}" in out

    # A failed mail nobody has looked at: unhealthy until acknowledged.
    failed = add_failed_mail(d)
    code, report = status(d, "--offline")
    assert code == 1 and report["outbox"]["failed_unacknowledged"] == 1
    assert [p for p in report["problems"] if "not acknowledged" in p and str(failed) in p]
    assert d.cli("outbox", "ack", str(failed))[0] == 0
    assert status(d, "--offline")[0] == 0
    assert "(acknowledged)" in d.cli("outbox", "list")[1]

    # SMTP unreachable.
    text = d.config_path.read_text()
    d.write_config(smtp_port="1")
    code, report = status(d)
    assert code == 1
    assert report["mailboxes"][1]["reachable"] is False
    assert any(p.startswith(f"smtp mailbox {d.helpdesk} at 127.0.0.1:1: login check failed") for p in report["problems"])
    d.config_path.write_text(text)

    # A run that should be polling: healthy while it polls, unhealthy once it is gone (SIGKILL).
    bot = start_bot(bots, d)
    wait_until(lambda: status(d, "--offline")[1]["mailboxes"][0]["run_expected"], 30, "the run to register")
    time.sleep(2)
    code, report = status(d, "--offline")
    assert code == 0, report  # it polls every second
    assert f"pid {bot.pid}" in report["mailboxes"][0]["run"]
    bot.kill()
    time.sleep(4)  # more than 3 x poll_interval
    code, report = status(d, "--offline")
    assert code == 1
    assert any("last successful poll" in p and "3 x poll_interval" in p for p in report["problems"]), report
    # A clean stop is not an outage; --expect-run makes it one (monitoring where the service must run).
    bot = start_bot(bots, d, "bot2")
    wait_until(lambda: f"pid {bot.pid}" in status(d, "--offline")[1]["mailboxes"][0]["run"], 30, "the second run")
    assert bot.stop() == 0
    time.sleep(4)
    assert status(d, "--offline")[0] == 0
    code, report = status(d, "--offline", "--expect-run")
    assert code == 1 and any("last successful poll" in p for p in report["problems"])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def test_metrics_endpoint(deployment: Deployment, bots: list[BotProcess]) -> None:
    d = deployment
    port = free_port()
    set_keys(d.config_path, "metrics", enabled=True, port=port)
    assert d.cli("db", "upgrade")[0] == 0
    bot = start_bot(bots, d)
    bot.wait_log(rf"metrics on http://127.0.0.1:{port}/metrics")
    before = scrape(port)
    assert sample(before, "mailbot_database_up") == 1
    assert sample(before, "mailbot_mails_processed_total", outcome="opened") in (None, 0.0)

    d.new_mail(SUBJECT, QUESTION)
    wait_until(lambda: count(d, Ticket) == 1, 30, "the ticket")
    d.wait_subject(d.user, "[TTS-")
    wait_until(lambda: sample(scrape(port), "mailbot_outbox_mails", status="pending") == 0, 30, "the outbox to empty")
    with d.sessions().begin() as session:  # an SLA breach notice, as the SLA tick records it
        ticket = session.scalars(select(Ticket)).one()
        session.add(SlaNotice(key="t1/analysis@x:100", ticket_id=ticket.id, kind="breach", clock="analysis",
                              percent=100, recipients=[d.staff1], at=datetime.now(timezone.utc)))
        state, priority = ticket.state, ticket.priority

    text = scrape(port)
    assert sample(text, "mailbot_mails_processed_total", helpdesk="default", outcome="opened") == 1
    assert sample(text, "mailbot_mail_processing_seconds_count") == 1
    assert 0 < (sample(text, "mailbot_mail_processing_seconds_sum") or 0) < 10
    assert sample(text, "mailbot_tickets", helpdesk="default", state=state, priority=priority) == 1
    assert sample(text, "mailbot_outbox_mails", status="pending") == 0
    assert sample(text, "mailbot_outbox_mails", status="failed") == 0
    assert (sample(text, "mailbot_outbox_sent_total") or 0) >= 2  # the acknowledgment and the staff notice
    assert sample(text, "mailbot_sla_breaches_total", helpdesk="default", clock="analysis") == 1
    assert sample(text, "mailbot_quarantine_mails", helpdesk="default") == 0
    last_poll = sample(text, "mailbot_last_poll_timestamp_seconds", mailbox=d.helpdesk, kind="imap")
    assert last_poll is not None and abs(last_poll - time.time()) < 120
    assert sample(text, "mailbot_oauth_failing", mailbox=d.helpdesk, kind="imap") == 0
    assert bot.stop() == 0
    with pytest.raises(OSError):
        scrape(port)  # the endpoint goes with the service


def test_second_run_on_the_same_mailbox_exits_at_once(deployment: Deployment, bots: list[BotProcess]) -> None:
    d = deployment
    assert d.cli("db", "upgrade")[0] == 0
    first = start_bot(bots, d, "first")
    first.wait_log(r"imap idle for|Scheduler started", timeout=30)
    second = start_bot(bots, d, "second")
    assert second.wait(timeout=30) == 3
    [line] = second.error_lines()
    assert "another mailbot run is already working mailbox" in line and d.helpdesk in line
    assert f"pid {first.pid}" in line
    assert first.alive()
    d.new_mail(SUBJECT, QUESTION)  # the first one still works
    wait_until(lambda: count(d, Ticket) == 1, 30, "the first run to process mail")

    # A clean stop releases the lock; so does SIGKILL (the kernel drops it with the process).
    assert first.stop() == 0
    third = start_bot(bots, d, "third")
    third.wait_log(r"imap idle for|Scheduler started", timeout=30)
    third.signal(signal.SIGKILL)
    third.wait(timeout=10)
    fourth = start_bot(bots, d, "fourth")
    fourth.wait_log(r"imap idle for|Scheduler started", timeout=30)
    assert fourth.alive()

    # Cooperating workers (a deliberate choice, meant for PostgreSQL) take no lock.
    set_keys(d.config_path, "workers", cooperate=True)
    fifth = start_bot(bots, d, "fifth")
    fifth.wait_log(r"workers.cooperate is set: no instance lock", timeout=30)
    time.sleep(1)
    assert fifth.alive()
    assert fifth.stop() == 0
    assert fourth.stop() == 0


def test_text_logs_are_one_line_per_event_without_the_password(
        deployment: Deployment, stack: MailStack, bots: list[BotProcess]) -> None:
    d = deployment
    d.write_config(imap_password="salah-sandi-Xy81")  # a login that fails: its error must not show it
    assert d.cli("db", "upgrade")[0] == 0
    bot = start_bot(bots, d)
    bot.wait_log(r"ERROR .*imap login failed", timeout=30)
    d.config_path.write_text(d.config_path.read_text().replace("salah-sandi-Xy81", stack.password))
    assert bot.stop() == 0
    bot = start_bot(bots, d, "bot2")
    d.new_mail(SUBJECT, QUESTION + "\nPassword saya: RahasiaKu123")
    wait_until(lambda: count(d, Ticket) == 1, 30, "the ticket")
    d.wait_subject(d.user, "[TTS-")
    assert bot.stop() == 0
    log = (d.tmp / "bot.log").read_text() + bot.log()
    # Local time with its UTC offset: every line says its zone.
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")
    assert all(stamp.match(line) for line in log.splitlines()), [x for x in log.splitlines() if not stamp.match(x)][:3]
    assert "salah-sandi-Xy81" not in log and "RahasiaKu123" not in log
    assert not re.search(r"(?<![\w-])secret(?![\w-])", log)
