"""``compose.message_bytes`` writes a reply without the ``email`` package's message objects: what
recipients get must be exactly what ``mailpolicy.as_bytes(build_message(...))`` writes, for every
kind of text (plain, non-ASCII, long lines, line ends of all kinds, look-alike encoded words), with
and without the HTML alternative and threading headers, and it must refuse what the message refuses."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timezone
from email.message import _formatparam  # type: ignore[attr-defined]
from typing import Any

import pytest

from mailbot.core import mailpolicy
from mailbot.mail import compose
from mailbot.mail.compose import OutgoingAttachment, build_message, message_bytes
from mailbot.mail.render import Rendered, text_to_html

WORDS = ["Yth.", "Bapak/Ibu", "—", "laporan", "ünggah", "x" * 90, "=?utf-8?q?a?=", '"kutip"', "a\\b", "Terima",
         "kasih", "", " ", "\t", "\r", "\r\n", "\n", ".", "From", "€€€", "\u00a0", "🙂", "(a)", "<b>", ";", ":",
         ",", "@", "[TTS-000001]", "Re:", "  "]


def _case(rng: random.Random, i: int) -> tuple[Rendered, dict[str, Any]]:
    def words(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, k)))
    text = "\n".join(words(15) for _ in range(rng.randint(0, 30)))
    html = rng.choice(["", text_to_html(text), "<p>" + words(40) + "</p>\n" * rng.randint(1, 20)])
    return Rendered(words(12), text, html), dict(
        sender_name=rng.choice(["Helpdesk LPSE Kota Uji", 'Helpdesk "LPSE", Kota', "Layanan é"]),
        sender="helpdesk@lpse.test",
        to=rng.choice([["budi@vendor.test"], ["budi@vendor.test", "sari.dewi@vendor.test"],
                       ["x" * 70 + "@vendor.test", "y@vendor.test"], ["Budi <budi@vendor.test>"]]),
        message_id=f"mailbot.{i:x}@lpse.test", date=datetime(2026, 11, 23, 3, i % 60, tzinfo=timezone.utc),
        ticket_number=f"TTS-{i:06d}", in_reply_to=rng.choice([None, "u1@vendor.test", "a.b+c@x.test"]),
        references=rng.choice([[], ["u1@vendor.test"], [f"m{k}@vendor.test" for k in range(25)]]),
        reply_to=rng.choice([None, "helpdesk+t12.abc@lpse.test"]), hops=rng.randint(1, 3),
        auto_submitted=rng.choice(["auto-replied", "auto-generated"]))


FILES = [("layar ünggah.png", "image/png"), ("bukti.pdf", "application/pdf"), ("a b;c\"d.txt", "text/plain"),
         ("x" * 120 + ".zip", "application/zip"), ("surat penawaran (final) — revisi 2.docx",
                                                   "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
         ("tanpa-jenis", ""), ("pesan.eml", "message/rfc822"), ("aneh", "image/png; name=x"), ("", "image/png")]


def _boundaries(drawn: list[str]) -> Callable[[], str]:
    """``_boundary`` drawing ``drawn`` in order (a reply with HTML and attachments takes two)."""
    return iter(drawn).__next__


def test_reply_bytes_equal_the_message_written_by_the_stdlib(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(24)
    written: list[bool] = []  # with attachments: written directly, or through build_message
    for i in range(600):
        rendered, kw = _case(rng, i)
        if i % 3 == 0:
            kw["attachments"] = [OutgoingAttachment(name, kind, rng.randbytes(rng.choice([0, 1, 56, 57, 58, 3000])))
                                 for name, kind in rng.sample(FILES, rng.randint(1, 3))]
            written.append(all(compose._direct(a) for a in kw["attachments"]))
        drawn = [f"==mailbot-{rng.getrandbits(128):032x}" for _ in range(2)]  # as ``_boundary`` makes them
        monkeypatch.setattr(compose, "_boundary", _boundaries(drawn))
        ours = message_bytes(rendered, **kw)
        monkeypatch.setattr(compose, "_boundary", _boundaries(drawn))
        assert ours == mailpolicy.as_bytes(build_message(rendered, **kw)), (rendered, kw)
    assert written.count(True) > 50 and written.count(False) > 50


def test_reply_with_attachments_is_the_message_written_by_the_stdlib(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = ["==mailbot-" + "a" * 32, "==mailbot-" + "b" * 32]
    monkeypatch.setattr(compose, "_boundary", _boundaries(drawn))
    rendered, kw = _case(random.Random(5), 1)
    rendered = Rendered(rendered.subject, "Terima kasih.\n", "<p>Terima kasih.</p>\n")
    kw["attachments"] = [OutgoingAttachment("layar ünggah.png", "image/png", bytes(range(256)) * 20)]
    raw = message_bytes(rendered, **kw)
    monkeypatch.setattr(compose, "_boundary", _boundaries(drawn))
    assert raw == mailpolicy.as_bytes(build_message(rendered, **kw))
    assert b'filename*=utf-8\'\'layar%20%C3%BCnggah.png' in raw
    assert raw.index(b"multipart/mixed") < raw.index(b"multipart/alternative") < raw.index(b"image/png")


@pytest.mark.parametrize("field", ["to", "reply_to", "subject"])
def test_a_line_break_cannot_inject_a_header(field: str) -> None:
    rendered, kw = _case(random.Random(7), 2)
    if field == "subject":  # made one line, as build_message makes it
        rendered = Rendered("Halo\r\nBcc: x@evil.test", rendered.text, rendered.html)
        assert b"\r\nBcc:" not in message_bytes(rendered, **kw)
        return
    kw[field] = ["budi@vendor.test\r\nBcc: x@evil.test"] if field == "to" else "a@lpse.test\r\nBcc: x@evil.test"
    with pytest.raises(ValueError):
        mailpolicy.as_bytes(build_message(rendered, **kw))
    with pytest.raises(ValueError):
        message_bytes(rendered, **kw)


def test_base64_body_is_the_stdlib_encoding_of_any_size() -> None:
    """An attachment's body: the lines the stdlib writes (57 bytes a line, ``=`` padding on the
    last only, CRLF after each), for sizes around every line and padding boundary and large ones."""
    from email.contentmanager import _encode_base64  # type: ignore[attr-defined]

    rng = random.Random(24)
    sizes = [*range(0, 240), 56 * 57, 57 * 57, 57 * 57 + 1, *(rng.randint(0, 300_000) for _ in range(40))]
    for size in sizes:
        data = rng.randbytes(size)
        for width in (78, 76, 100):
            expected = mailpolicy.crlf_body(_encode_base64(data, width))
            assert compose.base64_body(data, width) == expected, (size, width)


def test_disposition_line_is_the_policy_folding_of_the_value() -> None:
    """``_disposition_bytes`` writes what the composing policy writes for every file name: plain
    names of every length around the line's end, and names it leaves to the policy."""
    policy = mailpolicy.SMTP
    rng = random.Random(78)
    alphabet = "abcXYZ019._()+- " + "  ;,'\"\\=?é@[]"
    names = ["laporan.pdf", "Laporan Akhir (2).pdf", "a b", " a", "a ", "a  b", "x" * 200, "=?utf-8?q?a?=.pdf", "ü.pdf"]
    names += ["f" * n + ".pdf" for n in range(30, 60)]
    for _ in range(3000):
        size = rng.choice((1, 5, 20, 40, 45, 50, 55, 60, 80))
        names.append("".join(rng.choice(alphabet[:16] if rng.random() < 0.7 else alphabet) for _ in range(size)))
    fast = 0
    for name in names:
        value = "attachment; " + _formatparam("filename", name, True)
        expected = policy.fold_binary(*policy.header_store_parse("Content-Disposition", value))
        assert compose._disposition_bytes(name) == expected, name
        fast += compose._PLAIN_FILENAME.fullmatch(name) is not None and len(value) + 21 <= compose.FOLD_AT
    assert fast > 300
