"""Issue 21 item 6 in the service: a new ticket with missing data sends its user one mail."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import select

from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox, Ticket
from tests.integration.conftest import NOW, make_app

UPLOAD = (b"From: Budi <budi@vendor.test>\r\nTo: helpdesk@lpse.test\r\nSubject: Gagal upload penawaran\r\n"
          b"Message-ID: <one-1@vendor.test>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0700\r\n\r\n"
          b"Saya penyedia, gagal upload dokumen penawaran di SPSE, muncul pesan error. Mohon bantuan.\r\n")


def test_acknowledgment_and_data_request_are_one_mail(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert process_raw(app, UPLOAD, NOW).kind == "opened"
    with app.factory() as session:
        [ticket] = session.scalars(select(Ticket)).all()
        assert ticket.state == "waiting_user" and "kode_tender" in (ticket.missing or [])
        rows = session.scalars(select(Outbox).order_by(Outbox.id)).all()
        to_user = [message_from_bytes(r.raw, policy=policy.default) for r in rows if r.recipients == ["budi@vendor.test"]]
    assert len(to_user) == 1  # not an acknowledgment and then a second "mohon lengkapi data"
    [mail] = to_user
    assert "Tiket diterima" in mail["Subject"] and "lengkapi data" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "mohon lengkapi data berikut" in text and "Kode tender" in text and "Contoh:" in text
