"""Issue 21 item 5: machine mail (tests/data/machine) never opens a ticket and is never answered.

Each ``.eml`` there is a bounce, a list server's notice or list traffic, an abuse report or an
auto-reply, several of them from addresses that look like a person's. The real service handles
each one on the test database; the share that opened a ticket is printed and must be 0.
"""

from __future__ import annotations

from email import message_from_bytes
from pathlib import Path

from sqlalchemy import func, select

from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox, Ticket
from tests.integration.conftest import NOW, make_app

MACHINE = sorted((Path(__file__).resolve().parents[1] / "data" / "machine").glob("*.eml"))


def test_machine_mail_opens_no_ticket_and_gets_no_reply(tmp_path: Path) -> None:
    assert len(MACHINE) >= 15
    app = make_app(tmp_path)
    outcomes = {path.name: process_raw(app, path.read_bytes(), NOW) for path in MACHINE}
    opened = [name for name, outcome in outcomes.items() if outcome.kind in {"opened", "updated"}]
    print(f"\nmachine mail: {len(opened)} of {len(MACHINE)} opened or updated a ticket")
    assert opened == []
    for name, outcome in outcomes.items():
        assert outcome.reason, f"{name}: recorded without a reason"
    senders = {str(message_from_bytes(p.read_bytes()).get("From", "")).lower() for p in MACHINE}
    with app.factory() as session:
        assert session.scalar(select(func.count(Ticket.id))) == 0
        rows = session.scalars(select(Outbox)).all()
    for row in rows:  # staff may be told; the machine's sender never is
        assert not any(r.lower() in s for r in row.recipients for s in senders), row.recipients
