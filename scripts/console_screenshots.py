"""Screenshots of the console for docs/: the queue and a ticket page at 390 px (a phone) and 1280 px.

    .venv/bin/python scripts/console_screenshots.py [--out docs]

Builds a demo deployment in var/screenshots/ (a fresh SQLite database; its mail servers are never
contacted), opens tickets from realistic user mails with ``process_raw`` over the last working
days, serves the console with uvicorn on a free loopback port, signs in through a one-time link
and photographs the pages with Debian's Chromium (Playwright; ``scripts/browser.sh install``).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailbot.service.app import build_apps  # noqa: E402
from mailbot.service.inbound import process_raw  # noqa: E402
from mailbot.settings.loading import load_settings  # noqa: E402
from mailbot.storage.models import Ticket  # noqa: E402
from mailbot.web import access  # noqa: E402
from mailbot.web.server import build_asgi  # noqa: E402
from tests.support.offline_config import offline_toml  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
STAFF = "rina@lpse.test"

#: The moment the screenshots show: a Tuesday, 10:30 in Jakarta (the pages are the same on every run).
NOW = datetime(2026, 12, 8, 3, 30, tzinfo=timezone.utc)

# (hours ago, name, address, subject, body, attachment?): all in working hours (WIB) of the days before.
MAILS = [
    (96, "Budi Santoso", "budi@cvmaju.test", "Tidak bisa login SPSE, akun terkunci",
     "Selamat pagi, akun penyedia saya terkunci setelah salah memasukkan kata sandi. User ID: cvmaju01. "
     "Mohon dibantu dibuka. Terima kasih.", False),
    (24.5, "Sari Wulandari", "sari@ptsinar.test", "Gagal upload dokumen penawaran tender 10045123",
     "Kami gagal mengunggah dokumen penawaran untuk tender kode 10045123, muncul pesan error "
     "'upload gagal'. Batas akhir pemasukan penawaran besok jam 10.00. Mohon segera dibantu. "
     "HP 0812-3456-7890", True),
    (22, "Pokja Dinkes", "pokja.dinkes@kota.test", "Pertanyaan jadwal pelatihan SPSE versi terbaru",
     "Mohon informasi jadwal pelatihan SPSE untuk pokja pemilihan bulan depan.", False),
    (2, "Andi Pratama", "andi@cvkarya.test", "Registrasi penyedia belum diverifikasi",
     "Saya sudah registrasi akun penyedia dua minggu lalu tetapi belum diverifikasi. Telp 0813 2222 4444", False),
    (1.5, "Dewi Lestari", "dewi@ptabadi.test", "Aplikasi enkripsi error saat membuka dokumen",
     "Apendo menampilkan error saat mengenkripsi dokumen penawaran. Sudah coba browser lain tetap sama.", False),
    (1, "Rudi Hartono", "rudi@cvbangun.test", "Lupa password akun SPSE",
     "Saya lupa kata sandi akun SPSE, bagaimana cara meresetnya?", False),
    (0.25, "Maya Sari", "maya@ptcipta.test", "Perubahan data perusahaan di SPSE",
     "Kami ingin mengubah alamat dan NPWP perusahaan di data penyedia. Apa saja yang perlu dikirim?", False),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, port: int) -> Path:
    config = folder / "mailbot.toml"
    config.write_text(offline_toml("sqlite:///screenshots.db", name="Helpdesk LPSE Kota Contoh",
                                   secret="screenshot-secret-0123456789abcdef", staff=(STAFF, "agus@lpse.test"),
                                   coordinator="koordinator@lpse.test",
                                   extra=f'[web]\nport = {port}\nbase_url = "http://127.0.0.1:{port}"\n'))
    return config


def user_mail(name: str, address: str, subject: str, body: str, at: datetime, attach: bool) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{address}>"
    msg["To"] = "helpdesk@lpse.test"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = make_msgid(domain=address.partition("@")[2])
    msg.set_content(body)
    if attach:
        png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
               b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
        msg.add_attachment(png, maintype="image", subtype="png", filename="error-upload.png")
    return msg.as_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args()
    out = Path(args.out)
    folder = ROOT / "var" / "screenshots"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    port = free_port()
    apps = build_apps(load_settings(write_config(folder, port)))
    now = NOW
    for hours, name, address, subject, body, attach in MAILS:
        at = now - timedelta(hours=hours)
        process_raw(apps[0], user_mail(name, address, subject, body, at, attach), at)
    # Sari has written before: an earlier ticket of hers, closed.
    earlier = now - timedelta(days=20)
    process_raw(apps[0], user_mail("Sari Wulandari", "sari@ptsinar.test", "Cara mengganti email akun SPSE",
                                   "Bagaimana cara mengganti alamat email akun?", earlier, False), earlier)
    with apps[0].factory.begin() as session:
        old = session.query(Ticket).filter(Ticket.subject == "Cara mengganti email akun SPSE").one()
        old.state, old.closed_at, old.closed_by, old.next_due_at, old.due_at = (
            "closed", earlier + timedelta(hours=2), STAFF, None, None)
        sari = session.query(Ticket).filter(Ticket.subject.like("Gagal upload%")).one()
        sari.assignee = STAFF
        ticket_id = sari.id

    import uvicorn
    from playwright.sync_api import sync_playwright

    server = uvicorn.Server(uvicorn.Config(build_asgi(apps, clock=lambda: NOW), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    with apps[0].factory.begin() as session:
        _, _, token = access.request_link(session, apps[0].settings, STAFF, "screenshots", NOW)
    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{base}/masuk/{token}")
        page.click("#masuk")
        page.wait_for_url(base + "/antrian")
        shots = []
        for width, height in ((390, 844), (1280, 900)):
            page.set_viewport_size({"width": width, "height": height})
            pages = [("queue", "/antrian"), ("ticket", f"/tiket/{ticket_id}"), ("dashboard", "/dasbor")]
            if width > 390:
                pages.append(("report", "/laporan?dari=2026-12-01&sampai=2026-12-31"))
            for name, path in pages:
                page.goto(base + path)
                target = out / f"console-{name}-{width}.png"
                page.screenshot(path=str(target), full_page=True)
                shots.append(target)
        browser.close()
    server.should_exit = True
    thread.join(timeout=10)
    for shot in shots:
        print(shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
