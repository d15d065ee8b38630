"""The SOP state machine, as tables: every (state, event) pair has an expected outcome."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailbot.core.commands import Command, CommandKind, StaffReply, parse_staff_reply
from mailbot.core.domain import Classification, MissingItem, TicketState
from mailbot.core.workflow import (
    Assign,
    AutoCloseDue,
    LkppReplied,
    MergeInto,
    MergeTarget,
    OpenFollowUp,
    Policy,
    Record,
    ReminderDue,
    SetMissing,
    SetPriority,
    SlaNoticeDue,
    StaffReplied,
    StaffUnverified,
    TicketView,
    UserOpened,
    UserReplied,
    decide,
    notice_recipient,
)

S = TicketState
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
POLICY = Policy(reopen_window=timedelta(days=7))
STAFF = "staff1@lpse.test"
STORED_STATES = [S.WAITING_USER, S.ANALYSIS, S.ESCALATED, S.CLOSED]


def ticket(state: TicketState, **kw: object) -> TicketView:
    defaults: dict[str, object] = {"priority": "sedang"}
    if state is S.CLOSED:
        defaults.update(closed_by=STAFF, closed_at=NOW - timedelta(days=1))
    defaults.update(kw)
    return TicketView(state=state, **defaults)  # type: ignore[arg-type]


def staff(text: str) -> StaffReplied:
    return StaffReplied(STAFF, parse_staff_reply(text))


def mails(decision) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(m.to, m.template) for m in decision.mails()]


def kinds(decision) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.kind for e in decision.effects if isinstance(e, Record)]


# ---- opening (SOP steps 1-4) ----------------------------------------------------------------


def test_complete_mail_opens_in_analysis_with_ack_and_staff_notice() -> None:
    c = Classification("akun_login", "Login", "sedang", True)
    d = decide(None, UserOpened("u@vendor.test", c), NOW, POLICY)
    assert d.state is S.ANALYSIS
    assert mails(d) == [("user", "ack"), ("staff", "staff_new")]
    assert kinds(d)[:2] == ["received", "priority_set"]
    assert SetPriority("sedang") in d.effects


def test_missing_data_waits_for_user_and_makes_a_call_task() -> None:
    item = MissingItem("kode_tender", "Kode tender", "12345678")
    c = Classification("tender_upload", "Upload", "tinggi", True, missing=(item,), phone="081234567890")
    d = decide(None, UserOpened("u@vendor.test", c), NOW, POLICY)
    assert d.state is S.WAITING_USER
    # One mail to the user: the acknowledgment carries the data request (issue 21 item 6).
    assert mails(d) == [("user", "ack"), ("staff", "staff_new")]
    assert d.mails()[0].context["items"] == (item,)
    call = [e for e in d.effects if isinstance(e, Record) and e.kind == "call_task"]
    assert call and call[0].sop_step == 4 and call[0].data["phone"] == "081234567890"


# ---- user replies ----------------------------------------------------------------------------

USER_REPLY = {
    # state -> (new state, mails)
    # staff asked in words (no item keys): any reply completes the request, and the user is told
    S.WAITING_USER: (S.ANALYSIS, [("user", "data_complete"), ("staff", "staff_user_reply")]),
    S.ANALYSIS: (S.ANALYSIS, [("staff", "staff_user_reply")]),
    S.ESCALATED: (S.ESCALATED, [("lkpp", "lkpp_user_update"), ("staff", "staff_user_reply")]),
    S.CLOSED: (S.ANALYSIS, [("user", "reopened"), ("closer", "staff_reopened")]),
}


@pytest.mark.parametrize("state", STORED_STATES)
def test_user_reply_in_every_state(state: TicketState) -> None:
    d = decide(ticket(state), UserReplied("u@vendor.test"), NOW, POLICY)
    assert (d.state, mails(d)) == USER_REPLY[state]


def test_data_received_is_sop_step_6() -> None:
    d = decide(ticket(S.WAITING_USER, missing=("kode_tender",)),
               UserReplied("u@vendor.test", arrived=("kode_tender",)), NOW, POLICY)
    assert [e.sop_step for e in d.effects if isinstance(e, Record) and e.kind == "data_received"] == [6]


# Steps 5-6 on what arrived: (missing before, arrived) -> (state, still missing, mails, data_received?)
DATA_REPLY = {
    "nothing arrived": (("kode_tender", "user_id"), (),
                        S.WAITING_USER, None, [("user", "still_missing"), ("staff", "staff_user_reply")], False),
    "part arrived": (("kode_tender", "user_id"), ("user_id",),
                     S.WAITING_USER, ("kode_tender",), [("user", "still_missing"), ("staff", "staff_user_reply")],
                     False),
    "all arrived": (("kode_tender", "user_id"), ("user_id", "kode_tender"),
                    S.ANALYSIS, (), [("user", "data_complete"), ("staff", "staff_user_reply")], True),
    "last item arrived": (("kode_tender",), ("kode_tender", "browser"),
                          S.ANALYSIS, (), [("user", "data_complete"), ("staff", "staff_user_reply")], True),
    "unrequested item only": (("kode_tender",), ("browser",),
                              S.WAITING_USER, None, [("user", "still_missing"), ("staff", "staff_user_reply")],
                              False),
    "staff asked in words": ((), (), S.ANALYSIS, (), [("user", "data_complete"), ("staff", "staff_user_reply")],
                             True),
}


@pytest.mark.parametrize("case", list(DATA_REPLY))
def test_a_reply_to_a_data_request_moves_on_only_when_nothing_is_missing(case: str) -> None:
    missing, arrived, state, still, sent, received = DATA_REPLY[case]
    d = decide(ticket(S.WAITING_USER, missing=missing), UserReplied("u@vendor.test", "teks", arrived), NOW, POLICY)
    assert d.state is state
    assert mails(d) == sent
    set_missing = [e.items for e in d.effects if isinstance(e, SetMissing)]
    assert set_missing == ([] if still is None else [still])
    assert ("data_received" in kinds(d)) is received
    assert ("analysis_started" in kinds(d)) is received
    # Which items arrived is recorded, on the reply's event.
    replied = next(e for e in d.effects if isinstance(e, Record) and e.kind == "user_replied")
    assert replied.data["arrived"] == [k for k in missing if k in arrived]
    assert replied.data["still_missing"] == [k for k in missing if k not in arrived]


def test_a_reply_without_the_data_to_an_assigned_ticket_tells_the_assignee() -> None:
    d = decide(ticket(S.WAITING_USER, missing=("user_id",), assignee=STAFF),
               UserReplied("u@vendor.test", "Baik, nanti saya kirim besok"), NOW, POLICY)
    assert mails(d) == [("user", "still_missing"), ("assignee", "staff_user_reply")]


def test_the_user_is_told_once_when_the_data_is_complete() -> None:
    # The ack promised "langsung kami analisis": the reply that completes the data gets one short
    # mail (which items came is its context); a later reply in analysis does not repeat it.
    d = decide(ticket(S.WAITING_USER, missing=("user_id",), assignee=STAFF),
               UserReplied("u@vendor.test", "ini user id saya", ("user_id",)), NOW, POLICY)
    assert mails(d) == [("user", "data_complete"), ("assignee", "staff_user_reply")]
    assert d.mails()[0].context == {"arrived": ["user_id"]}
    again = decide(ticket(S.ANALYSIS, assignee=STAFF), UserReplied("u@vendor.test", "tambahan"), NOW, POLICY)
    assert "data_complete" not in [m.template for m in again.mails()]


def test_reopen_goes_back_to_the_closer() -> None:
    d = decide(ticket(S.CLOSED), UserReplied("u@vendor.test"), NOW, POLICY)
    assert Assign(STAFF) in d.effects


def test_answer_after_the_reopen_window_opens_a_follow_up() -> None:
    old = ticket(S.CLOSED, closed_at=NOW - timedelta(days=8))
    d = decide(old, UserReplied("u@vendor.test"), NOW, POLICY)
    assert d.state is S.CLOSED and d.effects == (OpenFollowUp(),)


def test_reply_to_assigned_ticket_notifies_the_assignee_only() -> None:
    d = decide(ticket(S.ANALYSIS, assignee=STAFF), UserReplied("u@vendor.test"), NOW, POLICY)
    assert mails(d) == [("assignee", "staff_user_reply")]


# ---- staff commands: every (command, state) pair ---------------------------------------------

# command text -> {state: expected new state, or None when refused}
COMMAND_TABLE: dict[str, dict[TicketState, TicketState | None]] = {
    "#tutup\nSudah kami perbaiki.": {S.WAITING_USER: S.CLOSED, S.ANALYSIS: S.CLOSED, S.ESCALATED: S.CLOSED,
                                     S.CLOSED: None},
    "#eskalasi": {S.WAITING_USER: S.ESCALATED, S.ANALYSIS: S.ESCALATED, S.ESCALATED: None, S.CLOSED: None},
    "#mintadata kode tender": {S.WAITING_USER: S.WAITING_USER, S.ANALYSIS: S.WAITING_USER, S.ESCALATED: None,
                               S.CLOSED: None},
    "#prioritas tinggi": {S.WAITING_USER: S.WAITING_USER, S.ANALYSIS: S.ANALYSIS, S.ESCALATED: S.ESCALATED,
                          S.CLOSED: None},
    "#catatan cek log server": {S.WAITING_USER: S.WAITING_USER, S.ANALYSIS: S.ANALYSIS,
                                S.ESCALATED: S.ESCALATED, S.CLOSED: S.CLOSED},
    "#telepon sudah ditelepon": {S.WAITING_USER: S.WAITING_USER, S.ANALYSIS: S.ANALYSIS,
                                 S.ESCALATED: S.ESCALATED, S.CLOSED: None},
    "#ambil": {S.WAITING_USER: S.WAITING_USER, S.ANALYSIS: S.ANALYSIS, S.ESCALATED: S.ESCALATED, S.CLOSED: None},
    "#buka": {S.WAITING_USER: None, S.ANALYSIS: None, S.ESCALATED: None, S.CLOSED: S.ANALYSIS},
    "#jawab 1\nteks jawaban": {S.WAITING_USER: S.WAITING_USER, S.ANALYSIS: S.ANALYSIS, S.ESCALATED: S.ESCALATED,
                               S.CLOSED: None},
    "#tarik sudah kami tangani": {S.WAITING_USER: None, S.ANALYSIS: None, S.ESCALATED: S.ANALYSIS, S.CLOSED: None},
    "#withdraw": {S.WAITING_USER: None, S.ANALYSIS: None, S.ESCALATED: S.ANALYSIS, S.CLOSED: None},
    # ``core.lkpp_message``: staff write to LKPP only while LKPP holds the ticket.
    "#lkpp mohon dicek lagi": {S.WAITING_USER: None, S.ANALYSIS: None, S.ESCALATED: S.ESCALATED, S.CLOSED: None},
    # ``core.team``: #buat opens a ticket from a new mail only; #kirim is the service's (the held
    # answer is decided in its place), so neither is a command on a ticket here.
    "#buat": {S.WAITING_USER: None, S.ANALYSIS: None, S.ESCALATED: None, S.CLOSED: None},
    "#kirim": {S.WAITING_USER: None, S.ANALYSIS: None, S.ESCALATED: None, S.CLOSED: None},
}


# ``#teruskan`` relays the latest unverified mail in LKPP's name: (state, one waiting?) -> new state or None.
RELAY_TABLE: dict[str, dict[TicketState, TicketState | None]] = {
    "#teruskan": {S.WAITING_USER: S.WAITING_USER, S.ANALYSIS: S.ANALYSIS, S.ESCALATED: S.ESCALATED, S.CLOSED: None},
    "#relay": {S.WAITING_USER: S.WAITING_USER, S.ANALYSIS: S.ANALYSIS, S.ESCALATED: S.ESCALATED, S.CLOSED: None},
}


# ``#gabung`` merges this ticket into another open one of the same requester (the service found it).
TARGET = MergeTarget(9, "TTS-000009", S.ANALYSIS, same_requester=True)
MERGE_TABLE: dict[str, dict[TicketState, TicketState | None]] = {
    "#gabung TTS-000009\nSama dengan laporan Anda sebelumnya.": {
        S.WAITING_USER: S.CLOSED, S.ANALYSIS: S.CLOSED, S.ESCALATED: None, S.CLOSED: None},
    "#merge 9": {S.WAITING_USER: S.CLOSED, S.ANALYSIS: S.CLOSED, S.ESCALATED: None, S.CLOSED: None},
}


def event_for(text: str) -> StaffReplied:
    if text in RELAY_TABLE:
        return StaffReplied(STAFF, parse_staff_reply(text), "Jawaban LKPP", 7)
    if text in MERGE_TABLE:
        return StaffReplied(STAFF, parse_staff_reply(text), merge_target=TARGET)
    return staff(text)


@pytest.mark.parametrize("state", STORED_STATES)
@pytest.mark.parametrize("text", [*COMMAND_TABLE, *RELAY_TABLE, *MERGE_TABLE])
def test_every_command_in_every_state(text: str, state: TicketState) -> None:
    expected = {**COMMAND_TABLE, **RELAY_TABLE, **MERGE_TABLE}[text][state]
    event = event_for(text)
    d = decide(ticket(state), event, NOW, POLICY)
    if expected is None:
        assert d.state is state
        assert mails(d) == [("sender", "staff_error")]
        assert kinds(d) == ["command_rejected"]
    else:
        assert d.state is expected
        assert ("sender", "staff_error") not in mails(d)


def test_close_sends_the_answer_with_the_closed_template() -> None:
    d = decide(ticket(S.ANALYSIS), staff("#tutup\nSilakan bersihkan cache browser."), NOW, POLICY)
    assert mails(d) == [("user", "closed")]
    assert d.mails()[0].context["answer"] == "Silakan bersihkan cache browser."
    assert d.closed_by == STAFF
    assert [e.sop_step for e in d.effects if isinstance(e, Record) and e.kind == "closed"] == [9]


def test_escalate_mails_lkpp_and_the_user() -> None:
    d = decide(ticket(S.ANALYSIS), staff("ESCALATE\nMohon bantuan, error server."), NOW, POLICY)
    assert mails(d) == [("lkpp", "escalation"), ("user", "escalated")]
    assert d.mails()[0].context["note"] == "Mohon bantuan, error server."


def test_note_is_never_sent_to_the_user() -> None:
    d = decide(ticket(S.ANALYSIS), staff("#catatan\nuser sudah ditelepon, menunggu"), NOW, POLICY)
    assert mails(d) == []
    notes = [e for e in d.effects if isinstance(e, Record) and e.kind == "note"]
    assert notes[0].detail == "user sudah ditelepon, menunggu"


def test_priority_override_is_recorded_with_who_and_why() -> None:
    d = decide(ticket(S.ANALYSIS), staff("#priority high batas penawaran hari ini"), NOW, POLICY)
    override = [e for e in d.effects if isinstance(e, Record) and e.kind == "priority_override"][0]
    assert SetPriority("tinggi") in d.effects
    assert override.data == {"from": "sedang", "to": "tinggi", "reason": "batas penawaran hari ini"}
    assert STAFF in override.detail


def test_plain_staff_answer_goes_to_the_user_and_keeps_state() -> None:
    d = decide(ticket(S.ANALYSIS), staff("Mohon coba lagi dengan browser Chrome."), NOW, POLICY)
    assert d.state is S.ANALYSIS and mails(d) == [("user", "staff_answer")]


def test_unknown_keyword_changes_nothing() -> None:
    d = decide(ticket(S.ANALYSIS), staff("#hapus\n#tutup"), NOW, POLICY)
    assert d.state is S.ANALYSIS
    assert mails(d) == [("sender", "staff_error")]
    assert "hapus" in d.mails()[0].context["errors"][0]  # type: ignore[index]


def test_combined_commands_run_in_order() -> None:
    d = decide(ticket(S.ANALYSIS), staff("#ambil\n#prioritas rendah\n#tutup\nSudah beres."), NOW, POLICY)
    assert d.state is S.CLOSED
    assert Assign(STAFF) in d.effects and SetPriority("rendah") in d.effects
    assert mails(d) == [("user", "closed")]


@pytest.mark.parametrize("text", ["#tutup\n#jawab 1\nBerikut panduannya.", "#jawab 1\n#tutup\nBerikut panduannya.",
                                  "Tutup\n#ambil\n#prioritas rendah\nBerikut panduannya."])
def test_close_written_first_still_sends_the_answer_and_closes(text: str) -> None:
    # The notification lists #tutup first: staff write it first as often as last.
    d = decide(ticket(S.ANALYSIS), staff(text), NOW, POLICY)
    assert d.state is S.CLOSED
    assert mails(d) == [("user", "closed")]
    assert d.mails()[0].context["answer"] == "Berikut panduannya."
    assert kinds(d)[-1] == "closed"


def test_a_command_refused_after_an_earlier_line_names_that_line() -> None:
    # The ticket is still in analysis: "saat tiket ditutup" would contradict the state the mail names.
    d = decide(ticket(S.ANALYSIS), staff("#tutup\n#eskalasi"), NOW, POLICY)
    assert d.state is S.ANALYSIS and mails(d) == [("sender", "staff_error")]
    assert d.mails()[0].context["errors"] == [  # type: ignore[index]
        "'#eskalasi' tidak bisa dipakai setelah '#tutup' (tiket menjadi ditutup)"]


def test_reopen_and_close_keep_the_order_written() -> None:
    assert decide(ticket(S.CLOSED), staff("#buka\n#tutup\nSudah."), NOW, POLICY).state is S.CLOSED
    assert decide(ticket(S.CLOSED), staff("#tutup\n#buka"), NOW, POLICY).state is S.CLOSED  # refused


def test_merge_closes_the_duplicate_into_the_other_ticket_and_tells_the_user() -> None:
    d = decide(ticket(S.WAITING_USER), event_for("#gabung TTS-000009\nSama dengan laporan Anda sebelumnya."), NOW,
               POLICY)
    assert d.state is S.CLOSED and d.closed_by == STAFF
    assert MergeInto(9, "TTS-000009") in d.effects
    assert mails(d) == [("user", "merged")]
    assert d.mails()[0].context == {"into": "TTS-000009", "answer": "Sama dengan laporan Anda sebelumnya."}
    [record] = [e for e in d.effects if isinstance(e, Record)]
    assert (record.kind, record.sop_step) == ("merged", 9)
    assert record.data == {"into": "TTS-000009", "into_id": 9, "from_state": "waiting_user"}


@pytest.mark.parametrize(("target", "why"), [
    (None, "tiket nomor 9 tidak ada di helpdesk ini"),
    (MergeTarget(3, "TTS-000003", S.ANALYSIS, True, same_ticket=True), "tidak bisa digabung ke dirinya sendiri"),
    (MergeTarget(9, "TTS-000009", S.CLOSED, True), "TTS-000009 sudah ditutup"),
    (MergeTarget(9, "TTS-000009", S.ANALYSIS, False), "dari pelapor lain"),
])
def test_merge_is_refused_without_a_fitting_target(target: MergeTarget | None, why: str) -> None:
    d = decide(ticket(S.ANALYSIS), StaffReplied(STAFF, parse_staff_reply("#gabung 9"), merge_target=target), NOW,
               POLICY)
    assert d.state is S.ANALYSIS and mails(d) == [("sender", "staff_error")]
    assert why in d.mails()[0].context["errors"][0]  # type: ignore[index]
    assert not any(isinstance(e, MergeInto) for e in d.effects)


def test_take_with_a_colleague_assigns_the_colleague() -> None:
    """The console's "tugaskan": ``#ambil`` with an address (built by the console; by mail it takes no argument)."""
    take = Command(CommandKind.TAKE, "rekan@lpse.test", "#ambil rekan@lpse.test")
    d = decide(ticket(S.ANALYSIS), StaffReplied(STAFF, StaffReply((take,), (), "")), NOW, POLICY)
    assert d.state is S.ANALYSIS and Assign("rekan@lpse.test") in d.effects and not d.mails()
    [record] = [e for e in d.effects if isinstance(e, Record)]
    assert record.detail == f"assigned to rekan@lpse.test by {STAFF}" and record.data["by"] == STAFF


