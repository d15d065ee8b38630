"""Every mail of the hostile/broken corpus ends as a ticket, an update, or quarantine — never a crash.

Runs the real service (parse, thread, rules, workflow, store, outbox queue) on the test database
(SQLite, or PostgreSQL with MAILBOT_TEST_DB), without mail servers: what is tested here is that the loop survives any input and records why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from mailbot.storage.models import Inbound, Quarantine
from tests.integration.conftest import NOW, make_app

CORPUS = sorted((Path(__file__).resolve().parents[1] / "data" / "eml").glob("*.eml"))
LABELED = sorted((Path(__file__).resolve().parents[1] / "data" / "labeled").glob("*.eml"))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> App:
    return make_app(tmp_path_factory.mktemp("corpus"))


@pytest.mark.parametrize("path", CORPUS + LABELED, ids=lambda p: p.name)
def test_every_corpus_mail_has_a_recorded_outcome(app: App, path: Path) -> None:
    raw = path.read_bytes()
    outcome = process_raw(app, raw, NOW)
    assert outcome.kind in {"opened", "updated", "ignored", "quarantined", "duplicate"}
    assert outcome.kind in {"opened", "updated"} or outcome.reason  # anything else says why
    assert process_raw(app, raw, NOW).kind == "duplicate"  # and is never processed twice


def test_each_mail_once_in_the_inbound_record(app: App) -> None:
    with app.factory() as session:
        assert session.scalar(select(func.count(Inbound.id))) == session.scalar(
            select(func.count(func.distinct(Inbound.message_id))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_mail_never_crashes_the_loop(app: App, data: st.DataObject) -> None:
    base = bytearray(data.draw(st.sampled_from(CORPUS)).read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        if not base:
            break
        pos = data.draw(st.integers(0, len(base) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            base[pos] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del base[pos:pos + data.draw(st.integers(1, 200))]
        else:
            base[pos:pos] = data.draw(st.sampled_from(
                [b"\r\n--", b"\nContent-Type: multipart/mixed; boundary=x\n", b"=?utf-8?q?=FF?=", b"\x00", b"\n\n"]))
    outcome = process_raw(app, bytes(base), NOW)
    assert outcome.kind in {"opened", "updated", "ignored", "quarantined", "duplicate"}
    if outcome.kind == "quarantined":
        with app.factory() as session:
            assert session.scalar(select(func.count(Quarantine.id))) >= 1


DEADLINE_COLUMNS = ("due_at", "paused_since", "priority_due_at", "call_due_at", "analysis_due_at", "remind_at",
                    "autoclose_at", "sla_next_at")


def test_new_tickets_clocks_equal_the_clocks_read_back(tmp_path: Path) -> None:
    """A new ticket's deadlines are computed from its events in memory (no query); computed again
    from the database afterwards they are the same."""
    from mailbot.service import deadlines
    from mailbot.storage.models import Ticket

    app = make_app(tmp_path)
    opened = [process_raw(app, path.read_bytes(), NOW) for path in LABELED]
    assert sum(o.kind == "opened" for o in opened) >= 10
    with app.factory.begin() as session:
        tickets = list(session.scalars(select(Ticket)))
        assert any(t.priority_due_at is not None for t in tickets)
        for ticket in tickets:
            stored = {c: getattr(ticket, c) for c in DEADLINE_COLUMNS}
            deadlines.refresh_deadlines(session, ticket, app, NOW)  # the query path
            assert {c: getattr(ticket, c) for c in DEADLINE_COLUMNS} == stored, ticket.number


def _mail(frm: str, subject: str, body: str, mid: str, *, reply_to: str | None = None,
          refs: list[str] | None = None) -> bytes:
    from email.message import EmailMessage
    from email.utils import format_datetime

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = frm, "helpdesk@lpse.test", subject
    msg["Date"], msg["Message-ID"] = format_datetime(NOW), f"<{mid}>"
    if reply_to:
        msg["In-Reply-To"] = f"<{reply_to}>"
        msg["References"] = " ".join(f"<{r}>" for r in refs or [reply_to])
    msg.set_content(body)
    return msg.as_bytes()


def test_replies_thread_on_the_conversation_in_the_database(tmp_path: Path) -> None:
    """The conversation of a ticket is read once per mail and kept in memory while its replies
    are queued: every reply's threading headers must still be what the database holds, i.e.
    References = the channel's earlier Message-IDs, In-Reply-To = the latest (for the user: the
    user's own latest mail)."""
    from email import message_from_bytes, policy

    from mailbot.storage.models import Message, Outbox

    app = make_app(tmp_path)
    user = "budi@vendor.test"
    assert process_raw(app, _mail(user, "Gagal unggah dokumen penawaran", "Tidak bisa unggah.", "u1@v"),
                       NOW).kind == "opened"
    with app.factory() as session:
        number = session.scalars(select(Outbox.raw)).first()
        ack = message_from_bytes(number or b"", policy=policy.default)
    subject = f"Re: {ack['Subject']}"
    assert process_raw(app, _mail(user, subject, "Kode tender 12345678.", "u2@v", reply_to=ack["Message-ID"][1:-1],
                                  refs=["u1@v", ack["Message-ID"][1:-1]]), NOW).kind == "updated"
    assert process_raw(app, _mail(user, subject, "Sudah saya coba lagi.", "u3@v"), NOW).kind == "updated"
    with app.factory() as session:
        messages = session.execute(select(Message.message_id, Message.direction, Message.channel)
                                   .order_by(Message.id)).all()
        sent = {mid: message_from_bytes(raw, policy=policy.default)
                for mid, raw in session.execute(select(Outbox.message_id, Outbox.raw))}
    assert len(sent) >= 5  # acknowledgment and staff notice, then a staff notice per user reply
    for i, (mid, direction, channel) in enumerate(messages):
        if direction != "out":
            continue
        earlier = [m for m, _, c in messages[:i] if c == channel]
        mail = sent[mid]
        assert (mail["References"] or "").split() == [f"<{m}>" for m in earlier][-20:], mid
        users = [m for m, d, c in messages[:i] if c == channel and d == "in"]
        expected = (users[-1] if channel == "user" and users else earlier[-1]) if earlier else None
        assert (mail["In-Reply-To"] or None) == (f"<{expected}>" if expected else None), mid
