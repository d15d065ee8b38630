"""Issue 2 on the real mail stack: a mail opens a ticket, the user gets an acknowledgment."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.e2e.conftest import Deployment, reply_mail
from tests.support.mailstack import fetch_all

QUESTION = (
    "Selamat siang,\n\nBagaimana cara mengganti alamat e-mail pada akun penyedia di SPSE?\n"
    "Terima kasih.\n\nBudi\nCV Maju Jaya"
)


def test_new_mail_gets_an_indonesian_acknowledgment_in_thread(deployment: Deployment) -> None:
    d = deployment
    sent = d.new_mail("Cara mengganti email akun", QUESTION)
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ack] = d.wait_subject(d.user, "Tiket diterima")
    assert ack.to == (d.user,)
    assert ack.from_ == d.helpdesk
    assert "[TTS-000001]" in ack.subject
    assert ack.headers["in-reply-to"][0] == sent["Message-ID"]
    assert ack.headers["auto-submitted"][0] == "auto-replied"
    assert "Terima kasih, laporan Anda telah kami terima" in ack.text
    assert "TTS-000001" in ack.text and "Prioritas" in ack.text
    assert ack.html and "<p>" in ack.html  # the HTML alternative
    [ticket] = d.tickets()
    assert ticket.number == "TTS-000001" and ticket.requester == d.user
    # The mail left the inbox only after it was committed.
    assert fetch_all(d.stack, d.helpdesk) == []
    assert len(fetch_all(d.stack, d.helpdesk, "Processed")) == 1


def test_reply_in_thread_updates_the_ticket_and_new_subject_opens_another(deployment: Deployment) -> None:
    d = deployment
    d.new_mail("Cara mengganti email akun", QUESTION)
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ack] = d.wait_subject(d.user, "Tiket diterima")
    d.send(reply_mail(ack, d.user, "Tambahan: akun saya terdaftar di LPSE Kota Uji."))
    d.new_mail("Jadwal pelatihan SPSE", "Kapan jadwal pelatihan SPSE untuk penyedia bulan depan?")
    d.wait_helpdesk_inbox(2)
    d.poll()
    tickets = d.tickets()
    assert [t.number for t in tickets] == ["TTS-000001", "TTS-000002"]
    first = tickets[0]
    inbound = [m for m in first.messages if m.direction == "in"]
    assert len(inbound) == 2
    # Quoted history is not part of the new text.
    assert inbound[1].new_text == "Tambahan: akun saya terdaftar di LPSE Kota Uji."
    assert any(e.kind == "user_replied" for e in first.events)
    d.wait_subject(d.user, "[TTS-000002]")


def test_polling_twice_creates_no_duplicates(deployment: Deployment) -> None:
    d = deployment
    sent = d.new_mail("Cara mengganti email akun", QUESTION)
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.poll()
    # Simulate a crash after commit but before the move: the same mail is back in the inbox.
    d.send(sent, to=[d.helpdesk])
    d.wait_helpdesk_inbox(1)
    out = d.poll()
    assert "duplicate=1" in out
    assert len(d.tickets()) == 1
    d.wait_subject(d.user, "Tiket diterima")
    staff = d.wait_subject(d.staff1, "Tiket baru")
    acks = [m for m in fetch_all(d.stack, d.user) if "Tiket diterima" in m.subject]
    assert len(acks) == 1 and len(staff) == 1


def test_smtp_down_records_the_ticket_and_sends_later(deployment: Deployment) -> None:
    d = deployment
    d.write_config(smtp_port="1")  # nothing listens there
    d.new_mail("Cara mengganti email akun", QUESTION)
    d.wait_helpdesk_inbox(1)
    out = d.poll()
    assert "opened=1" in out and "deferred=" in out
    assert len(d.tickets()) == 1
    assert fetch_all(d.stack, d.user) == []
    d.write_config()  # SMTP is back; the retry is due after the 1 s backoff
    time.sleep(1.5)
    out = d.poll()
    assert "sent=0" not in out and "deferred=0" in out
    d.wait_subject(d.user, "Tiket diterima")
    d.wait_subject(d.staff1, "Tiket baru")


def test_bad_config_is_one_clear_line(deployment: Deployment, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text(deployment.config_path.read_text().replace("port = 12587", "port = \"lima\""))
    proc = subprocess.run([sys.executable, "-m", "mailbot.cli", "--config", str(bad), "poll", "--once"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "smtp.port" in lines[0], proc.stderr
    missing = tmp_path / "missing.toml"
    missing.write_text(deployment.config_path.read_text().replace("[escalation]", "[escalation_typo]"))
    proc = subprocess.run([sys.executable, "-m", "mailbot.cli", "--config", str(missing), "tickets", "list"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "escalation" in proc.stderr and "Traceback" not in proc.stderr


def test_check_config_logs_in_and_names_what_failed(deployment: Deployment) -> None:
    d = deployment
    code, out, _ = d.cli("check-config")
    assert code == 0 and "imap: ok" in out and "smtp: ok" in out
    d.write_config(imap_password="wrong", smtp_port="12465", smtp_security="ssl")
    code, out, _ = d.cli("check-config")
    assert code == 1
    assert "imap: FAILED" in out and "smtp: ok" in out
    d.write_config(imap_security="starttls", imap_port=str(d.stack.imap_port), smtp_password="wrong")
    code, out, _ = d.cli("check-config")
    assert code == 1 and "imap: ok" in out and "smtp: FAILED" in out


def test_plain_imap_and_tickets_cli(deployment: Deployment) -> None:
    d = deployment
    d.write_config(imap_security="none", imap_port=str(d.stack.imap_port))
    d.new_mail("Cara mengganti email akun", QUESTION)
    d.wait_helpdesk_inbox(1)
    d.poll()
    code, out, _ = d.cli("tickets", "list")
    assert code == 0 and "TTS-000001" in out and d.user in out
    code, out, _ = d.cli("tickets", "show", "TTS-000001")
    assert code == 0 and "step  1" in out and "step  2" in out and "priority_set" in out
    code, out, _ = d.cli("tickets", "show", "1", "--json")
    data = json.loads(out)
    assert data["number"] == "TTS-000001" and data["events"][0]["kind"] == "received"
