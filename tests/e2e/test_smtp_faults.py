"""Issue 6, SMTP faults: the outbox against an SMTP server that fails on purpose.

``FaultSMTP`` (aiosmtpd) stands where the submission server would be and answers 421,
451, 550, drops or hangs as told; what it accepts it forwards to the real Postfix, so the
replies are read from the recipients' real mailboxes. Properties:

* tickets are recorded while SMTP fails, and the intake never waits for SMTP;
* replies wait and go out after recovery, retried with exponential backoff that respects
  ``next_attempt_at``, keeping their Message-ID;
* a permanent 5xx marks the mail failed after one try and tells staff once; a failed
  notification to staff is never itself reported (no failure loops);
* ``smtp.max_attempts`` temporary failures end the retries (and tell staff).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from mailbot.storage import models
from mailbot.storage.models import Message, Outbox, Ticket, TicketEvent
from tests.e2e.conftest import Deployment, reply_mail
from tests.support.botproc import BotProcess, set_keys, wait_until
from tests.support.faultsmtp import FaultSMTP
from tests.support.mailstack import MailStack, fetch_all

# A general question: the priority table asks no data for it, so the user gets only the ack.
SUBJECT = "Jadwal pelatihan SPSE"
QUESTION = "Selamat pagi,\nKapan jadwal pelatihan SPSE untuk penyedia bulan depan?\nTerima kasih."


@pytest.fixture
def fault(stack: MailStack) -> Iterator[FaultSMTP]:
    with FaultSMTP(stack) as server:
        yield server


def use_fault_smtp(d: Deployment, fault: FaultSMTP, **smtp: object) -> None:
    d.write_config(smtp_port=str(fault.port), smtp_security="none")
    set_keys(d.config_path, "smtp", **{"backoff_seconds": 1, "timeout": 5, **smtp})
    set_keys(d.config_path, "loops", max_auto_mails_per_hour=1000)


def start_bot(d: Deployment, tmp_path) -> BotProcess:  # type: ignore[no-untyped-def]
    assert d.cli("db", "upgrade")[0] == 0  # the schema exists before the test looks at the database
    return BotProcess(d.config_path, tmp_path / "bot.log").start()


def rows(d: Deployment) -> list[Outbox]:
    return d.rows(Outbox)


def template_of(d: Deployment) -> dict[str, str]:
    """Outbox Message-ID -> template of the mail."""
    return {m.message_id: m.template or "" for m in d.rows(Message, Message.direction == "out")}


def events(d: Deployment, kind: str) -> list[TicketEvent]:
    return d.rows(TicketEvent, TicketEvent.kind == kind)


def ticket_count(d: Deployment) -> int:
    return len(d.rows(Ticket))


def delivered_ids(d: Deployment, address: str) -> list[str]:
    return [m.headers["message-id"][0].strip().strip("<>") for m in fetch_all(d.stack, address)]


def poll_until(d: Deployment, condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    """``mailbot poll --once`` until ``condition()`` holds (the backoff makes retries due later)."""

    def step() -> object:
        d.poll()
        return condition()

    wait_until(step, timeout, what, interval=0.2)


@pytest.mark.parametrize("mode", ["451", "421", "drop"])
def test_temporary_failure_records_the_ticket_and_sends_after_recovery(
        deployment: Deployment, fault: FaultSMTP, mode: str) -> None:
    d = deployment
    use_fault_smtp(d, fault)
    fault.mode = mode
    d.new_mail(SUBJECT, QUESTION)
    d.wait_helpdesk_inbox(1)
    out = d.poll()
    pending = rows(d)
    assert len(pending) >= 2  # the acknowledgment and the staff notification at least
    assert "opened=1" in out and "sent=0" in out and f"deferred={len(pending)}" in out, out
    assert ticket_count(d) == 1  # the ticket exists although no reply could go out
    assert {(r.status, r.attempts) for r in pending} == {("pending", 1)}
    expected = {"451": "451", "421": "421", "drop": "EOF"}[mode]
    assert all(expected in r.last_error for r in pending), [r.last_error for r in pending]
    assert all(r.next_attempt_at > r.created_at for r in pending)  # backoff: not due at once
    assert fetch_all(d.stack, d.user) == []
    if mode == "451":  # the server saw the mails: their Message-IDs are the ones sent later
        assert {a.message_id for a in fault.attempts} == {r.message_id for r in pending}
    fault.mode = "accept"
    poll_until(d, lambda: all(r.status == "sent" for r in rows(d)), 15, "the replies to be sent after recovery")
    [ack] = d.wait_subject(d.user, "Tiket diterima")
    d.wait_subject(d.staff1, "Tiket baru")
    sent = rows(d)
    assert ack.headers["message-id"][0].strip("<>") in {r.message_id for r in sent}
    assert {r.attempts for r in sent} == {2}
    to_user = sorted(r.message_id for r in sent if d.user in r.recipients)
    assert sorted(delivered_ids(d, d.user)) == to_user  # each once, not twice


def test_intake_never_waits_for_smtp_and_retries_back_off(
        deployment: Deployment, fault: FaultSMTP, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = deployment
    use_fault_smtp(d, fault, timeout=30, max_attempts=10)
    set_keys(d.config_path, "imap", poll_interval=1)
    fault.mode = "hang"  # the SMTP server accepts the connection and never answers
    bot = start_bot(d, tmp_path)
    try:
        d.new_mail(SUBJECT, QUESTION)
        wait_until(lambda: ticket_count(d) == 1, 30, "the first ticket")
        [hung] = wait_until(lambda: fault.hung, 15, "the outbox to connect to the hanging server")  # type: ignore[misc]
        # A second mail arrives while the outbox is stuck on the hanging server: it is processed anyway.
        d.new_mail(SUBJECT + " (2)", QUESTION)
        wait_until(lambda: ticket_count(d) == 2, 20, "the second ticket while SMTP hangs")
        assert hung.closed is None, "the intake waited for the SMTP connection to end"
        assert len(fault.hung) == 1  # one flush at a time, stuck; the intake went on without it
        assert all(r.status == "pending" and r.attempts == 0 for r in rows(d))

        fault.mode = "451"  # the server hangs up; from now on it answers "try again later"
        first = wait_until(lambda: [r for r in rows(d) if r.attempts >= 1], 15, "the hung attempt to be recorded")
        ack_id = min(first, key=lambda r: r.id).message_id  # type: ignore[union-attr]
        wait_until(lambda: len(fault.attempts_for(ack_id)) >= 3, 30, "three 451 answers for the first reply")
        times = [a.at for a in fault.attempts_for(ack_id)]
        # Attempt 1 was the hung connection; 451 answers are attempts 2, 3, 4, each due only after
        # backoff_seconds * 2 ** (attempt - 1), counted from the failed attempt before it.
        for n, (before, after) in enumerate(zip(times, times[1:]), start=2):
            assert after - before >= 1.0 * 2 ** (n - 1) - 0.25, (n, times)
        for r in rows(d):
            if r.status == "pending" and r.attempts >= 2:
                assert r.next_attempt_at > r.created_at
        fault.mode = "accept"
        wait_until(lambda: rows(d) and all(r.status == "sent" for r in rows(d)), 40, "every reply to be sent")
        assert len(d.wait_subject(d.user, "Tiket diterima", count=2)) == 2
        assert len(d.wait_subject(d.staff1, "Tiket baru", count=2)) == 2
        for address in (d.user, d.staff1, d.staff2):
            ids = delivered_ids(d, address)
            assert len(ids) == len(set(ids)), f"a reply reached {address} twice"
        assert bot.alive()
    finally:
        code = bot.stop()
    assert code == 0, bot.log()[-3000:]
    assert "Traceback" not in bot.log()


def test_permanent_refusal_fails_once_tells_staff_and_is_not_retried(
        deployment: Deployment, fault: FaultSMTP) -> None:
    d = deployment
    use_fault_smtp(d, fault)
    fault.refuse(d.user, "550")  # only the user's address is refused; staff mail goes through
    d.new_mail(SUBJECT, QUESTION)
    d.wait_helpdesk_inbox(1)
    out = d.poll()
    assert "opened=1" in out and "failed=1" in out, out
    by_template = template_of(d)
    outbox = {by_template[r.message_id]: r for r in rows(d)}
    assert outbox["ack"].status == "failed" and outbox["ack"].attempts == 1
    assert "550" in outbox["ack"].last_error
    [notice] = d.wait_subject(d.staff1, "Balasan gagal terkirim")
    assert d.user in notice.text and "550" in notice.text and "TTS-000001" in notice.subject
    assert notice.headers["reply-to"][0].startswith(d.helpdesk.split("@")[0] + "+t1.")  # staff can answer it
    assert outbox["staff_delivery_failed"].status == "sent"
    assert len(events(d, "delivery_failed")) == 1
    tried = len(fault.attempts_to(d.user))
    assert tried == 1
    for _ in range(3):  # nothing is retried, nothing else is queued
        d.poll()
    assert len(fault.attempts_to(d.user)) == 1
    assert len(rows(d)) == 3
    assert fetch_all(d.stack, d.user) == []
    with d.sessions()() as session:  # no more automatic mail to it
        assert session.scalars(select(models.Undeliverable).where(models.Undeliverable.address == d.user,
                                                                 models.Undeliverable.helpdesk == d.key)).one()
    # The operator fixes the address problem and sends the reply again (same Message-ID).
    code, out, _ = d.cli("outbox", "list")
    assert code == 0 and "failed" in out and d.user in out
    fault.allow(d.user)
    code, out, err = d.cli("outbox", "retry", str(outbox["ack"].id))
    assert code == 0, err
    d.poll()
    [ack] = d.wait_subject(d.user, "Tiket diterima")
    assert ack.headers["message-id"][0].strip("<>") == outbox["ack"].message_id
    assert {r.status for r in rows(d) if r.id == outbox["ack"].id} == {"sent"}


def test_server_refusing_everything_makes_no_failure_loop(deployment: Deployment, fault: FaultSMTP) -> None:
    d = deployment
    use_fault_smtp(d, fault)
    fault.mode = "550"  # every mail is refused at the end of DATA, notices to staff too
    d.new_mail(SUBJECT, QUESTION)
    d.wait_helpdesk_inbox(1)
    out = d.poll()
    assert "opened=1" in out, out
    for _ in range(3):
        d.poll()
    templates = template_of(d)
    status = sorted((templates[r.message_id], r.status, r.attempts) for r in rows(d))
    # The ack's failure queued one notice; the notice and the staff notification failed too,
    # and nobody is told about those: three mails, one try each, then silence.
    assert status == [("ack", "failed", 1), ("staff_delivery_failed", "failed", 1), ("staff_new", "failed", 1)]
    assert len(fault.attempts) == 3
    assert len(events(d, "delivery_failed")) == 3
    # Once the server accepts mail again, the operator can send the notice.
    fault.mode = "accept"
    notice = next(r for r in rows(d) if templates[r.message_id] == "staff_delivery_failed")
    code, _, err = d.cli("outbox", "retry", str(notice.id))
    assert code == 0, err
    d.poll()
    d.wait_subject(d.staff1, "Balasan gagal terkirim")
    assert len(rows(d)) == 3


def test_failed_staff_notification_is_never_reported(deployment: Deployment, fault: FaultSMTP) -> None:
    d = deployment
    use_fault_smtp(d, fault)
    fault.refuse(d.staff1, "550")
    fault.refuse(d.staff2, "550")  # every staff mailbox refuses
    d.new_mail(SUBJECT, QUESTION)
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ack] = d.wait_subject(d.user, "Tiket diterima")
    d.send(reply_mail(ack, d.user, "Tambahan: akun saya di LPSE Kota Uji."))
    d.wait_helpdesk_inbox(1)
    for _ in range(3):
        d.poll()
    templates = template_of(d)
    kinds = sorted(templates[r.message_id] for r in rows(d))
    assert kinds == ["ack", "staff_new", "staff_user_reply"], kinds  # no staff_delivery_failed at all
    assert {templates[r.message_id]: r.status for r in rows(d)} == {
        "ack": "sent", "staff_new": "failed", "staff_user_reply": "failed"}
    assert len(events(d, "delivery_failed")) == 2  # recorded on the ticket all the same
    assert len(fault.attempts_to(d.staff1)) == 2


def test_max_attempts_ends_the_retries_and_tells_staff(deployment: Deployment, fault: FaultSMTP) -> None:
    d = deployment
    use_fault_smtp(d, fault, max_attempts=3, backoff_seconds=0.2)
    fault.refuse(d.user, "451")  # the user's server is "busy" forever
    d.new_mail(SUBJECT, QUESTION)
    d.wait_helpdesk_inbox(1)
    d.poll()
    templates = template_of(d)

    def ack_row() -> Outbox:
        return next(r for r in rows(d) if templates.get(r.message_id) == "ack")

    poll_until(d, lambda: ack_row().status == "failed", 20, "the ack to fail after max_attempts")
    assert ack_row().attempts == 3
    assert len(fault.attempts_to(d.user)) == 3
    [notice] = d.wait_subject(d.staff1, "Balasan gagal terkirim")
    assert "3 kali" in notice.text and "451" in notice.text
    for _ in range(3):
        d.poll()
    assert len(fault.attempts_to(d.user)) == 3  # never again


def test_sigterm_while_smtp_hangs_still_exits(deployment: Deployment, fault: FaultSMTP, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The outbox thread is stuck in a hanging connection: a second signal leaves at once."""
    d = deployment
    use_fault_smtp(d, fault, timeout=60)
    set_keys(d.config_path, "imap", poll_interval=2)
    fault.mode = "hang"
    bot = start_bot(d, tmp_path)
    try:
        d.new_mail(SUBJECT, QUESTION)
        wait_until(lambda: fault.hung, 30, "the outbox to hang on SMTP")
        bot.signal(signal.SIGTERM)
        bot.wait_log(r"finishing the mail in hand", timeout=10)
        started = time.monotonic()
        bot.signal(signal.SIGTERM)
        code = bot.wait(timeout=10)
        assert code == 1 and time.monotonic() - started < 5, bot.log()[-2000:]
        assert ticket_count(d) == 1
    finally:
        bot.kill()


