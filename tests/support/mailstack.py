"""A real mail stack (Dovecot + Postfix on loopback) for tests, the demo and benchmarks.

``ensure_started()`` runs ``scripts/mailstack.sh start`` (once per process; the
script itself is idempotent and locked, so parallel processes are fine) and
returns a :class:`MailStack` with the ports and the CA file to trust.

Every address in the test domains (lpse.test, vendor.test, lkpp.test,
example.test) is a mailbox with the password ``secret``, so each test can use
fresh ones from :func:`unique_address`. ``x+tag@lpse.test`` is delivered to
``x@lpse.test``. A user's home is ``<state_dir>/home/<domain>/<local>`` and
their Maildir ``<state_dir>/mail/<domain>/<local>`` (lower case, no +detail).

Example::

    stack = ensure_started()
    to = unique_address("hd", "lpse.test")
    send(stack, msg, mail_from="warga@vendor.test", rcpt_to=[to])
    [got] = wait_for(stack, to)
"""

from __future__ import annotations

import email.message
import os
import pwd
import shlex
import smtplib
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imap_tools import MailBox, MailMessage

__all__ = [
    "MailStack",
    "SCRIPT",
    "ensure_started",
    "stop",
    "unique_address",
    "mailbox_address",
    "home_dir",
    "maildir",
    "ssl_context",
    "send",
    "fetch_all",
    "wait_for",
    "set_vacation",
    "clear_vacation",
]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mailstack.sh"


@dataclass(frozen=True)
class MailStack:
    host: str
    imap_port: int
    imaps_port: int
    smtp_port: int
    submission_port: int
    smtps_port: int
    ca_file: Path
    state_dir: Path
    password: str = "secret"
    lmtp_port: int = 12424
    #: Where Dovecot asks about XOAUTH2 tokens: the tests' token server (tests/support/tokenserver.py).
    oauth_port: int = 12880


_lock = threading.Lock()
_started: MailStack | None = None


def _read_env() -> dict[str, str]:
    """Parse ``mailstack.sh env`` (export NAME=VALUE lines) into a dict."""
    out = subprocess.run(
        ["bash", str(SCRIPT), "env"], check=True, capture_output=True, text=True
    ).stdout
    values: dict[str, str] = {}
    for line in out.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            values[name] = value
    return values


def _from_env(env: dict[str, str]) -> MailStack:
    return MailStack(
        host=env["MAILSTACK_HOST"],
        imap_port=int(env["MAILSTACK_IMAP_PORT"]),
        imaps_port=int(env["MAILSTACK_IMAPS_PORT"]),
        smtp_port=int(env["MAILSTACK_SMTP_PORT"]),
        submission_port=int(env["MAILSTACK_SUBMISSION_PORT"]),
        smtps_port=int(env["MAILSTACK_SMTPS_PORT"]),
        ca_file=Path(env["MAILSTACK_CA_FILE"]),
        state_dir=Path(env["MAILSTACK_DIR"]),
        password=env["MAILSTACK_PASSWORD"],
        lmtp_port=int(env["MAILSTACK_LMTP_PORT"]),
        oauth_port=int(env.get("MAILSTACK_OAUTH_PORT", "12880")),
    )


