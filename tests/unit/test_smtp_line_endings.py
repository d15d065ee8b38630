"""What aiosmtplib transmits is unchanged by mailbot's faster line-end normalisation."""

from __future__ import annotations

import aiosmtplib.protocol
import aiosmtplib.smtp
import pytest

from mailbot.mail import smtp


@pytest.mark.parametrize("message", [
    b"", b"\r\n", b"a", b"a\r\nb\r\n", b"a\r\nb", b"a\nb\n", b"a\rb\r", b"a\r\r\nb", b"a\n\r\nb",
    b"a\r\n\rb\r\n", b"\r", b"\n", b"Subject: x\r\n\r\n.line\r\n..\r\n" * 50, b"x\r\n" * 3000 + b"y\n",
])
def test_same_bytes_as_aiosmtplib(message: bytes) -> None:
    assert smtp.normalize_line_endings(message) == smtp._normalize_by_regex(message)


def test_aiosmtplib_uses_it_for_size_and_data() -> None:
    # A composed mail with only CRLF line ends goes out exactly as composed, with the SIZE counted.
    # (Fails after an aiosmtplib upgrade that renamed these internals: the bot still sends, at
    # aiosmtplib's own speed; look at mailbot.mail.smtp._speed_up_aiosmtplib.)
    assert smtp.SPED_UP
    assert aiosmtplib.protocol.normalize_message_line_endings is smtp.normalize_line_endings
    assert aiosmtplib.smtp.normalize_message_line_endings is smtp.normalize_line_endings


@pytest.mark.parametrize("message", [
    b"", b".", b".\r\n", b"a\r\n.\r\n", b"a\r\n..b\r\n.c", b"a.b\r\n", b"a\r.b\r\n", b"a\n.b", b"no dots\r\n" * 100,
])
def test_dot_stuffing_as_aiosmtplib_does_it(message: bytes) -> None:
    stuffing = aiosmtplib.protocol.PERIOD_REGEX
    assert isinstance(stuffing, smtp._DotStuffing)
    assert stuffing.sub(b"..", message) == stuffing.regex.sub(b"..", message)


def test_asked_twice_the_answer_is_the_same() -> None:
    clean, lone = b"a\r\nb\r\n" * 10, b"a\nb\r\n" * 10
    for message in (clean, lone, clean, lone):
        assert smtp.normalize_line_endings(message) == smtp._normalize_by_regex(message)
        assert smtp.normalize_line_endings(message) == smtp._normalize_by_regex(message)


def test_an_aiosmtplib_without_these_internals_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A release that renamed them must not stop the bot: nothing is replaced, no error."""
    monkeypatch.delattr(aiosmtplib.smtp, "normalize_message_line_endings")
    assert smtp._speed_up_aiosmtplib() is False
    monkeypatch.undo()
    monkeypatch.setattr(aiosmtplib.protocol, "PERIOD_REGEX", object())
    assert smtp._speed_up_aiosmtplib() is False


def test_mails_of_several_connections_in_turn_keep_their_bytes() -> None:
    """The last few clean mails are remembered (SIZE of one connection's mail, then the others',
    then its DATA); a mail with lone line ends is never taken for one of them."""
    mails = [b"m%d\r\nbody\r\n" % i * (i + 1) for i in range(smtp.CLEAN_SLOTS + 2)]
    lone = [m.replace(b"\r\n", b"\n", 1) for m in mails]
    for _ in range(3):
        for mail in mails + lone + mails[::-1]:
            assert smtp.normalize_line_endings(mail) == smtp._normalize_by_regex(mail)
    kept = smtp._clean[0]
    assert len(kept) <= smtp.CLEAN_SLOTS and all(m in mails for m in kept)
