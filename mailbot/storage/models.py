"""The database's tables as SQLAlchemy 2 typed models.

Schema changes go through Alembic (``mailbot/storage/migrations``); times are stored as UTC and
always come back timezone-aware (``UTCDateTime``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    pass




class Ticket(Base):
    __tablename__ = "tickets"
    #: Numbers are per helpdesk: the n-th ticket of each is ``<prefix>-<n>`` (seq, not id).
    __table_args__ = (
        UniqueConstraint("helpdesk", "seq", name="uq_tickets_helpdesk_seq"),
        # Search's restriction to one helpdesk's tickets in a state (storage.search).
        Index("ix_tickets_helpdesk_state", "helpdesk", "state"),
        # A number typed without its prefix, searched in every helpdesk (LKPP's console).
        Index("ix_tickets_seq", "seq"),
        # The console's queue: one helpdesk's open tickets by their next deadline (web.queries).
        Index("ix_tickets_queue", "helpdesk", "state", "next_due_at"),
        # A requester's earlier tickets on the ticket page.
        Index("ix_tickets_requester_opened", "requester", "opened_at"),
        # The dashboard's intake of the day; the console's list of closed tickets, newest first.
        Index("ix_tickets_helpdesk_opened", "helpdesk", "opened_at"),
        Index("ix_tickets_closed", "helpdesk", "state", "closed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    helpdesk: Mapped[str] = mapped_column(String(32), index=True, default="default", server_default="default")
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str | None] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    priority: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(64))
    category_matched: Mapped[bool] = mapped_column(Boolean, default=True)
    subject: Mapped[str] = mapped_column(String(500))
    requester: Mapped[str] = mapped_column(String(320), index=True)
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(40))
    assignee: Mapped[str | None] = mapped_column(String(320))
    closed_by: Mapped[str | None] = mapped_column(String(320))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    #: A duplicate closed with ``#gabung``: the ticket it was merged into (migration 0013; no foreign
    #: key, as SQLite cannot add one to an existing table).
    merged_into_id: Mapped[int | None] = mapped_column(Integer)
    missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    rating: Mapped[int | None] = mapped_column(Integer)  # the user's 1-5 satisfaction rating
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SLA clocks (issue 5), kept by deadlines.refresh_deadlines from the events; the scheduler
    # only ticks on sla_next_at. Resolution deadline per the priority table (None while paused):
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # waiting for the user's data, or LKPP
    priority_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # step 2: unmatched, staff classify
    call_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # step 4: telephone confirmation
    analysis_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # step 7
    lkpp_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # step 10: LKPP's answer (escalated)
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # reminder to the user (waiting_user)
    autoclose_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # next warning/reminder due
    sla_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last refresh of the above
    #: The earliest of due_at, priority_due_at, call_due_at and analysis_due_at (None: no clock
    #: runs): the console's queue is sorted and filtered (overdue) on it through an index.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    messages: Mapped[list[Message]] = relationship(back_populates="ticket", order_by="Message.id")
    events: Mapped[list[TicketEvent]] = relationship(back_populates="ticket", order_by="TicketEvent.id")


class Message(Base):
    """A mail in a ticket's thread, inbound or outbound; its Message-ID threads replies."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    #: Not unique: one mail sent to two helpdesks of the deployment is a message of a ticket in each.
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    role: Mapped[str] = mapped_column(String(10))  # user | staff | lkpp | bot
    #: The conversation it belongs to: "user" (requester <-> helpdesk), "staff", or "lkpp".
    channel: Mapped[str] = mapped_column(String(10))
    sender: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text, default="")
    new_text: Mapped[str] = mapped_column(Text, default="")
    template: Mapped[str | None] = mapped_column(String(64))
    auto: Mapped[bool] = mapped_column(Boolean, default=False)  # an auto-reply or bounce, kept for the record
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    attachments: Mapped[list[StoredAttachment]] = relationship(back_populates="message", order_by="StoredAttachment.id")


class StoredAttachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)  # None: over the size cap, not kept
    inline: Mapped[bool] = mapped_column(Boolean, default=False)

    message: Mapped[Message] = relationship(back_populates="attachments")


