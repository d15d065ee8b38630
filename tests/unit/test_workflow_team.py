"""Staff as a team (``core.team``, ``core.forwarded``): ``#buat``, the colleagues' copy, the held answer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailbot.core.commands import CommandKind, parse_staff_reply
from mailbot.core.domain import Classification, TicketState
from mailbot.core.forwarded import Forwarded, find_forwarded, sender_of
from mailbot.core.team import (
    FORWARD_CHANNEL,
    ColleagueAnswer,
    CreateRoute,
    HeldAnswer,
    StaffCreate,
    answers_user,
    hold,
    judge_create,
    release_refusal,
    released,
    with_copies,
)
from mailbot.core.workflow import Policy, Record, SendMail, StaffReplied, TicketView, UserOpened, decide

S = TicketState
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
POLICY = Policy()
ME, COLLEAGUE = "staff2@lpse.test", "staff1@lpse.test"
STATES = [S.WAITING_USER, S.ANALYSIS, S.ESCALATED, S.CLOSED]


def view(state: TicketState) -> TicketView:
    return TicketView(state=state, priority="sedang", closed_by=COLLEAGUE if state is S.CLOSED else None,
                      closed_at=NOW - timedelta(days=1) if state is S.CLOSED else None)


def mails(decision) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(m.to, m.template) for m in decision.mails()]


def kinds(decision) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.kind for e in decision.effects if isinstance(e, Record)]


# ---- the forwarded block ---------------------------------------------------------------------

GMAIL = """#buat

---------- Forwarded message ---------
From: Budi Santoso <budi@vendor.test>
Date: Sat, 5 Dec 2026 at 10:02
Subject: Tidak bisa login SPSE
To: <staf1@lpse.test>

Selamat pagi, saya tidak bisa login ke SPSE sejak kemarin.
"""
GMAIL_ID = """#buat
---------- Pesan terusan ---------
Dari: Siti Aminah <siti@cv-maju.test>
Tanggal: Sab, 5 Des 2026 pukul 10.02
Subjek: Reset password
Kepada: <staf1@lpse.test>

Mohon bantuan reset password.
"""
OUTLOOK = """#buat

________________________________
From: Andi Wijaya [mailto:andi@pt-abc.test]
Sent: Saturday, December 5, 2026 10:02 AM
To: Staf LPSE <staf1@lpse.test>
Subject: Upload dokumen penawaran gagal

Upload gagal terus.
"""
APPLE = """#buat

Begin forwarded message:

From: "Rina" <rina@vendor.test>
Subject: Jadwal pelatihan
Date: 5 December 2026 at 10:02:00 WIB
To: staf1@lpse.test

Kapan jadwal pelatihan?
"""
THUNDERBIRD = """#buat

-------- Forwarded Message --------
Subject: 	Verifikasi akun
Date: 	Sat, 5 Dec 2026 10:02:00 +0700
From: 	Joko <joko@vendor.test>
To: 	staf1@lpse.test

