"""After LKPP answers without closing, the LPSE helpdesk owes a decision by a deadline (core.lkpp_decision).

Pure core on scripted events. Calendar: WIB, Monday-Friday 08:00-16:00; the default 8 working hours.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailbot.core import lkpp_decision, sla
from mailbot.core.domain import TicketState
from mailbot.core.lkpp_decision import DecisionDue, answer_awaiting_decision, due_from_columns
from mailbot.core.sla import SlaPolicy, evaluate
from mailbot.core.workflow import Policy, TicketView, decide
from mailbot.core.worktime import WorkCalendar
from mailbot.mail.render import Renderer, sample_context
from tests.support.sla_events import Ev, opened, wib

CAL = WorkCalendar()
MON = wib(2026, 3, 2, 9, 0)  # Monday 2 March 2026 09:00 WIB
ESCALATED = opened(MON) + [Ev("escalated", wib(2026, 3, 2, 11, 0), 10)]
ANSWER_AT = wib(2026, 3, 3, 10, 0)  # Tuesday 10:00
ANSWERED = ESCALATED + [Ev("lkpp_replied", ANSWER_AT)]
DUE = wib(2026, 3, 4, 10, 0)  # 8 working hours later: Tue 10-16 (6 h) + Wed 08-10 (2 h)


def status(events: list[Ev], now: object, *, state: str = "escalated", sent: set[str] | None = None,
           policy: SlaPolicy | None = None) -> sla.SlaStatus:
    return evaluate(events, state=state, resolution_hours=24, policy=policy or SlaPolicy(), calendar=CAL,
                    now=now, sent=sent or set())  # type: ignore[arg-type]


def test_an_lkpp_answer_starts_a_decision_deadline_of_eight_working_hours() -> None:
    st = status(ANSWERED, ANSWER_AT)
    assert st.decision is not None and st.decision.since == ANSWER_AT and st.decision.due_at == DUE
    assert st.actions == () and st.next_at == DUE  # the tick looks again at the deadline
    assert st.clock("lkpp_turnaround") is None  # LKPP owes nothing any more


def test_the_reminder_is_due_once_at_the_deadline() -> None:
    assert status(ANSWERED, DUE - timedelta(minutes=1)).actions == ()
    due = status(ANSWERED, DUE).actions
    assert [(a.kind, a.clock, a.due_since) for a in due] == [("decision", lkpp_decision.CLOCK, DUE)]
    after = status(ANSWERED, wib(2026, 3, 9, 9, 0), sent={due[0].key})
    assert after.actions == () and after.next_at is None  # one reminder per answer, nothing else pending


def test_the_deadline_is_configurable_and_zero_turns_it_off() -> None:
    two = status(ANSWERED, ANSWER_AT, policy=SlaPolicy(decision_hours=2))
    assert two.decision is not None and two.decision.due_at == wib(2026, 3, 3, 12, 0)
    off = status(ANSWERED, wib(2026, 3, 9, 9, 0), policy=SlaPolicy(decision_hours=0))
    assert off.decision is None and off.actions == ()


@pytest.mark.parametrize("kind", ["closed", "withdrawn", "user_replied", "user_solved", "staff_answered", "note",
                                  "called", "reopened"])
def test_whatever_acts_on_the_answer_clears_the_wait(kind: str) -> None:
    events = ANSWERED + [Ev(kind, wib(2026, 3, 3, 11, 0))]
    assert answer_awaiting_decision(events) is None
    assert status(events, wib(2026, 3, 9, 9, 0)).actions == ()


def test_lkpp_asking_for_data_is_no_answer_to_decide_on() -> None:
    asked = ESCALATED + [Ev("lkpp_replied", ANSWER_AT, data={"asked": ["kode tender"]})]
    st = status(asked, wib(2026, 3, 9, 9, 0))
    assert st.decision is None and all(a.kind != "decision" for a in st.actions)


def test_a_further_lkpp_answer_starts_a_new_wait_with_its_own_reminder() -> None:
    first = status(ANSWERED, DUE).actions[0]
    later = ANSWERED + [Ev("lkpp_replied", wib(2026, 3, 4, 9, 0))]
    st = status(later, wib(2026, 3, 5, 9, 0), sent={first.key})
    assert st.decision is not None and st.decision.due_at == wib(2026, 3, 5, 9, 0)
    assert [a.kind for a in st.actions] == ["decision"] and st.actions[0].key != first.key


@pytest.mark.parametrize("state", ["analysis", "closed", "waiting_user"])
def test_only_an_escalated_ticket_waits_for_the_decision(state: str) -> None:
    assert status(ANSWERED, wib(2026, 3, 9, 9, 0), state=state).decision is None


def test_the_queue_reads_the_deadline_from_the_stored_columns() -> None:
    assert due_from_columns("escalated", DUE, None) == DUE
    assert due_from_columns("escalated", DUE, DUE) is None  # LKPP's own turnaround runs
    assert due_from_columns("analysis", DUE, None) is None
    assert due_from_columns("escalated", None, None) is None


def event(warn_to: str = "assignee") -> DecisionDue:
    return DecisionDue("lkpp_decision@x:reminder", "03-03-2026 10:00", "04-03-2026 10:00", warn_to)


def test_the_reminder_goes_to_the_assignee_and_says_what_to_do() -> None:
    view = TicketView(TicketState.ESCALATED, "sedang", assignee="andi@lpse.test")
    decision = decide(view, event(), DUE, Policy())
    assert decision.state is TicketState.ESCALATED
    record, mail = decision.effects
    assert record.kind == "sla_warning" and record.data["clock"] == lkpp_decision.CLOCK  # type: ignore[union-attr]
    assert (mail.to, mail.template) == ("assignee", "staff_lkpp_decision")  # type: ignore[union-attr]
    assert mail.context["sla"]["deadline"] == "04-03-2026 10:00"  # type: ignore[union-attr,index]


@pytest.mark.parametrize(("assignee", "warn_to"), [(None, "assignee"), ("andi@lpse.test", "staff")])
def test_without_an_assignee_or_by_config_all_staff_are_reminded(assignee: str | None, warn_to: str) -> None:
    decision = decide(TicketView(TicketState.ESCALATED, "sedang", assignee=assignee), event(warn_to), DUE, Policy())
    assert [m.to for m in decision.mails()] == ["staff"]


@pytest.mark.parametrize("state", [TicketState.CLOSED, TicketState.ANALYSIS])
def test_a_ticket_that_moved_on_before_the_tick_gets_no_reminder(state: TicketState) -> None:
    assert decide(TicketView(state, "sedang", assignee="andi@lpse.test"), event(), DUE, Policy()).effects == ()


def test_the_reminder_mail_names_the_deadline_and_both_ways_forward() -> None:
    context = sample_context()
    context["sla"] = {"since": "03-03-2026 10:00", "deadline": "04-03-2026 10:00", "label": lkpp_decision.LABEL}
    r = Renderer().render("staff_lkpp_decision", context)
    assert "TTS-000001" in r.subject and "Perlu keputusan" in r.subject
    assert "03-03-2026 10:00" in r.text and "batas waktu 04-03-2026 10:00" in r.text
    assert lkpp_decision.STATUS_TEXT in r.text
    assert "#tutup" in r.text and "#catatan" in r.text and "tanyakan lagi ke Helpdesk LKPP" in r.text
