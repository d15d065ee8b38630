"""Trust nothing a mail claims, on the real mail stack: forged delivery reports, missing secrets,
oversized escalations, reused Message-IDs (issue "Trust nothing a mail claims", findings 1, 2, 5, 6).

Each test plays the outsider who can only send mail to the helpdesk, then checks that the people
who depend on the helpdesk (the vendor, staff, LKPP) still get their mail.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from email.utils import format_datetime, make_msgid

import pytest

from mailbot.core import threads
from mailbot.storage.models import Inbound, Outbox, SigningKey, Undeliverable
from tests.e2e.conftest import Deployment, reply_mail, user_mail
from tests.support.mailstack import fetch_all, send, unique_address

QUESTION = "Kapan jadwal pelatihan SPSE untuk penyedia bulan depan? Kode tender 10023456000."


def _dsn(sender: str, to: str, victim: str, original_id: str, status: str = "5.1.1") -> bytes:
    """A well-formed RFC 3464 delivery report, as an outsider can write one."""
    date = format_datetime(datetime.now(timezone.utc))
    return (
        f"From: Mail Delivery System <{sender}>\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {date}\r\nMessage-ID: {make_msgid(domain='evil.example')}\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"<{victim}>: host mx said: 550 5.1.1 user unknown\r\n\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.evil.example\r\n\r\n"
        f"Final-Recipient: rfc822; {victim}\r\nAction: failed\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {to}\r\nTo: {victim}\r\nMessage-ID: <{original_id}>\r\nSubject: apa saja\r\n\r\n"
        "--b1--\r\n"
    ).encode()


def _marks(d: Deployment) -> list[Undeliverable]:
    return d.rows(Undeliverable)


def test_forged_delivery_reports_silence_nobody(deployment: Deployment) -> None:
    """Finding 1: a forged DSN (and a forged plain MAILER-DAEMON text) naming a vendor, sent straight
    to the helpdesk, about no mail we sent: nothing is marked and the vendor is still answered."""
    d = deployment
    forged_dsn = _dsn(f"MAILER-DAEMON@{d.helpdesk.partition('@')[2]}", d.helpdesk, d.user,
                      "mailbot.0123456789abcdef@lpse.test")
    send(d.stack, forged_dsn, mail_from="", rcpt_to=[d.helpdesk])
    plain = user_mail("mailer-daemon@evil.example", d.helpdesk, "Mail delivery failed",
                      f"This is the mail system.\n\n<{d.user}>: 550 5.1.1 mailbox unavailable\n")
    d.send(plain, to=[d.helpdesk])
    d.wait_helpdesk_inbox(2)
    d.poll()
    assert _marks(d) == []
    outcomes = d.rows(Inbound)
    assert len(outcomes) == 2 and all(o.outcome == "ignored" for o in outcomes)
    assert all("unproven" in o.reason for o in outcomes)
    # The vendor writes: the acknowledgment arrives, and so does the staff answer.
    note = d.open_ticket("Jadwal pelatihan SPSE", QUESTION)
    d.wait_subject(d.user, "Tiket diterima")
    d.send(reply_mail(note, d.staff1, "#tutup\nJadwal ada di situs LPSE.", name="Staf Helpdesk"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.wait_subject(d.user, "Selesai")
    code, out, _ = d.cli("addresses", "list")
    assert code == 0 and "0 address(es) marked" in out


def test_a_report_to_our_envelope_sender_marks_only_that_mails_recipients(deployment: Deployment) -> None:
    """The attacker gets an acknowledgment of their own, then sends a DSN to its signed envelope
    sender naming the victim: proven to be about our mail, but the victim was not its recipient."""
    d = deployment
    attacker = unique_address("attacker", "example.test")
    d.send(user_mail(attacker, d.helpdesk, "Pertanyaan", QUESTION, name="Penyerang"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ack] = d.wait_subject(attacker, "Tiket diterima")
    envelope = ack.headers["return-path"][0].strip("<> ")
    assert envelope.startswith(d.helpdesk.partition("@")[0] + "+b.")  # a signed address per mail
    send(d.stack, _dsn(f"MAILER-DAEMON@{envelope.partition('@')[2]}", envelope, d.user,
                       ack.headers["message-id"][0].strip("<> ")), mail_from="", rcpt_to=[envelope])
    d.wait_helpdesk_inbox(1)
    d.poll()
    assert _marks(d) == []
    [ticket] = d.tickets()
    [event] = [e for e in ticket.events if e.kind == "bounce"]
    assert f"{d.user}: not a recipient of that mail" in event.detail
    # And the victim is answered as usual.
    d.new_mail("Jadwal pelatihan", QUESTION)
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.wait_subject(d.user, "Tiket diterima")


def test_a_real_bounce_marks_for_this_helpdesk_but_staff_answers_still_go(deployment: Deployment) -> None:
    """A real bounce (Postfix, back to the envelope sender) marks the address for automatic mail
    only; a staff answer is still sent; staff are told once; the operator lifts the mark."""
    d = deployment
    ghost = "nobody@bounce.test"
    d.send(user_mail(ghost, d.helpdesk, "Jadwal pelatihan SPSE", QUESTION, name="Tidak Ada"), to=[d.helpdesk])
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.wait(d.helpdesk, 1, timeout=30)  # Postfix's report about the acknowledgment
    d.poll()
    [mark] = _marks(d)
    assert mark.address == ghost and mark.helpdesk == d.key and mark.permanent
    [told] = d.wait_subject(d.staff1, "tidak terkirim")
    assert ghost in told.text and "Jawaban petugas dan eskalasi tetap dikirim" in told.text
    [note] = d.wait_subject(d.staff1, "Tiket baru")
    d.send(reply_mail(note, d.staff1, "Jadwal ada di situs LPSE.", name="Staf Helpdesk"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ticket] = d.tickets()
    answers = d.rows(Outbox, Outbox.ticket_id == ticket.id, Outbox.to_key == ghost)
    assert len(answers) == 2  # the acknowledgment and the staff answer, which was not held back
    assert not [e for e in ticket.events if e.kind == "mail_suppressed"]
    # The answer bounces too: the same mark, no second notice to staff.
    d.wait(d.helpdesk, 1, timeout=30)
    d.poll()
    assert len(d.wait_subject(d.staff1, "tidak terkirim")) == 1
    code, out, _ = d.cli("addresses", "list")
    assert code == 0 and ghost in out and "1 address(es) marked" in out
    assert d.cli("addresses", "clear", ghost)[0] == 0
    assert _marks(d) == []


@pytest.mark.parametrize("how", ["short", "empty_env"])
def test_a_weak_secret_refuses_to_start(deployment: Deployment, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 2: a configured secret that anyone could guess stops the program with one line."""
    d = deployment
    d.write_config()
    text = d.config_path.read_text()
    if how == "short":
        text = text.replace(f'secret = "test-secret-{d.helpdesk}"', 'secret = "rahasia"')
    else:
        monkeypatch.setenv("MAILBOT_TEST_EMPTY_SECRET", "")
        text = text.replace(f'secret = "test-secret-{d.helpdesk}"', 'secret_env = "MAILBOT_TEST_EMPTY_SECRET"')
    d.config_path.write_text(text)
    for command in (("check-config",), ("poll", "--once")):
        code, out, err = d.cli(*command)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and "helpdesk.secret" in err and "at least 24" in err


