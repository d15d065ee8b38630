"""Is a mail from a staff address really from staff? Never trust a From header alone.

Pure. Two proofs are accepted, as configured (``staff.command_auth``):

- ``reply_address``: the mail was sent to the per-ticket reply address, whose MAC only
  the bot can make (staff reply to notifications that carry it in Reply-To);
- ``dkim``: the topmost ``Authentication-Results`` header (RFC 8601) was written by a
  server listed in ``staff.trusted_authserv_ids`` and reports ``dkim=pass`` with
  ``header.d`` equal to the From domain, or ``dmarc=pass`` with ``header.from`` equal to it.

How the ``dkim`` proof is read:

- The header is parsed by the RFC 8601 parser ``authres``, not grepped: comments may hold
  ``;`` (OpenDKIM writes ``dkim=pass (2048-bit key; unprotected) header.d=...``), values may
  be quoted, headers may be folded.
- Domains are compared whole and case-insensitively: ``header.d=lpse.test.evil.example``,
  ``lpse.test-evil.example``, ``evil-lpse.test`` or ``xlpse.test`` are no proof for
  ``lpse.test``; nor is a parent or subdomain (no relaxed alignment: the signer must be the
  From domain itself). ``header.i`` and ``smtp.mailfrom`` (SPF) prove nothing about From.
  A From domain that is not ASCII is no proof (``header.d`` is an A-label; comparing the
  two would need IDNA mapping, which differs between IDNA 2003 and 2008).
- A header whose authserv-id is not trusted, or that has none (Microsoft 365 writes its
  results without one), is never believed. The authserv-id is the only thing that says who
  wrote the header, and anybody can write one.
- Only the topmost header counts. The receiving MTA prepends its own header above
  everything the sender wrote, so the topmost one is the MTA's; a forged one below it
  (even with the trusted authserv-id) is ignored. The rule cannot help when the MTA adds
  no header of its own: then the topmost header is the sender's. RFC 8601 section 5 tells
  the MTA to remove any header carrying its own authserv-id from incoming mail; the MTA
  must be set up to do so (``mailbot check-config`` says so whenever ``dkim`` is enabled),
  otherwise a sender can forge a trusted result.
- A mail with several From headers, or several addresses in its From, is no proof: the
  intake reads the first address, a DMARC filter or an MTA that checks the sender reads the
  one in angle brackets (``staf@lpse.test <colleague@lpse.test>``).
- A header that does not parse (or is too long to have been kept whole, or nests comments
  absurdly deep) is "no proof" with a reason, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import authres

from mailbot.core.domain import InboundMail
from mailbot.core.parse import MAX_RAW_HEADER_CHARS


@dataclass(frozen=True)
class AuthVerdict:
    ok: bool
    how: str  # which proof passed, or why none did


#: Core RFC 8601 methods only: dmarc results come back as generic results with their properties.
_FEATURES = authres.FeatureContext()

#: The result property naming the authenticated domain, per method.
_DOMAIN_PROPERTY = {"dkim": ("header", "d"), "dmarc": ("header", "from")}

#: Genuine headers nest comments one level deep; the parser recurses per level.
_MAX_COMMENT_DEPTH = 8

# "spf=pass ..." at the start: the header has no authserv-id (Microsoft 365 writes it so).
_NO_AUTHSERV_ID = re.compile(r"^[^\s;(]*=")
_TRAILING_SEMICOLON = re.compile(r"\s*;\s*$")


def _shown(text: str, limit: int = 60) -> str:
    """A value from the mail, quoted and shortened for a reason text."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _comment_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(depth - 1, 0)
    return deepest


