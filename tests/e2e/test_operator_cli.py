"""What the operator reads on the real stack: ``mailbot run``'s log at start (one line per mailbox,
no scheduler chatter), and times that name their zone."""

from __future__ import annotations

import re

from tests.e2e.conftest import Deployment
from tests.support.botproc import BotProcess, wait_until

STAMP = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d "


def test_run_logs_one_line_per_mailbox_and_no_scheduler_chatter(deployment: Deployment) -> None:
    d = deployment
    bot = BotProcess(d.config_path, d.tmp / "run.log").start()  # as the service runs it: no -v
    try:
        [line] = bot.wait_log(r"watching mailbox ", timeout=30)
        assert re.match(STAMP + r"INFO mailbot\.ops\.poller: watching mailbox " + re.escape(d.helpdesk), line), line
        # The first SLA tick runs at once (then every minute) and the IDLE loop is entered: give them time.
        wait_until(bot.handles_sigterm, 30, "mailbot run to serve")
        d.new_mail("Akun terkunci", "Akun saya terkunci sejak pagi, mohon dibantu.")
        bot.wait_log(r"mail uid=\d+ -> opened", timeout=60)
        d.wait_subject(d.staff1, "Tiket baru")
    finally:
        assert bot.stop() == 0
    log = bot.log().splitlines()
    assert not [x for x in log if not re.match(STAMP, x)], log  # every line says its zone
    assert len([x for x in log if "watching mailbox" in x]) == 1, log
    # What the operator sees: the mailbox, the mail, the outbox, the stop (and any outage); nothing
    # of the clockwork: no scheduler lines, no SLA tick that found nothing.
    chatter = re.compile(r"apscheduler|Adding job|Running job|executed successfully|Scheduler started|"
                         r"sla: checked=\d+ warnings=0 breaches=0 reminders=0 autoclosed=0 errors=0")
    assert not [x for x in log if chatter.search(x)], log


def test_tickets_show_and_lists_name_the_zone(deployment: Deployment) -> None:
    d = deployment
    d.open_ticket("Gagal upload dokumen", "Tidak bisa upload dokumen penawaran, muncul error.")
    code, out, err = d.cli("tickets", "show", "TTS-000001", "--config", str(d.config_path))
    assert code == 0, err
    stamps = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)? ?(\w*)", out)
    assert stamps and set(stamps) == {"WIB"}, out
    code, out, err = d.cli("status", "--offline")
    assert re.search(r"\(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", out.splitlines()[0]), out
    assert "last poll " in out and " UTC (" in out, out
