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

* **steady** (``--steady S``): ``--rate`` mails a second (5) for S seconds, each from a fresh user to
  a helpdesk drawn at random; acked count, p50, p95, max as for the burst.

``--server own`` (for N beyond the shared stack's limits, e.g. 300 and 600): a Dovecot of the
benchmark's own (``tests.support.fleet.SmallDovecot``: plain IMAP on loopback, N + 200 ``imap``
processes, 100 logins at once, ``verbose_proctitle``); the mail goes straight into its Maildirs
(``tmp/`` then ``new/``, as a delivery agent does); start-up also waits until the server shows every
session in IDLE (its process titles). The acknowledgments still go out through the shared Postfix.
Dovecot's IDLE needs an inotify instance per session, counted per Unix user (``vmail``, shared with
the shared stack), limit ``fs.inotify.max_user_instances`` (128): ``--inotify 2048`` raises it for
the run (root) and restores it after; without it, sessions beyond the limit look at their folder
every ``mailbox_idle_check_interval`` (``--idle-check``; Dovecot's default 30 s).

``--workers W --db postgresql`` (with ``--steady``): W ``mailbot run`` sharing the N mailboxes
(``[workers] share_mailboxes``, ``--lease``), the steady load, the first worker SIGKILLed
``--kill-after`` s into it: acks per user (exactly once?), seconds until its mailboxes' leases are
held by the others, and when the first mail sent to them after the kill was acknowledged.

    .venv/bin/python bench/mailboxes.py --server own --inotify 2048 --n 300,600 --idle 60 --steady 120
    .venv/bin/python bench/mailboxes.py --server own --db postgresql --workers 3 --n 60 --steady 90

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
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import mailstack as ms
from tests.support import pgstack
from tests.support.fleet import SmallDovecot, fleet_config


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


def idle_sessions(dv: SmallDovecot) -> int:
    """IMAP sessions of our own Dovecot now in IDLE, as the server sees them: with
    ``verbose_proctitle`` each ``imap`` process's title (prefixed by the instance's name) ends in
    its current command."""
    prefix = f"dovecot-mbdv-{dv.port}/imap ".encode()
    count = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            count += title.startswith(prefix) and b" IDLE]" in title
    return count


def user_mail(user: str, to: str, n: int = 0) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Warga <{user}>"
    msg["To"] = to
    msg["Subject"] = "Kendala upload dokumen penawaran"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="vendor.test")
    msg.set_content(f"Selamat siang, upload dokumen penawaran gagal terus ({n}). Mohon bantuan.")
    return msg


class Sender:
    """Sends a user's mail to a helpdesk: through the shared stack's SMTP, or straight into our own
    Dovecot's Maildir (``--server own``: its INBOXes are not the shared Postfix's destination)."""

    def __init__(self, stack: ms.MailStack, dv: SmallDovecot | None) -> None:
        import smtplib

        self.dv = dv
        self.smtp = None if dv else smtplib.SMTP(stack.host, stack.smtp_port, timeout=60)

    def send(self, user: str, desk: Any, n: int = 0) -> float:
        msg = user_mail(user, desk.address, n)
        sent = time.time()
        if self.dv:
            self.dv.deliver(desk.address, msg.as_bytes())
        else:
            assert self.smtp is not None
            self.smtp.send_message(msg, from_addr=user, to_addrs=[desk.address])
        return sent

    def close(self) -> None:
        if self.smtp:
            self.smtp.quit()


def acked_files(stack: ms.MailStack, user: str) -> list[Path]:
    box = ms.maildir(stack, user)
    return [f for sub in ("new", "cur") if (box / sub).is_dir() for f in (box / sub).iterdir()]


def wait_acks(stack: ms.MailStack, sent: dict[str, float], timeout: float) -> dict[str, float]:
    """user -> seconds from the sending of their mail to the delivery of their acknowledgment (the
    first mail a fresh user gets; the file's mtime, as ``bench/run.py`` measures)."""
    latencies: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(latencies) < len(sent) and time.monotonic() < deadline:
        for user in sent:
            if user not in latencies:
                files = acked_files(stack, user)
                if files:
                    latencies[user] = min(f.stat().st_mtime for f in files) - sent[user]
        time.sleep(0.2)
    return latencies


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p * len(values)))], 2) if values else float("nan")


