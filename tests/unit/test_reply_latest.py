"""``reply.latest_reply`` cuts a reply where mail-parser-reply's ``parse_reply`` cuts it.

It runs the library's own normalisation and reply-header pattern and its loop, without the
signature and disclaimer searches whose results ``parse_reply`` drops; the new text of every mail
depends on it, so it is compared with the library over real mail and over text built from the
lines the library's patterns look for.
"""

from __future__ import annotations

import random
from pathlib import Path

from mailbot.core.parse import parse_mail
from mailbot.core.parse.reply import _REPLY_PARSER, latest_reply

DATA = Path(__file__).resolve().parents[1] / "data"

LINES = [
    "Terima kasih, masalahnya sudah selesai.", "", "  ", "On Mon, 23 Nov 2026 at 10:15, Budi <budi@vendor.test> wrote:",
    "Pada Sen, 23 Nov 2026 pukul 10.15, Budi <budi@vendor.test> menulis:", "> kutipan lama", ">",
    "-----Original Message-----", "-----Pesan Asli-----", "From: Budi <budi@vendor.test>",
    "Sent: Monday, November 23, 2026 10:15 AM", "To: helpdesk@lpse.test", "Subject: RE: [TTS-000001] login",
    "Dari: Budi", "Date: Mon, 23 Nov 2026", "________________________________", "-- ", "Best regards,",
    "Sent from my iPhone", "Kind regards", "Regards,", "Hormat kami,", "Budi", "\tindented", "wrote", "From:",
    "CONFIDENTIALITY: This e-mail is confidential", "Get Outlook for Android",
]


def test_real_mail_is_cut_as_the_library_cuts_it() -> None:
    texts = [parse_mail(p.read_bytes()).text for p in sorted(DATA.rglob("*.eml"))]
    assert len(texts) > 100
    for text in texts:
        assert latest_reply(text) == _REPLY_PARSER.parse_reply(text)


def test_reply_header_soup_is_cut_as_the_library_cuts_it() -> None:
    rng = random.Random(11)
    cut = 0
    for _ in range(1500):
        text = "\n".join(rng.choice(LINES) for _ in range(rng.randrange(0, 25)))
        if rng.random() < 0.3:
            text = text.replace("\n", "\r\n")
        expected = _REPLY_PARSER.parse_reply(text)
        assert latest_reply(text) == expected, text
        cut += expected is not None and len(expected) < len(text.strip()) - 20
    assert cut > 300
