"""Missing data (issue 21, round 5): how users give a value where it stands, in wordings of our own.

Each case is a sentence a user could write; the assertion is what the bot would then (not) ask
for, which is what the user depends on: a value given must not be asked again, a value missing
must be asked.
"""

from __future__ import annotations

import pytest

from mailbot.core.rules import PriorityTable, detect_items

# --------------------------------------------------------------------------------------------
# The user id, labelled with the system it belongs to or in a regional possessive form
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "present"),
    [
        ("User ID SPSE: mitrakarya21", True),
        ("Username LPSE = budi.santoso", True),
        ("user id spse : cv_sumber", True),
        ("User id ne tokojaya. Matur nuwun.", True),  # Javanese "ne" = "nya"
        # the system named without a value is still no user id
        ("user id spse saya tidak bisa dipakai", False),
        ("user id lpse sudah terblokir", False),
    ],
)
def test_user_id_with_the_system_named(table: PriorityTable, text: str, present: bool) -> None:
    assert ("user_id" in detect_items(table, text)) is present


# --------------------------------------------------------------------------------------------
# The error message, quoted after the verb that shows it
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "present"),
    [
        ('When we log in we get "Akun Anda belum aktif" every time.', True),
        ('Halamannya hanya menampilkan "Sistem sedang dalam pemeliharaan" sejak pagi.', True),
        ('Layar ditampilkan \'Sesi Anda telah berakhir\' terus.', True),
        ("Halamannya hanya menampilkan layar putih.", False),
    ],
)
def test_quoted_message_after_get_or_menampilkan(table: PriorityTable, text: str, present: bool) -> None:
    assert ("pesan_error" in detect_items(table, text)) is present


# --------------------------------------------------------------------------------------------
# When it happened is not when a tender closes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "present"),
    [
        ("SPSE tidak bisa dibuka, padahal ada tender yang tutup hari ini.", False),
        ("The site is down and our bid closes today.", False),
        ("Penawaran kami berakhir besok, situs tidak bisa diakses.", False),
        ("SPSE tidak bisa dibuka sejak pagi ini, padahal tender tutup hari ini.", True),
    ],
)
def test_a_closing_day_is_not_the_time_of_the_problem(table: PriorityTable, text: str, present: bool) -> None:
    assert ("waktu_kejadian" in detect_items(table, text)) is present
