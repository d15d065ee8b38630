"""The reply that completes the requested data (SOP steps 5-6), through the service on the suite's
database: the user is told once that the data arrived, the ticket number and by when the analysis
is due; an auto-reply never triggers it; the hourly cap of automatic mail holds it back.

The deployment is the console tests' (tests/integration/test_console.py); mail goes in through
``process_raw`` and is read back from the outbox (helpers of tests/integration/test_solved_reply.py).
"""

from __future__ import annotations

import dataclasses
import email
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

from mailbot.service.app import App
from mailbot.service.context import day_time
from mailbot.service.inbound import process_raw
from tests.integration.test_console import KOTA, NOW, STAFF, STAFF2
from tests.integration.test_solved_reply import USER, events, last_id, mail, open_waiting, queued, setup, stored

__all__ = ["setup"]  # the fixture, used by name

LATER = NOW + timedelta(hours=1)


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
#: Everything ``open_waiting``'s ticket asks for, with the screenshot attached.
ALL_DATA = "Kode tender: 10234567\nUser ID: cvmajujaya\nScreenshot terlampir."


def _reply(number: str, body: str, *, screenshot: bool = True, at: datetime = LATER) -> bytes:
    msg = email.message_from_bytes(mail(USER, KOTA, f"Re: [{number}] Gagal upload penawaran", body, at),
                                   policy=policy.default)
    assert isinstance(msg, EmailMessage)
    if screenshot:
        msg.add_attachment(PNG, maintype="image", subtype="png", filename="layar.png")
    return msg.as_bytes()


def test_the_reply_that_completes_the_data_tells_the_user_once(setup: tuple[App, Path]) -> None:
    app, _ = setup
    t = open_waiting(app)
    assert sorted(t.missing) == ["kode_tender", "screenshot", "user_id"]
    mark = last_id(app)
    assert process_raw(app, _reply(t.number, ALL_DATA), LATER).kind == "updated"
    after = stored(app, t.id)
    assert after.state == "analysis" and after.missing == [] and after.analysis_due_at is not None
    sent = queued(app, mark)
    to_user = [m for m in sent if m[0] == [USER]]
    assert len(to_user) == 1
    _, subject, text = to_user[0]
    assert subject.startswith(f"[{t.number}] Data lengkap") and f"tiket {t.number} sudah lengkap" in text
    # the target is the analysis clock's: its standard in words and the deadline stored on the ticket
    assert f"Target analisis: 8 jam kerja, paling lambat {day_time(app, after.analysis_due_at)}." in text
    assert text.count("Yth.") == 1
    # staff still get the reply itself
    assert [sorted(m[0]) for m in sent if m not in to_user] == [sorted([STAFF, STAFF2])]
    # a later reply while in analysis is the staff's business: no second "data lengkap"
    mark = last_id(app)
    process_raw(app, _reply(t.number, "Tambahan: pakai Chrome", screenshot=False,
                                at=LATER + timedelta(minutes=5)), LATER + timedelta(minutes=5))
    assert not [m for m in queued(app, mark) if m[0] == [USER]]


def test_an_auto_reply_carrying_the_data_triggers_nothing(setup: tuple[App, Path]) -> None:
    app, _ = setup
    t = open_waiting(app)
    mark = last_id(app)
    raw = _reply(t.number, ALL_DATA).replace(b"Subject:", b"Auto-Submitted: auto-replied\nSubject:", 1)
    process_raw(app, raw, LATER)
    assert stored(app, t.id).state == "waiting_user"
    assert queued(app, mark) == []


def test_the_hourly_cap_holds_it_back_and_the_ticket_says_why(setup: tuple[App, Path]) -> None:
    app, _ = setup
    loops = app.settings.loops.model_copy(update={"max_auto_mails_per_hour": 1})  # the acknowledgment uses it up
    app = dataclasses.replace(app, settings=app.settings.model_copy(update={"loops": loops}))
    t = open_waiting(app)
    mark = last_id(app)
    process_raw(app, _reply(t.number, ALL_DATA), LATER)
    assert stored(app, t.id).state == "analysis"  # the data counts; only the mail is held back
    assert not [m for m in queued(app, mark) if m[0] == [USER]]
    suppressed = [e.detail for e in events(app, t.id) if e.kind == "mail_suppressed"]
    assert len(suppressed) == 1 and suppressed[0].startswith(f"data_complete to {USER} not sent")
