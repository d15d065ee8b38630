"""The console's pure parts: who may sign in as what, CSRF tokens, and the Indonesian text of its pages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from mailbot.core.rules import PriorityTable
from mailbot.core.worktime import WorkCalendar
from mailbot.settings.config import Settings
from mailbot.web import access, present

MONDAY_9_WIB = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)


def settings(**web: object) -> Settings:
    data: dict[str, Any] = {
        "helpdesk": {"name": "Helpdesk", "address": "helpdesk@lpse.test"},
        "imap": {"host": "h", "port": 993, "username": "u", "password": "x"},
        "smtp": {"host": "h", "port": 587, "username": "u", "password": "x"},
        "staff": {"addresses": ["Staf@lpse.test"], "coordinator": "koord@lpse.test"},
        "escalation": {"lkpp_address": "helpdesk@lkpp.test", "lkpp_domains": ["lkpp.go.id"]},
        "web": web,
    }
    return Settings.model_validate(data)


@pytest.mark.parametrize(("address", "role"), [
    ("staf@lpse.test", "staff"), ("STAF@LPSE.TEST", "staff"), ("koord@lpse.test", "coordinator"),
    ("helpdesk@lkpp.test", "lkpp"), ("petugas@lkpp.go.id", "lkpp"),
    ("budi@vendor.test", None), ("staf@lpse.test.evil", None), ("petugas@sub.lkpp.go.id", None),
    # the Kelvin sign (U+212A) lowers to "k" with str.lower(): a look-alike mailbox is not koord@
    ("\u212aoord@lpse.test", None),
])
def test_roles_come_from_the_settings(address: str, role: str | None) -> None:
    viewer = access.viewer_for(settings(), address)
    assert (viewer.role if viewer else None) == role
    if viewer is not None:
        assert viewer.lkpp == (role == "lkpp") and viewer.helpdesks == ("default",)


@pytest.mark.parametrize(("typed", "normal"), [
    (" Staf@LPSE.test ", "staf@lpse.test"), ("a@b.c", "a@b.c"), ("", None), ("no-at", None), ("a@nodot", None),
    ("a b@c.d", None), ("a@c.d\r\nBcc: x@y.z", None), ("<a@c.d>", None), ("x" * 320 + "@c.d", None),
    ("\u212aoord@lpse.test", "\u212aoord@lpse.test"),  # kept as typed: another mailbox than koord@
])
def test_typed_addresses(typed: str, normal: str | None) -> None:
    assert access.normalize_address(typed) == normal


def test_csrf_tokens_belong_to_one_browser_and_one_key() -> None:
    token = access.csrf_token("key", "cookie-a")
    assert access.csrf_ok("key", "cookie-a", token)
    assert not access.csrf_ok("key", "cookie-b", token)
    assert not access.csrf_ok("other", "cookie-a", token)
    assert not access.csrf_ok("key", "", access.csrf_token("key", ""))  # no cookie, no valid token
    assert not access.csrf_ok("key", "cookie-a", "")


def test_base_url_must_be_an_http_url() -> None:
    assert settings(base_url="https://helpdesk.example.go.id/").web.base_url == "https://helpdesk.example.go.id"
    with pytest.raises(ValueError, match="http"):
        settings(base_url="helpdesk.example.go.id")


def test_time_left_is_working_time() -> None:
    cal = WorkCalendar.for_zone("Asia/Jakarta")
    assert present.time_left(cal, MONDAY_9_WIB, MONDAY_9_WIB + timedelta(hours=2, minutes=15), None) == \
        "2 jam 15 menit kerja lagi"
    # Friday 15:00 WIB to Monday 09:00 WIB: one working hour on Friday, one on Monday.
    friday_3pm = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)
    assert present.time_left(cal, friday_3pm, MONDAY_9_WIB, None) == "2 jam kerja lagi"
    assert present.time_left(cal, MONDAY_9_WIB, MONDAY_9_WIB - timedelta(minutes=30), None) == \
        "terlambat 30 menit kerja"
    assert present.time_left(cal, MONDAY_9_WIB, None, MONDAY_9_WIB) == "jam berhenti (menunggu pengguna)"
    assert present.time_left(cal, MONDAY_9_WIB, None, None) == "-"
    # The clock also stops while LKPP holds the ticket: the user owes nothing then.
    assert present.time_left(cal, MONDAY_9_WIB, None, MONDAY_9_WIB, "escalated") == "jam berhenti (di LKPP)"
    assert present.time_left(cal, MONDAY_9_WIB, None, MONDAY_9_WIB, "waiting_user") == \
        "jam berhenti (menunggu pengguna)"


def event(kind: str, data: dict[str, Any], actor: str = "budi@vendor.test") -> Any:
    return SimpleNamespace(kind=kind, data=data, actor=actor)


def test_the_priority_reason_in_one_line(table: PriorityTable) -> None:
    category = table.categories[0]
    level = table.levels[0]
    matched = event("priority_set", {"category": category.key, "matched": True, "hits": []})
    assert present.priority_reason([matched], level.key, table) == (
        f"Kategori {category.label} berprioritas {level.label}, target selesai {level.resolution_hours:g} jam kerja")
    unmatched = event("priority_set", {"category": table.default.key, "matched": False, "hits": []})
    assert "petugas perlu menetapkannya" in present.priority_reason([unmatched], level.key, table)
    raised = event("priority_set", {"category": category.key, "matched": True,
                                    "hits": [{"rule": "deadline", "reason": "besok: priority raised to tinggi"}]})
    assert "batas waktu tahapan tender" in present.priority_reason([raised], level.key, table)
    override = event("priority_override", {"from": table.levels[1].key, "to": level.key, "reason": "tender besok"},
                     actor="staf@lpse.test")
    assert present.priority_reason([matched, override], level.key, table) == (
        f"Diubah oleh staf@lpse.test dari {table.levels[1].label} menjadi {level.label}: tender besok")


@pytest.mark.parametrize(("phone", "links"), [
    ("+6281234567890", ("tel:+6281234567890", "https://wa.me/6281234567890")),
    ("081234567890", ("tel:+6281234567890", "https://wa.me/6281234567890")),
    (None, None), ("", None),
])
def test_phone_links(phone: str | None, links: tuple[str, str] | None) -> None:
    assert present.phone_links(phone) == links


def test_downloads_are_attachments_whatever_the_name() -> None:
    assert present.download_disposition("laporan.pdf") == \
        "attachment; filename=\"laporan.pdf\"; filename*=UTF-8''laporan.pdf"
    hostile = present.download_disposition('a"\r\nX-Evil: 1; b.html')
    assert "\r" not in hostile and "\n" not in hostile and hostile.startswith("attachment; filename=\"a_X-Evil_1_b.html\"")
    assert present.download_disposition("Ñ.png").endswith("filename*=UTF-8''%C3%91.png")
