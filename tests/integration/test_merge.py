"""``#gabung``: staff merge a duplicate ticket into the ticket of the same requester that carries on.

The duplicate closes with the ``merged`` mail to the user, both timelines say so, the user's later
mail in the duplicate's thread goes to the ticket that carries on, and refusals change nothing.
By mail (the signed reply address) and from the console (the same decision).
"""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy
from pathlib import Path

from sqlalchemy import select

from mailbot.core import threads
from mailbot.service.app import App
from mailbot.service.console_actions import ActionForm, act
from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox, TicketEvent
from tests.integration.conftest import NOW, make_app
from tests.integration.test_console_actions import ticket
from tests.integration.test_team import HELPDESK, mail

STAFF = "staf@lpse.test"
BUDI = "budi@vendor.test"


def two_tickets(app: App, second_sender: str = BUDI) -> tuple[int, int]:
    first = process_raw(app, mail(BUDI, HELPDESK, "Gagal upload penawaran", "Upload gagal, tender 10012345000.",
                                  "d1@vendor.test"), NOW)
    second = process_raw(app, mail(second_sender, HELPDESK, "Upload penawaran tidak bisa",
                                   "Masih gagal upload penawaran tender 10012345000, mohon dibantu.",
                                   "d2@vendor.test"), NOW + timedelta(minutes=20))
    assert first.ticket_id and second.ticket_id
    return first.ticket_id, second.ticket_id


def events(app: App, ticket_id: int) -> list[TicketEvent]:
    with app.factory() as session:
        rows = list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                    .order_by(TicketEvent.id)))
        session.expunge_all()
        return rows


def last_mail_to(app: App, address: str) -> email.message.EmailMessage:
    with app.factory() as session:
        raw = session.scalars(select(Outbox.raw).where(Outbox.to_key == address).order_by(Outbox.id.desc())).first()
    assert raw is not None
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def test_a_duplicate_merged_by_mail_closes_and_its_thread_goes_on_in_the_other_ticket(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    keep, duplicate = two_tickets(app)
    number = ticket(app, keep).number
    staff_to = threads.reply_address(HELPDESK, duplicate, app.secret)
    outcome = process_raw(app, mail(STAFF, staff_to, "Re: x", f"#gabung {number}\nSudah kami tangani di tiket "
                                    "sebelumnya.", "s1@lpse.test"), NOW + timedelta(minutes=30))
    assert outcome.kind == "updated"
    dup = ticket(app, duplicate)
    assert dup.state == "closed" and dup.merged_into_id == keep and dup.closed_by == STAFF
    told = last_mail_to(app, BUDI)
    assert f"Digabung ke {number}" in str(told["Subject"])
    body = told.get_body(("plain",))
    assert body is not None and "Sudah kami tangani di tiket sebelumnya." in body.get_content()
    assert f"Penanganan selanjutnya melalui tiket {number}" in " ".join(body.get_content().split())
    [merged_from] = [e for e in events(app, keep) if e.kind == "merged_from"]
    assert merged_from.data["from"] == dup.number and merged_from.actor == STAFF
    # Budi answers the duplicate's mail: it belongs to the ticket that carries on.
    later = process_raw(app, mail(BUDI, HELPDESK, f"Re: [{dup.number}] Upload penawaran tidak bisa",
                                  "Ini tangkapan layarnya.", "d3@vendor.test",
                                  headers={"In-Reply-To": "<d2@vendor.test>", "References": "<d2@vendor.test>"}),
                        NOW + timedelta(minutes=40))
    assert later.kind == "updated" and later.ticket_id == keep
    assert ticket(app, duplicate).state == "closed"


def test_refused_merges_change_nothing(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    other, duplicate = two_tickets(app, second_sender="sari@vendor.test")
    staff_to = threads.reply_address(HELPDESK, duplicate, app.secret)
    for line, why in ((f"#gabung {ticket(app, other).number}", "dari pelapor lain"),
                      ("#gabung TTS-009999", "tidak ada di helpdesk ini"),
                      (f"#gabung {ticket(app, duplicate).number}", "dirinya sendiri")):
        process_raw(app, mail(STAFF, staff_to, "Re: x", line, f"r-{len(why)}@lpse.test"), NOW + timedelta(hours=1))
        error = last_mail_to(app, STAFF)
        assert "Perintah ditolak" in str(error["Subject"]), error["Subject"]
        text = error.get_body(("plain",))
        assert text is not None and why in text.get_content()
        assert ticket(app, duplicate).state != "closed" and ticket(app, duplicate).merged_into_id is None


def test_the_console_merges_with_the_same_decision(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    keep, duplicate = two_tickets(app)
    result = act(app, duplicate, STAFF, ActionForm("merge", into=ticket(app, keep).number or ""), "tok-merge-1",
                 NOW + timedelta(minutes=30))
    assert result.status == "done", result.errors
    dup = ticket(app, duplicate)
    assert dup.state == "closed" and dup.merged_into_id == keep
    assert [e.data.get("channel") for e in events(app, duplicate) if e.kind == "merged"] == ["web"]
