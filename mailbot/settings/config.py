"""Settings file (TOML) -> validated settings, with one clear line per error.

The file is found from ``--config PATH`` or the ``MAILBOT_CONFIG`` environment variable.
Secrets may live in the environment: ``password_env = "NAME"`` instead of ``password``.

One file may describe several helpdesks of one deployment: an optional ``[[helpdesks]]`` array
whose entries (each with a ``key``) override the per-helpdesk sections (``PER_HELPDESK``) of the
top-level ones, which act as their defaults. ``load_settings`` returns the first helpdesk's
complete Settings; ``Settings.per_helpdesk()`` gives all of them. A file without ``[[helpdesks]]``
is one helpdesk with the key ``default``.
"""

from __future__ import annotations

import os
import re
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mailbot.core.domain import fold_address
from mailbot.core.errors import MailbotError
from mailbot.settings.resources import SOURCE_ROOT, default_priorities

#: The repository root, when mailbot runs from a source tree (tests/data, the labeled sets). The
#: files that ship (templates, the priority table) are found by :mod:`mailbot.settings.resources`.
PROJECT_ROOT = SOURCE_ROOT

Security = Literal["ssl", "starttls", "none"]
#: How mailbot logs in to a server: a password, or an OAuth2 access token (XOAUTH2, as
#: Microsoft 365 and Google Workspace require), obtained with a refresh token.
AuthMethod = Literal["password", "xoauth2"]

#: The helpdesk key of a file without ``[[helpdesks]]``, and of every row stored before there were several.
DEFAULT_HELPDESK = "default"

#: Sections a ``[[helpdesks]]`` entry may set for itself (deep-merged over the top-level ones).
#: The others (database, escalation, workers, metrics, logging, retention, storage, loops) are
#: the deployment's: one database, one LKPP address, one process.
PER_HELPDESK = ("helpdesk", "imap", "smtp", "staff", "paths", "answers", "sla", "oauth2")

_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


#: The shortest helpdesk secret accepted (a random 32-byte key in base64 has 44).
MIN_SECRET_CHARS = 24


