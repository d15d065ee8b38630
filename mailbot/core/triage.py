"""Triage: what kind of mail this is, before ``workflow.decide`` sees it (like Mailman's chains).

PURE: the service computes the :class:`Facts` of one inbound mail (who sent it, its hop count,
whether it is a delivery report or automatic mail, whether it belongs to a ticket of this
helpdesk, whether a staff member's mail carries proof) and dispatches on the :class:`Route`
this module returns. The order of the checks is the policy, top to bottom:

    the bot's own mail            -> IGNORE_LOOP        nothing is done
    over the hop limit            -> IGNORE_HOPS        nothing is done (a loop between systems)
    a delivery report             -> BOUNCE             ``delivery.handle_bounce`` judges it
    LKPP, no ticket               -> IGNORE_LKPP        nothing is done (LKPP never opens a ticket, never gets an ack)
    LKPP, without proof           -> UNVERIFIED_LKPP    recorded; staff see the text as unverified; nothing relayed
    LKPP, proven                  -> LKPP_REPLY         ``decide(LkppReplied)`` (automatic or not: LKPP's
                                                        ticketing system answers from no-reply addresses)
    automatic mail, with ticket   -> RECORD_AUTOMATIC   stored on the ticket, never answered
    automatic mail, no ticket     -> IGNORE_AUTOMATIC   nothing is done
    spam, no ticket               -> HOLD_SPAM          quarantined with the filter's verdict: no ticket, no ack
                                                        (in a ticket's thread it goes on: a user's answer
                                                        marked by mistake must not be lost)
    no ticket, sender's cap full  -> HOLD_FLOOD         quarantined: the sender opened ``max_opened`` tickets
                                                        in the last hour (a flood from one address, real or
                                                        forged, must not bury staff in tickets and notices)
    no ticket                     -> OPEN               a new ticket (SOP step 1)
    staff, without proof          -> UNVERIFIED_STAFF   recorded; no command runs; the staff member is told
    staff                         -> STAFF_REPLY        ``decide(StaffReplied)``
    anyone else                   -> USER_REPLY         ``decide(UserReplied)``
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailbot.core.domain import SenderRole


class Route(enum.StrEnum):
    """Where an inbound mail goes."""

    IGNORE_LOOP = "ignore_loop"
    IGNORE_HOPS = "ignore_hops"
    BOUNCE = "bounce"
    IGNORE_LKPP = "ignore_lkpp"
    UNVERIFIED_LKPP = "unverified_lkpp"
    RECORD_AUTOMATIC = "record_automatic"
    IGNORE_AUTOMATIC = "ignore_automatic"
    HOLD_SPAM = "hold_spam"
    HOLD_FLOOD = "hold_flood"
    OPEN = "open"
    UNVERIFIED_STAFF = "unverified_staff"
    STAFF_REPLY = "staff_reply"
    LKPP_REPLY = "lkpp_reply"
    USER_REPLY = "user_reply"


@dataclass(frozen=True)
class Facts:
    """What the service found out about one inbound mail (each is a cheap, already-made check)."""

    role: SenderRole
    hops: int  # the mail's X-Mailbot-Hops
    max_hops: int  # config ``escalation.max_hops``
    bounce: bool = False  # a delivery report (``loops.is_bounce``)
    automatic: str | None = None  # why the mail is automatic (``loops.automatic_reason``), or None
    ticket: bool = False  # it belongs to a ticket of this helpdesk
    thread: str = ""  # how that ticket was found (thread headers, subject tag, reply address)
    staff_proof: bool = False  # a staff mail proved its sender (``auth.verify_staff``)
    staff_how: str = ""  # the proof, or why there is none
    spam: str | None = None  # the mail server's spam verdict (``spam.spam_verdict``), when it said spam
    # LKPP (role LKPP: the mail claims to be LKPP, or was sent to a signed LKPP address)
    lkpp_proof: bool = False  # sent to the ticket's signed LKPP address, or DKIM-verified LKPP domain
    lkpp_how: str = ""  # the proof, or why there is none
    opened_lately: int = 0  # tickets this sender opened in this helpdesk in the last hour (new threads only)
    max_opened: int = 0  # config ``loops.max_new_tickets_per_sender_hour`` (0: no cap)


@dataclass(frozen=True)
class Triage:
    route: Route
    reason: str  # for the log and the inbound row (English)


def triage(facts: Facts) -> Triage:
    """The route of one inbound mail, with the reason (see the module's table)."""
    f = facts
    if f.role is SenderRole.SELF:
        return Triage(Route.IGNORE_LOOP, "the bot's own mail came back (loop)")
    if f.hops > f.max_hops:
        return Triage(Route.IGNORE_HOPS, f"hop limit: X-Mailbot-Hops {f.hops}")
    if f.bounce:
        return Triage(Route.BOUNCE, "delivery report")
    if f.role is SenderRole.LKPP:
        if not f.ticket:
            return Triage(Route.IGNORE_LKPP, "LKPP mail without a ticket: LKPP never opens one")
        if not f.lkpp_proof:
            return Triage(Route.UNVERIFIED_LKPP, f"LKPP mail not proven: {f.lkpp_how}")
        return Triage(Route.LKPP_REPLY, f"lkpp mail ({f.lkpp_how}); thread by {f.thread}")
    if f.automatic is not None:
        if not f.ticket:
            return Triage(Route.IGNORE_AUTOMATIC, f"automatic mail without a ticket: {f.automatic}")
        return Triage(Route.RECORD_AUTOMATIC, f"recorded only: {f.automatic}")
    if not f.ticket and f.spam is not None:
        return Triage(Route.HOLD_SPAM, f"marked as spam by the mail server ({f.spam})")
    if not f.ticket and f.max_opened and f.opened_lately >= f.max_opened:
        return Triage(Route.HOLD_FLOOD, f"the sender opened {f.opened_lately} tickets in the last hour "
                                        f"(loops.max_new_tickets_per_sender_hour = {f.max_opened})")
    if not f.ticket:
        return Triage(Route.OPEN, "new thread")
    if f.role is SenderRole.STAFF and not f.staff_proof:
        return Triage(Route.UNVERIFIED_STAFF, f"staff mail not authenticated: {f.staff_how}")
    route = Route.STAFF_REPLY if f.role is SenderRole.STAFF else Route.USER_REPLY
    return Triage(route, f"{f.role.value} mail; thread by {f.thread}")