def test_every_command_kind_has_its_row_in_the_tables() -> None:
    kinds = {parse_staff_reply(text).commands[0].kind for text in [*COMMAND_TABLE, *RELAY_TABLE, *MERGE_TABLE]}
    assert kinds == set(CommandKind)


# LKPP's proven mail in every state: (text, state) -> (new state, mails). LKPP's keywords count only while
# it holds the ticket; otherwise its text is passed on as an answer and nothing changes.
LKPP_TABLE: dict[str, dict[TicketState, tuple[TicketState, list[tuple[str, str]]]]] = {
    "Silakan kompres berkas.": {s: (s, [("user", "lkpp_answer"), ("staff", "staff_lkpp_reply")])
                                for s in STORED_STATES},
    "#tutup\nSudah beres.": {
        S.ESCALATED: (S.CLOSED, [("user", "closed"), ("staff", "staff_lkpp_reply")]),
        **{s: (s, [("user", "lkpp_answer"), ("staff", "staff_lkpp_reply")])
           for s in (S.WAITING_USER, S.ANALYSIS, S.CLOSED)}},
    "#mintadata kode tender\nMohon dikirim.": {
        S.ESCALATED: (S.ESCALATED, [("user", "need_info"), ("staff", "staff_lkpp_reply")]),
        **{s: (s, [("user", "lkpp_answer"), ("staff", "staff_lkpp_reply")])
           for s in (S.WAITING_USER, S.ANALYSIS, S.CLOSED)}},
}


