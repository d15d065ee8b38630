"""The LKPP part of the state machine, as tables: proven answers, unproven claims, closes and reopens."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailbot.core.commands import parse_staff_reply
from mailbot.core.domain import TicketState
from mailbot.core.workflow import (
    Assign,
    LkppReplied,
    LkppUnverified,
    Policy,
    Record,
    StaffReplied,
    TicketView,
    UserReplied,
    decide,
)

S = TicketState
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
POLICY = Policy(reopen_window=timedelta(days=7))
STAFF = "staff1@lpse.test"
OFFICER = "officer@lkpp.test"


def ticket(state: TicketState, **kw: object) -> TicketView:
    defaults: dict[str, object] = {"priority": "sedang"}
    defaults.update(kw)
    return TicketView(state=state, **defaults)  # type: ignore[arg-type]


def mails(decision) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(m.to, m.template) for m in decision.mails()]


def records(decision) -> list[Record]:  # type: ignore[no-untyped-def]
    return [e for e in decision.effects if isinstance(e, Record)]


# (case, ticket, event) -> (state, mails)
TABLE = [
    ("LKPP answers", ticket(S.ESCALATED), LkppReplied(OFFICER, parse_staff_reply("Silakan kompres file.")),
     S.ESCALATED, [("user", "lkpp_answer"), ("staff", "staff_lkpp_reply")]),
    ("LKPP answers an assigned ticket", ticket(S.ESCALATED, assignee=STAFF),
     LkppReplied(OFFICER, parse_staff_reply("Silakan kompres file.")),
     S.ESCALATED, [("user", "lkpp_answer"), ("assignee", "staff_lkpp_reply")]),
    ("LKPP closes", ticket(S.ESCALATED), LkppReplied(OFFICER, parse_staff_reply("#tutup\nSudah beres.")),
     S.CLOSED, [("user", "closed"), ("staff", "staff_lkpp_reply")]),
    ("unproven LKPP claim, escalated", ticket(S.ESCALATED), LkppUnverified(OFFICER, "x", "Transfer ke rekening ..."),
     S.ESCALATED, [("staff", "staff_lkpp_unverified")]),
    ("unproven LKPP #tutup changes nothing", ticket(S.ESCALATED), LkppUnverified(OFFICER, "x", "#tutup\nselesai"),
     S.ESCALATED, [("staff", "staff_lkpp_unverified")]),
    ("unproven LKPP claim, analysis, assigned", ticket(S.ANALYSIS, assignee=STAFF), LkppUnverified(OFFICER, "x", "t"),
     S.ANALYSIS, [("assignee", "staff_lkpp_unverified")]),
    ("unproven LKPP claim over the hourly cap", ticket(S.ESCALATED), LkppUnverified(OFFICER, "x", "t", warned=3, cap=3),
     S.ESCALATED, []),
    ("unproven LKPP claim, closed", ticket(S.CLOSED, closed_by=STAFF, closed_at=NOW), LkppUnverified(OFFICER, "x", "t"),
     S.CLOSED, [("staff", "staff_lkpp_unverified")]),
    ("user not solved after LKPP closed", ticket(S.CLOSED, closed_by=OFFICER, closed_at=NOW - timedelta(days=1),
                                                 closed_by_lkpp=True),
     UserReplied("u@vendor.test", "belum selesai, masih error"),
     S.ESCALATED, [("user", "reopened"), ("lkpp", "lkpp_reopened"), ("staff", "staff_reopened")]),
    ("user not solved after LPSE closed", ticket(S.CLOSED, closed_by=STAFF, closed_at=NOW - timedelta(days=1)),
     UserReplied("u@vendor.test", "belum selesai, masih error"),
     S.ANALYSIS, [("user", "reopened"), ("closer", "staff_reopened")]),
    ("LPSE closes an escalated ticket", ticket(S.ESCALATED), StaffReplied(STAFF, parse_staff_reply("#tutup\nSudah.")),
     S.CLOSED, [("user", "closed"), ("lkpp", "lkpp_closed")]),
    ("LPSE closes a ticket in analysis", ticket(S.ANALYSIS), StaffReplied(STAFF, parse_staff_reply("#tutup\nSudah.")),
     S.CLOSED, [("user", "closed")]),
    ("LPSE takes the escalation back", ticket(S.ESCALATED), StaffReplied(STAFF, parse_staff_reply("#tarik")),
     S.ANALYSIS, [("lkpp", "lkpp_withdrawn")]),
    ("LKPP asks the user for data", ticket(S.ESCALATED),
     LkppReplied(OFFICER, parse_staff_reply("#mintadata kode tender, screenshot\nMohon dilengkapi.")),
     S.ESCALATED, [("user", "need_info"), ("staff", "staff_lkpp_reply")]),
    ("the user answers LKPP's data request", ticket(S.ESCALATED), UserReplied("u@vendor.test", "Kode 123"),
     S.ESCALATED, [("lkpp", "lkpp_user_update"), ("staff", "staff_user_reply")]),
    ("LKPP #mintadata and #tutup: the close wins", ticket(S.ESCALATED),
     LkppReplied(OFFICER, parse_staff_reply("#mintadata x\n#tutup\nSelesai.")),
     S.CLOSED, [("user", "closed"), ("staff", "staff_lkpp_reply")]),
    ("LKPP's #tarik is no LKPP command: an answer", ticket(S.ESCALATED),
     LkppReplied(OFFICER, parse_staff_reply("#tarik\nKami kembalikan.")),
     S.ESCALATED, [("user", "lkpp_answer"), ("staff", "staff_lkpp_reply")]),
]


@pytest.mark.parametrize(("case", "view", "event", "state", "sent"), TABLE, ids=[row[0] for row in TABLE])
def test_lkpp_table(case: str, view: TicketView, event: object, state: TicketState,
                    sent: list[tuple[str, str]]) -> None:
    d = decide(view, event, NOW, POLICY)  # type: ignore[arg-type]
    assert (d.state, mails(d)) == (state, sent)


def test_an_unproven_claim_is_recorded_and_its_text_shown_to_staff_only() -> None:
    d = decide(ticket(S.ESCALATED), LkppUnverified(OFFICER, "not sent to the signed LKPP reply address",
                                                   "Mohon transfer biaya"), NOW, POLICY)
    assert [r.kind for r in records(d)] == ["lkpp_unverified"]
    assert d.mails()[0].context["answer"] == "Mohon transfer biaya"
    assert all(m.to != "user" for m in d.mails())


def test_lkpp_close_is_marked_as_lkpp_and_its_number_kept() -> None:
    d = decide(ticket(S.ESCALATED), LkppReplied(OFFICER, parse_staff_reply("#tutup\nOK"), "signed", "4711"),
               NOW, POLICY)
    replied, closed = [r for r in records(d) if r.kind in {"lkpp_replied", "closed"}]
    assert replied.data["lkpp_number"] == "4711"
    assert closed.data["by_lkpp"] is True and d.closed_by == OFFICER


def test_a_reopen_after_lkpp_closed_never_assigns_lkpp() -> None:
    d = decide(ticket(S.CLOSED, closed_by=OFFICER, closed_at=NOW, closed_by_lkpp=True),
               UserReplied("u@vendor.test", "masih error"), NOW, POLICY)
    assert not [e for e in d.effects if isinstance(e, Assign)]
    assert all(m.to not in {"closer", "assignee"} or m.template == "staff_reopened" for m in d.mails())
    assert d.mails()[1].context["answer"] == "masih error"


def test_lkpp_data_request_is_relayed_with_its_items_and_recorded_as_asked() -> None:
    d = decide(ticket(S.ESCALATED), LkppReplied(OFFICER, parse_staff_reply("#mintadata kode tender; log\nMohon.")),
               NOW, POLICY)
    ask = d.mails()[0]
    assert ask.context == {"requested": ["kode tender", "log"], "answer": "Mohon.", "by_lkpp": True}
    [replied] = records(d)
    assert replied.kind == "lkpp_replied" and replied.data["asked"] == ["kode tender", "log"]
    assert "data_requested" not in [r.kind for r in records(d)]  # the LPSE waiting clocks stay off


def test_an_lkpp_answer_that_is_only_a_file_still_reaches_the_user() -> None:
    d = decide(ticket(S.ESCALATED), LkppReplied(OFFICER, parse_staff_reply(""), files=("panduan.pdf",)), NOW, POLICY)
    assert mails(d) == [("user", "lkpp_answer"), ("staff", "staff_lkpp_reply")]
    empty = decide(ticket(S.ESCALATED), LkppReplied(OFFICER, parse_staff_reply("")), NOW, POLICY)
    assert mails(empty) == [("staff", "staff_lkpp_reply")]  # nothing to relay: staff see it only
