"""Several helpdesks in one deployment, one database: numbers, claims and threads per helpdesk.

Drives ``process_raw`` directly with the Apps of a two-helpdesk config (no mail server;
the e2e side is tests/e2e/test_multi_helpdesk.py). Runs on the suite's backend (``db_url``).
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import inspect, select, text

from mailbot.mail.render import sample_context
from mailbot.service import deadlines, effects, sla_jobs
from mailbot.service.app import App, build_apps
from mailbot.service.inbound import process_raw
from mailbot.settings.loading import load_settings
from mailbot.storage import models, store
from mailbot.storage.models import Inbound, Outbox, Ticket

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
KOTA, KAB = "helpdesk@lpse.test", "lpse@kab.test"


def two_helpdesks(tmp_path: Path, db_url: str, extra: str = "") -> tuple[App, App]:
    config = tmp_path / "mailbot.toml"
    config.write_text(textwrap.dedent(f"""
        [helpdesk]
        name = "Helpdesk LPSE Kota"
        address = "{KOTA}"
        secret = "shared-secret-0123456789abcdef"
        [imap]
        host = "127.0.0.1"
        port = 993
        username = "{KOTA}"
        password = "x"
        [smtp]
        host = "127.0.0.1"
        port = 587
        username = "{KOTA}"
        password = "x"
        [staff]
        addresses = ["staf@lpse.test"]
        [escalation]
        lkpp_address = "helpdesk@lkpp.test"
        [database]
        url = "{db_url}"
        [[helpdesks]]
        key = "kota"
        [[helpdesks]]
        key = "kab"
        helpdesk = {{ name = "Helpdesk LPSE Kabupaten", address = "{KAB}" }}
        imap = {{ username = "{KAB}" }}
        smtp = {{ username = "{KAB}" }}
        staff = {{ addresses = ["op@kab.test"] }}
    """) + textwrap.dedent(extra))
    kota, kab = build_apps(load_settings(config))
    assert (kota.settings.helpdesk_key, kab.settings.helpdesk_key) == ("kota", "kab")
    assert kota.factory.kw["bind"] is kab.factory.kw["bind"]  # one engine for the deployment
    return kota, kab


def mail(mid: str, to: str | list[str], subject: str, body: str, *, sender: str = "budi@vendor.test",
         in_reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Budi <{sender}>"
    msg["To"] = ", ".join([to] if isinstance(to, str) else to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(NOW)
    msg["Message-ID"] = mid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def test_each_helpdesk_numbers_its_own_tickets(tmp_path: Path, db_url: str) -> None:
    kota, kab = two_helpdesks(tmp_path, db_url)
    opened = [process_raw(app, mail(f"<n{i}@vendor.test>", app.settings.helpdesk.address, f"Gagal login {i}",
                                            "Akun saya terkunci."), NOW)
              for i, app in enumerate([kota, kab, kota, kota, kab])]
    assert [o.kind for o in opened] == ["opened"] * 5
    assert [o.ticket_number for o in opened] == ["TTS-000001", "TTS-000001", "TTS-000002", "TTS-000003",
                                                 "TTS-000002"]
    with kota.factory() as session:
        rows = session.execute(select(Ticket.helpdesk, Ticket.seq, Ticket.number).order_by(Ticket.id)).all()
        assert [tuple(r) for r in rows] == [("kota", 1, "TTS-000001"), ("kab", 1, "TTS-000001"),
                                            ("kota", 2, "TTS-000002"), ("kota", 3, "TTS-000003"),
                                            ("kab", 2, "TTS-000002")]
        # Number lookups are per helpdesk.
        found = store.ticket_by_number(session, "tts-000002", "kab")
        assert found is not None and found.helpdesk == "kab" and found.seq == 2
        assert store.ticket_by_number(session, "TTS-000003", "kab") is None
        # Each helpdesk's mail is queued for its own SMTP account, from its own address (a signed
        # envelope sender of its own per mail: helpdesk+b.<token>.<mac>@ that helpdesk's domain).
        for key, address in (("kota", KOTA), ("kab", KAB)):
            senders = list(session.scalars(select(Outbox.mail_from).where(Outbox.helpdesk == key)))
            local, _, domain = address.partition("@")
            assert senders and all(s.startswith(f"{local}+b.") and s.endswith(f"@{domain}") for s in senders)
            assert len(set(senders)) == len(senders)


def test_the_automatic_mail_cap_counts_each_helpdesks_own_mail(tmp_path: Path, db_url: str) -> None:
    """A user who writes to two helpdesks gets each one's automatic replies; the cap stops further
    mail from the helpdesk that reached it within the hour (and says so), not the other one's."""
    kota, kab = two_helpdesks(tmp_path, db_url, extra="[loops]\nmax_auto_mails_per_hour = 2\n")
    assert kota.settings.loops.max_auto_mails_per_hour == kab.settings.loops.max_auto_mails_per_hour == 2

    def open_ticket(app: App, i: int) -> None:
        raw = mail(f"<cap{i}@vendor.test>", app.settings.helpdesk.address, f"Gagal login {i}", "Akun saya terkunci.")
        assert process_raw(app, raw, NOW).kind == "opened"

    def automatic_to_user() -> dict[str, int]:
        with kota.factory() as session:
            rows = session.execute(select(Outbox.helpdesk).where(Outbox.to_key == "budi@vendor.test",
                                                                 Outbox.automatic.is_(True))).all()
        return {key: sum(1 for (h,) in rows if h == key) for key in ("kota", "kab")}

    open_ticket(kota, 0)
    first = automatic_to_user()["kota"]  # one acknowledgment (it carries a data request, if any)
    assert first == 1
    open_ticket(kota, 1)  # kota's second: the cap of 2 reached
    open_ticket(kota, 2)  # over kota's cap: nothing more from kota
    open_ticket(kab, 3)  # kab's first ticket: all of its mail
    assert automatic_to_user() == {"kota": 2, "kab": first}
    with kota.factory() as session:
        suppressed = session.execute(select(Ticket.helpdesk, models.TicketEvent.detail).join(models.TicketEvent)
                                     .where(models.TicketEvent.kind == "mail_suppressed")).all()
    assert suppressed and {h for h, _ in suppressed} == {"kota"}
    assert all("cap of 2 automatic mails per hour" in detail for _, detail in suppressed)