@pytest.mark.parametrize("state", STORED_STATES)
@pytest.mark.parametrize("text", list(LKPP_TABLE))
def test_every_lkpp_mail_in_every_state(text: str, state: TicketState) -> None:
    d = decide(ticket(state), LkppReplied("o@lkpp.test", parse_staff_reply(text)), NOW, POLICY)
    assert (d.state, mails(d)) == LKPP_TABLE[text][state]


@pytest.mark.parametrize("state", STORED_STATES)
def test_relay_without_an_unverified_mail_is_refused(state: TicketState) -> None:
    d = decide(ticket(state), staff("#teruskan"), NOW, POLICY)
    assert d.state is state and mails(d) == [("sender", "staff_error")]


def test_relay_sends_the_unverified_text_as_lkpp_answer_with_the_staff_intro() -> None:
    d = decide(ticket(S.ESCALATED), StaffReplied(STAFF, parse_staff_reply("#teruskan\nSudah kami konfirmasi."),
                                                 "Silakan kompres berkas.", 42), NOW, POLICY)
    assert mails(d) == [("user", "lkpp_answer")]
    assert d.mails()[0].context == {"answer": "Silakan kompres berkas.", "relay": 42, "intro": "Sudah kami konfirmasi."}
    relayed = [e for e in d.effects if isinstance(e, Record) and e.kind == "lkpp_relayed"]
    assert relayed[0].data == {"by": STAFF, "message": 42}


