"""Who at LKPP a mail about an escalated ticket goes to: LKPP's helpdesk and the officer handling it.

PURE: no I/O. LKPP answers as its helpdesk (``escalation.lkpp_address``) and, behind it, through
officers of Helpdesk Teknis LKPP who write from their own addresses; the ticket's signed LKPP
Reply-To (or a DKIM pass of an LKPP domain) proves them, so an answer recorded as LKPP's names a
real officer. Once an officer has answered the current escalation, the later mails to LKPP about it
(the user's new data, staff's ``#lkpp``, the turnaround reminder, the withdrawal, the close, and
the user's "belum selesai" after LKPP closed it) go to that officer as well: the person handling the
case reads them first hand, and a ticket the user says is not solved goes back to whoever closed it
(the SOP). LKPP's helpdesk address stays the first recipient, for LKPP's own record and for the
hourly cap and bounce checks, which look at the first recipient.

A new escalation (``#eskalasi``) starts with the helpdesk alone: the officer of an earlier one may
not be the one LKPP assigns now. An address that looks like a ticketing system's no-reply sender
(LKPP's own ticketing system answers from one) is never written to: mail there is lost or bounced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailbot.core.domain import EventKind

#: Local parts of addresses that accept no mail; matched on the part before the "@", any case.
_NO_REPLY = re.compile(r"(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]daemon|postmaster|bounces?)(?:[-_.+].*)?",
                       re.IGNORECASE)


def accepts_mail(address: str) -> bool:
    """Whether ``address`` looks like a person's or a team's mailbox, not a no-reply sender."""
    local, at, domain = address.strip().rpartition("@")
    return bool(at and local and domain) and _NO_REPLY.fullmatch(local) is None


def recipients(helpdesk: str, officer: str | None) -> list[str]:
    """LKPP's helpdesk address, then the officer who last answered the current escalation (if any,
    if it is another address, and if it takes mail)."""
    if officer is None or officer.strip().lower() == helpdesk.strip().lower() or not accepts_mail(officer):
        return [helpdesk]
    return [helpdesk, officer.strip()]


def handling_officer(events: Iterable[tuple[str, str]]) -> str | None:
    """Who answered the current escalation last: the actor of the newest LKPP answer after the newest
    ``#eskalasi``, from a ticket's events as (kind, actor), oldest first (LKPP's close is an answer too;
    an answer is recorded only when proven)."""
    officer = None
    for kind, actor in events:
        if kind == EventKind.ESCALATED.value:
            officer = None
        elif kind == EventKind.LKPP_REPLIED.value:
            officer = actor
    return officer
