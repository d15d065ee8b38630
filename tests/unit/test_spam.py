"""The mail server's spam verdict (``core.spam``): only a positive verdict of a known filter counts."""

from __future__ import annotations

import pytest

from mailbot.core.parse import parse_mail
from mailbot.core.spam import spam_verdict

SPAM = [
    (["x-spam-flag: YES"], "x-spam-flag: YES"),  # SpamAssassin
    (["x-spam-status: Yes, score=7.3 required=5.0 tests=BAYES_99,URIBL_BLACK"],
     "x-spam-status: Yes, score=7.3 required=5.0 tests=BAYES_99,URIBL_BLACK"),
    (["x-spam: Yes"], "x-spam: Yes"),  # rspamd's milter
    (["x-forefront-antispam-report: CIP:203.0.113.9;CTRY:;LANG:id;SCL:6;SRV:;IPV:NLI;SFV:SPM;H:mx;"],
     "x-forefront-antispam-report: SFV:SPM"),  # Exchange Online Protection
    (["x-ms-exchange-organization-scl: 7"], "x-ms-exchange-organization-scl: 7"),
    # A forged "not spam" first does not hide the filter's "yes" below it.
    (["x-spam-flag: NO", "x-spam-flag: YES"], "x-spam-flag: YES"),
]
NOT_SPAM = [
    [],
    ["x-spam-flag: NO"],
    ["x-spam-status: No, score=-0.1 required=5.0 tests=DKIM_SIGNED,DKIM_VALID"],
    ["x-spam: no"],
    ["x-spam: yesterday"],  # not a verdict
    ["x-forefront-antispam-report: CIP:203.0.113.9;SCL:1;SFV:NSPM;H:mx;"],
    ["x-ms-exchange-organization-scl: 1"],
    ["x-ms-exchange-organization-scl: -1"],  # a trusted sender
    ["x-spam-level: ********"],  # stars are a score, not a verdict; the flag carries the verdict
]


@pytest.mark.parametrize(("fields", "verdict"), SPAM)
def test_a_filter_that_says_spam(fields: list[str], verdict: str) -> None:
    assert spam_verdict(fields) == verdict


@pytest.mark.parametrize("fields", NOT_SPAM)
def test_no_verdict_is_no_spam(fields: list[str]) -> None:
    assert spam_verdict(fields) is None


def test_the_parser_reads_the_verdict_fields_of_a_real_header() -> None:
    raw = (b"Return-Path: <promo@bulk.example>\r\nX-Spam-Flag: YES\r\n"
           b"X-Spam-Status: Yes, score=9.0 required=5.0\r\nX-Spam-Level: *********\r\n"
           b"From: Promo <promo@bulk.example>\r\nTo: helpdesk@lpse.test\r\nSubject: Penawaran spesial\r\n"
           b"Message-ID: <p1@bulk.example>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0700\r\n\r\nBeli sekarang.\r\n")
    mail = parse_mail(raw)
    assert mail.spam_headers == ("x-spam-flag: YES", "x-spam-status: Yes, score=9.0 required=5.0")
    assert spam_verdict(mail.spam_headers) == "x-spam-flag: YES"
