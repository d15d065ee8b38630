"""A province-sized helpdesk database for the console benchmark (issue 22): 100,000 tickets.

How the data is made (deterministic from ``--seed``):

* **7 helpdesks** of one province (a provincial LPSE and six city/regency ones) sharing one
  database, with 30 / 18 / 15 / 12 / 10 / 8 / 7 % of the tickets and 3-8 staff each.
* **Three years of intake** ending at ``NOW`` (1 Dec 2026), growing over time (more tickets in
  recent months), opened in Jakarta office hours on weekdays mostly.
* **Text**: every ticket starts from one of the 132 hand-written Indonesian mails of
  ``tests/data/labeled`` (subject, body, and their hand-made category and priority labels), with
  the tender codes in them replaced by fresh 11-digit SPSE codes (and one added to 40 % of the mails
  that had none), a greeting and a signature with the requester's name, company and phone.
* **Requesters**: 25,000 vendors and officials (Indonesian first and last names, CV/PT company
  domains or webmail), so many people have several tickets.
* **State**: tickets older than 60 days are closed (1 % stragglers), 12 % of those 14-60 days old
  and 55 % of the last two weeks are open: about 5 % open in all, as a helpdesk that keeps up. Open:
  35 % waiting for the user's data (clock paused, reminder and auto-close dates set), 50 % in
  analysis, 15 % at LKPP. 4 % of all tickets were escalated (an ``escalated`` event; most since closed).
* **Assignees**: 85 % of closed and 70 % of open tickets have one of their helpdesk's staff.
* **Deadlines** (open tickets): the resolution deadline from the priority (8/24/72 working
  hours, as calendar time 1.4x), 18 % of them already past; call and analysis deadlines for some;
  ``sla_next_at`` the next of them.
* **Messages**: the user's first mail; the bot's acknowledgment and staff notification; a data
  request for a third of the tickets, and a user reply (with the quoted history) for half of those;
  a staff answer (inbound from staff, outbound to the user) for most closed tickets; the dossier to
  LKPP and LKPP's answer for escalated ones. About 4.6 messages per ticket; 15 % of user mails
  carry an attachment (a 1-4 KB fake PDF or PNG). **Events** as the workflow records them
  (received, priority_set, assigned, data_requested, analysis_started, staff_answered, escalated,
  lkpp_replied, closed).

It is written fast: the schema comes from ``store.upgrade`` (at head, with the search index and
its triggers), the triggers are dropped, the rows go in with ``executemany`` (SQLite) or ``COPY``
(PostgreSQL) in batches, then ``search.install`` rebuilds the index in one statement and puts the
triggers back (exactly what migration 0008 does to an existing database). PostgreSQL gets
``ANALYZE`` as its autovacuum would; SQLite gets no statistics (mailbot never runs ANALYZE).

    .venv/bin/python bench/console_data.py                      # SQLite: /tmp/mailbot-console/console.db
    .venv/bin/python bench/console_data.py --backend postgresql # database mailbot_console on scripts/pgstack.sh
    .venv/bin/python bench/console_data.py --tickets 10000 --url sqlite:////tmp/x.db
    .venv/bin/python bench/console_data.py --backend postgresql --database my_console   # beside someone else's
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text

from mailbot.core.parse import parse_mail
from mailbot.core.threads import format_number
from mailbot.storage import search, store

LABELED = ROOT / "tests" / "data" / "labeled"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
SQLITE_DEFAULT = Path("/tmp/mailbot-console/console.db")
PG_DATABASE = "mailbot_console"

#: (key, ticket prefix, share of tickets, staff count, mail domain)
HELPDESKS = (
    ("prov-jabar", "JBR", 0.30, 8, "lpse.jabarprov.go.id"),
    ("kota-bandung", "BDG", 0.18, 6, "lpse.bandung.go.id"),
    ("kab-bogor", "BGR", 0.15, 5, "lpse.bogorkab.go.id"),
    ("kab-bekasi", "BKS", 0.12, 5, "lpse.bekasikab.go.id"),
    ("kota-depok", "DPK", 0.10, 4, "lpse.depok.go.id"),
    ("kab-garut", "GRT", 0.08, 3, "lpse.garutkab.go.id"),
    ("kab-cirebon", "CRB", 0.07, 3, "lpse.cirebonkab.go.id"),
)
LKPP = "helpdesk@lkpp.go.id"
RESOLUTION_HOURS = {"tinggi": 8, "sedang": 24, "rendah": 72}

FIRST = ("Budi Agus Dewi Sari Rina Joko Andi Siti Nur Eko Wahyu Ahmad Dian Fitri Hendra Indah Yudi Rudi Lestari "
         "Putri Bayu Galih Asep Ujang Neneng Euis Dadang Cecep Iwan Ratna Teguh Bambang Sri Wulan Fajar Rizky "
         "Aditya Maya Yanti Dedi Nining Ade Hasan Irfan Ayu Tri Agung Dwi Ilham Anisa").split()
LAST = ("Santoso Pratama Wulandari Hidayat Saputra Kusuma Setiawan Nugroho Siregar Lubis Permana Gunawan "
        "Suryadi Rahmawati Hakim Firmansyah Wibowo Hermawan Sulistyo Maulana Kurniawan Susanto Ramadhan "
        "Suherman Sunarya Supriatna Mulyadi Rohman Hamdani Anggraini").split()
COMPANY = ("Maju Jaya|Sinar Abadi|Karya Mandiri|Bangun Persada|Cipta Sarana|Mitra Sejahtera|Duta Konstruksi|"
           "Tirta Buana|Graha Teknik|Prima Utama|Sentosa Abadi|Anugerah Teknik|Putra Pasundan|Bumi Parahyangan|"
           "Wijaya Kusuma|Citra Lestari|Mega Karya|Surya Gemilang|Bina Marga Lestari|Harapan Baru").split("|")
WEBMAIL = ("gmail.com", "yahoo.co.id", "yahoo.com", "outlook.com")

ACK = ("Yth. {name},\n\nTerima kasih, laporan Anda sudah kami terima dengan nomor tiket {number} "
       "(prioritas {priority}). Kami akan menindaklanjuti sesuai standar layanan helpdesk LPSE. Mohon tidak "
       "mengubah subjek e-mail ini agar balasan Anda masuk ke tiket yang sama.\n\nSalam,\nHelpdesk {desk}")
STAFF_NEW = ("Tiket baru {number} dari {name} <{requester}>\nPrioritas: {priority} (kategori {category})\n"
             "Subjek: {subject}\n\nBalas e-mail ini dengan #ambil, #mintadata, #tutup atau #eskalasi.")
NEED_INFO = ("Yth. {name},\n\nAgar dapat kami proses, mohon lengkapi data berikut: kode tender, user ID, "
             "dan screenshot pesan error yang muncul. Balas e-mail ini dengan data tersebut.\n\nSalam,\n"
             "Helpdesk {desk}")
USER_REPLY = ("Berikut kami lampirkan datanya. Kode tender {code}, user ID {user_id}. Nomor HP yang bisa "
              "dihubungi {phone}. Mohon segera dibantu karena batas waktu sudah dekat.",
              "Sudah saya coba lagi tetapi masih gagal, pesan errornya sama. Kode tender {code}.",
              "Mohon maaf baru membalas. User ID saya {user_id}, kode paket {code}. Terima kasih.")
STAFF_ANSWERS = ("Terima kasih atas laporannya. Mohon bersihkan cache browser (Ctrl+Shift+Del) lalu coba "
                 "unggah kembali. Bila masih gagal, kirim screenshot pesan error yang muncul.",
                 "Akun Bapak/Ibu sudah kami aktifkan kembali, silakan login ulang ke SPSE dan ganti password.",
                 "Jadwal tahapan sudah disesuaikan oleh pokja; silakan cek kembali di halaman paket.",
                 "Sudah kami periksa di log server, kendala sudah teratasi. Silakan dicoba kembali.",
                 "Untuk verifikasi, mohon datang ke kantor LPSE dengan membawa dokumen asli.")
ESCALATION = ("#eskalasi\nMohon bantuan LKPP: kendala ada di server SPSE pusat untuk tender {code}.",
              "#eskalasi\nAplikasi Apendo/SPAMKodok gagal dekripsi untuk paket {code}, mohon dicek LKPP.")
LKPP_ANSWER = ("Terima kasih, kendala sudah kami teruskan ke tim pengembang SPSE dan sudah diperbaiki pada "
               "versi terbaru. Silakan dicoba kembali.",)

_CODE = re.compile(r"(?<!\d)\d{8,12}(?!\d)")


@dataclass(frozen=True)
class Source:
    subject: str
    body: str
    category: str
    priority: str


def load_sources() -> list[Source]:
    labels = tomllib.loads((LABELED / "labels.toml").read_text())
    out = []
    for path in sorted(LABELED.glob("*.eml")):
        label = labels.get(path.name)
        if label is None:
            continue
        mail = parse_mail(path.read_bytes())
        body = (mail.new_text or mail.text).strip()
        if body:
            out.append(Source(mail.subject.strip() or "(tanpa subjek)", body[:4000], label["category"],
                              label["priority"]))
    return out


@dataclass
class Person:
    address: str
    name: str
    phone: str
    company: str


def people(rng: random.Random, n: int) -> list[Person]:
    out = []
    for k in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = rng.choice(COMPANY)
        if rng.random() < 0.6:
            domain = ("cv-" if rng.random() < 0.6 else "pt-") + company.lower().replace(" ", "") + ".co.id"
        else:
            domain = rng.choice(WEBMAIL)
        local = f"{first}.{last}".lower() + (str(k % 97) if rng.random() < 0.5 else "")
        phone = f"08{rng.randint(11, 59)}{rng.randint(10000000, 99999999)}"
        out.append(Person(f"{local}@{domain}", f"{first} {last}", phone, company))
    return out


def tender_code(rng: random.Random) -> str:
    return f"{rng.randint(10, 99)}{rng.randint(100000, 999999)}{rng.choice(['000', '114', '187', '223'])}"


def office_time(rng: random.Random, day: datetime) -> datetime:
    """A moment of that day, in Jakarta's office hours mostly (UTC+7)."""
    hour = rng.choice([7, 8, 8, 9, 9, 9, 10, 10, 11, 13, 13, 14, 14, 15, 16, 19, 21])
    local = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=hour, minutes=rng.randint(0, 59))
    return local - timedelta(hours=7)