class ConfigError(MailbotError, ValueError):
    """A configuration problem, already phrased as one line for the operator."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HelpdeskSettings(_Section):
    name: str
    address: str
    timezone: str = "Asia/Jakarta"
    ticket_prefix: str = "TTS"
    phone: str = ""  # shown to users in replies when set
    #: A closed ticket answered within this many days reopens; later, a new ticket refers to it.
    reopen_window_days: float = Field(default=7, ge=0)
    #: HMAC key for per-ticket staff reply addresses and signed envelope senders. Unset: mailbot
    #: generates one at first start and keeps it in the database. Set: at least
    #: ``MIN_SECRET_CHARS`` characters, or the program refuses to start.
    secret: str = ""
    secret_env: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("ticket_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.isalnum():
            raise ValueError("must be letters and digits only")
        return value.upper()

    @property
    def secret_value(self) -> str:
        """The configured secret, or "" when none is configured (a generated one is used then).

        A configured secret that is empty or short is refused: anyone could compute the reply
        addresses that make staff commands run.
        """
        if not self.secret and not self.secret_env:
            return ""
        where = "helpdesk.secret" if self.secret else f"helpdesk.secret_env ({self.secret_env})"
        value = _secret(self.secret, self.secret_env, "helpdesk.secret_env")
        if len(value) < MIN_SECRET_CHARS:
            raise ConfigError(f"config error: {where}: the secret has {len(value)} characters, at least "
                              f"{MIN_SECRET_CHARS} are needed (generate one: openssl rand -base64 32), or remove "
                              "it and mailbot keeps a generated one in its database")
        return value


class OAuth2Settings(_Section):
    """The refresh-token grant (RFC 6749 section 6) that yields XOAUTH2 access tokens.

    Set per server (``[imap.oauth2]``, ``[smtp.oauth2]``) or once for both (``[oauth2]``).
    """

    #: e.g. https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token (Microsoft 365),
    #: https://oauth2.googleapis.com/token (Google Workspace).
    token_url: str
    client_id: str
    client_secret: str = ""
    client_secret_env: str = ""
    refresh_token: str = ""
    refresh_token_env: str = ""
    #: Space-separated; Microsoft 365: "https://outlook.office.com/IMAP.AccessAsUser.All
    #: https://outlook.office.com/SMTP.Send offline_access"; Google: "https://mail.google.com/".
    scope: str = ""
    #: Where ``mailbot oauth authorize`` sends the browser for the consent; derived from
    #: ``token_url`` for Microsoft 365 and Google, required for other providers.
    authorize_url: str = ""
    #: Refresh this many seconds before the access token expires (at most half its lifetime).
    refresh_margin: float = Field(default=300, ge=0)
    timeout: float = Field(default=30, gt=0)

    @field_validator("token_url", "authorize_url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        if (value or info.field_name == "token_url") and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return value

    @model_validator(mode="after")
    def _has_refresh_token(self, info: ValidationInfo) -> OAuth2Settings:
        # ``mailbot oauth authorize`` loads the settings to obtain the first refresh token.
        if not self.refresh_token and not self.refresh_token_env and not (info.context or {}).get("consent"):
            raise ValueError("either refresh_token or refresh_token_env is required")
        return self

    def client_secret_value(self, where: str = "oauth2") -> str:
        return _secret(self.client_secret, self.client_secret_env, f"{where}.client_secret_env")

    def refresh_token_value(self, where: str = "oauth2") -> str:
        return _secret(self.refresh_token, self.refresh_token_env, f"{where}.refresh_token_env")


class _ServerSettings(_Section):
    host: str
    port: int = Field(ge=1, le=65535)
    security: Security = "ssl"
    username: str
    auth: AuthMethod = "password"
    password: str = ""
    password_env: str = ""
    #: With auth = "xoauth2"; when absent, the top-level [oauth2] section is used.
    oauth2: OAuth2Settings | None = None
    ca_file: Path | None = None
    timeout: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _has_secret(self) -> _ServerSettings:
        if self.auth == "xoauth2":
            if self.oauth2 is None:
                raise ValueError('auth = "xoauth2" needs an [oauth2] section (shared or for this server)')
        elif not self.password and not self.password_env:
            raise ValueError("either password or password_env is required")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file {str(self.ca_file)!r} does not exist")
        return self


class ImapSettings(_ServerSettings):
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    #: Seconds between polls of a server without IDLE (or with ``use_idle`` off).
    poll_interval: float = Field(default=60, gt=0)
    use_idle: bool = True
    #: Seconds one IDLE command lasts at most before the bot ends it, looks at the folder and idles
    #: again. New mail wakes IDLE at once whatever this is; the renewal is the safety net for a
    #: notice that never came and keeps the server from logging an idle client off (RFC 2177: at
    #: most 29 minutes). Each renewal wakes the process: with hundreds of mailboxes, every minute
    #: was most of its CPU at rest (issue 24). 300 s is under the idle timeouts of common NAT
    #: gateways (AWS: 350 s); the TCP keep-alive on the socket notices a dead peer meanwhile.
    idle_refresh: float = Field(default=300, gt=0, le=1740)
    batch_size: int = Field(default=200, ge=1)

    @property
    def longest_quiet(self) -> float:
        """The longest a healthy watcher goes without a poll: ``mailbot status`` counts in these."""
        return max(self.poll_interval, self.idle_refresh) if self.use_idle else self.poll_interval

    @property
    def password_value(self) -> str:
        return _secret(self.password, self.password_env, "imap.password_env")


class SmtpSettings(_ServerSettings):
    security: Security = "starttls"
    max_attempts: int = Field(default=8, ge=1)
    backoff_seconds: float = Field(default=30, gt=0)
    #: SMTP connections a flush sends over side by side when several mails are due: each mail
    #: waits for the server's answers to its commands, so one connection sends one mail at a
    #: time (a few per second to a distant server). Providers limit connections per account.
    connections: int = Field(default=3, ge=1, le=20)
    #: Seconds a connection stays open after a flush, for the next one (checked with RSET before
    #: it is used again): a backlog, sent in rounds, logs in once instead of every round. 0: none.
    #: Short by default, as Postfix's ``smtp_connection_cache_time_limit`` (2 s): an idle kept
    #: connection holds one of the server's SMTP processes (Postfix: 100 by default), and a
    #: deployment of hundreds of helpdesks on one server would hold them all (measured: 600
    #: mailboxes with 30 s acknowledged 306 of a 600-mail burst in 3 minutes).
    keepalive_seconds: float = Field(default=2, ge=0, le=3600)
    #: Each mail's envelope sender is a signed address of its own (``helpdesk+b.<token>.<mac>@``,
    #: VERP): a delivery report that comes back to it is proven to be about that mail. Needs
    #: plus-addressing on the helpdesk's mailbox (Postfix recipient_delimiter, Microsoft 365 and
    #: Google have it) and a server that lets the account use it as MAIL FROM. Off: reports count
    #: only when they quote the Message-ID of a mail we sent.
    verp: bool = True

    @property
    def password_value(self) -> str:
        return _secret(self.password, self.password_env, "smtp.password_env")


class StaffSettings(_Section):
    addresses: list[str]
    coordinator: str = ""
    #: How a staff mail proves it is from staff (any listed method suffices): "reply_address"
    #: (sent to the signed per-ticket Reply-To) and/or "dkim" (trusted Authentication-Results).
    command_auth: list[Literal["reply_address", "dkim"]] = ["reply_address"]
    #: authserv-ids of the receiving servers whose Authentication-Results header is trusted.
    trusted_authserv_ids: list[str] = []
    #: When one staff member answers, takes or escalates, the others get a short copy in the
    #: ticket's staff thread (``core.team``).
    copy_answers: bool = True

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one staff address is required")
        return [_check_address(a) for a in value]

    @field_validator("coordinator")
    @classmethod
    def _coordinator(cls, value: str) -> str:
        return _check_address(value) if value else value


class LoopSettings(_Section):
    #: At most this many automatic mails (acknowledgments, data requests, ...) per recipient per
    #: hour; beyond it the mail is not sent and the ticket records why. Stops ping-pong with
    #: autoresponders that ignore Auto-Submitted.
    max_auto_mails_per_hour: int = Field(default=10, ge=1)
    #: A new thread the mail server's spam filter marked (X-Spam-Flag, X-Spam-Status, X-Spam, Exchange's
    #: SFV/SCL) is held in quarantine: no ticket, no acknowledgment to a likely forged sender.
    hold_spam: bool = True
    #: A new thread from a sender who opened this many tickets in the helpdesk in the last hour is
    #: held in quarantine (no ticket, no acknowledgment, no staff notification); answers in a
    #: ticket's thread always go on. A flood from one address, or in its forged name, stays one
    #: quarantine list instead of hundreds of tickets. 0: no cap.
    max_new_tickets_per_sender_hour: int = Field(default=30, ge=0)


class AnswersSettings(_Section):
    #: Categories whose high-confidence canned answer is sent at once (off when empty). The
    #: ticket stays open for staff, and the user is told a person follows up if it does not help.
    auto_answer_categories: list[str] = []
    #: Minimum suggestion score for an automatic answer (category match 4 + 1 per keyword found).
    auto_answer_min_score: float = Field(default=5.0, gt=0)
    suggestions: int = Field(default=3, ge=0, le=10)  # listed in the staff notification


class WorkersSettings(_Section):
    #: Several ``mailbot run`` processes share one mailbox on purpose (PostgreSQL). When false,
    #: a second ``run`` on the same mailbox and database exits at once (the instance lock).
    cooperate: bool = False
    #: IMAP logins (first connections and reconnects) in progress at once in this process, over
    #: all its mailboxes: keep it under the mail server's limit (Dovecot: 100 login processes).
    max_concurrent_logins: int = Field(default=20, ge=1, le=1000)
    #: Threads that send the outboxes of all helpdesks of the process (one flush per helpdesk at a
    #: time, each through its own SMTP account): a hanging SMTP server holds one of them.
    sender_threads: int = Field(default=8, ge=1, le=200)
    #: Threads that run the SLA tick and the digest of all helpdesks of the process.
    job_threads: int = Field(default=2, ge=1, le=50)
    #: Mails processed at once by ``mailbot run`` over all its mailboxes (parse, rules, store,
    #: queue the replies); the others wait their turn in their mailbox's thread.
    max_concurrent_mails: int = Field(default=4, ge=1, le=200)
    #: PostgreSQL: the ``mailbot run`` processes of this deployment (same config, any machine)
    #: split its mailboxes between them, each watched by one worker at a time through a lease in
    #: the database; a stopped or killed worker's mailboxes move to the others. Off: every run
    #: watches every mailbox (and a second one exits: the instance lock). SQLite: ignored.
    share_mailboxes: bool = False
    #: A lease (and a worker's heartbeat) lasts this long unless renewed (every third of it): a
    #: killed worker's mailboxes are taken over within about 4/3 of it.
    lease_seconds: float = Field(default=30, ge=3, le=600)


class MetricsSettings(_Section):
    """A Prometheus endpoint served by ``mailbot run`` (off by default)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=1, le=65535)


