"""CPU of the outbox sender alone: one flush of a whole outbox to a local sink, A/B interleaved.

    .venv/bin/python bench/sender_flush.py --db /tmp/bench/RUN/n1000/bot-1.db --code /tmp/snapA,. --rounds 3

``--db`` is the database of a ``bench/run.py`` bot run (its outbox holds the replies of the corpus,
all sent). Each round copies it, makes every outbox row due again, and runs ``outbox.flush`` of
each checkout (``--code``) in a fresh process against an aiosmtpd sink on this machine (STARTTLS
with the mail stack's certificate when ``--cert`` exists, no AUTH; it accepts everything and keeps
nothing), in its own process, so the sink's CPU is not counted. Printed per checkout: the CPU time of
the flushing process per sent mail (``os.times``, start-up excluded). ``--profile FILE`` writes a
cProfile of the flush of the last checkout (with ``--intake-ms``: of the sender thread's CPU time).
``--intake-ms 18`` sends while an intake queues the replies mail by mail (see ``_follow``);
experiments: ``SENDER_FLUSH_SLEEP=1`` (that intake sleeps instead of holding the interpreter
lock), ``SENDER_FLUSH_NOFOLLOW=1`` (each round sends only what was due when it started). The real benchmark (``bench/run.py``) sends through
Postfix (since the seventh pass, ``poll --once`` sends batch by batch in its one thread; ``mailbot
run`` sends from a thread beside the intake, as ``--intake-ms`` does); this isolates what the
sender itself does per mail.

``--callgrind DIR`` runs each flushing process under ``valgrind --tool=callgrind`` and counts the
instructions of the flushes only (they run under ``functools.reduce``, and callgrind's
``--toggle-collect=functools_reduce`` is per thread: with ``--intake-ms`` the intake thread is not
counted); ``PYTHONHASHSEED=0``. Instructions do not scatter with the machine's load as CPU time does
(the batches the intake makes still depend on timing, a little). Printed per checkout: instructions
per sent mail; the files stay in DIR for ``callgrind_annotate``.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CERT = Path("/tmp/mailbot-mailstack/tls")


def sink(port: int, cert_dir: str) -> None:
    """The sink server (child process): accepts every mail over STARTTLS, keeps nothing."""
    import ssl

    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 2.0.0 Ok"

    ctx = None
    if cert_dir and (Path(cert_dir) / "cert.pem").exists():
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(Path(cert_dir) / "cert.pem"), str(Path(cert_dir) / "key.pem"))
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=False,
                            data_size_limit=0)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the parent closes it
    controller.stop()


def floor_child(db: str, port: int, cert_dir: str) -> None:
    """The same mails sent by aiosmtplib alone over one connection, read in one query (child process)."""
    import asyncio
    import json
    import ssl

    import aiosmtplib
    con = sqlite3.connect(db)
    rows = [(f, json.loads(r), raw) for f, r, raw in con.execute("select mail_from, recipients, raw from outbox")]
    con.close()
    cafile = Path(cert_dir) / "cert.pem"

    async def send() -> None:
        ctx = ssl.create_default_context(cafile=str(cafile)) if cafile.exists() else None
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=cafile.exists(), tls_context=ctx)
        await smtp.connect()
        for mail_from, rcpts, raw in rows:
            await smtp.sendmail(mail_from, rcpts, raw)
        await smtp.quit()

    t0 = os.times()
    asyncio.run(send())
    t1 = os.times()
    cpu = (t1.user - t0.user) + (t1.system - t0.system)
    print(f"floor (aiosmtplib alone, one connection): {cpu * 1000 / len(rows):.3f} ms CPU per sent mail "
          f"(user {t1.user - t0.user:.2f} s, system {t1.system - t0.system:.2f} s), sent {len(rows)}", flush=True)


def _follow(factory: Any, settings: Any, intake_ms: float, code: str, profile: str) -> None:
    """The outbox thread of ``mailbot run`` (and of ``poll --once`` before the seventh pass) while an intake goes on: the main thread queues each
    mail's replies again (one transaction, as ``process_raw`` queues them) after ``intake_ms`` of Python
    work (holding the interpreter lock, as the intake does), and wakes the sender; the sender
    thread loops as ``ops.poller.OutboxWorker`` does (gap 0.5 s after a round that sent mail)."""
    import threading
    from email import message_from_bytes, policy

    from sqlalchemy import text

    from mailbot.mail import outbox
    with factory.begin() as session:  # the rows leave, to come back one mail at a time
        result = session.execute(text("select * from outbox order by id"))
        columns = list(result.keys())
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in result.mappings():
            groups.setdefault(row["created_at"], []).append(dict(row))
        session.execute(text("delete from outbox"))
    insert = text(f"insert into outbox ({', '.join(columns)}) values ({', '.join(':' + c for c in columns)})")
    done, wake = threading.Event(), threading.Event()
    sent = [0]
    cpu = [0.0]

    def sender() -> None:
        prof = None
        if profile:  # CPU time of this thread only
            import cProfile
            prof = cProfile.Profile(time.thread_time)
            prof.enable()
        t0 = time.thread_time()
        while True:
            finished = done.is_set()
            if os.environ.get("SENDER_FLUSH_NOFOLLOW"):  # each round sends what was due when it started
                from datetime import datetime, timezone
                result = _counted(outbox.flush, factory, settings, datetime.now(timezone.utc), limit=1000)
            else:
                result = _counted(outbox.flush, factory, settings, limit=1000)
            sent[0] += result.sent
            if finished and not result.sent:
                break
            if result.sent:
                time.sleep(0.5)
            wake.wait(1.0)
            wake.clear()
        cpu[0] = time.thread_time() - t0
        if prof:
            prof.disable()
            prof.dump_stats(profile)

    worker = threading.Thread(target=sender)
    worker.start()
    sample = (HERE / "sender_flush.py").read_bytes()
    t0 = time.thread_time()
    for rows in groups.values():
        end = time.thread_time() + (0 if os.environ.get("SENDER_FLUSH_SLEEP") else intake_ms / 1000)
        if os.environ.get("SENDER_FLUSH_SLEEP"):  # an intake that waits instead (no interpreter lock held)
            time.sleep(intake_ms / 1000)
        while time.thread_time() < end:  # Python work, as the intake's parsing and rules
            message_from_bytes(sample[:4000], policy=policy.default).get_content_type()
        with factory.begin() as session:
            session.execute(insert, rows)  # as process_raw queues them: in the mail's transaction
        wake.set()
    intake = time.thread_time() - t0
    done.set()
    wake.set()
    worker.join()
    print(f"{code}: sender thread {cpu[0] * 1000 / max(sent[0], 1):.3f} ms CPU per sent mail "
          f"({cpu[0]:.2f} s for {sent[0]}; intake thread {intake:.1f} s for {len(groups)} mails)", flush=True)


def _counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` under ``functools.reduce``: what ``--callgrind`` counts."""
    return functools.reduce(lambda _, __: fn(*args, **kwargs), (None, None))


