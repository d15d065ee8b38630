"""mailbot benchmark on the real local mail stack: backlog throughput, peak RSS, IDLE ack latency,
against the raw limit and django-helpdesk. Prints numbers; see bench/README.md.

    .venv/bin/python bench/run.py                       # N = 1000, everything
    .venv/bin/python bench/run.py --n 1000,10000        # both sizes, with a growth table
    .venv/bin/python bench/run.py --only bot,raw --profile
    .venv/bin/python bench/run.py --code /tmp/benchcopy # measure a scratch copy of the repo
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import re
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))

from bench import corpus
from tests.support import mailstack as ms

PY = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DJHD_VENV = Path(os.environ.get("BENCH_DJHD_VENV", "/tmp/djhd-venv"))
#: The environment of the bot's processes (``--env NAME=VALUE`` adds to it, e.g. MALLOC_ARENA_MAX=2).
#: PYTHONOPTIMIZE=2 as in contrib/mailbot.service (``--env PYTHONOPTIMIZE=0`` measures without it).
BOT_ENV: dict[str, str] = {"PYTHONOPTIMIZE": "2", **os.environ}
PYSPY = os.environ.get("BENCH_PYSPY", shutil.which("py-spy") or "/tmp/bench-tools/bin/py-spy")


# ---- small helpers -----------------------------------------------------------------------


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def machine_busy_s() -> float:
    """CPU seconds all cores have been busy since boot (``/proc/stat``: everything but idle and iowait)."""
    with open("/proc/stat") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this benchmark process itself (its delivery checks and RSS sampler)."""
    t = os.times()
    return t.user + t.system


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def stack_env() -> ms.MailStack:
    """The running shared stack; start it only if it is down (never restart it)."""
    status = subprocess.run(["bash", str(ms.SCRIPT), "status"], capture_output=True, text=True)
    if status.returncode != 0:
        say("mail stack is down: starting it (scripts/mailstack.sh start)")
        return ms.ensure_started()
    return ms._from_env(ms._read_env())


def fill_lmtp(stack: ms.MailStack, mailbox: str, mails: list[corpus.Mail]) -> float:
    """Deliver the mails into one mailbox over LMTP (as Postfix would), in order; seconds taken."""
    t = time.time()
    lmtp = smtplib.LMTP(stack.host, stack.lmtp_port, timeout=120)
    try:
        lmtp.ehlo("mx.lpse.test")  # smtplib.LMTP speaks LHLO through ehlo()
        for m in mails:
            lmtp.sendmail(m.mail_from, [mailbox], m.raw)
    finally:
        lmtp.quit()
    return time.time() - t


def readdress(mails: list[corpus.Mail], old: corpus.Addresses, new: corpus.Addresses) -> list[corpus.Mail]:
    """The same corpus for another mailbox: every address of ``old`` replaced by ``new``'s."""
    pairs = [(old.helpdesk.partition("@")[0] + "+t", new.helpdesk.partition("@")[0] + "+t"),
             (old.helpdesk, new.helpdesk), (old.lkpp, new.lkpp), (old.user_prefix, new.user_prefix)]
    pairs += list(zip(old.staff, new.staff))
    out = []
    for m in mails:
        raw, frm, rcpt = m.raw, m.mail_from, m.rcpt
        for a, b in pairs:
            raw = raw.replace(a.encode(), b.encode())
            frm, rcpt = frm.replace(a, b), rcpt.replace(a, b)
        out.append(corpus.Mail(m.kind, frm, rcpt, raw))
    return out


def addresses(tag: str, run: str) -> corpus.Addresses:
    """Fresh addresses for one copy of the corpus; every copy's strings have the same length."""
    return corpus.Addresses(
        helpdesk=f"hd{tag}-{run}@lpse.test",
        staff=(f"staf1{tag}-{run}@lpse.test", f"staf2{tag}-{run}@lpse.test"),
        lkpp=f"lkpp{tag}-{run}@lkpp.test",
        secret=f"bench-secret-0123456789-{run}",
        user_prefix=f"u{tag}-{run}-",
    )


def count_new_files(folder: Path, since: float) -> tuple[int, float]:
    """Mail files in a Maildir's INBOX (new/ and cur/) delivered at or after ``since``; latest mtime."""
    n, latest = 0, 0.0
    for sub in ("new", "cur"):
        try:
            with os.scandir(folder / sub) as it:
                for entry in it:
                    mtime = entry.stat().st_mtime
                    if mtime >= since:
                        n += 1
                        latest = max(latest, mtime)
        except FileNotFoundError:
            pass
    return n, latest


def wait_deliveries(stack: ms.MailStack, expected: Counter[str], since: float, timeout: float
                    ) -> tuple[float, int, int]:
    """Wait until each mailbox got its expected number of new mails; (last delivery, delivered, missing).

    The time of the last delivery is the newest file's mtime (Dovecot writes the file when it
    accepts the mail over LMTP), so it does not depend on how often this loop looks.
    """
    pending = {ms.mailbox_address(a): 0 for a in expected}
    want: Counter[str] = Counter()
    for a, k in expected.items():
        want[ms.mailbox_address(a)] += k
    last, done = since, 0
    deadline = time.time() + timeout
    while pending:
        for box in list(pending):
            n, latest = count_new_files(ms.maildir(stack, box), since)
            if n >= want[box]:
                last = max(last, latest)
                done += want[box]
                del pending[box]
            else:
                pending[box] = n
        if not pending or time.time() > deadline:
            break
        time.sleep(0.2)
    missing = sum(want[b] - n for b, n in pending.items())
    done += sum(pending.values())
    return last, done, missing


