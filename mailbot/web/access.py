"""Who may use the console and how they sign in: one-time links by e-mail, sessions, CSRF, rate limits.

No passwords: the page at ``/`` takes an address; a staff member, a coordinator or an LKPP officer
gets a link (single use, valid ``LINK_LIFETIME``) through the helpdesk's outbox, anyone else the
same neutral page and no mail. Only SHA-256 digests of link and session tokens are stored: a copy
of the database signs nobody in. Each link request and sign-in is a row of ``web_audit`` (no ticket
in it) and a log line; the rows of the last hour are the rate limit, so every worker agrees.

What a viewer sees (``Viewer``): staff and coordinators their own helpdesk(s); LKPP (the
``escalation.lkpp_address`` or an address in ``escalation.lkpp_domains``) only escalated tickets,
of every helpdesk. The role is worked out from the settings at every request: an address removed
from the config loses access at once, whatever session it holds.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from mailbot.core.domain import fold_address
from mailbot.settings.config import Settings
from mailbot.storage.models import WebAudit, WebSession, WebSignInLink

log = logging.getLogger("mailbot.web")

#: How long a sign-in link works (the issue: 15 minutes).
LINK_LIFETIME = timedelta(minutes=15)
#: The window the rate limits count link requests in.
RATE_WINDOW = timedelta(hours=1)
#: Audit kinds that are link requests (counted by the rate limits whatever their outcome).
REQUEST_KINDS = ("link_sent", "link_unknown", "link_limited")

Role = Literal["staff", "coordinator", "lkpp"]


@dataclass(frozen=True)
class Viewer:
    """A signed-in person: which helpdesks' tickets they see, and whether only escalated ones."""

    address: str
    role: Role
    helpdesks: tuple[str, ...]

    @property
    def lkpp(self) -> bool:
        """LKPP sees only tickets escalated to it (of every helpdesk), and not staff-only notes."""
        return self.role == "lkpp"


#: A domain as mail servers route it: labels of letters, digits and hyphens (IDNs as A-labels).
_DOMAIN = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
#: Characters a local part may not have here: a second ``@``, ``%`` and ``!`` are routing
#: operators to some mail servers (``x@vendor.example@lkpp.go.id`` and ``x%vendor.example@lkpp.go.id``
#: end at the LKPP domain's role but may be delivered to vendor.example), quotes and brackets
#: are syntax, whitespace and control characters break headers.
_NOT_IN_LOCAL = frozenset('@%!<>,;:"\\()[]')


def normalize_address(text: str) -> str | None:
    """An address as typed, lowercased; None for anything that cannot be one.

    Strict on purpose: the domain alone gives the LKPP role (``escalation.lkpp_domains``), so the
    address must be one that every server delivers to that domain and nowhere else.
    """
    value = fold_address(text.strip())
    local, sep, domain = value.rpartition("@")
    if (not sep or not local or len(value) > 320 or not _DOMAIN.match(domain)
            or local.startswith(".") or local.endswith(".") or ".." in local
            or any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c in _NOT_IN_LOCAL for c in local)):
        return None
    return value


def viewer_for(settings: Settings, address: str) -> Viewer | None:
    """The console role of ``address`` under the current settings (None: no access)."""
    # ASCII case only, as mail is matched: str.lower() would take a look-alike mailbox written with
    # the Kelvin sign for koord@ and mail koord's sign-in link to it.
    address = fold_address(address)
    staff = [s for s in settings.per_helpdesk() if s.is_staff(address)]
    coordinating = [s for s in settings.per_helpdesk() if fold_address(s.staff.coordinator) == address]
    keys = tuple(dict.fromkeys(s.helpdesk_key for s in [*staff, *coordinating]))
    if keys:
        return Viewer(address, "coordinator" if coordinating else "staff", keys)
    esc = settings.escalation
    if address == fold_address(esc.lkpp_address) or address.rpartition("@")[2] in esc.lkpp_domains:
        return Viewer(address, "lkpp", tuple(s.helpdesk_key for s in settings.per_helpdesk()))
    return None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def audit(session: Session, kind: str, now: datetime, *, address: str = "", client: str = "",
          detail: str = "") -> None:
    """One row of the audit trail and the same as a log line."""
    session.add(WebAudit(at=now, kind=kind, address=address[:320], client=client[:64], detail=detail))
    log.info("web: %s%s%s%s", kind, f" {address}" if address else "", f" from {client}" if client else "",
             f" ({detail})" if detail else "")


def _recent_requests(session: Session, by: Literal["address", "client"], value: str, now: datetime) -> int:
    column = WebAudit.address if by == "address" else WebAudit.client
    count = session.scalar(select(func.count()).select_from(WebAudit).where(
        column == value, WebAudit.kind.in_(REQUEST_KINDS), WebAudit.at > now - RATE_WINDOW))
    return int(count or 0)


LinkOutcome = Literal["sent", "unknown", "limited"]