def stats(prefix: str, latencies: dict[str, float], sent: int) -> dict[str, Any]:
    values = list(latencies.values())
    return {f"{prefix}_acked": len(values), f"{prefix}_sent": sent, f"{prefix}_p50_s": pct(values, 0.5),
            f"{prefix}_p95_s": pct(values, 0.95), f"{prefix}_max_s": round(max(values), 2) if values else None}


def steady(stack: ms.MailStack, sender: Sender, desks: list[Any], rate: float, seconds: float,
           on_tick: Any = None) -> dict[str, float]:
    """``rate`` mails a second for ``seconds``, each from a fresh user to a helpdesk drawn at random;
    returns user -> sending time. ``on_tick(elapsed)`` runs between sendings."""
    sent: dict[str, float] = {}
    users: dict[str, Any] = {}
    t0 = time.monotonic()
    for i in range(int(rate * seconds)):
        due = t0 + i / rate
        while (now := time.monotonic()) < due:
            if on_tick:
                on_tick(now - t0)
            time.sleep(min(0.05, due - now))
        user = ms.unique_address("warga", "vendor.test")
        desk = random.choice(desks)
        sent[user] = sender.send(user, desk, i)
        users[user] = desk
    steady.users = users  # type: ignore[attr-defined]
    return sent


def start_bot(code: Path, config: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], Any]:
    env = {**os.environ, "PYTHONOPTIMIZE": "2", "PYTHONUNBUFFERED": "1"}
    log = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "botrun.py"), str(code), "--", "--config",
                             str(config), "run"], stdout=log, stderr=log, env=env, cwd=ROOT)
    return proc, log


def stop_bot(proc: subprocess.Popen[bytes], log: Any) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


def error_lines(*logs: Path) -> int:
    return sum(1 for log in logs for line in log.read_text(errors="replace").splitlines() if " ERROR " in line)


def setup(n: int, code: Path, work: Path, stack: ms.MailStack, args: argparse.Namespace,
          dv: SmallDovecot | None, extra: str = "") -> tuple[Path, Path, str, list[Any]]:
    run_dir = work / f"n{n}-{uuid.uuid4().hex[:6]}"
    run_dir.mkdir(parents=True)
    config = run_dir / "mailbot.toml"
    tls = args.imap == "tls"
    db_url = pgstack.fresh_database("bench") if args.db == "postgresql" else f"sqlite:///{run_dir / 'mailbot.db'}"
    if dv:
        desks = fleet_config(config, stack, n, db_url, tag=f"mb{uuid.uuid4().hex[:4]}", imap_host=dv.host,
                             imap_port=dv.port, imap_security="none", extra=extra)
    else:
        desks = fleet_config(config, stack, n, db_url, tag=f"mb{uuid.uuid4().hex[:4]}", extra=extra,
                             imap_port=stack.imaps_port if tls else stack.imap_port,
                             imap_security="ssl" if tls else "none")
    # Schema first (not timed), with the checkout under test.
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                    "from mailbot.storage import store; store.upgrade(store.make_engine(sys.argv[2]))",
                    str(code), db_url], check=True, capture_output=True, cwd=ROOT)
    return run_dir, config, db_url, desks


def measure(n: int, code: Path, work: Path, stack: ms.MailStack, args: argparse.Namespace,
            dv: SmallDovecot | None) -> dict[str, Any]:
    run_dir, config, db_url, desks = setup(n, code, work, stack, args, dv)
    started = time.monotonic()
    proc, log = start_bot(code, config, run_dir / "run.log")
    result: dict[str, Any] = {"n": n, "code": str(code), "db": args.db, "server": args.server,
                              "load_before": os.getloadavg()[0]}
    try:
        while polled(db_url) < n or (dv and idle_sessions(dv) < n):
            if proc.poll() is not None:
                raise RuntimeError(f"mailbot run exited {proc.returncode}; see {run_dir / 'run.log'}")
            if time.monotonic() - started > args.timeout:
                raise RuntimeError(f"only {polled(db_url)} of {n} mailboxes polled "
                                   f"({idle_sessions(dv) if dv else '?'} in IDLE) after {args.timeout} s")
            if "startup_s" not in result and polled(db_url) >= n:
                result["startup_s"] = round(time.monotonic() - started, 1)
            time.sleep(0.25)
        result.setdefault("startup_s", round(time.monotonic() - started, 1))
        if dv:
            result["all_idle_s"] = round(time.monotonic() - started, 1)
        time.sleep(args.settle)
        result["threads"] = len(os.listdir(f"/proc/{proc.pid}/task"))
        result["rss_rest_mb"] = round(proc_status(proc.pid, "VmRSS") / 1024, 1)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.idle)
        result["idle_cpu_pct"] = round(100 * (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0), 2)
        sender = Sender(stack, dv)
        try:
            if args.burst:
                sent = {}
                for i, desk in enumerate(desks):
                    user = ms.unique_address("warga", "vendor.test")
                    sent[user] = sender.send(user, desk, i)
                result.update(stats("burst", wait_acks(stack, sent, args.burst_timeout), len(sent)))
                result["rss_peak_mb"] = round(proc_status(proc.pid, "VmHWM") / 1024, 1)
            if args.steady:
                sent = steady(stack, sender, desks, args.rate, args.steady)
                result.update(stats("steady", wait_acks(stack, sent, args.burst_timeout), len(sent)))
                result["rss_after_mb"] = round(proc_status(proc.pid, "VmRSS") / 1024, 1)
        finally:
            sender.close()
        result["error_lines"] = error_lines(run_dir / "run.log")
    finally:
        stop_bot(proc, log)
    return result