class WebSettings(_Section):
    """The console served by ``mailbot web`` (deployment-wide)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    #: The address people open (``https://helpdesk.lpse.example.go.id``): the sign-in links in the
    #: mails point there, and cookies are Secure when it is https. Required by ``mailbot web``.
    base_url: str = ""
    session_hours: float = Field(default=12, gt=0)  # a sign-in lasts this long
    #: Sign-in links one address, and one client (IP address), may ask for per hour.
    links_per_address_hour: int = Field(default=5, ge=1)
    links_per_client_hour: int = Field(default=20, ge=1)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http(s):// URL (https://helpdesk.example.go.id)")
        return value


class LoggingSettings(_Section):
    format: Literal["text", "json"] = "text"  # json: one object per line
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class RetentionSettings(_Section):
    #: Purge bodies and attachments of tickets closed more than this many months ago (0: keep).
    months: int = Field(default=0, ge=0)


class EscalationSettings(_Section):
    lkpp_address: str
    #: Drop mail that has crossed more bot-to-bot hops than this (loop guard).
    max_hops: int = Field(default=3, ge=1)
    #: The largest escalation mail: attachments that fit go with the dossier, the others are
    #: listed with their names and sizes (LKPP asks for them by replying). Mail servers refuse
    #: larger mail (Postfix's default limit is 10 MB), and one refused dossier stops nothing else.
    #: The same budget holds for the files of a staff or LKPP answer passed on to the user.
    max_dossier_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024)
    #: Mail from these domains counts as LKPP's when it carries a DKIM pass for that exact domain
    #: (read as for staff: ``staff.trusted_authserv_ids``). Without it, LKPP is whoever answers to
    #: the escalation's signed per-ticket Reply-To; mail from the LKPP address alone proves nothing.
    lkpp_domains: list[str] = Field(default_factory=list)

    @field_validator("lkpp_address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("lkpp_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        domains = [d.strip().lower().rstrip(".") for d in value]
        for d in domains:
            if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,62}\.)+[a-z0-9-]{2,63}", d):
                raise ValueError(f"not a domain name: {d!r}")
        return domains


class DatabaseSettings(_Section):
    #: A SQLAlchemy URL: ``sqlite:///var/mailbot.db`` or ``postgresql+psycopg://user:pw@host/db``
    #: (``postgresql://`` and ``postgres://`` mean the same; PostgreSQL needs ``pip install 'mailbot[pg]'``).
    url: str = "sqlite:///var/mailbot.db"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        scheme, sep, rest = value.strip().partition("://")
        if not sep:
            raise ValueError("not a database URL (sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)")
        if scheme.lower() in {"postgres", "postgresql"}:
            scheme, value = "postgresql+psycopg", f"postgresql+psycopg://{rest}"
        if scheme.lower() == "postgresql+psycopg":
            import importlib.util

            if importlib.util.find_spec("psycopg") is None:
                raise ValueError("PostgreSQL needs the psycopg driver: pip install 'mailbot[pg]'")
        return value.strip()


class StorageSettings(_Section):
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    max_message_bytes: int = Field(default=40 * 1024 * 1024, ge=1024)
    #: Seconds one inbound mail may take (parse, rules, decide, store); over it, the mail goes to
    #: quarantine with the reason and the mailbox moves on. 0: no budget.
    max_processing_seconds: float = Field(default=60, ge=0)


class PathSettings(_Section):
    templates: Path | None = None  # a folder of overrides searched before the built-in templates
    priorities: Path = Field(default_factory=default_priorities)  # the shipped table unless set


class SlaStandardSettings(_Section):
    """One SOP time standard: days + hours + minutes, in working time (default) or calendar time."""

    days: float = Field(default=0, ge=0)  # working days (of work_start-work_end) when working, else 24 h
    hours: float = Field(default=0, ge=0)
    minutes: float = Field(default=0, ge=0)
    working: bool = True  # count only the helpdesk's working hours
    notify: bool = True  # warn / report breaches while it runs (compliance is reported either way)

    @model_validator(mode="after")
    def _positive(self) -> SlaStandardSettings:
        if not (self.days or self.hours or self.minutes):
            raise ValueError("give days, hours or minutes greater than 0")
        return self


class SlaStandardsSettings(_Section):
    priority: SlaStandardSettings = SlaStandardSettings(minutes=5)  # SOP step 2
    data_request: SlaStandardSettings = SlaStandardSettings(minutes=5)  # step 4: the request for data
    call: SlaStandardSettings = SlaStandardSettings(minutes=5)  # step 4: its telephone confirmation
    analysis: SlaStandardSettings = SlaStandardSettings(days=1)  # step 7
    close: SlaStandardSettings = SlaStandardSettings(minutes=10)  # step 9, after solving
    escalation: SlaStandardSettings = SlaStandardSettings(minutes=5)  # step 10
    #: LKPP's turnaround while it holds an escalated ticket: at warn_at LKPP is reminded, at 100 % the
    #: coordinator is told (the LPSE resolution clock pauses meanwhile).
    lkpp_turnaround: SlaStandardSettings = SlaStandardSettings(days=2)


class SlaSettings(_Section):
    """SLA clocks (issue 5); the time zone is helpdesk.timezone, the coordinator staff.coordinator."""

    working_days: list[str | int] = ["mon", "tue", "wed", "thu", "fri"]
    work_start: time = time(8, 0)
    work_end: time = time(16, 0)
    #: Holidays from the `holidays` package: "public" (libur nasional), "government" (cuti bersama).
    holiday_categories: list[Literal["public", "government"]] = ["public", "government"]
    extra_holidays: list[date] = []  # local holidays, cuti bersama not (yet) in the package
    extra_working_dates: list[date] = []  # dates worked although they are holidays
    standards: SlaStandardsSettings = SlaStandardsSettings()
    resolution_working: bool = True  # the priority table's resolution_hours are working hours
    resolution_notify: bool = True
    warn_at: list[float] = [75]  # percent of a standard used at which the assignee is warned
    warn_to: Literal["assignee", "staff"] = "assignee"  # assignee (all staff when none) or always all staff
    reminder_days: int = Field(default=2, ge=0)  # working days without the requested data -> reminder (0: off)
    autoclose_days: int = Field(default=3, ge=0)  # working days after the reminder -> closed (0: off)
    #: Working hours after LKPP's answer (no close, no data request) before the assignee (all staff when
    #: none) is reminded to close with it (#tutup) or ask LKPP further; once per answer (0: off).
    lkpp_decision_hours: float = Field(default=8, ge=0)
    digest: bool = True
    digest_time: time = time(7, 30)  # local time of the daily digest to staff (working days only)

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, value: list[str | int]) -> list[str | int]:
        from mailbot.core.worktime import parse_weekdays

        if not parse_weekdays(value):
            raise ValueError("at least one working day is required")
        return value

    @field_validator("warn_at")
    @classmethod
    def _percentages(cls, value: list[float]) -> list[float]:
        if any(not 0 < v < 100 for v in value):
            raise ValueError("warning thresholds are percentages between 0 and 100 (100 % is the breach)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _hours(self) -> SlaSettings:
        if not self.work_start < self.work_end:
            raise ValueError(f"work_start {self.work_start} must be before work_end {self.work_end}")
        return self


class Settings(_Section):
    #: Which helpdesk of the deployment these settings are (set by the loader, not in the file):
    #: stored on every ticket, inbound and outbox row, quarantined mail.
    helpdesk_key: str = DEFAULT_HELPDESK
    helpdesk: HelpdeskSettings
    imap: ImapSettings
    smtp: SmtpSettings
    staff: StaffSettings
    escalation: EscalationSettings
    loops: LoopSettings = LoopSettings()
    answers: AnswersSettings = AnswersSettings()
    retention: RetentionSettings = RetentionSettings()
    database: DatabaseSettings = DatabaseSettings()
    storage: StorageSettings = StorageSettings()
    paths: PathSettings = PathSettings()
    sla: SlaSettings = SlaSettings()
    oauth2: OAuth2Settings | None = None  # shared by imap and smtp when they have none of their own
    workers: WorkersSettings = WorkersSettings()
    metrics: MetricsSettings = MetricsSettings()
    web: WebSettings = WebSettings()
    logging: LoggingSettings = LoggingSettings()

    @model_validator(mode="before")
    @classmethod
    def _shared_oauth2(cls, data: object) -> object:
        """Hand the top-level [oauth2] section to the servers that log in with XOAUTH2 and have none."""
        if isinstance(data, dict) and isinstance(data.get("oauth2"), dict):
            for name in ("imap", "smtp"):
                server = data.get(name)
                if isinstance(server, dict) and server.get("auth") == "xoauth2" and "oauth2" not in server:
                    data = {**data, name: {**server, "oauth2": data["oauth2"]}}
        return data

    #: Every helpdesk of the deployment, this one included (set by ``load_settings``).
    _deployment: tuple[Settings, ...] = PrivateAttr(default=())

    def is_staff(self, address: str) -> bool:
        # The folded set is made once per list of addresses (asked several times per mail).
        return fold_address(address) in folded_addresses(tuple(self.staff.addresses))

    def per_helpdesk(self) -> tuple[Settings, ...]:
        """The complete settings of every helpdesk of the deployment, in file order."""
        return self._deployment or (self,)

    def for_helpdesk(self, key: str) -> Settings:
        """One helpdesk's settings by key; ConfigError (one line) when there is no such helpdesk."""
        for settings in self.per_helpdesk():
            if settings.helpdesk_key == key:
                return settings
        known = ", ".join(s.helpdesk_key for s in self.per_helpdesk())
        raise ConfigError(f"config error: no helpdesk {key!r} (helpdesks: {known})")


