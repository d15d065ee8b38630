"""The arguments of ``mailbot [--config PATH] COMMAND [--config PATH]``: one argparse parser for every command.

``--config`` and ``-v`` are accepted before the command and after it (``mailbot poll --once
--config /etc/mailbot/mailbot.toml``): every subcommand's parser knows them too.
"""

from __future__ import annotations

import argparse
from datetime import date


def parse_date(value: str) -> date:
    """``YYYY-MM-DD`` for argparse (``report sla --from/--to``)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def helpdesk_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--helpdesk", metavar="KEY", help="only this helpdesk of the deployment ([[helpdesks]] key)")


def global_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--config`` and ``-v``; on a subcommand they default to nothing, so the top-level value stays."""
    parser.add_argument("--config", metavar="PATH", help="settings file (TOML); default: $MAILBOT_CONFIG",
                        default=None if top else argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging",
                        default=False if top else argparse.SUPPRESS)


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every subcommand parser under ``parser``, at any depth (``tickets list`` too)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        choices = action.choices if isinstance(action, argparse._SubParsersAction) else None
        for child in (choices or {}).values():
            found.append(child)
            found.extend(_subparsers(child))
    return found


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailbot", description="E-mail helpdesk bot for SPSE/LPSE helpdesks.")
    global_options(p, top=True)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the service: IMAP IDLE/polling, outbox flushing")
    poll = sub.add_parser("poll", help="process the mailbox")
    poll.add_argument("--once", action="store_true", required=True, help="process what is there now, then exit")
    helpdesk_option(poll)
    web = sub.add_parser("web", help="serve the helpdesk console ([web] host, port, base_url)")
    web.add_argument("--link", metavar="ADDRESS",
                     help="print a one-time sign-in link for ADDRESS (staff, coordinator or LKPP) and exit, "
                          "instead of serving: for the first sign-in, or when mail does not arrive")
    sub.add_parser("check-config", help="validate the config and try the IMAP and SMTP logins")
    st = sub.add_parser("status", help="health for monitoring: exit 0 healthy, 1 unhealthy (see README)")
    st.add_argument("--json", action="store_true")
    st.add_argument("--offline", action="store_true", help="do not try the IMAP and SMTP logins")
    st.add_argument("--expect-run", action="store_true",
                    help="a mailbot run must be polling (also when none was started or it stopped cleanly)")
    helpdesk_option(st)
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    tickets = sub.add_parser("tickets", help="list and show tickets")
    tsub = tickets.add_subparsers(dest="action", required=True)
    tl = tsub.add_parser("list")
    tl.add_argument("--json", action="store_true")
    tl.add_argument("--state", help="only tickets in this state")
    helpdesk_option(tl)
    ts = tsub.add_parser("show")
    ts.add_argument("id", help="ticket number (TTS-000123) or id")
    ts.add_argument("--json", action="store_true")
    helpdesk_option(ts)
    quarantine = sub.add_parser("quarantine", help="mail that could not be processed")
    qsub = quarantine.add_subparsers(dest="action", required=True)
    helpdesk_option(qsub.add_parser("list"))
    qr = qsub.add_parser("retry")
    qr.add_argument("id", help="the entry's id (quarantine list)")
    outbox_p = sub.add_parser("outbox", help="mail waiting to be sent, or failed")
    osub = outbox_p.add_subparsers(dest="action", required=True)
    ol = osub.add_parser("list")
    ol.add_argument("--all", action="store_true", help="also mail already sent")
    helpdesk_option(ol)
    orr = osub.add_parser("retry", help="send a failed mail again (fresh attempt budget)")
    orr.add_argument("id", help="the mail's id (outbox list)")
    oack = osub.add_parser("ack", help="acknowledge failed mail: status stops reporting it")
    oack.add_argument("id", nargs="?", help="the mail's id (outbox list)")
    oack.add_argument("--all", action="store_true", help="every failed mail")
    helpdesk_option(oack)
    report = sub.add_parser("report", help="reports")
    rpsub = report.add_subparsers(dest="action", required=True)
    rsla = rpsub.add_parser("sla", help="SOP time standards kept, per step and priority, in a period")
    rsla.add_argument("--from", dest="date_from", type=parse_date,
                      help="first day (YYYY-MM-DD, local; default: the first of the month of --to, or of this month)")
    rsla.add_argument("--to", dest="date_to", type=parse_date,
                      help="last day, inclusive (default: the last day of the month of --from, or of this month)")
    rsla.add_argument("--format", dest="fmt", choices=["table", "csv", "json", "html"], default="table")
    helpdesk_option(rsla)
    rules = sub.add_parser("rules", help="the priority table")
    rsub = rules.add_subparsers(dest="action", required=True)
    re_ = rsub.add_parser("eval", help="accuracy of the rules on a labeled set")
    re_.add_argument("dir", nargs="?")
    re_.add_argument("--table")
    re_.add_argument("--train", metavar="DIR", action="append",
                     help="a further training set (repeatable; default: tests/data/labeled and tests/data/blind_train*)")
    re_.add_argument("--heldout", metavar="DIR", action="append",
                     help="a held-out set, figures only (repeatable; default: tests/data/heldout)")
    re_.add_argument("--no-heldout", action="store_true", help="the training sets only")
    re_.add_argument("--heldout-details", action="store_true", help="also list the held-out mails that went wrong")
    re_.add_argument("--fail-under", metavar="SHARE", help="exit 1 when a training accuracy is below SHARE")
    purge = sub.add_parser("purge", help="retention: remove bodies/attachments of old closed tickets")
    purge.add_argument("--dry-run", action="store_true", help="show what would go, change nothing")
    purge.add_argument("--months", type=int, help="override retention.months")
    person = sub.add_parser("person", help="one person's data (UU 27/2022): export or erase")
    psub = person.add_subparsers(dest="action", required=True)
    pe = psub.add_parser("export")
    pe.add_argument("address")
    pe.add_argument("--with-attachments", action="store_true")
    pr = psub.add_parser("erase")
    pr.add_argument("address")
    pr.add_argument("--yes", action="store_true", help="really erase (otherwise show what would be erased)")
    oauth_p = sub.add_parser("oauth", help="OAuth2 (XOAUTH2 mailboxes)")
    oasub = oauth_p.add_subparsers(dest="action", required=True)
    az = oasub.add_parser("authorize", help="the consent in a browser, once per mailbox: prints the refresh token")
    az.add_argument("--server", choices=["imap", "smtp"],
                    help="whose OAuth2 settings (default: IMAP's if it uses xoauth2, else SMTP's)")
    az.add_argument("--port", type=int, default=0, help="loopback port for the redirect (default: any free port)")
    az.add_argument("--redirect-uri",
                    help="the redirect URI registered with the provider (default: http://127.0.0.1:PORT/)")
    az.add_argument("--paste", action="store_true",
                    help="no listener: paste the address the browser ends on (browser on another machine)")
    az.add_argument("--timeout", type=float, default=600, help="seconds to wait for the consent")
    helpdesk_option(az)
    answers = sub.add_parser("answers", help="the canned answers in templates/answers")
    asub = answers.add_subparsers(dest="action", required=True)
    asub.add_parser("list", help="every answer with its number, key and categories")
    ae = asub.add_parser("eval", help="top-3 hit rate of suggestions on a labeled set")
    ae.add_argument("dir", nargs="?")
    addresses = sub.add_parser("addresses", help="addresses marked undeliverable (no automatic mail to them)")
    adsub = addresses.add_subparsers(dest="action", required=True)
    adl = adsub.add_parser("list", help="the marks in force, with their reason and expiry")
    adl.add_argument("--all", action="store_true", help="expired marks too")
    adl.add_argument("--json", action="store_true")
    helpdesk_option(adl)
    adc = adsub.add_parser("clear", help="lift the mark on an address (every helpdesk, or --helpdesk KEY)")
    adc.add_argument("address")
    helpdesk_option(adc)
    for child in _subparsers(p):
        global_options(child)
    return p
