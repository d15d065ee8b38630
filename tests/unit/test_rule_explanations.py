"""The rules' explanations name what was found in its context, or say "not found".

User trial: ``tickets show`` printed "needs: user_id: 'g'", which tells an operator nothing. A
found value is now quoted with the words around it and the match in brackets, a condition says
which field it read, and a required item that is absent says "not found".
"""

from __future__ import annotations

import pytest

from mailbot.core.matching import in_context
from mailbot.core.rules import classify
from mailbot.settings.priorities import PriorityTable, load_priority_table
from mailbot.settings.resources import default_priorities


@pytest.fixture(scope="module")
def table() -> PriorityTable:
    return load_priority_table(default_priorities())


def reasons(table: PriorityTable, subject: str, text: str, rule: str) -> list[str]:
    return [h.reason for h in classify(table, subject=subject, text=text).hits if h.rule == rule]


def test_in_context_marks_the_match_and_cuts_at_words() -> None:
    text = "selamat pagi, saya tidak bisa login dengan user id budi88 sejak pagi tadi di spse kota"
    start = text.index("budi88")
    assert in_context(text, start, start + 6) == '"...login dengan user id [budi88] sejak pagi tadi di..."'
    assert in_context("user id budi88", 8, 14) == '"user id [budi88]"'  # nothing cut: no "..."
    assert in_context("baris satu\nbaris dua", 6, 10) == '"baris [satu] baris dua"'  # one line


def test_a_found_item_is_quoted_in_context(table: PriorityTable) -> None:
    text = "Saya penyedia, gagal upload dokumen penawaran untuk kode tender 10023456000 tadi pagi."
    [code] = reasons(table, "Gagal upload", text, "item:kode_tender")
    assert code.startswith("found tender_code ") and "kode tender [10023456000] tadi pagi" in code


def test_a_required_item_that_is_absent_says_not_found(table: PriorityTable) -> None:
    missing = reasons(table, "Gagal login SPSE", "Tidak bisa login ke SPSE sejak kemarin.", "missing")
    assert "user_id: not found (required)" in missing
    assert all(r.endswith(": not found (required)") for r in missing)


def test_a_condition_names_the_field_and_shows_the_match_in_context(table: PriorityTable) -> None:
    # The login category asks every mail for the user ID ('[a-z0-9]': any mail), so it matched the
    # subject's first letter: the old explanation was "user_id: 'g'".
    needs = reasons(table, "Gagal login SPSE", "Tidak bisa login ke SPSE sejak kemarin.", "needs")
    [user_id] = [r for r in needs if r.startswith("user_id,")]
    assert user_id.startswith('user_id, because the subject says "[g]agal login spse" (categories[')
    assert "'g'" not in user_id


def test_the_context_never_shows_a_password(table: PriorityTable) -> None:
    hits = classify(table, subject="Gagal login", text="User ID: budi.santoso password: Rahasia123 tidak bisa login").hits
    [user_id] = [h.reason for h in hits if h.rule == "item:user_id"]
    assert "budi.santoso] password: ****" in user_id  # the context around it is the masked text
    assert all("rahasia123" not in h.reason.lower() for h in hits)
