"""The SMTP side of the outbox: clients, the login (password or OAuth2), extra connections, and
one SMTP transaction with what it came to.

Nothing here touches the database: the senders (``mailbot.mail.senders``) decide what a
transaction's outcome means for the row. Their log lines, these included, keep the logger
name of the outbox (``mailbot.mail.outbox``), as before the sender was split into modules.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
import threading
from collections.abc import Callable
from typing import NamedTuple

import aiosmtplib
import aiosmtplib.protocol
import aiosmtplib.smtp

from mailbot.mail import oauth
from mailbot.settings.config import SmtpSettings

log = logging.getLogger("mailbot.mail.outbox")

#: aiosmtplib's own line-end normalisation (None in a release without it: then nothing is replaced).
_normalize_by_regex: Callable[[bytes], bytes] | None = getattr(aiosmtplib.protocol, "normalize_message_line_endings",
                                                               None)


def normalize_line_endings(message: bytes) -> bytes:
    """aiosmtplib's ``normalize_message_line_endings``, the same bytes, without its regex for a
    message whose line ends are all CRLF already (every mail the bot composes).

    aiosmtplib runs it twice per mail (for the SIZE option and for DATA), and its regex replaces
    every line end by itself, one match at a time: a forwarded 150 KB attachment is 2,000 lines.
    That was about 7 % of the bot's CPU time per mail; counting costs a fraction of it.
    """
    for seen in _clean[0]:  # the same mail again (bytes do not change): SIZE, then DATA
        if message is seen:
            return message
    crlf = message.count(b"\r\n")
    if message.count(b"\r") == crlf and message.count(b"\n") == crlf:  # no lone CR or LF
        if message.endswith(b"\r\n"):
            _clean[0] = (message, *_clean[0][:CLEAN_SLOTS - 1])  # a new tuple: other threads read the old one
            return message
        return message + b"\r\n"
    assert _normalize_by_regex is not None  # only put in place where aiosmtplib has its own
    return _normalize_by_regex(message)


#: The last messages ``normalize_line_endings`` found unchanged, held until later mails push them
#: out. Several: with ``smtp.connections`` side by side, the other connections' mails come between
#: one mail's SIZE and its DATA (with one slot, most mails were counted twice: 6 passes over the bytes).
CLEAN_SLOTS = 4
_clean: list[tuple[bytes, ...]] = [(b"\r\n",)]


class _DotStuffing:
    """aiosmtplib's ``PERIOD_REGEX`` (``(?m)^\\.``, doubling a dot that starts a line, RFC 5321
    4.5.2), whose ``sub`` first looks whether any line starts with a dot: most mails have none,
    and the regex tries every position of the message (some 0.15 ms per mail of the benchmark)."""

    def __init__(self, regex: re.Pattern[bytes]) -> None:
        self.regex = regex

    def sub(self, repl: bytes, message: bytes) -> bytes:
        if not message.startswith(b".") and b"\n." not in message:  # ``^`` in MULTILINE: start, after LF
            return message
        return self.regex.sub(repl, message)


def _speed_up_aiosmtplib() -> bool:
    """Put the two shortcuts in place of aiosmtplib's own, where aiosmtplib still has them.

    Both modules call the line-end function by their own global name (aiosmtplib 5:
    ``SMTP.sendmail`` and ``SMTPProtocol.execute_data_command``); the bot is the only user of
    aiosmtplib in its process. These are aiosmtplib's internals: a release that renames them
    must not stop the bot, so nothing is replaced unless all three are there as expected, and the
    bot then simply sends at aiosmtplib's own speed (``tests/unit/test_smtp_line_endings.py``
    says which happened).
    """
    protocol, smtp = aiosmtplib.protocol, getattr(aiosmtplib, "smtp", None)
    regex = getattr(protocol, "PERIOD_REGEX", None)
    if not (_normalize_by_regex is not None and smtp is not None
            and callable(getattr(smtp, "normalize_message_line_endings", None))
            and (isinstance(regex, _DotStuffing) or isinstance(regex, re.Pattern))):
        log.debug("smtp: aiosmtplib %s has other internals; its own line-end and dot-stuffing code is used",
                  getattr(aiosmtplib, "__version__", "?"))
        return False
    protocol.normalize_message_line_endings = normalize_line_endings
    smtp.normalize_message_line_endings = normalize_line_endings
    if not isinstance(regex, _DotStuffing):  # (a reload of this module)
        protocol.PERIOD_REGEX = _DotStuffing(regex)  # type: ignore[assignment]  # duck-typed: only .sub is used
    return True


SPED_UP = _speed_up_aiosmtplib()


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The client TLS context that trusts ``ca_file`` (the system's CAs without one), made once
    per file and process, for SMTP and IMAP alike.

    Making one reads and parses every certificate it trusts: some 50 ms of CPU for the system's
    store, which every flush of the outbox (a new one for each round of mail) and every IMAP
    login paid again. A context is only read once made, and is safe to share between threads
    and connections. A CA file that changed on disk (time or size) gets a new context; the
    system's store is read again by a restart.
    """
    try:
        stamp = os.stat(ca_file) if ca_file else None
    except OSError:  # let ssl say what is wrong with the file, as before
        return ssl.create_default_context(cafile=ca_file)
    key = (ca_file, (stamp.st_mtime_ns, stamp.st_size) if stamp else None)
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is None:
            ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
            for old in [k for k in _contexts if k[0] == ca_file]:  # the file's earlier version
                del _contexts[old]
            _contexts[key] = ctx
    return ctx


