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
