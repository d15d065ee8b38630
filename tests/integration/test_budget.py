"""Every mail has a processing budget: over it, the mail goes to quarantine with the reason,
nothing of its half-done work is kept, and the next mail is processed as usual."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailbot.core.budget import Budget, BudgetExceeded
from mailbot.service.inbound import process_raw
from mailbot.storage.models import Inbound, Outbox, Quarantine, Ticket
from tests.integration.test_service_corpus import NOW, make_app


def _mail(sender: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "helpdesk@lpse.test"
    msg["Subject"] = "Gagal unggah dokumen penawaran"
    msg["Date"] = "Fri, 27 Nov 2026 10:00:00 +0700"
    msg["Message-ID"] = f"<{abs(hash((sender, body)))}@vendor.test>"
    msg.set_content(body)
    return msg.as_bytes()


def _clock(steps: list[float]) -> Callable[[], float]:
    """A clock that returns the next of ``steps`` each time (the last one for ever after)."""
    values = iter(steps)
    last = [0.0]

    def now() -> float:
        last[0] = next(values, last[0])
        return last[0]

    return now


def test_budget_checks() -> None:
    budget = Budget(10, _clock([0.0, 5.0, 11.0]))
    budget.check("parsing")
    with pytest.raises(BudgetExceeded) as info:
        budget.check("the priority rules")
    assert info.value.stage == "the priority rules" and "10 s exceeded after the priority rules" in str(info.value)
    Budget(0, _clock([0.0, 1e9])).check("no budget")  # 0 switches it off


@pytest.mark.parametrize(("steps", "stage"), [
    ([0.0, 120.0], "parsing"),  # the parser took two minutes
    ([0.0, 1.0, 120.0], "the priority rules"),
    ([0.0, 1.0, 2.0, 120.0], "deciding and queueing the replies"),
])
def test_a_mail_over_its_budget_is_quarantined_and_the_next_one_goes_on(tmp_path: Path, steps: list[float],
                                                                        stage: str) -> None:
    app = make_app(tmp_path)
    slow = _mail("budi@vendor.test", "Dokumen penawaran gagal diunggah. Kode tender 10023456000.")
    outcome = process_raw(app, slow, NOW, clock=_clock(steps))
    assert outcome.kind == "quarantined"
    assert f"processing budget of 60 s exceeded after {stage}" in outcome.reason
    with app.factory() as session:
        assert session.scalar(select(func.count(Ticket.id))) == 0  # rolled back: no half-done ticket
        assert session.scalar(select(func.count(Outbox.id))) == 0
        [row] = session.scalars(select(Quarantine)).all()
        assert "budget" in row.error and row.raw == slow
        assert session.scalars(select(Inbound.outcome)).all() == ["quarantined"]
    fine = _mail("sari@vendor.test", "Lupa password akun SPSE, user ID cvmaju01.")
    assert process_raw(app, fine, NOW).kind == "opened"