def test_withdraw_tells_lkpp_and_restarts_the_analysis() -> None:
    d = decide(ticket(S.ESCALATED), staff("#tarik ternyata masalah di sisi LPSE\nMohon coba lagi sekarang."),
               NOW, POLICY)
    assert d.state is S.ANALYSIS
    assert mails(d) == [("lkpp", "lkpp_withdrawn"), ("user", "staff_answer")]
    assert d.mails()[0].context == {"note": "ternyata masalah di sisi LPSE"}
    assert kinds(d) == ["withdrawn", "analysis_started", "staff_answered"]


def test_withdraw_then_close_in_one_reply_does_not_tell_lkpp_twice() -> None:
    d = decide(ticket(S.ESCALATED), staff("#tarik\n#tutup\nSudah selesai."), NOW, POLICY)
    assert d.state is S.CLOSED
    assert mails(d) == [("lkpp", "lkpp_withdrawn"), ("user", "closed")]


# ---- LKPP replies ----------------------------------------------------------------------------


def test_lkpp_answer_is_relayed_to_user_and_staff() -> None:
    d = decide(ticket(S.ESCALATED), LkppReplied("helpdesk@lkpp.test", parse_staff_reply("Sudah kami reset.")),
               NOW, POLICY)
    assert d.state is S.ESCALATED
    assert mails(d) == [("user", "lkpp_answer"), ("staff", "staff_lkpp_reply")]


