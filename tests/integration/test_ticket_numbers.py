"""A new ticket takes its helpdesk's next number in its INSERT (``store.insert_ticket`` without a
seq): the number the database makes must be the one ``threads.format_number`` makes, past six
digits too, per helpdesk, on the suite's database; staff and users read it in every subject.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.core.threads import format_number
from mailbot.service.app import App
from mailbot.storage import store
from mailbot.storage.models import Ticket
from tests.integration.conftest import NOW, make_app


@pytest.fixture
def app(tmp_path: Path) -> App:
    return make_app(tmp_path)


def _new(helpdesk: str, subject: str) -> Ticket:
    return Ticket(helpdesk=helpdesk, state="new", priority="sedang", category="lain", subject=subject,
                  requester="sari@vendor.test", opened_at=NOW, updated_at=NOW)


def _open(app: App, helpdesk: str, prefix: str, subject: str) -> tuple[int, str | None]:
    with app.factory.begin() as session:
        ticket = _new(helpdesk, subject)
        store.insert_ticket(session, ticket, prefix)
        seq, number = ticket.seq, ticket.number
    with app.factory() as session:  # what was stored is what the object says
        stored = session.get(Ticket, ticket.id)
        assert stored is not None and (stored.seq, stored.number) == (seq, number)
    return seq, number


@pytest.mark.parametrize("last", [None, 8, 99_998, 999_998, 9_999_999])
def test_the_next_number_is_the_one_format_number_makes(app: App, last: int | None) -> None:
    key = app.settings.helpdesk_key
    if last is not None:  # the helpdesk's tickets so far end at ``last`` (the other helpdesk's are higher)
        with app.factory.begin() as session:
            session.add_all([_with_seq(_new(key, "lama"), last), _with_seq(_new("kab", "lain"), last + 50)])
    first = (last or 0) + 1
    assert _open(app, key, "TTS", "satu") == (first, format_number("TTS", first))
    assert _open(app, key, "TTS", "dua") == (first + 1, format_number("TTS", first + 1))
    assert _open(app, "baru", "HD", "tiga") == (1, "HD-000001")  # a helpdesk without tickets starts at 1


def _with_seq(ticket: Ticket, seq: int) -> Ticket:
    ticket.seq, ticket.number = seq, format_number("TTS", seq)
    return ticket


def test_a_ticket_given_its_seq_keeps_it(app: App) -> None:
    with app.factory.begin() as session:
        ticket = _with_seq(_new(app.settings.helpdesk_key, "impor"), 41)
        store.insert_ticket(session, ticket)
        assert (ticket.seq, ticket.number) == (41, "TTS-000041")
    assert _open(app, app.settings.helpdesk_key, "TTS", "berikut") == (42, "TTS-000042")