def test_one_mail_to_both_helpdesks_opens_a_ticket_in_each_and_replies_stay_home(tmp_path: Path,
                                                                                 db_url: str) -> None:
    kota, kab = two_helpdesks(tmp_path, db_url)
    raw = mail("<both@vendor.test>", [KOTA, KAB], "Tidak bisa upload dokumen", "Upload penawaran gagal terus.")
    assert process_raw(kota, raw, NOW).ticket_number == "TTS-000001"
    assert process_raw(kab, raw, NOW).ticket_number == "TTS-000001"
    # Seen again by either one: a duplicate there, not a new ticket.
    assert process_raw(kab, raw, NOW).kind == "duplicate"
    with kota.factory() as session:
        assert sorted(session.scalars(select(Inbound.helpdesk).where(Inbound.message_id.contains("both@vendor.test")))) \
            == ["kab", "kota"]
        kab_ticket = session.scalar(select(Ticket).where(Ticket.helpdesk == "kab"))
        assert kab_ticket is not None
        kab_id = kab_ticket.id
    # The user's follow-up references the original Message-ID (known to both): each mailbox's copy
    # updates that helpdesk's own ticket.
    reply = mail("<both2@vendor.test>", [KOTA, KAB], "Re: Tidak bisa upload dokumen", "Masih gagal.",
                 in_reply_to="<both@vendor.test>")
    assert process_raw(kab, reply, NOW).kind == "updated"
    with kab.factory() as session:
        assert store.ticket_for_message_ids(session, ("both2@vendor.test",), "kab") == kab_id
        assert store.ticket_for_message_ids(session, ("both2@vendor.test",), "kota") is None
    # A subject tag names a number in the receiving helpdesk only.
    tagged = mail("<tag@vendor.test>", KAB, "[TTS-000001] tambahan", "Ini tambahan data.")
    outcome = process_raw(kab, tagged, NOW)
    assert (outcome.kind, outcome.ticket_number) == ("updated", "TTS-000001")
    with kab.factory() as session:
        assert store.ticket_for_message_ids(session, ("tag@vendor.test",), "kab") == kab_id


