"""Issue 21 item 6: one mail per event, written for a phone.

The acknowledgment carries the data request; the staff notification gives the priority's reason
in one Indonesian line; the "closed" mail's rating links are links in HTML and one short line
each in text; a staff answer with its own greeting or sign-off gets no second one; a keyword
below the answer is refused with a note on where it goes; every keyword list names every command.
"""

from __future__ import annotations

import re

import pytest

from mailbot.core.commands import KEYWORDS, MISPLACED, USAGE, CommandKind, parse_staff_reply
from mailbot.core.courtesy import greets, signs_off
from mailbot.core.domain import MissingItem
from mailbot.mail.render import Renderer, sample_context


def ctx(**changes: object) -> dict[str, object]:
    context = sample_context()
    context.update(changes)
    return context


def test_the_acknowledgment_carries_the_data_request() -> None:
    items = (MissingItem("kode_tender", "Kode tender/paket", "10023456000"),
             MissingItem("screenshot", "Tangkapan layar pesan error", "lampiran gambar"))
    r = Renderer().render("ack", ctx(items=items))
    assert "Tiket diterima" in r.subject and "lengkapi data" in r.subject
    assert "1. Kode tender/paket" in r.text and "2. Tangkapan layar pesan error" in r.text
    assert "Contoh: 10023456000" in r.text
    assert "e-mail terpisah" not in r.text  # nothing promised for a second mail
    complete = Renderer().render("ack", ctx(items=()))
    assert "lengkapi" not in complete.subject and "lengkapi" not in complete.text


def test_the_staff_summary_gives_one_indonesian_line_of_reason() -> None:
    reasons = ["pattern matched 'tidak bisa' in subject (-6)", "tender_upload scored 12; runner-up login 4"]
    r = Renderer().render("staff_new", ctx(reasons=reasons, priority_reason='kategori "Upload": prioritas TINGGI'))
    assert 'Alasan prioritas: kategori "Upload": prioritas TINGGI' in r.text
    assert "pattern matched" not in r.text and "runner-up" not in r.text and "scored" not in r.text


LINKS = [{"score": n, "label": label, "href": f"mailto:helpdesk@lpse.test?subject=Re%3A%20%5BTTS-000001%5D&body={n}"}
         for n, label in ((5, "sangat baik"), (4, "baik"), (3, "cukup"), (2, "kurang"), (1, "buruk"))]


def test_rating_links_are_links_in_html_and_short_lines_in_text() -> None:
    r = Renderer().render("closed", ctx(rating_links=LINKS))
    assert "mailto:" not in r.text and "%20" not in r.text
    for n, label in ((5, "sangat baik"), (1, "buruk")):
        assert f"\n{n} = {label}\n" in r.text
    anchors = re.findall(r'<a href="(mailto:[^"]+)">(\d) = ([a-z ]+)</a>', r.html)
    assert [(a[1], a[2]) for a in anchors] == [(str(x["score"]), x["label"]) for x in LINKS]
    assert [a[0] for a in anchors] == [str(x["href"]).replace("&", "&amp;") for x in LINKS]  # HTML-escaped href
    # The rest of the mail is in the HTML too: answer, closing, signature.
    assert "ditutup (CLOSED)" in r.html and "Helpdesk" in r.html


@pytest.mark.parametrize("template", ["staff_answer", "closed", "need_info"])
def test_staff_greeting_and_sign_off_are_not_doubled(template: str) -> None:
    own = "Selamat siang Pak Budi,\n\nSilakan login ulang setelah cache dihapus.\n\nSalam,\nAndi\nHelpdesk LPSE"
    r = Renderer().render(template, ctx(answer=own))
    assert "Yth." not in r.text
    assert r.text.count("Salam,") == 1
    assert "Mohon balas e-mail ini" in r.text  # the threading hint stays
    plain = Renderer().render(template, ctx(answer="Silakan login ulang setelah cache dihapus."))
    assert plain.text.lstrip().startswith("Yth. Pengguna,") and "Salam,\nHelpdesk" in plain.text