def test_lkpp_close_sends_closed_template() -> None:
    reply = parse_staff_reply("#tutup\nMasalah server sudah diperbaiki.")
    d = decide(ticket(S.ESCALATED), LkppReplied("helpdesk@lkpp.test", reply), NOW, POLICY)
    assert d.state is S.CLOSED
    assert mails(d) == [("user", "closed"), ("staff", "staff_lkpp_reply")]
    assert d.mails()[0].context["answer"] == "Masalah server sudah diperbaiki."


# ---- staff mail without proof ----------------------------------------------------------------

# (warnings already sent this hour, cap) -> (mails, the "capped" context, recorded detail ends with)
UNVERIFIED = {
    (0, 3): ([("sender", "staff_unverified")], 0, "no command run"),
    (1, 3): ([("sender", "staff_unverified")], 0, "no command run"),
    (2, 3): ([("sender", "staff_unverified")], 3, "no command run"),  # the last one says there is a cap
    (3, 3): ([], None, "sender not warned again (hourly cap)"),
    (7, 3): ([], None, "sender not warned again (hourly cap)"),
}


@pytest.mark.parametrize("state", STORED_STATES)
@pytest.mark.parametrize("warned", list(UNVERIFIED), ids=lambda w: f"{w[0]}of{w[1]}")
def test_unverified_staff_mail_changes_nothing_and_warns_under_the_cap(state: TicketState,
                                                                       warned: tuple[int, int]) -> None:
    expected_mails, capped, detail_end = UNVERIFIED[warned]
    d = decide(ticket(state), StaffUnverified(STAFF, "no DKIM pass", *warned), NOW, POLICY)
    assert d.state is state and d.closed_by is None
    assert kinds(d) == ["command_unverified"]
    record = d.effects[0]
    assert isinstance(record, Record) and record.detail.endswith(detail_end) and "no DKIM pass" in record.detail
    assert mails(d) == expected_mails
    if capped is not None:
        assert d.mails()[0].context == {"capped": capped}