def test_staff_of_one_helpdesk_cannot_command_another(tmp_path: Path, db_url: str) -> None:
    kota, kab = two_helpdesks(tmp_path, db_url)
    process_raw(kab, mail("<k1@vendor.test>", KAB, "Lupa password", "Saya lupa password akun."), NOW)
    with kab.factory() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.helpdesk == "kab"))
        assert ticket is not None
        notes = [o for o in session.scalars(select(Outbox).where(Outbox.ticket_id == ticket.id))
                 if "op@kab.test" in o.recipients]
        assert notes
        staff_note_id = notes[0].message_id
    # Kota's staff member answers kab's staff notification with #tutup, to kab's signed reply address
    # (both helpdesks share the secret here, which is the worst case).
    from mailbot.core import threads

    reply_to = threads.reply_address(KAB, ticket.id, "shared-secret-0123456789abcdef")
    raw = mail("<evil@lpse.test>", reply_to, "Re: tiket", "#tutup\nSudah selesai.", sender="staf@lpse.test",
               in_reply_to=staff_note_id)
    assert not kab.settings.is_staff("staf@lpse.test") and kota.settings.is_staff("staf@lpse.test")
    process_raw(kab, raw, NOW)
    with kab.factory() as session:
        t = session.get(Ticket, ticket.id)
        assert t is not None and t.state != "closed"
        assert not any(e.kind == "closed" for e in t.events)
    # And kota's own app never touches kab's ticket, even with a reply address signed with the shared secret.
    forged = mail("<evil2@lpse.test>", threads.reply_address(KOTA, ticket.id, "shared-secret-0123456789abcdef"), "Re: tiket",
                  "#tutup\nSudah selesai.", sender="staf@lpse.test")
    outcome = process_raw(kota, forged, NOW)
    with kota.factory() as session:
        t = session.get(Ticket, ticket.id)
        assert t is not None and t.state != "closed" and t.helpdesk == "kab"
        assert outcome.ticket_number is None or store.ticket_by_number(session, outcome.ticket_number, "kota")


def test_one_helpdesks_new_ticket_address_opens_nothing_in_another(tmp_path: Path, db_url: str) -> None:
    # Kota's staff member knows kota's signed "new ticket" address (it is in every notification).
    # With the secret shared, its MAC must not also sign kab's: forwarding with #buat to kab's plus
    # address, in the name of kab's staff, opens nothing there.
    from mailbot.core import threads

    kota, kab = two_helpdesks(tmp_path, db_url)
    kota_create = threads.create_address(KOTA, kota.secret)
    mac = kota_create.partition("+c0.")[2].partition("@")[0]
    replayed = f"lpse+c0.{mac}@kab.test"
    forward = ("#buat\n\n---------- Forwarded message ---------\nFrom: Korban <korban@vendor.test>\n"
               "Subject: Tolong\nTo: <op@kab.test>\n\nAkun saya terkunci, user id cvmaju\n")
    outcome = process_raw(kab, mail("<c1@kab.test>", replayed, "Fwd: Tolong", forward, sender="op@kab.test"), NOW)
    with kab.factory() as session:
        assert session.scalars(select(Ticket)).all() == []
    assert outcome.kind == "ignored"
    # kab's own address still works, and kota's still opens kota's tickets.
    own = process_raw(kab, mail("<c2@kab.test>", threads.create_address(KAB, kab.secret), "Fwd: Tolong", forward,
                                sender="op@kab.test"), NOW)
    assert own.kind == "opened"
    assert process_raw(kota, mail("<c3@lpse.test>", kota_create, "Fwd: Tolong", forward, sender="staf@lpse.test"),
                       NOW).kind == "opened"


