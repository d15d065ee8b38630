"""The rows one mail's transaction writes in bulk, on the suite's database: a decision's replies
(outbox rows and stored messages, inserted together after the last one), the changed ticket
(a Core UPDATE of its changed columns at the end), and the clocks' facts (events and sent
notices read with one query, with the ticket's conversation when asked) are what the one-by-one
ways wrote and read.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mailbot.core.decisions import Decision, SendMail
from mailbot.core.domain import EventKind, TicketState
from mailbot.core.parse import parse_mail
from mailbot.service import deadlines
from mailbot.service.app import App
from mailbot.service.effects import TicketChange, finish_decision
from mailbot.service.inbound import process_raw
from mailbot.storage import store
from mailbot.storage.models import Message, Outbox, SlaNotice, Ticket, TicketEvent
from tests.integration.conftest import NOW, make_app

USER = "budi@vendor.test"


def _mail(subject: str, body: str, n: int, *, reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Budi <{USER}>"
    msg["To"] = "helpdesk@lpse.test"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(NOW + timedelta(minutes=n))
    msg["Message-ID"] = f"<m{n}@vendor.test>"
    if reply_to:
        msg["In-Reply-To"] = reply_to
    msg.set_content(body)
    return msg.as_bytes()


@pytest.fixture
def app(tmp_path: Path) -> App:
    return make_app(tmp_path)


def _open(app: App) -> Ticket:
    outcome = process_raw(app, _mail("Gagal upload penawaran", "Tidak bisa upload dokumen penawaran di SPSE.", 1), NOW)
    with app.factory() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None
        return ticket


def test_a_new_tickets_replies_are_stored_in_order_with_their_outbox_rows(app: App) -> None:
    ticket = _open(app)
    with app.factory() as session:
        messages = session.execute(select(Message.direction, Message.message_id, Message.template)
                                   .where(Message.ticket_id == ticket.id).order_by(Message.id)).all()
        outbox = session.scalars(select(Outbox.message_id).where(Outbox.ticket_id == ticket.id)
                                 .order_by(Outbox.id)).all()
    assert [d for d, _, _ in messages] == ["in", "out", "out"]
    assert [t for _, _, t in messages[1:]] == ["ack", "staff_new"]
    assert [m for _, m, _ in messages[1:]] == list(outbox)  # each reply stored, in the order queued


def test_two_automatic_mails_of_one_decision_count_against_the_hourly_cap(app: App) -> None:
    loops = app.settings.loops.model_copy(update={"max_auto_mails_per_hour": 2})  # the ack is the first
    app = dataclasses.replace(app, settings=app.settings.model_copy(update={"loops": loops}))
    ticket = _open(app)
    mail = parse_mail(_mail(f"Re: [{ticket.number}] Gagal upload penawaran", "Ini datanya.", 2, reply_to="<m1@vendor.test>"))
    decision = Decision(TicketState(ticket.state), (SendMail("user", "need_info"), SendMail("user", "need_info")))
    later = NOW + timedelta(minutes=2)
    with app.factory.begin() as session:
        locked = session.get(Ticket, ticket.id)
        assert locked is not None
        finish_decision(app, session, locked, mail, decision, later, TicketChange([], None, new_ticket=False))
    with app.factory() as session:
        to_user = session.scalars(select(Outbox.id).where(Outbox.to_key == USER)).all()
        suppressed = session.scalars(select(TicketEvent.detail).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.MAIL_SUPPRESSED)).all()
    assert len(to_user) == 2  # the ack and the first of the two; the second is over the cap
    assert len(suppressed) == 1 and suppressed[0].startswith(f"need_info to {USER} not sent: cap of 2")


def test_a_changed_ticket_is_written_with_its_changed_columns_only(app: App) -> None:
    ticket = _open(app)
    with app.factory.begin() as session:
        locked = session.get(Ticket, ticket.id)
        assert locked is not None
        locked.state = TicketState.WAITING_USER.value
        locked.missing = ["kode_tender"]
        locked.subject = locked.subject  # the same value: not a change
        assert store.write_changed_tickets(session)
        assert locked not in session  # written and detached: the commit does not write it again
    with app.factory() as session:
        stored = session.get(Ticket, ticket.id)
        assert stored is not None
        assert (stored.state, stored.missing, stored.subject) == ("waiting_user", ["kode_tender"], ticket.subject)
        assert stored.updated_at == ticket.updated_at


def test_anything_else_to_flush_leaves_the_ticket_to_the_orm(app: App) -> None:
    ticket = _open(app)
    with app.factory.begin() as session:
        locked = session.get(Ticket, ticket.id)
        assert locked is not None
        locked.assignee = "staf@lpse.test"
        session.add(SlaNotice(key=f"t{ticket.id}/x", ticket_id=ticket.id, kind="warning", clock="call", at=NOW))
        assert not store.write_changed_tickets(session)
        assert locked in session and locked in session.dirty
    with app.factory() as session:
        stored = session.get(Ticket, ticket.id)
        assert stored is not None and stored.assignee == "staf@lpse.test"


def test_the_clocks_read_events_and_sent_notices_of_their_ticket_only(app: App) -> None:
    ticket = _open(app)
    other = process_raw(app, _mail("Lupa password", "Saya lupa password akun SPSE.", 3), NOW)
    prefix = deadlines.notice_prefix(ticket.id)
    with app.factory.begin() as session:
        session.add_all([
            SlaNotice(key=prefix + "call@a:75", ticket_id=ticket.id, kind="warning", clock="call", at=NOW),
            SlaNotice(key=prefix + "call@a:100", ticket_id=ticket.id, kind="breach", clock="call", at=NOW),
            SlaNotice(key=deadlines.notice_prefix(other.ticket_id or 0) + "call@a:75", ticket_id=other.ticket_id,
                      kind="warning", clock="call", at=NOW),
            SlaNotice(key="digest/2026-11-27", ticket_id=None, kind="digest", clock="", at=NOW),
        ])
    with app.factory() as session:
        events, sent = deadlines.clock_facts(session, ticket.id)
        assert sent == deadlines.sent_notices(session, ticket.id) == {"call@a:75", "call@a:100"}
        one_by_one = deadlines.ticket_events(session, ticket.id)
        # With the conversation the mails will thread on: the same facts, and its own query's messages.
        conversation: list[tuple[str, str, str]] = []
        assert deadlines.clock_facts(session, ticket.id, conversation) == (events, sent)
        assert conversation == store.conversation(session, ticket.id)
        assert [d for _, d, _ in conversation] == ["in", "out", "out"]
    assert len(events) == len(one_by_one) >= 2
    assert [tuple(e) for e in events] == [tuple(e) for e in one_by_one]  # same fields, same order
