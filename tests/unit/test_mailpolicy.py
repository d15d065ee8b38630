"""The caching header registry: the same mail bytes and header values as the stdlib policies,
with each header name's class built once and short MIME header values parsed once."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from mailbot import mailpolicy
from mailbot.mailpolicy import CACHED_HEADERS, CACHED_VALUE_CHARS, CachingHeaderRegistry


def _compose(pol: policy.EmailPolicy) -> bytes:
    msg = EmailMessage(policy=pol)
    msg["From"] = "Helpdesk LPSE <helpdesk@lpse.test>"
    msg["To"] = "Budi Santoso <budi@vendor.test>"
    msg["Subject"] = "[#HD-2026-0042] Tidak bisa unggah dokumen penawaran — mohon bantuan " * 2
    msg.set_content("Terima kasih, laporan Anda sudah kami terima.\n")
    msg.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="bukti lampiran.pdf")
    return msg.as_bytes()


def test_composed_bytes_equal_the_stdlib_policy() -> None:
    stdlib = _without_boundary(_compose(policy.SMTP))
    # The second composition is served from the cache; it must not differ either.
    assert _without_boundary(_compose(mailpolicy.SMTP)) == stdlib
    assert _without_boundary(_compose(mailpolicy.SMTP)) == stdlib


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

    from mailbot.compose import OutgoingAttachment, build_message
    from mailbot.render import Rendered

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
        assert _reply(mailpolicy.SMTP, mid) == _reply(policy.SMTP, mid)
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
    assert mailpolicy.SMTP.fold_binary("Subject", subject) == policy.SMTP.fold_binary("Subject", subject)
    assert b"\r\n " in mailpolicy.SMTP.fold_binary("Subject", subject)
    # Other settings fold their own way (a clone is not served the bytes folded at 78 columns).
    wide = mailpolicy.SMTP.clone(max_line_length=998)
    assert wide.fold_binary("Subject", subject) == policy.SMTP.clone(max_line_length=998).fold_binary("Subject", subject)
    assert b"\r\n " not in wide.fold_binary("Subject", subject)
    # The parsing policy keeps MIME headers only (inbound From and To are unique per mail).
    assert mailpolicy.DEFAULT.header_factory("To", to) is not mailpolicy.DEFAULT.header_factory("To", to)


def test_as_bytes_writes_exactly_what_the_stdlib_writes() -> None:
    """``mailpolicy.as_bytes`` only writes with fewer calls: the same bytes for every kind of part
    (7bit and quoted-printable text, base64 attachments, text with every kind of line end)."""
    from datetime import datetime, timezone

    from mailbot.compose import OutgoingAttachment, build_message
    from mailbot.render import Rendered

    texts = ["Halo Budi,\nlaporan diterima.\n", "Baris panjang é " * 40 + "\r\nakhir\rlagi\n\n", "", "tanpa akhir"]
    for text in texts:
        msg = build_message(
            Rendered(subject="[HD-1] Diterima — mohon tunggu", text=text, html=f"<p>{text}</p>\r\n"),
            sender_name="Helpdesk LPSE", sender="helpdesk@lpse.test", to=["budi@vendor.test", "s@lpse.test"],
            message_id="m1@lpse.test", date=datetime(2026, 11, 28, tzinfo=timezone.utc), ticket_number="HD-1",
            attachments=[OutgoingAttachment("bukti.pdf", "application/pdf", bytes(range(256)) * 300),
                         OutgoingAttachment("catatan.txt", "text/plain", "baris\r\nkedua\n".encode())],
        )
        assert mailpolicy.as_bytes(msg) == msg.as_bytes()
    parsed = message_from_bytes(b"Subject: x\nContent-Type: text/plain\n\nsatu\r\ndua\rtiga\n", policy=policy.SMTP)
    assert mailpolicy.as_bytes(parsed) == parsed.as_bytes()