def test_sla_tick_and_digest_are_per_helpdesk(tmp_path: Path, db_url: str) -> None:

    kota, kab = two_helpdesks(tmp_path, db_url)
    for i, app in enumerate([kota, kab, kab]):
        process_raw(app, mail(f"<s{i}@vendor.test>", app.settings.helpdesk.address, f"Lupa password {i}",
                                      "Saya lupa password akun SPSE."), NOW)
    assert sla_jobs.tick(kota, NOW, everything=True).checked == 1
    assert sla_jobs.tick(kab, NOW, everything=True).checked == 2
    # Each helpdesk's digest goes to its own staff, from its own address, and counts its own tickets.
    assert sla_jobs.digest(kota, NOW, force=True) and sla_jobs.digest(kab, NOW, force=True)
    assert not sla_jobs.digest(kab, NOW, force=True)  # once per helpdesk and day
    with kota.factory() as session:
        digests = {o.helpdesk: o for o in session.scalars(select(Outbox).where(Outbox.ticket_id.is_(None)))}
        assert digests["kota"].recipients == ["staf@lpse.test"] and digests["kota"].mail_from == KOTA
        assert digests["kab"].recipients == ["op@kab.test"] and digests["kab"].mail_from == KAB
        setup = deadlines.Setup.of(kab)
        assert sla_jobs.digest_context(kab, session, setup, NOW)["open_total"] == 2
        assert sla_jobs.digest_context(kota, session, deadlines.Setup.of(kota), NOW)["open_total"] == 1


def test_cli_filters_by_helpdesk(tmp_path: Path, db_url: str) -> None:
    import contextlib
    import io
    import json

    from mailbot import cli
    from mailbot.storage.models import Quarantine

    kota, kab = two_helpdesks(tmp_path, db_url)
    process_raw(kota, mail("<c1@vendor.test>", KOTA, "Lupa password", "Saya lupa password."), NOW)
    process_raw(kab, mail("<c2@vendor.test>", KAB, "Lupa password", "Saya lupa password."), NOW)
    assert process_raw(kab, b"\x00\x01 not a mail at all", NOW).kind == "quarantined"

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["--config", str(tmp_path / "mailbot.toml"), *args])
        return code, out.getvalue(), err.getvalue()

    code, out, _ = run("quarantine", "list", "--helpdesk", "kota")
    assert code == 0 and "0 mail(s) in quarantine" in out
    code, out, _ = run("quarantine", "list")
    assert code == 0 and " kab " in out and "1 mail(s) in quarantine" in out
    code, out, _ = run("outbox", "list", "--helpdesk", "kab")
    assert code == 0 and "op@kab.test" in out and "staf@lpse.test" not in out
    code, out, _ = run("tickets", "list")
    assert code == 0 and out.count("TTS-000001") == 2 and "kota " in out and "kab " in out
    code, _, err = run("tickets", "list", "--helpdesk", "nope")
    assert code == 2 and "no helpdesk 'nope' (helpdesks: kota, kab)" in err
    code, out, _ = run("report", "sla", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "json")
    assert code == 0 and set(json.loads(out)) == {"kota", "kab"}
    code, _, err = run("report", "sla", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv")
    assert code == 2 and "add --helpdesk KEY" in err
    code, out, _ = run("report", "sla", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv",
                       "--helpdesk", "kab")
    assert code == 0 and out
    # A retried quarantine entry is processed again as the helpdesk it came to.
    with kab.factory() as session:
        q = session.scalar(select(Quarantine))
        assert q is not None and q.helpdesk == "kab"
    code, out, _ = run("quarantine", "retry", str(q.id))
    assert code == 1 and "quarantined" in out
    with kab.factory() as session:
        assert [r.helpdesk for r in session.scalars(select(Quarantine))] == ["kab"]


def test_log_lines_name_the_helpdesk_of_their_thread() -> None:
    import json
    import logging

    from mailbot.settings.logs import JsonFormatter, TextFormatter

    def record(thread: str) -> logging.LogRecord:
        r = logging.makeLogRecord({"name": "mailbot.ops.poller", "levelname": "INFO", "levelno": logging.INFO,
                                   "msg": "mail uid=%s -> opened", "args": (1,)})
        r.threadName = thread
        return r

    assert "INFO mailbot.ops.poller [kab]: mail uid=1 -> opened" in TextFormatter().format(record("mailbot[kab]"))
    assert "mailbot.ops.poller [kab]:" in TextFormatter().format(record("mailbot-outbox[kab]"))
    # One helpdesk alone (key default), or a thread of no helpdesk: the line is as it always was.
    assert "INFO mailbot.ops.poller: mail uid=1" in TextFormatter().format(record("mailbot-outbox[default]"))
    assert "INFO mailbot.ops.poller: mail uid=1" in TextFormatter().format(record("MainThread"))
    assert json.loads(JsonFormatter().format(record("mailbot[kab]")))["helpdesk"] == "kab"
    assert "helpdesk" not in json.loads(JsonFormatter().format(record("MainThread")))


def test_metrics_tell_the_helpdesks_apart(tmp_path: Path, db_url: str) -> None:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.registry import CollectorRegistry

    from mailbot.ops.metrics import DatabaseCollector

    kota, kab = two_helpdesks(tmp_path, db_url)
    for i, app in enumerate([kota, kota, kab]):
        assert process_raw(app, mail(f"<m{i}@vendor.test>", app.settings.helpdesk.address,
                                             f"Cara daftar akun {i}", "Bagaimana cara mendaftar?"), NOW).kind == "opened"
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(kab))  # any helpdesk's App: the collector reads the whole deployment
    samples = [s for family in text_string_to_metric_families(generate_latest(registry).decode())
               for s in family.samples]
    tickets: dict[str, float] = {}
    for s in samples:
        if s.name == "mailbot_tickets":
            tickets[s.labels["helpdesk"]] = tickets.get(s.labels["helpdesk"], 0) + s.value
    assert tickets == {"kota": 2, "kab": 1}
    pending = {s.labels["helpdesk"]: s.value for s in samples
               if s.name == "mailbot_outbox_mails" and s.labels["status"] == "pending"}
    with kota.factory() as session:
        queued = {key: len(session.scalars(select(Outbox.id).where(Outbox.helpdesk == key)).all())
                  for key in ("kota", "kab")}
    assert pending == queued and pending["kota"] > pending["kab"] > 0
    quarantined = {s.labels["helpdesk"]: s.value for s in samples if s.name == "mailbot_quarantine_mails"}
    assert quarantined == {"kota": 0, "kab": 0}  # zeros for every configured helpdesk, not absent series