QUESTIONS = [("Jadwal pelatihan SPSE", "Kapan jadwal pelatihan SPSE untuk penyedia bulan depan?"),
             ("Cara ganti email akun", "Bagaimana cara mengganti alamat email pada akun penyedia saya?"),
             ("Lupa kata sandi SPSE", "Saya lupa kata sandi akun SPSE, mohon dibantu caranya.")]


def new_tickets_in_batches_of_one(d: Deployment, fault: FaultSMTP, **smtp: object) -> None:
    use_fault_smtp(d, fault, **smtp)
    set_keys(d.config_path, "imap", batch_size=1)
    for subject, question in QUESTIONS:
        d.new_mail(subject, f"Selamat pagi,\n{question}\nTerima kasih.")
    d.wait_helpdesk_inbox(len(QUESTIONS))


def opened_at(d: Deployment) -> list[float]:
    tickets = sorted(d.rows(Ticket), key=lambda t: t.id)
    assert len(tickets) == len(QUESTIONS), [t.subject for t in tickets]
    return [t.opened_at.timestamp() for t in tickets]


def test_poll_once_sends_each_batch_before_the_next(deployment: Deployment, fault: FaultSMTP) -> None:
    """``poll --once`` works a backlog batch by batch (``imap.batch_size``): a batch's replies go
    out before the next batch is fetched, so the first users hear back without waiting for the
    whole backlog."""
    d = deployment
    new_tickets_in_batches_of_one(d, fault)
    out = d.poll()
    assert "opened=3" in out and "deferred=0" in out, out
    opened = opened_at(d)
    sent = {r.message_id: r for r in rows(d)}
    assert sent and all(r.status == "sent" for r in sent.values())
    by_ticket: dict[int, list[float]] = {}
    for attempt in fault.attempts:
        by_ticket.setdefault(sent[attempt.message_id].ticket_id or 0, []).append(attempt.at)
    tickets = sorted(t.id for t in d.rows(Ticket))
    for number, (ticket, next_opened) in enumerate(zip(tickets, opened[1:]), start=1):
        assert by_ticket.get(ticket), f"no reply of ticket {number} was sent"
        assert max(by_ticket[ticket]) < next_opened, f"ticket {number}'s replies waited for the next batch"
    for address in (d.user, d.staff1):
        ids = delivered_ids(d, address)
        assert len(ids) == len(set(ids)), f"a reply reached {address} twice"


def test_poll_once_tries_a_hanging_server_once_and_goes_on(deployment: Deployment, fault: FaultSMTP) -> None:
    """A hanging SMTP server holds ``poll --once`` up once: after the first batch's flush times
    out, the other batches are processed without trying SMTP again; the final flush tries once
    more, and every reply stays pending for the next poll."""
    d = deployment
    new_tickets_in_batches_of_one(d, fault, timeout=2)
    fault.mode = "hang"
    out = d.poll()
    assert "opened=3" in out and "sent=0" in out, out
    first, second, third = opened_at(d)
    opened = [h.opened for h in fault.hung]
    assert [t for t in opened if t < second], "the first batch's replies were not tried"
    assert [t for t in opened if t > third], "the final flush did not try again"
    assert not [t for t in opened if second <= t <= third], "the intake waited for the hanging server again"
    pending = rows(d)
    assert pending and all(r.status == "pending" for r in pending)
    fault.mode = "accept"
    poll_until(d, lambda: all(r.status == "sent" for r in rows(d)), 30, "the replies after the server came back")
    assert len(d.wait_subject(d.user, "Tiket diterima", count=3)) == 3
