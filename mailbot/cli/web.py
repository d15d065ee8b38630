"""``mailbot web``: the helpdesk console, served until SIGTERM (see ``mailbot.web``); ``--link``
prints a one-time sign-in link instead (an operator's way in when mail is not there yet)."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any


def web(apps: list[Any]) -> int:
    from mailbot.web.server import serve

    return serve(apps)


def link(apps: list[Any], address: str) -> int:
    """Print a sign-in link for ``address``: 0, or 1 with one line when it has no console access."""
    from mailbot.settings.config import ConfigError
    from mailbot.web import access

    settings = apps[0].settings
    if not settings.web.base_url:
        raise ConfigError("config error: web.base_url is required for a sign-in link (the address people open, "
                          "e.g. https://helpdesk.lpse.example.go.id)")
    with apps[0].factory.begin() as session:
        viewer, token = access.issue_link(session, settings, address, datetime.now(timezone.utc))
    if viewer is None:
        # An LKPP officer answering from an own address is let in by the domain: name that key too.
        print(f"{address}: no console access (not in staff.addresses, a staff.coordinator, "
              "escalation.lkpp_address or a domain of escalation.lkpp_domains)", file=sys.stderr)
        return 1
    lifetime = int(access.LINK_LIFETIME.total_seconds() // 60)
    print(f"{settings.web.base_url}/masuk/{token}")
    print(f"sign-in link for {viewer.address} ({viewer.role}): single use, valid {lifetime} minutes", file=sys.stderr)
    return 0
