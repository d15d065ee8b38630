"""The caching header registry: the same mail bytes and header values as the stdlib policies,
with each header name's class built once and short MIME header values parsed once; and the
Subject folded without the stdlib's faults (first word on the first line, exact round trip)."""

from __future__ import annotations

import random
import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from mailbot.core import mailpolicy
from mailbot.core.mailpolicy import CACHED_HEADERS, CACHED_VALUE_CHARS, CachingHeaderRegistry

SUBJECT = "[#HD-2026-0042] Tidak bisa unggah dokumen penawaran — mohon bantuan " * 2


def _compose(pol: policy.EmailPolicy) -> bytes:
    msg = EmailMessage(policy=pol)
    msg["From"] = "Helpdesk LPSE <helpdesk@lpse.test>"
    msg["To"] = "Budi Santoso <budi@vendor.test>"
    msg["Subject"] = SUBJECT
    msg.set_content("Terima kasih, laporan Anda sudah kami terima.\n")
    msg.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="bukti lampiran.pdf")
    return msg.as_bytes()


def test_composed_bytes_equal_the_stdlib_policy() -> None:
    """Byte for byte but the Subject, which mailpolicy folds itself: it reads back as it was set (the
    stdlib's reads back with two spaces before the dash, next to its encoded word)."""
    stdlib = _without_boundary(_compose(policy.SMTP))
    assert _subject(stdlib) != SUBJECT
    # The second composition is served from the cache; it must not differ either.
    for _ in range(2):
        ours = _without_boundary(_compose(mailpolicy.SMTP))
        assert _without_subject(ours) == _without_subject(stdlib)
        assert _subject(ours) == SUBJECT


def _without_subject(raw: bytes) -> bytes:
    return re.sub(rb"\r\nSubject:.*?\r\n(?! )", b"\r\n", raw, count=1, flags=re.DOTALL)


def _subject(raw: bytes) -> str:
    return str(message_from_bytes(raw, policy=policy.default)["subject"])


def _without_boundary(raw: bytes) -> bytes:
    """The mail with its random MIME boundary replaced by a fixed one."""
    boundary = message_from_bytes(raw, policy=policy.default).get_boundary()
    assert boundary
    return raw.replace(boundary.encode(), b"BOUNDARY")


def test_parsed_header_values_equal_the_stdlib_policy() -> None:
    raw = _compose(policy.SMTP)
    for _ in range(2):  # the second parse reads cached headers
        ours = message_from_bytes(raw, policy=mailpolicy.DEFAULT)
        stdlib = message_from_bytes(raw, policy=policy.default)
        assert [(k, str(v)) for k, v in ours.items()] == [(k, str(v)) for k, v in stdlib.items()]
        assert ours["To"].addresses == stdlib["To"].addresses
        parts = list(ours.iter_attachments())
        assert [p.get_filename() for p in parts] == ["bukti lampiran.pdf"]
        assert parts[0].get_content_type() == "application/pdf"


def test_short_values_are_parsed_once_long_ones_every_time() -> None:
    registry = CachingHeaderRegistry()
    first = registry("Content-Type", 'text/plain; charset="utf-8"')
    assert registry("Content-Type", 'text/plain; charset="utf-8"') is first
    assert first.params["charset"] == "utf-8"
    long_type = "text/plain; name=" + "x" * CACHED_VALUE_CHARS
    assert registry("Content-Type", long_type) is not registry("Content-Type", long_type)
    assert registry("Content-Type", long_type).params["name"] == "x" * CACHED_VALUE_CHARS
    # Headers unique per mail are not kept.
    assert registry("Subject", "Gagal upload") is not registry("Subject", "Gagal upload")


def test_the_cache_is_bounded() -> None:
    registry = CachingHeaderRegistry()
    oldest = registry("Content-Type", "application/pdf; name=0.pdf")
    for i in range(1, CACHED_HEADERS + 1):
        registry("Content-Type", f"application/pdf; name={i}.pdf")
    assert len(registry._parsed) == CACHED_HEADERS
    assert registry("Content-Type", "application/pdf; name=0.pdf") is not oldest