def request_link(session: Session, settings: Settings, typed: str, client: str,
                 now: datetime) -> tuple[LinkOutcome, Viewer | None, str]:
    """Record a link request; for a known address within the limits, a new link's token.

    Returns (outcome, viewer, token); the token is "" unless the outcome is "sent". The caller
    mails the link (in the same transaction) and shows the same page whatever the outcome.
    """
    address = normalize_address(typed) or ""
    limits = settings.web
    if (_recent_requests(session, "client", client, now) >= limits.links_per_client_hour
            or (address and _recent_requests(session, "address", address, now)
                >= limits.links_per_address_hour)):
        audit(session, "link_limited", now, address=address, client=client, detail="rate limit")
        return "limited", None, ""
    viewer = viewer_for(settings, address) if address else None
    if viewer is None:
        audit(session, "link_unknown", now, address=address, client=client,
              detail="" if address else f"not an address: {typed[:60]!r}")
        return "unknown", None, ""
    token = secrets.token_urlsafe(32)
    session.add(WebSignInLink(token_hash=digest(token), address=address, created_at=now,
                              expires_at=now + LINK_LIFETIME))
    audit(session, "link_sent", now, address=address, client=client, detail=viewer.role)
    return "sent", viewer, token


def issue_link(session: Session, settings: Settings, typed: str, now: datetime) -> tuple[Viewer | None, str]:
    """A sign-in link's token for an operator at the command line (``mailbot web --link``): no rate
    limit and no mail, the same lifetime and single use; audited as issued at the command line.
    (None, "") when the address has no console access."""
    address = normalize_address(typed) or ""
    viewer = viewer_for(settings, address) if address else None
    if viewer is None:
        audit(session, "link_unknown", now, address=address, client="cli", detail="command line")
        return None, ""
    token = secrets.token_urlsafe(32)
    session.add(WebSignInLink(token_hash=digest(token), address=address, created_at=now,
                              expires_at=now + LINK_LIFETIME))
    audit(session, "link_issued", now, address=address, client="cli", detail=viewer.role)
    return viewer, token


def link_is_valid(session: Session, token: str, now: datetime) -> bool:
    """Whether the link still works (unused, not expired), without using it."""
    row = session.scalar(select(WebSignInLink).where(WebSignInLink.token_hash == digest(token)))
    return row is not None and row.used_at is None and row.expires_at > now


def redeem_link(session: Session, settings: Settings, token: str, client: str,
                now: datetime) -> tuple[str, Viewer] | None:
    """Use the link (once: the first of two simultaneous uses wins) and open a session.

    Returns (session token, viewer), or None for a used, expired or unknown link, or an address
    that has lost its access since.
    """
    hashed = digest(token)
    # One UPDATE decides: only the request that flips used_at from NULL gets the session.
    used = session.execute(update(WebSignInLink).where(
        WebSignInLink.token_hash == hashed, WebSignInLink.used_at.is_(None), WebSignInLink.expires_at > now,
    ).values(used_at=now).returning(WebSignInLink.address)).scalar_one_or_none()
    viewer = viewer_for(settings, used) if used is not None else None
    if used is None or viewer is None:
        audit(session, "link_refused", now, address=used or "", client=client,
              detail="no longer allowed" if used else "unknown, used or expired link")
        return None
    forget_expired(session, now)
    session_token = secrets.token_urlsafe(32)
    session.add(WebSession(token_hash=digest(session_token), address=used, created_at=now,
                           expires_at=now + timedelta(hours=settings.web.session_hours)))
    audit(session, "signed_in", now, address=used, client=client, detail=viewer.role)
    return session_token, viewer


def forget_expired(session: Session, now: datetime) -> None:
    """Drop links and sessions that can no longer be used (the audit trail keeps what happened)."""
    session.execute(delete(WebSignInLink).where(WebSignInLink.expires_at < now))
    session.execute(delete(WebSession).where(or_(WebSession.expires_at < now, WebSession.ended_at.is_not(None))))


def session_viewer(session: Session, settings: Settings, token: str, now: datetime) -> Viewer | None:
    """The viewer of a session cookie: None when unknown, expired, signed out or no longer allowed."""
    if not token:
        return None
    row = session.scalar(select(WebSession).where(WebSession.token_hash == digest(token)))
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    return viewer_for(settings, row.address)


def end_session(session: Session, token: str, client: str, now: datetime) -> None:
    row = session.scalar(select(WebSession).where(WebSession.token_hash == digest(token)))
    if row is not None and row.ended_at is None:
        row.ended_at = now
        audit(session, "signed_out", now, address=row.address, client=client)


def csrf_token(key: str, basis: str) -> str:
    """The form token of a browser: an HMAC of its session (or pre-session) cookie."""
    return hmac.new(key.encode(), f"csrf/{basis}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: str, basis: str, given: str) -> bool:
    return bool(basis) and bool(given) and hmac.compare_digest(csrf_token(key, basis), given)
