"""Several helpdesks in one deployment, on the real Dovecot and Postfix: one config, one database,
one ``mailbot poll --once`` serving every mailbox.

Two helpdesks (the Kota one from the top-level sections, the Kabupaten one from a ``[[helpdesks]]``
entry) with their own names, staff, priority tables and an ``ack`` template override; numbers,
replies, staff commands and LKPP answers stay in their own helpdesk, and a mailbox with a wrong
password does not stop the other one.
"""

from __future__ import annotations

import json

import pytest

from mailbot.settings.config import PROJECT_ROOT
from tests.e2e.conftest import Deployment, reply_mail, user_mail
from tests.support.botproc import BotProcess

pytestmark = pytest.mark.e2e

SUBJECT = "Jadwal pelatihan SPSE"
BODY = "Selamat pagi,\nKapan jadwal pelatihan SPSE untuk penyedia bulan depan?\nTerima kasih.\nBudi"
KAB_NAME = "Helpdesk LPSE Kabupaten Uji"
KAB_ACK_LINE = "Layanan Helpdesk LPSE Kabupaten Uji buka Senin-Jumat."


def with_kab(d: Deployment, **kw: str) -> Deployment:
    """Make ``d`` a two-helpdesk deployment; the Kabupaten helpdesk rates training questions "tinggi"
    (the built-in table says "rendah") and adds a line to its acknowledgment."""
    table = (PROJECT_ROOT / "config" / "priorities.toml").read_text()
    marker = 'key = "pelatihan"\nlabel = "Pelatihan/bimbingan teknis SPSE"\npriority = "rendah"'
    assert marker in table
    (d.tmp / "kab-priorities.toml").write_text(table.replace(marker, marker.replace('"rendah"', '"tinggi"')))
    templates = d.tmp / "kab-templates"
    templates.mkdir()
    ack = (PROJECT_ROOT / "templates" / "ack.j2").read_text()
    (templates / "ack.j2").write_text(ack.replace("{{ m.signature(helpdesk) }}",
                                                  KAB_ACK_LINE + "\n\n{{ m.signature(helpdesk) }}"))
    kab = d.add_helpdesk("kab", name=KAB_NAME, extra="""
        [helpdesks.paths]
        priorities = "kab-priorities.toml"
        templates = "kab-templates"
    """, **kw)
    d.write_config()
    return kab


def from_addr(m: object) -> str:
    return m.from_  # type: ignore[attr-defined,no-any-return]


def test_each_helpdesk_numbers_acknowledges_and_notifies_on_its_own(deployment: Deployment) -> None:
    kota = deployment
    kab = with_kab(kota)
    kota.new_mail(SUBJECT, BODY)
    kab.new_mail(SUBJECT, BODY)
    kota.wait_helpdesk_inbox(1)
    kab.wait_helpdesk_inbox(1)
    out = kota.poll()
    assert "helpdesk kota: processed: opened=1" in out and "helpdesk kab: processed: opened=1" in out, out

    acks = kota.wait_subject(kota.user, "Tiket diterima", count=2)
    by_sender = {from_addr(m): m for m in acks}
    assert set(by_sender) == {kota.helpdesk, kab.helpdesk}
    a, b = by_sender[kota.helpdesk], by_sender[kab.helpdesk]
    # Both are the first ticket of their helpdesk; each speaks with its own name, table and templates.
    assert "[TTS-000001]" in a.subject and "[TTS-000001]" in b.subject
    assert kota.name in a.text and KAB_NAME not in a.text and KAB_ACK_LINE not in a.text
    assert KAB_NAME in b.text and KAB_ACK_LINE in b.text
    assert "Prioritas : Rendah" in a.text and "Prioritas : Tinggi" in b.text
    # Staff hear only of their own helpdesk's tickets, from its own address.
    [note_a] = kota.wait_subject(kota.staff1, "Tiket baru")
    [note_b] = kab.wait_subject(kab.staff1, "Tiket baru")
    assert from_addr(note_a) == kota.helpdesk and from_addr(note_b) == kab.helpdesk
    assert {from_addr(m) for m in kota.inbox(kota.staff1)} == {kota.helpdesk}
    assert {from_addr(m) for m in kab.inbox(kab.staff2)} == {kab.helpdesk}
    assert [(t.number, t.priority) for t in kota.tickets()] == [("TTS-000001", "rendah")]
    assert [(t.number, t.priority) for t in kab.tickets()] == [("TTS-000001", "tinggi")]

    # One mail addressed to both helpdesks: a ticket in each.
    both = user_mail(kota.user, f"{kota.helpdesk}, {kab.helpdesk}", "Lupa password akun SPSE",
                     "Saya lupa password akun SPSE saya. User ID: cvmaju")
    kota.send(both, to=[kota.helpdesk, kab.helpdesk])
    kota.wait_helpdesk_inbox(1)
    kab.wait_helpdesk_inbox(1)
    kota.poll()
    assert [t.number for t in kota.tickets()] == ["TTS-000001", "TTS-000002"]
    assert [t.number for t in kab.tickets()] == ["TTS-000001", "TTS-000002"]
    acks = kota.wait_subject(kota.user, "[TTS-000002] Tiket diterima", count=2)
    assert {from_addr(m) for m in acks} == {kota.helpdesk, kab.helpdesk}

    # The CLI filters by helpdesk; a number both helpdesks have needs --helpdesk.
    code, out, _ = kota.cli("tickets", "list", "--json", "--helpdesk", "kab")
    assert code == 0 and [(t["helpdesk"], t["number"]) for t in json.loads(out)] == [
        ("kab", "TTS-000001"), ("kab", "TTS-000002")]
    code, _, err = kota.cli("tickets", "show", "TTS-000001")
    assert code == 1 and "add --helpdesk" in err
    code, out, _ = kota.cli("tickets", "show", "TTS-000001", "--helpdesk", "kab", "--json")
    assert code == 0 and json.loads(out)["priority"] == "tinggi"
    code, out, _ = kota.cli("status", "--offline", "--json")
    report = json.loads(out)
    assert [h["key"] for h in report["helpdesks"]] == ["kota", "kab"]
    assert [h["mailboxes"][0]["mailbox"] for h in report["helpdesks"]] == [kota.helpdesk, kab.helpdesk]
    code, out, _ = kota.cli("check-config")
    assert code == 0, out
    assert f"helpdesk kab ({KAB_NAME} <{kab.helpdesk}>):" in out and out.count("imap: ok") == 2