class TicketEvent(Base):
    __tablename__ = "events"
    #: The tickets ever escalated (LKPP's view of the console) without reading every ticket's events.
    __table_args__ = (Index("ix_events_kind_ticket", "kind", "ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(320))
    detail: Mapped[str] = mapped_column(Text, default="")
    sop_step: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class Inbound(Base):
    """Every inbound mail seen, by Message-ID: the dedupe key and the record of its outcome."""

    __tablename__ = "inbound"
    #: Claimed per helpdesk: one mail sent to two helpdesks of the deployment is processed by each.
    __table_args__ = (UniqueConstraint("helpdesk", "message_id", name="uq_inbound_helpdesk_message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    helpdesk: Mapped[str] = mapped_column(String(32), default="default", server_default="default")
    message_id: Mapped[str] = mapped_column(String(998))
    outcome: Mapped[str] = mapped_column(String(30))  # opened | updated | ignored | quarantined
    reason: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    sender: Mapped[str] = mapped_column(String(320), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: SHA-256 of the mail as its author wrote it (``parse.content_digest``): a repeated Message-ID
    #: is a duplicate only when this matches too. Empty on rows from before it was recorded.
    digest: Mapped[str] = mapped_column(String(64), default="")


class Quarantine(Base):
    """A mail that could not be processed, kept whole with the error, for `quarantine retry`."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    helpdesk: Mapped[str] = mapped_column(String(32), index=True, default="default", server_default="default")
    message_id: Mapped[str] = mapped_column(String(998))
    sender: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Outbox(Base):
    """A mail to send, queued in the same transaction as the ticket change that owes it."""

    __tablename__ = "outbox"
    # The per-recipient cap counts one helpdesk's recent mail to one address. With two separate
    # indexes SQLite's planner (no statistics) took the helpdesk one and scanned that helpdesk's
    # whole outbox for every automatic mail.
    __table_args__ = (Index("ix_outbox_to_key_helpdesk", "to_key", "helpdesk", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Sent through this helpdesk's SMTP account only.
    helpdesk: Mapped[str] = mapped_column(String(32), index=True, default="default", server_default="default")
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    mail_from: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), index=True)  # pending | sent | failed
    #: Sent by the bot on its own (not a staff answer): counted against loops.max_auto_mails_per_hour.
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The (first) recipient, indexed (with the helpdesk) for the per-recipient cap.
    to_key: Mapped[str] = mapped_column(String(320), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A failed mail an operator has seen (``mailbot outbox ack``): no longer makes ``status`` unhealthy.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The token of this mail's signed envelope sender (``bounces.verp_address``): a delivery
    #: report that comes back to it is about this mail and may mark only its recipients.
    verp: Mapped[str | None] = mapped_column(String(16), index=True)


class Undeliverable(Base):
    """An address one helpdesk's mail could not be delivered to (a proven bounce or a refusal).

    It stops only *automatic* mail of that helpdesk (acknowledgments, data requests, reminders);
    staff answers and escalations are still sent. A temporary mark expires; ``mailbot addresses
    clear`` lifts any mark.
    """

    __tablename__ = "undeliverable"
    __table_args__ = (UniqueConstraint("helpdesk", "address", name="uq_undeliverable_helpdesk_address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    helpdesk: Mapped[str] = mapped_column(String(32), default="default", server_default="default")
    address: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    permanent: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigningKey(Base):
    """A signing secret mailbot generated because the configuration set none (one per helpdesk).

    Kept in the database so that every worker and every restart signs with the same key: the
    reply addresses in staff's mailboxes and the envelope senders of mail in flight stay valid.
    """

    __tablename__ = "signing_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SlaNotice(Base):
    """A notification the SLA tick sent (or covered by a later one): the unique key makes it fire once.

    Keys are ``t<ticket id>/<clock>@<run start>:<threshold>`` (see ``sla.notice_key``) and
    ``digest/<local date>`` for the daily digest (no ticket).
    """

    __tablename__ = "sla_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # warning | breach | reminder | autoclose | covered | digest
    clock: Mapped[str] = mapped_column(String(20), default="")
    percent: Mapped[int] = mapped_column(Integer, default=0)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class OAuthToken(Base):
    """The newest refresh token of one OAuth2 grant, stored when the provider rotates it
    (``oauth.TokenVault``), so a restart goes on with it rather than with the configured one.

    ``key`` is ``oauth.vault_key``: a hash of the token endpoint, client id and configured token.
    The token is a credential: the database needs the same protection as the config file.
    """

    __tablename__ = "oauth_tokens"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    refresh_token: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DatabaseTokenVault:
    """``oauth.TokenVault`` in the ``oauth_tokens`` table; each call is its own short transaction."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def load(self, key: str) -> str | None:
        with self._factory() as session:
            row = session.get(OAuthToken, key)
            return row.refresh_token if row is not None else None

    def save(self, key: str, refresh_token: str) -> None:
        with self._factory.begin() as session:
            row = session.get(OAuthToken, key, with_for_update=True)
            if row is None:
                session.add(OAuthToken(key=key, refresh_token=refresh_token, updated_at=datetime.now(timezone.utc)))
            else:
                row.refresh_token, row.updated_at = refresh_token, datetime.now(timezone.utc)


class MailboxStatus(Base):
    """What ``mailbot status`` and the metrics report about one IMAP or SMTP account (issue 9).

    Written by the service: the poller after each successful drain (``last_ok_at``), the
    outbox after a send, both on errors; ``auth_*`` while an OAuth2 token refresh is refused
    (``auth_notified_at``: the coordinator has been told, once per outage); ``run_*`` by
    ``mailbot run`` on the IMAP row (a run that started and did not stop cleanly is expected
    to be polling).
    """

    __tablename__ = "mailbox_status"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)  # "imap user@host:port"
    kind: Mapped[str] = mapped_column(String(10))  # imap | smtp
    mailbox: Mapped[str] = mapped_column(String(320))  # the login name
    server: Mapped[str] = mapped_column(String(300))  # host:port
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    auth_error: Mapped[str] = mapped_column(Text, default="")
    auth_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    auth_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    auth_failures: Mapped[int] = mapped_column(Integer, default=0)  # refused refreshes, ever (metrics)
    run_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_pid: Mapped[int | None] = mapped_column(Integer)
    run_host: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebSignInLink(Base):
    """A one-time sign-in link of the console (``mailbot web``): only the SHA-256 of its token is kept."""

    __tablename__ = "web_signin_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser of the console: the cookie holds the token, the table its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # signed out


class WebAudit(Base):
    """The console's audit trail (no ticket in it): link requests, sign-ins, refusals, sign-outs.

    Also the rate limit's memory: the link requests of an address or a client in the last hour
    are counted here, so every worker of ``mailbot web`` agrees.
    """

    __tablename__ = "web_audit"
    __table_args__ = (
        Index("ix_web_audit_address_at", "address", "at"),
        Index("ix_web_audit_client_at", "client", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: link_sent | link_unknown | link_limited | signed_in | link_refused | signed_out
    kind: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320), default="")
    client: Mapped[str] = mapped_column(String(64), default="")  # the client's IP address
    detail: Mapped[str] = mapped_column(Text, default="")


class WebAction(Base):
    """One console form that acted (an action on a ticket, a ticket opened for a caller).

    ``token`` is the idempotency token the form carried: a second submit of the same form (a
    double click, a reload) finds it here and does not act twice. Written in the action's own
    transaction, so a refused or failed action leaves no row and its form can be sent again.
    """

    __tablename__ = "web_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    address: Mapped[str] = mapped_column(String(320))  # who acted
    action: Mapped[str] = mapped_column(String(20))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True)

class WorkerBeat(Base):
    """A ``mailbot run`` sharing the deployment's mailboxes with others (``[workers] share_mailboxes``,
    PostgreSQL): alive while ``expires_at`` is ahead; the live ones split the mailboxes between them."""

    __tablename__ = "worker_beats"

    worker: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid:random
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class MailboxLease(Base):
    """Which worker watches a mailbox (sends its outbox, runs its SLA jobs) until ``expires_at``;
    renewed by its holder, taken over by another worker once expired (``mailbot.ops.leases``)."""

    __tablename__ = "mailbox_leases"

    mailbox: Mapped[str] = mapped_column(String(400), primary_key=True)  # user@host:port
    helpdesk: Mapped[str] = mapped_column(String(32))
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