# ---- the clock: SLA notices, the reminder, the auto-close --------------------------------------


def notice(breach: bool, warn_to: str = "assignee") -> SlaNoticeDue:
    return SlaNoticeDue(breach=breach, clock="analysis", key="analysis/x/75", percent=100 if breach else 75, step=7,
                        label="Analisis (langkah 7)", deadline="03-03-2026 09:00 WIB", recipients=(STAFF,),
                        sla={"clock": "analysis", "percent": 75}, warn_to=warn_to)  # type: ignore[arg-type]


WAITING = {"since": "02-03-2026 09:00 WIB", "reminded": "", "autoclose": "09-03-2026 10:00 WIB"}
REMINDER = ReminderDue("waiting/x/reminder", ("Kode tender",), WAITING)
AUTOCLOSE = AutoCloseDue("waiting/x/autoclose", 3, ("Kode tender",), WAITING)
# LKPP asked the user for data (the ticket stays escalated): the same reminder and auto-close, LKPP told.
LKPP_REMINDER = ReminderDue("waiting/y/reminder", ("nomor BAST",), WAITING, by_lkpp=True)
LKPP_AUTOCLOSE = AutoCloseDue("waiting/y/autoclose", 3, ("nomor BAST",), WAITING, by_lkpp=True)

def lkpp_notice(breach: bool) -> SlaNoticeDue:
    return SlaNoticeDue(breach=breach, clock="lkpp_turnaround", key="lkpp_turnaround@x:75", percent=100 if breach
                        else 75, step=10, label="Tanggapan Helpdesk LKPP (langkah 10)", deadline="03-03-2026 09:00 WIB",
                        recipients=("l@lkpp.test",), sla={"clock": "lkpp_turnaround"})


