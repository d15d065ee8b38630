"""``core.lkpp_officer``: LKPP's helpdesk first, then the officer handling the escalation, never a no-reply box."""

from __future__ import annotations

import pytest

from mailbot.core.lkpp_officer import accepts_mail, recipients

HELPDESK = "helpdesk@lkpp.go.id"


def test_nobody_has_answered_yet_then_the_helpdesk_alone() -> None:
    assert recipients(HELPDESK, None) == [HELPDESK]


def test_the_officer_comes_after_the_helpdesk() -> None:
    assert recipients(HELPDESK, "rina.teknis@lkpp.go.id") == [HELPDESK, "rina.teknis@lkpp.go.id"]


@pytest.mark.parametrize("officer", ["helpdesk@lkpp.go.id", "Helpdesk@LKPP.go.id", " helpdesk@lkpp.go.id "])
def test_the_helpdesk_answering_itself_is_not_written_to_twice(officer: str) -> None:
    assert recipients(HELPDESK, officer) == [HELPDESK]


@pytest.mark.parametrize("address", [
    "noreply@lkpp.go.id", "no-reply@tiket.lkpp.go.id", "No_Reply@lkpp.go.id", "donotreply@lkpp.go.id",
    "do-not-reply@lkpp.go.id", "MAILER-DAEMON@lkpp.go.id", "postmaster@lkpp.go.id", "bounce@lkpp.go.id",
    "bounces+123@lkpp.go.id", "noreply-tiket@lkpp.go.id", "no.reply@lkpp.go.id", "not-an-address", "@lkpp.go.id",
])
def test_no_reply_senders_and_non_addresses_are_never_written_to(address: str) -> None:
    assert not accepts_mail(address)
    assert recipients(HELPDESK, address) == [HELPDESK]


@pytest.mark.parametrize("address", [
    "rina.teknis@lkpp.go.id", "helpdesk.teknis@lkpp.go.id", "replyto@lkpp.go.id", "noreplyhandler2@lkpp.go.id",
    "budi.postmasterson@lkpp.go.id", "eproc@lkpp.go.id",
])
def test_people_and_team_boxes_take_mail(address: str) -> None:
    assert accepts_mail(address)


def test_the_handling_officer_is_the_last_to_answer_since_the_last_escalation() -> None:
    from mailbot.core.lkpp_officer import handling_officer

    assert handling_officer([]) is None
    assert handling_officer([("escalated", "staf@lpse.go.id")]) is None
    events = [("escalated", "staf@lpse.go.id"), ("lkpp_replied", "rina@lkpp.go.id"),
              ("lkpp_replied", "dedi@lkpp.go.id")]
    assert handling_officer(events) == "dedi@lkpp.go.id"
    assert handling_officer([*events, ("escalated", "staf@lpse.go.id")]) is None  # a new escalation: LKPP assigns anew
    assert handling_officer([*events, ("escalated", "staf@lpse.go.id"), ("lkpp_replied", "rina@lkpp.go.id")]) == \
        "rina@lkpp.go.id"
