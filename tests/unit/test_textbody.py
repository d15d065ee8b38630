"""A reply's text parts are encoded exactly as the stdlib's ``set_content`` encodes them.

``textbody.encode_text`` replaces ``email.contentmanager._encode_text`` (and ``quoprimime``'s
quoted-printable) on the composing path: every byte of every reply depends on it, so it is
compared with the stdlib over hand-picked edge cases and random text (long lines, "=" where a
line is cut, trailing spaces and tabs, non-ASCII, control characters, CR, LF and CRLF).
"""

from __future__ import annotations

import random
from email import quoprimime
from email.contentmanager import _encode_text  # type: ignore[attr-defined]

import pytest

from mailbot.core import mailpolicy
from mailbot.mail.textbody import encode_text, qp_body

SMTP = mailpolicy.SMTP


def _stdlib(text: str) -> tuple[str, bytes]:
    cte, payload = _encode_text(text, "utf-8", None, SMTP)
    return cte, mailpolicy.crlf_body(payload)


EDGES = [
    "", "\n", "\r\n", "\r", "a", "a\n", "halo\n", "=", "=\n", " ", "\t", "a \n", "a\t\n", "a \r\nb\t",
    "x" * 78 + "\n", "x" * 79 + "\n", "x" * 77 + " \n", "x" * 78 + " \n", "x" * 76 + " \n", "x" * 200 + "\t\n",
    "x" * 76 + "=y" * 20, "x" * 75 + "==" * 30, "é" * 100, "Terima kasih – salam\n", "a\x00b\x1fc\x7fd\n",
    "\x0bvertical\x0cform\x1cfs\x85nel\u2028ls\n", "tab\there\n" * 12, "line\n" * 11, "line\n" * 10,
    "é\n" * 11, "😀 emoji " * 30, '<p style="a=b">' * 20, "\n\n\n", "a" * 1000, " " * 200 + "\n",
]


@pytest.mark.parametrize("text", EDGES)
def test_edge_cases_encode_as_the_stdlib(text: str) -> None:
    assert encode_text(text) == _stdlib(text)
    data = text.encode("utf-8")
    for width in (4, 5, 76, 78):
        for eol in ("\n", "\r\n"):
            assert qp_body(data, width, eol) == quoprimime.body_encode(data.decode("latin-1"), width, eol)


def test_the_edge_cases_take_every_branch() -> None:
    assert {encode_text(text)[0] for text in EDGES} == {"7bit", "8bit", "quoted-printable", "base64"}


def _random_text(rng: random.Random) -> str:
    if rng.random() < 0.2:  # mostly non-ASCII: base64 wins over quoted-printable, or nearly
        return "".join(rng.choice(("é", "ñ", "😀", "a", " ", "\n", "=")) for _ in range(rng.randrange(1, 2000)))
    words = ["halo", "Bapak/Ibu", "=", "==", "a=b", "tender", "é", "ñandú", "–", "😀", "\t", " ", "  ",
             "\x00", "\x7f", "x" * rng.randrange(1, 120), "<a href=\"x\">", "=3D", "."]
    ends = ["\n", "\r\n", "\r", " \n", "\t\n", "\n\n"]
    out = []
    for _ in range(rng.randrange(0, 40)):
        out.append("".join(rng.choice(words) + rng.choice(("", " ", "")) for _ in range(rng.randrange(0, 30))))
        out.append(rng.choice(ends))
    return "".join(out)


@pytest.mark.parametrize("seed", range(6))
def test_random_text_encodes_as_the_stdlib(seed: int) -> None:
    rng = random.Random(seed)
    kinds = set()
    for _ in range(300):
        text = _random_text(rng)
        result = encode_text(text)
        assert result == _stdlib(text), text
        kinds.add(result[0])
        data = text.encode("utf-8")
        width = rng.choice((4, 10, 76, 78))
        assert qp_body(data, width) == quoprimime.body_encode(data.decode("latin-1"), width)
    assert kinds == {"7bit", "8bit", "quoted-printable", "base64"}  # every branch was taken


def test_random_bytes_quote_as_the_stdlib() -> None:
    rng = random.Random(9)
    for _ in range(500):
        data = rng.randbytes(rng.randrange(1, 400))
        assert qp_body(data, 78) == quoprimime.body_encode(data.decode("latin-1"), 78)
