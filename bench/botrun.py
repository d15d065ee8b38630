"""Run the ``mailbot`` CLI from a chosen checkout, optionally counting what it does.

    python bench/botrun.py CODE_DIR [--count OUT.json] -- --config X poll --once

CODE_DIR is put first on ``sys.path`` so a scratch copy of the repository (e.g. one with a
proposed optimisation) can be measured with the same venv. ``--count`` installs listeners
(SQLAlchemy statements and commits, IMAP commands, SMTP connections and messages) and
writes the totals as JSON when the command ends; it costs a little time, so the timed
benchmark runs never use it.
"""

from __future__ import annotations

import atexit
import json
import re
import sys
import time
from collections import Counter


def _install_counters(out: str) -> None:
    import imaplib

    import aiosmtplib
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    sql: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    imap: Counter[str] = Counter()
    smtp: Counter[str] = Counter()
    started = time.time()

    def norm(statement: str) -> str:
        s = " ".join(statement.split())
        s = re.sub(r"\(\?(, \?)*\)", "(?...)", s)
        s = re.sub(r"IN \(__\[POSTCOMPILE_\w+\]\)", "IN (...)", s)
        return s[:160]

    @event.listens_for(Engine, "before_cursor_execute")
    def _stmt(conn, cursor, statement, parameters, context, executemany):
        sql[norm(statement)] += 1
        kinds[statement.lstrip().split(None, 1)[0].upper()] += 1

    @event.listens_for(Engine, "commit")
    def _commit(conn):
        kinds["COMMIT (transactions)"] += 1

    original_command = imaplib.IMAP4._command

    def counted_command(self, name, *args):
        imap[name] += 1
        return original_command(self, name, *args)

    imaplib.IMAP4._command = counted_command  # type: ignore[method-assign]

    original_connect = aiosmtplib.SMTP.connect
    original_sendmail = aiosmtplib.SMTP.sendmail

    async def counted_connect(self, *a, **kw):
        smtp["connections"] += 1
        return await original_connect(self, *a, **kw)

    async def counted_sendmail(self, *a, **kw):
        smtp["messages"] += 1
        return await original_sendmail(self, *a, **kw)

    aiosmtplib.SMTP.connect = counted_connect  # type: ignore[method-assign]
    aiosmtplib.SMTP.sendmail = counted_sendmail  # type: ignore[method-assign]

    def dump() -> None:
        with open(out, "w") as fh:
            json.dump({"seconds": time.time() - started, "statements": dict(sql.most_common()),
                       "kinds": dict(kinds), "imap": dict(imap), "smtp": dict(smtp)}, fh, indent=1)

    atexit.register(dump)


def main() -> int:
    argv = sys.argv[1:]
    code = argv.pop(0)
    sys.path.insert(0, code)
    if argv and argv[0] == "--count":
        argv.pop(0)
        _install_counters(argv.pop(0))
    if argv and argv[0] == "--":
        argv.pop(0)
    import mailbot.cli

    where = mailbot.cli.__file__ or ""
    if not where.startswith(code.rstrip("/") + "/"):  # mailbot is a namespace package: check a module
        print(f"botrun: mailbot.cli imported from {where}, not {code}", file=sys.stderr)
        return 3
    cli_main = mailbot.cli.main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
