"""Property tests: no input makes the parser raise, and results keep their invariants.

Inputs are arbitrary bytes and structured mutations of the golden corpus (truncation,
byte flips, inserted header lines, spliced MIME fragments), which reach much deeper into
the MIME code than random bytes do.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.core.domain import InboundMail, fold_address
from mailbot.core.parse import (
    MAX_DEFECTS,
    MAX_FILENAME_CHARS,
    MAX_SUBJECT_CHARS,
    extract_new_text,
    html_to_text,
    parse_mail,
    sanitize_filename,
    sanitize_html,
)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "eml"
# The deep-nesting case is slow to mutate many times and adds little here.
CORPUS_MAILS = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml")) if p.stem != "deep_nesting"]

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NASTY_HEADER_LINES = [
    b"Subject: =?utf-8?B?",
    b"Subject: =?x-unknown?Q?=FF=FE?= \xff\xfe",
    b"From: <<<@>>>, \"unterminated",
    b"From: =?utf-8?Q?=E2=80=AE?= <a@b>",
    b"To: " + b"a@b, " * 200,
    b"Message-ID: <>",
    b"Message-ID: " + b"x" * 3000,
    b"References: " + b"<a@b> " * 150,
    b"Date: Mon, 99 Foo 99999 99:99:99 +9999",
    b"Content-Type: multipart/mixed",
    b"Content-Type: multipart/mixed; boundary=\"\"",
    b"Content-Type: text/plain; charset=\"idna\"",
    b"Content-Type: message/rfc822",
    b"Content-Type: ;;;==",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: x-uuencode",
    b"Content-Disposition: attachment; filename*=x-unknown''%FF%00../../x",
    b"Content-Disposition: attachment; filename*0*=utf-8''a; filename*2=b",
    b"X-Mailbot-Hops: 999999999999",
    b"X-Folded: a\r\n\tb\r\n c",
    b"\x00\x01\x02: \x7f",
    b"NoColonLine",
    b" continuation-at-start",
]

MIME_FRAGMENTS = [
    b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n",
    b"\r\n--b--\r\n",
    b"\r\n--\r\n",
    b"\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@b\r\n\r\n",
    b"\r\n=?utf-8?B?4pyT?=\r\n",
    b"<html><body><blockquote><p>x",
    b"\r\n> quoted\r\nPada Sen, 23 Nov 2026 pukul 10.15 a <a@b> menulis:\r\n",
]


def check_invariants(mail: InboundMail, raw: bytes) -> None:
    assert isinstance(mail, InboundMail)
    assert mail.message_id and not any(ch.isspace() for ch in mail.message_id)
    assert "<" not in mail.message_id[:1] and len(mail.message_id) <= 998
    assert "\n" not in mail.subject and "\r" not in mail.subject and len(mail.subject) <= MAX_SUBJECT_CHARS
    assert "\n" not in mail.from_name and "\r" not in mail.from_name
    # ASCII case only: a non-ASCII letter keeps its case (the Kelvin sign is not a K)
    assert mail.from_addr == fold_address(mail.from_addr)
    assert mail.from_addr == "" or "@" in mail.from_addr
    assert all(a == fold_address(a) and "@" in a for a in (*mail.to, *mail.cc, *mail.delivered_to))
    assert mail.date is None or mail.date.tzinfo is not None
    assert len(mail.references) <= 100 and len(mail.in_reply_to) <= 100
    assert all(i and not any(ch.isspace() for ch in i) for i in (*mail.references, *mail.in_reply_to))
    assert "\r" not in mail.text and "\x00" not in mail.text
    assert mail.new_text == mail.new_text.strip()
    assert mail.x_mailbot_hops >= 0
    assert mail.size == len(raw)
    assert len(mail.defects) <= MAX_DEFECTS
    for att in mail.attachments:
        assert_safe_filename(att.filename)
        assert att.size >= 0
        assert att.content is None or len(att.content) == att.size


def assert_safe_filename(name: str) -> None:
    assert name and len(name) <= MAX_FILENAME_CHARS
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".") and not name.endswith((".", " "))
    assert not any(unicodedata.category(ch).startswith("C") for ch in name)


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    check_invariants(parse_mail(raw), raw)


@st.composite
def mutated_corpus_mail(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(CORPUS_MAILS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["truncate", "flip", "header", "fragment", "delete", "duplicate"]))
        if not raw:
            raw = bytearray(b"\r\n")
        position = draw(st.integers(min_value=0, max_value=len(raw)))
        if kind == "truncate":
            del raw[position:]
        elif kind == "flip":
            for _ in range(draw(st.integers(min_value=1, max_value=8))):
                i = draw(st.integers(min_value=0, max_value=max(0, len(raw) - 1)))
                if raw:
                    raw[i] = draw(st.integers(min_value=0, max_value=255))
        elif kind == "header":
            line = draw(st.sampled_from(NASTY_HEADER_LINES) | st.binary(max_size=80))
            at = 0 if draw(st.booleans()) else raw.find(b"\r\n", position) + 2
            raw[max(0, at) : max(0, at)] = line + b"\r\n"
        elif kind == "fragment":
            raw[position:position] = draw(st.sampled_from(MIME_FRAGMENTS))
        elif kind == "delete":
            end = draw(st.integers(min_value=position, max_value=min(len(raw), position + 200)))
            del raw[position:end]
        else:
            end = min(len(raw), position + draw(st.integers(min_value=1, max_value=300)))
            raw[position:position] = raw[position:end]
    return bytes(raw)


@FUZZ
@given(mutated_corpus_mail())
def test_mutated_corpus_never_raises(raw: bytes) -> None:
    check_invariants(parse_mail(raw), raw)


@FUZZ
@given(mutated_corpus_mail(), st.integers(min_value=0, max_value=5000))
def test_attachment_cap_is_respected(raw: bytes, cap: int) -> None:
    for att in parse_mail(raw, max_attachment_bytes=cap).attachments:
        assert (att.content is None) == (att.size > cap)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    "Isi.", "", "> kutipan", ">> dalam", "-- ", "Pada Sen, 23 Nov 2026 pukul 10.15 A <a@b> menulis:",
    "On Mon, Nov 23, 2026 at 10:15 AM A <", "a@b> wrote:", "-----Original Message-----",
    "From: A <a@b>", "Sent: Monday, 23 Nov 2026 10:15", "To: b@c", "Subject: x", "_" * 32,
    "---------- Forwarded message ---------", "Sent from my iPhone", "    indented", "wrote:",
]) | st.text(max_size=60), max_size=25))
def test_extract_new_text_only_removes_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    result = extract_new_text(text)
    assert result == result.strip()
    # Never invents or rewrites text: every output line is an input line.
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")  # NUL is dropped
    source = {line.strip() for line in normalised.split("\n")}
    assert all(line.strip() in source for line in result.split("\n") if line.strip())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500) | st.lists(st.sampled_from([
    "<p>", "</p>", "<br>", "<div>", "</div>", "<blockquote>", "</blockquote>", "<pre>", "</pre>",
    "<script>", "</script>", "<head>", "<title>", "<body>", "<!--", "-->", "<![CDATA[", "&amp;", "&#0;",
    "&#x110000;", "<", ">", "text", "\n", "<li>", "<td>", "<hr>", "<a href='javascript:x'>",
]), max_size=40).map("".join))
def test_html_helpers_never_raise(html: str) -> None:
    text = html_to_text(html)
    assert text == text.strip() and "\r" not in text
    clean = sanitize_html(html)
    assert "<script" not in clean.lower()
    # Inside tags only: nh3 escapes "<" in text, so every "<" left starts a real tag.
    assert not re.search(r"<[^>]*\s(?:href|src)\s*=\s*[\"']?\s*javascript:", clean, re.IGNORECASE)
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", clean, re.IGNORECASE)  # no event handlers


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=300)), st.text(max_size=40), st.integers(min_value=1, max_value=9999))
def test_sanitize_filename_is_always_safe(name: str | None, content_type: str, index: int) -> None:
    result = sanitize_filename(name, content_type, index)
    assert_safe_filename(result)
    assert result not in (".", "..")
