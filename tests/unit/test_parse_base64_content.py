"""``mime.base64_content`` gives the bytes ``get_payload(decode=True)`` gives, or leaves the part to it.

Every leaf of every ``.eml`` of tests/data, and random base64 bodies: line widths, CR, LF and CRLF
(and a lone CR), padding right and wrong, characters outside the alphabet, 8-bit text, blank
lines, upper and lower case encoding names, other encodings. Where it answers, the answer is the
stdlib's and the stdlib would have added no defect.
"""

from __future__ import annotations

import base64
import random
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

from mailbot.core import mailpolicy
from mailbot.core.parse import mime

DATA = Path(__file__).resolve().parents[1] / "data"


def _leaves(msg: Message) -> list[Message]:
    return [p for p in msg.walk() if not p.is_multipart()]


def _check(part: Message) -> bool:
    """True when the fast path answered (and it answered as the stdlib does)."""
    ours = mime.base64_content(part)
    before = len(part.defects)
    theirs = part.get_payload(decode=True)
    if ours is None:
        return False
    assert ours == theirs
    assert len(part.defects) == before  # the stdlib found nothing to repair either
    return True


def _parse(raw: bytes) -> Message:
    return BytesParser(policy=mailpolicy.DEFAULT).parsebytes(raw)


def test_every_leaf_of_tests_data() -> None:
    answered = 0
    for path in sorted(DATA.rglob("*.eml")):
        for part in _leaves(_parse(path.read_bytes())):
            answered += _check(part)
    assert answered > 20


def _body(rng: random.Random) -> bytes:
    data = rng.randbytes(rng.choice((0, 1, 2, 3, 57, 58, 59, 100, 1000, 5000)))
    text = base64.b64encode(data)
    width = rng.choice((4, 60, 64, 72, 76, 77, 1000))
    lines = [text[i:i + width] for i in range(0, len(text), width)] or [b""]
    trouble = rng.random()
    if trouble < 0.08:
        lines[-1] = lines[-1].rstrip(b"=")  # padding missing
    elif trouble < 0.14:
        lines.insert(rng.randrange(len(lines) + 1), b"!!")  # characters outside the alphabet
    elif trouble < 0.18:
        lines.insert(rng.randrange(len(lines) + 1), b"QUJD\xe9")  # 8-bit text
    elif trouble < 0.22:
        lines.insert(rng.randrange(len(lines) + 1), b"")  # a blank line inside
    elif trouble < 0.26:
        lines.append(b"QUJD")  # data after the padding
    elif trouble < 0.30:
        lines.insert(0, b"=")
    ends = rng.choice(([b"\n"], [b"\r\n"], [b"\n", b"\r\n"], [b"\r\n", b"\r"]))
    return b"".join(line + rng.choice(ends) for line in lines)


def test_random_base64_bodies() -> None:
    rng = random.Random(24)
    answered = 0
    for _ in range(3000):
        cte = rng.choice(("base64", "BASE64", "Base64", " base64", "quoted-printable", "7bit", None))
        headers = b"Content-Type: application/octet-stream\r\n"
        if cte is not None:
            headers += b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n"
        raw = headers + b"\r\n" + _body(rng)
        for part in _leaves(_parse(raw)):
            answered += _check(part)
        multipart = (b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n' + raw + b"\r\n--B--\r\n")
        for part in _leaves(_parse(multipart)):
            answered += _check(part)
    assert answered > 2000


def test_parts_it_leaves_to_the_stdlib() -> None:
    msg = _parse(b"Content-Transfer-Encoding: base64\r\n\r\nQUJ\r\n")  # padding to add, with a defect
    assert mime.base64_content(msg) is None
    assert msg.get_payload(decode=True) == b"AB" and msg.defects
    container = _parse(b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n\r\nx\r\n--B--\r\n')
    assert mime.base64_content(container) is None
    plain = _parse(b"Content-Type: text/plain\r\n\r\nQUJD\r\n")
    assert mime.base64_content(plain) is None
    good = _parse(b"Content-Transfer-Encoding: base64\r\n\r\nQUJD\r\nRA==\r\n")
    assert mime.base64_content(good) == b"ABCD"