def parse_header(value: str) -> tuple[authres.AuthenticationResultsHeader | None, str]:
    """One (unfolded) Authentication-Results value: the parsed header, or None and why not."""
    if not value.strip():
        return None, "empty Authentication-Results header"
    if len(value) >= MAX_RAW_HEADER_CHARS:
        # parse.py keeps the first MAX_RAW_HEADER_CHARS characters: the value may have been cut
        # inside a domain (header.d=lpse.test|.evil.example).
        return None, f"Authentication-Results header longer than {MAX_RAW_HEADER_CHARS - 1} characters, not read"
    if _NO_AUTHSERV_ID.match(value):
        return None, "Authentication-Results header without authserv-id (as Microsoft 365 writes it)"
    if _comment_depth(value) > _MAX_COMMENT_DEPTH:
        return None, "Authentication-Results header with too deeply nested comments"
    # Some MTAs end the header with ";", which RFC 8601 does not allow; it means nothing.
    text = _TRAILING_SEMICOLON.sub("", value)
    try:
        return _FEATURES.parse_value(text), ""
    except authres.AuthResError as exc:
        return None, f"Authentication-Results header does not parse ({exc.message or 'syntax error'})"
    except Exception as exc:
        return None, f"Authentication-Results header does not parse ({type(exc).__name__})"


def _domain_of(result: authres.AuthenticationResult) -> str | None:
    """The one domain a dkim/dmarc result vouches for, or None (none or ambiguous)."""
    wanted = _DOMAIN_PROPERTY.get(str(result.method).lower())
    if wanted is None:
        return None
    values = [str(p.value) for p in result.properties
              if (str(p.type).lower(), str(p.name).lower()) == wanted and p.value is not None]
    return values[0].lower() if len(values) == 1 else None


def results_pass(value: str, from_domain: str, trusted_authserv_ids: Collection[str]) -> tuple[bool, str]:
    """Does this Authentication-Results value prove mail from ``from_domain``? (ok, reason)."""
    header, why = parse_header(value)
    if header is None:
        return False, why
    server = str(header.authserv_id or "").lower()
    if server not in {t.strip().lower() for t in trusted_authserv_ids}:
        return False, f"Authentication-Results from untrusted server {_shown(server)}"
    domain = from_domain.lower()
    if not domain or not domain.isascii():
        return False, f"From domain {_shown(domain)} cannot be compared with a signing domain"
    for result in header.results:
        method = str(result.method).lower()
        if str(result.result).lower() != "pass" or _domain_of(result) != domain:
            continue
        return True, f"{method}=pass for {domain} by {server}"
    return False, f"no dkim=pass (header.d) or dmarc=pass (header.from) for {domain} in the header from {server}"


def dkim_pass(mail: InboundMail, trusted_authserv_ids: Collection[str]) -> tuple[bool, str]:
    """The ``dkim`` proof: read the topmost Authentication-Results header only (see above)."""
    if not mail.authentication_results:
        return False, "no Authentication-Results header"
    if mail.from_ambiguous:
        # The intake reads the first address; the server that checked DKIM/DMARC may have read
        # another (``staf@lpse.test <colleague@lpse.test>``): the result says nothing about ours.
        return False, "From names several addresses (or the mail has several From headers)"
    local, at, domain = mail.from_addr.rpartition("@")
    if not (local and at and domain):
        return False, "From has no domain"
    return results_pass(mail.authentication_results[0], domain, trusted_authserv_ids)


def verify_staff(mail: InboundMail, *, ticket_id: int, signed_ticket_id: int | None, methods: Collection[str],
                 trusted_authserv_ids: Collection[str]) -> AuthVerdict:
    reasons = []
    if "reply_address" in methods:
        if signed_ticket_id == ticket_id:
            return AuthVerdict(True, "signed reply address")
        reasons.append("not sent to the signed reply address" if signed_ticket_id is None
                       else "reply address signed for another ticket")
    if "dkim" in methods:
        ok, why = dkim_pass(mail, trusted_authserv_ids)
        if ok:
            return AuthVerdict(True, why)
        reasons.append(why)
    return AuthVerdict(False, "; ".join(reasons) or "no authentication method configured")
