"""Storage: SQLAlchemy 2 typed models and the queries the service needs.

Schema changes go through Alembic (``mailbot/migrations``); ``upgrade()`` applies them.
Times are stored as UTC and always come back timezone-aware.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    create_engine,
    event,
    select,
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

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
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
    missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    rating: Mapped[int | None] = mapped_column(Integer)  # the user's 1-5 satisfaction rating
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SLA clocks (issue 5), kept by sla_service.refresh_deadlines from the events; the scheduler
    # only ticks on sla_next_at. Resolution deadline per the priority table (None while paused):
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # waiting for the user's data
    priority_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # step 2: unmatched, staff classify
    call_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # step 4: telephone confirmation
    analysis_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # step 7
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # reminder to the user (waiting_user)
    autoclose_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # next warning/reminder due
    sla_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last refresh of the above

    messages: Mapped[list[Message]] = relationship(back_populates="ticket", order_by="Message.id")
    events: Mapped[list[TicketEvent]] = relationship(back_populates="ticket", order_by="TicketEvent.id")


class Message(Base):
    """A mail in a ticket's thread, inbound or outbound; its Message-ID threads replies."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
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

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    outcome: Mapped[str] = mapped_column(String(30))  # opened | updated | ignored | quarantined
    reason: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    sender: Mapped[str] = mapped_column(String(320), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Quarantine(Base):
    """A mail that could not be processed, kept whole with the error, for `quarantine retry`."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
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

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    mail_from: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), index=True)  # pending | sent | failed
    #: Sent by the bot on its own (not a staff answer): counted against loops.max_auto_mails_per_hour.
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The (first) recipient, indexed for the per-recipient cap.
    to_key: Mapped[str] = mapped_column(String(320), default="", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Undeliverable(Base):
    """An address that bounced permanently: the bot sends it no more automatic mail."""

    __tablename__ = "undeliverable"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


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


def make_engine(url: str) -> Engine:
    """Create the engine; for SQLite make the folder, enable WAL and foreign keys."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine) -> None:
    """Apply every Alembic migration up to head (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def ticket_by_number(session: Session, number: str) -> Ticket | None:
    number = number.strip().upper()
    if number.isdigit():
        return session.get(Ticket, int(number))
    return session.scalar(select(Ticket).where(Ticket.number == number))


def ticket_for_message_ids(session: Session, ids: tuple[str, ...]) -> int | None:
    """The ticket that owns the first of ``ids`` we know (inbound or outbound)."""
    if not ids:
        return None
    rows = session.execute(select(Message.message_id, Message.ticket_id).where(Message.message_id.in_(ids))).all()
    owner = dict(rows.__iter__())
    for mid in ids:
        if mid in owner:
            return owner[mid]
    return None


def participants(session: Session, ticket_id: int) -> set[str]:
    """Addresses that have written to or been written to in a ticket."""
    rows = session.execute(select(Message.sender, Message.recipients).where(Message.ticket_id == ticket_id)).all()
    people: set[str] = set()
    for sender, recipients in rows:
        people.add(sender.lower())
        people.update(r.lower() for r in recipients or [])
    return people


def already_seen(session: Session, message_id: str) -> bool:
    return session.scalar(select(Inbound.id).where(Inbound.message_id == message_id)) is not None
