"""The console as an ASGI application (Starlette), its security headers, and ``mailbot web`` (uvicorn).

Every response carries a Content-Security-Policy that allows nothing but this origin's own
stylesheet and images (no script at all: the pages work without JavaScript), forbids framing,
and turns off MIME sniffing and the Referer (a sign-in link must not leak to another site).
uvicorn stops cleanly on SIGTERM: it stops accepting, finishes the requests in hand, and exits 0.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailbot.service.app import App
from mailbot.settings.config import ConfigError
from mailbot.web.actions import MAX_FILES
from mailbot.web.bodylimit import BodyLimit, body_ceiling
from mailbot.web.console import Console
from mailbot.web.pages import routes

log = logging.getLogger("mailbot.web")

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response (a response's own CSP, e.g. a download's, is kept)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = dict(SECURITY_HEADERS)
        if hsts:
            self.headers["Strict-Transport-Security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in self.headers.items()
                         if k.lower().encode() not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def build_asgi(apps: list[App], *, clock: Callable[[], datetime] | None = None) -> Starlette:
    """The console of the deployment whose helpdesks are ``apps`` (tests pass a ``clock``)."""
    console = Console(apps, clock=clock)

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in {302, 303} and exc.headers:
            return RedirectResponse(exc.headers["Location"], status_code=303)
        titles = {403: "Tidak diizinkan", 404: "Tidak ditemukan", 405: "Metode tidak diizinkan"}
        messages = {403: "Formulir ini kedaluwarsa atau tidak sah. Muat ulang halaman lalu coba lagi.",
                    404: "Halaman atau tiket ini tidak ada, atau Anda tidak berhak melihatnya."}
        return console.render(request, "error.html", {
            "title": titles.get(exc.status_code, "Kesalahan"),
            "message": messages.get(exc.status_code, "Permintaan tidak dapat diproses.")},
            status=exc.status_code, viewer=console.viewer(request))  # signed in: the menu stays

    app = Starlette(routes=routes(console), exception_handlers={HTTPException: http_error})
    ceiling = body_ceiling(MAX_FILES, max(a.settings.storage.max_attachment_bytes for a in apps))
    app.add_middleware(BodyLimit, limit=ceiling)
    app.add_middleware(SecurityHeaders, hsts=console.secure)  # added last: outermost, so a 413 has them too
    app.state.console = console
    return app


def serve(apps: list[App]) -> int:
    """``mailbot web``: serve the console until SIGTERM or Ctrl-C."""
    import uvicorn

    web = apps[0].settings.web
    if not web.base_url:
        raise ConfigError("config error: web.base_url is required by mailbot web (the address people open, "
                          "e.g. https://helpdesk.lpse.example.go.id): the sign-in links point there")
    asgi = build_asgi(apps)
    log.info("web: console at %s (listening on %s:%d)", web.base_url, web.host, web.port)
    # access_log off: a request line would put sign-in tokens (/masuk/<token>) in the log. The
    # client's address comes from X-Forwarded-For only when the proxy is on this machine
    # (uvicorn's default forwarded_allow_ips, 127.0.0.1).
    config = uvicorn.Config(asgi, host=web.host, port=web.port, log_config=None, access_log=False,
                            proxy_headers=True, server_header=False, timeout_graceful_shutdown=10)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler it
    # found: ours ends the run, so the command exits 0 (as ``mailbot run`` does), also when the
    # signal comes before uvicorn took over.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        uvicorn.Server(config).run()
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info("web: stopped")
    return 0


class _Stopped(Exception):
    """SIGTERM reached ``mailbot web`` (after uvicorn's graceful shutdown, or before it started)."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped
