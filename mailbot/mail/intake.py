"""IMAP intake with imap-tools: connect, fetch new mail, move it once its transaction committed.

A mail leaves the inbox only after the service has committed what it owes (ticket,
update, or quarantine record), so a crash between the two just means the mail is seen
again and recognised by its Message-ID.
"""

from __future__ import annotations

import imaplib
import logging
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from typing import Any

from imap_tools import AND, BaseMailBox, H, MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessage
from imap_tools.errors import MailboxFolderCreateError, MailboxLoginError

from mailbot.core.fingerprint import content_digest
from mailbot.mail import oauth
from mailbot.mail.smtp import tls_context
from mailbot.settings.config import ImapSettings

log = logging.getLogger(__name__)


class RawMailMessage(MailMessage):
    """A fetched message that keeps the server's exact bytes and skips imap-tools' own parse.

    The project parses with ``policy.default`` itself (mailbot.core.parse); re-serialising
    imap-tools' compat32 object could alter or fail on broken mail.
    """

    def __init__(self, fetch_data: list[Any]) -> None:
        raw, uid_data, flag_data = self._get_message_data_parts(fetch_data)
        self.raw = raw
        self._raw_uid_data = uid_data
        self._raw_flag_data = flag_data


@dataclass(frozen=True)
class RawMail:
    uid: str
    raw: bytes


def token_provider(settings: ImapSettings) -> oauth.TokenProvider | None:
    """The OAuth2 token source of an ``auth = "xoauth2"`` mailbox (None for a password)."""
    if settings.auth != "xoauth2" or settings.oauth2 is None:
        return None
    return oauth.provider_for(settings.oauth2, "imap.oauth2")


def connect(settings: ImapSettings) -> BaseMailBox:
    """Log in (password or XOAUTH2) and select the intake folder.

    With XOAUTH2 the access token comes from the refresh-token grant before the socket is
    opened (a refused refresh raises :class:`mailbot.mail.oauth.OAuthError`); a token the server
    rejects is forgotten, so the next attempt gets a fresh one.
    """
    provider = token_provider(settings)
    token = provider.token() if provider is not None else ""
    ctx = tls_context(str(settings.ca_file) if settings.ca_file else None)
    box: BaseMailBox
    if settings.security == "ssl":
        box = MailBox(settings.host, settings.port, timeout=settings.timeout, ssl_context=ctx)
    elif settings.security == "starttls":
        box = MailBoxStartTls(settings.host, settings.port, timeout=settings.timeout, ssl_context=ctx)
    else:
        box = MailBoxUnencrypted(settings.host, settings.port, timeout=settings.timeout)
    box.email_message_class = RawMailMessage
    try:
        keep_alive(box.client.sock)
        if provider is not None:
            try:
                box.xoauth2(settings.username, token, initial_folder=settings.folder)
            except (MailboxLoginError, imaplib.IMAP4.error) as exc:
                provider.invalidate(token)  # refused by the server: the next attempt gets a fresh token
                if isinstance(exc, MailboxLoginError):
                    raise
                # imaplib raises a NO to AUTHENTICATE itself: report it as the login failure it is.
                raise MailboxLoginError(("NO", [str(exc).encode()]), "OK") from None
        else:
            box.login(settings.username, settings.password_value, initial_folder=settings.folder)
        _refresh_capabilities(box)
    except BaseException:
        try:  # do not leave the socket of a refused login behind (the service retries for ever)
            box.client.shutdown()
        except Exception:
            pass
        raise
    return box


#: TCP keep-alive on the IMAP socket: in a long IDLE (``imap.idle_refresh``) the kernel notices a
#: peer that vanished (a crashed server, a NAT gateway that forgot the connection) within about
#: two minutes, and its probes keep the gateway's mapping alive; none of it wakes the process.
#: Seconds quiet before the first probe, seconds between probes, probes unanswered before it is dead.
KEEPALIVE = (60, 15, 4)


def keep_alive(sock: socket.socket) -> None:
    """Switch TCP keep-alive on for this socket, with :data:`KEEPALIVE` where the system allows."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in zip(("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"), KEEPALIVE, strict=True):
        option = getattr(socket, name, None)  # Linux has all three; others may lack some
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def _refresh_capabilities(box: BaseMailBox) -> None:
    """Ask for the capabilities again now that we are logged in.

    imaplib keeps the list the server sent in its greeting; Dovecot (like many servers)
    announces MOVE and UIDPLUS only after authentication. Without this, imap-tools moves
    with COPY + STORE + EXPUNGE (three round trips, and an EXPUNGE of the whole folder).
    """
    typ, data = box.client.capability()
    if typ == "OK" and data and data[-1]:
        box.client.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())


def describe_failure(settings: ImapSettings, exc: BaseException, *, lost: bool = False) -> str:
    """One line naming the mailbox, the server and what went wrong (never the password).

    An error of the database (a full disk above all) that broke off the work on the mailbox is
    no outage of the mailbox: it gets its own line, ``database: disk full (...)``.
    """
    from mailbot.storage import errors

    database = errors.database_problem(exc)
    if database is not None:
        return database
    where = f"{settings.username} at {settings.host}:{settings.port}"
    if isinstance(exc, oauth.OAuthError):
        if exc.permanent:
            return (f"imap mailbox {where}: OAuth2 login impossible, {exc}; renew the consent and configure a new "
                    f"refresh token (the coordinator is told)")
        return f"imap mailbox {where}: no OAuth2 access token: {exc}"
    if isinstance(exc, MailboxLoginError):
        data = exc.command_result[1] if isinstance(exc.command_result, tuple) and len(exc.command_result) > 1 else ""
        parts = data if isinstance(data, list) else [data]
        reason = " ".join(p.decode(errors="replace") if isinstance(p, bytes) else str(p) for p in parts if p)
        return f"imap login failed for {where}: {' '.join(reason.split()) or 'rejected'}"
    text = " ".join(str(exc).split())
    what = "connection lost" if lost else "unavailable"
    return f"imap {where} {what}: {type(exc).__name__}{': ' + text if text else ''}"


def ensure_folders(box: BaseMailBox, settings: ImapSettings) -> None:
    for name in (settings.processed_folder, settings.quarantine_folder):
        if not box.folder.exists(name):
            try:
                box.folder.create(name)
            except MailboxFolderCreateError:
                if not box.folder.exists(name):  # another worker may have made it meanwhile
                    raise
    box.folder.set(settings.folder)


def fetch_batch(box: BaseMailBox, limit: int, skip: Collection[str] = ()) -> Iterator[RawMail]:
    """Mail waiting in the selected folder, oldest first, without marking it seen.

    ``skip``: UIDs not to fetch (mail another worker is processing, see ``poller.drain``).
    A mail that another client moved away between the search and the fetch comes back from
    the server (Dovecot) with an empty body: it is left out, not taken for an empty mail.
    """
    uids = [uid for uid in box.uids(AND(all=True)) if uid not in skip][:limit]
    if not uids:
        return
    # Bulks of 20: one FETCH response (all its mails' bytes at once) stays small in memory.
    for msg in box.fetch(AND(uid=uids), mark_seen=False, bulk=20):
        if not msg.uid:
            continue
        raw: bytes = msg.raw  # type: ignore[attr-defined]
        if not raw and not box.uids(AND(uid=msg.uid)):
            log.debug("mail uid=%s is gone (moved by another worker)", msg.uid)
            continue
        yield RawMail(msg.uid, raw)


def move(box: BaseMailBox, uids: str | Sequence[str], folder: str) -> None:
    """Move one mail or several (one UID MOVE with MOVE support) to ``folder``."""
    box.move(uids, folder)
    # The server answers a MOVE with an untagged EXPUNGE per mail (and a COPYUID per command),
    # which imaplib keeps until someone asks for them; nobody does, so without this a long
    # ``mailbot run`` (one connection) grows by ~35 bytes per mail it moved, for as long as it runs.
    for kind in ("EXPUNGE", "COPYUID"):
        box.client.untagged_responses.pop(kind, None)


def move_seen(box: BaseMailBox, uid: str, raw: bytes, folder: str, current: str) -> None:
    """Move a mail the service has seen before, unless a copy of it is in ``folder`` already.

    Dovecot, like most servers, implements MOVE as COPY then EXPUNGE: a process killed in
    between leaves the mail in both folders. When it comes back, its copy is found in the
    target folder by Message-ID and only the inbox copy is removed, so the archive holds
    each mail once. Only an *identical* copy counts (the same content digest): another mail
    that reuses the Message-ID is moved, never expunged. (Without a usable Message-ID it is
    simply moved.)
    """
    message_id = _message_id_header(raw)
    if message_id:
        box.folder.set(folder)
        try:
            found = box.uids(AND(header=H("Message-ID", message_id)))
        finally:
            box.folder.set(current)
        if found and _identical_copy(box, found, raw, folder, current):
            log.info("mail uid=%s is in %s already (an interrupted move); removing the inbox copy", uid, folder)
            box.client.uid("STORE", uid, "+FLAGS", r"(\Deleted)")
            if "UIDPLUS" in box.client.capabilities:
                box.client.uid("EXPUNGE", uid)
            else:
                box.expunge()
            return
    box.move(uid, folder)


def _identical_copy(box: BaseMailBox, uids: Sequence[str], raw: bytes, folder: str, current: str) -> bool:
    """Whether one of ``uids`` in ``folder`` holds the same mail as ``raw`` (by content digest)."""
    digest = content_digest(raw)
    box.folder.set(folder)
    try:
        for msg in box.fetch(AND(uid=list(uids)), mark_seen=False, bulk=5):
            if content_digest(msg.raw) == digest:  # type: ignore[attr-defined]
                return True
        return False
    finally:
        box.folder.set(current)


def release_quarantined(settings: ImapSettings, raw: bytes) -> int:
    """Move the server copy of a quarantined mail that a retry has now processed from the
    quarantine folder to the processed folder, so the folder staff look at shows only what still
    needs them. Found by its Message-ID header; returns how many copies were moved (0 when the
    mail has no usable Message-ID or the copy is gone)."""
    message_id = _message_id_header(raw)
    if not message_id:
        return 0
    box = connect(settings)
    try:
        ensure_folders(box, settings)
        box.folder.set(settings.quarantine_folder)
        uids = box.uids(AND(header=H("Message-ID", message_id)))
        if uids:
            box.move(uids, settings.processed_folder)
        return len(uids)
    finally:
        try:
            box.logout()
        except Exception:
            pass


def _message_id_header(raw: bytes) -> str:
    try:
        value = BytesHeaderParser(policy=policy.compat32).parsebytes(raw).get("Message-ID")
    except Exception:
        return ""
    text = " ".join(str(value or "").split())
    usable = text.startswith("<") and text.endswith(">") and text.isascii() and len(text) < 500
    return text if usable and '"' not in text and "\\" not in text else ""


def idle_wait(box: BaseMailBox, timeout: float, stop: threading.Event | None = None, tick: float | None = 1.0,
              wakeup: socket.socket | None = None) -> bool:
    """Wait in IMAP IDLE until the server reports a change, ``timeout`` passes, or ``stop`` is set.

    One IDLE command covers the whole wait (no re-issuing every tick); ``stop`` is looked at
    every ``tick`` seconds so a signal is honoured promptly (``None``: only when ``wakeup``, a
    socket that becomes readable when this watcher is to stop, says so). Returns True if the
    server reported news (new mail, expunge, flags, or a BYE, which the next command then
    reports as an error).

    A server may speak without news: Dovecot says ``* OK Still here`` every two minutes of IDLE
    (``imap_idle_notify_interval``), other servers send similar keep-alives. Such a status line
    is read and the wait goes on: ending IDLE for it would cost the round trip and the search
    that an IDLE renewal costs, that often, for every mailbox.
    """
    client = box.client
    # A new-mail count the server sent with an earlier answer (e.g. after the last SEARCH had run)
    # means mail may be waiting: look again rather than wait. Popped, so it counts once.
    if client.untagged_responses.pop("EXISTS", None):
        return True
    box.idle.start()  # type: ignore[no-untyped-call]  # imap-tools is not annotated here
    woke = False
    try:
        sock = client.sock
        deadline = time.monotonic() + timeout
        # A selector (poll/epoll), never select(): select() refuses a descriptor above FD_SETSIZE
        # (1024), which a process watching hundreds of mailboxes passes (issue 24).
        with selectors.DefaultSelector() as waiter:
            waiter.register(sock, selectors.EVENT_READ)
            if wakeup is not None:
                waiter.register(wakeup, selectors.EVENT_READ)
            while not woke and not (stop is not None and stop.is_set()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                # What imaplib has buffered, or TLS has decrypted, is invisible to the selector: mail
                # that arrived between the last SEARCH and IDLE is announced ("* N EXISTS") in the
                # same packet as the "+ idling" continuation, which imaplib has read already.
                if _peek(client):
                    woke = _heard_news(client)
                    continue
                ready = waiter.select(left if tick is None else min(left, tick))
                if any(key.fileobj is sock for key, _ in ready):
                    seen = _peek(client)
                    if seen is None:
                        continue  # a TLS record without data in it: nothing to read yet
                    # A line (read whole: the rest of a line is on its way), or b"": the server closed.
                    woke = _heard_news(client) if seen else True
                elif ready:  # the wake-up: ``stop`` says so in a moment
                    if stop is None or not stop.wait(tick or 1.0):
                        break
    finally:
        _end_idle(box)
    return woke


#: What a server announces in IDLE: the caller searches the folder next, which sees all of it, so
#: it is dropped after IDLE. imaplib keeps every untagged response until a command asks for it,
#: and nobody asks for these: a long-lived connection would grow by a line per mail and per keep-alive.
_NOTICES = ("EXISTS", "RECENT", "EXPUNGE", "FETCH", "OK", "ALERT")


def _end_idle(box: BaseMailBox) -> None:
    """End IDLE (DONE and its answer), unless the server ended it itself; drop its notices.

    Raises if the server went away or refused, which the caller treats as an outage."""
    client = box.client
    tag = getattr(box.idle, "_idle_tag", None)  # imap-tools' tag of the IDLE command
    try:
        if tag is not None and client.tagged_commands.get(tag):
            # The server answered the IDLE command already (ended it): a DONE would be a command of
            # its own, answered BAD. Its answer is taken here instead.
            answer: Any = client.tagged_commands.pop(tag)  # imaplib stores (type, [text]); typeshed says otherwise
            if answer[0] != "OK":
                raise imaplib.IMAP4.abort(f"the server ended IDLE: {answer[0]} {answer[1]!r}")
        else:
            box.idle.stop()  # type: ignore[no-untyped-call]  # DONE, then its tagged answer
    finally:
        for kind in _NOTICES:
            client.untagged_responses.pop(kind, None)


def _heard_news(client: imaplib.IMAP4) -> bool:
    """Read one response the server sent in IDLE: True unless it was a keep-alive (an untagged
    ``OK``, e.g. Dovecot's "Still here") or the IDLE continuation itself."""
    line = client._get_response()  # imaplib's reader: it also reads literals (the line is dropped in _end_idle)
    return line is not None and not line.startswith(b"* OK")


def _peek(client: imaplib.IMAP4) -> bytes | None:
    """The bytes waiting in imaplib's read buffer, reading the socket (without blocking) only if the
    buffer is empty: b"" when nothing is there (or the server closed), None when TLS has only part
    of a record."""
    reader = getattr(client, "file", None)
    if reader is None or not hasattr(reader, "peek"):
        return b""
    sock = client.sock
    previous = sock.gettimeout()
    sock.settimeout(0)  # peek() reads the socket only when its buffer is empty: never block here
    try:
        return bytes(reader.peek(1))
    except (ssl.SSLWantReadError, BlockingIOError):
        return None
    finally:
        sock.settimeout(previous)