def flush_child(code: str, db: str, port: int, cert_dir: str, profile: str, intake_ms: float = 0) -> None:
    """Flush the outbox of ``db`` with the mailbot of ``code`` (child process); prints one line."""
    sys.path.insert(0, code)
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    import mailbot
    from mailbot.mail import outbox
    from mailbot.settings.config import SmtpSettings
    assert mailbot.__file__ and mailbot.__file__.startswith(code), (mailbot.__file__, code)
    engine = create_engine(f"sqlite:///{db}")
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    cafile = Path(cert_dir) / "cert.pem"
    settings = SmtpSettings(host="127.0.0.1", port=port, security="starttls" if cafile.exists() else "none",
                            username="", password="x", timeout=30, ca_file=cafile if cafile.exists() else None)
    if intake_ms:
        _follow(factory, settings, intake_ms, code, profile)
        return
    prof = None
    if profile:
        import cProfile
        prof = cProfile.Profile()
    t0 = os.times()
    if prof:
        prof.enable()
    result = _counted(outbox.flush, factory, settings, limit=100_000)
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    t1 = os.times()
    cpu = (t1.user - t0.user) + (t1.system - t0.system)
    print(f"{code}: {cpu * 1000 / max(result.sent, 1):.3f} ms CPU per sent mail (user {t1.user - t0.user:.2f} s, "
          f"system {t1.system - t0.system:.2f} s), sent {result.sent}, error {result.error!r}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", help="database of a bench/run.py bot run")
    p.add_argument("--code", default=str(HERE.parent),
                   help="checkouts, comma separated ('floor': aiosmtplib alone sending the same mails)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--cert", default=str(CERT), help="folder with cert.pem and key.pem for STARTTLS ('' for none)")
    p.add_argument("--profile", default="")
    p.add_argument("--intake-ms", type=float, default=0,
                   help="with an intake in the main thread: this much Python work per mail before its replies are due")
    p.add_argument("--callgrind", default="", help="folder: count instructions of the flushes under valgrind")
    p.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.sink:
        sink(args.sink, args.cert)
        return 0
    if args.child and args.child[0] == "floor":
        floor_child(args.child[1], args.port, args.cert)
        return 0
    if args.child:
        flush_child(args.child[0], args.child[1], args.port, args.cert, args.profile, args.intake_ms)
        return 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--sink", str(port), "--cert", args.cert],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    codes = [c if c == "floor" else str(Path(c).resolve()) for c in args.code.split(",")]
    work = Path(tempfile.mkdtemp(prefix="sender-flush-"))
    try:
        for r in range(args.rounds):
            for k, code in enumerate(codes):
                db = work / f"r{r}-{k}.db"
                shutil.copy(args.db, db)
                con = sqlite3.connect(db)
                con.execute("update outbox set status = 'pending', sent_at = null, attempts = 0, last_error = '', "
                            "next_attempt_at = '2000-01-01 00:00:00.000000'")
                con.commit()
                con.close()
                load = "load {:.2f}/{:.2f}".format(*os.getloadavg()[:2])
                profile = args.profile if (args.profile and r == args.rounds - 1 and k == len(codes) - 1) else ""
                command = [sys.executable, __file__, "--child", code, str(db), "--port", str(port),
                           "--cert", args.cert, "--profile", profile, "--intake-ms", str(args.intake_ms)]
                env = None
                if args.callgrind:
                    out = Path(args.callgrind) / f"cg-r{r + 1}-{k}-{Path(code).name}.out"
                    command = ["valgrind", "--tool=callgrind", "--toggle-collect=functools_reduce",
                               f"--callgrind-out-file={out}", *command]
                    env = {**os.environ, "PYTHONHASHSEED": "0"}
                run = subprocess.run(command, check=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
                print(run.stdout, end="", flush=True)
                if args.callgrind:
                    sent = int(re.search(r"(?:sent|for) (\d+)", run.stdout).group(1))  # type: ignore[union-attr]
                    totals = subprocess.run(["callgrind_annotate", str(out)], check=True, stdout=subprocess.PIPE,
                                            text=True).stdout
                    ir = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", totals).group(1).replace(",", ""))  # type: ignore[union-attr]
                    print(f"{code}: {ir / 1e6:,.1f} M instructions in the flushes, {ir / max(sent, 1) / 1e3:,.0f} k per "
                          f"sent mail ({out})", flush=True)
                print(f"  round {r + 1}, {load}", flush=True)
                time.sleep(0.5)
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=10)
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
