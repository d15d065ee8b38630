"""Many mailboxes in one ``mailbot run``: start-up, threads and memory at rest, idle CPU, a burst.

    .venv/bin/python bench/mailboxes.py --n 50,200            # this checkout
    .venv/bin/python bench/mailboxes.py --n 50 --code /tmp/old # another checkout (same venv)

For each N: a config of N helpdesks (``[[helpdesks]]``, each its own fresh IMAP mailbox and SMTP
account on the local stack, SQLite), ``mailbot run`` started as ``contrib/mailbot.service`` runs it
(``PYTHONOPTIMIZE=2``), and then:

* **start-up**: seconds from the start until every mailbox has logged in and polled once (its
  ``mailbox_status`` row has ``last_ok_at``);
* **at rest** (after ``--settle`` s more): threads (``/proc/PID/task``), RSS, and the process's CPU
  over ``--idle`` s as a percentage of one core;
* **burst**: one new mail to every mailbox at once (over one SMTP connection, one after another);
  for each, the time from its sending to the delivery of its acknowledgment into the user's
  Maildir (the file's mtime, as ``bench/run.py`` measures); acked count, p50, p95, max; the peak RSS
  of the process (VmHWM) after it.

Prints one line per N and writes ``results.json`` into ``--work``. It never stops or restarts the
mail stack. The shared Dovecot runs its default 100 ``imap-login`` processes, one per connection
while it logs in, and with TLS for the whole life of the connection (the login process is the
TLS proxy of the session). So over IMAPS the shared stack takes at most 100 connections, from
everyone: the benchmark watches the mailboxes over plain IMAP (``--imap tls`` for IMAPS, N well
under 100 only, or it starves everyone's tests). This checkout caps its logins
(``[workers] max_concurrent_logins``, default 20); an older checkout opens all at once, so keep N
of those runs under 100 too.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import mailstack as ms
from tests.support import pgstack
from tests.support.fleet import fleet_config


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def polled(db_url: str) -> int:
    query = "SELECT count(*) FROM mailbox_status WHERE kind = 'imap' AND last_ok_at IS NOT NULL"
    if db_url.startswith("sqlite:///"):
        try:
            with sqlite3.connect(f"file:{db_url.removeprefix('sqlite:///')}?mode=ro", uri=True, timeout=5) as conn:
                return int(conn.execute(query).fetchone()[0])
        except sqlite3.Error:
            return 0
    import psycopg

    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0


def measure(n: int, code: Path, work: Path, stack: ms.MailStack, args: argparse.Namespace) -> dict[str, Any]:
    run_dir = work / f"n{n}-{uuid.uuid4().hex[:6]}"
    run_dir.mkdir(parents=True)
    db = run_dir / "mailbot.db"
    config = run_dir / "mailbot.toml"
    tls = args.imap == "tls"
    db_url = pgstack.fresh_database("bench") if args.db == "postgresql" else f"sqlite:///{db}"
    desks = fleet_config(config, stack, n, db_url, tag=f"mb{uuid.uuid4().hex[:4]}",
                         imap_port=stack.imaps_port if tls else stack.imap_port, imap_security="ssl" if tls else "none")
    # Schema first (not timed), with the checkout under test.
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                    "from mailbot.storage import store; store.upgrade(store.make_engine(sys.argv[2]))",
                    str(code), db_url], check=True, capture_output=True, cwd=ROOT)
    env = {**os.environ, "PYTHONOPTIMIZE": "2", "PYTHONUNBUFFERED": "1"}
    log = (run_dir / "run.log").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "botrun.py"), str(code), "--", "--config",
                             str(config), "run"], stdout=log, stderr=log, env=env, cwd=ROOT)
    result: dict[str, Any] = {"n": n, "code": str(code), "db": args.db}
    try:
        while polled(db_url) < n:
            if proc.poll() is not None:
                raise RuntimeError(f"mailbot run exited {proc.returncode}; see {run_dir / 'run.log'}")
            if time.monotonic() - started > args.timeout:
                raise RuntimeError(f"only {polled(db_url)} of {n} mailboxes polled after {args.timeout} s")
            time.sleep(0.25)
        result["startup_s"] = round(time.monotonic() - started, 1)
        time.sleep(args.settle)
        result["threads"] = len(os.listdir(f"/proc/{proc.pid}/task"))
        result["rss_rest_mb"] = round(proc_status(proc.pid, "VmRSS") / 1024, 1)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.idle)
        result["idle_cpu_pct"] = round(100 * (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0), 2)
        if args.burst:
            result.update(burst(stack, desks, args.burst_timeout))
            result["rss_peak_mb"] = round(proc_status(proc.pid, "VmHWM") / 1024, 1)
        errors = [line for line in (run_dir / "run.log").read_text(errors="replace").splitlines() if " ERROR " in line]
        result["error_lines"] = len(errors)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    return result


def burst(stack: ms.MailStack, desks: list[Any], timeout: float) -> dict[str, Any]:
    import smtplib

    sent: dict[str, float] = {}
    users = {}
    with smtplib.SMTP(stack.host, stack.smtp_port, timeout=60) as smtp:
        for desk in desks:
            user = ms.unique_address("warga", "vendor.test")
            msg = EmailMessage()
            msg["From"] = f"Warga <{user}>"
            msg["To"] = desk.address
            msg["Subject"] = "Kendala upload dokumen penawaran"
            msg["Message-ID"] = make_msgid(domain="vendor.test")
            msg.set_content("Selamat siang, upload dokumen penawaran gagal terus. Mohon bantuan.")
            sent[user] = time.time()
            smtp.send_message(msg, from_addr=user, to_addrs=[desk.address])
            users[user] = desk
    latencies: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(latencies) < len(users) and time.monotonic() < deadline:
        for user in users:
            if user in latencies:
                continue
            new = ms.maildir(stack, user) / "new"
            files = list(new.iterdir()) if new.is_dir() else []
            if files:  # the acknowledgment is the first mail this fresh user gets
                latencies[user] = min(f.stat().st_mtime for f in files) - sent[user]
        time.sleep(0.2)
    values = sorted(latencies.values())

    def pct(p: float) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))], 2) if values else float("nan")

    return {"burst_acked": len(values), "burst_sent": len(users), "ack_p50_s": pct(0.5), "ack_p95_s": pct(0.95),
            "ack_max_s": round(values[-1], 2) if values else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="50,200", help="mailbox counts, comma-separated")
    parser.add_argument("--code", default=str(ROOT), help="the mailbot checkout to run")
    parser.add_argument("--work", default="/tmp/mailbot-bench-mailboxes")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after start-up before 'at rest'")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds over which idle CPU is measured")
    parser.add_argument("--no-burst", dest="burst", action="store_false")
    parser.add_argument("--burst-timeout", type=float, default=180.0)
    parser.add_argument("--timeout", type=float, default=300.0, help="longest start-up")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the database (postgresql: a fresh database on scripts/pgstack.sh's cluster)")
    parser.add_argument("--imap", choices=("plain", "tls"), default="plain",
                        help="plain IMAP (port 11143, default) or IMAPS; see the docstring on Dovecot's TLS proxies")
    args = parser.parse_args()
    stack = ms.ensure_started()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for n in [int(x) for x in args.n.split(",")]:
        r = measure(n, Path(args.code).resolve(), work, stack, args)
        results.append(r)
        line = (f"N={n}: all polled in {r['startup_s']} s; at rest {r['threads']} threads, "
                f"{r['rss_rest_mb']} MB RSS, idle CPU {r['idle_cpu_pct']} %")
        if args.burst:
            line += (f"; burst {r['burst_acked']}/{r['burst_sent']} acked, p50 {r['ack_p50_s']} s, "
                     f"p95 {r['ack_p95_s']} s, max {r['ack_max_s']} s; peak RSS {r['rss_peak_mb']} MB")
        line += f"; {r['error_lines']} error lines"
        print(line, flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=2))
    pgstack.drop_created()
    return 0


if __name__ == "__main__":
    sys.exit(main())
