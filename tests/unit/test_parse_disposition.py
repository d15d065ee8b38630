"""``parse.disposition`` reads what ``is_attachment``, ``get_content_disposition`` and
``get_filename`` read, from the header's text when it is plain.

Compared with the parts' own methods on every leaf of tests/data and on random Content-Disposition
values: tokens of every allowed character, quoted strings, RFC 2231 names (``filename*=``, pieces),
folding, several headers, and the values that must go to the stdlib (encoded words, backslashes,
comments, an unclosed quote, no semicolon, 8-bit text, empty).
"""

from __future__ import annotations

import random
import re
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

from mailbot.core import mailpolicy
from mailbot.core.parse import disposition

DATA = Path(__file__).resolve().parents[1] / "data"
TOKEN_CHARS = "ABCXYZabcxyz0189!#$%&'*+.^_`|~-"


def _outcome(call: object) -> object:
    try:
        return call()  # type: ignore[operator]
    except Exception as exc:
        return type(exc)


def _same(part: Message) -> bool:
    """The three answers are the stdlib's; True when the text was read without the header object."""
    assert _outcome(lambda: disposition.is_attachment(part)) == _outcome(part.is_attachment)  # type: ignore[attr-defined]
    assert _outcome(lambda: disposition.disposition(part)) == _outcome(part.get_content_disposition)
    assert _outcome(lambda: disposition.filename(part)) == _outcome(part.get_filename)
    return isinstance(disposition.raw_disposition(part), str)


def _parse(raw: bytes) -> Message:
    return BytesParser(policy=mailpolicy.DEFAULT).parsebytes(raw)


def test_every_part_of_tests_data() -> None:
    plain = 0
    for path in sorted(DATA.rglob("*.eml")):
        for part in _parse(path.read_bytes()).walk():
            plain += _same(part)
    assert plain > 20


def _token(rng: random.Random) -> str:
    return "".join(rng.choice(TOKEN_CHARS) for _ in range(rng.randrange(1, 12)))


def _ws(rng: random.Random) -> str:
    return rng.choice(("", "", " ", "  ", "\t"))


def _value(rng: random.Random) -> str:
    kind = rng.choice(("attachment", "inline", "ATTACHMENT", "Inline", "form-data", None))
    head = kind if kind is not None else _token(rng)
    params = []
    for _ in range(rng.randrange(0, 4)):
        name = rng.choice(("filename", "FileName", "name", "size", "filename*", "filename*0", "filename*1*", _token(rng)))
        value = rng.choice((
            _token(rng), '"' + "".join(rng.choice(" ()<>@,;:/[]?=.abcXYZ019'%") for _ in range(rng.randrange(0, 20))) + '"',
            "utf-8''laporan%20akhir%E2%80%93.pdf", "''x", "us-ascii'en'a%41b", '""',
        ))
        params.append(f"{_ws(rng)}{name}{_ws(rng)}={_ws(rng)}{value}{_ws(rng)}")
    text = _ws(rng) + head + _ws(rng) + "".join(";" + p for p in params) + rng.choice(("", ";", "; "))
    trouble = rng.random()
    if trouble < 0.05:
        text += ' filename="=?utf-8?q?surat=5Fresmi?=.pdf"'
    elif trouble < 0.10:
        text += '; filename="a\\"b.pdf"'
    elif trouble < 0.15:
        text += "; filename=x (a comment)"
    elif trouble < 0.20:
        text += '; filename="unclosed.pdf'
    elif trouble < 0.25:
        text = head + " filename=x.pdf"  # no semicolon
    elif trouble < 0.28:
        text = ""
    elif trouble < 0.33:
        text += "; filename=\"berkas-\u00e9t\u00e9.pdf\""  # 8-bit
    return text


def _fold(rng: random.Random, text: str) -> str:
    """Folded at a random blank, as a mailer may fold a long header."""
    blanks = [m.start() for m in re.finditer(r"[ \t]", text)]
    if not blanks or rng.random() < 0.6:
        return text
    at = rng.choice(blanks)
    return text[:at] + "\r\n" + text[at:]


def test_random_values() -> None:
    rng = random.Random(2047)
    plain = 0
    for _ in range(4000):
        headers = "".join(f"Content-Disposition: {_fold(rng, _value(rng))}\r\n" for _ in range(rng.choice((1, 1, 1, 2))))
        ctype = rng.choice(("application/pdf", 'application/pdf; name="dari-nama.pdf"', "text/plain"))
        raw = f"Content-Type: {ctype}\r\n{headers}\r\nisi\r\n".encode()
        part = _parse(raw)
        plain += _same(part)
    assert plain > 600


def test_plain_values_with_file_names() -> None:
    """The common shapes, each read from its text, with the stdlib's answers."""
    for text in ('attachment; filename="Laporan Akhir (2).pdf"', "attachment; filename=laporan.pdf",
                 'inline; filename="gambar.png"; size=1234', "attachment;\tfilename = x.pdf ;", "INLINE",
                 'attachment; filename=""', 'attachment; filename="a"; filename="b"'):
        part = _parse(f"Content-Type: application/pdf; name=lain.pdf\r\nContent-Disposition: {text}\r\n\r\nx\r\n".encode())
        assert _same(part), text


def test_no_header_and_odd_values() -> None:
    none = _parse(b"Content-Type: text/plain\r\n\r\nx\r\n")
    assert disposition.raw_disposition(none) is None and _same(none) is False
    for text in ("attachment; filename=\"a\\\\b\"", "attachment (x)", "=?utf-8?q?attachment?=", "attachment;;"):
        part = _parse(f"Content-Disposition: {text}\r\n\r\nx\r\n".encode())
        assert disposition.raw_disposition(part) is disposition.PARSE
        _same(part)
