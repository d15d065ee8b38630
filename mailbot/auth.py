"""Is a mail from a staff address really from staff? Never trust a From header alone.

Pure. Two proofs are accepted, as configured (``staff.command_auth``):

- ``reply_address``: the mail was sent to the per-ticket reply address, whose MAC only
  the bot can make (staff reply to notifications that carry it in Reply-To);
- ``dkim``: the topmost ``Authentication-Results`` header, added by a server listed in
  ``staff.trusted_authserv_ids``, shows ``dkim=pass`` (for the From domain) or
  ``dmarc=pass``. Only the topmost header counts: the receiving MTA prepends its own,
  and anything below it may have been written by the sender (RFC 8601 section 5).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from mailbot.domain import InboundMail


@dataclass(frozen=True)
class AuthVerdict:
    ok: bool
    how: str  # which proof passed, or why none did


_RESULT = re.compile(r"\b(?P<method>dkim|dmarc|spf)\s*=\s*(?P<result>[a-z]+)(?P<props>[^;]*)", re.IGNORECASE)


def _authserv_id(header: str) -> str:
    return header.split(";", 1)[0].strip().split()[0].lower() if header.strip() else ""


def dkim_pass(mail: InboundMail, trusted_authserv_ids: Collection[str]) -> tuple[bool, str]:
    if not mail.authentication_results:
        return False, "no Authentication-Results header"
    top = mail.authentication_results[0]
    server = _authserv_id(top)
    if server not in {t.lower() for t in trusted_authserv_ids}:
        return False, f"Authentication-Results from untrusted server {server!r}"
    domain = mail.from_addr.rpartition("@")[2]
    for match in _RESULT.finditer(top.split(";", 1)[1] if ";" in top else ""):
        method, result, props = match.group("method").lower(), match.group("result").lower(), match.group("props")
        if result != "pass":
            continue
        if method == "dmarc" and re.search(rf"header\.from\s*=\s*{re.escape(domain)}\b", props, re.IGNORECASE):
            return True, f"dmarc=pass by {server}"
        if method == "dkim" and re.search(rf"header\.d\s*=\s*{re.escape(domain)}\b", props, re.IGNORECASE):
            return True, f"dkim=pass for {domain} by {server}"
    return False, f"no dkim/dmarc pass for {domain} in the header from {server}"


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