def test_the_cap_query_reads_the_recipients_index(tmp_path: Path, db_url: str) -> None:
    """The cap is counted for every automatic mail: its query must find the recipient's rows through
    the (to_key, helpdesk, created_at) index, not scan a helpdesk's whole outbox. SQLite plans without
    statistics, so its plan is checked; PostgreSQL chooses by statistics, so there the index must exist."""
    kota, _ = two_helpdesks(tmp_path, db_url)
    query = effects.recent_automatic_mail("Budi@Vendor.test", "kota", NOW)
    with kota.factory() as session:
        bind = session.get_bind()
        indexes = {ix["name"]: ix["column_names"] for ix in inspect(bind).get_indexes("outbox")}
        assert indexes["ix_outbox_to_key_helpdesk"] == ["to_key", "helpdesk", "created_at"]
        if bind.dialect.name == "sqlite":
            sql = str(query.compile(bind, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(row) for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "USING INDEX ix_outbox_to_key_helpdesk (to_key=? AND helpdesk=? AND created_at>?)" in plan, plan


def test_helpdesks_with_the_same_files_share_one_table_renderer_and_answers(tmp_path: Path, db_url: str) -> None:
    """Hundreds of helpdesks in one process: the parsed priority table, the compiled templates and the
    answer library are a few MB each and are the same for helpdesks configured with the same files."""
    kota, kab = two_helpdesks(tmp_path, db_url)
    assert kota.table is kab.table and kota.renderer is kab.renderer and kota.answers is kab.answers
    own = tmp_path / "kab-templates"
    own.mkdir()
    (own / "ack.j2").write_text((Path(kab.renderer.env.loader.searchpath[0]) / "ack.j2").read_text()  # type: ignore[union-attr]
                                .replace("{% block subject %}", "{% block subject %}[KAB] ", 1))
    kota, kab = two_helpdesks(tmp_path, db_url, f'[helpdesks.paths]\ntemplates = "{own}"\n')
    assert kota.renderer is not kab.renderer and kota.table is kab.table
    rendered = kab.renderer.render("ack", sample_context())
    assert rendered.subject.startswith("[KAB] ")
    assert not kota.renderer.render("ack", sample_context()).subject.startswith("[KAB]")
