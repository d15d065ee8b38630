"""``tickets list`` and ``tickets show``: the tickets, and one ticket with its timeline and messages."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mailbot.cli.common import app_of, local_time, row_id
from mailbot.core import lkpp_decision
from mailbot.core.timeline import build_timeline, format_duration
from mailbot.service import views
from mailbot.service.deadlines import measured_steps
from mailbot.settings.config import Settings
from mailbot.storage.models import Ticket


def list_tickets(app: Any, args: argparse.Namespace, only: str | None, multi: bool) -> int:
    """``tickets list [--state S] [--json]``."""
    with app.factory() as session:
        return _print_tickets(views.list_tickets(session, args.state, only), args.json, multi)


def _print_tickets(tickets: list[Ticket], as_json: bool, multi: bool) -> int:
    if as_json:
        print(json.dumps([views.ticket_summary(t) for t in tickets], indent=2, ensure_ascii=False))
        return 0
    where = f"{'helpdesk':10} " if multi else ""
    print(f"{where}{'number':12} {'state':13} {'priority':8} {'category':22} {'requester':28} subject")
    for t in tickets:
        where = f"{t.helpdesk:10.10} " if multi else ""
        print(f"{where}{t.number or '':12} {t.state:13} {t.priority:8} {t.category:22.22} {t.requester:28.28} "
              f"{t.subject}")
    print(f"{len(tickets)} ticket(s)")
    return 0


def show_ticket(apps: list[Any], settings: Settings, args: argparse.Namespace, only: str | None) -> int:
    """``tickets show ID``: by number (TTS-000123) or id; a number must fit the id column."""
    if args.id.strip().lstrip("+-").isdigit() and row_id(args.id, "tickets show") is None:
        return 2
    with apps[0].factory() as session:
        try:
            ticket = views.find_ticket(session, args.id, only)
        except views.NoSuchTicket:
            print(f"no ticket {args.id}" + (f" in helpdesk {only}" if only else ""), file=sys.stderr)
            return 2
        except views.AmbiguousTicket as exc:
            print(f"{exc}: add --helpdesk KEY", file=sys.stderr)
            return 1
        # The messages and events load as they are printed: inside the session.
        return _print_ticket(app_of(apps, settings, ticket.helpdesk), ticket, args.json)


def _print_ticket(app: Any, ticket: Ticket, as_json: bool) -> int:
    if as_json:
        print(json.dumps(views.ticket_detail(ticket), indent=2, ensure_ascii=False))
        return 0
    zone = app.zone
    print(f"{ticket.number}  {ticket.subject}")
    print(f"  state {ticket.state}, priority {ticket.priority}, category {ticket.category}"
          + ("" if ticket.category_matched else " (unmatched)"))
    print(f"  requester {ticket.requester_name} <{ticket.requester}>  phone {ticket.phone or '-'}")
    print(f"  assignee {ticket.assignee or '-'}  missing {', '.join(ticket.missing or []) or '-'}"
          + (f"  rating {ticket.rating}/5" if ticket.rating else ""))
    deadlines = [("resolution", ticket.due_at), ("priority", ticket.priority_due_at), ("call", ticket.call_due_at),
                 ("analysis", ticket.analysis_due_at), ("LKPP answer", ticket.lkpp_due_at),
                 ("helpdesk decision", lkpp_decision.due_from_columns(ticket.state, ticket.next_due_at,
                                                                      ticket.lkpp_due_at)),
                 ("reminder", ticket.remind_at),
                 ("auto-close", ticket.autoclose_at)]
    shown = [f"{name} {local_time(at, zone)}" for name, at in deadlines if at is not None]
    decision_at = lkpp_decision.due_from_columns(ticket.state, ticket.next_due_at, ticket.lkpp_due_at)
    if ticket.paused_since is not None:
        why = "LKPP holds the ticket" if ticket.state == "escalated" else "waiting for the user"
        why = "LKPP answered, the helpdesk decides" if decision_at is not None else why
        shown.append(f"clock paused since {local_time(ticket.paused_since, zone)} ({why})")
    if shown:
        print("  deadlines: " + "; ".join(shown))
    if decision_at is not None:
        print(f"  {lkpp_decision.STATUS_TEXT} (#tutup, or ask LKPP further and record it with #catatan)")
    print("\nTimeline (SOP step, time taken / standard; 'working': in the helpdesk's working hours):")
    steps = measured_steps(app, ticket.events, ticket.priority)
    for row in build_timeline(ticket.events, steps):
        step = f"step {row.sop_step:>2}" if row.sop_step else "       "
        timing = ""
        if row.took is not None and row.standard is not None:
            mark = "ok" if row.within else "LATE"
            kind = " working" if row.working else ""
            timing = f"  [{format_duration(row.took)} / {format_duration(row.standard)}{kind} {mark}]"
        print(f"  {local_time(row.at, zone, seconds=True)}  {step}  {row.kind:18} {row.detail}{timing}")
    # The rules' reasons (scores, patterns, runner-up), in full: staff mail carries one line of them.
    hits = next((e.data.get("hits") for e in ticket.events if e.kind == "priority_set" and e.data), None)
    if hits:
        print("\nWhy this priority and category (rules):")
        for hit in hits:
            print(f"  {hit.get('rule', '')}: {hit.get('reason', '')}")
    print("\nMessages:")
    for m in ticket.messages:
        arrow = "<-" if m.direction == "in" else "->"
        who = m.sender if m.direction == "in" else ", ".join(m.recipients)
        extra = f" [{m.template}]" if m.template else ""
        extra += " [auto]" if m.auto else ""
        print(f"  {local_time(m.at, zone, seconds=True)} {arrow} {m.channel:5} {who}{extra}: {m.subject}")
    return 0