#: The contexts made by ``tls_context``: (CA file, its time and size) -> context.
_contexts: dict[tuple[str | None, tuple[int, int] | None], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def smtp_client(settings: SmtpSettings, ctx: ssl.SSLContext | None = None) -> aiosmtplib.SMTP:
    """A client for ``settings`` (not connected); ``ctx``: a TLS context to share between connections."""
    if ctx is None:
        ctx = tls_context(str(settings.ca_file) if settings.ca_file else None)
    return aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        use_tls=settings.security == "ssl",
        start_tls=True if settings.security == "starttls" else False,
        tls_context=ctx,
        timeout=settings.timeout,
    )


class SmtpOAuthError(aiosmtplib.SMTPException):
    """No OAuth2 access token for the SMTP login (the refresh was refused or failed).

    An SMTP exception, so a flush defers its mail as for any other login failure; the
    refusal itself is on ``token_provider(settings).failure`` for the service to report.
    """


def token_provider(settings: SmtpSettings) -> oauth.TokenProvider | None:
    """The OAuth2 token source of an ``auth = "xoauth2"`` SMTP account (None for a password)."""
    if settings.auth != "xoauth2" or settings.oauth2 is None:
        return None
    return oauth.provider_for(settings.oauth2, "smtp.oauth2")


async def login(client: aiosmtplib.SMTP, settings: SmtpSettings) -> None:
    """Connect ``client`` and authenticate it as the account of ``settings``."""
    provider = token_provider(settings)
    token = ""
    if provider is not None:
        try:
            token = provider.token()  # before connecting: no idle connection while the endpoint answers
        except oauth.OAuthError as exc:
            raise SmtpOAuthError(f"smtp mailbox {settings.username}: {exc}") from None
    await client.connect()
    if provider is not None:
        try:
            await client.auth_xoauth2(settings.username, token)
        except aiosmtplib.SMTPAuthenticationError:
            provider.invalidate(token)  # refused by the server: the next login gets a fresh token
            raise
    elif settings.username:
        await client.login(settings.username, settings.password_value)


async def check_login(settings: SmtpSettings) -> None:
    """Connect and authenticate once (for ``check-config``); raises on failure."""
    client = smtp_client(settings)
    await login(client, settings)
    await client.quit()