def ensure_started() -> MailStack:
    """Start the stack (if this process has not already) and describe it."""
    global _started
    with _lock:
        if _started is None:
            proc = subprocess.run(
                ["bash", str(SCRIPT), "start"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise RuntimeError(
                    f"{SCRIPT} start failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
                )
            _started = _from_env(_read_env())
        return _started


def stop() -> None:
    """Stop the stack (both servers). Safe to call when it is not running."""
    global _started
    with _lock:
        subprocess.run(
            ["bash", str(SCRIPT), "stop"], check=True, stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        _started = None


def unique_address(local_prefix: str, domain: str = "lpse.test") -> str:
    """A never used address such as ``hd-3f2a9c1b@lpse.test``."""
    return f"{local_prefix}-{uuid.uuid4().hex[:8]}@{domain}"


def mailbox_address(address: str) -> str:
    """The mailbox (login name) an address delivers to: lower case, +detail dropped."""
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _parts(address: str) -> tuple[str, str]:
    local, _, domain = mailbox_address(address).rpartition("@")
    if not local or not domain or "/" in address or ".." in address:
        raise ValueError(f"not a usable address: {address!r}")
    return local, domain


def home_dir(stack: MailStack, address: str) -> Path:
    """The user's home folder (where ``.dovecot.sieve`` lives)."""
    local, domain = _parts(address)
    return stack.state_dir / "home" / domain / local


def maildir(stack: MailStack, address: str) -> Path:
    """The user's Maildir (may not exist before first use)."""
    local, domain = _parts(address)
    return stack.state_dir / "mail" / domain / local


def ssl_context(stack: MailStack) -> ssl.SSLContext:
    """A client context that trusts the stack's self-signed certificate."""
    return ssl.create_default_context(cafile=str(stack.ca_file))


def send(
    stack: MailStack,
    msg: email.message.EmailMessage | bytes,
    *,
    mail_from: str,
    rcpt_to: list[str],
) -> None:
    """Inject a message over plain SMTP (port 12525, no auth)."""
    with smtplib.SMTP(stack.host, stack.smtp_port, timeout=30) as smtp:
        if isinstance(msg, bytes):
            refused = smtp.sendmail(mail_from, rcpt_to, msg)
        else:
            refused = smtp.send_message(msg, from_addr=mail_from, to_addrs=rcpt_to)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)


def fetch_all(stack: MailStack, address: str, folder: str = "INBOX") -> list[MailMessage]:
    """All messages of a folder (over IMAPS), without marking them seen.

    A folder that does not exist (yet) gives an empty list.
    """
    with MailBox(stack.host, port=stack.imaps_port, ssl_context=ssl_context(stack)).login(
        mailbox_address(address), stack.password, initial_folder=None
    ) as mailbox:
        if folder.upper() != "INBOX" and not mailbox.folder.exists(folder):
            return []
        mailbox.folder.set(folder)
        return list(mailbox.fetch(mark_seen=False, bulk=True))


def _describe(messages: list[MailMessage]) -> str:
    if not messages:
        return "nothing"
    return "; ".join(
        f"[from={m.from_!r} to={list(m.to)!r} subject={m.subject!r}]" for m in messages
    )


def wait_for(
    stack: MailStack,
    address: str,
    count: int = 1,
    timeout: float = 15.0,
    folder: str = "INBOX",
    predicate: Callable[[MailMessage], bool] | None = None,
) -> list[MailMessage]:
    """Poll until ``folder`` holds at least ``count`` messages matching ``predicate``.

    Returns the matching messages; raises AssertionError (listing what was
    there) on timeout.
    """
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        messages = fetch_all(stack, address, folder)
        matching = [m for m in messages if predicate is None or predicate(m)]
        if len(matching) >= count:
            return matching
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"expected {count} message(s) for {address} in {folder} within {timeout}s, "
                f"{len(matching)} matched; found: {_describe(messages)}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _sieve_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _chown_vmail(path: Path) -> None:
    pw = pwd.getpwnam("vmail")
    os.chown(path, pw.pw_uid, pw.pw_gid)


def set_vacation(
    stack: MailStack, address: str, subject: str, body: str, *, days: int = 1
) -> Path:
    """Give a mailbox a Sieve vacation autoresponder (RFC 5230).

    Dovecot then answers mail to ``address`` once per sender per ``days``
    with ``Auto-Submitted: auto-replied``; like every polite responder it
    ignores mail that is itself auto-submitted, list or bulk mail. Returns the
    script's path (``<home>/.dovecot.sieve``).
    """
    home = home_dir(stack, address)
    # Create the home (and its domain folder) owned by vmail, as Dovecot would.
    for folder in (home.parent, home):
        if not folder.exists():
            folder.mkdir(mode=0o700 if folder == home else 0o755)
            _chown_vmail(folder)
    script = home / ".dovecot.sieve"
    text = (
        'require ["vacation"];\n'
        f"vacation :days {int(days)} :subject {_sieve_string(subject)}\n"
        f"  {_sieve_string(body)};\n"
    )
    tmp = home / ".dovecot.sieve.tmp"
    tmp.write_text(text, encoding="utf-8")
    _chown_vmail(tmp)
    tmp.replace(script)
    # Drop a stale compiled copy so the new script is used at once.
    (home / ".dovecot.svbin").unlink(missing_ok=True)
    return script


def clear_vacation(stack: MailStack, address: str) -> None:
    """Remove the user's Sieve script (and its compiled copy)."""
    home = home_dir(stack, address)
    for name in (".dovecot.sieve", ".dovecot.svbin"):
        (home / name).unlink(missing_ok=True)
