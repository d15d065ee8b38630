"""A staff answer's own sign-off ends the mail: it follows what the template adds below the answer.

User trial: "Salam, Andi" stood above the "closed" mail's closing paragraph and rating request,
which on a phone reads as if the mail ended there. The sign-off now closes the mail (text and
HTML), the answer's body stays where it was, and nothing is doubled or lost.
"""

from __future__ import annotations

import pytest

from mailbot.core.courtesy import split_sign_off
from mailbot.mail.render import Renderer, sample_context

SIGNED = "Selamat siang Pak Budi,\n\nSilakan login ulang setelah cache dihapus.\n\nSalam,\nAndi\nHelpdesk LPSE"
RATING = "Mohon beri penilaian"


def render(template: str, answer: str, **changes: object):  # type: ignore[no-untyped-def]
    context = sample_context()
    context.update(answer=answer, **changes)
    return Renderer().render(template, context)


@pytest.mark.parametrize(("text", "body", "sign_off"), [
    (SIGNED, "Selamat siang Pak Budi,\n\nSilakan login ulang setelah cache dihapus.", "Salam,\nAndi\nHelpdesk LPSE"),
    ("Sudah kami reset.\nTerima kasih,\n  Andi  ", "Sudah kami reset.", "Terima kasih,\nAndi"),
    ("Sudah kami reset.\n\nHormat kami,\nAndi\nStaf LPSE\n0812-1111", "Sudah kami reset.",
     "Hormat kami,\nAndi\nStaf LPSE\n0812-1111"),
    ("Sudah kami reset, silakan coba lagi.", "Sudah kami reset, silakan coba lagi.", ""),
    # an opening "Salam sejahtera," greets: the answer is not moved to the end
    ("Salam sejahtera,\nSudah kami reset.\nAndi", "Salam sejahtera,\nSudah kami reset.\nAndi", ""),
])
def test_split_sign_off(text: str, body: str, sign_off: str) -> None:
    assert split_sign_off(text) == (body, sign_off)


def test_the_closed_mail_ends_with_the_staff_sign_off_in_text_and_html() -> None:
    r = render("closed", SIGNED, helpdesk={"name": "Helpdesk", "address": "h@example.test", "phone": "021-555"})
    text = r.text
    answer_at, closed_at = text.index("Silakan login ulang"), text.index("ditutup (CLOSED)")
    rating_at, sign_at = text.index(RATING), text.index("Salam,\nAndi\nHelpdesk LPSE")
    assert answer_at < closed_at < rating_at < sign_at
    assert text.count("Salam,") == 1 and "Salam,\nHelpdesk\n" not in text  # no second sign-off
    # after the sign-off only the helpdesk's phone and the threading hint
    assert text[sign_at:].splitlines()[3:] == ["Telepon: 021-555", text.splitlines()[-1]]
    assert "Mohon balas e-mail ini" in text.splitlines()[-1]
    html = r.html
    assert html.index("Silakan login ulang") < html.index(RATING) < html.index("Salam,<br>\nAndi")
    assert html.count("Salam,") == 1


@pytest.mark.parametrize(("template", "after_answer"), [
    ("need_info", "Silakan balas e-mail ini dengan data tersebut"),
    ("merged", "sehingga keduanya kami gabungkan"),
])
def test_other_answer_mails_put_the_sign_off_last(template: str, after_answer: str) -> None:
    text = render(template, SIGNED).text
    assert text.index("Silakan login ulang") < text.index(after_answer) < text.index("Salam,\nAndi")
    assert text.count("Salam,") == 1


def test_omitted_files_come_before_the_staff_sign_off() -> None:
    omitted = [{"filename": "besar.pdf", "size_text": "30 MB"}]
    text = render("staff_answer", SIGNED, omitted=omitted, dossier_limit="25 MB").text
    assert text.index("besar.pdf") < text.index("Salam,\nAndi")


def test_an_unsigned_answer_gets_the_helpdesk_sign_off_last() -> None:
    text = render("closed", "Silakan login ulang setelah cache dihapus.").text
    assert text.index(RATING) < text.index("Salam,\nHelpdesk")
    assert text.lstrip().startswith("Yth. Pengguna,")