def test_without_a_secret_a_generated_one_signs_and_the_old_guess_runs_nothing(deployment: Deployment) -> None:
    """Finding 2: with no secret configured, reply addresses were signed with ``mailbot:<address>``;
    now a random key is generated at first start and kept in the database."""
    d = deployment
    d.write_config()
    d.config_path.write_text(d.config_path.read_text().replace(f'secret = "test-secret-{d.helpdesk}"\n', ""))
    code, out, _ = d.cli("check-config")
    assert "secret: generated at first start" in out
    note = d.open_ticket("Jadwal pelatihan SPSE", QUESTION)
    [key] = _signing_keys(d)
    assert len(key) >= 40
    [ticket] = d.tickets()
    guessed = threads.reply_address(d.helpdesk, ticket.id, f"mailbot:{d.helpdesk}")
    assert note.headers["reply-to"][0] != guessed
    forged = reply_mail(note, d.staff1, "#tutup\nDitutup.", to=guessed)
    d.send(forged, to=[guessed])
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ticket] = d.tickets()
    assert ticket.state != "closed" and any(e.kind == "command_unverified" for e in ticket.events)
    # The real reply address (signed with the generated key) works, also after a restart.
    d.send(reply_mail(note, d.staff1, "#tutup\nJadwal ada di situs LPSE.", name="Staf Helpdesk"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    assert d.tickets()[0].state == "closed"


def _signing_keys(d: Deployment) -> list[str]:
    with d.sessions()() as session:
        return [k.value for k in session.query(SigningKey)]


def test_an_oversized_escalation_arrives_within_its_budget(deployment: Deployment) -> None:
    """Finding 5: the user's files exceed what a mail may carry; the dossier takes what fits,
    lists the rest, reaches LKPP; a later escalation of another ticket arrives too."""
    d = deployment
    d.write_config()
    text = d.config_path.read_text().replace(f'lkpp_address = "{d.lkpp}"',
                                             f'lkpp_address = "{d.lkpp}"\nmax_dossier_bytes = 1048576')
    d.config_path.write_text(text)
    files = [(f"bukti-{n}.pdf", "application/pdf", os.urandom(400 * 1024)) for n in range(4)]
    note = d.open_ticket("Gagal unggah dokumen penawaran", QUESTION + " Terlampir bukti.", attachments=files)
    d.send(reply_mail(note, d.staff1, "#eskalasi\nMohon bantuan LKPP.", name="Staf Helpdesk"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [dossier] = d.wait(d.lkpp, 1, lambda m: "ESKALASI" in m.subject)
    assert len(dossier.obj.as_bytes()) < 1048576
    sent = [a.filename for a in dossier.attachments]
    assert 1 <= len(sent) < 4
    for name in {f[0] for f in files} - set(sent):
        assert name in dossier.text  # listed with its size instead
    assert "tidak disertakan" in dossier.text
    [ticket] = d.tickets()
    assert any(e.kind == "dossier_trimmed" for e in ticket.events)
    assert _marks(d) == []
    # Another ticket's escalation is not held back by anything the first one did.
    d.user = unique_address("vendor2", "vendor.test")
    note2 = d.open_ticket("Pertanyaan lain", QUESTION)
    d.send(reply_mail(note2, d.staff1, "#eskalasi\nMohon bantuan.", name="Staf Helpdesk"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.wait(d.lkpp, 2, lambda m: "ESKALASI" in m.subject)


def test_two_different_mails_with_one_message_id_are_both_processed(deployment: Deployment) -> None:
    """Finding 6: a Message-ID reused by another sender's mail no longer loses that mail; and an
    identical copy is still a duplicate. Nothing is expunged without a copy in Processed."""
    d = deployment
    shared = make_msgid(domain="scanner.example")
    other = unique_address("vendor-b", "vendor.test")
    first = user_mail(d.user, d.helpdesk, "Lupa password", "Saya lupa password akun SPSE. User ID: cvmaju01.")
    second = user_mail(other, d.helpdesk, "Jadwal pelatihan", QUESTION, name="Sari")
    for msg in (first, second):
        del msg["Message-ID"]
        msg["Message-ID"] = shared
    d.send(first)
    d.wait_helpdesk_inbox(1)
    d.poll()
    d.send(second)
    d.send(first)  # the same mail once more (identical content): a duplicate
    d.wait_helpdesk_inbox(2)
    d.poll()
    tickets = d.tickets()
    assert sorted(t.requester for t in tickets) == sorted([d.user, other])
    d.wait_subject(other, "Tiket diterima")
    assert len(d.wait_subject(d.user, "Tiket diterima")) == 1
    assert sorted(o.outcome for o in d.rows(Inbound)) == ["opened", "opened"]
    assert fetch_all(d.stack, d.helpdesk) == []
    processed = fetch_all(d.stack, d.helpdesk, "Processed")
    assert sorted(m.from_ for m in processed) == sorted([d.user, other])