def lease_holders(db_url: str) -> dict[str, int]:
    """helpdesk key -> pid of the worker whose lease on its mailbox is live."""
    import psycopg

    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute("SELECT helpdesk, holder FROM mailbox_leases "
                            "WHERE expires_at > (now() AT TIME ZONE 'utc')").fetchall()
    return {str(key): int(str(holder).split(":")[1]) for key, holder in rows}


def measure_workers(n: int, code: Path, work: Path, stack: ms.MailStack, args: argparse.Namespace,
                    dv: SmallDovecot | None) -> dict[str, Any]:
    """``--workers W`` ``mailbot run`` processes share ``n`` mailboxes (PostgreSQL leases); steady load;
    the first worker is killed (SIGKILL) ``--kill-after`` s into it."""
    extra = f"[workers]\nshare_mailboxes = true\nlease_seconds = {args.lease}\n"
    run_dir, config, db_url, desks = setup(n, code, work, stack, args, dv, extra)
    logs = [run_dir / f"worker{i}.log" for i in range(args.workers)]
    bots = [start_bot(code, config, log) for log in logs]
    result: dict[str, Any] = {"n": n, "workers": args.workers, "lease_s": args.lease, "load_before": os.getloadavg()[0]}
    started = time.monotonic()
    try:
        while len(lease_holders(db_url)) < n or polled(db_url) < n:
            if time.monotonic() - started > args.timeout:
                raise RuntimeError(f"{len(lease_holders(db_url))} of {n} mailboxes leased after {args.timeout} s")
            time.sleep(0.5)
        result["startup_s"] = round(time.monotonic() - started, 1)
        # The first worker up takes everything, then gives up the others' fair shares.
        while True:
            held = lease_holders(db_url)
            split = sorted(list(held.values()).count(p.pid) for p, _ in bots)
            if (len(held) == n and split[-1] - split[0] <= 1) or time.monotonic() - started > args.timeout:
                break
            time.sleep(0.5)
        result["balanced_s"] = round(time.monotonic() - started, 1)
        result["split"] = split
        victim = bots[0][0]
        state: dict[str, Any] = {}

        def tick(elapsed: float) -> None:
            if "killed_at" not in state and elapsed >= args.kill_after:
                state["boxes"] = {k for k, pid in lease_holders(db_url).items() if pid == victim.pid}
                victim.kill()
                state["killed_at"] = time.time()
                state["killed_mono"] = time.monotonic()
            elif "killed_at" in state and "resumed_s" not in state and int(elapsed * 20) % 10 == 0:
                live = lease_holders(db_url)
                if all(k in live and live[k] != victim.pid for k in state["boxes"]):
                    state["resumed_s"] = round(time.monotonic() - state["killed_mono"], 1)

        sender = Sender(stack, dv)
        try:
            sent = steady(stack, sender, desks, args.rate, args.steady, tick)
        finally:
            sender.close()
        users = steady.users  # type: ignore[attr-defined]
        latencies = wait_acks(stack, sent, args.burst_timeout)
        while "resumed_s" not in state and time.monotonic() - state["killed_mono"] < args.timeout:
            tick(1e9)
            time.sleep(0.5)
        time.sleep(args.lease)  # late duplicates would arrive by now
        counts = [len(acked_files(stack, u)) for u in sent]
        result.update(stats("steady", latencies, len(sent)))
        result["killed_boxes"] = len(state.get("boxes", ()))
        result["leases_taken_over_s"] = state.get("resumed_s")
        victims = {u for u, d in users.items() if d.key in state.get("boxes", ())}
        after = [sent[u] + latencies[u] - state["killed_at"] for u in victims
                 if u in latencies and sent[u] > state["killed_at"]]
        before = [sent[u] + latencies[u] - state["killed_at"] for u in victims
                  if u in latencies and sent[u] <= state["killed_at"]]
        result["killed_boxes_first_ack_after_kill_s"] = round(min(after), 1) if after else None
        result["killed_boxes_last_pending_ack_after_kill_s"] = round(max(before), 1) if before else None
        result["acked_once"] = counts.count(1)
        result["acked_twice_or_more"] = sum(1 for c in counts if c > 1)
        result["not_acked"] = counts.count(0)
        result["error_lines"] = error_lines(*logs)
    finally:
        for proc, log in bots:
            stop_bot(proc, log)
    return result


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
    parser.add_argument("--server", choices=("shared", "own"), default="shared",
                        help="own: a Dovecot of the benchmark's own (plain IMAP on loopback, N + 200 imap "
                             "processes, mail delivered into its Maildirs), for N beyond the shared stack's limits")
    parser.add_argument("--inotify", type=int, default=0,
                        help="raise fs.inotify.max_user_instances to this for the run (root; restored after): "
                             "Dovecot's IDLE needs one per session of the mail user, the default 128 is shared by "
                             "every Dovecot on the machine")
    parser.add_argument("--idle-check", default=None,
                        help="own Dovecot's mailbox_idle_check_interval (e.g. '1 secs'; Dovecot's default 30 secs)")
    parser.add_argument("--steady", type=float, default=0.0, help="seconds of steady load after the burst (0: none)")
    parser.add_argument("--rate", type=float, default=5.0, help="mails per second of the steady load")
    parser.add_argument("--workers", type=int, default=0,
                        help="W > 0: W workers share the N mailboxes (--db postgresql), one SIGKILLed mid-load")
    parser.add_argument("--kill-after", type=float, default=30.0, help="seconds into the steady load")
    parser.add_argument("--lease", type=float, default=30.0, help="[workers] lease_seconds")
    args = parser.parse_args()
    stack = ms.ensure_started()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    inotify = Path("/proc/sys/fs/inotify/max_user_instances")
    saved = inotify.read_text().strip()
    if args.inotify:
        inotify.write_text(str(args.inotify))
    try:
        for n in [int(x) for x in args.n.split(",")]:
            dv = SmallDovecot(100, password=stack.password, process_limit=n + 200,
                              idle_check_interval=args.idle_check).start() if args.server == "own" else None
            try:
                if args.workers:
                    r = measure_workers(n, Path(args.code).resolve(), work, stack, args, dv)
                    print(json.dumps(r), flush=True)
                    results.append(r)
                    continue
                r = measure(n, Path(args.code).resolve(), work, stack, args, dv)
            finally:
                if dv:
                    dv.stop()
            results.append(r)
            line = (f"N={n}: all polled in {r['startup_s']} s" + (f", all in IDLE in {r['all_idle_s']} s" if dv else "")
                    + f"; at rest {r['threads']} threads, {r['rss_rest_mb']} MB RSS, idle CPU {r['idle_cpu_pct']} %")
            if args.burst:
                line += (f"; burst {r['burst_acked']}/{r['burst_sent']} acked, p50 {r['burst_p50_s']} s, "
                         f"p95 {r['burst_p95_s']} s, max {r['burst_max_s']} s; peak RSS {r['rss_peak_mb']} MB")
            if args.steady:
                line += (f"; steady {args.rate}/s: {r['steady_acked']}/{r['steady_sent']} acked, p50 "
                         f"{r['steady_p50_s']} s, p95 {r['steady_p95_s']} s, max {r['steady_max_s']} s")
            line += f"; {r['error_lines']} error lines; load before {r['load_before']:.1f}"
            print(line, flush=True)
    finally:
        inotify.write_text(saved)
        (work / "results.json").write_text(json.dumps(results, indent=2))
        pgstack.drop_created()
    return 0


if __name__ == "__main__":
    sys.exit(main())
