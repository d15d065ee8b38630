"""Which delivery reports are believed and what they may mark (pure: ``mailbot.core.bounces``), and
when two deliveries are the same mail (``mailbot.core.fingerprint``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailbot.core import bounces
from mailbot.core.fingerprint import content_digest
from mailbot.core.loops import Bounce, BouncedRecipient

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)
SECRET = "uji-rahasia-panjang-0123456789"
BASE = "helpdesk@lpse.test"


def test_verp_address_round_trip_and_tampering() -> None:
    token = bounces.new_token()
    address = bounces.verp_address(BASE, token, SECRET)
    assert address.startswith("helpdesk+b.") and address.endswith("@lpse.test") and len(address.split("@")[0]) <= 64
    assert bounces.verp_token([address], BASE, SECRET) == token
    assert bounces.verp_token([f"<{address.upper()}>"], BASE, SECRET) == token  # case and brackets
    assert bounces.verp_token([address], BASE, "another-secret-0123456789") is None
    assert bounces.verp_token([address.replace("@lpse.test", "@evil.example")], BASE, SECRET) is None
    forged = address[:-len("@lpse.test") - 1] + ("0" if address[-len("@lpse.test") - 1] != "0" else "1") + "@lpse.test"
    assert bounces.verp_token([forged], BASE, SECRET) is None
    assert bounces.verp_token(["helpdesk@lpse.test", "someone@vendor.test"], BASE, SECRET) is None


def _r(address: str, status: str, diagnostic: str = "", action: str = "failed") -> BouncedRecipient:
    return BouncedRecipient(address, status, diagnostic, action)


@pytest.mark.parametrize(("recipient", "message_level"), [
    (_r("a@x", "5.1.1", "smtp; 550 5.1.1 user unknown"), False),
    (_r("a@x", "5.4.4", "unable to route"), False),
    (_r("a@x", "5.2.1", "mailbox disabled"), False),
    (_r("a@x", "5.3.4", "message too big for system"), True),
    (_r("a@x", "5.2.3", "message length exceeds administrative limit"), True),
    (_r("a@x", "5.0.0", "smtp; 552 Message size exceeds fixed limit"), True),
    (_r("a@x", "5.6.1", "media type not supported"), True),
    (_r("a@x", "5.7.1", "smtp; 554 5.7.1 Message rejected as spam"), True),
    (_r("a@x", "5.7.1", "554 5.7.1 <a@x>: Recipient address rejected: Access denied"), False),
    (_r("a@x", "5.0.0", "smtp; 550 5.7.1 content rejected"), True),
    (_r("a@x", "5.0.0", "smtp; 554 no such user"), False),
    (_r("a@x", "", ""), False),
])
def test_message_level_refusals(recipient: BouncedRecipient, message_level: bool) -> None:
    assert bounces.message_level(recipient) is message_level


def test_an_unproven_report_marks_nothing() -> None:
    report = Bounce("mailbot.x@lpse.test", (_r("vendor@vendor.test", "5.1.1"),))
    verdict = bounces.judge(report, proof=None, sent_to=["vendor@vendor.test"], now=NOW)
    assert not verdict.believed and verdict.marks == () and verdict.ignored


def test_a_proven_report_marks_only_that_mails_recipients() -> None:
    report = Bounce(None, (_r("Attacker@evil.test", "5.1.1"), _r("victim@vendor.test", "5.1.1"),
                           _r("full@vendor.test", "5.2.2"), _r("slow@vendor.test", "4.4.1", action="delayed"),
                           _r("big@vendor.test", "5.3.4"), _r("plain@vendor.test", "")))
    verdict = bounces.judge(report, proof="verp", sent_to=["attacker@evil.test", "full@vendor.test",
                                                           "slow@vendor.test", "big@vendor.test", "plain@vendor.test"],
                            now=NOW)
    marks = {m.address: m for m in verdict.marks}
    assert set(marks) == {"attacker@evil.test", "full@vendor.test", "plain@vendor.test"}
    assert marks["attacker@evil.test"].permanent and marks["attacker@evil.test"].expires_at is None
    assert not marks["full@vendor.test"].permanent  # mailbox full: alive, marked for a while
    assert marks["full@vendor.test"].expires_at == NOW + bounces.TEMPORARY_MARK
    assert not marks["plain@vendor.test"].permanent  # no status given: temporary
    assert [r.address for r in verdict.refused] == ["big@vendor.test"]
    assert any("victim@vendor.test: not a recipient" in i for i in verdict.ignored)
    assert any("slow@vendor.test: delayed" in i for i in verdict.ignored)


@pytest.mark.parametrize(("error", "marked"), [
    ("recipients refused: a@x.test: 550 5.1.1 <a@x.test>: Recipient address rejected: User unknown", ["a@x.test"]),
    ("SMTPDataError: (552, '5.3.4 Message size exceeds fixed limit')", []),
    ("SMTPDataError: (554, '5.7.1 Message rejected: spam')", []),
    ("SMTPDataError: (550, 'rejected')", ["a@x.test", "b@x.test"]),
    ("recipients refused: a@x.test: 550 5.1.1 unknown; b@x.test: 552 5.2.3 too long", ["a@x.test"]),
    ("recipients refused: other@y.test: 550 5.1.1 unknown", []),
])
def test_smtp_refusals_mark_addresses_never_for_the_message(error: str, marked: list[str]) -> None:
    marks = bounces.refusal_marks(error, ["a@x.test", "b@x.test"], NOW)
    assert [m.address for m in marks] == marked and all(m.permanent for m in marks)


RAW = (b"Received: from a by b; Sat, 5 Dec 2026 09:00:00 +0700\r\nFrom: Budi <budi@vendor.test>\r\n"
       b"To: helpdesk@lpse.test\r\nSubject: Lupa password\r\nMessage-ID: <1@vendor.test>\r\n\r\nHalo.\r\n")


def test_the_same_mail_through_other_servers_has_one_digest() -> None:
    other_route = (b"Delivered-To: helpdesk+x@lpse.test\r\nReturn-Path: <budi@vendor.test>\r\n"
                   b"Received: from c by d;\r\n\tSat, 5 Dec 2026 09:00:01 +0700\r\n"
                   b"Authentication-Results: mx.lpse.test; dkim=none\r\n") + RAW.replace(b"\r\n", b"\n")
    assert content_digest(other_route) == content_digest(RAW)


@pytest.mark.parametrize("change", [
    (b"Budi <budi@vendor.test>", b"Sari <sari@vendor.test>"),
    (b"Halo.", b"Halo!"),
    (b"Lupa password", b"Lupa kata sandi"),
])
def test_another_mail_under_the_same_message_id_has_another_digest(change: tuple[bytes, bytes]) -> None:
    assert content_digest(RAW.replace(*change)) != content_digest(RAW)


def test_digest_of_headers_only_and_empty_input() -> None:
    assert content_digest(b"") != content_digest(b"Subject: x")
    assert len(content_digest(b"\r\n\r\n")) == 64


def test_a_temporary_mark_lasts_days_not_forever() -> None:
    assert timedelta(days=1) <= bounces.TEMPORARY_MARK <= timedelta(days=7)
