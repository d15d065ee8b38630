"""The dossier's "Kronologi": a ticket's history told in Indonesian, with the SOP steps' names."""

from __future__ import annotations

import re

from mailbot.core.domain import EventKind
from mailbot.core.kronologi import STEP_NAMES, kronologi
from tests.support.sla_events import Ev, wib

ITEMS = {"kode_tender": "Kode tender/paket", "screenshot": "Tangkapan layar pesan error"}
CATEGORIES = {"tender_upload": "Gagal unggah dokumen penawaran"}
STAFF = "staf1@lpse.test"

HISTORY = [
    Ev("received", wib(2026, 3, 2, 9, 0), 1, actor="budi@vendor.test"),
    Ev("priority_set", wib(2026, 3, 2, 9, 0), 2, {"category": "tender_upload", "priority": "tinggi", "matched": True,
                                                  "hits": [{"rule": "x", "reason": "keyword 'gagal upload'"}]},
       actor="budi@vendor.test", detail="priority tinggi, category tender_upload"),
    Ev("data_requested", wib(2026, 3, 2, 9, 0), 4, {"items": ["kode_tender", "screenshot"], "by": "rules"},
       detail="missing: kode_tender, screenshot"),
    Ev("call_task", wib(2026, 3, 2, 9, 0), 4, {"phone": "+6281234567890"},
       detail="confirm the data request by telephone (+6281234567890)"),
    Ev("command_rejected", wib(2026, 3, 2, 9, 2), None, {"by": STAFF}, actor=STAFF, detail="'#tutp': unknown"),
    Ev("called", wib(2026, 3, 2, 9, 4), 4, {"by": STAFF}, actor=STAFF),
    Ev("user_replied", wib(2026, 3, 2, 10, 0), None, {"arrived": ["kode_tender"], "still_missing": ["screenshot"]}),
    Ev("user_replied", wib(2026, 3, 2, 11, 0), None, {"arrived": ["screenshot"], "still_missing": []}),
    Ev("data_received", wib(2026, 3, 2, 11, 0), 6, {"arrived": ["screenshot"]}),
    Ev("analysis_started", wib(2026, 3, 2, 11, 0), 7),
    Ev("sla_warning", wib(2026, 3, 2, 15, 0), 7, {"clock": "analysis"}, actor="mailbot"),
    Ev("note", wib(2026, 3, 2, 15, 30), None, {"by": STAFF}, actor=STAFF, detail="Server LPSE normal, log terlampir"),
    Ev("escalated", wib(2026, 3, 2, 15, 40), 10, actor=STAFF, detail="escalated to LKPP by staf1@lpse.test"),
]


def test_every_row_is_indonesian_with_the_sop_step_names_and_no_debug_text() -> None:
    rows = kronologi(HISTORY, item=ITEMS.__getitem__, category=CATEGORIES.__getitem__)
    texts = [r.text for r in rows]
    assert texts == [
        "Laporan diterima dari budi@vendor.test",
        "Prioritas ditetapkan otomatis dari tabel prioritas (tinggi), kategori Gagal unggah dokumen penawaran",
        "Data tambahan diminta dari pelapor (otomatis): Kode tender/paket, Tangkapan layar pesan error",
        "Tugas konfirmasi permintaan data kepada pelapor lewat telepon (+6281234567890)",
        f"Konfirmasi lewat telepon dilakukan oleh {STAFF}",
        "Pelapor membalas; data yang masih kurang: Tangkapan layar pesan error",
        "Pelapor membalas",
        "Data tambahan diterima dari pelapor: Tangkapan layar pesan error",
        "Analisis oleh petugas LPSE dimulai",
        "Catatan petugas LPSE: Server LPSE normal, log terlampir",
        f"Dieskalasi ke Helpdesk LKPP oleh {STAFF}",
    ]
    assert [r.step_name for r in rows][:4] == ["Laporan masuk", "Penetapan prioritas", "Permintaan data tambahan",
                                                "Permintaan data tambahan"]
    joined = "\n".join(texts)
    for english in ("call_task", "confirm", "priority", "category", "missing", "escalated", "received"):
        assert english not in joined


def test_the_lkpp_part_of_the_story() -> None:
    events = [Ev("escalated", wib(2026, 3, 2, 9, 0), 10, actor=STAFF),
              Ev("lkpp_replied", wib(2026, 3, 2, 10, 0), None, {"asked": ["nomor NPWP"]}, actor="o@lkpp.test"),
              Ev("lkpp_replied", wib(2026, 3, 2, 11, 0), None, {}, actor="o@lkpp.test"),
              Ev("closed", wib(2026, 3, 2, 12, 0), 9, {"by_lkpp": True}, actor="o@lkpp.test"),
              Ev("reopened", wib(2026, 3, 2, 13, 0), None, {"to_lkpp": True, "not_solved": True}),
              Ev("withdrawn", wib(2026, 3, 2, 14, 0), 10, {"by": STAFF}, actor=STAFF),
              Ev("closed", wib(2026, 3, 3, 9, 0), 9, {"auto": True}, actor="mailbot")]
    assert [r.text for r in kronologi(events)] == [
        f"Dieskalasi ke Helpdesk LKPP oleh {STAFF}", "Helpdesk LKPP meminta data kepada pelapor: nomor NPWP",
        "Helpdesk LKPP menjawab", "Ditutup oleh Helpdesk LKPP",
        "Pelapor menyatakan belum selesai; dikembalikan ke Helpdesk LKPP",
        f"Eskalasi ditarik kembali oleh {STAFF}; ditangani lagi oleh LPSE",
        "Ditutup otomatis karena data yang diminta tidak dilengkapi"]


def test_every_event_kind_is_told_or_left_out_on_purpose() -> None:
    """A new event kind must be decided on here: told in Indonesian, or internal to the helpdesk."""
    internal = {"staff_empty_reply", "command_rejected", "command_unverified", "lkpp_unverified", "auto_mail",
                "bounce_unproven", "mail_suppressed", "dossier_trimmed", "sla_warning", "sla_breach", "purged",
                "personal_data_erased", "answer_held", "answer_released"}
    at = wib(2026, 3, 2, 9, 0)
    for kind in EventKind:
        rows = kronologi([Ev(kind.value, at, None, {}, detail="teks")])
        assert (not rows) is (kind.value in internal), kind
        for row in rows:
            assert not re.search(r"[a-z]+_[a-z]+", row.text), row.text  # no event kind names


def test_step_names_cover_the_sop() -> None:
    assert sorted(STEP_NAMES) == list(range(1, 11))
