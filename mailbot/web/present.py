"""Values turned into what the console's pages show, in Bahasa Indonesia.

Pure functions of their arguments (the clock is passed in): local times with their zone, working
time left against a deadline, the priority's reason in one line, telephone and WhatsApp links,
labels of states and events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from urllib.parse import quote

from mailbot.core import sla
from mailbot.core.domain import TicketState
from mailbot.core.rules import PriorityTable
from mailbot.core.workflow import STATE_LABELS
from mailbot.core.worktime import WorkCalendar
from mailbot.storage.models import TicketEvent

#: Short state names for the queue's column and filter.
STATE_SHORT: Mapping[str, str] = {
    "new": "baru", "waiting_user": "menunggu pengguna", "analysis": "analisis", "escalated": "di LKPP",
    "closed": "ditutup",
}

#: The timeline's event names.
EVENT_LABELS: Mapping[str, str] = {
    "received": "Tiket diterima", "priority_set": "Prioritas ditetapkan", "password_masked": "Kata sandi disamarkan",
    "data_requested": "Data diminta", "call_task": "Tugas telepon", "data_received": "Data diterima",
    "analysis_started": "Analisis dimulai", "analysis": "Analisis", "user_replied": "Balasan pengguna",
    "reopened": "Dibuka kembali", "follow_up": "Tindak lanjut", "rated": "Penilaian pengguna",
    "user_thanked": "Pengguna berterima kasih", "user_solved": "Pelapor menyatakan masalah teratasi", "auto_answered": "Jawaban otomatis",
    "opened_for_caller": "Dibuka petugas untuk penelepon", "assigned": "Diambil petugas",
    "priority_override": "Prioritas diubah", "note": "Catatan internal", "called": "Telepon dilakukan",
    "canned_answer": "Jawaban baku", "staff_answered": "Jawaban petugas", "staff_empty_reply": "Balasan kosong",
    "command_rejected": "Perintah ditolak", "command_unverified": "Perintah tidak terverifikasi",
    "closed": "Ditutup", "escalated": "Dieskalasi ke LKPP", "lkpp_replied": "Jawaban LKPP",
    "lkpp_unverified": "Surat atas nama LKPP tanpa bukti", "auto_mail": "Balasan otomatis diterima",
    "bounce": "Surat tidak terkirim", "bounce_unproven": "Laporan gagal kirim tanpa bukti",
    "delivery_failed": "Pengiriman gagal", "mail_suppressed": "Surat tidak dikirim",
    "dossier_trimmed": "Berkas eskalasi dipangkas", "merged": "Digabung ke tiket lain",
    "merged_from": "Tiket lain digabung ke sini", "withdrawn": "Eskalasi ditarik", "lkpp_messaged": "Pesan petugas ke LKPP", "reminder_sent": "Pengingat dikirim",
}

ROLE_LABELS: Mapping[str, str] = {"user": "Pengguna", "staff": "Petugas", "lkpp": "LKPP", "bot": "mailbot"}
VIEWER_ROLES: Mapping[str, str] = {"staff": "petugas", "coordinator": "koordinator", "lkpp": "LKPP"}


def local(at: datetime | None, zone: tzinfo) -> str:
    """``06-12-2026 08:30 WIB``; "-" for no time."""
    return at.astimezone(zone).strftime("%d-%m-%Y %H:%M %Z") if at is not None else "-"


def state_label(state: str) -> str:
    try:
        return STATE_LABELS[TicketState(state)]
    except ValueError:
        return state


def time_left(calendar: WorkCalendar, now: datetime, due: datetime | None, paused_since: datetime | None,
              state: str = "") -> str:
    """Working time to a deadline ("2 jam 15 menit kerja lagi"), or how late it is, or why there is none
    (the clock stops while the user owes data, or while LKPP holds the ticket: ``state``)."""
    if due is None:
        if paused_since is None:
            return "-"
        return "jam berhenti (di LKPP)" if state == "escalated" else "jam berhenti (menunggu pengguna)"
    if due > now:
        return sla.describe(calendar.between(now, due), working=True) + " lagi"
    return "terlambat " + sla.describe(calendar.between(due, now), working=True)


def is_late(now: datetime, due: datetime | None) -> bool:
    return due is not None and due <= now


def priority_reason(events: Sequence[TicketEvent], priority: str, table: PriorityTable) -> str:
    """Why the ticket has its priority, in one Indonesian line."""
    label = _level_label(table, priority)
    override = next((e for e in reversed(events) if e.kind == "priority_override"), None)
    if override is not None:
        data = override.data or {}
        why = str(data.get("reason") or "").strip()
        return (f"Diubah oleh {override.actor} dari {_level_label(table, str(data.get('from', '?')))} "
                f"menjadi {label}" + (f": {why}" if why else ""))
    first = next((e for e in events if e.kind == "priority_set"), None)
    if first is None:
        return f"Prioritas {label}"
    data = first.data or {}
    category = table.category_label(str(data.get("category", "")))
    hits = data.get("hits") or []
    if any(isinstance(h, dict) and h.get("rule") == "deadline" and "raised" in str(h.get("reason", ""))
           for h in hits):
        return f"Dinaikkan menjadi {label} karena batas waktu tahapan tender sudah dekat (kategori {category})"
    if data.get("matched") is False:
        return f"Kategori tidak dikenali aturan: prioritas awal {label}, petugas perlu menetapkannya (#prioritas)"
    try:
        hours = f", target selesai {table.level(priority).resolution_hours:g} jam kerja"
    except KeyError:
        hours = ""
    return f"Kategori {category} berprioritas {label}{hours}"


def _level_label(table: PriorityTable, key: str) -> str:
    try:
        return table.level(key).label
    except KeyError:
        return key


def phone_links(phone: str | None) -> tuple[str, str] | None:
    """(``tel:`` link, WhatsApp link) of a phone number stored as ``+62...``; None without one."""
    if not phone:
        return None
    digits = re.sub(r"\D", "", phone)
    if not digits:
        return None
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    return f"tel:+{digits}", f"https://wa.me/{digits}"


def download_disposition(filename: str) -> str:
    """``Content-Disposition`` of a download: always an attachment, the name ASCII-safe and RFC 5987."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("._") or "lampiran"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def duration(delta: timedelta | None, *, working: bool = False) -> str:
    """A measured time: calendar ("1 hari 2 jam") or working time ("10 jam 5 menit kerja")."""
    return "-" if delta is None else sla.describe(delta, working=working)


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(1, round(size / 1024))} KB"
