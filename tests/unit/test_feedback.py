"""Replies to a closed ticket: ratings, 'not solved', thanks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailbot.core.domain import TicketState
from mailbot.core.feedback import just_thanks, not_solved, parse_rating
from mailbot.core.workflow import Assign, OpenFollowUp, Policy, SetRating, TicketView, UserReplied, decide


@pytest.mark.parametrize(
    ("text", "rating"),
    [("5", 5), ("4\n\nterima kasih", 4), ("Nilai: 3", 3), ("rating 2/5", 2), ("5 bintang", 5), ("\u2b50\u2b50\u2b50", 3),
     ("1.", 1), ("6", None), ("0", None), ("Saya punya 5 pertanyaan lagi", None), ("Kode 12345678", None),
     # the thanks on the rating's line, as typed on a phone
     ("4 terima kasih infonya bu", 4), ("5, makasih banyak", 5), ("Nilai 5. Terima kasih", 5), ("5/5 thanks", 5),
     ("3 hari belum ada jawaban", None), ("2 terima kasih, tapi kapan diperbaiki?", None),
     ("1 terimakasih", 1), ("6 terima kasih", None)],
)
def test_parse_rating(text: str, rating: int | None) -> None:
    assert parse_rating(text) == rating


@pytest.mark.parametrize(
    "text", ["Belum selesai pak", "masih error", "Tetap tidak bisa", "tidak bisa juga", "ga bisa juga min",
             "Still not working", "Maaf, masalah belum teratasi"],
)
def test_not_solved(text: str) -> None:
    assert not_solved(text) and not just_thanks(text)


@pytest.mark.parametrize("text", ["Terima kasih", "Makasih, sudah bisa", "Ok, thanks!", "Baik, terima kasih banyak."])
def test_thanks(text: str) -> None:
    assert just_thanks(text) and not not_solved(text)


NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
CLOSED = TicketView(TicketState.CLOSED, "sedang", closed_by="staf@lpse.test", closed_at=NOW - timedelta(days=1))


def test_rating_with_thanks_on_its_line_is_recorded_as_rating() -> None:
    d = decide(CLOSED, UserReplied("user@vendor.test", text="4 terima kasih infonya bu"), NOW,
               Policy(reopen_window=timedelta(days=7)))
    assert d.state is TicketState.CLOSED and SetRating(4) in d.effects


def test_rating_keeps_the_ticket_closed() -> None:
    d = decide(CLOSED, UserReplied("u@vendor.test", "5"), NOW, Policy())
    assert d.state is TicketState.CLOSED and SetRating(5) in d.effects and d.mails() == []


def test_thanks_keeps_the_ticket_closed() -> None:
    d = decide(CLOSED, UserReplied("u@vendor.test", "Terima kasih, sudah bisa"), NOW, Policy())
    assert d.state is TicketState.CLOSED and d.mails() == []


def test_not_solved_reopens_to_the_closer() -> None:
    d = decide(CLOSED, UserReplied("u@vendor.test", "Terima kasih tapi masih error"), NOW, Policy())
    assert d.state is TicketState.ANALYSIS and Assign("staf@lpse.test") in d.effects
    assert [(m.to, m.template) for m in d.mails()] == [("user", "reopened"), ("closer", "staff_reopened")]


def test_rating_after_the_window_is_still_a_rating_not_a_new_ticket() -> None:
    old = TicketView(TicketState.CLOSED, "sedang", closed_by="s@x", closed_at=NOW - timedelta(days=30))
    assert SetRating(4) in decide(old, UserReplied("u@vendor.test", "4"), NOW, Policy()).effects
    assert decide(old, UserReplied("u@vendor.test", "Masih error"), NOW, Policy()).effects == (OpenFollowUp(),)