def test_composed_mail_reads_back_part_by_part() -> None:
    """build_message sets its own unguessable boundaries; the parts come back intact."""
    from datetime import datetime, timezone

    from mailbot.mail.compose import OutgoingAttachment, build_message
    from mailbot.mail.render import Rendered

    # A text that looks like a boundary line of the stdlib's own format must stay text.
    text = "Halo Budi,\n--===============1234567890==\nlaporan diterima.\n"
    msg = build_message(
        Rendered(subject="[HD-1] Diterima", text=text, html="<p>Halo Budi</p>"),
        sender_name="Helpdesk LPSE", sender="helpdesk@lpse.test", to=["budi@vendor.test"],
        message_id="m1@lpse.test", date=datetime(2026, 11, 28, tzinfo=timezone.utc), ticket_number="HD-1",
        attachments=[OutgoingAttachment("bukti.pdf", "application/pdf", b"%PDF-1.4 data")],
    )
    raw = msg.as_bytes()
    back = message_from_bytes(raw, policy=policy.default)
    boundaries = {back.get_boundary(), back.get_payload(0).get_boundary()}
    assert len(boundaries) == 2 and all(b and b.startswith("==mailbot-") for b in boundaries)
    assert back.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    assert back.get_body(("html",)).get_content().strip() == "<p>Halo Budi</p>"
    [attachment] = back.iter_attachments()
    assert attachment.get_filename() == "bukti.pdf"
    assert attachment.get_content() == b"%PDF-1.4 data"
    # A second mail gets other boundaries.
    again = message_from_bytes(build_message(
        Rendered(subject="x", text="y", html="<p>y</p>"), sender_name="H", sender="helpdesk@lpse.test",
        to=["budi@vendor.test"], message_id="m2@lpse.test", date=datetime(2026, 11, 28, tzinfo=timezone.utc),
        ticket_number="HD-1").as_bytes(), policy=policy.default)
    assert again.get_boundary() not in boundaries


def _reply(pol: policy.EmailPolicy, message_id: str) -> bytes:
    """An outgoing mail as build_message writes one: non-ASCII names, encoded words, a hop count."""
    msg = EmailMessage(policy=pol)
    msg["From"] = '"Helpdesk LPSE Kab. Wonosobo — Layanan" <helpdesk@lpse.test>'
    msg["To"] = "Dewi Ayu Lestari <staf1@lpse.test>, Śri Wahyuni <staf2@lpse.test>"
    msg["Subject"] = "[TTS-000042] Gagal unggah dokumen — mohon bantuan"
    msg["Date"] = "Sat, 28 Nov 2026 11:00:00 +0000"
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Mailbot-Hops"] = "1"
    msg.set_content("Tiket baru.\n")
    msg.make_alternative(boundary="==batas")  # the parts are written with clones of the policy
    msg.add_alternative("<p>Tiket baru.</p>\n", subtype="html")
    return msg.as_bytes()


def test_outgoing_headers_are_shared_and_compose_as_the_stdlib_does() -> None:
    """The composing policy keeps repeated headers and their folded bytes; a kept header must
    write the same bytes in every mail that uses it, non-ASCII display names and encoded words
    included."""
    for i in range(3):
        mid = f"<{i}.reply@lpse.test>"
        ours, stdlib = _reply(mailpolicy.SMTP, mid), _reply(policy.SMTP, mid)
        assert _without_subject(ours) == _without_subject(stdlib) and _subject(ours) == _subject(stdlib)
    registry = mailpolicy.SMTP.header_factory
    to = "Dewi Ayu Lestari <staf1@lpse.test>, Śri Wahyuni <staf2@lpse.test>"
    assert registry("To", to) is registry("To", to)
    assert [a.addr_spec for a in registry("To", to).addresses] == ["staf1@lpse.test", "staf2@lpse.test"]
    # Thread identifiers never repeat: they are not kept.
    assert registry("Message-ID", "<1.x@lpse.test>") is not registry("Message-ID", "<1.x@lpse.test>")
    # Folded once, then the same bytes for the same header object and settings.
    subject = registry("Subject", "[TTS-000042] Gagal unggah dokumen penawaran — mohon bantuan segera, batas "
                                  "waktu pemasukan penawaran hari ini pukul 15.00")
    assert mailpolicy.SMTP.fold_binary("Subject", subject) is mailpolicy.SMTP.fold_binary("Subject", subject)
    assert b"\r\n " in mailpolicy.SMTP.fold_binary("Subject", subject)
    # Other settings fold their own way (a clone is not served the bytes folded at 78 columns).
    wide = mailpolicy.SMTP.clone(max_line_length=998)
    assert b"\r\n " not in wide.fold_binary("Subject", subject)
    for folded in (mailpolicy.SMTP.fold_binary("Subject", subject), wide.fold_binary("Subject", subject)):
        assert str(message_from_bytes(folded + b"\r\n", policy=policy.default)["subject"]) == str(subject)
    # The parsing policy keeps MIME headers only (inbound From and To are unique per mail).
    assert mailpolicy.DEFAULT.header_factory("To", to) is not mailpolicy.DEFAULT.header_factory("To", to)


