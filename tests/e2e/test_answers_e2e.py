"""Issue 8 on the real mail stack: canned answers, suggestions, ratings, "not solved", auto-answer."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

from tests.e2e.conftest import Deployment, reply_mail, user_mail
from tests.support.mailstack import fetch_all

FORGOT = ("Selamat pagi, saya lupa password akun penyedia SPSE. User ID saya cvmaju01, "
          "saya penyedia (vendor). Mohon bantuan reset password.")
TRAINING = "Selamat pagi,\nKapan jadwal pelatihan SPSE untuk penyedia bulan depan?\nTerima kasih."






def test_notification_suggests_answers_and_one_line_reply_sends_it(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket("Lupa password", FORGOT)
    suggested = re.findall(r"#jawab (\d+)\s+-> (.+?)\s{2,}", note.text)
    assert suggested and suggested[0][1] == "Lupa password akun SPSE"
    d.reply_and_poll(note, d.staff1, f"#jawab {suggested[0][0]}")
    [answer] = d.wait(d.user, 1, lambda m: "Tiket diterima" not in m.subject and "lengkapi" not in m.subject)
    assert "menu \"Lupa Password\"" in answer.text
    [ticket] = d.tickets()
    assert ticket.state == "analysis"
    assert any(e.kind == "canned_answer" and "1" in e.detail for e in ticket.events)


def test_own_text_plus_canned_answer_and_close_in_one_reply(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket("Jadwal pelatihan SPSE", TRAINING)
    d.reply_and_poll(note, d.staff1, "#jawab jadwal-pelatihan\n#tutup\nPelatihan terdekat tanggal 10 Desember.")
    [closed] = d.wait_subject(d.user, "Selesai")
    text = closed.text
    assert text.index("Pelatihan terdekat tanggal 10 Desember.") < text.index("Jadwal pelatihan dan bimbingan teknis")
    assert "balas e-mail ini dengan satu angka" in text and "5 = sangat baik" in text.splitlines()
    assert "mailto:" not in text  # one short line per score, no percent-encoded links (issue 21)
    assert d.tickets()[0].state == "closed"
    # The rating links (HTML) pre-fill a reply; a rating reply is stored and keeps the ticket closed.
    links = [html.unescape(h) for h in re.findall(r'<a href="(mailto:[^"]+)">', closed.html)]
    assert len(links) == 5
    to, _, query = links[0].removeprefix("mailto:").partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    rating = user_mail(d.user, unquote(to), unquote(params["subject"]), unquote(params["body"]))
    d.send(rating)
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ticket] = d.tickets()
    assert (ticket.state, ticket.rating) == ("closed", 5)
    assert any(e.kind == "rated" for e in ticket.events)
    assert len([m for m in fetch_all(d.stack, d.user) if m.from_ == d.helpdesk]) == 2  # ack + closed, no more


def test_unknown_canned_answer_is_an_error(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket("Jadwal pelatihan SPSE", TRAINING)
    d.reply_and_poll(note, d.staff1, "#jawab 999")
    [err] = d.wait_subject(d.staff1, "Perintah ditolak")
    assert "999" in err.text and "tidak ada" in err.text


def test_not_solved_reopens_and_goes_back_to_the_closer(deployment: Deployment) -> None:
    d = deployment
    note = d.open_ticket("Jadwal pelatihan SPSE", TRAINING)
    d.send(reply_mail(note, d.staff2, "#tutup\nLihat situs LPSE.", name="Staf 2"))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [closed] = d.wait_subject(d.user, "Selesai")
    d.send(reply_mail(closed, d.user, "Belum selesai, di situs LPSE tidak ada jadwalnya."))
    d.wait_helpdesk_inbox(1)
    d.poll()
    [ticket] = d.tickets()
    assert (ticket.state, ticket.assignee) == ("analysis", d.staff2)
    [told] = d.wait_subject(d.staff2, "Dibuka kembali")
    assert "tidak ada jadwalnya" in told.text


def test_auto_answer_mode_answers_a_howto_and_leaves_it_open(deployment: Deployment) -> None:
    d = deployment
    d.write_config(extra='[answers]\nauto_answer_categories = ["pelatihan"]')
    d.new_mail("Jadwal pelatihan SPSE", TRAINING)
    d.wait_helpdesk_inbox(1)
    d.poll()
    [auto] = d.wait_subject(d.user, "Jawaban untuk Anda")
    assert "Jadwal pelatihan dan bimbingan teknis" in auto.text
    assert "petugas kami akan menindaklanjutinya" in auto.text
    [ticket] = d.tickets()
    assert ticket.state == "analysis"
    assert any(e.kind == "auto_answered" for e in ticket.events)


def test_auto_answer_is_off_by_default(deployment: Deployment) -> None:
    d = deployment
    d.open_ticket("Jadwal pelatihan SPSE", TRAINING)
    assert not [m for m in fetch_all(d.stack, d.user) if "Jawaban untuk Anda" in m.subject]
