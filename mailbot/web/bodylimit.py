"""A ceiling on the size of a request body, before anything reads it.

Starlette parses a form as it streams in and spools uploaded files to disk without a total limit,
and the sign-in form is open to anyone: without a ceiling one anonymous POST of gigabytes fills
memory or the disk. The ceiling follows from what the console accepts (``MAX_FILES`` files within
``storage.max_attachment_bytes`` each, plus the text fields), so a proxy in front needs no tuning to
be safe. A declared ``Content-Length`` over it is refused at once; a body without one (chunked) is
counted as it arrives and cut off where it crosses the line.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("mailbot.web")

#: What the text fields of a form may take beside its files (an answer of a few pages is ~50 KB).
FORM_TEXT_BYTES = 1024 * 1024

PAGE = ("<!doctype html><html lang=\"id\"><meta charset=\"utf-8\"><title>Terlalu besar</title>"
        "<p>Kiriman ini terlalu besar ({limit} MB paling banyak). Kecilkan atau kurangi berkasnya, "
        "lalu coba lagi.</p></html>")


def body_ceiling(max_files: int, max_attachment_bytes: int) -> int:
    """The largest body a console form can legitimately have, in bytes."""
    return max_files * max_attachment_bytes + FORM_TEXT_BYTES


class _TooLarge(Exception):
    """The body crossed the ceiling while it was being read."""


class BodyLimit:
    """Answers 413 to any HTTP request whose body is larger than ``limit`` bytes."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:  # nothing sensible can follow a started response: the server closes it
                raise
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        # Not the path: a sign-in link's token is in it (the access log is off for the same reason).
        log.warning("web: refused a %s request with a body over %d bytes", scope.get("method", "?"), self.limit)
        body = PAGE.format(limit=max(1, self.limit // (1024 * 1024))).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
