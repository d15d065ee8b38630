"""Ticket search (storage/search.py): what staff type into the console's search box finds the ticket.

Tickets are opened by real mail through ``process_raw`` (and one helpdesk's by the ORM, as tools
write them), so the index is the one the database triggers keep; runs on the suite's backend
(SQLite FTS5, or PostgreSQL full-text search with MAILBOT_TEST_DB=postgresql).
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from itertools import count
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import delete, insert, inspect, select

from mailbot.core import threads
from mailbot.ops.privacy import erase_person, purge
from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from mailbot.storage import search, store
from mailbot.storage.models import Message, Ticket, TicketEvent
from tests.integration.conftest import NOW, make_app

HELPDESK = "helpdesk@lpse.test"
SECRET = "rahasia-korpus-0123456789abcdef"
_ids = count(1)


def mail(to: str, subject: str, body: str, *, sender: str, name: str, in_reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(NOW)
    msg["Message-ID"] = f"<s{next(_ids)}@{sender.partition('@')[2]}>"
    if in_reply_to:
        msg["In-Reply-To"] = msg["References"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def open_ticket(app: App, subject: str, body: str, *, sender: str, name: str) -> int:
    outcome = process_raw(app, mail(HELPDESK, subject, body, sender=sender, name=name), NOW)
    assert outcome.kind == "opened" and outcome.ticket_id is not None, outcome
    return outcome.ticket_id


def staff_reply(app: App, ticket_id: int, body: str) -> None:
    """A staff member's answer to the ticket's notification (its signed reply address)."""
    to = threads.reply_address(HELPDESK, ticket_id, SECRET)
    outcome = process_raw(app, mail(to, "Re: tiket", body, sender="staf@lpse.test", name="Staf"), NOW)
    assert outcome.kind == "updated" and outcome.ticket_id == ticket_id, outcome


@pytest.fixture
def desk(tmp_path: Path) -> tuple[App, dict[str, int]]:
    """Three tickets of the default helpdesk (one escalated), two of helpdesk "kab" written by the ORM."""
    app = make_app(tmp_path)
    ids = {
        "budi": open_ticket(app, "Gagal upload dokumen penawaran",
                            "Selamat pagi, kode tender 10234567000 gagal unggah dokumen penawaran, muncul error.",
                            sender="budi.santoso@cv-maju.co.id", name="Budi Santoso"),
        "sari": open_ticket(app, "Lupa password akun SPSE", "Saya lupa kata sandi untuk masuk ke aplikasi.",
                            sender="sari@pt-sentosa.test", name="Sari Wulandari"),
        "agus": open_ticket(app, "Jadwal tender tidak bisa diubah",
                            "Pokja tidak bisa mengubah jadwal tahap evaluasi tender 99887766000.",
                            sender="agus@pokja.lpse.test", name="Agus Pratama"),
    }
    staff_reply(app, ids["agus"], "#eskalasi\nMohon bantuan LKPP, jadwal terkunci di server.")
    with app.factory.begin() as session:
        for subject, requester in [("Verifikasi penyedia terhambat", "dewi@kab.test"),
                                   ("Gagal upload dokumen kualifikasi", "budi.santoso@cv-maju.co.id")]:
            ticket = Ticket(helpdesk="kab", number=None, state="analysis", priority="sedang", category="lainnya",
                            subject=subject, requester=requester, requester_name="", missing=[],
                            opened_at=NOW, updated_at=NOW)
            session.add(ticket)
            session.flush()
            ticket.number = threads.format_number("KAB", ticket.seq)
            ids[f"kab-{requester.partition('@')[0]}"] = ticket.id
    return app, ids


def find(app: App, query: str, helpdesks: list[str] | None = None, escalated_only: bool = False,
         limit: int = 50) -> list[int]:
    with app.factory() as session:
        return search.search_tickets(session, query, helpdesk_ids=helpdesks, escalated_only=escalated_only,
                                     limit=limit)


def number_of(app: App, ticket_id: int) -> str:
    with app.factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.number
        return ticket.number


def test_finds_a_ticket_by_its_number_in_every_spelling(desk: tuple[App, dict[str, int]]) -> None:
    app, ids = desk
    number = number_of(app, ids["sari"])
    assert number == "TTS-000002"
    for query in (number, number.lower(), "000002", "2", " TTS-2 "):
        assert find(app, query, ["default"])[0] == ids["sari"], query
    # Numbers repeat across helpdesks: each helpdesk's own, and both when searching everywhere.
    assert find(app, "2", ["kab"])[0] == ids["kab-budi.santoso"]
    assert set(find(app, "2")[:2]) == {ids["sari"], ids["kab-budi.santoso"]}
    assert find(app, "KAB-000002") == [ids["kab-budi.santoso"]]


def test_finds_by_requester_address_name_and_parts_of_them(desk: tuple[App, dict[str, int]]) -> None:
    app, ids = desk
    assert find(app, "budi.santoso@cv-maju.co.id", ["default"]) == [ids["budi"]]
    assert find(app, "sari@pt-sentosa.test") == [ids["sari"]]
    assert find(app, "Sari Wulandari") == [ids["sari"]]
    assert find(app, "wulandari") == [ids["sari"]]
    assert find(app, "cv-maju.co.id", ["default"]) == [ids["budi"]]  # the requester's domain
    assert set(find(app, "budi.santoso@cv-maju.co.id")) == {ids["budi"], ids["kab-budi.santoso"]}


def test_finds_by_tender_code_subject_and_mail_text(desk: tuple[App, dict[str, int]]) -> None:
    app, ids = desk
    assert find(app, "10234567000") == [ids["budi"]]  # in the first mail's text
    assert find(app, "99887766000") == [ids["agus"]]
    assert find(app, "1023456") == [ids["budi"]]  # the last word matches as a prefix
    assert find(app, "lupa password") == [ids["sari"]]  # subject
    assert find(app, "kata sandi") == [ids["sari"]]  # the mail's text
    assert find(app, "terkunci") == [ids["agus"]]  # a staff mail written into the ticket later
    assert set(find(app, "upload")) == {ids["budi"], ids["kab-budi.santoso"]}
    assert find(app, "upload kualifikasi") == [ids["kab-budi.santoso"]]  # every word must match
    assert find(app, "lupa jadwal") == []
    # Words of the subject weigh more than words of the mails: "tender" is in two tickets' text and one subject.
    assert find(app, "tender")[0] == ids["agus"]


def test_letters_are_matched_without_case_and_the_same_way_on_both_backends(
        desk: tuple[App, dict[str, int]]) -> None:
    app, _ids = desk
    new = open_ticket(app, "Pengumuman di kafe Ŝiva", "Résumé pemenang TENDER belum tampil; café tutup.",
                      sender="yves@vendor.test", name="Ÿves Ñoño")
    for query in ("résumé", "RÉSUMÉ", "Café", "ŝiva", "ñoño", "ÿves", "pemenang tender"):
        assert find(app, query) == [new], query
    assert find(app, "resume") == [] and find(app, "cafe") == []  # accents are kept (no unaccent)


def test_the_bots_own_mails_are_not_searched(desk: tuple[App, dict[str, int]]) -> None:
    app, ids = desk
    with app.factory() as session:
        bot_text = " ".join(session.scalars(select(Message.new_text).where(Message.direction == "out")))
    assert "Terima kasih" in bot_text or "terima kasih" in bot_text
    assert find(app, "terima kasih") == []


def test_restricted_to_the_given_helpdesks(desk: tuple[App, dict[str, int]]) -> None:
    app, ids = desk
    assert find(app, "verifikasi penyedia") == [ids["kab-dewi"]]
    assert find(app, "verifikasi penyedia", ["default"]) == []
    assert find(app, "verifikasi penyedia", ["default", "kab"]) == [ids["kab-dewi"]]
    assert find(app, "upload", ["kab"]) == [ids["kab-budi.santoso"]]
    assert find(app, "upload", []) == []  # no helpdesk at all: nothing


def test_escalated_only_finds_tickets_escalated_to_lkpp_even_once_closed(desk: tuple[App, dict[str, int]]) -> None:
    app, ids = desk
    assert find(app, "tender", escalated_only=True) == [ids["agus"]]
    assert find(app, "agus@pokja.lpse.test", ["default"], escalated_only=True) == [ids["agus"]]
    assert find(app, "3", escalated_only=True) == [ids["agus"]]
    assert find(app, "1", escalated_only=True) == []
    assert find(app, "lupa password", escalated_only=True) == []
    staff_reply(app, ids["agus"], "#tutup\nSudah dibantu LKPP.")
    with app.factory() as session:
        assert session.get(Ticket, ids["agus"]).state == "closed"  # type: ignore[union-attr]
    assert find(app, "jadwal", escalated_only=True) == [ids["agus"]]
    # The mark follows the events table, whoever writes it: an escalation recorded by plain SQL counts,
    # and one taken back (its event deleted) no longer does.
    with app.factory.begin() as session:
        session.execute(insert(TicketEvent).values(ticket_id=ids["sari"], kind="escalated", at=NOW, actor="x",
                                                   detail="", data={}))
    assert find(app, "lupa password", escalated_only=True) == [ids["sari"]]
    with app.factory.begin() as session:
        session.execute(delete(TicketEvent).where(TicketEvent.ticket_id == ids["sari"],
                                                  TicketEvent.kind == "escalated"))
    assert find(app, "lupa password", escalated_only=True) == []
    assert find(app, "lupa password") == [ids["sari"]]


@pytest.mark.parametrize("query", [
    '"', '""', "'", "*", "**", "-", "- -", ":", "NEAR", "NEAR(", "NEAR(a b, 2)", "AND", "OR NOT", "a OR",
    '"unterminated', "upload*", "col:upload", "subject:lupa", "^lupa", "(lupa", "lupa)", "{lupa}", "lupa & | !",
    "lupa <-> password", "'lupa':*", "\\", "%", "_", "%_%", "\x00", "lupa\x00password", "💥", "é", "ß" * 3000,
    "a" * 5000, " ".join(["x"] * 500), "1e5", "-1", "0", "+62 812", "TTS-", "-000001", "TTS--1", "999999999999",
])
def test_hostile_queries_never_raise(desk: tuple[App, dict[str, int]], query: str) -> None:
    app, _ids = desk
    for helpdesks in (None, ["default"]):
        result = find(app, query, helpdesks)
        assert isinstance(result, list) and len(result) <= 50


def test_search_syntax_is_taken_as_plain_words(desk: tuple[App, dict[str, int]]) -> None:
    app, ids = desk
    assert find(app, '"lupa password"') == [ids["sari"]]
    assert find(app, "lupa -password") == [ids["sari"]]  # "-" does not negate
    assert find(app, "lupa OR jadwal") == []  # "OR" is a word (found nowhere), not an operator
    assert find(app, "subject:lupa") == []  # not a column filter: "subject" is not in the ticket
    assert find(app, "lupa*") == [ids["sari"]]
    assert find(app, "pass") == [ids["sari"]]  # prefix of the last word
    assert find(app, "pass lupa") == []  # only the last word is a prefix
    assert find(app, "  ") == [] and find(app, "*:-") == []


def test_limit_and_order(desk: tuple[App, dict[str, int]]) -> None:
    app, ids = desk
    assert len(find(app, "upload", limit=1)) == 1
    assert find(app, "upload", limit=0) == []
    assert find(app, "1")[0] in {ids["budi"], ids["kab-dewi"]}  # the numbers first
    assert len(set(find(app, "1"))) == len(find(app, "1"))  # a number that is also a word: once


def test_the_index_follows_updates_deletes_and_new_mail(desk: tuple[App, dict[str, int]]) -> None:
    app, ids = desk
    # A user's reply lands in the ticket: its words become searchable.
    with app.factory() as session:
        last_out = session.scalars(select(Message.message_id).where(Message.ticket_id == ids["sari"],
                                                                    Message.channel == "user",
                                                                    Message.direction == "out")).first()
    outcome = process_raw(app, mail(HELPDESK, "Re: Lupa password akun SPSE", "Nomor HP saya 081234567890, "
                                    "username vendor_sentosa.", sender="sari@pt-sentosa.test", name="Sari Wulandari",
                                    in_reply_to=f"<{last_out}>" if last_out else None), NOW + timedelta(minutes=5))
    assert outcome.ticket_id == ids["sari"], outcome
    assert find(app, "081234567890") == [ids["sari"]]
    # Fields change (the ORM, as a tool or staff action would): old words go, new ones come.
    with app.factory.begin() as session:
        ticket = session.get(Ticket, ids["budi"])
        assert ticket is not None
        ticket.subject = "Dokumen penawaran terenkripsi rusak"
        ticket.requester_name = "Budi S. Hartono"
    assert find(app, "terenkripsi") == [ids["budi"]] and find(app, "hartono") == [ids["budi"]]
    assert find(app, "gagal upload", ["default"]) == []  # the old subject's words (the mail never said "upload")
    assert find(app, "10234567000") == [ids["budi"]]  # the mail's text is still there
    # The person's data erased (ops.privacy): the address, the name and the texts leave the index.
    with app.factory.begin() as session:
        erase_person(session, "sari@pt-sentosa.test", NOW)
    assert find(app, "sari@pt-sentosa.test") == [] and find(app, "wulandari") == []
    assert find(app, "kata sandi") == [] and find(app, "081234567890") == [] and find(app, "lupa password") == []
    assert find(app, "2", ["default"]) == [ids["sari"]]  # the number stays
    # Bodies purged after the retention period (plain SQL updates of closed tickets' messages).
    staff_reply(app, ids["budi"], "#tutup\nSudah selesai.")
    with app.factory.begin() as session:
        purge(session, NOW + timedelta(days=800), 12, dry_run=False)
    assert find(app, "10234567000") == [] and find(app, "terenkripsi") == [ids["budi"]]
    # A deleted ticket is gone from the results.
    with app.factory.begin() as session:
        session.execute(delete(Ticket).where(Ticket.id == ids["kab-dewi"]))
    assert find(app, "verifikasi penyedia") == [] and find(app, "dewi@kab.test") == []


def test_the_migration_indexes_existing_tickets(desk: tuple[App, dict[str, int]]) -> None:
    """Down to 0007 (no index), a ticket written meanwhile, then up again: every ticket is found."""
    app, ids = desk
    engine = app.factory.kw["bind"]
    cfg = Config()
    cfg.set_main_option("script_location", str(store.MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
        assert not inspect(conn).has_table(search.TABLE)
    engine.dispose()
    with app.factory.begin() as session:
        # Only columns that exist at 0007: later migrations add others the ORM model names.
        session.execute(insert(Ticket).values(
            helpdesk="default", seq=100, state="analysis", priority="rendah", category="lainnya",
            subject="Sertifikat elektronik kedaluwarsa", requester="rina@vendor.test",
            requester_name="Rina", missing=[], opened_at=NOW, updated_at=NOW))
    store.upgrade(engine)
    assert store.at_head(engine)
    assert len(find(app, "kedaluwarsa")) == 1 and find(app, "kata sandi") == [ids["sari"]]
    assert find(app, "terkunci", escalated_only=True) == [ids["agus"]]
    # and the triggers are back: a new mail is indexed
    new = open_ticket(app, "Akun terblokir", "Akun saya terblokir sejak kemarin.", sender="joko@vendor.test",
                      name="Joko")
    assert find(app, "terblokir") == [new]


BATCH_MIGRATION = '''
"""A later migration that copies tickets and messages (SQLite's batch mode: copy, drop, rename)."""
import sqlalchemy as sa
from alembic import op

revision = "t_batch"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"  # PostgreSQL: ALTER TABLE
    for name in ("tickets", "messages"):
        with op.batch_alter_table(name, recreate=recreate) as batch:
            batch.add_column(sa.Column("x_test", sa.Integer(), nullable=True))


def downgrade() -> None:
    pass
'''


def test_a_later_migration_that_copies_tables_keeps_the_index_in_step(desk: tuple[App, dict[str, int]],
                                                                      tmp_path: Path) -> None:
    """SQLite refuses to rename a copied table that trigger bodies name: migrations/env.py takes the
    triggers off while migrating and puts them back after."""
    app, ids = desk
    later = tmp_path / "later"
    later.mkdir()
    (later / "t_batch.py").write_text(BATCH_MIGRATION.replace("{head}", store.SCHEMA_HEAD))
    engine = app.factory.kw["bind"]
    cfg = Config()
    cfg.set_main_option("script_location", str(store.MIGRATIONS))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("version_locations", f"{store.MIGRATIONS / 'versions'} {later}")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "t_batch")
    engine.dispose()
    with engine.connect() as conn:
        assert "x_test" in {c["name"] for c in inspect(conn).get_columns("tickets")}
    assert find(app, "kata sandi") == [ids["sari"]]
    new = open_ticket(app, "Akun terblokir", "Akun saya terblokir sejak kemarin.", sender="joko@vendor.test",
                      name="Joko")
    assert find(app, "terblokir") == [new]
    with app.factory.begin() as session:
        session.execute(delete(Message).where(Message.ticket_id == new, Message.direction == "in"))
    assert find(app, "terblokir") == [new]  # still in its subject
    assert find(app, "kemarin") == []
