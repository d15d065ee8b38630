"""Threading: Message-ID headers first, subject tag only for participants, signed reply addresses."""

from __future__ import annotations

import pytest

from mailbot.core import threads
from mailbot.core.domain import InboundMail
from mailbot.core.threads import (
    clean_subject,
    find_tag,
    format_number,
    match_thread,
    reply_address,
    signed_ticket,
)


def mail(**kw: object) -> InboundMail:
    base: dict[str, object] = dict(
        message_id="m1@x", from_addr="u@vendor.test", from_name="U", to=("helpdesk@lpse.test",), cc=(),
        subject="Tidak bisa login", date=None, in_reply_to=(), references=(), text="", html=None, new_text="",
    )
    base.update(kw)
    return InboundMail(**base)  # type: ignore[arg-type]


KNOWN = {"out-ack@lpse.test": 7, "in-1@vendor.test": 7, "staff-note@lpse.test": 9}


def match(m: InboundMail, people: dict[int, set[str]] | None = None):  # type: ignore[no-untyped-def]
    people = people or {7: {"u@vendor.test", "helpdesk@lpse.test"}}
    return match_thread(
        m, prefix="TTS",
        ticket_for_ids=lambda ids: next((KNOWN[i] for i in ids if i in KNOWN), None),
        participants=lambda tid: people.get(tid, set()),
        ticket_exists=lambda tid: tid in {7, 9},
    )


def test_in_reply_to_wins() -> None:
    r = match(mail(in_reply_to=("out-ack@lpse.test",), subject="Re: [TTS-000009] x"))
    assert (r.ticket_id, r.how) == (7, "message-id")


def test_references_when_in_reply_to_unknown() -> None:
    r = match(mail(in_reply_to=("unknown@x",), references=("in-1@vendor.test", "unknown@x")))
    assert r.ticket_id == 7


def test_subject_tag_for_a_participant() -> None:
    r = match(mail(subject="Re: [TTS-000007] Tidak bisa login"))
    assert (r.ticket_id, r.how) == (7, "subject-tag")


def test_subject_tag_ignored_for_a_stranger() -> None:
    r = match(mail(subject="[TTS-000007] saya juga", from_addr="other@vendor.test"))
    assert r.ticket_id is None and "not in the ticket" in r.detail


def test_unknown_tag_or_nothing_is_new() -> None:
    assert match(mail(subject="[TTS-000999] x")).ticket_id is None
    assert match(mail()).ticket_id is None


def test_tag_helpers() -> None:
    assert format_number("TTS", 123) == "TTS-000123"
    assert find_tag("Re: [TTS-000123] Balasan", "TTS") == 123
    assert find_tag("[tts-000005]", "TTS") == 5
    assert clean_subject("RE: Fwd: Bls: [TTS-000123] Re: Gagal upload", "TTS") == "Gagal upload"


def test_signed_reply_address_round_trip_and_tamper() -> None:
    addr = reply_address("helpdesk@lpse.test", 42, "s3cret")
    assert addr.startswith("helpdesk+t42.") and addr.endswith("@lpse.test")
    assert signed_ticket(["x@y", addr.upper()], "helpdesk@lpse.test", "s3cret") == 42
    tampered = addr.replace("+t42.", "+t43.")
    assert signed_ticket([tampered], "helpdesk@lpse.test", "s3cret") is None
    assert signed_ticket([addr], "helpdesk@lpse.test", "other-secret") is None


def test_lkpp_address_round_trip_and_never_a_staff_address() -> None:
    from mailbot.core.threads import lkpp_reply_address, signed_lkpp_ticket
    lkpp = lkpp_reply_address("helpdesk@lpse.test", 123, "s3cret")
    staff = reply_address("helpdesk@lpse.test", 123, "s3cret")
    assert lkpp.startswith("helpdesk+l123.") and lkpp.endswith("@lpse.test")
    assert signed_lkpp_ticket([lkpp.upper()], "helpdesk@lpse.test", "s3cret") == 123
    # Distinct MAC labels: neither address is the other, even with the letter swapped.
    assert signed_ticket([lkpp], "helpdesk@lpse.test", "s3cret") is None
    assert signed_lkpp_ticket([staff], "helpdesk@lpse.test", "s3cret") is None
    assert signed_ticket([lkpp.replace("+l123", "+t123")], "helpdesk@lpse.test", "s3cret") is None
    assert signed_lkpp_ticket([staff.replace("+t123", "+l123")], "helpdesk@lpse.test", "s3cret") is None
    assert signed_lkpp_ticket([lkpp.replace("+l123", "+l124")], "helpdesk@lpse.test", "s3cret") is None
    assert signed_lkpp_ticket([lkpp], "helpdesk@lpse.test", "other") is None


def test_escalation_and_lkpp_tags_are_found() -> None:
    from mailbot.core.threads import find_lkpp_number
    assert find_tag("[ESKALASI TTS-000001] Helpdesk LPSE: Gagal upload", "TTS") == 1
    assert find_tag("RE: [LKPP#4711] Re: [ESKALASI TTS-000042] x", "TTS") == 42
    assert find_tag("[ESKALASI TTS-000042][LKPP#4711] x", "TTS") == 42
    assert find_tag("[XTTS-000042] x", "TTS") is None
    assert find_lkpp_number("RE: [LKPP#4711] Re: [ESKALASI TTS-000042] x") == "4711"
    assert find_lkpp_number("[ESKALASI TTS-000042] [LKPP #12]") == "12"
    assert find_lkpp_number("[ESKALASI TTS-000042]") is None
    assert clean_subject("Re: [ESKALASI TTS-000042] Gagal upload", "TTS") == "Gagal upload"


@pytest.mark.parametrize("text, masked", [
    ("Balas ke helpdesk+t12.0123456789ab@lpse.test.", "Balas ke helpdesk@lpse.test."),
    ("<HELPDESK+l3.abcdefabcdef@LPSE.TEST>", "<helpdesk@lpse.test>"),
    ("mailto:helpdesk+c0.0123456789ab@lpse.test?subject=x", "mailto:helpdesk@lpse.test?subject=x"),
    ("helpdesk+b.tok.mac@lpse.test", "helpdesk@lpse.test"),
    # Other people's addresses stay as they are.
    ("xhelpdesk+t1.a@lpse.test", "xhelpdesk+t1.a@lpse.test"),
    ("helpdesk+t1.a@lpse.test.evil.example", "helpdesk+t1.a@lpse.test.evil.example"),
    ("helpdesk+t1.a@lpse.tests", "helpdesk+t1.a@lpse.tests"),
    ("helpdesk@lpse.test dan budi+spse@vendor.test", "helpdesk@lpse.test dan budi+spse@vendor.test"),
])
def test_plus_addresses_of_the_helpdesk_are_masked(text: str, masked: str) -> None:
    assert threads.mask_plus_addresses(text, "helpdesk@lpse.test") == masked
