"""End-to-end fixtures: a fresh helpdesk deployment per test on the real local mail stack.

Each test gets its own mailbox addresses (any address in the test domains is a mailbox)
and its own database (a SQLite file, or with MAILBOT_TEST_DB=postgresql a fresh database on
the test PostgreSQL cluster), so tests never see each other's mail.
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, TypeVar

import pytest
from imap_tools import MailMessage
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailbot import cli
from mailbot.storage import store
from mailbot.storage.models import Ticket
from tests.support import pgstack
from tests.support.botproc import BotProcess
from tests.support.mailstack import MailStack, ensure_started, fetch_all, send, unique_address, wait_for

pytestmark = pytest.mark.e2e

_Row = TypeVar("_Row")


@pytest.fixture(scope="session")
def stack() -> MailStack:
    return ensure_started()


def user_mail(sender: str, to: str, subject: str, body: str, *, name: str = "Budi Santoso",
              attachments: list[tuple[str, str, bytes]] | None = None, headers: dict[str, str] | None = None
              ) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = make_msgid(domain=sender.partition("@")[2])
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    for filename, ctype, data in attachments or []:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def reply_mail(original: MailMessage, sender: str, body: str, *, name: str = "Budi Santoso",
               to: str | None = None) -> EmailMessage:
    """A reply shaped like a real client's: Re: subject, threading headers, quoted history."""
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    reply_to = original.headers.get("reply-to", (None,))[0]
    msg["To"] = to or reply_to or original.from_
    subject = " ".join(original.subject.split())  # imap-tools may return a folded subject
    msg["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = make_msgid(domain=sender.partition("@")[2])
    orig_id = original.headers["message-id"][0].strip()
    refs = original.headers.get("references", ("",))[0].split()
    msg["In-Reply-To"] = orig_id
    msg["References"] = " ".join([*refs, orig_id])
    quoted = "\n".join("> " + line for line in original.text.splitlines())
    msg.set_content(f"{body}\n\nPada {original.date_str}, {original.from_} menulis:\n{quoted}\n")
    return msg


@dataclass
class Deployment:
    """One helpdesk: its addresses, config file and database, plus helpers to drive it.

    ``add_helpdesk`` makes it a deployment of several (``[[helpdesks]]``): the returned
    Deployment is the other helpdesk, with its own mailbox and staff, sharing this one's config
    file, database, LKPP and user; this one becomes the first entry (``key``).
    """

    stack: MailStack
    tmp: Path
    helpdesk: str = field(default_factory=lambda: unique_address("hd", "lpse.test"))
    staff1: str = field(default_factory=lambda: unique_address("staf1", "lpse.test"))
    staff2: str = field(default_factory=lambda: unique_address("staf2", "lpse.test"))
    lkpp: str = field(default_factory=lambda: unique_address("lkpp", "lkpp.test"))
    user: str = field(default_factory=lambda: unique_address("vendor", "vendor.test"))
    smtp_port: int | None = None
    key: str = "default"  # the helpdesk key (its rows in the shared database)
    name: str = "Helpdesk LPSE Kota Uji"
    _db_url: str | None = field(default=None, init=False, repr=False)
    #: Further helpdesks of this deployment: (deployment, imap password, extra TOML of its entry).
    _others: list[tuple[Deployment, str, str]] = field(default_factory=list, init=False, repr=False)
    _entry_extra: str = field(default="", init=False, repr=False)

    def add_helpdesk(self, key: str, *, name: str, first_key: str = "kota", imap_password: str | None = None,
                     extra: str = "", first_extra: str = "") -> Deployment:
        """Another helpdesk in this deployment (``extra``: TOML after its entry, e.g. ``[helpdesks.paths]``)."""
        if self.key == "default":
            self.key = first_key
            self._entry_extra = first_extra
        other = Deployment(self.stack, self.tmp, lkpp=self.lkpp, user=self.user, key=key, name=name)
        other._db_url = self.db_url
        self._others.append((other, imap_password or self.stack.password, extra))
        return other

    def _helpdesks_toml(self) -> str:
        if not self._others:
            return ""
        parts = [f'[[helpdesks]]\nkey = "{self.key}"\n{self._entry_extra}']
        for other, imap_password, extra in self._others:
            parts.append(textwrap.dedent(f"""
                [[helpdesks]]
                key = "{other.key}"
                [helpdesks.helpdesk]
                name = "{other.name}"
                address = "{other.helpdesk}"
                secret = "test-secret-{other.helpdesk}"
                [helpdesks.imap]
                username = "{other.helpdesk}"
                password = "{imap_password}"
                [helpdesks.smtp]
                username = "{other.helpdesk}"
                [helpdesks.staff]
                addresses = ["{other.staff1}", "{other.staff2}"]
            """) + textwrap.dedent(extra))
        return "\n".join(parts)

    @property
    def config_path(self) -> Path:
        return self.tmp / "mailbot.toml"

    @property
    def db_url(self) -> str:
        """This deployment's database, of the backend under test (made on first use)."""
        if self._db_url is None:
            self._db_url = pgstack.database_url(self.tmp)
        return self._db_url

    def write_config(self, **overrides: str) -> Path:
        s = self.stack
        text = textwrap.dedent(f"""
            [helpdesk]
            name = "{self.name}"
            address = "{self.helpdesk}"
            timezone = "Asia/Jakarta"
            phone = "(0271) 555-0100"
            secret = "test-secret-{self.helpdesk}"
            [imap]
            host = "{s.host}"
            port = {overrides.get("imap_port", s.imaps_port)}
            security = "{overrides.get("imap_security", "ssl")}"
            username = "{self.helpdesk}"
            password = "{overrides.get("imap_password", s.password)}"
            ca_file = "{s.ca_file}"
            [smtp]
            host = "{s.host}"
            port = {overrides.get("smtp_port", s.submission_port)}
            security = "{overrides.get("smtp_security", "starttls")}"
            username = "{self.helpdesk}"
            password = "{overrides.get("smtp_password", s.password)}"
            ca_file = "{s.ca_file}"
            timeout = 5
            backoff_seconds = 1
            [staff]
            addresses = ["{self.staff1}", "{self.staff2}"]
            {overrides.get("staff_extra", "")}
            [escalation]
            lkpp_address = "{self.lkpp}"
            [database]
            url = "{self.db_url}"
            {overrides.get("extra", "")}
        """) + self._helpdesks_toml()
        self.config_path.write_text(text)
        return self.config_path

    def cli(self, *args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["--config", str(self.config_path), *args])
        return code, out.getvalue(), err.getvalue()

    def poll(self) -> str:
        code, out, err = self.cli("poll", "--once")
        assert code == 0, err
        return out

    def send(self, msg: EmailMessage, *, to: list[str] | None = None) -> None:
        sender = msg["From"].addresses[0].addr_spec
        send(self.stack, msg, mail_from=sender, rcpt_to=to or [a.addr_spec for a in msg["To"].addresses])

    def new_mail(self, subject: str, body: str, **kw: object) -> EmailMessage:
        msg = user_mail(self.user, self.helpdesk, subject, body, **kw)  # type: ignore[arg-type]
        self.send(msg)
        return msg

    def open_ticket(self, subject: str, body: str, **kw: object) -> MailMessage:
        """A user mail in, one poll; returns the staff notification for the new ticket."""
        self.new_mail(subject, body, **kw)
        self.wait_helpdesk_inbox(1)
        self.poll()
        return self.wait_subject(self.staff1, "Tiket baru")[-1]

    def reply_and_poll(self, original: MailMessage, sender: str, text: str, **kw: str) -> None:
        """Reply to ``original`` as ``sender`` (to its Reply-To), wait for delivery, poll once."""
        self.send(reply_mail(original, sender, text, **kw))
        self.wait_helpdesk_inbox(1)
        self.poll()

    def wait(self, address: str, count: int = 1, predicate: Callable[[MailMessage], bool] | None = None,
             timeout: float = 60.0) -> list[MailMessage]:
        # Returns as soon as the mail is there; the margin is for a Postfix queue that a benchmark
        # or a parallel run has filled (a delivery then waits its turn).
        return wait_for(self.stack, address, count=count, predicate=predicate, timeout=timeout)

    def wait_subject(self, address: str, needle: str, count: int = 1) -> list[MailMessage]:
        return self.wait(address, count, lambda m: needle in m.subject)

    def inbox(self, address: str) -> list[MailMessage]:
        return fetch_all(self.stack, address)

    def sessions(self) -> sessionmaker[Session]:
        """A session factory on this deployment's database, for looking at what the bot stored."""
        return store.make_sessionmaker(store.make_engine(self.db_url))

    def rows(self, model: type[_Row], *where: Any) -> list[_Row]:
        """Stored rows of one table (optionally filtered), in insertion order."""
        with self.sessions()() as session:
            return list(session.scalars(select(model).where(*where).order_by(model.id)))  # type: ignore[attr-defined]

    def tickets(self) -> list[Ticket]:
        """This helpdesk's tickets (all of them, in a deployment of one)."""
        with self.sessions()() as session:
            query = session.query(Ticket).order_by(Ticket.id)
            if self._others or self.key != "default":
                query = query.filter(Ticket.helpdesk == self.key)
            rows = list(query)
            for t in rows:  # load relationships before the session closes
                _ = (t.messages, t.events)
                for m in t.messages:
                    _ = m.attachments
            return rows

    def wait_helpdesk_inbox(self, count: int) -> None:
        """Wait until Postfix delivered ``count`` mails to the helpdesk INBOX (not yet polled)."""
        self.wait(self.helpdesk, count)


@pytest.fixture
def deployment(stack: MailStack, tmp_path: Path) -> Iterator[Deployment]:
    d = Deployment(stack, tmp_path)
    d.write_config()
    yield d
    if d.db_url.startswith("postgresql"):
        pgstack.drop_database(d.db_url)


@pytest.fixture
def bots() -> Iterator[list[BotProcess]]:
    """``mailbot run`` processes a test started (``start_bot``); killed when the test ends."""
    started: list[BotProcess] = []
    yield started
    for bot in started:
        bot.kill()


def start_bot(bots: list[BotProcess], d: Deployment, name: str = "bot") -> BotProcess:
    """Start ``mailbot run --verbose`` on the deployment's config, logging to ``<tmp>/<name>.log``."""
    bot = BotProcess(d.config_path, d.tmp / f"{name}.log", extra_args=("--verbose",)).start()
    bots.append(bot)
    return bot
