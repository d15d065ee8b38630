"""``mime._bodies`` picks the parts the stdlib's two ``get_body`` calls pick, in one walk.

Compared on every ``.eml`` of tests/data and on 3,000 random MIME trees (nesting, related parts
with and without ``start``, attachments, parts without headers, non-text roots, broken boundaries).
"""

from __future__ import annotations

import random
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from mailbot.core import mailpolicy
from mailbot.core.parse import mime

DATA = Path(__file__).resolve().parents[1] / "data"


def _stdlib(msg: EmailMessage) -> object:
    try:
        return msg.get_body(preferencelist=("plain", "html")), msg.get_body(preferencelist=("html",))
    except Exception as exc:  # the caller falls back to its own choice
        return type(exc)


def _ours(msg: EmailMessage) -> object:
    try:
        return mime._bodies(msg)
    except Exception as exc:
        return type(exc)


def _same(raw: bytes) -> bool:
    msg = BytesParser(policy=mailpolicy.DEFAULT).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    expected, got = _stdlib(msg), _ours(msg)
    if isinstance(expected, tuple) and isinstance(got, tuple):
        return all(a is b for a, b in zip(expected, got, strict=True))
    return expected == got


def test_the_mails_of_tests_data() -> None:
    mails = sorted(DATA.rglob("*.eml"))
    assert len(mails) > 100
    for path in mails:
        assert _same(path.read_bytes()), path


_LEAVES = ["text/plain", "text/html", "text/calendar", "image/png", "application/pdf", "message/rfc822"]


def _part(rng: random.Random, depth: int, serial: list[int]) -> str:
    serial[0] += 1
    n = serial[0]
    cid = f"<p{n}@x>"
    headers = []
    if rng.random() < 0.1:  # no headers at all: text/plain by default
        return f"\nbody {n}\n"
    if depth < 4 and rng.random() < 0.45:
        sub = rng.choice(["mixed", "alternative", "related", "related", "signed"])
        boundary = f"b{n}"
        parts = [_part(rng, depth + 1, serial) for _ in range(rng.randrange(0, 4))]
        params = f'; boundary="{boundary}"' if rng.random() < 0.95 else ""
        if sub == "related" and rng.random() < 0.5:
            params += f'; start="<p{serial[0] - rng.randrange(0, 3)}@x>"'
        headers.append(f"Content-Type: multipart/{sub}{params}")
        body = "".join(f"--{boundary}\n{p}\n" for p in parts) + f"--{boundary}--\n"
    else:
        ctype = rng.choice(_LEAVES)
        headers.append(f"Content-Type: {ctype}; charset=utf-8" if rng.random() < 0.9 else "Content-Type: text")
        body = f"leaf {n}\n" if ctype != "message/rfc822" else "Subject: inner\n\ninner body\n"
    if rng.random() < 0.2:
        headers.append(rng.choice(["Content-Disposition: attachment; filename=a.txt", "Content-Disposition: inline",
                                   "Content-Disposition: attachment"]))
    if rng.random() < 0.7:
        headers.append(f"Content-ID: {cid}")
    return "\n".join(headers) + "\n\n" + body


def test_random_mime_trees() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        raw = "From: a@b\nSubject: x\nMIME-Version: 1.0\n" + _part(rng, 0, [0])
        assert _same(raw.encode()), raw


def test_a_part_without_headers_is_a_body() -> None:
    raw = b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n\nplain, no headers\n--b--\n'
    msg = BytesParser(policy=mailpolicy.DEFAULT).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    plain, html = mime._bodies(msg)
    assert plain is not None and not plain and plain.get_content().strip() == "plain, no headers" and html is None