def test_staff_of_one_helpdesk_cannot_act_on_anothers_ticket(deployment: Deployment) -> None:
    kota = deployment
    kab = with_kab(kota)
    note_b = kab.open_ticket(SUBJECT, BODY)
    reply_to = note_b.headers["reply-to"][0]
    assert reply_to.startswith(kab.helpdesk.split("@")[0] + "+t")
    # Kota's staff member got hold of kab's notification and answers it with #tutup, to kab's
    # signed per-ticket address. In kab, that address is no staff member.
    kab.send(reply_mail(note_b, kota.staff1, "#tutup\nSudah selesai.", name="Staf Kota"))
    kab.wait_helpdesk_inbox(1)
    kab.poll()
    [ticket] = kab.tickets()
    assert ticket.state != "closed" and ticket.closed_by is None
    assert not any(e.kind == "closed" for e in ticket.events)
    # The usual handling of mail from outside the helpdesk's staff: recorded, and kab's staff see it.
    assert any(e.kind == "user_replied" and e.actor == kota.staff1 for e in ticket.events)
    kab.wait_subject(kab.staff1, "Balasan pelapor")
    assert not [m for m in kota.inbox(kota.user) if "Selesai" in m.subject]
    assert kota.tickets() == []


def test_both_escalate_to_the_same_lkpp_and_its_answers_go_home(deployment: Deployment) -> None:
    kota = deployment
    kab = with_kab(kota)
    kota.new_mail(SUBJECT, BODY)
    kab.new_mail("Pelatihan SPSE untuk pokja", BODY)
    kota.wait_helpdesk_inbox(1)
    kab.wait_helpdesk_inbox(1)
    kota.poll()
    [note_a] = kota.wait_subject(kota.staff1, "Tiket baru")
    [note_b] = kab.wait_subject(kab.staff1, "Tiket baru")
    kota.send(reply_mail(note_a, kota.staff1, "#eskalasi\nMohon jadwal dari LKPP."))
    kab.send(reply_mail(note_b, kab.staff1, "#eskalasi\nMohon jadwal pokja dari LKPP."))
    kota.wait_helpdesk_inbox(1)
    kab.wait_helpdesk_inbox(1)
    kota.poll()
    dossiers = kota.wait_subject(kota.lkpp, "ESKALASI", count=2)
    by_sender = {from_addr(m): m for m in dossiers}
    assert set(by_sender) == {kota.helpdesk, kab.helpdesk}
    assert kota.name in by_sender[kota.helpdesk].subject and KAB_NAME in by_sender[kab.helpdesk].subject
    # LKPP answers each dossier (to the helpdesk that sent it); each answer reaches the user from there.
    kota.send(reply_mail(by_sender[kota.helpdesk], kota.lkpp, "Jadwal penyedia: 10 Desember.", name="Helpdesk LKPP"))
    kota.send(reply_mail(by_sender[kab.helpdesk], kota.lkpp, "Jadwal pokja: 12 Desember.", name="Helpdesk LKPP"))
    kota.wait_helpdesk_inbox(1)
    kab.wait_helpdesk_inbox(1)
    kota.poll()
    answers = kota.wait_subject(kota.user, "Jawaban Helpdesk LKPP", count=2)
    by_sender = {from_addr(m): m for m in answers}
    assert "10 Desember" in by_sender[kota.helpdesk].text and "12 Desember" not in by_sender[kota.helpdesk].text
    assert "12 Desember" in by_sender[kab.helpdesk].text and "10 Desember" not in by_sender[kab.helpdesk].text
    assert [t.state for t in kota.tickets()] == [t.state for t in kab.tickets()] == ["escalated"]


