"""Did the receiving mail server's spam filter call this mail spam?

Pure. mailbot does not filter spam itself: the mail server in front of the helpdesk mailbox does
(SpamAssassin, rspamd, Microsoft 365 / Exchange Online Protection) and writes its verdict into
header fields. Spam that opened a ticket would get an acknowledgment, usually to a forged sender
(backscatter), and land in staff's queue; so a new thread the filter marked is held in quarantine
instead, with the verdict as its reason (``mailbot quarantine retry`` processes it after all).

Only a positive verdict counts. A sender can write these fields too, but forging "spam" only holds
back the forger's own mail, and a forged "not spam" changes nothing: a filter's "yes" further down
the header still wins.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: The verdict fields read (lower case), in the order they are reported.
SPAM_FIELDS = ("x-spam-flag", "x-spam-status", "x-spam", "x-forefront-antispam-report",
               "x-ms-exchange-organization-scl")
#: Values read per field (a long relay chain may carry one per filter).
MAX_SPAM_FIELDS = 5

#: Exchange's spam confidence level at which it treats mail as spam (SCL 5-9; -1 is a trusted sender).
_SCL_SPAM = 5
_YES = re.compile(r"\s*yes\b", re.IGNORECASE)
# Exchange Online Protection's spam filter verdict: SFV:SPM (spam) or SFV:SKS (marked by a rule).
_EOP = re.compile(r"(?:^|;)\s*SFV:(SPM|SKS)\s*(?:;|$)", re.IGNORECASE)


def spam_verdict(fields: Sequence[str]) -> str | None:
    """The first field that says spam (``"x-spam-flag: YES"``), shortened for the record; None when none does.

    ``fields`` are ``"name: value"`` with the name in lower case, as ``InboundMail.spam_headers`` has them.
    """
    for field in fields:
        name, _, value = field.partition(":")
        name = name.strip().lower()
        if name in {"x-spam-flag", "x-spam-status", "x-spam"} and _YES.match(value):
            return f"{name}: {value.strip()[:80]}"
        eop = _EOP.search(value) if name == "x-forefront-antispam-report" else None
        if eop is not None:
            return f"{name}: SFV:{eop[1].upper()}"
        if name == "x-ms-exchange-organization-scl":
            level = value.strip()
            if level.isdigit() and int(level) >= _SCL_SPAM:
                return f"{name}: {level}"
    return None
