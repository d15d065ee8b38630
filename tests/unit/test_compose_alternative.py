"""A reply with an HTML alternative is put together directly (``compose.build_message``), not
through the stdlib's ``set_content`` + ``make_alternative`` + ``add_alternative``: the bytes
recipients get must be the same as those calls make, with and without attachments."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest

from mailbot.core import mailpolicy
from mailbot.mail import compose
from mailbot.mail.compose import OutgoingAttachment, build_message
from mailbot.mail.render import Rendered, text_to_html

TEXTS = [
    "Terima kasih, laporan Anda sudah kami terima.\n",
    "Yth. Bapak/Ibu — kendala unggah dokumen penawaran ñ é, mohon dicoba lagi. " * 30,
    "x" * 2000 + "\nbaris kedua =?utf-8?q?bukan?= kata terkode\n",
]
ATTACHMENTS = [OutgoingAttachment("layar ünggah.png", "image/png", bytes(range(256)) * 20),
               OutgoingAttachment("bukti.pdf", "application/pdf", b"%PDF-1.4 x")]


def _build(rendered: Rendered, attachments: list[OutgoingAttachment]):
    return build_message(rendered, sender_name="Helpdesk LPSE Kota Uji", sender="helpdesk@lpse.test",
                         to=["budi@vendor.test", "sari@vendor.test"], message_id="m1@lpse.test",
                         date=datetime(2026, 12, 1, 3, 4, 5, tzinfo=timezone.utc), ticket_number="TTS-000042",
                         in_reply_to="u1@vendor.test", references=["u0@vendor.test", "u1@vendor.test"],
                         reply_to="helpdesk+t.42@lpse.test", attachments=attachments)


@pytest.mark.parametrize(("text", "count"), list(itertools.product(TEXTS, (0, 1, 2))))
def test_html_alternative_bytes_equal_the_stdlib_calls(monkeypatch: pytest.MonkeyPatch, text: str,
                                                       count: int) -> None:
    html = text_to_html(text)
    subject = "[TTS-000042] Tiket diterima: ünggah dokumen"
    boundaries = iter(["==b-alternative", "==b-mixed"])
    monkeypatch.setattr(compose, "_boundary", lambda: next(boundaries))
    ours = mailpolicy.as_bytes(_build(Rendered(subject, text, html), ATTACHMENTS[:count]))
    # The stdlib's way: the plain reply, then the alternative and the attachments added to it.
    ref = _build(Rendered(subject, text, ""), [])
    ref.make_alternative(boundary="==b-alternative")
    ref.add_alternative(html, subtype="html", charset="utf-8")
    if count:
        ref.make_mixed(boundary="==b-mixed")
        for att in ATTACHMENTS[:count]:
            maintype, _, subtype = att.content_type.partition("/")
            ref.add_attachment(att.content, maintype=maintype, subtype=subtype, filename=att.filename)
    expected = mailpolicy.as_bytes(ref)
    assert ours == expected
    assert b"text/html" in ours and b"MIME-Version: 1.0" in ours
