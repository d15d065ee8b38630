"""``parse_mail`` reads the From header once for the sender and for "several senders": the same
sender, the same verdict and the same defects, in the same order, as reading it twice did."""

from __future__ import annotations

from email.message import Message

import pytest

from mailbot.core.parse import parse_mail
from mailbot.core.parse.headers import Headers, sender, sender_and_pairs, several_senders

FROMS = [
    ["Budi <budi@vendor.test>"],
    ["budi@vendor.test"],
    ['"Sari, Dewi" <sari@vendor.test>'],
    ["staf@lpse.test <other@lpse.test>"],  # two addresses to getaddresses
    ["=?utf-8?q?Budi_=C3=A9?= <budi@vendor.test>"],
    ["a@x.test, b@y.test"],
    ["no address at all"],
    ["<>"],
    ["Budi <budi@vendor.test>", "Other <other@vendor.test>"],  # two From headers
    ["x" * 70_000 + " <budi@vendor.test>"],  # over the header cap: truncated, a defect
    ["Bud\udce9 <budi@vendor.test>"],
    [],
]


def _headers(values: list[str]) -> Headers:
    msg = Message()
    for value in values:
        msg["From"] = value
    msg["Subject"] = "x"
    return Headers(msg)


@pytest.mark.parametrize("values", FROMS)
def test_read_once_is_read_twice(values: list[str]) -> None:
    twice: list[str] = []
    expected = (*sender(_headers(values), twice), several_senders(_headers(values), twice))
    once: list[str] = []
    name, addr, pairs = sender_and_pairs(_headers(values), once)
    assert (name, addr, several_senders(_headers(values), once, pairs)) == expected
    assert once == twice


def test_a_mail_naming_two_senders_is_ambiguous() -> None:
    mail = parse_mail(b"From: staf@lpse.test <other@lpse.test>\r\nSubject: x\r\nMessage-ID: <a@b>\r\n\r\nhalo\r\n")
    assert mail.from_addr and mail.from_ambiguous
    assert "several addresses in From header; used the first" in mail.defects
