"""What a search box's text becomes (storage/search.py): plain words only, whatever was typed, so
no query can reach FTS5's or PostgreSQL's search syntax."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from mailbot.storage import search


def test_chunks_become_phrases_and_the_last_word_a_prefix() -> None:
    words = search.terms('Budi.Santoso@cv-maju.co.id "lupa password" TTS-000123')
    assert words.phrases == (("budi", "santoso", "cv", "maju", "co", "id"), ("lupa",), ("password",),
                             ("tts", "000123"))
    assert words.prefix
    assert words.fts5() == '"budi santoso cv maju co id" AND "lupa" AND "password" AND "tts 000123"*'
    assert words.tsquery() == ("('budi' <-> 'santoso' <-> 'cv' <-> 'maju' <-> 'co' <-> 'id') & ('lupa') & "
                               "('password') & ('tts' <-> '000123':*)")


def test_a_finished_word_or_a_short_one_is_not_a_prefix() -> None:
    assert not search.terms("lupa ").prefix
    assert not search.terms("lupa a").prefix
    assert search.terms("lupa ab").prefix


def test_operators_and_punctuation_are_words_or_nothing() -> None:
    assert search.terms('NEAR(a b) OR -c* "d:e').phrases == (("near", "a"), ("b",), ("or",), ("c",), ("d", "e"))
    assert not search.terms('*** "" -- :: ()')
    assert not search.terms("")


def test_scope_markers_are_added_as_groups() -> None:
    scope = search.scope_words(["kota", "kab"], True)
    assert scope == [[search.helpdesk_token("kab"), search.helpdesk_token("kota")], [search.ESCALATED_TOKEN]]
    words = search.terms("upload")
    assert words.fts5(scope) == f'"upload"* AND ({scope[0][0]} OR {scope[0][1]}) AND ({search.ESCALATED_TOKEN})'
    assert search.scope_words(None, False) == []


def test_recognises_ticket_numbers() -> None:
    assert search.number_seq("TTS-000123") == ("TTS", 123)
    assert search.number_seq(" tts - 123 ") == ("TTS", 123)
    assert search.number_seq("123") == (None, 123)
    assert search.number_seq("kode 123") is None and search.number_seq("12345678901") is None


@given(st.text(max_size=300))
def test_any_text_gives_quoted_plain_words(query: str) -> None:
    words = search.terms(query)
    for phrase in words.phrases:
        for word in phrase:
            assert re.fullmatch(r"[^\W_]+", word) and word == word.lower() and len(word) <= search.MAX_WORD
    assert words.fts5().count('"') == 2 * len(words.phrases)
    assert len(words.phrases) <= search.MAX_CHUNKS