def test_as_bytes_writes_exactly_what_the_stdlib_writes() -> None:
    """``mailpolicy.as_bytes`` only writes with fewer calls: the same bytes for every kind of part
    (7bit and quoted-printable text, base64 attachments, text with every kind of line end)."""
    from datetime import datetime, timezone

    from mailbot.mail.compose import OutgoingAttachment, build_message
    from mailbot.mail.render import Rendered

    texts = ["Halo Budi,\nlaporan diterima.\n", "Baris panjang é " * 40 + "\r\nakhir\rlagi\n\n", "", "tanpa akhir"]
    for text in texts:
        msg = build_message(
            Rendered(subject="[HD-1] Diterima — mohon tunggu", text=text, html=f"<p>{text}</p>\r\n"),
            sender_name="Helpdesk LPSE", sender="helpdesk@lpse.test", to=["budi@vendor.test", "s@lpse.test"],
            message_id="m1@lpse.test", date=datetime(2026, 11, 28, tzinfo=timezone.utc), ticket_number="HD-1",
            attachments=[OutgoingAttachment("bukti.pdf", "application/pdf", bytes(range(256)) * 300),
                         OutgoingAttachment("catatan.txt", "text/plain", b"baris\r\nkedua\n")],
        )
        assert mailpolicy.as_bytes(msg) == msg.as_bytes()
    parsed = message_from_bytes(b"Subject: x\nContent-Type: text/plain\n\nsatu\r\ndua\rtiga\n", policy=policy.SMTP)
    assert mailpolicy.as_bytes(parsed) == parsed.as_bytes()


@pytest.mark.parametrize("lines", ["a\r\nb", "a\r\r\nb", "a\n\rb", "\r", "\n", "\r\n", "a\rb\r", "x\n\n\r\r\n\ny", "é\r\n" * 5])
@pytest.mark.parametrize("linesep", ["\r\n", "\n"])
def test_line_ends_are_made_as_the_stdlib_makes_them(lines: str, linesep: str) -> None:
    from email.generator import NLCRE  # type: ignore[attr-defined]  # not in typeshed
    from io import BytesIO

    gen = mailpolicy._WholeBodyGenerator(BytesIO(), policy=policy.SMTP.clone(linesep=linesep))
    gen._NL = linesep  # type: ignore[attr-defined]  # as flatten() sets it
    out: list[str] = []
    gen.write = out.append  # type: ignore[method-assign]
    gen._write_lines(lines)
    assert "".join(out) == NLCRE.sub(linesep, lines)


# ---- Subject folding ------------------------------------------------------------------------------

TAG = "[TTS-000123] [TINGGI] Tiket baru: "
SUBJECTS = [
    # The stdlib folded these as "Subject:\r\n [TTS-..." (a space first, once unfolded).
    '[TTS-000001] aa[]a<aaa?aaaa=a:=aaaaa]a" a aa)-a]aaaaaaaaaaaaaaaaaaaaaaaaa',
    'Re: [TTS-000001] a=aaaaaaaaaaaa a)-aaaaaaa"]aaa aaaa aa aaa\\"@,aaaaa[aaaaaa<',
    TAG + "Tidak bisa mengunggah dokumen penawaran karena batas waktu pemasukan hari ini pukul 15.00 WIB",
    TAG + "x" * 120,  # a word longer than a line
    TAG + "Dokumen penawaran — gagal diunggah (error 500) “mohon” bantuan segera ",
    TAG + "Überweisung · 日本語のテキスト · 😀 emoji · Ñandú " * 4,
    TAG + "looks like =?utf-8?q? an =? encoded ?= word but is text",
    TAG + "underscores_and = signs ? and \\ backslashes \"quoted\"",
    "[TTS-000001] é",
    "é" * 200,
    "[TTS-000001]",
]


