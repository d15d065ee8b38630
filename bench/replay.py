"""Offline replay of ``service.process_raw`` over the bench corpus: CPU per mail, SQL statements,
and the rows it leaves, to compare two checkouts.

No IMAP, no SMTP: each mail of the corpus (``bench/corpus.py``, cached as a pickle in ``--work``
so every checkout gets the same bytes; delete it after changing the corpus) goes through ``process_raw`` with a clock one second apart, on a
fresh SQLite database. With ``--dump`` the random sources (``uuid4`` of Message-IDs, ``secrets``
of MIME boundaries and VERP tokens) are seeded, so the outbox, tickets, events, messages and
inbound rows are a function of the code alone, and two dumps are compared with ``diff``::

    .venv/bin/python bench/replay.py --code /work/main --dump /tmp/a.txt
    .venv/bin/python bench/replay.py --code . --dump /tmp/b.txt
    diff /tmp/a.txt /tmp/b.txt && echo identical

``--compare A,B`` does both and the diff. Without ``--dump`` it prints CPU per mail (process
time of the loop) and the statements per mail by kind; ``--statements 15`` lists the most
frequent texts, ``--profile FILE`` writes a cProfile of the loop.

``--uncounted`` leaves out the statement-counting listener (mailbot has none: its cost per statement is
the harness's, not mailbot's). ``--callgrind`` counts instructions instead, which do not scatter with the machine's load: the
random sources are seeded, the first mail (templates compiled, caches filled) runs outside the count
and the others under ``functools.reduce``, so valgrind collects exactly them::

    PYTHONHASHSEED=0 PYTHONOPTIMIZE=2 valgrind --tool=callgrind --toggle-collect=functools_reduce \
        --callgrind-out-file=/tmp/cg.out .venv/bin/python bench/replay.py --code . --n 300 --callgrind
    callgrind_annotate /tmp/cg.out | head -3    # "PROGRAM TOTALS": instructions of mails 2-300
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADDRS = {"helpdesk": "hdx-000001@lpse.test", "staff": ("staf1x-000001@lpse.test", "staf2x-000001@lpse.test"),
             "lkpp": "lkppx-000001@lkpp.test", "secret": "bench-secret-0123456789-000001", "user_prefix": "ux-0001-"}
START = datetime(2026, 11, 20, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
TABLES = (("outbox", "select id, message_id, mail_from, recipients, raw, status, automatic, to_key from outbox order by id"),
          ("tickets", "select * from tickets order by id"), ("events", "select * from events order by id"),
          ("messages", "select * from messages order by id"), ("inbound", "select * from inbound order by id"))


def _corpus(n: int, cache_dir: Path) -> list[bytes]:
    cache = cache_dir / f"replay-corpus-{n}.pickle"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    sys.path.insert(0, str(HERE.parent))
    from bench import corpus
    mails = [m.raw for m in corpus.build(n, corpus.Addresses(**ADDRS), seed=7, start=START)[0]]
    cache.write_bytes(pickle.dumps(mails))
    return mails


def _seed_random() -> None:
    """Same Message-IDs, boundaries and tokens in every run (patched before mailbot is imported)."""
    import base64
    import random
    import secrets
    import uuid
    rng = random.Random(1)
    uuid.uuid4 = lambda: uuid.UUID(int=rng.getrandbits(128), version=4)  # type: ignore[assignment]
    secrets.token_bytes = lambda n=32: rng.getrandbits(8 * n).to_bytes(n, "big")  # type: ignore[assignment]
    secrets.token_hex = lambda n=32: secrets.token_bytes(n).hex()  # type: ignore[assignment]
    secrets.token_urlsafe = lambda n=32: base64.urlsafe_b64encode(secrets.token_bytes(n)).rstrip(b"=").decode()  # type: ignore[assignment]


def _config(path: Path, db: Path) -> None:
    a = ADDRS
    path.write_text(f'''[helpdesk]
name = "Helpdesk LPSE Kota Uji"
address = "{a["helpdesk"]}"
timezone = "Asia/Jakarta"
phone = "(0271) 555-0100"
secret = "{a["secret"]}"
[imap]
host = "127.0.0.1"
port = 11993
username = "x"
password = "secret"
[smtp]
host = "127.0.0.1"
port = 12587
username = "x"
password = "secret"
[staff]
addresses = ["{a["staff"][0]}", "{a["staff"][1]}"]
[escalation]
lkpp_address = "{a["lkpp"]}"
[database]
url = "sqlite:///{db}"
''')


def run(args: argparse.Namespace) -> None:
    code = str(Path(args.code).resolve())
    Path(args.work).mkdir(parents=True, exist_ok=True)  # a new --work directory is made, not an error
    work = Path(tempfile.mkdtemp(prefix="replay-", dir=args.work))
    mails = _corpus(args.n, Path(args.work))  # before mailbot is imported from --code
    if args.dump or args.callgrind:
        _seed_random()
    sys.path.insert(0, code)
    for name in [m for m in sys.modules if m == "mailbot" or m.startswith("mailbot.") or m == "bench" or m.startswith("bench.")]:
        del sys.modules[name]
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    import mailbot
    from mailbot.service.app import build_apps
    from mailbot.service.inbound import process_raw
    from mailbot.settings.loading import load_settings
    assert mailbot.__file__.startswith(code), (mailbot.__file__, code)

    db, cfg = work / "replay.db", work / "replay.toml"
    _config(cfg, db)
    app = build_apps(load_settings(cfg))[0]
    texts: Counter[str] = Counter()
    counting = [False]

    def _count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if counting[0]:
            texts[" ".join(statement.split())[:150]] += 1

    if not args.uncounted:  # mailbot itself has no cursor listeners: --uncounted runs as it does
        event.listen(Engine, "before_cursor_execute", _count)

    prof = None
    if args.profile:
        import cProfile
        prof = cProfile.Profile()
    outcomes: Counter[str] = Counter()
    counting[0] = True
    t0 = time.process_time()
    if prof:
        prof.enable()
    if args.callgrind:
        import functools

        def _one(acc: None, item: tuple[int, bytes]) -> None:
            outcomes[process_raw(app, item[1], NOW + timedelta(seconds=item[0])).kind] += 1

        _one(None, (0, mails[0]))  # outside the count: first-use work (templates compiled, caches filled)
        functools.reduce(_one, list(enumerate(mails))[1:], None)
    else:
        for i, raw in enumerate(mails):
            outcomes[process_raw(app, raw, NOW + timedelta(seconds=i)).kind] += 1
    if prof:
        prof.disable()
    t1 = time.process_time()
    counting[0] = False
    n = len(mails)
    kinds: Counter[str] = Counter()
    for text, k in texts.items():
        kinds[text.split(" ", 1)[0].upper()] += k
    print(f"{code}: {(t1 - t0) * 1000 / n:.3f} ms CPU per mail; statements per mail {sum(kinds.values()) / n:.2f} "
          f"({', '.join(f'{k} {v / n:.2f}' for k, v in kinds.most_common())}); outcomes {dict(outcomes)}")
    for text, k in texts.most_common(args.statements):
        print(f"  {k / n:6.3f}  {text}")
    if prof:
        prof.dump_stats(args.profile)
    if args.dump:
        import sqlite3
        con = sqlite3.connect(db)
        with open(args.dump, "w") as fh:
            for table, query in TABLES:
                for row in con.execute(query):
                    fh.write(f"{table} {hashlib.sha256(repr(row).encode()).hexdigest()} {repr(row)[:160]}\n")
        con.close()
    for p in work.iterdir():
        p.unlink()
    work.rmdir()


def compare(args: argparse.Namespace) -> int:
    a, b = args.compare.split(",")
    dumps = []
    for k, code in enumerate((a, b)):
        dump = Path(args.work) / f"replay-dump-{k}.txt"
        subprocess.run([sys.executable, __file__, "--code", code, "--n", str(args.n), "--dump", str(dump),
                        "--work", args.work], check=True)
        dumps.append(dump)
    rows = dumps[0].read_text().splitlines()
    same = rows == dumps[1].read_text().splitlines()
    counts = Counter(r.split(" ", 1)[0] for r in rows)
    print(f"{'identical' if same else 'DIFFERENT'} rows: {dict(counts)}  (diff {dumps[0]} {dumps[1]})")
    return 0 if same else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--code", default=str(HERE.parent), help="mailbot checkout to run")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--dump", help="seed the random sources and write the rows (one line each) to this file")
    p.add_argument("--compare", help="A,B: dump both checkouts and compare the rows")
    p.add_argument("--statements", type=int, default=0, help="list the N most frequent statements")
    p.add_argument("--profile", help="write a cProfile of the loop to this file")
    p.add_argument("--callgrind", action="store_true", help="seeded; mails 2..N under functools.reduce (see the docstring)")
    p.add_argument("--uncounted", action="store_true",
                   help="no statement-counting listener (as in production; statements per mail print as 0)")
    p.add_argument("--work", default=os.environ.get("TMPDIR", "/tmp"))
    args = p.parse_args()
    if args.compare:
        return compare(args)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