class Tables:
    """Rows per table, flushed to the database in batches."""

    COLUMNS = {
        "tickets": ("id", "helpdesk", "seq", "number", "state", "priority", "category", "category_matched",
                    "subject", "requester", "requester_name", "phone", "assignee", "closed_by", "parent_id",
                    "missing", "rating", "opened_at", "updated_at", "closed_at", "due_at", "paused_since",
                    "priority_due_at", "call_due_at", "analysis_due_at", "lkpp_due_at", "next_due_at", "remind_at",
                    "autoclose_at", "sla_next_at", "sla_checked_at"),
        "messages": ("id", "ticket_id", "message_id", "direction", "role", "channel", "sender", "recipients",
                     "subject", "text", "new_text", "template", "auto", "at"),
        "attachments": ("id", "message_pk", "filename", "content_type", "size", "content", "inline"),
        "events": ("id", "ticket_id", "kind", "at", "actor", "detail", "sop_step", "data"),
    }
    JSON = {"missing", "recipients", "data"}

    def __init__(self, engine: Engine, batch: int = 20000) -> None:
        self.engine = engine
        self.batch = batch
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in self.COLUMNS}
        self.ids = dict.fromkeys(self.COLUMNS, 0)
        self.counts = dict.fromkeys(self.COLUMNS, 0)
        self.raw = engine.raw_connection()
        self.pg = engine.dialect.name == "postgresql"

    def add(self, table: str, **row: Any) -> int:
        self.ids[table] += 1
        row["id"] = self.ids[table]
        values = []
        for col in self.COLUMNS[table]:
            value = row.get(col)
            if col in self.JSON:
                value = json.dumps(value if value is not None else ([] if col != "data" else {}))
            elif isinstance(value, datetime):
                value = value.astimezone(timezone.utc).replace(tzinfo=None)  # stored naive UTC (UTCDateTime)
                if not self.pg:  # as SQLAlchemy's SQLite dialect writes it (compared as text)
                    value = value.strftime("%Y-%m-%d %H:%M:%S.%f")
            values.append(value)
        self.rows[table].append(tuple(values))
        if len(self.rows[table]) >= self.batch:
            self.flush(table)
        return row["id"]

    def flush(self, table: str | None = None) -> None:
        # Parents first: a message refers to its ticket, an attachment to its message.
        for name in [table] if table else list(self.COLUMNS):
            rows, self.rows[name] = self.rows[name], []
            if not rows:
                continue
            cols = self.COLUMNS[name]
            if name != "tickets":
                self.flush("tickets") if name in {"messages", "events"} else self.flush("messages")
            cur = self.raw.cursor()
            if self.pg:
                with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for r in rows:
                        copy.write_row(r)
            else:
                cur.executemany(f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
            cur.close()
            self.counts[name] += len(rows)

    def commit(self) -> None:
        self.flush()
        self.raw.commit()


def fresh_engine(backend: str, url: str | None, database: str = PG_DATABASE) -> Engine:
    if url is None and backend == "sqlite":
        SQLITE_DEFAULT.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{SQLITE_DEFAULT}"
    if url is None:
        sys.path.insert(0, str(ROOT))
        from tests.support import pgstack

        stack = pgstack.ensure_started()
        admin = store.make_engine(stack.url()).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
        admin.dispose()
        url = stack.url(database)
    elif url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm", ".migrate.lock"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = store.make_engine(url)
    store.upgrade(engine)
    return engine


def generate(engine: Engine, n: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    sources = load_sources()
    persons = people(rng, 25000)
    staff = {key: [f"staf{i + 1}@{domain}" for i in range(count)] for key, _p, _s, count, domain in HELPDESKS}
    # Opening times first (sorted, so each helpdesk's numbers follow them), growing towards NOW.
    span = 3 * 365
    opened = []
    for _ in range(n):
        age = span * (1 - rng.random() ** 0.75)  # density grows linearly-ish towards the present
        day = NOW - timedelta(days=age)
        if day.weekday() >= 5 and rng.random() < 0.8:
            day -= timedelta(days=day.weekday() - 4)
        opened.append(min(office_time(rng, day), NOW - timedelta(minutes=5)))
    opened.sort()
    keys = [h[0] for h in HELPDESKS]
    weights = [h[2] for h in HELPDESKS]
    info = {h[0]: h for h in HELPDESKS}
    seqs = dict.fromkeys(keys, 0)
    tables = Tables(engine)
    for at in opened:
        hd = rng.choices(keys, weights)[0]
        _key, prefix, _share, _count, desk_domain = info[hd]
        desk = f"helpdesk@{desk_domain}"
        seqs[hd] += 1
        number = format_number(prefix, seqs[hd])
        src = rng.choice(sources)
        # A third of the tickets come from 2,000 frequent requesters (busy vendors, pokja members).
        person = persons[rng.randrange(2000) if rng.random() < 0.3 else rng.randrange(len(persons))]
        code = tender_code(rng)
        subject = _CODE.sub(code, src.subject)[:500]
        body = _CODE.sub(code, src.body)
        if code not in body and rng.random() < 0.4:
            body = f"Kode tender: {code}\n\n{body}"
        body = f"Selamat {rng.choice(['pagi', 'siang', 'sore'])},\n\n{body}\n\nHormat kami,\n{person.name}\n" \
               f"{'CV' if rng.random() < 0.6 else 'PT'} {person.company}\nHP {person.phone}"
        priority = src.priority if rng.random() < 0.9 else rng.choice(["tinggi", "sedang", "rendah"])
        age_days = (NOW - at).total_seconds() / 86400
        p_open = 0.55 if age_days < 14 else 0.12 if age_days < 60 else 0.01
        is_open = rng.random() < p_open
        escalated = rng.random() < (0.15 if is_open else 0.035)
        if is_open:
            state = "escalated" if escalated else rng.choices(["waiting_user", "analysis"], [35, 50])[0]
        else:
            state = "closed"
        assignee = rng.choice(staff[hd]) if rng.random() < (0.70 if is_open else 0.85) else None
        waits = state == "waiting_user" or (rng.random() < 0.3 and not is_open)
        closed_at = min(at + timedelta(hours=rng.uniform(1, 240)), NOW) if not is_open else None
        last = closed_at or min(at + timedelta(hours=rng.uniform(0.1, 48)), NOW)
        ticket: dict[str, Any] = {
            "helpdesk": hd, "seq": seqs[hd], "number": number, "state": state, "priority": priority,
            "category": src.category, "category_matched": src.category != "lainnya", "subject": subject,
            "requester": person.address, "requester_name": person.name,
            "phone": person.phone if rng.random() < 0.7 else None, "assignee": assignee,
            "closed_by": (assignee or rng.choice(staff[hd])) if not is_open else None, "parent_id": None,
            "missing": ["kode_tender", "pesan_error_atau_screenshot"] if state == "waiting_user" else [],
            "rating": rng.choice([None, None, 5, 4, 5, 3]) if not is_open else None, "opened_at": at,
            "updated_at": last, "closed_at": closed_at, "sla_checked_at": last}
        if is_open:
            due = at + timedelta(hours=RESOLUTION_HOURS[priority] * 1.4 * (3 if priority != "tinggi" else 1))
            if state == "waiting_user":
                paused = at + timedelta(minutes=rng.randint(1, 30))
                ticket.update(paused_since=paused, remind_at=paused + timedelta(days=2),
                              autoclose_at=paused + timedelta(days=5), sla_next_at=paused + timedelta(days=2))
            else:
                ticket.update(due_at=due, sla_next_at=due - timedelta(hours=2))
                if rng.random() < 0.3:
                    ticket["call_due_at"] = at + timedelta(hours=4)
                if state == "analysis" and rng.random() < 0.5:
                    ticket["analysis_due_at"] = at + timedelta(hours=16)
        running = [ticket.get(k) for k in ("due_at", "priority_due_at", "call_due_at", "analysis_due_at")]
        ticket["next_due_at"] = min((d for d in running if d), default=None)  # as service.deadlines keeps it
        tid = tables.add("tickets", **ticket)
        ctx = {"name": person.name, "number": number, "priority": priority, "desk": hd,
               "requester": person.address, "category": src.category, "subject": subject, "code": code,
               "phone": person.phone, "user_id": person.address.partition("@")[0]}
        _thread(tables, rng, tid, ctx, desk, person, staff[hd], at, last, subject, body,
                waits=waits, escalated=escalated, closed=not is_open, assignee=assignee)
    tables.commit()
    tables.raw.close()
    return tables.counts


def _thread(tables: Tables, rng: random.Random, tid: int, ctx: dict[str, str], desk: str, person: Person,
            staff: list[str], at: datetime, last: datetime, subject: str, body: str, *, waits: bool,
            escalated: bool, closed: bool, assignee: str | None) -> None:
    """The ticket's messages and events, in time order between ``at`` and ``last``."""
    span = max((last - at).total_seconds(), 120.0)
    clock = iter(sorted(at + timedelta(seconds=rng.uniform(60, span)) for _ in range(12)))
    domain = desk.partition("@")[2]

    def msg(direction: str, role: str, channel: str, sender: str, to: list[str], text: str, *, template: str | None,
            when: datetime, new_text: str | None = None) -> int:
        mid = f"<{rng.getrandbits(64):016x}@{sender.partition('@')[2]}>"
        return tables.add("messages", ticket_id=tid, message_id=mid,
                          direction=direction, role=role, channel=channel, sender=sender, recipients=to,
                          subject=("Re: " if direction == "out" else "") + f"[{ctx['number']}] {subject}"[:490],
                          text=text, new_text=text if new_text is None else new_text, template=template, auto=False,
                          at=when)

    def event(kind: str, when: datetime, actor: str, detail: str, step: int | None) -> None:
        tables.add("events", ticket_id=tid, kind=kind, at=when, actor=actor, detail=detail, sop_step=step, data={})

    first = msg("in", "user", "user", person.address, [desk], body, template=None, when=at)
    if rng.random() < 0.15:
        pdf = rng.random() < 0.5
        content = (b"%PDF-1.4\n" if pdf else b"\x89PNG\r\n\x1a\n") + rng.randbytes(rng.randint(1000, 4000))
        tables.add("attachments", message_pk=first, filename="BA_evaluasi.pdf" if pdf else "screenshot.png",
                   content_type="application/pdf" if pdf else "image/png", size=len(content), content=content,
                   inline=False)
    event("received", at, person.address, f"ticket opened by {person.address}", 1)
    event("priority_set", at, "mailbot", f"priority {ctx['priority']}, category {ctx['category']}", 2)
    msg("out", "bot", "user", desk, [person.address], ACK.format(**ctx), template="ack", when=at)
    msg("out", "bot", "staff", desk, staff, STAFF_NEW.format(**ctx), template="staff_new", when=at)
    if assignee:
        event("assigned", next(clock), assignee, f"assigned to {assignee}", 3)
    if waits:
        when = next(clock)
        msg("out", "bot", "user", desk, [person.address], NEED_INFO.format(**ctx), template="need_info", when=when)
        event("data_requested", when, "mailbot", "missing: kode_tender, pesan_error_atau_screenshot", 4)
        if rng.random() < 0.5 or closed:
            when = next(clock)
            reply = rng.choice(USER_REPLY).format(**ctx)
            quoted = "\n".join("> " + line for line in NEED_INFO.format(**ctx).splitlines())
            msg("in", "user", "user", person.address, [desk], f"{reply}\n\n{quoted}", new_text=reply,
                template=None, when=when)
            event("data_received", when, person.address, "the user sent data", 5)
    event("analysis_started", next(clock), "mailbot", "analysis started", 7)
    if escalated:
        when = next(clock)
        actor = assignee or rng.choice(staff)
        note = rng.choice(ESCALATION).format(**ctx)
        msg("in", "staff", "staff", actor, [desk], note, template=None, when=when)
        msg("out", "bot", "lkpp", desk, [LKPP], f"ESKALASI {ctx['number']}\n{subject}\n\n{body}", template="escalation",
            when=when)
        event("escalated", when, actor, f"escalated to LKPP by {actor}", 10)
        if closed or rng.random() < 0.4:
            when = next(clock)
            answer = rng.choice(LKPP_ANSWER)
            msg("in", "lkpp", "lkpp", LKPP, [f"helpdesk@{domain}"], answer, template=None, when=when)
            event("lkpp_replied", when, LKPP, "LKPP answered", 10)
    if closed:
        when = next(clock)
        actor = assignee or rng.choice(staff)
        if rng.random() < 0.8:
            answer = rng.choice(STAFF_ANSWERS)
            msg("in", "staff", "staff", actor, [desk], f"#tutup\n{answer}", template=None, when=when)
            msg("out", "bot", "user", desk, [person.address], answer, template="staff_answer", when=when)
            event("staff_answered", when, actor, "staff answered the user", 8)
        event("closed", last, actor, f"closed by {actor}", 9)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--url", help="a database URL (emptied first if SQLite); default per backend")
    ap.add_argument("--database", default=PG_DATABASE, help="PostgreSQL: the database made on pgstack (dropped first)")
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=22)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    engine = fresh_engine(args.backend, args.url, args.database)
    with engine.begin() as conn:
        search.drop_triggers(conn)  # a bulk load: the index is built once at the end
    t1 = time.perf_counter()
    counts = generate(engine, args.tickets, args.seed)
    t2 = time.perf_counter()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in Tables.COLUMNS:  # ids were given: move the sequences past them
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT coalesce(max(id), 1) FROM {table}))"))
        search.install(conn)
    t3 = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    t4 = time.perf_counter()
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    print("rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(f"time: schema {t1 - t0:.1f} s, rows {t2 - t1:.1f} s, search index {t3 - t2:.1f} s, "
          f"analyze {t4 - t3:.1f} s, total {t4 - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
