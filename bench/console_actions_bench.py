"""Times the console's actions (``service.console_actions``): one form's transaction, from the claim of
its idempotency token to the commit (decide, events, the queued mail rendered and stored).

A fresh helpdesk database (SQLite in a temporary folder, or a new database on the shared pgstack with
``--backend postgresql``) gets ``--tickets`` tickets by ``process_raw``, as mail; then each action is
timed once per ticket, in this order: take, note, reply, request_data, close, reopen; and
``open_for_caller`` ``--tickets`` times. Prints p50 / p95 / max in milliseconds per action.

    .venv/bin/python bench/console_actions_bench.py
    .venv/bin/python bench/console_actions_bench.py --backend postgresql --tickets 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailbot.service.app import build_app
from mailbot.service.console_actions import ActionForm, CallerForm, act, open_for_caller
from mailbot.service.inbound import process_raw
from mailbot.settings.loading import load_settings
from tests.support.offline_config import offline_toml

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
STAFF = "staf@lpse.test"


def config(tmp: Path, url: str) -> Path:
    path = tmp / "mailbot.toml"
    path.write_text(offline_toml(url, name="Helpdesk Bench", secret="bench-secret-0123456789abcdef",
                                 staff=(STAFF, "rekan@lpse.test")))
    return path


def mail(i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Penyedia {i} <p{i}@vendor.test>"
    msg["To"] = "helpdesk@lpse.test"
    msg["Subject"] = f"Gagal upload dokumen penawaran {i}"
    msg["Date"] = format_datetime(NOW)
    msg["Message-ID"] = f"<bench-{i}@vendor.test>"
    msg.set_content(f"Upload penawaran tender 1004{i:04d} gagal terus sejak pagi. HP 0812-3456-{i:04d}")
    return msg.as_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--tickets", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mailbot-actions-"))
    if args.backend == "postgresql":
        os.environ["MAILBOT_TEST_DB"] = "postgresql"
        from tests.support.pgstack import database_url
        url = database_url(tmp, "actions")
    else:
        url = f"sqlite:///{tmp}/actions.db"
    app = build_app(load_settings(config(tmp, url)))
    ids = [process_raw(app, mail(i), NOW).ticket_id for i in range(args.tickets)]
    plan = [("take", ActionForm("take")), ("note", ActionForm("note", text="Dicek di server.")),
            ("reply", ActionForm("reply", text="Mohon tunggu, sedang kami periksa.")),
            ("request_data", ActionForm("request_data", text="Mohon dilengkapi.", items=("Kode tender/paket",))),
            ("close", ActionForm("close", text="Sudah kami perbaiki, silakan coba lagi.")),
            ("reopen", ActionForm("reopen"))]
    timings: dict[str, list[float]] = {}
    now = NOW + timedelta(minutes=5)
    for name, fields in plan:
        for n, tid in enumerate(ids):
            assert tid is not None
            start = time.perf_counter()
            result = act(app, tid, STAFF, fields, f"{name}-{n}", now)
            timings.setdefault(name, []).append((time.perf_counter() - start) * 1000)
            assert result.status == "done", (name, result)
    for n in range(args.tickets):
        start = time.perf_counter()
        result = open_for_caller(app, STAFF, CallerForm(f"c{n}@vendor.test", f"Lupa kata sandi {n}",
                                                        "Penelepon lupa kata sandi akun penyedia.", "telepon",
                                                        "0813 1111 2222"), f"caller-{n}", now)
        timings.setdefault("open_for_caller", []).append((time.perf_counter() - start) * 1000)
        assert result.status == "done", result
    app.factory.kw["bind"].dispose()
    if args.backend == "postgresql":
        from tests.support.pgstack import drop_database
        drop_database(url)
    print(f"backend {args.backend}, {args.tickets} tickets; ms per action (one transaction)")
    print(f"{'action':<16} {'p50':>7} {'p95':>7} {'max':>7}")
    for name, values in timings.items():
        values.sort()
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        print(f"{name:<16} {statistics.median(values):7.1f} {p95:7.1f} {values[-1]:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