@pytest.mark.parametrize(("text", "greeting", "sign_off"), [
    ("Selamat pagi Bu Sari,\nSudah kami reset.", True, False),
    ("Yth. Bapak Budi,\nSudah.", True, False),
    ("Pak Budi,\nsilakan coba lagi.", True, False),
    ("Dengan hormat,\nkami sampaikan ...", True, False),
    ("Silakan coba lagi.\n\nHormat kami,\nAndi", False, True),
    ("Silakan coba lagi.\nTerima kasih,\nAndi", False, True),
    ("Silakan coba lagi. Terima kasih.", False, False),
    ("Pakai browser Chrome, lalu login ulang.", False, False),
    ("Pak Andi, berikut panduan lengkapnya.", True, False),  # the name called opens the first sentence
    ("Bu Sari Dewi, silakan coba lagi.", True, False),
    ("Ibu dapat mencoba, lalu login ulang.", False, False),  # no name: a sentence about the user
    ("Bapak, mohon dicoba lagi.", False, False),
    ("Salam kenal juga; silakan coba lagi.", False, False),  # one line: an answer, not a sign-off
])
def test_greeting_and_sign_off_detection(text: str, greeting: bool, sign_off: bool) -> None:
    assert greets(text) is greeting
    assert signs_off(text) is sign_off


def test_a_keyword_below_the_answer_is_refused_with_a_note() -> None:
    reply = parse_staff_reply("Silakan login ulang.\nTerima kasih.\n\n#tutup")
    assert reply.commands == ()
    assert [(e.line, e.message) for e in reply.errors] == [("#tutup", MISPLACED)]
    assert "baris paling atas" in MISPLACED
    # A keyword at the top still works, and "#" words that are no keyword stay text.
    ok = parse_staff_reply("#tutup\nSilakan pakai menu #2 lalu login.\n#SPSE mendukung Chrome.")
    assert [c.kind for c in ok.commands] == [CommandKind.CLOSE] and ok.errors == ()


def test_usage_names_every_command_with_its_indonesian_keyword() -> None:
    assert set(USAGE) == set(CommandKind)
    for kind, usage in USAGE.items():
        assert KEYWORDS[usage.split()[0].lstrip("#")] is kind


@pytest.mark.parametrize("template", ["staff_new", "staff_error", "staff_user_reply"])
def test_every_keyword_list_is_complete(template: str) -> None:
    text = Renderer().render(template, ctx()).text
    for usage in USAGE.values():
        assert usage in text, (template, usage)
    assert "#jawab" in text


def test_lkpps_greeting_to_the_helpdesk_does_not_replace_ours() -> None:
    r = Renderer().render("closed", ctx(answer="Yth. Helpdesk LPSE,\nSilakan reset melalui menu Admin.\n\nSalam,\nLKPP",
                                        by_lkpp=True))
    assert r.text.lstrip().startswith("Yth. Pengguna,")
    assert "Salam,\nHelpdesk" in r.text


def test_the_call_task_names_the_number_or_says_how_to_get_one() -> None:
    ticket = {**sample_context()["ticket"], "missing_labels": ["Kode tender/paket"]}  # type: ignore[dict-item]
    known = Renderer().render("staff_new", ctx(ticket={**ticket, "phone": "+6281234567890"}))
    assert 'Tugas: konfirmasi permintaan data lewat telepon ke +6281234567890, lalu balas "#telepon".' in known.text
    assert "belum diketahui" not in known.text
    unknown = Renderer().render("staff_new", ctx(ticket={**ticket, "phone": None}))
    task = next(line for line in unknown.text.splitlines() if line.startswith("Tugas:"))
    assert "lewat telepon" in task and "nomor telepon pelapor belum diketahui" in task  # the call task stays
    assert "membalas e-mail ini" in task and "SPSE/SIKaP" in task and '"#telepon"' in task
    complete = Renderer().render("staff_new", ctx(ticket={**ticket, "missing_labels": []}))
    assert "Tugas:" not in complete.text  # nothing to confirm: no call task
