"""PDF files users attach: their text is read for the data items (``mail.pdftext``, ``core.item_sources``).

What a user depends on: data sent in a PDF (a letter, SPSE's "Bukti Pendaftaran") is not asked for
again; a PDF never changes what the problem is taken to be; a file that cannot be read (garbage,
cut short, encrypted, a fake) gives no text and no error, and the mail carries on.
"""

from __future__ import annotations

import io
import logging
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader, PdfWriter

from mailbot.core.domain import Attachment
from mailbot.core.item_sources import MAX_FILE_TEXT_CHARS, items_text
from mailbot.core.rules import PriorityTable, classify, detect_items
from mailbot.mail import pdftext
from mailbot.mail.pdftext import MAX_PAGES, looks_like_pdf, pdf_text, with_pdf_text
from tests.support.pdfmake import make_drawing_pdf, make_pdf

LETTER = make_pdf(["Kepada Yth. Helpdesk LPSE Kota", "Perihal: permohonan bantuan",
                   "Kode Tender: 10234567000", "Nama Perusahaan: CV Maju Jaya", "NPWP: 01.234.567.8-901.000"])


def pdf(content: bytes, name: str = "surat.pdf") -> Attachment:
    return Attachment(name, "application/pdf", len(content), content)


def encrypted(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(LETTER)))
    writer.encrypt(user_password=user_password, owner_password="pemilik", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_the_text_layer_of_a_pdf_is_read() -> None:
    text = pdf_text(LETTER)
    assert "Kode Tender: 10234567000" in text and "CV Maju Jaya" in text


def test_only_the_first_pages_are_read() -> None:
    pages = [[f"halaman {i + 1}"] for i in range(MAX_PAGES + 2)]
    text = pdf_text(make_pdf(*pages))
    assert f"halaman {MAX_PAGES}" in text and f"halaman {MAX_PAGES + 1}" not in text


def test_a_file_with_a_password_to_open_gives_nothing_and_one_with_an_owner_password_only_is_read() -> None:
    assert pdf_text(encrypted("rahasia")) == ""
    assert "10234567000" in pdf_text(encrypted(""))


@pytest.mark.parametrize("content", [
    b"",
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + random.Random(7).randbytes(50_000),  # the benchmark's fake PDFs
    LETTER[: len(LETTER) // 2],  # cut short in transfer
    LETTER.replace(b"xref", b"xxxx"),
    LETTER.replace(b"/Contents", b"/Cxntents"),
    b"<html>not a pdf</html>",
], ids=["empty", "random-body", "cut", "no-xref", "no-contents", "html"])
def test_a_file_that_cannot_be_read_gives_no_text_and_no_error(content: bytes) -> None:
    assert "10234567000" not in pdf_text(content)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(LETTER) - 1), st.binary(min_size=1, max_size=8)), min_size=1, max_size=6))
def test_damaged_pdfs_never_raise(damage: list[tuple[int, bytes]]) -> None:
    content = bytearray(LETTER)
    for at, junk in damage:
        content[at:at + len(junk)] = junk
    assert isinstance(pdf_text(bytes(content)), str)


def test_a_page_with_megabytes_of_drawing_is_not_interpreted(caplog: pytest.LogCaptureFixture) -> None:
    """8 MB of text operators compress to some 30 KB; pypdf would take about 100 s of CPU on them."""
    caplog.set_level(logging.INFO, logger=pdftext.__name__)
    hostile = make_drawing_pdf(b"BT /F1 11 Tf " + b"(abc) Tj " * 800_000 + b" ET", deflate=True)
    assert len(hostile) < 100_000
    assert pdf_text(hostile, "besar.pdf") == ""
    assert "besar.pdf: PDF read up to page 0 (its drawing instructions exceed 192 KB)" in caplog.text


