"""The LKPP officer who answers an escalation from their own address hears the rest of it first hand.

The service on the test database: a ticket escalated by staff goes to LKPP's helpdesk address alone;
an officer answers (to the escalation's signed Reply-To, from ``officer@lkpp.test``); from then on
every mail to LKPP about that escalation — staff's ``#lkpp``, the user's new data, the user's "belum
selesai" after the officer closed it — goes to LKPP's helpdesk *and* that officer, in one mail. A
withdrawal and a new ``#eskalasi`` start again with the helpdesk alone; an answer from a no-reply
address (a ticketing system's) adds nobody.
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from mailbot.service.app import App
from mailbot.service.inbound import process_raw
from mailbot.storage.models import Outbox
from tests.integration.conftest import NOW, make_app
from tests.integration.test_lkpp_message_flow import (
    HELPDESK,
    LKPP_BOX,
    STAFF_ONE,
    USER,
    escalated,
    mail,
    queued,
    staff_address,
)

OFFICER = "rina.teknis@lkpp.test"


def to_lkpp(app: App) -> list[tuple[str, list[str], EmailMessage]]:
    """Every queued mail whose first recipient is LKPP's helpdesk: its template, recipients, message."""
    with app.factory() as session:
        rows = session.execute(select(Outbox.raw, Outbox.recipients).where(Outbox.to_key == LKPP_BOX)
                               .order_by(Outbox.id)).all()
    messages = queued(app, LKPP_BOX)
    assert len(messages) == len(rows)
    return [(str(m["Subject"]), list(r.recipients), m) for r, m in zip(rows, messages, strict=True)]


def officer_answers(app: App, officer: str, text: str, mid: str) -> None:
    *_, (subject, _, last) = to_lkpp(app)
    process_raw(app, mail(officer, str(last["Reply-To"]), f"Re: {subject}", text, mid,
                          in_reply_to=str(last["Message-ID"])), NOW)


def test_after_an_officer_answers_the_mails_to_lkpp_reach_that_officer_too(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    tid = escalated(app)
    [(_, dossier_to, dossier)] = to_lkpp(app)
    assert dossier_to == [LKPP_BOX] and str(dossier["To"]) == LKPP_BOX  # nobody at LKPP has it yet

    officer_answers(app, OFFICER, "Mohon kirimkan tangkapan layar pesan galatnya.", "l1@lkpp.test")
    process_raw(app, mail(STAFF_ONE, staff_address(app, tid), "Re: [TTS-000001] Gagal upload penawaran",
                          "#lkpp Tangkapan layar terlampir dari pelapor.", "s2@lpse.test"), NOW)
    *_, (subject, recipients, message) = to_lkpp(app)
    assert "Pesan dari" in subject and recipients == [LKPP_BOX, OFFICER]
    assert {a.addr_spec for a in message["To"].addresses} == {LKPP_BOX, OFFICER}
    assert message["Reply-To"] == dossier["Reply-To"]  # the officer answers into the same signed thread

    # The user's new data on the escalated ticket: LKPP's, so the officer's as well.
    process_raw(app, mail(USER, HELPDESK, "Re: [TTS-000001] Gagal upload penawaran",
                          "Berikut data tambahan: ukuran file 12 MB.", "u2@vendor.test",
                          in_reply_to="<u1@vendor.test>"), NOW)
    *_, (_, recipients, _) = to_lkpp(app)
    assert recipients == [LKPP_BOX, OFFICER]


def test_the_user_not_satisfied_goes_back_to_the_officer_who_closed_it(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    escalated(app)
    officer_answers(app, OFFICER, "#tutup\nSilakan unggah ulang, kapasitas sudah kami tambah.", "l1@lkpp.test")
    answer = queued(app, USER)[-1]
    process_raw(app, mail(USER, HELPDESK, f"Re: {answer['Subject']}", "Belum bisa, masih gagal.", "u2@vendor.test",
                          in_reply_to=str(answer["Message-ID"])), NOW)
    *_, (_, recipients, reopened) = to_lkpp(app)
    assert recipients == [LKPP_BOX, OFFICER] and "Belum bisa, masih gagal." in reopened.get_body(
        ("plain",)).get_content()  # type: ignore[union-attr]


def test_a_new_escalation_starts_with_lkpps_helpdesk_alone(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    tid = escalated(app)
    officer_answers(app, OFFICER, "Sedang kami periksa.", "l1@lkpp.test")
    process_raw(app, mail(STAFF_ONE, staff_address(app, tid), "Re: [TTS-000001]", "#tarik sudah kami tangani",
                          "s2@lpse.test"), NOW)
    *_, (_, withdrawn_to, _) = to_lkpp(app)
    assert withdrawn_to == [LKPP_BOX, OFFICER]  # the officer learns the case is taken back
    process_raw(app, mail(STAFF_ONE, staff_address(app, tid), "Re: [TTS-000001]", "#eskalasi\nMasih gagal.",
                          "s3@lpse.test"), NOW)
    process_raw(app, mail(STAFF_ONE, staff_address(app, tid), "Re: [TTS-000001]", "#lkpp mohon prioritas",
                          "s4@lpse.test"), NOW)
    *_, (_, again_to, _), (_, message_to, _) = to_lkpp(app)
    assert again_to == [LKPP_BOX] and message_to == [LKPP_BOX]


def test_an_answer_from_a_no_reply_address_adds_nobody(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    tid = escalated(app)
    officer_answers(app, "no-reply@tiket.lkpp.test", "Tiket Anda #4411 sedang diproses.", "l1@lkpp.test")
    process_raw(app, mail(STAFF_ONE, staff_address(app, tid), "Re: [TTS-000001]", "#lkpp mohon kabar",
                          "s2@lpse.test"), NOW)
    *_, (_, recipients, _) = to_lkpp(app)
    assert recipients == [LKPP_BOX]
