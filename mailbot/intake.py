"""IMAP intake with imap-tools: connect, fetch new mail, move it once its transaction committed.

A mail leaves the inbox only after the service has committed what it owes (ticket,
update, or quarantine record), so a crash between the two just means the mail is seen
again and recognised by its Message-ID.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from imap_tools import AND, BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessage
from imap_tools.errors import MailboxFolderCreateError

from mailbot.config import ImapSettings
from mailbot.outbox import tls_context

log = logging.getLogger(__name__)


class RawMailMessage(MailMessage):
    """A fetched message that keeps the server's exact bytes and skips imap-tools' own parse.

    The project parses with ``policy.default`` itself (mailbot.parse); re-serialising
    imap-tools' compat32 object could alter or fail on broken mail.
    """

    def __init__(self, fetch_data: list) -> None:  # noqa: D107 - see class docstring
        raw, uid_data, flag_data = self._get_message_data_parts(fetch_data)
        self.raw = raw
        self._raw_uid_data = uid_data
        self._raw_flag_data = flag_data


@dataclass(frozen=True)
class RawMail:
    uid: str
    raw: bytes


def connect(settings: ImapSettings) -> BaseMailBox:
    """Log in and select the intake folder."""
    ctx = tls_context(str(settings.ca_file) if settings.ca_file else None)
    box: BaseMailBox
    if settings.security == "ssl":
        box = MailBox(settings.host, settings.port, timeout=settings.timeout, ssl_context=ctx)
    elif settings.security == "starttls":
        box = MailBoxStartTls(settings.host, settings.port, timeout=settings.timeout, ssl_context=ctx)
    else:
        box = MailBoxUnencrypted(settings.host, settings.port, timeout=settings.timeout)
    box.email_message_class = RawMailMessage  # type: ignore[assignment]
    box.login(settings.username, settings.password_value, initial_folder=settings.folder)
    return box


def ensure_folders(box: BaseMailBox, settings: ImapSettings) -> None:
    for name in (settings.processed_folder, settings.quarantine_folder):
        if not box.folder.exists(name):
            try:
                box.folder.create(name)
            except MailboxFolderCreateError:
                if not box.folder.exists(name):  # another worker may have made it meanwhile
                    raise
    box.folder.set(settings.folder)


def fetch_batch(box: BaseMailBox, limit: int) -> Iterator[RawMail]:
    """Mail waiting in the selected folder, oldest first, without marking it seen."""
    uids = box.uids(AND(all=True))[:limit]
    if not uids:
        return
    for msg in box.fetch(AND(uid=uids), mark_seen=False, bulk=50):
        if msg.uid:
            yield RawMail(msg.uid, msg.raw)  # type: ignore[attr-defined]


def move(box: BaseMailBox, uid: str, folder: str) -> None:
    box.move(uid, folder)