class HelpdeskEntry(BaseModel):
    """One ``[[helpdesks]]`` entry: its key and the sections it overrides (checked when merged)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    helpdesk: dict[str, Any] = {}
    imap: dict[str, Any] = {}
    smtp: dict[str, Any] = {}
    staff: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    sla: dict[str, Any] = {}
    oauth2: dict[str, Any] = {}

    @field_validator("key")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("must be a short slug: lowercase letters, digits, - and _ (at most 32)")
        return value


def _check_address(value: str) -> str:
    value = value.strip().lower()
    local, sep, domain = value.partition("@")
    if not sep or not local or not domain or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


def _secret(direct: str, env_name: str, key: str) -> str:
    if direct:
        return direct
    if not env_name:
        return ""
    value = os.environ.get(env_name)
    if value is None:
        # Typed in a root shell, a command lacks what systemd gives the service (EnvironmentFile=).
        raise ConfigError(f"config error: {key}: environment variable {env_name} is not set (the service reads "
                          "it from its environment file, e.g. /etc/mailbot/mailbot.env; in a shell, run the "
                          "command as docs/operator-guide.md step 5 shows, or export it first)")
    return value


@lru_cache(maxsize=4096)  # a fleet's helpdesks each have their list
def folded_addresses(addresses: tuple[str, ...]) -> frozenset[str]:
    """``{fold_address(a) for a in addresses}``, kept per tuple of addresses (``Settings.is_staff``)."""
    return frozenset(fold_address(a) for a in addresses)
