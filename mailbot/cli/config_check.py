"""``check-config``: the config, then per helpdesk the IMAP and SMTP logins, the priority table,
the canned answers and the templates, and warnings about the staff proof."""

from __future__ import annotations

import asyncio

from mailbot.mail import intake, outbox
from mailbot.settings.config import ConfigError, Settings
from mailbot.settings.priorities import RulesConfigError


def check_config(settings: Settings) -> int:
    print("config: ok")
    deployment = settings.per_helpdesk()
    if len(deployment) == 1:
        return 1 if check_helpdesk(settings) else 0
    failures = 0
    for one in deployment:  # every mailbox, templates and table of the deployment
        print(f"helpdesk {one.helpdesk_key} ({one.helpdesk.name} <{one.helpdesk.address}>):")
        failures += check_helpdesk(one)
    return 1 if failures else 0


def check_helpdesk(settings: Settings) -> int:
    """Logins, priority table, answers and templates of one helpdesk; the number of failures."""
    failures = 0
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
    try:
        from mailbot.mail.render import Renderer, sample_context
        from mailbot.settings.priorities import load_priority_table

        table = load_priority_table(settings.paths.priorities)
        print("priority table: ok")
        from mailbot.service.app import load_answer_library

        library = load_answer_library(settings, Renderer(settings.paths.templates), table)
        print(f"canned answers: ok ({len(library.answers)})")
        problems = Renderer(settings.paths.templates).check(sample_context())
        for line in problems:
            print(f"template: FAILED {line}")
        failures += len(problems)
        if not problems:
            print("templates: ok")
    except RulesConfigError as exc:
        failures += 1
        print(f"priority table: FAILED {exc}")
    except ConfigError as exc:
        failures += 1
        print(f"FAILED {exc}")
    from mailbot.service.app import secret_source

    print(f"secret: {secret_source(settings)}")
    check_staff_auth(settings)
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