async def more_clients(settings: SmtpSettings, count: int, ctx: ssl.SSLContext | None) -> list[aiosmtplib.SMTP]:
    """Up to ``count`` more logged-in connections (``smtp.connections``), opened side by side.

    The first connection already works; one that cannot be opened now (the server's limit on
    connections, say) only means fewer mails in flight at once, so it is left out, not an error.
    """
    if count <= 0:
        return []
    clients = [smtp_client(settings, ctx) for _ in range(count)]
    outcomes = await asyncio.gather(*(login(c, settings) for c in clients), return_exceptions=True)
    opened: list[aiosmtplib.SMTP] = []
    refused: list[BaseException] = []
    for c, outcome in zip(clients, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            c.close()
            refused.append(outcome)
        else:
            opened.append(c)
    # Once per server and process: a provider that always refuses them would fill the log.
    if refused and (settings.host, settings.port) not in _fewer_connections:
        _fewer_connections.add((settings.host, settings.port))
        log.warning("smtp %s:%d: %d of %d connections opened (%s); sending over fewer", settings.host,
                    settings.port, 1 + len(opened), 1 + count, describe(refused[0]))
    return opened


_fewer_connections: set[tuple[str, int]] = set()


async def close(client: aiosmtplib.SMTP) -> None:
    """QUIT if the connection is still up, and close it whatever the server says."""
    try:
        if client.is_connected:
            await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


class Outcome(NamedTuple):
    """What one SMTP transaction came to."""

    kind: str  # "sent" | "temporary" | "permanent"
    error: str = ""
    #: A timeout or a dropped connection (not an answer of the server): the flush stops taking
    #: new mail, since the server may or may not have this one and the connection is unusable.
    connection_lost: bool = False


async def send(client: aiosmtplib.SMTP, mail_from: str, recipients: list[str],
               raw: bytes) -> tuple[Outcome, dict[str, aiosmtplib.SMTPResponse]]:
    """One SMTP transaction: its outcome, and the recipients refused while others accepted it."""
    try:
        refused = await sendmail(client, mail_from, recipients, raw)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        permanent = all(r.code >= 500 for r in exc.recipients)
        return Outcome("permanent" if permanent else "temporary", f"recipients refused: {_refusals(exc)}"), {}
    except aiosmtplib.SMTPResponseException as exc:
        return Outcome("permanent" if exc.code >= 500 else "temporary", describe(exc)), {}
    except (aiosmtplib.SMTPException, OSError) as exc:
        # Timeout or disconnect: the server may or may not have the mail; resending later
        # keeps the Message-ID, so a receiver can tell it is the same mail.
        return Outcome("temporary", describe(exc), connection_lost=True), {}
    return Outcome("sent"), refused


#: ``dot-atom "@" dot-atom`` of RFC 5322 (ASCII atext; no quoting, comments or spaces): an address
#: that ``email.utils.parseaddr`` returns unchanged and aiosmtplib's injection check lets through.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                            r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def plain_address(address: str) -> bool:
    """Whether ``address`` goes on the MAIL or RCPT line as it is (aiosmtplib sends it unchanged)."""
    return _PLAIN_ADDRESS.fullmatch(address) is not None


async def sendmail(client: aiosmtplib.SMTP, mail_from: str, recipients: list[str],
                   raw: bytes) -> dict[str, aiosmtplib.SMTPResponse]:
    """``client.sendmail(mail_from, recipients, raw)``, without parsing plain addresses again and again.

    aiosmtplib checks every address before the transaction, and ``mail`` and ``rcpt`` parse it
    again to quote it, with ``email.utils.parseaddr``: a Python loop per character, some 26 us a
    time, about 125 us of the sender's CPU per reply of the benchmark (1.4 recipients, and a VERP
    envelope sender new for every mail). For plain ``dot-atom@dot-atom`` addresses (every address
    the bot sends from or to, in practice) that parse gives the address itself
    (``tests/unit/test_smtp_envelope.py`` compares them), so MAIL and RCPT are sent with them as
    they are, through aiosmtplib's public ``execute_command``, and the mail through ``data``,
    as ``sendmail`` does it: SIZE, the same exceptions, the same mapping of refused recipients,
    RSET after a refusal. Any other address, a connection without EHLO yet, or an aiosmtplib whose
    internals ``_speed_up_aiosmtplib`` did not find, goes through ``sendmail`` itself.
    """
    if (not SPED_UP or client.is_ehlo_or_helo_needed or not recipients
            or not all(map(plain_address, (mail_from, *recipients)))):
        refused, _ = await client.sendmail(mail_from, recipients, raw)
        return refused
    # RFC 1870 SIZE as aiosmtplib counts it (the bytes as DATA sends them), in its spelling.
    options = [b"size=%d" % len(normalize_line_endings(raw))] if client.supports_extension("size") else []
    errors: list[aiosmtplib.SMTPRecipientRefused] = []
    limit = client.timeout
    # The wait for each answer: one timer of our own, moved on before each command, in place of
    # the ``asyncio.wait_for`` aiosmtplib puts around every answer (``timeout=None`` below). That
    # one makes a future, a timer and a callback per answer, and wakes the transaction one turn
    # of the event loop later: 4.4 answers per mail. See ``_answer_timeout``.
    deadline = asyncio.timeout(None)
    try:
        async with deadline:
            loop = asyncio.get_running_loop()
            if limit is not None:
                deadline.reschedule(loop.time() + limit)
            response = await client.execute_command(b"MAIL", b"FROM:<" + mail_from.encode("ascii") + b">", *options,
                                                    timeout=None)
            if response.code != aiosmtplib.SMTPStatus.completed:
                raise aiosmtplib.SMTPSenderRefused(response.code, response.message, mail_from)
            for recipient in recipients:
                if limit is not None:
                    deadline.reschedule(loop.time() + limit)
                response = await client.execute_command(b"RCPT", b"TO:<" + recipient.encode("ascii") + b">",
                                                        timeout=None)
                if response.code not in (aiosmtplib.SMTPStatus.completed, aiosmtplib.SMTPStatus.will_forward):
                    errors.append(aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient))
            if len(errors) == len(recipients):
                raise aiosmtplib.SMTPRecipientsRefused(errors)
            if limit is not None:
                deadline.reschedule(loop.time() + limit)
            await client.data(raw, timeout=None)
    except TimeoutError as exc:
        if not deadline.expired():
            raise  # not ours (from the server's side of things, or the caller's)
        _answer_timeout(client)
        raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response") from exc
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        try:  # as sendmail: the envelope is reset for the next mail
            await client.rset()
        except (ConnectionError, aiosmtplib.SMTPResponseException):
            pass
        raise
    return {err.recipient: aiosmtplib.SMTPResponse(err.code, err.message) for err in errors}


def _answer_timeout(client: aiosmtplib.SMTP) -> None:
    """What aiosmtplib does when an answer does not come in time: the connection is closed (the
    answer it gave up on could come later and be taken for the next command's), and the caller
    gets ``SMTPReadTimeoutError`` as from aiosmtplib itself.

    ``sendmail`` gives each command ``client.timeout`` from the moment it is sent, as aiosmtplib
    does, but for DATA: the 354 and the answer to the mail's bytes share one ``client.timeout``
    (``SMTP.data`` sends both), where aiosmtplib gives each its own. The bytes are handed to
    the transport at once either way, so the wait for the last answer starts one round trip
    earlier than before: a hanging server is given up on as soon as before, never later.
    """
    client.close()


def describe(exc: BaseException) -> str:
    """An exception in one line, for ``last_error`` and the log."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _refusals(exc: aiosmtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(f"{r.recipient}: {r.code} {' '.join(r.message.split())}" for r in exc.recipients)