def test_a_form_drawn_a_thousand_times_is_stopped_by_the_cpu_bound(caplog: pytest.LogCaptureFixture,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Few bytes, much work: every ``Do`` interprets the form again (48 s measured for this file)."""
    caplog.set_level(logging.INFO, logger=pdftext.__name__)
    monkeypatch.setattr(pdftext, "MAX_SECONDS", 0.3)
    hostile = make_drawing_pdf(b"/Fm Do " * 1000, b"BT /F1 11 Tf " + b"(abc) Tj " * 2000 + b" ET")
    assert pdf_text(hostile, "ulang.pdf") == ""
    assert "ulang.pdf: PDF read up to page 0 (0.3 s of CPU spent)" in caplog.text
    assert "abcabc" in pdf_text(make_drawing_pdf(b"/Fm Do " * 2, b"BT /F1 11 Tf " + b"(abc) Tj " * 20 + b" ET"))


def test_looks_like_pdf_needs_a_header_and_an_end() -> None:
    assert looks_like_pdf(LETTER)
    assert not looks_like_pdf(LETTER[:-20]) and not looks_like_pdf(b"junk" * 300 + LETTER[1100:])


def test_with_pdf_text_fills_pdfs_only() -> None:
    png = Attachment("layar.png", "image/png", 10, b"\x89PNG....")
    dropped = Attachment("besar.pdf", "application/pdf", 50_000_000, None)  # over the size cap: no content
    by_name = Attachment("surat.PDF", "application/octet-stream", len(LETTER), LETTER)
    out = with_pdf_text([png, dropped, by_name, pdf(LETTER)])
    assert out[0] == png and out[1] == dropped
    assert "10234567000" in out[2].text and "10234567000" in out[3].text


def test_only_the_first_files_of_a_mail_are_read() -> None:
    files = [pdf(make_pdf([f"lampiran {i}"]), f"l{i}.pdf") for i in range(pdftext.MAX_FILES + 2)]
    texts = [a.text for a in with_pdf_text(files)]
    assert all(f"lampiran {i}" in texts[i] for i in range(pdftext.MAX_FILES))
    assert texts[pdftext.MAX_FILES:] == ["", ""]


def test_a_pdfs_data_counts_for_the_items_asked_for(table: PriorityTable) -> None:
    mail = "Selamat siang, kami gagal upload dokumen penawaran, muncul error. Data ada di surat terlampir."
    screenshot = Attachment("layar.png", "image/png", 4096, b"\x89PNG....")
    without = classify(table, subject="Gagal upload penawaran", text=mail, attachments=(pdf(LETTER), screenshot))
    with_text = classify(table, subject="Gagal upload penawaran", text=mail,
                         attachments=with_pdf_text((pdf(LETTER), screenshot)))
    assert "kode_tender" in {m.key for m in without.missing}
    assert "kode_tender" not in {m.key for m in with_text.missing}
    assert (with_text.category, with_text.priority) == (without.category, without.priority)
    [hit] = [h for h in with_text.hits if h.rule == "item:kode_tender"]
    assert "10234567000" in hit.reason
    assert "kode_tender" in detect_items(table, "Terlampir datanya.", with_pdf_text((pdf(LETTER),)))


def test_a_pdf_never_decides_the_problem(table: PriorityTable) -> None:
    """A tender document names every topic; the category comes from the mail's own words."""
    document = make_pdf(["Dokumen Pemilihan", "lupa password akun, tidak bisa login, dekripsi penawaran gagal",
                         "server down, jadwal tender berubah, sanggahan"])
    mail = "Mohon info cara registrasi akun penyedia baru di SPSE."
    plain = classify(table, subject="Registrasi", text=mail)
    read = classify(table, subject="Registrasi", text=mail, attachments=with_pdf_text((pdf(document),)))
    assert (read.category, read.priority) == (plain.category, plain.priority)


def test_the_files_text_is_bounded_and_its_passwords_masked() -> None:
    long = Attachment("a.pdf", "application/pdf", 1, b"x", text="kata " * 10_000 + "Password: rahasia123")
    short = Attachment("b.pdf", "application/pdf", 1, b"x", text="password saya Rahasia#2024 kode 10234567000")
    text = items_text("isi e-mail", "", (long, short))
    assert len(text) <= MAX_FILE_TEXT_CHARS + 200
    assert "rahasia123" not in text and "[berkas a.pdf]" in text
    assert "[berkas b.pdf]" not in text  # the budget went to the first file
    text = items_text("isi e-mail", "", (short,))
    assert "Rahasia#2024" not in text and "10234567000" in text
