"""The caching header registry: the same mail bytes and header values as the stdlib policies,
with each header name's class built once and short header values parsed once."""

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
    long_subject = "x" * (CACHED_VALUE_CHARS + 1)
    assert registry("Subject", long_subject) is not registry("Subject", long_subject)
    assert registry("Subject", long_subject) == long_subject


def test_the_cache_is_bounded() -> None:
    registry = CachingHeaderRegistry()
    oldest = registry("Message-ID", "<0@lpse.test>")
    for i in range(1, CACHED_HEADERS + 1):
        registry("Message-ID", f"<{i}@lpse.test>")
    assert len(registry._parsed) == CACHED_HEADERS
    assert registry("Message-ID", "<0@lpse.test>") is not oldest