# (event, state) -> (new state, mails, records); a state the event is not due in changes nothing.
CLOCK_TABLE = {
    "LKPP reminder": (lkpp_notice(False), {
        S.WAITING_USER: (S.WAITING_USER, [], []),
        S.ANALYSIS: (S.ANALYSIS, [], []),
        S.ESCALATED: (S.ESCALATED, [("lkpp", "lkpp_reminder")], ["sla_warning"]),
        S.CLOSED: (S.CLOSED, [], []),
    }),
    "LKPP breach": (lkpp_notice(True), {
        S.WAITING_USER: (S.WAITING_USER, [], []),
        S.ANALYSIS: (S.ANALYSIS, [], []),
        S.ESCALATED: (S.ESCALATED, [("coordinator", "staff_sla_breach")], ["sla_breach"]),
        S.CLOSED: (S.CLOSED, [], []),
    }),
    "warning": (notice(False), {
        S.WAITING_USER: (S.WAITING_USER, [("assignee", "staff_sla_warning")], ["sla_warning"]),
        S.ANALYSIS: (S.ANALYSIS, [("assignee", "staff_sla_warning")], ["sla_warning"]),
        S.ESCALATED: (S.ESCALATED, [("assignee", "staff_sla_warning")], ["sla_warning"]),
        S.CLOSED: (S.CLOSED, [], []),
    }),
    "warning to all staff": (notice(False, "staff"), {
        S.WAITING_USER: (S.WAITING_USER, [("staff", "staff_sla_warning")], ["sla_warning"]),
        S.ANALYSIS: (S.ANALYSIS, [("staff", "staff_sla_warning")], ["sla_warning"]),
        S.ESCALATED: (S.ESCALATED, [("staff", "staff_sla_warning")], ["sla_warning"]),
        S.CLOSED: (S.CLOSED, [], []),
    }),
    "breach": (notice(True), {
        S.WAITING_USER: (S.WAITING_USER, [("coordinator", "staff_sla_breach")], ["sla_breach"]),
        S.ANALYSIS: (S.ANALYSIS, [("coordinator", "staff_sla_breach")], ["sla_breach"]),
        S.ESCALATED: (S.ESCALATED, [("coordinator", "staff_sla_breach")], ["sla_breach"]),
        S.CLOSED: (S.CLOSED, [], []),
    }),
    "reminder": (REMINDER, {
        S.WAITING_USER: (S.WAITING_USER, [("user", "reminder")], ["reminder_sent"]),
        S.ANALYSIS: (S.ANALYSIS, [], []),
        S.ESCALATED: (S.ESCALATED, [], []),
        S.CLOSED: (S.CLOSED, [], []),
    }),
    "autoclose": (AUTOCLOSE, {
        S.WAITING_USER: (S.CLOSED, [("user", "autoclosed")], ["closed"]),
        S.ANALYSIS: (S.ANALYSIS, [], []),
        S.ESCALATED: (S.ESCALATED, [], []),
        S.CLOSED: (S.CLOSED, [], []),
    }),
    "reminder of LKPP's request": (LKPP_REMINDER, {
        S.WAITING_USER: (S.WAITING_USER, [], []),
        S.ANALYSIS: (S.ANALYSIS, [], []),
        S.ESCALATED: (S.ESCALATED, [("user", "reminder")], ["reminder_sent"]),
        S.CLOSED: (S.CLOSED, [], []),
    }),
    "autoclose of LKPP's request": (LKPP_AUTOCLOSE, {
        S.WAITING_USER: (S.WAITING_USER, [], []),
        S.ANALYSIS: (S.ANALYSIS, [], []),
        S.ESCALATED: (S.CLOSED, [("user", "autoclosed"), ("lkpp", "lkpp_closed")], ["closed"]),
        S.CLOSED: (S.CLOSED, [], []),
    }),
}


