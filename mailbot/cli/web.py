"""``mailbot web``: the helpdesk console, served until SIGTERM (see ``mailbot.web``)."""

from __future__ import annotations

from typing import Any


def web(apps: list[Any]) -> int:
    from mailbot.web.server import serve

    return serve(apps)
