"""Files of an answer reach the user within the size budget (issue 20): the rest are named, not sent.

The service on the test database: a ticket escalated by staff (to the signed staff address), LKPP's
answer (to the signed LKPP address) with a small and a large file; the queued mail to the user is read
back from the outbox.
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import select

from mailbot.core import threads
from mailbot.service.app import App, build_app
from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox, TicketEvent
from tests.integration.conftest import NOW, make_app

SMALL = b"a" * 10_000
LARGE = b"b" * 60_000  # over 70 % of the 64 KiB budget once the small one is in


def mail(sender: str, to: str, subject: str, body: str, mid: str,
         files: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"], msg["Message-ID"] = format_datetime(NOW), f"<{mid}>"
    msg.set_content(body)
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def last_to(app: App, address: str) -> email.message.EmailMessage:
    with app.factory() as session:
        raw = session.scalars(select(Outbox.raw).where(Outbox.to_key == address).order_by(Outbox.id.desc())).first()
    assert raw is not None
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def files_of(msg: email.message.EmailMessage) -> dict[str, bytes]:
    return {str(p.get_filename()): p.get_content() for p in msg.iter_attachments()}


def test_lkpp_files_reach_the_user_within_the_budget_and_the_rest_are_named(tmp_path: Path) -> None:
    base = make_app(tmp_path, "").settings
    # The smallest budget the settings allow: 70 % of it (45 KB) for files, the rest for text and base64.
    app = build_app(base.model_copy(update={"escalation": base.escalation.model_copy(
        update={"max_dossier_bytes": 65536})}))
    outcome = process_raw(app, mail("budi@vendor.test", "helpdesk@lpse.test", "Gagal login SPSE",
                                    "Tidak bisa login, akun terkunci. User ID: cvmaju", "u1@vendor.test"), NOW)
    assert outcome.ticket_id is not None
    staff_to = threads.reply_address("helpdesk@lpse.test", outcome.ticket_id, app.secret)
    process_raw(app, mail("staf@lpse.test", staff_to, "Re: [TTS-000001]", "#eskalasi\nMohon dicek.", "s1@lpse.test"),
                NOW)
    lkpp_to = threads.lkpp_reply_address("helpdesk@lpse.test", outcome.ticket_id, app.secret)
    process_raw(app, mail("officer@lkpp.test", lkpp_to, "Re: [ESKALASI TTS-000001]", "Akun sudah dibuka.",
                          "l1@lkpp.test", (("kecil.bin", SMALL), ("besar.bin", LARGE))), NOW)
    answer = last_to(app, "budi@vendor.test")
    assert "Jawaban Helpdesk LKPP" in str(answer["Subject"])
    assert files_of(answer) == {"kecil.bin": SMALL}
    text = answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "besar.bin (59 KB)" in text and "melebihi batas ukuran" in text
    with app.factory() as session:
        trimmed = session.scalars(select(TicketEvent).where(TicketEvent.kind == "dossier_trimmed")).all()
    assert [e.data["omitted"] for e in trimmed][-1] == ["besar.bin"]


def test_the_users_own_files_never_come_back_to_the_user(tmp_path: Path) -> None:
    app = make_app(tmp_path, "")
    process_raw(app, mail("budi@vendor.test", "helpdesk@lpse.test", "Gagal upload penawaran",
                          "Gagal upload dokumen penawaran, error terlampir.", "u2@vendor.test",
                          (("layar.png", SMALL),)), NOW)
    for_user = last_to(app, "budi@vendor.test")
    assert files_of(for_user) == {}  # the acknowledgment / data request carry nothing back
    assert files_of(last_to(app, "staf@lpse.test")) == {"layar.png": SMALL}  # staff get them


def test_a_ticket_past_lkpps_deadline_counts_as_overdue_in_the_metrics(tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    from mailbot.ops.metrics import DatabaseCollector
    from mailbot.storage.models import Ticket

    app = make_app(tmp_path, "")
    outcome = process_raw(app, mail("budi@vendor.test", "helpdesk@lpse.test", "Gagal login SPSE",
                                    "Tidak bisa login. User ID: cvmaju", "u3@vendor.test"), NOW)

    def overdue() -> float:
        family = next(f for f in DatabaseCollector(app).collect() if f.name == "mailbot_tickets_overdue")
        return sum(s.value for s in family.samples)

    with app.factory.begin() as session:  # LKPP holds it: only LKPP's deadline runs, and it passed
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None
        ticket.state = "escalated"
        ticket.due_at = ticket.analysis_due_at = ticket.priority_due_at = ticket.call_due_at = None
        ticket.lkpp_due_at = datetime.now(timezone.utc) + timedelta(days=1)
    assert overdue() == 0
    with app.factory.begin() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None
        ticket.lkpp_due_at = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert overdue() == 1