@pytest.mark.parametrize("state", STORED_STATES)
@pytest.mark.parametrize("name", list(CLOCK_TABLE))
def test_every_clock_event_in_every_state(name: str, state: TicketState) -> None:
    event, table = CLOCK_TABLE[name]
    d = decide(ticket(state), event, NOW, POLICY)
    assert (d.state, mails(d), kinds(d)) == table[state]
    assert d.closed_by is None  # the clock never becomes the closer: a reply reopens for all staff


def test_a_notice_records_its_clock_key_and_recipients() -> None:
    d = decide(ticket(S.ANALYSIS), notice(False), NOW, POLICY)
    record = d.effects[0]
    assert isinstance(record, Record) and record.sop_step == 7
    assert record.data == {"clock": "analysis", "percent": 75, "key": "analysis/x/75", "to": [STAFF]}
    assert record.detail == "Analisis (langkah 7): 75% of the standard used, deadline 03-03-2026 09:00 WIB"
    assert d.mails()[0].context == {"sla": {"clock": "analysis", "percent": 75}}
    breach = decide(ticket(S.ANALYSIS), notice(True), NOW, POLICY).effects[0]
    assert isinstance(breach, Record) and breach.detail.endswith("passed; coordinator told")


@pytest.mark.parametrize(("breach", "warn_to", "to"), [
    (True, "assignee", "coordinator"), (True, "staff", "coordinator"),
    (False, "assignee", "assignee"), (False, "staff", "staff"),
])
def test_notice_recipient(breach: bool, warn_to: str, to: str) -> None:
    assert notice_recipient(breach, warn_to) == to


def test_the_reminder_records_what_was_asked_and_tells_when_it_closes() -> None:
    d = decide(ticket(S.WAITING_USER), REMINDER, NOW, POLICY)
    record = d.effects[0]
    assert isinstance(record, Record) and record.sop_step == 4
    assert record.data == {"key": "waiting/x/reminder", "items": ["Kode tender"]}
    assert d.mails()[0].context == {"sla": WAITING, "requested": ["Kode tender"]}


def test_the_auto_close_is_marked_automatic_with_the_state_it_closed() -> None:
    d = decide(ticket(S.WAITING_USER), AUTOCLOSE, NOW, POLICY)
    record = d.effects[0]
    assert isinstance(record, Record) and record.sop_step == 9
    assert record.data == {"auto": True, "from_state": "waiting_user", "key": "waiting/x/autoclose"}
    assert "3 working day(s)" in record.detail
    assert d.mails()[0].context == {"sla": WAITING, "requested": ["Kode tender"]}
