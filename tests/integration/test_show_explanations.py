"""``tickets show`` explains the rules with what they found, in context, or "not found"."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from mailbot import cli
from mailbot.service.app import App
from tests.integration.test_solved_reply import open_waiting, setup

__all__ = ["setup"]  # the fixture, imported for pytest


def test_tickets_show_quotes_what_was_found_and_says_what_was_not(setup: tuple[App, Path]) -> None:
    app, config = setup
    t = open_waiting(app)  # "gagal upload dokumen penawaran ... HP 0812-3456-7890", no tender code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["--config", str(config), "tickets", "show", t.number or ""]) == 0
    text = out.getvalue()
    why = text[text.index("Why this priority and category (rules):"):text.index("\nMessages:")].splitlines()[1:]
    assert "  missing: kode_tender: not found (required)" in why
    # a found item: the match in brackets, with the words around it, quoted
    [role] = [line for line in why if line.startswith("  item:peran: ")]
    assert role == '  item:peran: found "...upload penawaran saya [penyedia], gagal upload dokumen..."'
    # a need quotes what the mail said, or (``always = true``) says that every mail of the category has it
    assert "  needs: user_id, because every tender_upload mail (categories[1].when[0])" in why
    assert not [line for line in why if line.startswith("  needs:")
                and ", because the " not in line and ", because every tender_upload mail " not in line]