def test_a_mailbox_with_a_wrong_password_does_not_stop_the_other(deployment: Deployment,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    kota = deployment
    kab = with_kab(kota, imap_password="wrong-password")
    kota.new_mail(SUBJECT, BODY)
    kab.new_mail(SUBJECT, BODY)
    kota.wait_helpdesk_inbox(1)
    kab.wait_helpdesk_inbox(1)
    code, out, err = kota.cli("poll", "--once")
    assert code == 1  # cron sees that something failed
    assert "helpdesk kota: processed: opened=1" in out
    assert f"helpdesk kab: FAILED: imap login failed for {kab.helpdesk}" in out
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [f"helpdesk kab: imap login failed for {kab.helpdesk} at 127.0.0.1:{kota.stack.imaps_port}: "
                      "[AUTHENTICATIONFAILED] Authentication failed."]  # one line naming the mailbox
    assert "Traceback" not in err and "wrong-password" not in err + out + caplog.text
    [ack] = kota.wait_subject(kota.user, "Tiket diterima")
    assert from_addr(ack) == kota.helpdesk
    assert len(kota.tickets()) == 1 and kab.tickets() == []
    assert len(kab.inbox(kab.helpdesk)) == 1  # kab's mail waits in its INBOX for a working login
    code, out, _ = kota.cli("poll", "--once", "--helpdesk", "kota")  # the good one alone is fine
    assert code == 0 and out.startswith("helpdesk kota: processed: no new mail") and "kab" not in out
    code, out, _ = kota.cli("status", "--offline", "--json")
    [kota_report, kab_report] = json.loads(out)["helpdesks"]
    assert "login failed" in kab_report["mailboxes"][0]["last_error"]
    assert kota_report["mailboxes"][0]["last_error"] == "" and kota_report["mailboxes"][0]["last_ok_at"]


def test_one_run_serves_every_mailbox_and_a_broken_one_is_one_line(deployment: Deployment,
                                                                   bots: list[BotProcess]) -> None:
    kota = deployment
    kab = with_kab(kota, imap_password="wrong-password")
    bot = BotProcess(kota.config_path, kota.tmp / "run.log").start()
    bots.append(bot)
    bot.wait_log(r"serving 2 helpdesks: kota .*, kab ")
    kota.new_mail(SUBJECT, BODY)
    kab.new_mail(SUBJECT, BODY)
    [ack] = kota.wait_subject(kota.user, "Tiket diterima")  # kota works although kab cannot log in
    assert from_addr(ack) == kota.helpdesk and "[TTS-000001]" in ack.subject
    bot.wait_log(f"imap login failed for {kab.helpdesk}")
    assert [line for line in bot.error_lines() if kab.helpdesk in line][0].count("retrying with backoff") == 1
    assert not [line for line in bot.error_lines() if kota.helpdesk in line]
    # Log lines say which helpdesk they are about (the thread serving it); no password in the log.
    assert bot.lines(r"INFO mailbot\.ops\.poller \[kota\]: mail uid=1 -> opened TTS-000001")
    assert bot.lines(r"ERROR mailbot\.ops\.poller \[kab\]: imap login failed")
    assert "wrong-password" not in bot.log()
    # The deployment's instance lock: a second run of it exits at once.
    second = BotProcess(kota.config_path, kota.tmp / "second.log").start()
    bots.append(second)
    assert second.wait(30) == 3 and "already working mailbox" in second.log()
    assert bot.stop() == 0
    assert len(kota.tickets()) == 1 and kab.tickets() == []
