"""``#lkpp <pesan>``: staff write to LKPP on an escalated ticket (``core.lkpp_message``), as tables.

Parsing (the keyword, its text, typos and look-alikes), the decision in every state (sent to LKPP
only while LKPP holds the ticket, never to the user), and what it does to LKPP's clocks.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailbot.core import lkpp_decision, sla
from mailbot.core.commands import USAGE, CommandKind, parse_staff_reply
from mailbot.core.domain import Event, EventKind, TicketState
from mailbot.core.kronologi import kronologi
from mailbot.core.team import with_copies
from mailbot.core.workflow import Policy, Record, SendMail, StaffReplied, TicketView, decide
from mailbot.core.worktime import WorkCalendar

S = TicketState
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc)  # Monday 10:00 WIB
STAFF = "staf1@lpse.test"


def view(state: TicketState, **kw: object) -> TicketView:
    return TicketView(state=state, priority="sedang", **kw)  # type: ignore[arg-type]


def staff(text: str, files: tuple[str, ...] = ()) -> StaffReplied:
    return StaffReplied(STAFF, parse_staff_reply(text), files=files)


# ---- parsing ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "arg", "body"), [
    ("#lkpp mohon dicek ulang log server", "mohon dicek ulang log server", ""),
    ("#LKPP: mohon dicek ulang\nKode tender 10234567 dari telepon pelapor.", "mohon dicek ulang",
     "Kode tender 10234567 dari telepon pelapor."),
    ("#lkpp\nPelapor menelepon: NPWP 01.234.567.8-901.000", "", "Pelapor menelepon: NPWP 01.234.567.8-901.000"),
    ("  # lkpp   ada tambahan  ", "ada tambahan", ""),
])
def test_the_keyword_and_its_text(text: str, arg: str, body: str) -> None:
    reply = parse_staff_reply(text)
    [command] = reply.commands
    assert command.kind is CommandKind.TO_LKPP and command.arg == arg and reply.body == body
    assert not reply.errors


@pytest.mark.parametrize("text", [
    "LKPP\nsudah menjawab, silakan coba lagi.",  # an answer that starts with the word alone on a line
    "lkpp sudah kami hubungi, mohon ditunggu.",
    "LKPP: mohon ditunggu jawabannya.",
])
def test_the_word_without_hash_is_an_answer(text: str) -> None:
    reply = parse_staff_reply(text)
    assert not reply.commands and not reply.errors and reply.body == text


@pytest.mark.parametrize(("text", "meant"), [
    ("#lkp mohon dicek", "#lkpp"), ("#lkppp mohon dicek", "#lkpp"), ("#tanyalkpp mohon dicek", "#lkpp"),
    ("#kelkpp data dari telepon", "#lkpp"), ("#tolkpp please check", "#lkpp"),
    ("#teruskanlkpp", "#eskalasi"),  # forwarding the ticket to LKPP stays the escalation
])
def test_typos_and_look_alikes_name_the_command_meant(text: str, meant: str) -> None:
    [error] = parse_staff_reply(text).errors
    assert error.message.endswith(f"maksud Anda {meant}?")


def test_the_keyword_below_the_answer_is_refused_not_sent() -> None:
    reply = parse_staff_reply("Terima kasih, kami teruskan.\n#lkpp mohon dicek")
    assert not reply.commands and reply.errors and "baris paling atas" in reply.errors[0].message


def test_the_keyword_is_in_the_list_staff_see_in_every_notification() -> None:
    assert USAGE[CommandKind.TO_LKPP] == "#lkpp <pesan>"


# ---- the decision -----------------------------------------------------------------------------

def test_on_an_escalated_ticket_the_text_goes_to_lkpp_only_and_is_recorded() -> None:
    d = decide(view(S.ESCALATED), staff("#lkpp mohon dicek ulang\nKode tender 10234567.", ("bukti.pdf",)), NOW,
               Policy())
    assert d.state is S.ESCALATED
    [mail] = d.mails()
    assert (mail.to, mail.template) == ("lkpp", "lkpp_message")
    assert mail.context == {"staff_message": "mohon dicek ulang\n\nKode tender 10234567.", "files": ["bukti.pdf"]}
    [record] = [e for e in d.effects if isinstance(e, Record)]
    assert record.kind is EventKind.LKPP_MESSAGED and record.sop_step == 10
    assert record.data == {"by": STAFF, "message": "mohon dicek ulang\n\nKode tender 10234567.",
                           "files": ["bukti.pdf"]}
    assert STAFF in record.detail and "Kode tender 10234567." in record.detail and "bukti.pdf" in record.detail


def test_files_alone_are_a_message() -> None:
    d = decide(view(S.ESCALATED), staff("#lkpp", ("tangkapan-layar.png",)), NOW, Policy())
    assert [(m.to, m.template) for m in d.mails()] == [("lkpp", "lkpp_message")]


def test_an_empty_message_is_refused() -> None:
    d = decide(view(S.ESCALATED), staff("#lkpp"), NOW, Policy())
    assert d.state is S.ESCALATED and [(m.to, m.template) for m in d.mails()] == [("sender", "staff_error")]
    assert "tulis pesan untuk LKPP" in d.mails()[0].context["errors"][0]  # type: ignore[index]


@pytest.mark.parametrize(("state", "why"), [
    (S.ANALYSIS, "tidak sedang di LKPP"), (S.WAITING_USER, "tidak sedang di LKPP"), (S.CLOSED, "sudah ditutup"),
])
def test_on_a_ticket_not_at_lkpp_the_sender_is_told_why_and_nothing_is_sent(state: TicketState, why: str) -> None:
    d = decide(view(state, closed_by=STAFF, closed_at=NOW) if state is S.CLOSED else view(state),
               staff("#lkpp mohon dicek\nData dari telepon."), NOW, Policy())
    assert d.state is state
    assert [(m.to, m.template) for m in d.mails()] == [("sender", "staff_error")]
    [error] = d.mails()[0].context["errors"]  # type: ignore[misc]
    assert why in error and "#lkpp mohon dicek" in error
    assert [e.kind for e in d.effects if isinstance(e, Record)] == [EventKind.COMMAND_REJECTED]


def test_after_withdraw_in_the_same_reply_it_is_refused_all_or_nothing() -> None:
    d = decide(view(S.ESCALATED), staff("#tarik\n#lkpp mohon dicek"), NOW, Policy())
    assert d.state is S.ESCALATED and [(m.to, m.template) for m in d.mails()] == [("sender", "staff_error")]
    assert "tulis #lkpp sebelum" in d.mails()[0].context["errors"][0]  # type: ignore[index]


def test_with_other_commands_the_text_stays_lkpps() -> None:
    d = decide(view(S.ESCALATED), staff("#ambil\n#lkpp\nMohon dicek ulang."), NOW, Policy())
    assert [(m.to, m.template) for m in d.mails()] == [("lkpp", "lkpp_message")]
    assert not any(m.to == "user" for m in d.mails())


def test_colleagues_copy_says_lkpp_was_written_to_and_quotes_it() -> None:
    d = with_copies(decide(view(S.ESCALATED), staff("#lkpp\nMohon dicek ulang."), NOW, Policy()), STAFF,
                    "Mohon dicek ulang.")
    copy = next(m for m in d.mails() if m.to == "others")
    assert isinstance(copy, SendMail) and copy.context["team"]["answer"] == "Mohon dicek ulang."  # type: ignore[index]
    assert "mengirim pesan ke LKPP (#lkpp)" in copy.context["team"]["actions"]  # type: ignore[index]


# ---- LKPP's clocks and the story told to LKPP -------------------------------------------------

def ev(kind: str, hours: float, **data: object) -> Event:
    return Event(kind, NOW + timedelta(hours=hours), STAFF, data=dict(data))


CALENDAR = WorkCalendar()


def test_the_helpdesk_decision_after_lkpps_answer_is_no_longer_pending() -> None:
    events = [ev("received", 0), ev("escalated", 1), ev("lkpp_replied", 2)]
    assert lkpp_decision.answer_awaiting_decision(events) is not None
    assert lkpp_decision.answer_awaiting_decision([*events, ev("lkpp_messaged", 3)]) is None


def lkpp_clock_start(events: list[Event]) -> datetime | None:
    clock = next((c for c in sla.clocks(events, state=S.ESCALATED, resolution_hours=None, policy=sla.SlaPolicy(),
                                        calendar=CALENDAR, now=NOW + timedelta(hours=5))
                  if c.name == "lkpp_turnaround"), None)
    return clock.started_at if clock is not None else None


def test_lkpp_owes_an_answer_again_after_staff_wrote_but_an_open_turn_keeps_its_start() -> None:
    answered = [ev("received", 0), ev("escalated", 1), ev("lkpp_replied", 2)]
    assert lkpp_clock_start(answered) is None
    assert lkpp_clock_start([*answered, ev("lkpp_messaged", 3)]) == NOW + timedelta(hours=3)
    # LKPP has not answered yet: a question from staff does not give it more time.
    assert lkpp_clock_start([ev("received", 0), ev("escalated", 1), ev("lkpp_messaged", 3)]) == NOW + timedelta(hours=1)


def test_the_dossier_story_says_staff_wrote_to_lkpp() -> None:
    [row] = kronologi([Event("lkpp_messaged", NOW, STAFF, "message to LKPP", 10, {"by": STAFF})])
    assert row.text == f"Petugas LPSE ({STAFF}) mengirim pesan kepada Helpdesk LKPP"
    assert row.step_name == "Eskalasi ke Helpdesk LKPP"
