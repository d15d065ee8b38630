"""Deployments of many helpdesks (one ``[[helpdesks]]`` entry per mailbox) on the local mail stack,
and a Dovecot of a test's own with a low login limit, for the scale tests and ``bench/mailboxes.py``.

``fleet_config`` writes one config file with ``n`` helpdesks, each with fresh addresses (its own
IMAP mailbox and SMTP account); ``SmallDovecot`` runs a second Dovecot (IMAP only, no TLS, its own
folders and port) whose ``imap-login`` may run only ``login_limit`` processes: the shared stack is
never reconfigured or restarted.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from tests.support.mailstack import MailStack, unique_address

_deliveries = count()


@dataclass(frozen=True)
class Helpdesk:
    key: str
    address: str
    staff: str


def fleet_config(path: Path, stack: MailStack, n: int, db_url: str, *, imap_host: str | None = None,
                 imap_port: int | None = None, imap_security: str = "ssl", extra: str = "",
                 tag: str = "hd", smtp_extra: dict[str, str] | None = None) -> list[Helpdesk]:
    """Write a config of ``n`` helpdesks to ``path``; returns them in file order.

    ``extra``: TOML of the top-level sections (before the entries); ``smtp_extra``: TOML lines
    of one helpdesk's ``[helpdesks.smtp]`` by key (e.g. another port)."""
    desks = [Helpdesk(f"h{i:03d}", unique_address(f"{tag}{i:03d}", "lpse.test"),
                      unique_address(f"staf{i:03d}", "lpse.test")) for i in range(n)]
    first = desks[0]
    text = textwrap.dedent(f"""
        [helpdesk]
        name = "Helpdesk LPSE"
        address = "{first.address}"
        [imap]
        host = "{imap_host or stack.host}"
        port = {imap_port or stack.imaps_port}
        security = "{imap_security}"
        username = "{first.address}"
        password = "{stack.password}"
        ca_file = "{stack.ca_file}"
        [smtp]
        host = "{stack.host}"
        port = {stack.submission_port}
        security = "starttls"
        username = "{first.address}"
        password = "{stack.password}"
        ca_file = "{stack.ca_file}"
        timeout = 10
        backoff_seconds = 1
        [staff]
        addresses = ["{first.staff}"]
        [escalation]
        lkpp_address = "lkpp@lkpp.test"
        [database]
        url = "{db_url}"
        [sla]
        digest = false
    """) + textwrap.dedent(extra)
    for desk in desks:
        text += textwrap.dedent(f"""
            [[helpdesks]]
            key = "{desk.key}"
            [helpdesks.helpdesk]
            name = "Helpdesk LPSE {desk.key}"
            address = "{desk.address}"
            secret = "test-secret-for-{desk.address}"
            [helpdesks.imap]
            username = "{desk.address}"
            [helpdesks.smtp]
            username = "{desk.address}"
            {(smtp_extra or {}).get(desk.key, "")}
            [helpdesks.staff]
            addresses = ["{desk.staff}"]
        """)
    path.write_text(text)
    return desks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmallDovecot:
    """A Dovecot of our own on 127.0.0.1:``port``, plain IMAP, every user with password ``secret``."""

    def __init__(self, login_limit: int, *, password: str = "secret", process_limit: int = 2000,
                 idle_check_interval: str | None = None, idle_notify_interval: str | None = None) -> None:
        self.login_limit = login_limit
        self.password = password
        self.process_limit = process_limit
        #: Dovecot's ``mailbox_idle_check_interval`` (its default 30 secs): how often an IDLE
        #: session looks at its folder when inotify is not available to it.
        self.idle_check_interval = idle_check_interval
        #: Dovecot's ``imap_idle_notify_interval`` (its default 2 mins): how often it says
        #: "* OK Still here" to a client in IDLE with nothing to report.
        self.idle_notify_interval = idle_notify_interval
        # Short: Dovecot's unix sockets live under base_dir (108-byte limit).
        self.dir = Path(tempfile.mkdtemp(prefix="mbdv-", dir="/tmp"))
        self.dir.chmod(0o755)  # the mail user (vmail) must reach its folders below
        self.port = free_port()
        self.host = "127.0.0.1"
        self.conf = self.dir / "dovecot.conf"
        self.log = self.dir / "dovecot.log"

    def start(self) -> SmallDovecot:
        d = self.dir
        for sub in ("run", "state", "mail", "home"):
            (d / sub).mkdir()
        subprocess.run(["chown", "vmail:vmail", str(d / "mail"), str(d / "home")], check=True)
        self.conf.write_text(textwrap.dedent(f"""
            instance_name = mbdv-{self.port}
            protocols = imap
            verbose_proctitle = yes
            listen = 127.0.0.1
            base_dir = {d}/run
            state_dir = {d}/state
            log_path = {self.log}
            default_login_user = dovenull
            default_internal_user = dovecot
            default_internal_group = dovecot
            mail_uid = vmail
            mail_gid = vmail
            first_valid_uid = 1
            auth_mechanisms = plain login
            auth_failure_delay = 0
            disable_plaintext_auth = no
            passdb {{
              driver = static
              args = password={self.password} nodelay=yes
            }}
            userdb {{
              driver = static
              args = uid=vmail gid=vmail home={d}/home/%d/%n allow_all_users=yes
            }}
            mail_location = maildir:{d}/mail/%d/%n
            ssl = no
            protocol imap {{
              mail_max_userip_connections = 1000
              {f"mailbox_idle_check_interval = {self.idle_check_interval}" if self.idle_check_interval else ""}
              {f"imap_idle_notify_interval = {self.idle_notify_interval}" if self.idle_notify_interval else ""}
            }}
            service imap-login {{
              process_limit = {self.login_limit}
              inet_listener imap {{
                address = 127.0.0.1
                port = {self.port}
              }}
              inet_listener imaps {{
                port = 0
              }}
            }}
            service imap {{
              process_limit = {self.process_limit}
            }}
            service auth {{
              client_limit = {self.process_limit + self.login_limit + 100}
            }}
            service anvil {{
              client_limit = {self.process_limit + self.login_limit + 100}
              unix_listener anvil-auth-penalty {{
                mode = 0
              }}
            }}
        """))
        subprocess.run(["/usr/sbin/dovecot", "-c", str(self.conf)], check=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def deliver(self, address: str, message: bytes) -> Path:
        """Deliver ``message`` into ``address``'s INBOX as a local delivery agent does: written in the
        Maildir's ``tmp/`` as the mail user, then renamed into ``new/`` (Dovecot creates the Maildir
        at the first login)."""
        local, domain = address.split("@", 1)
        box = self.dir / "mail" / domain / local
        name = f"{time.time_ns()}.P{os.getpid()}Q{next(_deliveries)}.mbdv"
        tmp = box / "tmp" / name
        tmp.write_bytes(message)
        shutil.chown(tmp, "vmail", "vmail")
        final = box / "new" / name
        tmp.rename(final)
        return final

    def master_pid(self) -> int | None:
        try:
            return int((self.dir / "run" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Stop this instance (its master by pid; the master ends its own children)."""
        pid = self.master_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)
