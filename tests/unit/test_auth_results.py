"""Authentication-Results as real receiving servers write them, and the verdict for staff mail.

Issue 17, finding 4: look-alike signing domains passed, OpenDKIM's comment with ``;`` failed.
Each row is one header the way a product writes it (folded where the product folds), parsed
from raw mail bytes like the intake does, then judged for From ``staf@lpse.test``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.cli.config_check import check_staff_auth
from mailbot.core.auth import dkim_pass, results_pass, verify_staff
from mailbot.core.parse import MAX_RAW_HEADER_CHARS, parse_mail
from mailbot.settings.config import Settings

TRUSTED = ["mx.lpse.test", "mx.google.com", "mail.lpse.test"]
FROM = "staf@lpse.test"


def raw(results: list[str], sender: str = FROM) -> bytes:
    head = "".join(f"Authentication-Results: {r}\r\n" for r in results)
    return (f"Received: from mx.lpse.test by imap.lpse.test\r\n{head}From: Staf <{sender}>\r\n"
            "To: helpdesk@lpse.test\r\nSubject: Re: [TTS-000001] x\r\nMessage-ID: <s1@lpse.test>\r\n"
            "\r\n#tutup\r\n").encode()


def verdict(results: list[str], sender: str = FROM) -> tuple[bool, str]:
    return dkim_pass(parse_mail(raw(results, sender)), TRUSTED)


# (case, header value as sent, expected verdict)
REAL_WORLD = [
    # --- OpenDKIM (milter behind Postfix): comment with ";" inside the parentheses.
    ("opendkim", "mx.lpse.test;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=lpse.test "
     "header.i=@lpse.test header.a=rsa-sha256 header.s=default header.b=Kq3vX9aB", True),
    ("opendkim secure, quoted b=", "mx.lpse.test; dkim=pass (1024-bit key; secure) header.d=lpse.test "
     "header.i=@lpse.test header.b=\"Kq3vX9aB\"", True),
    ("opendkim two signatures, one ours", "mx.lpse.test;\r\n\tdkim=pass (2048-bit key; unprotected) "
     "header.d=esp.example header.i=@esp.example header.b=aaa;\r\n\tdkim=pass (2048-bit key; unprotected) "
     "header.d=lpse.test header.i=@lpse.test header.b=bbb", True),
    ("opendkim trailing semicolon", "mx.lpse.test; dkim=pass (2048-bit key; unprotected) header.d=lpse.test "
     "header.b=Kq3vX9aB;", True),
    ("opendkim version 1", "mx.lpse.test 1; dkim=pass (2048-bit key; unprotected) header.d=lpse.test", True),
    ("opendkim fail", "mx.lpse.test; dkim=fail (2048-bit key; unprotected) header.d=lpse.test "
     "header.i=@lpse.test header.b=Kq3vX9aB", False),
    ("opendkim neutral", "mx.lpse.test; dkim=neutral (body hash did not verify) header.d=lpse.test "
     "header.i=@lpse.test header.b=Kq3vX9aB", False),
    ("opendkim permerror", "mx.lpse.test; dkim=permerror (bad message/signature format)", False),
    ("opendkim temperror", "mx.lpse.test; dkim=temperror (0-bit key; unprotected) header.d=lpse.test", False),
    ("opendkim none", "mx.lpse.test; dkim=none", False),
    ("nothing checked", "mx.lpse.test; none", False),
    # --- Postfix + OpenDMARC: its own header, dmarc only.
    ("opendmarc pass", "mx.lpse.test; dmarc=pass (p=reject dis=none) header.from=lpse.test", True),
    ("opendmarc fail", "mx.lpse.test; dmarc=fail (p=reject dis=reject) header.from=lpse.test", False),
    ("opendmarc none", "mx.lpse.test; dmarc=none (p=none dis=none) header.from=lpse.test", False),
    # --- Gmail / Google Workspace: dkim with header.i only, so dmarc is the proof.
    ("gmail", "mx.google.com;\r\n       dkim=pass header.i=@lpse.test header.s=20230601 header.b=Q1w2E3r4;\r\n"
     "       spf=pass (google.com: domain of staf@lpse.test designates 203.0.113.25 as permitted sender) "
     "smtp.mailfrom=staf@lpse.test;\r\n       dmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) "
     "header.from=lpse.test", True),
    ("gmail without dmarc: header.i is not header.d", "mx.google.com;\r\n       dkim=pass header.i=@lpse.test "
     "header.s=20230601 header.b=Q1w2E3r4;\r\n       spf=pass (google.com: domain of staf@lpse.test designates "
     "203.0.113.25 as permitted sender) smtp.mailfrom=staf@lpse.test", False),
    ("gmail dmarc fail", "mx.google.com;\r\n       dkim=pass header.i=@evil.example header.s=s1 header.b=Zz9;\r\n"
     "       spf=pass (google.com: domain of x@evil.example designates 198.51.100.9 as permitted sender) "
     "smtp.mailfrom=x@evil.example;\r\n       dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=lpse.test", False),
    ("gmail spf only", "mx.google.com;\r\n       spf=pass (google.com: domain of staf@lpse.test designates "
     "203.0.113.25 as permitted sender) smtp.mailfrom=staf@lpse.test", False),
    # --- Microsoft 365 writes no authserv-id at all: it cannot be tied to a trusted server.
    ("microsoft 365", "spf=pass (sender IP is 198.51.100.7)\r\n smtp.mailfrom=lpse.test; dkim=pass (signature was "
     "verified)\r\n header.d=lpse.test;dmarc=pass action=none\r\n header.from=lpse.test;compauth=pass reason=100",
     False),
    # The same layout (no space after ";", the non-RFC "action=none") under a trusted id still reads.
    ("microsoft layout, trusted id", "mx.lpse.test; spf=pass (sender IP is 198.51.100.7)\r\n "
     "smtp.mailfrom=lpse.test; dkim=pass (signature was verified)\r\n header.d=lpse.test;dmarc=pass action=none"
     "\r\n header.from=lpse.test;compauth=pass reason=100", True),
    ("microsoft layout, dmarc after action=none", "mx.lpse.test; spf=fail (sender IP is 198.51.100.7) "
     "smtp.mailfrom=lpse.test; dkim=none (message not signed) header.d=none;dmarc=pass action=none "
     "header.from=lpse.test;compauth=pass reason=100", True),
    # --- Rspamd (milter headers module), folded.
    ("rspamd", "mail.lpse.test;\r\n\tdkim=pass header.d=lpse.test header.s=dkim header.b=aBcDeF12;\r\n"
     "\tspf=pass (mail.lpse.test: domain of \"staf@lpse.test\" designates 203.0.113.25 as permitted sender) "
     "smtp.mailfrom=staf@lpse.test;\r\n\tdmarc=pass (policy=reject) header.from=lpse.test", True),
    ("rspamd look-alike signer, dmarc reject", "mail.lpse.test;\r\n\tdkim=pass header.d=lpse.test.evil.example "
     "header.s=dkim header.b=aBcDeF12;\r\n\tspf=pass (mail.lpse.test: domain of \"x@evil.example\" designates "
     "198.51.100.9 as permitted sender) smtp.mailfrom=x@evil.example;\r\n\tdmarc=fail reason=\"No valid SPF, "
     "No valid DKIM\" header.from=lpse.test (policy=reject)", False),
    # --- Look-alike and near-miss domains.
    ("suffix look-alike", "mx.lpse.test; dkim=pass (2048-bit key; unprotected) header.d=lpse.test.evil.example", False),
    ("hyphen look-alike", "mx.lpse.test; dkim=pass (2048-bit key; unprotected) header.d=lpse.test-evil.example", False),
    ("suffix look-alike, plain", "mx.lpse.test; dkim=pass header.d=lpse.test.evil.example header.s=s1", False),
    ("hyphen look-alike, plain", "mx.lpse.test; dkim=pass header.d=lpse.test-evil.example header.s=s1", False),
    ("prefix look-alike", "mx.lpse.test; dkim=pass header.d=evil-lpse.test", False),
    ("glued prefix", "mx.lpse.test; dkim=pass header.d=xlpse.test", False),
    ("subdomain signer", "mx.lpse.test; dkim=pass header.d=mail.lpse.test", False),
    ("parent signer", "mx.lpse.test; dkim=pass header.d=test", False),
    ("dmarc look-alike", "mx.lpse.test; dmarc=pass (p=reject dis=none) header.from=lpse.test.evil.example", False),
    ("look-alike in a comment", "mx.lpse.test; dkim=pass (header.d=lpse.test) header.d=evil.example", False),
    ("header.i is not header.d", "mx.lpse.test; dkim=pass header.i=@lpse.test header.d=evil.example", False),
    ("two header.d in one result", "mx.lpse.test; dkim=pass header.d=evil.example header.d=lpse.test", False),
    ("dkim-atps is not dkim", "mx.lpse.test; dkim-atps=pass header.from=lpse.test", False),
    ("fail then pass for another", "mx.lpse.test; dkim=fail header.d=lpse.test; dkim=pass header.d=evil.example",
     False),
    # --- Case and quoting.
    ("uppercase domain", "mx.lpse.test; dkim=pass (2048-bit key; unprotected) header.d=LPSE.Test", True),
    ("uppercase authserv-id and result", "MX.LPSE.TEST; DKIM=PASS header.d=lpse.test", True),
    ("quoted domain", "mx.lpse.test; dkim=pass header.d=\"lpse.test\"", True),
    # --- Servers that are not trusted.
    ("untrusted authserv-id", "mx.evil.example; dkim=pass (2048-bit key; unprotected) header.d=lpse.test", False),
    ("trusted id as a suffix", "evil.mx.lpse.test; dkim=pass header.d=lpse.test", False),
    ("trusted id in a comment", "mx.evil.example (mx.lpse.test); dkim=pass header.d=lpse.test", False),
    # --- Garbage: no proof, never an exception.
    ("missing semicolon", "mx.lpse.test dkim=pass header.d=lpse.test", False),
    ("unclosed comment", "mx.lpse.test; dkim=pass (2048-bit key header.d=lpse.test", False),
    ("no result", "mx.lpse.test; dkim", False),
    ("comma after domain", "mx.lpse.test; dkim=pass header.d=lpse.test,evil.example", False),
    ("only semicolons", ";;;", False),
    ("version 2", "mx.lpse.test 2; dkim=pass header.d=lpse.test", False),
    ("deep comments", "mx.lpse.test; dkim=pass " + "(" * 400 + ")" * 400 + " header.d=lpse.test", False),
    ("unbalanced deep comments", "mx.lpse.test; dkim=pass header.d=lpse.test " + "(" * 1500, False),
    ("binary noise", "mx.lpse.test; dkim=pass header.d=lpse.test \x7f\xff\u202e", False),
]


@pytest.mark.parametrize(("header", "ok"), [pytest.param(h, ok, id=case) for case, h, ok in REAL_WORLD])
def test_real_world_headers(header: str, ok: bool) -> None:
    passed, why = verdict([header])
    assert passed is ok, why
    assert why


@pytest.mark.parametrize(("sender", "ok"), [
    ("Staf@LPSE.Test", True),
    ("staf@lpse.test.evil.example", False),  # the header proves lpse.test, the mail claims another domain
    ("staf@test", False),
])
def test_the_from_domain_is_compared_whole(sender: str, ok: bool) -> None:
    assert verdict(["mx.lpse.test; dkim=pass header.d=lpse.test"], sender)[0] is ok


def test_only_the_topmost_header_counts() -> None:
    # The receiving MTA's own result is on top; a forged pass below it, even with its id, is ignored.
    assert not verdict(["mx.lpse.test; dkim=none", "mx.lpse.test; dkim=pass header.d=lpse.test"])[0]
    assert not verdict(["mx.evil.example; dkim=none", "mx.lpse.test; dkim=pass header.d=lpse.test"])[0]
    assert verdict(["mx.lpse.test; dkim=pass header.d=lpse.test", "mx.lpse.test; dkim=fail"])[0]


def test_reasons_say_why() -> None:
    assert "untrusted server 'mx.evil.example'" in verdict(["mx.evil.example; dkim=pass header.d=lpse.test"])[1]
    assert "without authserv-id" in verdict(["spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=lpse.test; "
                                             "dkim=pass header.d=lpse.test"])[1]
    assert "does not parse" in verdict(["mx.lpse.test; dkim=pass (x header.d=lpse.test"])[1]
    assert "no dkim=pass" in verdict(["mx.lpse.test; dkim=pass header.d=lpse.test.evil.example"])[1]
    assert verdict([])[1] == "no Authentication-Results header"
    assert "dkim=pass for lpse.test by mx.lpse.test" == verdict(["mx.lpse.test; dkim=pass header.d=lpse.test"])[1]


def test_a_header_cut_by_the_parser_is_not_read() -> None:
    # parse.py keeps the first MAX_RAW_HEADER_CHARS characters: a cut could end inside a domain.
    head, tail = "mx.lpse.test; dkim=fail (", ") header.d=x.example; dkim=pass header.d=lpse.test"
    filler = "x" * (MAX_RAW_HEADER_CHARS - len(head) - len(tail))
    value = head + filler + tail + ".evil.example"  # the signer is lpse.test.evil.example
    mail = parse_mail(raw([value]))
    assert mail.authentication_results[0].endswith("header.d=lpse.test")  # what a regex would have believed
    ok, why = dkim_pass(mail, TRUSTED)
    assert not ok and "longer than" in why


def test_verify_staff_with_dkim_only() -> None:
    good = parse_mail(raw(["mx.lpse.test; dkim=pass (2048-bit key; unprotected) header.d=lpse.test"]))
    look_alike = parse_mail(raw(["mx.lpse.test; dkim=pass header.d=lpse.test-evil.example"]))
    assert verify_staff(good, ticket_id=1, signed_ticket_id=None, methods=["dkim"], trusted_authserv_ids=TRUSTED).ok
    bad = verify_staff(look_alike, ticket_id=1, signed_ticket_id=None, methods=["dkim"], trusted_authserv_ids=TRUSTED)
    assert not bad.ok and "lpse.test" in bad.how
    assert not verify_staff(good, ticket_id=1, signed_ticket_id=None, methods=["dkim"], trusted_authserv_ids=[]).ok


# An MTA that checks the From address (Gmail, Microsoft 365, a submission server with sender
# login maps) and a DMARC filter read the mailbox between angle brackets; the intake reads the first
# address. A From that names several mailboxes, or a mail with several From headers, cannot say
# which one the result vouches for: a colleague at the staff domain signed, the staff address shows.
AMBIGUOUS_FROM = [
    "staf@lpse.test <intruder@lpse.test>",  # an unquoted address as display name
    "staf@lpse.test, intruder@lpse.test",  # two mailboxes
    "intruder@lpse.test)<staf@lpse.test>",  # CVE-2023-27043's shape (getaddresses splits it)
]


@pytest.mark.parametrize("header", AMBIGUOUS_FROM)
def test_a_from_with_several_addresses_is_no_proof(header: str) -> None:
    mail = parse_mail(raw(["mx.lpse.test; dkim=pass header.d=lpse.test; dmarc=pass header.from=lpse.test"])
                      .replace(f"From: Staf <{FROM}>".encode(), f"From: {header}".encode()))
    ok, why = dkim_pass(mail, TRUSTED)
    assert not ok and "several" in why
    assert not verify_staff(mail, ticket_id=1, signed_ticket_id=None, methods=["dkim"],
                            trusted_authserv_ids=TRUSTED).ok
    # The signed reply address stays proof: it does not depend on which address wrote.
    assert verify_staff(mail, ticket_id=1, signed_ticket_id=1, methods=["reply_address", "dkim"],
                        trusted_authserv_ids=TRUSTED).ok


def test_two_from_headers_are_no_proof() -> None:
    data = raw(["mx.lpse.test; dkim=pass header.d=lpse.test"]).replace(
        b"To: helpdesk", b"From: intruder@lpse.test\r\nTo: helpdesk")
    mail = parse_mail(data)
    assert mail.from_addr == FROM
    ok, why = dkim_pass(mail, TRUSTED)
    assert not ok and "several" in why


def test_one_address_with_a_display_name_stays_proof() -> None:
    for header in ('"Staf, LPSE" <staf@lpse.test>', "staf@lpse.test (Staf LPSE)", "<staf@lpse.test>"):
        mail = parse_mail(raw(["mx.lpse.test; dkim=pass header.d=lpse.test"])
                          .replace(f"From: Staf <{FROM}>".encode(), f"From: {header}".encode()))
        assert dkim_pass(mail, TRUSTED)[0], header


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_header_value_gives_a_verdict(value: str) -> None:
    ok, why = results_pass(value, "lpse.test", TRUSTED)
    assert isinstance(ok, bool) and why


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="mx.lpse.test;=dkimpasheaderfo() \"\\@-", max_size=200))
def test_near_grammar_values_give_a_verdict(value: str) -> None:
    ok, why = results_pass(value, "lpse.test", TRUSTED)
    assert isinstance(ok, bool) and why


def _settings(staff: dict[str, object]) -> Settings:
    return Settings.model_validate({
        "helpdesk": {"name": "Helpdesk LPSE Uji", "address": "helpdesk@lpse.test"},
        "imap": {"host": "127.0.0.1", "port": 993, "username": "helpdesk@lpse.test", "password": "x"},
        "smtp": {"host": "127.0.0.1", "port": 587, "username": "helpdesk@lpse.test", "password": "x"},
        "staff": {"addresses": ["staf1@lpse.test"], **staff},
        "escalation": {"lkpp_address": "helpdesk@lkpp.test"},
        "database": {"url": "sqlite://"},
    })


def test_check_config_warns_about_the_mta_when_dkim_is_on(capsys: pytest.CaptureFixture[str]) -> None:
    check_staff_auth(_settings({}))
    assert capsys.readouterr().out == ""
    check_staff_auth(_settings({"command_auth": ["dkim"], "trusted_authserv_ids": ["mx.lpse.test"]}))
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("staff auth: WARNING") and "strip" in line and "(mx.lpse.test)" in line
    check_staff_auth(_settings({"command_auth": ["dkim"]}))
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "trusted_authserv_ids is empty" in out[0]


def test_a_unicode_look_alike_of_a_staff_address_is_another_address() -> None:
    # An internationalised mailbox with the Kelvin sign (U+212A), which str.lower() maps to "k":
    # its own server lets its owner send from it and the domain's DMARC passes. It is not koord@.
    settings = _settings({"addresses": ["koord@lpse.test"]})
    mail = parse_mail(raw(["mx.lpse.test; dmarc=pass header.from=lpse.test"], sender="\u212aoord@lpse.test"))
    assert mail.from_addr == "\u212aoord@lpse.test"
    assert not settings.is_staff(mail.from_addr)
    # Plain case differences are the same address, as before.
    upper = parse_mail(raw(["mx.lpse.test; dmarc=pass header.from=lpse.test"], sender="KOORD@LPSE.TEST"))
    assert upper.from_addr == "koord@lpse.test" and settings.is_staff(upper.from_addr)
    assert settings.is_staff("Koord@Lpse.Test")
