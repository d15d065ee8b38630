"""Personal data: retention purge keeps metadata and drops bodies; one person's export and erasure."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from mailbot.ops import privacy
from tests.e2e.conftest import Deployment, reply_mail

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c"
                    "6360000002000154a24f5d0000000049454e44ae426082")
BODY = "Kapan jadwal pelatihan SPSE? Nomor HP saya 0812-3456-7890. Salam, Budi Santoso"


def closed_ticket(d: Deployment) -> None:
    d.new_mail("Jadwal pelatihan SPSE", BODY, attachments=[("ktp.png", "image/png", PNG)])
    d.wait_helpdesk_inbox(1)
    d.poll()
    [note] = d.wait_subject(d.staff1, "Tiket baru")
    d.send(reply_mail(note, d.staff1, "#tutup\nJadwal ada di situs LPSE."))
    d.wait_helpdesk_inbox(1)
    d.poll()
    assert d.tickets()[0].state == "closed"


def test_retention_purge_drops_bodies_and_keeps_metadata(deployment: Deployment) -> None:
    d = deployment
    closed_ticket(d)
    d.write_config(extra="[retention]\nmonths = 6")
    code, out, _ = d.cli("purge", "--dry-run")
    assert code == 0 and "would purge" in out and ": 0 ()" in out  # closed today: nothing is old enough
    factory = d.sessions()
    later = datetime.now(timezone.utc) + timedelta(days=200)
    with factory.begin() as session:
        dry = privacy.purge(session, later, 6, dry_run=True)
        assert dry.tickets == ["TTS-000001"] and dry.attachments == 1 and dry.messages >= 2
    assert "Budi Santoso" in d.tickets()[0].messages[0].text  # the dry run changed nothing
    with factory.begin() as session:
        privacy.purge(session, later, 6, dry_run=False)
    [ticket] = d.tickets()
    assert all(m.text == "" and m.new_text == "" for m in ticket.messages)
    assert all(a.content is None for m in ticket.messages for a in m.attachments)
    assert ticket.messages[0].attachments[0].filename == "ktp.png"  # metadata stays
    assert (ticket.number, ticket.category, ticket.state) == ("TTS-000001", "pelatihan", "closed")
    assert any(e.kind == "purged" for e in ticket.events)
    code, out, _ = d.cli("tickets", "show", "TTS-000001")
    assert code == 0 and "closed" in out


def test_person_export_and_erase(deployment: Deployment) -> None:
    d = deployment
    closed_ticket(d)
    code, out, _ = d.cli("person", "export", d.user, "--with-attachments")
    data = json.loads(out)
    assert code == 0 and data["tickets"][0]["number"] == "TTS-000001"
    texts = [m["text"] for m in data["tickets"][0]["messages"]]
    assert any("Budi Santoso" in t for t in texts)
    assert data["tickets"][0]["messages"][0]["attachments"][0]["content_base64"]
    code, out, _ = d.cli("person", "erase", d.user)
    assert "would erase" in out and "--yes" in out
    code, out, _ = d.cli("person", "erase", d.user, "--yes")
    assert code == 0 and "erased" in out
    [ticket] = d.tickets()
    assert ticket.requester.startswith("erased-") and ticket.requester_name == "" and ticket.phone is None
    everything = json.dumps(d.cli("tickets", "show", "1", "--json")[1])
    # the phone number in any stored form ("0812-3456-7890", "081234567890", "+6281234567890");
    # a bare "0812" would also match random hex in Message-IDs
    assert d.user not in everything and "Budi Santoso" not in everything
    assert "3456-7890" not in everything and "34567890" not in everything
    assert json.loads(d.cli("person", "export", d.user)[1])["tickets"] == []