class RssSampler(threading.Thread):
    """Samples a process's VmRSS and VmHWM (its peak RSS) from /proc every ``every`` seconds.

    The peak is VmHWM, not wait4's ru_maxrss: on Linux ru_maxrss carries over the RSS the
    forked child had before exec (a copy of this benchmark process), which is not the bot's.
    """

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.samples = pid, every, []  # type: ignore[var-annotated]
        self.peak_mb = 0.0
        self.stop = threading.Event()
        self.thread_cpu: dict[int, float] = {}  # tid -> user+system CPU seconds at the last sample

    def run(self) -> None:
        t0 = time.time()
        k = 0
        while not self.stop.is_set():
            try:
                fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines())
                if "VmHWM" in fields:
                    self.peak_mb = max(self.peak_mb, int(fields["VmHWM"].split()[0]) / 1024)
                    if k % 5 == 0:
                        self.samples.append((round(time.time() - t0, 1), int(fields["VmRSS"].split()[0]) / 1024))
            except (FileNotFoundError, ProcessLookupError, ValueError, KeyError):
                return
            self._threads()
            k += 1
            self.stop.wait(self.every)

    def _threads(self) -> None:
        """CPU time of each of the process's threads so far (utime + stime of /proc/PID/task/TID/stat)."""
        try:
            tids = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return
        for tid in tids:
            try:
                stat = Path(f"/proc/{self.pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            self.thread_cpu[int(tid)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Proc:
    rc: int
    t0: float
    wall: float
    peak_rss_mb: float
    cpu_s: float
    rss_series: list[tuple[float, float]] = field(default_factory=list)
    main_thread_cpu_s: float = 0.0  # up to the last sample (0.1 s before the end at most)
    other_threads_cpu_s: float = 0.0


def run_measured(cmd: list[str], *, env: dict[str, str] | None = None, stdout: Path, stderr: Path,
                 cwd: Path | None = None) -> Proc:
    """Run a command; CPU time from wait4's rusage, peak RSS from /proc (RssSampler)."""
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        t0 = time.time()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        sampler = RssSampler(p.pid)
        sampler.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.time() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop.set()
    sampler.join()
    main = sampler.thread_cpu.get(p.pid, 0.0)
    return Proc(p.returncode, t0, wall, sampler.peak_mb, ru.ru_utime + ru.ru_stime, sampler.samples,
                main, sum(sampler.thread_cpu.values()) - main)


def write_config(path: Path, stack: ms.MailStack, a: corpus.Addresses, db: Path, *, extra: str = "") -> Path:
    path.write_text(textwrap.dedent(f"""
        [helpdesk]
        name = "Helpdesk LPSE Kota Uji"
        address = "{a.helpdesk}"
        timezone = "Asia/Jakarta"
        phone = "(0271) 555-0100"
        secret = "{a.secret}"
        [imap]
        host = "{stack.host}"
        port = {stack.imaps_port}
        security = "ssl"
        username = "{a.helpdesk}"
        password = "{stack.password}"
        ca_file = "{stack.ca_file}"
        {extra}
        [smtp]
        host = "{stack.host}"
        port = {stack.submission_port}
        security = "starttls"
        username = "{a.helpdesk}"
        password = "{stack.password}"
        ca_file = "{stack.ca_file}"
        [staff]
        addresses = ["{a.staff[0]}", "{a.staff[1]}"]
        [escalation]
        lkpp_address = "{a.lkpp}"
        [database]
        url = "sqlite:///{db}"
    """))
    return path


def outbox_of(db: Path) -> list[tuple[str, list[str], bytes, str]]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("select mail_from, recipients, raw, status from outbox order by id").fetchall()
    finally:
        con.close()
    return [(f, json.loads(r), raw, s) for f, r, raw, s in rows]


def templates_of(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("select template, count(*) from messages where direction = 'out' "
                                "group by template order by 2 desc").fetchall())
    finally:
        con.close()


def scalar(db: Path, sql: str) -> Any:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


# ---- the measurements -----------------------------------------------------------------------


def bot_backlog(stack: ms.MailStack, work: Path, a: corpus.Addresses, n: int, code: str, *,
                pyspy: str = "", count: bool = False, label: str = "bot") -> dict[str, Any]:
    db = work / f"{label}.db"
    cfg = write_config(work / f"{label}.toml", stack, a, db)
    # The schema first (not timed: a deployment has it); poll --once then finds it up to date.
    subprocess.run([PY, str(BENCH / "botrun.py"), code, "--", "--config", str(cfg), "db", "upgrade"],
                   check=True, capture_output=True)
    cmd = [PY, str(BENCH / "botrun.py"), code]
    if count:
        cmd += ["--count", str(work / f"{label}-counts.json")]
    cmd += ["--", "--config", str(cfg), "poll", "--once"]
    if pyspy:  # "wall": every sample of every thread, waiting included; "cpu": only samples on CPU
        cmd = [PYSPY, "record", *(["--idle"] if pyspy == "wall" else []), "--rate", "200", "--format", "raw",
               "--nonblocking", "-o", str(work / f"{label}-pyspy.txt"), "--", *cmd]
    before = load()
    say(f"{label}: mailbot poll --once on {n} mails ({before})")
    machine0, own0 = machine_busy_s(), own_cpu_s()
    proc = run_measured(cmd, stdout=work / f"{label}.out", stderr=work / f"{label}.err", env=BOT_ENV)
    if proc.rc != 0:
        raise SystemExit(f"{label}: mailbot exited {proc.rc}; see {work / (label + '.err')}")
    rows = outbox_of(db)
    expected: Counter[str] = Counter()
    for _, rcpts, _, status in rows:
        if status == "sent":
            expected.update(rcpts)
    t0 = proc.t0  # wall clock when the process was started
    last, delivered, missing = wait_deliveries(stack, expected, t0 - 0.001, timeout=120 + n * 0.05)
    # The rest of the machine's CPU in the same span: the mail stack (Postfix, Dovecot) for these mails.
    stack_cpu = machine_busy_s() - machine0 - proc.cpu_s - (own_cpu_s() - own0)
    span = last - t0
    line = (work / f"{label}.out").read_text().strip().splitlines()
    res = {
        "n": n, "process_s": proc.wall, "to_last_delivery_s": span, "mails_per_s": n / span if span > 0 else 0,
        "peak_rss_mb": proc.peak_rss_mb, "cpu_s": proc.cpu_s, "stack_cpu_s": stack_cpu,
        "sent_msgs": sum(1 for r in rows if r[3] == "sent"),
        "outbox_status": dict(Counter(r[3] for r in rows)), "deliveries": delivered, "missing": missing,
        "tickets": scalar(db, "select count(*) from tickets"), "stats": line[-1] if line else "",
        "templates": templates_of(db),
        "load_before": before, "load_after": load(), "label": label,
        "rss_series": proc.rss_series, "main_thread_cpu_s": proc.main_thread_cpu_s,
        "other_threads_cpu_s": proc.other_threads_cpu_s,
    }
    say(f"{label}: {res['mails_per_s']:.1f} mails/s ({span:.1f} s to the last delivery, process {proc.wall:.1f} s, "
        f"cpu {proc.cpu_s:.1f} s, mail stack cpu {stack_cpu:.1f} s), peak RSS {proc.peak_rss_mb:.1f} MB, "
        f"{res['sent_msgs']} mails sent "
        f"({delivered} deliveries, {missing} missing), {res['load_after']}")
    # One interpreter lock: the threads' Python code runs one at a time, so the main thread's CPU
    # plus the others' (less what they spend in C code that releases the lock) bounds the wall time.
    say(f"{label}: CPU by thread: main {proc.main_thread_cpu_s:.1f} s (intake, start-up, final flush), "
        f"others {proc.other_threads_cpu_s:.1f} s (the outbox sender)")
    say(f"{label}: {res['stats']}; sent: {res['templates']}")
    res["_rows"] = rows
    return res


def raw_limit(stack: ms.MailStack, work: Path, mailbox: str, rows: list, n: int, run: str) -> dict[str, Any]:
    """imap-tools fetch of the same N mails + aiosmtplib sending the bot's mails, one connection each."""
    mails, expected = [], Counter()
    for mail_from, rcpts, raw, status in rows:
        if status != "sent":
            continue
        new = [f"{r.partition('@')[0]}-r@{r.partition('@')[2]}" for r in rcpts]  # fresh mailboxes
        mails.append((mailbox, new, raw))
        expected.update(new)
    job = {"imap_host": stack.host, "imap_port": stack.imaps_port, "imap_user": mailbox, "smtp_host": stack.host,
           "smtp_port": stack.submission_port, "smtp_user": mailbox, "password": stack.password,
           "ca_file": str(stack.ca_file), "mails": mails, "batch": 200}
    with open(work / "raw-job.pickle", "wb") as fh:
        pickle.dump(job, fh)
    del job
    before = load()
    say(f"raw: fetch {n} mails + send {len(mails)} ({before})")
    machine0, own0 = machine_busy_s(), own_cpu_s()
    proc = run_measured([PY, str(BENCH / "rawlimit.py"), str(work / "raw-job.pickle")],
                        stdout=work / "raw.out", stderr=work / "raw.err")
    if proc.rc != 0:
        raise SystemExit(f"raw limit failed; see {work / 'raw.err'}")
    info = json.loads((work / "raw.out").read_text().strip().splitlines()[-1])
    last, delivered, missing = wait_deliveries(stack, expected, info["t_start"] - 0.001, timeout=120 + n * 0.05)
    stack_cpu = machine_busy_s() - machine0 - proc.cpu_s - (own_cpu_s() - own0)
    span = last - info["t_start"]
    res = {"n": n, "to_last_delivery_s": span, "mails_per_s": n / span if span > 0 else 0, "fetch_s": info["fetch_s"],
           "send_s": info["send_s"], "sent_msgs": info["sent"], "deliveries": delivered, "missing": missing,
           "peak_rss_mb": proc.peak_rss_mb, "cpu_s": proc.cpu_s, "stack_cpu_s": stack_cpu, "load_before": before,
           "load_after": load()}
    say(f"raw: {res['mails_per_s']:.1f} mails/s ({span:.1f} s: fetch {info['fetch_s']:.1f} s, send "
        f"{info['send_s']:.1f} s, then delivery), {delivered} deliveries, {missing} missing, {res['load_after']}")
    return res


def floor_run(stack: ms.MailStack, work: Path, mailbox: str, rows: list, n: int, label: str) -> dict[str, Any]:
    """bench/floor.py on the same N mails, sending as many replies as the bot did (its outbox, re-addressed)."""
    replies, expected = [], Counter()
    for mail_from, rcpts, raw, status in rows:
        if status != "sent":
            continue
        new = [f"{r.partition('@')[0]}-f@{r.partition('@')[2]}" for r in rcpts]  # fresh mailboxes
        replies.append((mailbox, new))
        expected.update(new)
    job = {"imap_host": stack.host, "imap_port": stack.imaps_port, "imap_user": mailbox, "smtp_host": stack.host,
           "smtp_port": stack.submission_port, "smtp_user": mailbox, "password": stack.password,
           "ca_file": str(stack.ca_file), "replies": replies, "helpdesk": mailbox, "db": str(work / f"{label}.db")}
    with open(work / f"{label}-job.pickle", "wb") as fh:
        pickle.dump(job, fh)
    before = load()
    say(f"{label}: fetch, parse, insert, render, compose, send: {n} mails, {len(replies)} replies ({before})")
    machine0, own0 = machine_busy_s(), own_cpu_s()
    proc = run_measured([PY, str(BENCH / "floor.py"), str(work / f"{label}-job.pickle")], env=BOT_ENV,
                        stdout=work / f"{label}.out", stderr=work / f"{label}.err")
    if proc.rc != 0:
        raise SystemExit(f"floor failed; see {work / (label + '.err')}")
    info = json.loads((work / f"{label}.out").read_text().strip().splitlines()[-1])
    last, delivered, missing = wait_deliveries(stack, expected, info["t_start"] - 0.001, timeout=120 + n * 0.05)
    stack_cpu = machine_busy_s() - machine0 - proc.cpu_s - (own_cpu_s() - own0)
    span = last - info["t_start"]
    res = {"n": n, "to_last_delivery_s": span, "mails_per_s": n / span if span > 0 else 0,
           "process_s": proc.wall, "sent_msgs": info["sent"], "deliveries": delivered, "missing": missing,
           "peak_rss_mb": proc.peak_rss_mb, "cpu_s": proc.cpu_s, "stack_cpu_s": stack_cpu, "load_before": before,
           "load_after": load()}
    say(f"{label}: {1000 * proc.cpu_s / n:.2f} ms CPU per mail ({proc.cpu_s:.1f} s), {res['mails_per_s']:.1f} "
        f"mails/s, {delivered} deliveries, {missing} missing, {res['load_after']}")
    return res


def djhd_setup() -> None:
    if (DJHD_VENV / "bin" / "python").exists() and subprocess.run(
            [str(DJHD_VENV / "bin" / "python"), "-c", "import helpdesk"], capture_output=True).returncode == 0:
        return
    say(f"creating {DJHD_VENV} with django-helpdesk from PyPI")
    subprocess.run([sys.executable, "-m", "venv", str(DJHD_VENV)], check=True)
    subprocess.run([str(DJHD_VENV / "bin" / "pip"), "install", "-q", "django-helpdesk"], check=True)


def djhd_backlog(stack: ms.MailStack, work: Path, a: corpus.Addresses, mails: list[corpus.Mail], n: int
                 ) -> dict[str, Any]:
    djhd_setup()
    d = work / "djhd"
    d.mkdir(parents=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench_djhd_settings", "PYTHONPATH": str(BENCH / "djhd"),
           "BENCH_DJHD_DIR": str(d), "BENCH_SMTP_HOST": stack.host, "BENCH_SMTP_PORT": str(stack.submission_port),
           "BENCH_SMTP_USER": a.helpdesk, "BENCH_SMTP_PASSWORD": stack.password, "SSL_CERT_FILE": str(stack.ca_file)}
    py = str(DJHD_VENV / "bin" / "python")
    subprocess.run([py, "-m", "django", "migrate", "-v", "0"], env=env, check=True, capture_output=True)
    subprocess.run([py, str(BENCH / "djhd" / "bench_djhd_setup.py"), a.helpdesk, ",".join(a.staff), stack.host,
                    str(stack.imaps_port)], env=env, check=True, capture_output=True)
    say(f"djhd: filling {a.helpdesk}")
    fill_lmtp(stack, a.helpdesk, mails)
    before = load()
    say(f"djhd: manage.py get_email on {n} mails ({before})")
    machine0, own0 = machine_busy_s(), own_cpu_s()
    proc = run_measured([py, "-m", "django", "get_email", "--quiet"], env=env, stdout=d / "get_email.out",
                        stderr=d / "get_email.err", cwd=d)
    problems = (d / "get_email.err").read_text(errors="replace")
    if proc.rc != 0 or "Queue processing failed" in problems:
        raise SystemExit(f"django-helpdesk get_email failed (exit {proc.rc}); see {d / 'get_email.err'}")
    t0 = proc.t0
    expected: Counter[str] = Counter()
    sent = 0
    if (d / "sent.jsonl").exists():
        for line in (d / "sent.jsonl").read_text().splitlines():
            sent += 1
            expected.update(r.strip() for r in json.loads(line)["to"])
    last, delivered, missing = wait_deliveries(stack, expected, t0 - 0.001, timeout=120 + n * 0.05)
    # The rest of the machine's CPU in the same span: the mail stack (Postfix, Dovecot) for these mails.
    stack_cpu = machine_busy_s() - machine0 - proc.cpu_s - (own_cpu_s() - own0)
    span = last - t0
    con = sqlite3.connect(d / "djhd.sqlite3")
    try:
        tickets = con.execute("select count(*) from helpdesk_ticket").fetchone()[0]
        followups = con.execute("select count(*) from helpdesk_followup").fetchone()[0]
    finally:
        con.close()
    res = {"n": n, "process_s": proc.wall, "to_last_delivery_s": span, "mails_per_s": n / span if span > 0 else 0,
           "peak_rss_mb": proc.peak_rss_mb, "cpu_s": proc.cpu_s, "stack_cpu_s": stack_cpu, "sent_msgs": sent,
           "deliveries": delivered,
           "missing": missing, "tickets": tickets, "followups": followups, "load_before": before, "load_after": load()}
    say(f"djhd: {res['mails_per_s']:.1f} mails/s ({span:.1f} s, process {proc.wall:.1f} s, cpu {proc.cpu_s:.1f} s), "
        f"peak RSS {proc.peak_rss_mb:.1f} MB, {sent} mails sent ({delivered} deliveries, {missing} missing), "
        f"{tickets} tickets / {followups} follow-ups, {res['load_after']}")
    return res


def latency(stack: ms.MailStack, work: Path, run: str, code: str, rate: float, seconds: float) -> dict[str, Any]:
    """`mailbot run` (IDLE) under a steady stream of new mails over SMTP: delivered -> ack delivered."""
    a = addresses("l", run)
    work = work / f"latency-{run}"
    work.mkdir(parents=True)
    db = work / "latency.db"
    cfg = write_config(work / "latency.toml", stack, a, db)
    subprocess.run([PY, str(BENCH / "botrun.py"), code, "--", "--config", str(cfg), "db", "upgrade"],
                   check=True, capture_output=True)
    sources = corpus.build(80, a, seed=11)[0]
    news = [m for m in sources if m.kind == "new"]
    total = int(rate * seconds)
    users = [f"{a.user_prefix}lat{i:05d}@vendor.test" for i in range(total + 1)]
    out, err = open(work / "latency.out", "wb"), open(work / "latency.err", "wb")
    proc = subprocess.Popen([PY, str(BENCH / "botrun.py"), code, "--", "--config", str(cfg), "run"],
                            stdout=out, stderr=err, env=BOT_ENV)
    sampler = RssSampler(proc.pid, every=0.5)
    sampler.start()
    try:
        def mail_for(i: int) -> bytes:
            base = news[i % len(news)]
            raw = base.raw.replace(base.mail_from.encode(), users[i].encode())
            return re.sub(rb"(?im)^(Message-ID:\s*<)[^>]*>", rb"\g<1>lat-%d-%s@vendor.test>" % (i, run.encode()),
                          raw, count=1)

        smtp = smtplib.SMTP(stack.host, stack.smtp_port, timeout=30)
        # Warm-up: one mail, wait for its ack (the bot is then connected and in IDLE).
        smtp.sendmail(users[total], [a.helpdesk], mail_for(total))
        deadline = time.time() + 60
        while count_new_files(ms.maildir(stack, users[total]), 0)[0] == 0:
            if time.time() > deadline or proc.poll() is not None:
                raise SystemExit(f"latency: no ack for the warm-up mail; see {work / 'latency.err'}")
            time.sleep(0.1)
        time.sleep(1.0)
        before = load()
        say(f"latency: {total} new mails at {rate:g}/s over SMTP to `mailbot run` ({before})")
        t_start = time.time()
        for i in range(total):
            delay = t_start + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            smtp.sendmail(users[i], [a.helpdesk], mail_for(i))
        smtp.quit()
        # Wait for every ack (the first mail in each user's mailbox).
        deadline = time.time() + 60
        acks: dict[int, float] = {}
        while len(acks) < total and time.time() < deadline:
            for i in range(total):
                if i not in acks:
                    n, latest = count_new_files(ms.maildir(stack, users[i]), 0)
                    if n:
                        acks[i] = _first_mtime(ms.maildir(stack, users[i]))
            time.sleep(0.2)
    finally:
        # SIGTERM; the service finishes the mail in hand. A second one after 5 s makes it leave at
        # once (all acks are in by then); how long the first one took is reported.
        t_term = time.time()
        proc.terminate()
        for _ in range(50):
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                break
            time.sleep(0.1)
        else:
            proc.terminate()
        _, status, ru = os.wait4(proc.pid, 0)
        stop_s = time.time() - t_term
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop.set()
        sampler.join()
        out.close()
        err.close()
    # When each mail was delivered to the helpdesk: its file's mtime (the file keeps its name,
    # inode and mtime when the bot moves it to Processed).
    arrived: dict[str, float] = {}
    hd = ms.maildir(stack, a.helpdesk)
    for folder in (hd, hd / ".Processed", hd / ".Quarantine"):
        for sub in ("new", "cur"):
            if not (folder / sub).exists():
                continue
            for entry in os.scandir(folder / sub):
                with open(entry.path, "rb") as fh:
                    head = fh.read(4096)
                sender = _header(head, b"Return-Path").strip(b"<>").decode()
                arrived[sender.lower()] = entry.stat().st_mtime
    lat = sorted(acks[i] - arrived[users[i].lower()] for i in acks if users[i].lower() in arrived)
    res = {"sent": total, "acked": len(acks), "measured": len(lat), "p50_s": _pct(lat, 50), "p95_s": _pct(lat, 95),
           "max_s": lat[-1] if lat else None, "peak_rss_mb": sampler.peak_mb, "cpu_s": ru.ru_utime + ru.ru_stime,
           "rate": rate, "seconds": seconds, "load_before": before, "load_after": load(),
           "stop_after_sigterm_s": stop_s, "exit_code": proc.returncode, "rss_series": sampler.samples}
    say(f"latency: p50 {res['p50_s']:.3f} s, p95 {res['p95_s']:.3f} s, max {res['max_s']:.3f} s "
        f"({len(lat)} of {total} acked), peak RSS {res['peak_rss_mb']:.1f} MB, {res['load_after']}; exited "
        f"{stop_s:.1f} s after SIGTERM{' (needed a second SIGTERM)' if stop_s > 5 else ''}")
    return res


def _first_mtime(maildir: Path) -> float:
    times = []
    for sub in ("new", "cur"):
        if (maildir / sub).exists():
            times += [e.stat().st_mtime for e in os.scandir(maildir / sub)]
    return min(times)


def _header(head: bytes, name: bytes) -> bytes:
    for line in head.split(b"\n"):
        if line.lower().startswith(name.lower() + b":"):
            return line.split(b":", 1)[1].strip()
    return b""


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


# ---- profile report -------------------------------------------------------------------------


def profile_report(work: Path, label: str, n: int, top: int = 25, cpu: bool = False) -> str:
    lines = []
    counts = work / f"{label}-counts.json"
    if counts.exists():
        c = json.loads(counts.read_text())
        lines.append(f"SQL statements by kind (per mail, N={n}): " + ", ".join(
            f"{k} {v} ({v / n:.1f})" for k, v in sorted(c["kinds"].items(), key=lambda kv: -kv[1])))
        lines.append("IMAP commands: " + ", ".join(f"{k} {v}" for k, v in sorted(c["imap"].items(), key=lambda kv: -kv[1])))
        lines.append("SMTP: " + ", ".join(f"{k} {v}" for k, v in c["smtp"].items()))
        lines.append("top SQL statements:")
        for stmt, k in list(c["statements"].items())[:15]:
            lines.append(f"  {k:7d} ({k / n:5.2f}/mail)  {stmt}")
    spy = work / f"{label}-pyspy.txt"
    if spy.exists():
        lines += pyspy_report(spy, top, cpu)
    return "\n".join(lines)


#: Where the time of one backlog run goes: (label, function as "name (file)"), inclusive time.
PHASES = (
    ("startup: build_app (migrations, table, templates)", "build_app (app.py)"),
    ("intake: drain (fetch + process + move)", "drain (poller.py)"),
    ("  fetch_batch (IMAP FETCH)", "fetch_batch (intake.py)"),
    ("  process_raw (one mail = one transaction)", "process_raw (inbound.py)"),
    ("    parse_mail", "parse_mail (__init__.py)"),
    ("    classify (priority table)", "classify (rules.py)"),
    ("    queue_mail (all queued replies)", "queue_mail (effects.py)"),
    ("      template_context (template context incl. history)", "template_context (context.py)"),
    ("      Renderer.render (jinja2)", "Renderer.render (render.py)"),
    ("      build_message (MIME)", "build_message (compose.py)"),
    ("      outbox.queue (as_bytes)", "queue (outbox.py)"),
    ("    Session.commit (SQLite)", "SessionTransaction.commit (orm/session.py)"),
    ("  intake.move (IMAP, per mail)", "move (intake.py)"),
    ("outbox: flush_outbox", "flush_outbox (poller.py)"),
    ("  SMTP.sendmail", "SMTP.sendmail (aiosmtplib/smtp.py)"),
    ("  DefaultDialect.do_commit (all commits, both phases)", "DefaultDialect.do_commit (engine/default.py)"),
)


def pyspy_report(path: Path, top: int, cpu: bool = False) -> list[str]:
    """Samples of a py-spy raw file (wall: main thread only; cpu: all threads): phases, top functions."""
    self_t: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, k = line.rpartition(" ")
        if not stack.startswith("<module> (botrun.py") and not cpu:
            continue  # other threads (idle executor workers) and interpreter start-up
        frames = [_frame(f) for f in stack.split(";")]
        total += int(k)
        self_t[frames[-1]] += int(k)
        for f in set(frames):
            incl[f] += int(k)
    rate = 200
    out = [f"py-spy, {'CPU time, all threads' if cpu else 'main thread, wall clock incl. waiting'}: "
           f"{total / rate:.1f} s ({total} samples at {rate} Hz)",
           "where the time goes (inclusive):"]
    for label, f in PHASES:
        out.append(f"  {100 * incl[f] / max(total, 1):5.1f}% {incl[f] / rate:6.2f} s  {label}")
    out.append("top functions by self time:")
    for f, k in self_t.most_common(top):
        out.append(f"  {100 * k / max(total, 1):5.1f}% {k / rate:6.2f} s  {f}")
    return out


def _frame(f: str) -> str:
    # "func (path/to/file.py:123)" -> "func (to/file.py)"; the project's own files come as "file.py"
    name, _, where = f.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    if "mailbot" in parts[:-1]:  # py-spy names the checkout's files "mailbot/ops/poller.py"
        return f"{name} ({parts[-1]})"
    return f"{name} ({'/'.join(parts[-2:])})"


# ---- main -----------------------------------------------------------------------------------


def stack_pids() -> str:
    """Changes whenever a server of the stack was (re)started: its process ids from
    ``mailstack.sh status`` plus how many times the logs say a server was stopped or started."""
    out = subprocess.run(["bash", str(ms.SCRIPT), "status"], capture_output=True, text=True).stdout
    pids = " ".join(w.rstrip(")") for line in out.splitlines() for w in line.split()[:4] if w.rstrip(")").isdigit())
    counts = []
    for log, needle in (("dovecot.log", b"master: Warning: Killed"), ("postfix.log", b"daemon started")):
        try:
            counts.append((ms._from_env(ms._read_env()).state_dir / "log" / log).read_bytes().count(needle))
        except OSError:
            counts.append(-1)
    return f"{pids} {counts}"


def attempt(what: str, fn: Any, tries: int = 3) -> dict[str, Any]:
    """Run one measurement; redo it (fresh mailboxes) if the shared stack was restarted meanwhile.

    Other sessions' fault tests restart Dovecot on the same stack (``restart-dovecot``); a
    measurement across such a restart is not a measurement.
    """
    for k in range(tries):
        before = stack_pids()
        try:
            res = fn(k)
        except (Exception, SystemExit) as exc:
            if stack_pids() != before or any(t in str(exc) for t in ("Connection reset", "connection has been closed")):
                say(f"{what}: the mail stack was restarted during the run ({exc}); again")
                time.sleep(3)
                continue
            raise
        if stack_pids() != before:
            say(f"{what}: the mail stack was restarted during the run; again")
            time.sleep(3)
            continue
        res["attempt"] = k
        return res
    raise SystemExit(f"{what}: disturbed {tries} times, giving up")


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput, with every run's throughput listed."""
    ranked = sorted(runs, key=lambda r: r["mails_per_s"])
    best = dict(ranked[len(ranked) // 2])
    best["all_mails_per_s"] = [round(r["mails_per_s"], 1) for r in runs]
    best["all_peak_rss_mb"] = [round(r["peak_rss_mb"], 1) for r in runs]
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", default="1000", help="backlog sizes, comma separated (default 1000)")
    p.add_argument("--only", default="bot,raw,djhd,latency",
                   help="which parts: bot,raw,floor,djhd,latency (raw and floor need bot: they replay its outbox)")
    p.add_argument("--code", default=str(REPO),
                   help="mailbot checkout(s) to measure, comma separated (default: this one); with several, "
                        "the bot runs are interleaved on the same corpus and the first one feeds the raw limit")
    p.add_argument("--repeat", type=int, default=1, help="repeat each backlog measurement; the median is shown")
    p.add_argument("--profile", action="store_true",
                   help="extra bot pass on the first N under py-spy (wall clock), with SQL/IMAP/SMTP counters")
    p.add_argument("--cpu-profile", action="store_true",
                   help="extra bot pass on the first N under py-spy, CPU samples only, all threads")
    p.add_argument("--rate", type=float, default=5.0, help="latency stream: mails per second")
    p.add_argument("--seconds", type=float, default=60.0, help="latency stream: duration")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="environment variable for the bot's processes (repeatable)")
    p.add_argument("--work", default="/tmp/mailbot-bench", help="where databases, logs and results go")
    args = p.parse_args()
    for item in args.env:
        name, _, value = item.partition("=")
        BOT_ENV[name] = value
    parts = set(args.only.split(","))
    sizes = [int(x) for x in args.n.split(",")]
    codes = [str(Path(c).resolve()) for c in args.code.split(",")]
    stack = stack_env()
    for code in codes:  # bytecode, as ``pip install`` leaves it (not timed); -OO for PYTHONOPTIMIZE=2
        for flags in ([], ["-OO"]):
            subprocess.run([PY, *flags, "-m", "compileall", "-q", str(Path(code) / "mailbot")], check=True,
                           stdout=subprocess.DEVNULL)
    run = uuid.uuid4().hex[:6]
    root = Path(args.work) / run
    root.mkdir(parents=True)
    say(f"run {run}: results in {root}; code {', '.join(codes)}; {os.cpu_count()} cores; {load()}; "
        f"bot PYTHONOPTIMIZE={BOT_ENV.get('PYTHONOPTIMIZE', '')}")
    results: dict[str, Any] = {"run": run, "codes": codes, "sizes": {},
                               "bot_pythonoptimize": BOT_ENV.get("PYTHONOPTIMIZE", "")}
    t_all = time.time()
    for n in sizes:
        work = root / f"n{n}"
        work.mkdir()
        t_size = time.time()
        r: dict[str, Any] = {}
        a0 = addresses("b", f"{run}{n}0")
        say(f"N={n}: generating the corpus")
        mails, mix = corpus.build(n, a0, seed=args.seed)
        r["mix"] = mix
        r["mean_mail_kb"] = sum(len(m.raw) for m in mails) / len(mails) / 1024
        say(f"N={n}: mix {mix}, mean size {r['mean_mail_kb']:.1f} KB")
        seq = 0

        def fresh(tag: str) -> corpus.Addresses:
            nonlocal seq
            seq += 1
            # Same length as a0 (readdress keeps sizes) and a0's secret (the signed staff reply
            # addresses in the corpus were made with it).
            return dataclasses.replace(addresses(tag, f"{run}{n}{seq % 10}"), secret=a0.secret)

        def bot_run(code: str, label: str, **kw: Any) -> Any:
            def once(k: int) -> dict[str, Any]:
                a = fresh("b")
                t = fill_lmtp(stack, a.helpdesk, readdress(mails, a0, a))
                say(f"{label}: filled {a.helpdesk} over LMTP in {t:.1f} s")
                res = bot_backlog(stack, work, a, n, code, label=f"{label}-{seq}", **kw)
                res["fill_s"] = t
                if res["tickets"] != mix["tickets"]:
                    say(f"WARNING: predicted {mix['tickets']} tickets, the bot opened {res['tickets']}")
                if res["templates"].get("staff_error", 0) > mix["staff"] // 5:
                    say(f"WARNING: {res['templates']['staff_error']} staff_error replies: staff commands not verified?")
                return res
            return once

        if "bot" in parts:
            for i, code in enumerate(codes):
                r.setdefault("bots", {})[code] = []
            for rep in range(args.repeat):
                for i, code in enumerate(codes):
                    label = "bot" if len(codes) == 1 else f"bot{i}"
                    r["bots"][code].append(attempt(label, bot_run(code, label)))
                if "floor" in parts:  # interleaved with the bot runs: the same load hits both
                    def floor_once(k: int) -> dict[str, Any]:
                        a = fresh("f")
                        t = fill_lmtp(stack, a.helpdesk, readdress(mails, a0, a))
                        say(f"floor: filled {a.helpdesk} in {t:.1f} s")
                        return floor_run(stack, work, a.helpdesk, r["bots"][codes[0]][-1]["_rows"], n,
                                         f"floor-{seq}")
                    r.setdefault("floors", []).append(attempt("floor", floor_once))
            rows = r["bots"][codes[0]][-1]["_rows"]
            for code in codes:
                for x in r["bots"][code]:
                    x.pop("_rows", None)
            r["bot"] = median_of(r["bots"][codes[0]])
            if "floor" in parts:
                r["floor"] = median_of(r["floors"])
            if "raw" in parts:
                def raw_once(k: int) -> dict[str, Any]:
                    a = fresh("r")
                    t = fill_lmtp(stack, a.helpdesk, readdress(mails, a0, a))  # the same N mails, fetched only
                    say(f"raw: filled {a.helpdesk} in {t:.1f} s")
                    return raw_limit(stack, work, a.helpdesk, rows, n, run)
                r["raw"] = median_of([attempt("raw", raw_once) for _ in range(args.repeat)])
        if "djhd" in parts:
            def djhd_once(k: int) -> dict[str, Any]:
                a = fresh("d")
                return djhd_backlog(stack, work / f"dj{seq}", a, readdress(mails, a0, a), n)
            r["djhd"] = median_of([attempt("djhd", djhd_once) for _ in range(args.repeat)])
        for kind, wanted in (("wall", args.profile), ("cpu", args.cpu_profile)):
            if not wanted or n != sizes[0]:
                continue
            label = "profile" if kind == "wall" else "cpuprofile"
            prof = attempt(label, bot_run(codes[-1], label, pyspy=kind, count=kind == "wall"))
            prof.pop("_rows", None)
            r[label] = prof
            report = profile_report(work, prof["label"], n, cpu=kind == "cpu")
            (work / f"{label}.txt").write_text(report + "\n")
            print(report)
        r["wall_s"] = time.time() - t_size
        results["sizes"][n] = r
        say(f"N={n}: done in {r['wall_s']:.0f} s")
    if "latency" in parts:
        results["latency"] = {}
        for i, code in enumerate(codes):
            results["latency"][code] = attempt("latency", lambda k, i=i, code=code: latency(
                stack, root, f"{run}{i}{k}", code, args.rate, args.seconds))
    results["wall_s"] = time.time() - t_all
    (root / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print()
    print(summary(results))
    return 0


def median_ratio(bots: list[float], floors: list[float]) -> float:
    """Median of the bot/floor CPU ratios of interleaved pairs (each pair saw about the same load)."""
    ratios = sorted(b / f for b, f in zip(bots, floors))
    return ratios[len(ratios) // 2]


def stack_cpu(x: dict[str, Any]) -> str:
    return f"{x['stack_cpu_s']:6.1f}s" if "stack_cpu_s" in x else "-"


def cpu_bound(n: int, rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """What the CPU alone allows: the bot's and the mail stack's CPU per mail against the cores.

    Both share the machine, so no overlap of waiting can take a run past this bound; when it
    is close to the measured rate, only less CPU per mail (in the bot or the stack) helps.
    """
    cores = os.cpu_count() or 1
    out = []
    for label, x in rows:
        if "stack_cpu_s" not in x:
            continue
        per_mail = (x["cpu_s"] + x["stack_cpu_s"]) / n
        out.append(f"{'':>6} {label}: {1000 * x['cpu_s'] / n:.1f} ms CPU per mail in the process + "
                   f"{1000 * x['stack_cpu_s'] / n:.1f} ms in the mail stack; {cores} cores allow at most "
                   f"{cores / per_mail:.0f} mails/s")
        if x.get("main_thread_cpu_s"):
            # A Python process runs Python code on one core at a time (the interpreter lock).
            out.append(f"{'':>6} {label}: main thread {x['main_thread_cpu_s']:.1f} s + other threads "
                       f"{x['other_threads_cpu_s']:.1f} s of CPU in {x['to_last_delivery_s']:.1f} s: one "
                       f"process's Python code runs on one core at a time")
    return out


def summary(results: dict[str, Any]) -> str:
    codes = results["codes"]
    name = {c: ("mailbot" if len(codes) == 1 else f"mailbot[{i}]") for i, c in enumerate(codes)}
    out = [f"== mailbot benchmark, run {results['run']} ({results['wall_s']:.0f} s in all; "
           f"bot PYTHONOPTIMIZE={results.get('bot_pythonoptimize', '')}) =="]
    if len(codes) > 1:
        out += [f"  {name[c]} = {c}" for c in codes]
    out.append(f"{'N':>6} {'what':<16} {'mails/s':>8} {'x raw':>6} {'to last':>8} {'process':>8} {'cpu':>7} "
               f"{'stack':>7} {'RSS MB':>7} {'sent':>6} {'load before':>12}  runs (mails/s)")
    for n, r in results["sizes"].items():
        raw = r.get("raw", {}).get("mails_per_s")
        rows = [(name[c], median_of(v)) for c, v in r.get("bots", {}).items()]
        rows += [(label, r[key]) for key, label in (("raw", "raw limit"), ("floor", "floor"),
                                                    ("djhd", "django-helpdesk")) if key in r]
        for label, x in rows:
            ratio = f"{x['mails_per_s'] / raw:.2f}" if raw else "-"
            out.append(f"{n:>6} {label:<16} {x['mails_per_s']:8.1f} {ratio:>6} {x['to_last_delivery_s']:7.1f}s "
                       f"{x.get('process_s', 0):7.1f}s {x['cpu_s']:6.1f}s {stack_cpu(x):>7} {x['peak_rss_mb']:7.1f} "
                       f"{x['sent_msgs']:6d} "
                       f"{x['load_before'].split()[1]:>12}  {x.get('all_mails_per_s', '')}")
        out += cpu_bound(n, rows)
        if "floors" in r:  # CPU per mail against the floor, run by run (they were interleaved)
            floors = [1000 * f["cpu_s"] / n for f in r["floors"]]
            for c, v in r.get("bots", {}).items():
                bots = [1000 * b["cpu_s"] / n for b in v]
                pairs = ", ".join(f"{b:.2f}/{f:.2f}" for b, f in zip(bots, floors))
                out.append(f"{'':>6} CPU per mail, {name[c]} / floor: {sorted(bots)[len(bots) // 2]:.2f} / "
                           f"{sorted(floors)[len(floors) // 2]:.2f} ms = {median_ratio(bots, floors):.2f}x "
                           f"(runs, ms: {pairs})")
    sizes = list(results["sizes"])
    if len(sizes) > 1:
        for c in codes:
            a = median_of(results["sizes"][sizes[0]]["bots"][c])
            b = median_of(results["sizes"][sizes[-1]]["bots"][c])
            out.append(f"growth {sizes[0]} -> {sizes[-1]} ({name[c]}): throughput x{b['mails_per_s'] / a['mails_per_s']:.2f}, "
                       f"peak RSS {a['peak_rss_mb']:.1f} -> {b['peak_rss_mb']:.1f} MB "
                       f"(x{b['peak_rss_mb'] / a['peak_rss_mb']:.2f}), cpu per mail {1000 * a['cpu_s'] / a['n']:.1f} -> "
                       f"{1000 * b['cpu_s'] / b['n']:.1f} ms")
    for c, x in results.get("latency", {}).items():
        out.append(f"ack latency with IDLE, {name[c]} ({x['sent']} mails at {x['rate']:g}/s): p50 {x['p50_s']:.3f} s, "
                   f"p95 {x['p95_s']:.3f} s, max {x['max_s']:.3f} s; peak RSS {x['peak_rss_mb']:.1f} MB "
                   f"({x['load_before']})")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
