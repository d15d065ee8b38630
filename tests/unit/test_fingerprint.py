"""A mail's content digest: the same for copies that differ in transit, and never changed by a rewrite.

The digest is stored with every inbound mail (``inbound.digest``) and compared with the digest of
a mail that arrives again: the function must give the digest it gave before, for any bytes.
``_reference`` is the first version of ``content_digest``, kept here as the definition.
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

from mailbot.core.fingerprint import TRACE_FIELDS, content_digest

DATA = Path(__file__).resolve().parents[1] / "data"


def _reference(raw: bytes) -> str:
    end = re.search(rb"\r?\n\r?\n", raw)
    head, body = (raw[:end.start()], raw[end.end():]) if end else (raw, b"")
    digest = hashlib.sha256()
    skipping = False
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                digest.update(line + b"\n")
            continue
        name = line.partition(b":")[0].strip().lower()
        skipping = name in TRACE_FIELDS
        if not skipping:
            digest.update(line + b"\n")
    digest.update(b"\n")
    digest.update(body.replace(b"\r\n", b"\n"))
    return digest.hexdigest()


def test_copies_that_differ_in_transit_have_one_digest() -> None:
    mail = b"From: a@b.test\r\nSubject: halo\r\nMessage-ID: <1@b.test>\r\n\r\nisi\r\nbaris dua\r\n"
    relayed = (b"Return-Path: <a@b.test>\r\nDelivered-To: hd@lpse.test\r\nReceived: from x\r\n\tby y; now\r\n"
               + mail.replace(b"\r\n", b"\n"))
    assert content_digest(relayed) == content_digest(mail)
    assert content_digest(mail.replace(b"isi", b"isi lain")) != content_digest(mail)


def test_the_digest_is_the_one_stored_before_for_any_bytes() -> None:
    mails = [p.read_bytes() for p in sorted(DATA.rglob("*.eml"))]
    rng = random.Random(2)
    pieces = [b"\r\n", b"\n", b"\r", b"\r\r\n", b"\n\r", b" ", b"\t", b":", b"Received: x", b"received :y",
              b"X-Spam-Score: 5", b"Subject: a", b"RECEIVED", b"\x0bReceived: v", b"isi", b"=?utf-8?q?x?=", b"\xff"]
    soups = [b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 80))) for _ in range(3000)]
    for raw in [*mails, *soups, b"", b"\r", b"\n\n", b"\r\n\r\n"]:
        assert content_digest(raw) == _reference(raw), raw
