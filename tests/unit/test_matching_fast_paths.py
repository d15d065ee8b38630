"""The shortcuts of the matcher and its neighbours give what the plain code gives.

normalise skips ASCII text's mark stripping and its spaces when they are single already; masking
skips a text with no password label; find_values and the table patterns search an ASCII text as
bytes; an exclude list is searched only when asked. Each is compared here with the plain form on
texts made of the characters the shortcuts treat apart (tabs, no-break spaces, marks, quotes, "`",
a lone surrogate, letters whose case folds oddly).
"""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from mailbot.core import matching, passwords, values
from mailbot.core.matching import Excluded, compile_table_pattern, keyword_pattern, normalise
from mailbot.core.passwords import mask_passwords
from mailbot.core.values import find_values

PIECES = [
    "password saya: Rahasia123", "pwd=abc12", "kata sandi adalah Budi2024", "user/pass: budi / R4hasia",
    "PAſSWORD: Geheim99", "paswd x9y8z7", "kode tender 10023456000", "NPWP 01.234.567.8-901.000",
    "PT Sinar Jaya", "Nama Perusahaan : Berkah Mandiri", "tgl 12/10/2024 pukul 14.00", "Rp. 150.000.000",
    "gagal upload", "Café", "ßupload", "ø budi01", "Ærø", "e\u0301", "\u2019", "`", "\u201cx\u201d", "\u00a0",
    "\t", "  ", " \n ", "\n\n", "\r\n", "\u2028", "\u200b", "\u00ad", "\ud800", "Σ", "ΌΣΟΣ", "\u212a", "x",
    "upload", "login", "0812 3456 7890", "error 500", "\uff21\uff22",
]


def texts(n: int = 400, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    out = ["", " ", "`", "\t\t", "a  b", "a \tb"]
    for _ in range(n):
        out.append("".join(rng.choice(PIECES) + rng.choice(["", " ", "", "\n", "  "]) for _ in range(rng.randint(1, 30))))
    return out


def plain_normalise(text: str) -> str:
    """normalise as it was written before its shortcuts."""
    decomposed = unicodedata.normalize("NFKD", matching._utf8_safe(text))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    lowered = stripped.translate(matching._TRANSLATE).lower()
    return matching._NEWLINES.sub("\n", matching._HSPACE.sub(" ", lowered)).strip()


def test_normalise_equals_the_plain_form() -> None:
    for text in texts():
        assert normalise(text) == plain_normalise(text), repr(text)


def test_masking_a_text_without_a_label_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = texts(seed=4)
    fast = [mask_passwords.__wrapped__(text) for text in cases]
    assert any(found for _, found in fast) and not all(found for _, found in fast)
    monkeypatch.setattr(passwords, "_ANY_LABEL", re.compile(""))  # every text goes through the three patterns
    assert [mask_passwords.__wrapped__(text) for text in cases] == fast


def test_values_of_an_ascii_text_are_those_of_the_str_search(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [normalise(text) for text in texts(seed=5)]
    cases = [text for text in cases if text.isascii()]
    assert len(cases) > 20
    fast = [find_values(text) for text in cases]
    assert sum(map(len, fast)) > len(cases)

    monkeypatch.setattr(values, "_searched", lambda text: text)  # searched as str
    assert [find_values(text) for text in cases] == fast


@pytest.mark.parametrize("source", [r"upload\s+gagal", r"(?:^|[^\d.])(?P<m>\d{7})(?:$|\D)", r"\bcaf\w*", "x*"])
def test_a_table_pattern_finds_on_bytes_what_python_finds(source: str) -> None:
    """Searched on the ASCII view's bytes, spans are the text's, as Python's re (the table's old engine) gives them."""
    pattern = compile_table_pattern(source)
    python = re.compile(source, re.IGNORECASE | re.MULTILINE)
    for text in texts(n=150, seed=6):
        text = normalise(text)
        group = python.groupindex.get("m", 0)
        assert [m.span() for m in pattern.finditer(text)] == [m.span(group) for m in python.finditer(text)], repr(text)


def test_keywords_find_whole_words_on_bytes() -> None:
    word = keyword_pattern("upload*")
    python = re.compile(r"(?<!\w)upload\w*(?!\w)")
    for text in texts(n=150, seed=7):
        text = normalise(text)
        assert [m.span() for m in word.finditer(text)] == [m.span() for m in python.finditer(text)], repr(text)


def test_an_exclude_list_is_searched_once_and_only_when_asked() -> None:
    searched: list[str] = []

    class Counting:
        def finditer(self, text: str, pos: int = 0, /):  # type: ignore[no-untyped-def]
            searched.append(text)
            yield from re.finditer("ab", text)

        def search(self, text: str, pos: int = 0, /):  # type: ignore[no-untyped-def]
            return re.search("ab", text)

    excluded = Excluded([Counting()], "xxab ab")  # type: ignore[list-item]
    assert searched == []
    assert [excluded.overlaps(s, e) for s, e in ((0, 2), (2, 3), (3, 5), (4, 5), (5, 6), (6, 7))] == [
        False, True, True, False, True, True]
    assert searched == ["xxab ab"]
