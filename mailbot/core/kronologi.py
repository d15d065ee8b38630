"""A ticket's history in Bahasa Indonesia, for the people outside the helpdesk who read it (the
escalation dossier's "Kronologi"): each SOP step with its name, who did it and what came of it.

Pure. ``core.timeline`` is the operators' view (English, every event, times against standards);
this one leaves out what only the helpdesk's own machinery cares about (refused commands, unverified
mail, SLA notices, delivery marks) and says the rest in words, from the events' kinds and data, never
from their English ``detail`` (except a staff note, written by staff in Indonesian).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailbot.core.domain import EventRecord

#: The SOP's steps by their Indonesian names (Keputusan Kepala LKPP, the TTS SOP).
STEP_NAMES: Mapping[int, str] = {
    1: "Laporan masuk", 2: "Penetapan prioritas", 3: "Pemeriksaan kelengkapan data",
    4: "Permintaan data tambahan", 5: "Pengiriman data oleh pelapor", 6: "Penerimaan data tambahan",
    7: "Analisis", 8: "Penyelesaian", 9: "Penutupan", 10: "Eskalasi ke Helpdesk LKPP",
}


@dataclass(frozen=True)
class KronologiRow:
    at: datetime
    step: int | None
    text: str

    @property
    def step_name(self) -> str:
        return STEP_NAMES.get(self.step, "") if self.step is not None else ""


def _items(data: Mapping[str, Any], key: str, label: Callable[[str], str]) -> str:
    values = data.get(key) or []
    return ", ".join(label(str(v)) for v in values) if isinstance(values, list) else ""


def _who(actor: str) -> str:
    return "sistem" if actor in {"", "mailbot"} else actor


def _text(e: EventRecord, label: Callable[[str], str], category_label: Callable[[str], str]) -> str | None:
    """The event in words, or None when it is not part of the story told outside the helpdesk."""
    d: Mapping[str, Any] = e.data or {}
    who = _who(e.actor)
    kind = e.kind
    if kind == "received":
        parent = d.get("parent")
        via = f" (diterima lewat {d.get('channel') or 'petugas'} oleh {d['opened_by']})" if d.get("opened_by") else ""
        return f"Laporan diterima dari {e.actor}" + (f" (lanjutan tiket {parent})" if parent else "") + via
    if kind == "opened_for_caller":  # staff typed in a problem that came by phone, WhatsApp or at the desk
        how = f" (masuk lewat {d['source']})" if d.get("source") else ""
        return f"Laporan dicatat oleh petugas LPSE {who}{how}"
    if kind == "priority_set":
        category = category_label(str(d["category"])) if d.get("category") else "-"
        if d.get("matched") is False:
            return f"Tidak cocok dengan tabel prioritas; prioritas awal ditetapkan, kategori {category}, menunggu klasifikasi petugas"
        return "Prioritas ditetapkan otomatis dari tabel prioritas" + (
            f" ({d['priority']})" if d.get("priority") else "") + f", kategori {category}"
    if kind == "priority_override":
        reason = f" (alasan: {d['reason']})" if d.get("reason") else ""
        return f"Prioritas diubah dari {d.get('from', '-')} menjadi {d.get('to', '-')} oleh {who}{reason}"
    if kind == "password_masked":
        return "Kata sandi yang tertulis di e-mail pelapor disamarkan"
    if kind == "data_requested":
        items = _items(d, "items", label)
        by = "otomatis" if d.get("by") == "rules" else f"oleh {who}"
        return f"Data tambahan diminta dari pelapor ({by})" + (f": {items}" if items else "")
    if kind == "call_task":
        return "Tugas konfirmasi permintaan data kepada pelapor lewat telepon" + (
            f" ({d['phone']})" if d.get("phone") else "")
    if kind == "called":
        return f"Konfirmasi lewat telepon dilakukan oleh {_who(str(d.get('by') or e.actor))}"
    if kind == "user_replied":
        still = _items(d, "still_missing", label)
        return "Pelapor membalas" + (f"; data yang masih kurang: {still}" if still else "")
    if kind == "data_received":
        items = _items(d, "arrived", label)
        return "Data tambahan diterima dari pelapor" + (f": {items}" if items else "")
    if kind == "analysis_started":
        return "Analisis oleh petugas LPSE dimulai"
    if kind == "reminder_sent":
        return "Pengingat permintaan data dikirim kepada pelapor"
    if kind == "assigned":
        return f"Tiket ditangani oleh {who}"
    if kind == "note":
        return f"Catatan petugas LPSE: {e.detail}" if e.detail else None
    if kind == "canned_answer":
        return f"Jawaban baku dikirim kepada pelapor oleh {who}"
    if kind == "staff_answered":
        return f"Petugas LPSE ({who}) menjawab pelapor"
    if kind == "auto_answered":
        return "Jawaban baku dikirim otomatis kepada pelapor"
    if kind == "escalated":
        return f"Dieskalasi ke Helpdesk LKPP oleh {who}"
    if kind == "withdrawn":
        return f"Eskalasi ditarik kembali oleh {who}; ditangani lagi oleh LPSE"
    if kind == "lkpp_replied":
        asked = ", ".join(str(x) for x in d.get("asked") or [])
        return f"Helpdesk LKPP meminta data kepada pelapor: {asked}" if asked else "Helpdesk LKPP menjawab"
    if kind == "lkpp_messaged":
        return f"Petugas LPSE ({_who(str(d.get('by') or e.actor))}) mengirim pesan kepada Helpdesk LKPP"
    if kind == "lkpp_relayed":
        return f"Jawaban atas nama LKPP diteruskan kepada pelapor oleh {_who(str(d.get('by') or e.actor))}"
    if kind == "closed":
        if d.get("auto"):
            return "Ditutup otomatis karena data yang diminta tidak dilengkapi"
        return "Ditutup oleh Helpdesk LKPP" if d.get("by_lkpp") else f"Ditutup oleh {who}"
    if kind == "merged":
        return f"Digabung ke tiket {d.get('into', '-')} (masalah yang sama) oleh {who}"
    if kind == "merged_from":
        return f"Tiket {d.get('from', '-')} dari pelapor yang sama digabung ke tiket ini oleh {who}"
    if kind == "reopened":
        if d.get("to_lkpp"):
            return "Pelapor menyatakan belum selesai; dikembalikan ke Helpdesk LKPP"
        if d.get("not_solved"):
            return "Pelapor menyatakan belum selesai; tiket dibuka kembali"
        return "Tiket dibuka kembali" + ("" if e.actor == "mailbot" else f" ({who})")
    if kind == "follow_up":
        return "Pelapor menulis lagi setelah tiket ditutup; dibuat tiket lanjutan"
    if kind == "rated":
        return f"Pelapor memberi nilai {d.get('rating', '-')} dari 5"
    if kind == "user_solved":
        waived = " (permintaan data tidak diperlukan lagi)" if d.get("waived") is not None else ""
        return "Pelapor menyatakan masalah sudah teratasi" + waived
    if kind == "user_thanked":
        return "Pelapor mengucapkan terima kasih"
    if kind in {"bounce", "delivery_failed"}:
        return "E-mail kepada pelapor tidak terkirim"
    return None


def kronologi(events: Iterable[EventRecord], *, item: Callable[[str], str] = str,
              category: Callable[[str], str] = str) -> list[KronologiRow]:
    """The ticket's story in Indonesian, oldest first; ``item`` and ``category`` name data items and
    categories by their keys (the priority table's labels)."""
    rows = []
    for e in events:
        text = _text(e, item, category)
        if text is not None:
            rows.append(KronologiRow(e.at, e.sop_step, text))
    return rows
