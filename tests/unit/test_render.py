"""Templates: every one renders, Indonesian text, HTML escaped, overrides win, one-line subjects."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.mail.render import TEMPLATE_KEYS, Renderer, TemplateProblem
from mailbot.mail.render import sample_context as _sample_context


def test_every_template_renders_with_the_service_context() -> None:
    assert Renderer().check(_sample_context()) == []


@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_subject_is_one_line_and_text_not_empty(key: str) -> None:
    r = Renderer().render(key, _sample_context())
    assert "\n" not in r.subject and r.subject.strip()
    assert len(r.text.strip()) > 20
    assert r.html.startswith("<!DOCTYPE html>")


def test_user_text_is_escaped_in_html() -> None:
    ctx = _sample_context()
    ctx["answer"] = "<script>alert(1)</script> & <b>x</b>"
    r = Renderer().render("closed", ctx)
    assert "<script>" not in r.html and "&lt;script&gt;" in r.html
    assert "<script>alert(1)</script>" in r.text  # plain text stays as written


def test_ack_is_indonesian() -> None:
    r = Renderer().render("ack", _sample_context())
    assert "Tiket diterima" in r.subject
    assert "laporan Anda telah kami terima" in r.text


def test_deployment_override_wins_and_broken_template_is_reported(tmp_path: Path) -> None:
    (tmp_path / "ack.j2").write_text("{% block subject %}Diterima {{ tag }}{% endblock %}"
                                     "{% block text %}Halo dari LPSE lain{% endblock %}")
    r = Renderer(tmp_path).render("ack", _sample_context())
    assert r.subject == "Diterima [TTS-000001]" and "LPSE lain" in r.text
    (tmp_path / "closed.j2").write_text("{% block subject %}{{ tiket.nomor }}{% endblock %}{% block text %}x{% endblock %}")
    problems = Renderer(tmp_path).check(_sample_context())
    assert len(problems) == 1 and "closed" in problems[0]
    with pytest.raises(TemplateProblem):
        Renderer(tmp_path).render("closed", _sample_context())


def test_still_missing_names_what_is_still_missing() -> None:
    ctx = _sample_context()
    ctx["ticket"] = {**ctx["ticket"], "missing_labels": ["Kode tender/paket", "User ID SPSE"]}  # type: ignore[dict-item]
    r = Renderer().render("still_missing", ctx)
    assert "Data masih kurang" in r.subject and "\n" not in r.subject
    assert "- Kode tender/paket" in r.text and "- User ID SPSE" in r.text
    assert "masih menunggu data" in r.text
    assert len(r.text.splitlines()) < 20  # short, for a phone


def test_data_complete_says_what_happens_next_and_by_when() -> None:
    ctx = _sample_context()
    ctx["ticket"] = {**ctx["ticket"], "analysis_due_local": "Senin, 07-12-2026 pukul 10:00 WIB"}  # type: ignore[dict-item]
    r = Renderer().render("data_complete", ctx)
    assert r.subject.startswith("[TTS-000001] Data lengkap") and "\n" not in r.subject
    assert "tiket TTS-000001 sudah lengkap" in r.text
    assert "Target analisis: 8 jam kerja, paling lambat Senin, 07-12-2026 pukul 10:00 WIB." in r.text
    assert r.text.count("Yth.") == 1 and r.text.startswith("Yth. Pengguna,")
    assert len(r.text.splitlines()) < 15  # short, for a phone
    # Without a running analysis clock (none stored) the line is left out, not shown half empty.
    ctx["ticket"] = {**ctx["ticket"], "analysis_due_local": ""}  # type: ignore[dict-item]
    assert "Target analisis" not in Renderer().render("data_complete", ctx).text


@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_paragraphs_are_not_hard_wrapped(key: str) -> None:
    # A phone wraps at about 40 columns: a line broken at 100 becomes a ragged short line, in the
    # plain text and in the HTML part (each newline a <br>). A paragraph is one line.
    lines = Renderer().render(key, _sample_context()).text.splitlines()
    wrapped = [f"{a[-30:]!r} / {b[:30]!r}" for a, b in zip(lines, lines[1:])
               if len(a) > 60 and b[:1].islower() and not a.rstrip().endswith((":", "-----"))]
    assert wrapped == []


def test_lkpp_answer_notice_says_what_staff_do_next() -> None:
    ctx = _sample_context()
    text = Renderer().render("staff_lkpp_reply", {**ctx, "closed": False}).text
    assert "Jawaban sudah diteruskan ke pelapor.\n" in text and "Nomor tiket LKPP: 4711\n" in text
    assert "balas e-mail ini dengan #tutup" in text
    assert "#tutup" not in Renderer().render("staff_lkpp_reply", {**ctx, "closed": True}).text


@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_no_run_of_blank_lines(key: str) -> None:
    # An empty optional block left two or three blank lines: on a phone, screen lines lost.
    ctx = {**_sample_context(), "answer": "Silakan coba lagi.\n\n\n\nSalam,\nAndi"}
    assert "\n\n\n" not in Renderer().render(key, ctx).text


def test_indented_lines_keep_their_indentation_in_html() -> None:
    # "Contoh: ..." under its numbered item, as in the text part; HTML would collapse the spaces.
    ctx = {**_sample_context(), "items": [{"label": "Kode tender/paket", "example": "Kode tender: 10023456000"}]}
    r = Renderer().render("ack", ctx)
    assert "1. Kode tender/paket\n   Contoh: Kode tender: 10023456000" in r.text
    assert "1. Kode tender/paket<br>\n&nbsp;&nbsp;&nbsp;Contoh: Kode tender: 10023456000" in r.html


@pytest.mark.parametrize("key", ["ack", "staff_new", "closed"])
def test_html_part_fits_a_phone_screen(key: str) -> None:
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in \
        Renderer().render(key, _sample_context()).html
