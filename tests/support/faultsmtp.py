"""An SMTP server whose answers a test controls (aiosmtpd), in front of the real Postfix.

``FaultSMTP`` listens on 127.0.0.1 (a free port), asks for AUTH (any user, password
"secret"; no TLS), and answers according to ``mode``:

=========  ==================================================================
accept     250 to everything; the mail is forwarded to Postfix (port 12525), so
           it lands in the recipients' mailboxes as it would through the real server
421        "421 service not available" as the greeting, then closes
451        "451 try again later" at the end of DATA (a temporary failure)
550        "550 rejected" at the end of DATA (a permanent failure)
drop       closes the connection as soon as it is accepted
hang       accepts the connection and never says anything
=========  ==================================================================

``refuse(address, "550"|"451")`` refuses one recipient at RCPT TO whatever the mode.
Every transaction that reached DATA or was refused is recorded in ``attempts`` (time,
envelope, Message-ID, the answer), and ``connections`` counts TCP connections.

Example::

    with FaultSMTP(stack) as smtp:
        smtp.mode = "451"
        ...  # the bot's replies are refused, with a time stamp per try
        smtp.mode = "accept"
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import logging
import smtplib
import socket
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.mailstack import MailStack

# aiosmtpd warns about its own deprecated Session.login_data on every AUTH.
logging.getLogger("mail.log").setLevel(logging.ERROR)

MODES = ("accept", "421", "451", "550", "drop", "hang")


@dataclass(frozen=True)
class Attempt:
    at: float  # time.time()
    mail_from: str
    rcpt_to: tuple[str, ...]
    message_id: str  # "" when refused before DATA
    answer: str  # the status line sent back, "250 ..." when accepted


@dataclass
class _State:
    mode: str = "accept"
    refused: dict[str, str] = field(default_factory=dict)  # lower-case address -> "550" | "451"
    attempts: list[Attempt] = field(default_factory=list)
    connections: int = 0
    forward_errors: list[str] = field(default_factory=list)
    hung: list[_Hang] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler:
    def __init__(self, state: _State, stack: MailStack) -> None:
        self.state = state
        self.stack = stack

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        code = self.state.refused.get(address.lower())
        if code:
            answer = ("550 5.1.1 <%s>: mailbox unavailable" if code.startswith("5")
                      else "451 4.2.0 <%s>: mailbox busy, try again later") % address
            self._record(envelope.mail_from or "", (address,), "", answer)
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        message_id = (headers.get("Message-ID") or "").strip().strip("<>")
        mode = self.state.mode
        if mode == "451":
            answer = "451 4.3.0 Temporary failure, try again later"
        elif mode == "550":
            answer = "550 5.7.1 Message rejected by policy"
        else:
            try:
                await asyncio.to_thread(self._forward, envelope.mail_from, list(envelope.rcpt_tos), raw)
                answer = "250 2.0.0 OK queued"
            except (OSError, smtplib.SMTPException) as exc:
                self.state.forward_errors.append(f"{type(exc).__name__}: {exc}")
                answer = "451 4.4.0 Could not forward the mail"
        self._record(envelope.mail_from or "", tuple(envelope.rcpt_tos), message_id, answer)
        return answer

    def _forward(self, mail_from: str, rcpt_to: list[str], raw: bytes) -> None:
        with smtplib.SMTP(self.stack.host, self.stack.smtp_port, timeout=30) as smtp:
            smtp.sendmail(mail_from, rcpt_to, raw)

    def _record(self, mail_from: str, rcpt: tuple[str, ...], message_id: str, answer: str) -> None:
        with self.state.lock:
            self.state.attempts.append(Attempt(time.time(), mail_from, rcpt, message_id, answer))


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
                  ) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"secret"
    return AuthResult(success=ok, handled=False)


class _Greeting421(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(b"421 4.3.2 Service not available, closing transmission channel\r\n")
        transport.close()


class _Drop(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _Hang(asyncio.Protocol):
    """Says nothing; the client times out (or the test releases it)."""

    def __init__(self, state: _State) -> None:
        self.opened = time.time()
        self.closed: float | None = None
        self.transport: asyncio.BaseTransport | None = None
        with state.lock:
            state.hung.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = time.time()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Controller(Controller):
    def __init__(self, state: _State, stack: MailStack) -> None:
        self.state = state
        super().__init__(_Handler(state, stack), hostname="127.0.0.1", port=_free_port(), authenticator=_authenticate,
                         auth_require_tls=False, ready_timeout=10)

    def factory(self) -> asyncio.Protocol:  # type: ignore[override]
        with self.state.lock:
            self.state.connections += 1
        mode = self.state.mode
        if mode == "421":
            return _Greeting421()
        if mode == "drop":
            return _Drop()
        if mode == "hang":
            return _Hang(self.state)
        return super().factory()

    def _trigger_server(self) -> None:  # count the start-up probe as nothing
        super()._trigger_server()
        with self.state.lock:
            self.state.connections = 0


class FaultSMTP:
    def __init__(self, stack: MailStack) -> None:
        self._state = _State()
        self._controller = _Controller(self._state, stack)
        self.host = "127.0.0.1"
        self.port = 0

    def start(self) -> FaultSMTP:
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> FaultSMTP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def mode(self) -> str:
        return self._state.mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self._state.mode = value
        if value != "hang":
            self.release_hung()

    @property
    def hung(self) -> list[_Hang]:
        """Connections held open by ``hang`` (with ``opened`` and ``closed`` times)."""
        with self._state.lock:
            return list(self._state.hung)

    def release_hung(self) -> None:
        """Close the connections ``hang`` is holding (the client sees the server hang up)."""
        loop = self._controller.loop
        for h in self.hung:
            if h.transport is not None and h.closed is None:
                loop.call_soon_threadsafe(h.transport.close)

    def refuse(self, address: str, code: str = "550") -> None:
        self._state.refused[address.lower()] = code

    def allow(self, address: str) -> None:
        self._state.refused.pop(address.lower(), None)

    @property
    def attempts(self) -> list[Attempt]:
        with self._state.lock:
            return list(self._state.attempts)

    @property
    def connections(self) -> int:
        return self._state.connections

    @property
    def forward_errors(self) -> list[str]:
        return list(self._state.forward_errors)

    def attempts_for(self, message_id: str) -> list[Attempt]:
        return [a for a in self.attempts if a.message_id == message_id]

    def attempts_to(self, address: str) -> list[Attempt]:
        return [a for a in self.attempts if address.lower() in (r.lower() for r in a.rcpt_to)]
