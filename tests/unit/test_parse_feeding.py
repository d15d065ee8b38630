"""The parser's feed with base64 runs folded gives the message the stdlib parser gives.

``feeding.feed`` hands long runs of base64 lines to the stdlib's feed parser as one placeholder
line each and puts them back afterwards. What mailbot reads of a parsed mail (the tree, every
part's headers and text, preambles, epilogues, the parser's defects) must be what
``BytesParser.parsebytes`` makes of the same bytes, for real mail and for line soup built to
hit every state of the parser (header blocks, boundaries, delivery reports, embedded mails,
CR, LF and CRLF line ends, runs right after headers, before a boundary, at the end).
"""

from __future__ import annotations

import base64
import random
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

import pytest

from mailbot.core import mailpolicy
from mailbot.core.parse.feeding import MIN_FOLDED_LINES, RUN, feed, fold_runs, run_spans, unfold_runs

DATA = Path(__file__).resolve().parents[1] / "data"
POLICY = mailpolicy.DEFAULT


def _shape(msg: Message) -> object:
    """Everything of a parsed message that a reader can see, as nested tuples."""
    payload = msg._payload  # type: ignore[attr-defined]  # the text as parsed, not decoded
    return (
        type(msg).__name__, msg.get_unixfrom(), msg.get_default_type(), list(msg.raw_items()),
        [(type(d).__name__, str(d)) for d in msg.defects], msg.preamble, msg.epilogue,
        [_shape(p) for p in payload] if isinstance(payload, list) else payload,
    )


def _stdlib(raw: bytes) -> object:
    return _shape(BytesParser(policy=POLICY).parsebytes(raw))


def _folded(raw: bytes) -> object:
    """The shape of the fast path's message; its runs must all come back (no fallback)."""
    text, runs = fold_runs(raw)
    msg = BytesParser(policy=POLICY).parsebytes(text)
    assert unfold_runs(msg, runs)
    return _shape(msg)


