"""Issue 7, several workers: two ``mailbot run`` processes on one PostgreSQL database and one
IMAP mailbox (``[workers] cooperate = true``) work through one backlog together.

The backlog (300 mails: new tickets, user replies to existing tickets, staff commands sent to
the signed Reply-To of real notifications) is in the INBOX before both workers start at the
same moment; they fetch the same mail, race for each Message-ID and for each outbox row.
Afterwards:

* the INBOX and Quarantine are empty and Processed holds every mail exactly once;
* ``inbound`` has exactly one row per Message-ID, each mail is in exactly one ticket's
  messages, and no ticket is duplicated (one per new-ticket mail);
* every reply owed was sent exactly once: each outbox row is ``sent`` and its Message-ID is in
  each recipient's real mailbox (read over IMAP) exactly as often as it was owed, never more;
* both workers did part of the work (mails processed and replies sent by each).

Runs in the PostgreSQL pass of the suite (MAILBOT_TEST_DB=postgresql; ``scripts/test.sh``
runs that pass); SQLite serialises writers and is meant for one worker.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from imap_tools import AND, MailBox
from sqlalchemy import select

from mailbot.mail import intake
from mailbot.storage.models import Inbound, Message, Outbox, Ticket
from tests.e2e.backlog import BODIES, backlog_mails, folder_count, inject, message_ids, seed_tickets, unsent
from tests.e2e.conftest import Deployment, user_mail
from tests.support import pgstack
from tests.support.botproc import BotProcess, set_keys, wait_until
from tests.support.mailstack import MailStack, mailbox_address, ssl_context, unique_address

needs_postgresql = pytest.mark.skipif(
    pgstack.backend() != "postgresql",
    reason="cooperating workers need PostgreSQL: runs with MAILBOT_TEST_DB=postgresql (the second pass of "
           "scripts/test.sh)")

SEED_TICKETS = 30
NEW_TICKETS = 200
USER_REPLIES = 50
STAFF_COMMANDS = 50
BACKLOG = NEW_TICKETS + USER_REPLIES + STAFF_COMMANDS  # 300
USERS = 20


@pytest.mark.slow
@needs_postgresql
def test_two_workers_share_one_backlog_and_do_nothing_twice(
        deployment: Deployment, stack: MailStack, bots: list[BotProcess], tmp_path: Path) -> None:
    d = deployment
    assert d.db_url.startswith("postgresql")
    rng = random.Random(7)
    set_keys(d.config_path, "imap", poll_interval=5, batch_size=25)
    set_keys(d.config_path, "loops", max_auto_mails_per_hour=100000)
    set_keys(d.config_path, "workers", cooperate=True)
    users = [unique_address("vendor", "vendor.test") for _ in range(USERS)]

    # ---- seed: tickets whose acknowledgments and staff notifications the backlog answers
    seeded = seed_tickets(d, stack, users, SEED_TICKETS)
    with d.sessions()() as session:
        sent_by_the_seed_poll = len(session.scalars(select(Outbox.id)).all())

    # ---- the backlog, in the INBOX before the workers start
    backlog = backlog_mails(d, users, seeded, rng, new_tickets=NEW_TICKETS, user_replies=USER_REPLIES,
                            staff_commands=STAFF_COMMANDS)
    inject(stack, backlog)
    wait_until(lambda: folder_count(stack, d.helpdesk) >= BACKLOG, 90, "the backlog in the INBOX")
    all_ids = {m["Message-ID"].strip("<>") for m in seeded.mails + backlog}
    assert len(all_ids) == SEED_TICKETS + BACKLOG

    # ---- two workers at once
    started = time.monotonic()
    workers = [BotProcess(d.config_path, tmp_path / f"worker{n}.log") for n in (1, 2)]
    for bot in workers:
        bots.append(bot.start())
    wait_until(lambda: folder_count(stack, d.helpdesk) == 0 or not all(b.alive() for b in workers), 240,
               "the INBOX to be empty")
    assert all(b.alive() for b in workers), "".join(b.log()[-3000:] for b in workers)
    wait_until(lambda: unsent(d) == 0, 120, "every outbox mail to be sent")
    elapsed = time.monotonic() - started
    assert [b.stop() for b in workers] == [0, 0], "".join(b.log()[-3000:] for b in workers)
    logs = [b.log() for b in workers]
    joined = "".join(logs)
    assert "Traceback" not in joined, joined[joined.find("Traceback") - 2000:][:5000]
    assert " ERROR " not in joined, [line for line in joined.splitlines() if " ERROR " in line]

    # ---- every mail once: in the archive, the inbound record and one ticket
    assert folder_count(stack, d.helpdesk) == 0
    assert folder_count(stack, d.helpdesk, "Quarantine") == 0
    processed_ids = Counter(message_ids(stack, d.helpdesk, "Processed"))
    assert set(processed_ids) == all_ids
    archived_twice = {mid for mid, n in processed_ids.items() if n > 1}
    assert not archived_twice, archived_twice
    with d.sessions()() as session:
        inbound = session.scalars(select(Inbound)).all()
        messages_in = session.scalars(select(Message).where(Message.direction == "in")).all()
        tickets = session.scalars(select(Ticket)).all()
        outbox = session.scalars(select(Outbox)).all()
    assert {i.message_id for i in inbound} == all_ids, [(i.message_id, i.sender, i.outcome, i.reason)
                                                        for i in inbound if i.message_id not in all_ids]
    assert len(inbound) == len(all_ids)
    assert {i.outcome for i in inbound} <= {"opened", "updated"}, Counter(i.outcome for i in inbound)
    in_ids = Counter(m.message_id for m in messages_in)
    assert set(in_ids) == all_ids and set(in_ids.values()) == {1}
    assert len(tickets) == SEED_TICKETS + NEW_TICKETS
    per_subject = Counter(t.subject for t in tickets)
    assert set(per_subject.values()) == {1}, [s for s, n in per_subject.items() if n > 1]

    # ---- every reply owed sent exactly once (outbox vs the recipients' real mailboxes)
    assert outbox and {r.status for r in outbox} == {"sent"}
    owed: dict[str, Counter[str]] = {}
    for r in outbox:
        for rcpt in r.recipients:
            owed.setdefault(mailbox_address(rcpt), Counter())[r.message_id.strip("<>")] += 1

    def delivered() -> dict[str, Counter[str]] | None:
        got = {address: Counter(message_ids(stack, address)) for address in owed}
        return got if all(set(ids) <= set(got[a]) for a, ids in owed.items()) else None

    got = wait_until(delivered, 90, "every sent reply in its recipient's mailbox")
    assert isinstance(got, dict)
    time.sleep(2)  # a late duplicate would be in the queue now: look once more
    got = {address: Counter(message_ids(stack, address)) for address in owed}
    extra = {(address, mid): n - owed[address][mid] for address, ids in got.items() for mid, n in ids.items()
             if mid in owed[address] and n > owed[address][mid]}
    assert not extra, extra  # no reply reached anybody twice

    # ---- both took part
    processed = [len(re.findall(r"mail uid=\S+ -> (?:opened|updated)", log)) for log in logs]
    duplicates = [len(re.findall(r"mail uid=\S+ -> duplicate", log)) for log in logs]
    sent = [sum(int(n) for n in re.findall(r"outbox sent=(\d+)", log)) for log in logs]
    print(f"\ntwo workers: {BACKLOG} mails (+{SEED_TICKETS} seed) in {elapsed:.0f} s; processed per worker "
          f"{processed}, duplicates moved per worker {duplicates}; {len(tickets)} tickets, {len(outbox)} replies, "
          f"sent per worker {sent}; 0 mails twice in inbound/tickets/archive, 0 replies delivered twice")
    assert sum(processed) == BACKLOG
    assert all(n > 0 for n in processed), processed
    assert sum(sent) == len(outbox) - sent_by_the_seed_poll
    assert all(n > 0 for n in sent), sent


def test_a_mail_another_worker_moved_during_the_fetch_is_left_out(stack: MailStack) -> None:
    """Found by the test above: a worker whose FETCH comes right after the other worker moved the mail
    gets it from Dovecot as the UID with an empty body; it must not be taken for a mail and quarantined."""
    address = unique_address("hd", "lpse.test")
    msg = user_mail("budi@vendor.test", address, "Kendala SPSE", BODIES[0])

    def login() -> MailBox:
        return MailBox(stack.host, port=stack.imaps_port, ssl_context=ssl_context(stack)).login(
            mailbox_address(address), stack.password, initial_folder="INBOX")

    with login() as other, login() as worker:
        other.folder.create("Processed")
        worker.email_message_class = intake.RawMailMessage  # type: ignore[assignment]
        search = worker.uids
        moved: list[str] = []

        def search_then_the_other_moves(criteria: object, *args: object, **kw: object) -> list[str]:
            """The worker's search, after which (before its fetch) the other worker moves the mail."""
            found = search(criteria, *args, **kw)  # type: ignore[arg-type]
            if found and not moved:
                moved.extend(found)
                other.move(found, "Processed")
            return found

        worker.uids = search_then_the_other_moves  # type: ignore[method-assign]
        # What the server answers: the UID, with no bytes.
        other.append(msg.as_bytes(), "INBOX")
        worker.client.noop()
        got = [(m.uid, m.raw) for m in worker.fetch(AND(uid=worker.uids(AND(all=True))), mark_seen=False, bulk=50)]
        assert got == [(moved[0], b"")], got
        # What the intake makes of it: nothing (the other worker has the mail).
        moved.clear()
        other.append(msg.as_bytes(), "INBOX")
        worker.client.noop()
        assert list(intake.fetch_batch(worker, 10)) == [] and moved
        worker.uids = search  # type: ignore[method-assign]
        assert worker.uids(AND(all=True)) == []
