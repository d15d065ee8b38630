"""A user who says "it works now" on an OPEN ticket (``core.solved``): read from the reply's new text,
then decided (staff told to close, data no longer owed) and shown until something overtakes it.

Both ways: what a helpdesk would call a report that the problem is solved, and what only looks like
one (a half-solution, data sent, a thank-you that still waits, a question, a hedge).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailbot.core import sla
from mailbot.core.domain import TicketState
from mailbot.core.kronologi import kronologi
from mailbot.core.sla import SlaPolicy, evaluate
from mailbot.core.solved import MAX_CHARS, reports_solved, standing_report
from mailbot.core.workflow import Policy, Record, SetMissing, SetPriority, TicketView, UserReplied, decide
from mailbot.core.worktime import WorkCalendar
from tests.support.sla_events import Ev, opened, wib

S = TicketState
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
USER = "budi@vendor.test"

# ---- the text -------------------------------------------------------------------------------

SOLVED = [
    # the brief's own examples
    "sudah bisa pak, terima kasih",
    "alhamdulillah sudah normal",
    "problem solved, thanks",
    "sdh berhasil upload",
    # Indonesian, the ways users write it
    "Sudah bisa login kembali. Terima kasih atas bantuannya.",
    "Selamat siang,\n\nAlhamdulillah sudah bisa upload dokumen penawaran.\n\nSalam,\nBudi",
    "udah bisa min, makasih",
    "skrg sdh lancar pak, trims",
    "Masalah login saya sudah teratasi, terima kasih banyak",
    "kendala sudah selesai, terima kasih atas responnya",
    "sudah tidak error lagi pak, terima kasih",
    "tidak ada kendala lagi, terima kasih",
    "berhasil, terima kasih",
    "Alhamdulillah berhasil pak",
    "sudah beres pak",
    "sudah aman, terimakasih",
    "Sekarang sudah normal kembali, terima kasih Helpdesk LPSE",
    "sudah berhasil kirim penawaran, terima kasih",
    "setelah clear cache sudah bisa dibuka, terima kasih atas arahannya",
    "sudah saya coba lagi dan berhasil, terima kasih",
    "Sudah bisa pak. Tiketnya boleh ditutup.",
    "tiket bisa ditutup, sudah berhasil",
    "mohon maaf merepotkan, ternyata sudah bisa",
    "error sudah hilang, terima kasih",
    # English
    "It works now, thank you",
    "Issue resolved, thanks a lot",
    "all good now, thanks",
    "no more errors, thank you for your help",
    "you can close the ticket, everything is working now",
    "thanks, it's fixed",
    "Sudah oke pak, makasih",
]

NOT_SOLVED = [
    # the brief's look-alikes
    "sudah bisa login tapi upload masih gagal",
    "sudah saya kirim datanya",
    "terima kasih, ditunggu",
    "berhasil?",
    # part solved, part not
    "sudah bisa login, upload gagal",
    "sudah bisa login. sekarang muncul error baru saat upload",
    "sudah bisa, namun lambat sekali",
    "sudah bisa, cuma kadang masih error",
    "Login sudah bisa, tetapi dokumen belum terkirim",
    # not solved at all, or negated
    "belum bisa pak",
    "tidak berhasil, terima kasih",
    "sekarang tidak bisa login sama sekali",
    "masih error",
    "sudah saya coba, tetap gagal",
    "problem not solved",
    # data sent or work done, not a solution
    "sudah saya upload ulang dokumennya",
    "sudah saya lampirkan screenshotnya, terima kasih",
    "data sudah lengkap pak",
    # questions
    "apakah sudah bisa diproses",
    "sudah bisa dicoba lagi?",
    "datanya sudah ok?",
    "ok, sudah saya kirim ulang",
    "Mohon informasi apakah akun saya sudah aktif",
    # thanks that still waits or hopes
    "terima kasih atas informasinya",
    "terima kasih, saya coba nanti",
    "semoga sudah bisa, terima kasih",
    "mungkin sudah normal, nanti saya kabari",
    # a remaining request
    "sudah bisa login, mohon dicek status verifikasinya",
    "sudah bisa, tolong dibantu reset password akun kedua",
    # nothing said about the problem
    "ok",
    "",
]


@pytest.mark.parametrize("text", SOLVED)
def test_a_report_that_the_problem_is_solved(text: str) -> None:
    assert reports_solved(text) is not None, text


@pytest.mark.parametrize("text", NOT_SOLVED)
def test_a_look_alike_is_no_report(text: str) -> None:
    assert reports_solved(text) is None, text


def test_the_cases_are_enough_both_ways() -> None:
    assert len(SOLVED) >= 20 and len(NOT_SOLVED) >= 20 and len(set(SOLVED + NOT_SOLVED)) == len(SOLVED + NOT_SOLVED)


def test_the_words_recorded_are_the_users_own() -> None:
    assert reports_solved("Alhamdulillah sudah normal kembali, terima kasih") == "sudah normal"
    assert reports_solved("Masalah upload sudah teratasi.") == "masalah upload sudah teratasi"


def test_a_long_reply_says_more_than_a_solution_and_staff_read_it() -> None:
    text = "Sudah bisa login, terima kasih. " + "Berikut kami sampaikan kronologi lengkapnya. " * 12
    assert len(text) > MAX_CHARS and reports_solved(text) is None


# ---- the decision ---------------------------------------------------------------------------


def view(state: TicketState, **kw: object) -> TicketView:
    return TicketView(state=state, priority="tinggi", **kw)  # type: ignore[arg-type]


def mails(d) -> list[tuple[str, str, object]]:  # type: ignore[no-untyped-def]
    return [(m.to, m.template, m.context.get("solved")) for m in d.mails()]


def kinds(d) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.kind for e in d.effects if isinstance(e, Record)]


def test_in_analysis_staff_are_told_and_nothing_else_changes() -> None:
    d = decide(view(S.ANALYSIS, assignee="andi@lpse.test"), UserReplied(USER, "sudah bisa pak, terima kasih"), NOW,
               Policy())
    assert d.state is S.ANALYSIS and d.closed_by is None
    assert kinds(d) == ["user_replied", "user_solved"]
    assert mails(d) == [("assignee", "staff_user_reply", "sudah bisa")]  # no mail to the user
    assert not any(isinstance(e, SetPriority) for e in d.effects)


def test_waiting_for_data_the_data_is_owed_no_more() -> None:
    d = decide(view(S.WAITING_USER, missing=("kode_tender", "screenshot")), UserReplied(USER, "sdh berhasil upload"),
               NOW, Policy())
    assert d.state is S.ANALYSIS
    assert SetMissing(()) in d.effects
    solved = next(e for e in d.effects if isinstance(e, Record) and e.kind == "user_solved")
    assert solved.data == {"words": "sdh berhasil", "waived": ["kode_tender", "screenshot"]}
    # today's "still missing" mail to the user is not sent: no acknowledgment spam
    assert mails(d) == [("staff", "staff_user_reply", "sdh berhasil")]
    assert "data_received" not in kinds(d)  # nothing arrived: the report says so, not the data


def test_with_lkpp_it_is_forwarded_and_lkpp_is_told_too() -> None:
    d = decide(view(S.ESCALATED), UserReplied(USER, "problem solved, thanks"), NOW, Policy())
    assert d.state is S.ESCALATED
    assert mails(d) == [("lkpp", "lkpp_user_update", "problem solved"), ("staff", "staff_user_reply", "problem solved")]


def test_a_look_alike_on_an_open_ticket_is_handled_as_today() -> None:
    d = decide(view(S.WAITING_USER, missing=("kode_tender",)), UserReplied(USER, "sudah saya kirim datanya"), NOW,
               Policy())
    assert d.state is S.WAITING_USER and "user_solved" not in kinds(d)
    assert [(m.to, m.template) for m in d.mails()] == [("user", "still_missing"), ("staff", "staff_user_reply")]


def test_on_a_closed_ticket_the_closed_ticket_rules_still_apply() -> None:
    closed = view(S.CLOSED, closed_by="andi@lpse.test", closed_at=NOW - timedelta(days=1))
    d = decide(closed, UserReplied(USER, "sudah bisa pak, terima kasih"), NOW, Policy())
    assert d.state is S.CLOSED and kinds(d) == ["user_thanked"] and d.mails() == []


# ---- the clocks and the story ---------------------------------------------------------------

MON = wib(2026, 3, 2, 9, 0)
ASKED = opened(MON, missing=True)  # waits for the tender code, with a call task
REPORTED = ASKED + [Ev("user_replied", wib(2026, 3, 2, 10, 0)),
                    Ev("user_solved", wib(2026, 3, 2, 10, 0), data={"words": "sudah bisa", "waived": ["kode_tender"]})]


def status(events: list[Ev], state: str, now: datetime) -> sla.SlaStatus:
    return evaluate(events, state=state, resolution_hours=24, policy=SlaPolicy(), calendar=WorkCalendar(), now=now)


def test_the_reminder_auto_close_and_call_stop_and_the_resolution_clock_runs_again() -> None:
    before = status(ASKED, "waiting_user", wib(2026, 3, 2, 9, 30))
    assert before.waiting is not None and before.clock("call") is not None
    after = status(REPORTED, "analysis", wib(2026, 3, 9, 9, 0))  # a week later: nothing for the user
    assert after.waiting is None and after.clock("call") is None
    assert [a.kind for a in after.actions if a.kind in {"reminder", "autoclose"}] == []
    resolution = after.clock("resolution")
    assert resolution is not None and resolution.due_at is not None  # running: the helpdesk is to close
    # the clocks read the events, not only the state: even if a row still said waiting_user
    assert status(REPORTED, "waiting_user", wib(2026, 3, 9, 9, 0)).waiting is None


def test_the_report_stands_until_something_overtakes_it() -> None:
    assert standing_report(ASKED) is None
    found = standing_report(REPORTED)
    assert found is not None and found.data["words"] == "sudah bisa"
    later = wib(2026, 3, 2, 11, 0)
    assert standing_report(REPORTED + [Ev("note", later)]) is found  # a note changes nothing
    for kind in ("user_replied", "closed", "reopened", "data_requested", "escalated"):
        assert standing_report(REPORTED + [Ev(kind, later)]) is None, kind
    assert standing_report(REPORTED + [Ev("lkpp_replied", later, data={"asked": ["kode tender"]})]) is None
    assert standing_report(REPORTED + [Ev("lkpp_replied", later)]) is found


def test_the_dossier_tells_lkpp_in_indonesian() -> None:
    rows = [r.text for r in kronologi(REPORTED)]
    assert "Pelapor menyatakan masalah sudah teratasi (permintaan data tidak diperlukan lagi)" in rows
    analysis = [Ev("user_solved", MON, data={"words": "sudah bisa"})]
    assert [r.text for r in kronologi(analysis)] == ["Pelapor menyatakan masalah sudah teratasi"]