def _mail_with_subject(subject: str) -> bytes:
    from datetime import datetime, timezone

    from mailbot.mail.compose import build_message
    from mailbot.mail.render import Rendered

    msg = build_message(Rendered(subject=subject, text="Teks.\n", html="<p>Teks.</p>"), sender_name="Helpdesk LPSE",
                        sender="helpdesk@lpse.test", to=["budi@vendor.test"], message_id="s1@lpse.test",
                        date=datetime(2026, 11, 28, tzinfo=timezone.utc), ticket_number="TTS-000001")
    return mailpolicy.as_bytes(msg)


def _subject_lines(raw: bytes) -> list[bytes]:
    lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(b"Subject:"))
    end = start + 1
    while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
        end += 1
    return lines[start:end]


@pytest.mark.parametrize("subject", SUBJECTS, ids=range(len(SUBJECTS)))
def test_a_long_subject_is_folded_after_its_first_word_and_reads_back_exactly(subject: str) -> None:
    from mailbot.core.parse import MAX_SUBJECT_CHARS, parse_mail
    from mailbot.mail.compose import _safe_header_text

    expected = _safe_header_text(subject)
    raw = _mail_with_subject(subject)
    lines = _subject_lines(raw)
    assert lines[0].startswith(b"Subject: ") and lines[0] != b"Subject: ", lines
    unfolded = b"".join(lines).decode("ascii")[len("Subject:"):]
    assert unfolded.startswith(" ") and not unfolded.startswith("  ")  # one space after the colon, no more
    assert all(len(line) <= 78 for line in lines), lines
    assert str(message_from_bytes(raw, policy=policy.default)["subject"]) == expected
    if len(expected) <= MAX_SUBJECT_CHARS:
        assert parse_mail(raw).subject == expected  # the bot reads its own subjects (staff replies)


def test_random_subjects_read_back_exactly() -> None:
    from mailbot.mail.compose import _safe_header_text

    rng = random.Random(17)
    pieces = ["a", "kata", "é", " ", "(", ")", '"', "=", "?", "=?", "?=", "_", "\\", "日本", "😀", ":", "—", "x" * 90]
    for _ in range(400):
        subject = _safe_header_text("[TTS-000001] " + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 80))))
        raw = _mail_with_subject(subject)
        lines = _subject_lines(raw)
        assert lines[0].startswith(b"Subject: [TTS-000001]"), lines
        assert all(len(line) <= 78 for line in lines), lines
        assert str(message_from_bytes(raw, policy=policy.default)["subject"]) == subject


def test_fold_subject_keeps_runs_of_spaces_and_plain_ascii_readable() -> None:
    from mailbot.core.mailpolicy import fold_subject

    folded = fold_subject("Subject", "[TTS-000001]  dua  spasi é  lalu  teks")
    assert str(message_from_bytes(folded.encode() + b"\r\n", policy=policy.default)["subject"]) == (
        "[TTS-000001]  dua  spasi é  lalu  teks")
    plain = fold_subject("Subject", TAG + "Tidak bisa login ke SPSE sejak pagi tadi, mohon dibantu segera ya")
    assert "=?" not in plain and plain.startswith("Subject: [TTS-000123] [TINGGI]") and "\r\n " in plain
    assert fold_subject("Subject", "") == "Subject: \r\n"


_IDS = [f"<mailbot.{k:032x}@lpse.test>" for k in range(1, 25)]
_PLAIN_VALUES = [
    ("To", "budi@vendor.test"),
    ("To", "staf1@lpse.test, staf2@lpse.test"),
    ("To", ", ".join(f"staf{k}.nama-panjang+tim=lpse@pemda.kota-uji.go.id" for k in range(6))),  # folded
    ("Reply-To", "helpdesk+t42.0123456789abcdef@lpse.test"),
    ("Message-ID", _IDS[0]),
    ("In-Reply-To", "<CAF=x+y_z-1.2@mail.gmail.com>"),
    ("References", " ".join(_IDS[:1])),
    ("References", " ".join(_IDS[:2])),
    ("References", " ".join(_IDS)),  # folded over several lines
    ("Date", "Sun, 06 Dec 2026 03:11:53 +0000"),
    ("X-Mailbot-Ticket", "TTS-000001"),
]


