"""``check-config``: the config, the files and folders it names, then per helpdesk the IMAP and
SMTP logins, the priority table, the canned answers and the templates, and warnings about the staff
proof. Every failure is one line naming what failed; the exit code is 1 when anything did."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from mailbot.mail import intake, outbox
from mailbot.settings.config import ConfigError, Settings
from mailbot.settings.priorities import RulesConfigError


def check_config(settings: Settings) -> int:
    print("config: ok")
    ok, line = check_database(settings.database.url)
    print(line)
    web = settings.web
    print(f"web: console at {web.base_url} (mailbot web listens on {web.host}:{web.port})" if web.base_url
          else "web: web.base_url not set (only mailbot web needs it)")
    failures = 0 if ok else 1
    deployment = settings.per_helpdesk()
    if len(deployment) == 1:
        return 1 if failures + check_helpdesk(settings) else 0
    for one in deployment:  # every mailbox, templates and table of the deployment
        print(f"helpdesk {one.helpdesk_key} ({one.helpdesk.name} <{one.helpdesk.address}>):")
        failures += check_helpdesk(one)
    return 1 if failures else 0


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (absolute once the config is loaded), None for other databases and memory."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower().split("+", 1)[0] != "sqlite" or not rest.startswith("/"):
        return None
    file = rest[1:].partition("?")[0]
    return None if not file or file == ":memory:" or file.startswith("file:") else Path(file)


def check_database(url: str) -> tuple[bool, str]:
    """(ok, one line) about the database: a SQLite file exists or can be made by this user.

    Nothing is created or opened here (a SQLite file is made at the first start). Other databases
    are named, not contacted (the password is hidden); ``mailbot db upgrade`` connects.
    """
    path = sqlite_file(url)
    if path is None:
        shown = url.split("://", 1)[0] + "://" + url.split("@", 1)[-1] if "@" in url else url
        return True, f"database: {shown} (not contacted here; mailbot db upgrade connects)"
    if path.is_file():
        if not os.access(path, os.R_OK | os.W_OK):
            return False, f"database: FAILED {path} is not readable and writable for this user"
        return True, f"database: ok ({path})"
    if path.exists():
        return False, f"database: FAILED {path} exists but is not a file"
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return False, (f"database: FAILED {path} does not exist and cannot be made: {folder} is not a folder "
                       "this user can write to")
    return True, f"database: ok ({path} does not exist yet: made at the first start)"


def path_problems(settings: Settings) -> list[str]:
    """One line per configured file or folder of one helpdesk that does not exist (the key named)."""
    problems = []
    templates = settings.paths.templates
    if templates is not None and not templates.is_dir():
        what = "is not a folder" if templates.exists() else "does not exist"
        problems.append(f"paths.templates: FAILED folder {templates} {what}")
    priorities = settings.paths.priorities
    if not priorities.is_file():
        what = "is not a file" if priorities.exists() else "does not exist"
        problems.append(f"paths.priorities: FAILED file {priorities} {what}")
    for name, server in (("imap", settings.imap), ("smtp", settings.smtp)):
        if server.ca_file is not None and not server.ca_file.is_file():  # checked at load; moved since?
            problems.append(f"{name}.ca_file: FAILED file {server.ca_file} does not exist")
    return problems


def check_helpdesk(settings: Settings) -> int:
    """Files, logins, priority table, answers and templates of one helpdesk; the number of failures."""
    missing = path_problems(settings)
    for line in missing:
        print(line)
    failures = len(missing)
    try:
        box = intake.connect(settings.imap)
        box.logout()
        print(f"imap: ok ({settings.imap.host}:{settings.imap.port}, {settings.imap.security})")
    except Exception as exc:
        failures += 1
        print(f"imap: FAILED ({settings.imap.host}:{settings.imap.port}): {type(exc).__name__}: {exc}")
    try:
        asyncio.run(outbox.check_login(settings.smtp))
        print(f"smtp: ok ({settings.smtp.host}:{settings.smtp.port}, {settings.smtp.security})")
    except Exception as exc:
        failures += 1
        print(f"smtp: FAILED ({settings.smtp.host}:{settings.smtp.port}): {type(exc).__name__}: {exc}")
    if missing:  # the table, the answers and the templates would be read from what is missing
        print("priority table, canned answers, templates: not checked (see the missing path above)")
    else:
        failures += _check_content(settings)
    from mailbot.service.app import secret_source

    print(f"secret: {secret_source(settings)}")
    check_staff_auth(settings)
    return failures


def _check_content(settings: Settings) -> int:
    """The priority table, the canned answers and every template render; the number of failures."""
    failures = 0
    try:
        from mailbot.mail.render import Renderer, sample_context
        from mailbot.settings.priorities import load_priority_table

        table = load_priority_table(settings.paths.priorities)
        print(f"priority table: ok ({settings.paths.priorities})")
        from mailbot.service.app import load_answer_library

        library = load_answer_library(settings, Renderer(settings.paths.templates), table)
        print(f"canned answers: ok ({len(library.answers)})")
        problems = Renderer(settings.paths.templates).check(sample_context())
        for line in problems:
            print(f"template: FAILED {line}")
        failures += len(problems)
        if not problems:
            overrides = f", overrides from {settings.paths.templates}" if settings.paths.templates else ""
            print(f"templates: ok (built-in{overrides})")
    except RulesConfigError as exc:
        failures += 1
        print(f"priority table: FAILED {exc}")
    except ConfigError as exc:
        failures += 1
        print(f"FAILED {exc}")
    return failures


def check_staff_auth(settings: Settings) -> None:
    """Warnings (not failures: the bot cannot see the MTA's setup) for the ``dkim`` staff proof."""
    staff = settings.staff
    if "dkim" not in staff.command_auth:
        return
    ids = ", ".join(staff.trusted_authserv_ids)
    if not staff.trusted_authserv_ids:
        print('staff auth: WARNING "dkim" is in staff.command_auth but staff.trusted_authserv_ids is empty: '
              "no staff mail can pass by DKIM/DMARC")
    print(f'staff auth: WARNING "dkim" is in staff.command_auth: the receiving MTA must remove (strip) every '
          f"Authentication-Results header carrying its own authserv-id ({ids or 'none trusted'}) from incoming "
          "mail before adding its own (RFC 8601 section 5), and must add one to every mail; otherwise a sender "
          "can forge a passing result and run staff commands")
