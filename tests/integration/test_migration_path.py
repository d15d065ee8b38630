"""Upgrades keep the data: a database made at revision 0001 and filled like a real helpdesk's, then
migrated to the newest schema, still holds every row and the application reads it.

The rows go in with plain SQL (the models describe the newest schema, not 0001's). The test
runs on the backend of the suite (``db_url``: SQLite, or PostgreSQL with MAILBOT_TEST_DB).
"""

from __future__ import annotations

import contextlib
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from mailbot import cli
from mailbot.storage import store
from mailbot.storage.models import Outbox, Ticket
from tests.support.offline_config import offline_toml

T0 = datetime(2026, 3, 2, 1, 30)  # naive UTC, as the store keeps times (08:30 WIB)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    return cfg


def migrate(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()  # SQLite: the migration's connection has foreign keys off (migrations/env.py)


def fill_0001(engine: Engine) -> None:
    """Two tickets (one closed and rated, one waiting for data) with their mail, events and side tables."""
    t = T0
    with engine.begin() as conn:
        def ins(table: str, **row: object) -> None:
            cols = ", ".join(f'"{c}"' for c in row)
            conn.execute(text(f"INSERT INTO {table} ({cols}) VALUES ({', '.join(':' + c for c in row)})"), row)

        ins("tickets", id=1, number="TTS-000001", state="closed", priority="tinggi", category="akun_lupa_password",
            category_matched=True, subject="Lupa password akun SPSE", requester="budi@vendor.test",
            requester_name="Budi Santoso", phone="081234567890", assignee="staf1@lpse.test", closed_by="staf1@lpse.test",
            parent_id=None, missing="[]", rating=5, opened_at=t, updated_at=t + timedelta(hours=2),
            closed_at=t + timedelta(hours=2))
        ins("tickets", id=2, number="TTS-000002", state="waiting_user", priority="sedang", category="upload_dokumen",
            category_matched=True, subject="Gagal upload dokumen penawaran", requester="sari@vendor.test",
            requester_name="Sari Dewi", phone=None, assignee=None, closed_by=None, parent_id=1,
            missing=json.dumps(["kode_tender", "screenshot"]), rating=None, opened_at=t + timedelta(hours=1),
            updated_at=t + timedelta(hours=1, minutes=3), closed_at=None)
        ins("messages", id=1, ticket_id=1, message_id="<m1@vendor.test>", direction="in", role="user", channel="user",
            sender="budi@vendor.test", recipients=json.dumps(["helpdesk@lpse.test"]), subject="Lupa password akun SPSE",
            text="Selamat pagi, saya lupa password. Password saya: ********", new_text="saya lupa password",
            template=None, auto=False, at=t)
        ins("messages", id=2, ticket_id=1, message_id="<b1@lpse.test>", direction="out", role="bot", channel="user",
            sender="helpdesk@lpse.test", recipients=json.dumps(["budi@vendor.test"]),
            subject="[TTS-000001] Tiket diterima", text="Terima kasih", new_text="Terima kasih", template="ack",
            auto=False, at=t + timedelta(seconds=5))
        ins("messages", id=3, ticket_id=2, message_id="<m2@vendor.test>", direction="in", role="user", channel="user",
            sender="sari@vendor.test", recipients=json.dumps(["helpdesk@lpse.test"]),
            subject="Gagal upload dokumen penawaran", text="Upload gagal terus", new_text="Upload gagal terus",
            template=None, auto=False, at=t + timedelta(hours=1))
        ins("attachments", id=1, message_pk=3, filename="error.png", content_type="image/png", size=4,
            content=b"\x89PNG", inline=False)
        for i, (tid, kind, at, actor, detail, step) in enumerate([
                (1, "opened", t, "budi@vendor.test", "new ticket", 1),
                (1, "priority_set", t, "mailbot", "tinggi (akun_lupa_password)", 2),
                (1, "closed", t + timedelta(hours=2), "staf1@lpse.test", "#tutup", 9),
                (1, "rated", t + timedelta(hours=3), "budi@vendor.test", "5/5", None),
                (2, "opened", t + timedelta(hours=1), "sari@vendor.test", "new ticket", 1),
                (2, "data_requested", t + timedelta(hours=1), "mailbot", "kode_tender, screenshot", 4)], start=1):
            ins("events", id=i, ticket_id=tid, kind=kind, at=at, actor=actor, detail=detail, sop_step=step,
                data=json.dumps({"n": i}))
        ins("inbound", id=1, message_id="<m1@vendor.test>", outcome="opened", reason="new thread", ticket_id=1,
            sender="budi@vendor.test", at=t)
        ins("inbound", id=2, message_id="<m2@vendor.test>", outcome="opened", reason="new thread", ticket_id=2,
            sender="sari@vendor.test", at=t + timedelta(hours=1))
        ins("outbox", id=1, message_id="<b1@lpse.test>", ticket_id=1, mail_from="helpdesk@lpse.test",
            recipients=json.dumps(["budi@vendor.test"]), raw=b"Subject: [TTS-000001] Tiket diterima\r\n\r\nx\r\n",
            status="sent", automatic=True, to_key="budi@vendor.test", attempts=1, next_attempt_at=t, last_error="",
            created_at=t, sent_at=t + timedelta(seconds=6))
        ins("outbox", id=2, message_id="<b2@lpse.test>", ticket_id=2, mail_from="helpdesk@lpse.test",
            recipients=json.dumps(["sari@vendor.test"]), raw=b"Subject: x\r\n\r\nx\r\n", status="failed",
            automatic=True, to_key="sari@vendor.test", attempts=8, next_attempt_at=t, last_error="550 5.1.1",
            created_at=t, sent_at=None)
        ins("quarantine", id=1, message_id="<q1@spam.test>", sender="x@spam.test", subject="???",
            error="unparseable: no From", raw=b"garbage", at=t, resolved_at=None)
        ins("undeliverable", address="old@vendor.test", reason="5.1.1 user unknown", ticket_id=1, at=t)


def test_upgrade_from_the_first_schema_keeps_the_data(db_url: str, tmp_path: Path) -> None:
    engine = store.make_engine(db_url)
    migrate(engine, "0001")
    fill_0001(engine)
    migrate(engine, "head")
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
        counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() for table in (
            "tickets", "messages", "attachments", "events", "inbound", "outbox", "quarantine", "undeliverable")}
    assert counts == {"tickets": 2, "messages": 3, "attachments": 1, "events": 6, "inbound": 2, "outbox": 2,
                      "quarantine": 1, "undeliverable": 1}

    # The application's models read the old rows; the new columns are empty, not invented.
    factory = store.make_sessionmaker(engine)
    with factory() as session:
        t1, t2 = session.get(Ticket, 1), session.get(Ticket, 2)
        assert t1 is not None and t2 is not None
        assert (t1.number, t1.state, t1.rating, t1.phone) == ("TTS-000001", "closed", 5, "081234567890")
        assert t1.opened_at == T0.replace(tzinfo=timezone.utc)
        assert t2.missing == ["kode_tender", "screenshot"] and t2.parent_id == 1
        assert [e.kind for e in t1.events] == ["opened", "priority_set", "closed", "rated"]
        assert t2.messages[0].attachments[0].content == b"\x89PNG"
        assert t2.due_at is None and t2.sla_next_at is None  # 0002's columns, filled by the service later
        failed = session.get(Outbox, 2)
        assert failed is not None and failed.status == "failed" and failed.acknowledged_at is None  # 0003

    # And the program does: tickets show, status (offline), over the migrated database.
    config = tmp_path / "mailbot.toml"
    config.write_text(offline_toml(db_url, name="Helpdesk LPSE Kota Uji", staff=("staf1@lpse.test",),
                                 lkpp="lkpp@lkpp.test"))

    def run(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = cli.main(["--config", str(config), *args])
        return code, out.getvalue()

    code, out = run("tickets", "show", "TTS-000001")
    assert code == 0
    assert "Lupa password akun SPSE" in out and "Budi Santoso" in out and "rating 5/5" in out
    assert "closed" in out and "[ack]" in out
    code, out = run("tickets", "list", "--json")
    assert [t["number"] for t in json.loads(out)] == ["TTS-000001", "TTS-000002"]
    code, out = run("status", "--offline", "--json")
    report = json.loads(out)
    assert code == 1  # the failed mail from before the upgrade is not acknowledged yet
    assert report["outbox"] == {"pending": 0, "oldest_pending": None, "failed": 1, "failed_unacknowledged": 1}
    assert report["quarantine"] == 1
    assert run("outbox", "ack", "--all")[0] == 0
    assert run("status", "--offline")[0] == 0


def test_upgrade_from_0003_gives_the_old_rows_to_the_default_helpdesk(db_url: str, tmp_path: Path) -> None:
    """0004 (several helpdesks): old rows belong to ``default``, seq = id keeps every number, and new
    tickets continue the numbering, while a second helpdesk starts its own at 1."""
    engine = store.make_engine(db_url)
    migrate(engine, "0003")
    fill_0001(engine)
    with engine.begin() as conn:  # a row of 0003's own table
        conn.execute(text("INSERT INTO mailbox_status (id, key, kind, mailbox, server, last_error, auth_error, "
                          "auth_failures, run_host, updated_at) VALUES (1, 'imap helpdesk@lpse.test@127.0.0.1:1', "
                          "'imap', 'helpdesk@lpse.test', '127.0.0.1:1', '', '', 0, '', :t)"), {"t": T0})
    migrate(engine, "head")
    if engine.dialect.name == "postgresql":  # the rows went in with explicit ids: move the sequences on
        with engine.begin() as conn:
            for table in ("tickets", "messages", "attachments", "events", "inbound", "outbox", "quarantine"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
    with engine.connect() as conn:
        for table in ("tickets", "inbound", "outbox", "quarantine"):
            assert conn.execute(text(f"SELECT DISTINCT helpdesk FROM {table}")).scalars().all() == ["default"], table
        assert conn.execute(text("SELECT id, seq, number FROM tickets ORDER BY id")).all() == [
            (1, 1, "TTS-000001"), (2, 2, "TTS-000002")]
        assert conn.execute(text("SELECT count(*) FROM messages")).scalar() == 3
        assert conn.execute(text("SELECT count(*) FROM attachments")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM mailbox_status")).scalar() == 1

    from mailbot.service import app, inbound
    from mailbot.settings.config import Settings

    def settings(key: str, address: str) -> Settings:
        s = Settings.model_validate({
            "helpdesk_key": key,
            "helpdesk": {"name": "Helpdesk Uji", "address": address},
            "imap": {"host": "127.0.0.1", "port": 1, "username": address, "password": "x"},
            "smtp": {"host": "127.0.0.1", "port": 1, "username": address, "password": "x"},
            "staff": {"addresses": ["staf1@lpse.test"]},
            "escalation": {"lkpp_address": "lkpp@lkpp.test"},
            "database": {"url": db_url},
        })
        return s

    old = app.build_app(settings("default", "helpdesk@lpse.test"), engine=engine)
    new = app.build_app(settings("kab", "lpse@kab.test"), engine=engine)
    raw = (b"From: Budi <budi@vendor.test>\r\nTo: helpdesk@lpse.test, lpse@kab.test\r\nSubject: Lupa password\r\n"
           b"Date: Mon, 02 Mar 2026 09:00:00 +0700\r\nMessage-ID: <m1@vendor.test>\r\n\r\nSaya lupa password.\r\n")
    now = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
    # Numbering goes on where it was for the old helpdesk; the new one starts at 1, with the same mail.
    assert inbound.process_raw(old, raw, now).ticket_number == "TTS-000003"
    assert inbound.process_raw(new, raw, now).ticket_number == "TTS-000001"
    assert inbound.process_raw(old, raw, now).kind == "duplicate"
    assert inbound.process_raw(new, raw.replace(b"<m1@", b"<m9@"), now).ticket_number == "TTS-000002"