Akun saya belum diverifikasi.
"""
ITALIAN = "#buat\n\nDa: Marco <marco@vendor.test>\nInviato: sabato 5 dicembre 2026\nOggetto: Problema\n\nNon funziona.\n"
DUTCH = "#buat\n\nVan: Piet <piet@vendor.test>\nVerzonden: zaterdag 5 december 2026\nOnderwerp: Inloggen\n\nKan niet.\n"
# ``core.parse`` writes a forwarded message/rfc822 attachment this way.
RFC822 = ("#buat\n\n---------- Forwarded message ----------\nFrom: Dewi <dewi@vendor.test>\nDate: Sat, 05 Dec 2026"
          "\nSubject: Lupa password\nTo: staf1@lpse.test\n\nSaya lupa password.")

FORWARDS = {
    "gmail": (GMAIL, "budi@vendor.test", "Budi Santoso", "Tidak bisa login SPSE", "tidak bisa login ke SPSE"),
    "gmail-id": (GMAIL_ID, "siti@cv-maju.test", "Siti Aminah", "Reset password", "reset password"),
    "outlook": (OUTLOOK, "andi@pt-abc.test", "Andi Wijaya", "Upload dokumen penawaran gagal", "Upload gagal"),
    "apple": (APPLE, "rina@vendor.test", "Rina", "Jadwal pelatihan", "Kapan jadwal"),
    "thunderbird": (THUNDERBIRD, "joko@vendor.test", "Joko", "Verifikasi akun", "belum diverifikasi"),
    "italian": (ITALIAN, "marco@vendor.test", "Marco", "Problema", "Non funziona"),
    "dutch": (DUTCH, "piet@vendor.test", "Piet", "Inloggen", "Kan niet"),
    "rfc822": (RFC822, "dewi@vendor.test", "Dewi", "Lupa password", "lupa password"),
}


@pytest.mark.parametrize("case", list(FORWARDS))
def test_the_forwarded_sender_subject_and_text_are_found(case: str) -> None:
    text, address, name, subject, body = FORWARDS[case]
    found = find_forwarded(text)
    assert found is not None
    assert (found.address, found.name, found.subject) == (address, name, subject)
    assert body in found.text and "#buat" not in found.text and "Subject" not in found.text


@pytest.mark.parametrize("text", [
    "#buat\nTolong buatkan tiket untuk pengguna ini.",  # nothing forwarded
    "#buat\n\nDari: PT Maju Jaya\nPerihal: permohonan\n\nKami mohon ...",  # a letter's heading, no address
    "#buat\nDari: budi@vendor.test",  # a lone line, not a header block
])
def test_no_forwarded_block_means_no_original_sender(text: str) -> None:
    assert find_forwarded(text) is None


@pytest.mark.parametrize(("value", "expected"), [
    ("Budi <Budi@Vendor.test>", ("budi@vendor.test", "Budi")),
    ("\"Santoso, Budi\" <budi@vendor.test>", ("budi@vendor.test", "Santoso, Budi")),
    ("Budi [mailto:budi@vendor.test]", ("budi@vendor.test", "Budi")),
    ("budi@vendor.test", ("budi@vendor.test", "")),
    ("Budi Santoso", None),
])
def test_sender_values(value: str, expected: tuple[str, str] | None) -> None:
    assert sender_of(value) == expected


# ---- #buat: who may open a ticket for someone else ---------------------------------------------

FWD = Forwarded("budi@vendor.test", "Budi", "Login", "tidak bisa login")

# (verified, forwarded, ours, warned) -> route, a note to the staff member?
CREATE_TABLE = [
    (True, FWD, False, 0, CreateRoute.OPEN, False),
    (False, FWD, False, 0, CreateRoute.UNVERIFIED, True),
    (False, FWD, False, 2, CreateRoute.UNVERIFIED, True),
    (False, FWD, False, 3, CreateRoute.UNVERIFIED, False),  # hourly cap: recorded, nobody told
    (False, None, False, 0, CreateRoute.UNVERIFIED, True),  # unverified comes first, whatever it holds
    (True, None, False, 0, CreateRoute.NO_BLOCK, True),
    (True, FWD, True, 0, CreateRoute.NOT_A_USER, True),
]


@pytest.mark.parametrize(("verified", "forwarded", "ours", "warned", "route", "note"), CREATE_TABLE)
def test_create_rows(verified: bool, forwarded: Forwarded | None, ours: bool, warned: int, route: CreateRoute,
                     note: bool) -> None:
    verdict = judge_create(StaffCreate(ME, verified, "why", forwarded, ours, warned, 3))
    assert verdict.route is route
    assert bool(verdict.note) is note


def test_a_ticket_opened_by_forward_is_the_users_and_records_the_staff_member() -> None:
    c = Classification("akun_login", "Login", "sedang", True)
    d = decide(None, UserOpened("budi@vendor.test", c, None, ME, FORWARD_CHANNEL), NOW, POLICY)
    assert mails(d) == [("user", "ack"), ("staff", "staff_new")]
    received = d.effects[0]
    assert isinstance(received, Record) and received.kind == "received"
    assert received.data == {"opened_by": ME, "channel": "e-mail diteruskan"}
    assert "budi@vendor.test" in received.detail and ME in received.detail
    assert d.mails()[1].context == {"opened": {"by": ME, "channel": "e-mail diteruskan"}}


@pytest.mark.parametrize("state", STATES)
def test_buat_in_a_ticket_reply_is_refused_and_changes_nothing(state: TicketState) -> None:
    d = decide(view(state), StaffReplied(ME, parse_staff_reply("#buat")), NOW, POLICY)
    assert d.state is state and mails(d) == [("sender", "staff_error")]
    assert "hanya untuk e-mail baru" in str(d.mails()[0].context["errors"])


def test_keywords_parse_with_their_english_aliases() -> None:
    for text, kind in (("#buat", CommandKind.CREATE), ("#create", CommandKind.CREATE), ("#kirim", CommandKind.SEND),
                       ("#send", CommandKind.SEND)):
        reply = parse_staff_reply(text + "\n\nteks")
        assert [c.kind for c in reply.commands] == [kind] and not reply.errors
    assert parse_staff_reply("#kirim sekarang").errors  # takes no argument


# ---- the held answer: state-machine rows --------------------------------------------------------

ANSWERS = {  # reply -> does it answer the user (and so can be held)?
    "Silakan hapus cache browser.": True,
    "#tutup\nSudah kami perbaiki.": True,
    "#mintadata kode tender": True,
    "#ambil": False,
    "#catatan cek log": False,
    "#prioritas tinggi": False,
    "#telepon": False,
    "#eskalasi": False,  # to LKPP, not an answer to the user
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("text", list(ANSWERS))
@pytest.mark.parametrize(("colleague", "ago", "held"), [
    (COLLEAGUE, timedelta(minutes=3), True),
    (COLLEAGUE, timedelta(minutes=9, seconds=59), True),
    (COLLEAGUE, timedelta(minutes=10, seconds=1), False),  # more than 10 minutes: sent
    (ME, timedelta(minutes=1), False),  # one's own earlier answer is no colleague's
    (None, timedelta(0), False),
])
def test_second_answer_rows(state: TicketState, text: str, colleague: str | None, ago: timedelta,
                            held: bool) -> None:
    decision = decide(view(state), StaffReplied(ME, parse_staff_reply(text)), NOW, POLICY)
    answer = ColleagueAnswer(colleague, NOW - ago, "Sudah saya jawab: hapus cache.") if colleague else None
    result = hold(state, ME, decision, answer, NOW, "m1@lpse.test")
    expect = held and ANSWERS[text] and answers_user(decision)
    if not expect:
        assert result is None
        return
    assert result is not None
    assert result.state is state  # nothing of the reply runs
    assert mails(result) == [("sender", "staff_held")]
    assert kinds(result) == ["answer_held"]
    assert result.mails()[0].context["team"]["by"] == COLLEAGUE  # type: ignore[index]
    assert "hapus cache" in result.mails()[0].context["team"]["answer"]  # type: ignore[index]


def test_the_hold_quotes_only_a_short_excerpt() -> None:
    decision = decide(view(S.ANALYSIS), StaffReplied(ME, parse_staff_reply("Jawaban.")), NOW, POLICY)
    result = hold(S.ANALYSIS, ME, decision, ColleagueAnswer(COLLEAGUE, NOW, "x" * 5000), NOW)
    assert result is not None
    assert len(result.mails()[0].context["team"]["answer"]) < 500  # type: ignore[index,arg-type]


# (reply, held answer waiting?) -> refused?
RELEASE_TABLE = [
    ("#kirim", True, False),
    ("#send", True, False),
    ("#kirim", False, True),  # nothing held
    ("#kirim\n#tutup", True, True),  # alone
    ("#kirim\nteks tambahan", True, True),
]


@pytest.mark.parametrize(("text", "waiting", "refused"), RELEASE_TABLE)
def test_release_rows(text: str, waiting: bool, refused: bool) -> None:
    held = HeldAnswer("m1@lpse.test", "#tutup\nSudah.") if waiting else None
    result = release_refusal(S.ANALYSIS, ME, parse_staff_reply(text), held)
    if not refused:
        assert result is None
        return
    assert result is not None and mails(result) == [("sender", "staff_error")] and result.state is S.ANALYSIS


def test_a_released_answer_is_the_held_reply_decided_and_recorded() -> None:
    decision = decide(view(S.ANALYSIS), StaffReplied(ME, parse_staff_reply("#tutup\nSudah.")), NOW, POLICY)
    out = released(decision, ME, HeldAnswer("m1@lpse.test", "#tutup\nSudah."))
    assert out.state is S.CLOSED and out.closed_by == ME
    assert kinds(out)[0] == "answer_released" and ("user", "closed") in mails(out)


# ---- the colleagues' copy ---------------------------------------------------------------------

# reply (in analysis) -> what the copy says, or None when no copy goes out
COPY_TABLE = {
    "Silakan hapus cache browser.": ["menjawab pengguna"],
    "#ambil": ["mengambil tiket ini (#ambil)"],
    "#eskalasi\nMohon dicek di server LKPP.": ["mengeskalasi tiket ke LKPP"],
    "#tutup\nSudah kami perbaiki.": ["menutup tiket"],
    "#ambil\n#tutup\nSudah.": ["mengambil tiket ini (#ambil)", "menutup tiket"],
    "#mintadata kode tender": ["meminta data dari pengguna"],
    "#catatan cek log": None,
    "#prioritas tinggi": None,
    "#tarik": None,  # refused in analysis: no copy of a refusal
}


@pytest.mark.parametrize("text", list(COPY_TABLE))
def test_copy_rows(text: str) -> None:
    reply = parse_staff_reply(text)
    decision = decide(view(S.ANALYSIS), StaffReplied(ME, reply), NOW, POLICY)
    out = with_copies(decision, ME, reply.body)
    copies = [m for m in out.mails() if m.template == "staff_copy"]
    expected = COPY_TABLE[text]
    if expected is None:
        assert copies == []
        return
    [copy] = copies
    assert copy == SendMail("others", "staff_copy", copy.context)
    assert copy.context["team"]["actions"] == expected  # type: ignore[index]
    assert copy.context["team"]["by"] == ME  # type: ignore[index]
    assert out.state is decision.state and out.effects[:-1] == decision.effects


def test_copy_carries_the_answer_text_and_can_be_switched_off() -> None:
    reply = parse_staff_reply("Silakan hapus cache browser.")
    decision = decide(view(S.ANALYSIS), StaffReplied(ME, reply), NOW, POLICY)
    [copy] = [m for m in with_copies(decision, ME, reply.body).mails() if m.template == "staff_copy"]
    assert copy.context["team"]["answer"] == "Silakan hapus cache browser."  # type: ignore[index]
    assert with_copies(decision, ME, reply.body, enabled=False) == decision
    take = decide(view(S.ANALYSIS), StaffReplied(ME, parse_staff_reply("#ambil")), NOW, POLICY)
    [copy] = [m for m in with_copies(take, ME, "").mails() if m.template == "staff_copy"]
    assert copy.context["team"]["answer"] == ""  # type: ignore[index]
