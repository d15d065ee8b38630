"""Triage, as a table: every route of an inbound mail, one row each, and the order of the checks."""

from __future__ import annotations

import pytest

from mailbot.core.domain import SenderRole
from mailbot.core.triage import Facts, Route, triage

R = SenderRole
MAX = 5


def facts(role: SenderRole = R.USER, **kw: object) -> Facts:
    defaults: dict[str, object] = {"hops": 0, "max_hops": MAX, "thread": "in-reply-to"}
    defaults.update(kw)
    return Facts(role=role, **defaults)  # type: ignore[arg-type]


# (case, facts, route, reason)
TABLE = [
    ("the bot's own mail", facts(R.SELF, ticket=True), Route.IGNORE_LOOP, "the bot's own mail came back (loop)"),
    ("over the hop limit", facts(hops=MAX + 1, ticket=True), Route.IGNORE_HOPS, "hop limit: X-Mailbot-Hops 6"),
    ("at the hop limit is still mail", facts(hops=MAX), Route.OPEN, "new thread"),
    ("a delivery report", facts(bounce=True, automatic="Auto-Submitted: auto-replied"), Route.BOUNCE,
     "delivery report"),
    ("automatic mail on a ticket", facts(automatic="Auto-Submitted: auto-replied", ticket=True),
     Route.RECORD_AUTOMATIC, "recorded only: Auto-Submitted: auto-replied"),
    ("automatic mail, no ticket", facts(automatic="Precedence: bulk"), Route.IGNORE_AUTOMATIC,
     "automatic mail without a ticket: Precedence: bulk"),
    ("automatic mail from staff, no proof", facts(R.STAFF, automatic="Precedence: bulk", ticket=True),
     Route.RECORD_AUTOMATIC, "recorded only: Precedence: bulk"),
    ("a user's new mail", facts(), Route.OPEN, "new thread"),
    ("a new mail the server marked as spam", facts(spam="x-spam-flag: YES"), Route.HOLD_SPAM,
     "marked as spam by the mail server (x-spam-flag: YES)"),
    ("spam from a staff address, no ticket", facts(R.STAFF, spam="x-spam: Yes"), Route.HOLD_SPAM,
     "marked as spam by the mail server (x-spam: Yes)"),
    ("a user's answer marked as spam still reaches its ticket", facts(ticket=True, spam="x-spam-flag: YES"),
     Route.USER_REPLY, "user mail; thread by in-reply-to"),
    ("a bounce marked as spam is still a bounce", facts(bounce=True, spam="x-spam-flag: YES"), Route.BOUNCE,
     "delivery report"),
    ("staff writing without a ticket", facts(R.STAFF), Route.OPEN, "new thread"),
    ("a new mail from a sender whose hourly cap is full", facts(opened_lately=30, max_opened=30), Route.HOLD_FLOOD,
     "the sender opened 30 tickets in the last hour (loops.max_new_tickets_per_sender_hour = 30)"),
    ("a new mail under the cap", facts(opened_lately=29, max_opened=30), Route.OPEN, "new thread"),
    ("no cap", facts(opened_lately=500, max_opened=0), Route.OPEN, "new thread"),
    ("a flooding sender's answer still reaches its ticket", facts(ticket=True, opened_lately=99, max_opened=30),
     Route.USER_REPLY, "user mail; thread by in-reply-to"),
    ("a flooding sender's automatic mail is ignored, not held", facts(automatic="Precedence: bulk", opened_lately=99,
                                                                      max_opened=30),
     Route.IGNORE_AUTOMATIC, "automatic mail without a ticket: Precedence: bulk"),
    ("LKPP writing without a ticket", facts(R.LKPP), Route.IGNORE_LKPP,
     "LKPP mail without a ticket: LKPP never opens one"),
    ("LKPP's proven mail without a ticket", facts(R.LKPP, lkpp_proof=True), Route.IGNORE_LKPP,
     "LKPP mail without a ticket: LKPP never opens one"),
    ("From LKPP without proof", facts(R.LKPP, ticket=True, lkpp_how="not sent to the signed LKPP reply address"),
     Route.UNVERIFIED_LKPP, "LKPP mail not proven: not sent to the signed LKPP reply address"),
    ("LKPP's system, automatic, proven", facts(R.LKPP, ticket=True, automatic="Auto-Submitted: auto-generated",
                                               lkpp_proof=True, lkpp_how="signed LKPP reply address"),
     Route.LKPP_REPLY, "lkpp mail (signed LKPP reply address); thread by in-reply-to"),
    ("LKPP, automatic, unproven", facts(R.LKPP, ticket=True, automatic="Precedence: bulk", lkpp_how="x"),
     Route.UNVERIFIED_LKPP, "LKPP mail not proven: x"),
    ("staff without proof", facts(R.STAFF, ticket=True, staff_how="not sent to the signed reply address"),
     Route.UNVERIFIED_STAFF, "staff mail not authenticated: not sent to the signed reply address"),
    ("staff with proof", facts(R.STAFF, ticket=True, staff_proof=True, staff_how="signed reply address",
                               thread="reply address"),
     Route.STAFF_REPLY, "staff mail; thread by reply address"),
    ("LKPP's answer", facts(R.LKPP, ticket=True, lkpp_proof=True, lkpp_how="dkim=pass for lkpp.go.id by mx",
                            thread="subject-tag"),
     Route.LKPP_REPLY, "lkpp mail (dkim=pass for lkpp.go.id by mx); thread by subject-tag"),
    ("the user's answer", facts(ticket=True, thread="subject tag"), Route.USER_REPLY,
     "user mail; thread by subject tag"),
    ("a user needs no proof", facts(ticket=True, staff_proof=False), Route.USER_REPLY,
     "user mail; thread by in-reply-to"),
]


@pytest.mark.parametrize(("case", "given", "route", "reason"), TABLE, ids=[row[0] for row in TABLE])
def test_route(case: str, given: Facts, route: Route, reason: str) -> None:
    routed = triage(given)
    assert (routed.route, routed.reason) == (route, reason)


def test_every_route_has_a_row() -> None:
    assert {row[2] for row in TABLE} == set(Route)


def test_a_loop_wins_over_everything_else() -> None:
    everything = facts(R.SELF, hops=MAX + 1, bounce=True, automatic="x", ticket=True)
    assert triage(everything).route is Route.IGNORE_LOOP
    assert triage(facts(hops=MAX + 1, bounce=True, automatic="x", ticket=True)).route is Route.IGNORE_HOPS