def _b64_lines(rng: random.Random, n: int, width: int = 76) -> list[str]:
    data = base64.b64encode(rng.randbytes(n * width * 3 // 4 + rng.randrange(3))).decode()
    return [data[i:i + width] for i in range(0, len(data), width)]


def test_real_mail_parses_the_same_and_attachments_are_folded() -> None:
    mails = [p.read_bytes() for p in sorted(DATA.rglob("*.eml"))]
    assert len(mails) > 100
    for raw in mails:
        assert _folded(raw) == _shape(feed(raw, POLICY)) == _stdlib(raw)
    rng = random.Random(3)
    png = "\r\n".join(_b64_lines(rng, 2000)) + "\r\n"
    raw = ("From: a@b.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/mixed; boundary="XX"\r\n\r\npre\r\n--XX\r\n'
           "Content-Type: text/plain\r\n\r\nhalo\r\n--XX\r\nContent-Type: image/png\r\n"
           f"Content-Transfer-Encoding: base64\r\n\r\n{png}--XX--\r\nepi\r\n").encode()
    # Over several 64 KB pieces of the feed, and folded into one line.
    text, runs = fold_runs(raw)
    assert len(runs) == 1 and len(text) < 1000
    assert _folded(raw) == _shape(feed(raw, POLICY)) == _stdlib(raw)


def test_a_mail_with_the_marker_is_parsed_from_its_own_bytes() -> None:
    lines = _b64_lines(random.Random(1), 40)
    raw = ("Subject: x\n\n" + "\n".join(lines) + "\nMailbotFoldedLinesQ70Z\n" + "\n".join(lines) + "\n").encode()
    assert fold_runs(raw) == (raw, [])
    assert _shape(feed(raw, POLICY)) == _stdlib(raw)


def _soup(rng: random.Random) -> bytes:
    """A mail of random lines from a vocabulary that drives the parser through its states."""
    vocab = [
        "Content-Type: multipart/mixed; boundary=b1", 'Content-Type: multipart/alternative; boundary="b2"',
        "Content-Type: multipart/digest; boundary=b3", "Content-Type: message/rfc822",
        "Content-Type: message/delivery-status", "Content-Type: text/plain", "Content-Type: multipart/mixed",
        "Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: quoted-printable",
        "--b1", "--b1--", "--b2", "--b2--  ", "--b3", "--b3--", "", "", "", "From nobody", "Subject: x", " folded on",
        "\tfolded too", "X-A: y", "a line of text", "QUJDRA==", "AAAA", "--AAAA", "abc:def", "=", "+/+/", "Zm9v:",
        "-", "--", "héllo wörld", "From: a@b.test",
    ]
    lines: list[str] = []
    for _ in range(rng.randrange(1, 60)):
        if rng.random() < 0.3:
            lines.extend(_b64_lines(rng, rng.randrange(1, 3 * MIN_FOLDED_LINES), rng.choice((4, 60, 76))))
        else:
            lines.append(rng.choice(vocab))
    ends = rng.choice((["\n"], ["\r\n"], ["\r"], ["\n", "\r\n"], ["\n", "\r\n", "\r"]))
    text = "".join(line + rng.choice(ends) for line in lines)
    if rng.random() < 0.3:
        text = text.rstrip("\r\n")  # no line end at the end
    return text.encode("utf-8")


@pytest.mark.parametrize("seed", range(8))
def test_line_soup_parses_the_same(seed: int) -> None:
    rng = random.Random(seed)
    folded = 0
    for _ in range(250):
        raw = _soup(rng)
        assert _folded(raw) == _shape(feed(raw, POLICY)) == _stdlib(raw), raw
        folded += bool(fold_runs(raw)[1])
    assert folded > 50  # the fast path ran, not only the fallback


def test_runs_in_every_place_of_a_mime_tree() -> None:
    rng = random.Random(5)

    def run(n: int = 30) -> str:
        return "\n".join(_b64_lines(rng, n)) + "\n"

    cases = [
        "Subject: x\n" + run(),  # right after the headers (no blank line): ends them
        "Content-Type: multipart/mixed; boundary=B\n\n" + run() + "--B\n\nx\n--B--\n" + run(),  # preamble, epilogue
        "Content-Type: multipart/mixed; boundary=B\n\n--B\n\n" + run() + "--B--\n",  # last lines before a boundary
        "Content-Type: multipart/mixed; boundary=B\n\n--B\n" + run() + "--B--",  # a part with no header block
        "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: message/rfc822\n\n" + run() + "--B--\n",
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n" + run() + "\nAction: failed\n",
        "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: multipart/mixed; boundary=C\n\n--C\n\n"
        + run() + "--C--\n" + run() + "--B--\n",  # a nested epilogue
        "Content-Type: multipart/mixed\n\n" + run(),  # no boundary
        "Content-Type: multipart/mixed; boundary=B\n\n" + run(),  # no start boundary
        "Content-Type: multipart/mixed; boundary=B\n\n--B\n\n" + run(),  # no close boundary
        "Subject: x\n\n" + run().rstrip("\n"),  # the last line without a line end
    ]
    for text in cases:
        raw = text.encode()
        assert fold_runs(raw)[1], text
        assert _folded(raw) == _shape(feed(raw, POLICY)) == _stdlib(raw), text


def _plain_spans(raw: bytes) -> list[tuple[int, int]]:
    return [m.span() for m in RUN.finditer(raw)]


def test_runs_are_found_where_the_plain_pattern_finds_them() -> None:
    """``run_spans`` searches the bytes' classes; the runs must be ``RUN``'s over the bytes, for
    real mail, line soup, every byte value and line ends in odd places."""
    mails = [p.read_bytes() for p in sorted(DATA.rglob("*.eml"))]
    for raw in mails:
        assert run_spans(raw) == _plain_spans(raw)
    rng = random.Random(11)
    found = 0
    for _ in range(2000):
        raw = _soup(rng)
        assert run_spans(raw) == _plain_spans(raw), raw
        found += bool(run_spans(raw))
    assert found > 400
    # Short lines of base64 characters, CR, a blank, a byte over 127, any line end, empty lines.
    chars = [b"A", b"z", b"9", b"+", b"/", b"=", b"\r", b" ", b"\xe9", b"-", b":"]
    weights = [20, 20, 20, 5, 5, 5, 1, 1, 1, 1, 1]
    found = 0
    for _ in range(3000):
        lines = [b"".join(rng.choices(chars, weights, k=rng.choice((0, 1, 2, 3, 4, 5) + (2,) * 10)))
                 for _ in range(rng.randrange(0, 40))]
        raw = b"".join(line + rng.choices((b"\n", b"\r\n", b"\r", b"\n\r"), (20, 20, 1, 1))[0] for line in lines)
        assert run_spans(raw) == _plain_spans(raw), raw
        found += bool(run_spans(raw))
    assert found > 100
    lines = _b64_lines(rng, 30)
    for end in ("\n", "\r\n"):
        at_start = (end.join(lines) + end + "x: y" + end).encode()  # a run from the first byte
        assert run_spans(at_start)[0][0] == 0
        assert run_spans(at_start) == _plain_spans(at_start)
        two = (end.join(lines) + end + end + end.join(lines) + end).encode()  # two runs, a blank line between
        assert len(run_spans(two)) == 2 and run_spans(two) == _plain_spans(two)
    every_byte = bytes(range(256)) * 3 + b"\n" + b"QUJD\n" * 20
    assert run_spans(every_byte) == _plain_spans(every_byte)