@pytest.mark.parametrize(("name", "value"), _PLAIN_VALUES)
def test_plain_headers_kept_as_text_are_written_and_read_as_the_stdlib_does(name: str, value: str) -> None:
    assert mailpolicy.is_plain(name, value)
    ours = EmailMessage(policy=mailpolicy.SMTP)
    ours[name] = value
    theirs = EmailMessage(policy=policy.SMTP)
    theirs[name] = value
    assert mailpolicy.as_bytes(ours) == theirs.as_bytes()
    assert str(ours[name]) == str(theirs[name])
    assert type(ours[name]).__name__ == type(theirs[name]).__name__


@pytest.mark.parametrize(("name", "value"), [
    ("To", "Budi <budi@vendor.test>"), ("To", '"budi santoso"@vendor.test'), ("To", "a..b@vendor.test"),
    ("To", "budi@vendor.test,sari@vendor.test"), ("Message-ID", "<tanpa-domain>"), ("In-Reply-To", "<a@b> (komentar)"),
    ("Reply-To", "budi@vendor.test\r\nBcc: x@y.test"), ("Subject", "budi@vendor.test"), ("Date", "kemarin"),
])
def test_other_values_are_parsed_as_before(name: str, value: str) -> None:
    assert not mailpolicy.is_plain(name, value)
    if "\n" in value:  # still refused: no header injection
        with pytest.raises(ValueError):
            EmailMessage(policy=mailpolicy.SMTP)[name] = value
        return
    ours = EmailMessage(policy=mailpolicy.SMTP)
    ours[name] = value
    theirs = EmailMessage(policy=policy.SMTP)
    theirs[name] = value
    assert mailpolicy.as_bytes(ours) == theirs.as_bytes()


def test_fold_words_folds_plain_unstructured_values_as_the_stdlib() -> None:
    import random

    rng = random.Random(4)
    chars = "abcXYZ019._+=-"
    folded = 0
    for _ in range(3000):
        name = rng.choice(["References", "In-Reply-To", "X-Mailbot-Ticket"])
        words = ["<" + "".join(rng.choice(chars) for _ in range(rng.randrange(1, 80))) + "@b.test>"
                 for _ in range(rng.randrange(1, 12))]
        value = " ".join(words)
        theirs = EmailMessage(policy=policy.SMTP)
        theirs[name] = value
        expected = theirs.as_bytes().split(b"\r\n\r\n")[0] + b"\r\n"
        ours = mailpolicy.fold_words(name, value)
        if ours is None:  # a word too long for a line: left to the stdlib
            assert any(len(w) > 77 for w in words) or len(name) + 2 + len(words[0]) > 78
            continue
        assert ours.encode() == expected, value
        folded += "\r\n " in ours
    assert folded > 500


def test_the_parsing_policy_reads_every_header_as_policy_default() -> None:
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "eml"  # the golden corpus: the odd MIME cases
    mails = [p.read_bytes() for p in sorted(data.glob("*.eml")) if p.stem != "deep_nesting"]
    folded = b"Content-Type: text/plain;\r\n charset=\"utf-8\"\r\nContent-Disposition: attachment;\r\n\tfilename=\"a\xff.txt\"\r\n\r\nx"
    for raw in [*mails, folded]:
        for _ in range(2):  # the second read comes from the cache
            ours = [*message_from_bytes(raw, policy=mailpolicy.DEFAULT).walk()]
            theirs = [*message_from_bytes(raw, policy=policy.default).walk()]
            assert len(ours) == len(theirs)
            for a, b in zip(ours, theirs, strict=True):
                assert (a.get_content_type(), a.get_params(), a.get_filename(), a.get_content_charset(),
                        a.get_content_disposition(), a.is_attachment()) == (
                        b.get_content_type(), b.get_params(), b.get_filename(), b.get_content_charset(),
                        b.get_content_disposition(), b.is_attachment())
                for name in a.keys():
                    assert [(type(h).__name__, str(h)) for h in a.get_all(name)] == [
                        (type(h).__name__, str(h)) for h in b.get_all(name)]
