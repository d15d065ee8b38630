"""Golden corpus: every tests/data/eml/NAME.eml parsed and compared with NAME.json.

The JSON holds hand-written expectations (see tests/data/eml/make_corpus.py). Only the
keys present are compared, so each case states what matters for it:

* a key named like an InboundMail field is compared for equality (tuples as lists,
  ``date`` as ISO 8601 or null, ``attachments`` as a list of
  {filename, content_type, size, inline, has_content});
* ``*_contains`` / ``*_not_contains``: substrings that must (not) occur in text,
  new_text, html or the joined defects;
* ``html_is_none``, ``subject_length``, ``subject_startswith``, ``references_count``,
  ``references_first``, ``references_last``;
* ``max_attachment_bytes`` is passed to parse_mail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mailbot.core.domain import InboundMail
from mailbot.core.parse import parse_mail

CORPUS = Path(__file__).resolve().parents[1] / "data" / "eml"
CASES = sorted(p.stem for p in CORPUS.glob("*.eml"))

_SPECIAL_KEYS = {
    "max_attachment_bytes",
    "attachments",
    "date",
    "html_is_none",
    "subject_length",
    "subject_startswith",
    "references_count",
    "references_first",
    "references_last",
    "text_contains",
    "text_not_contains",
    "new_text_not_contains",
    "html_contains",
    "defects_contains",
}


def _load(name: str) -> tuple[bytes, dict[str, Any]]:
    raw = (CORPUS / f"{name}.eml").read_bytes()
    expected = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
    return raw, expected


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 25
    for name in CASES:
        assert (CORPUS / f"{name}.json").exists(), f"{name}.eml has no expectations"


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    raw, expected = _load(name)
    kwargs = {}
    if "max_attachment_bytes" in expected:
        kwargs["max_attachment_bytes"] = expected["max_attachment_bytes"]
    mail = parse_mail(raw, **kwargs)

    assert isinstance(mail, InboundMail)
    assert mail.size == len(raw)

    for key, want in expected.items():
        if key in _SPECIAL_KEYS:
            continue
        assert hasattr(mail, key), f"unknown key {key!r} in {name}.json"
        assert _plain(getattr(mail, key)) == want, f"{name}: {key}"

    if "date" in expected:
        got = None if mail.date is None else mail.date.isoformat()
        assert got == expected["date"]
    if "attachments" in expected:
        got_atts = [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "inline": a.inline,
                "has_content": a.content is not None,
            }
            for a in mail.attachments
        ]
        assert got_atts == expected["attachments"]
        for a in mail.attachments:
            if a.content is not None:
                assert len(a.content) == a.size
    if expected.get("html_is_none"):
        assert mail.html is None
    if "subject_length" in expected:
        assert len(mail.subject) == expected["subject_length"]
    if "subject_startswith" in expected:
        assert mail.subject.startswith(expected["subject_startswith"])
    if "references_count" in expected:
        assert len(mail.references) == expected["references_count"]
    if "references_first" in expected:
        assert mail.references[0] == expected["references_first"]
    if "references_last" in expected:
        assert mail.references[-1] == expected["references_last"]
    for needle in expected.get("text_contains", []):
        assert needle in mail.text
    for needle in expected.get("text_not_contains", []):
        assert needle not in mail.text
    for needle in expected.get("new_text_not_contains", []):
        assert needle not in mail.new_text
    for needle in expected.get("html_contains", []):
        assert mail.html is not None and needle in mail.html
    for needle in expected.get("defects_contains", []):
        assert needle in mail.defects, f"{name}: {needle!r} not in {mail.defects}"


@pytest.mark.parametrize("name", CASES)
def test_golden_invariants(name: str) -> None:
    """Properties every parse result has, whatever the case."""
    raw, _ = _load(name)
    mail = parse_mail(raw)
    assert mail.message_id and "<" not in mail.message_id and ">" not in mail.message_id
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert "\r" not in mail.text and "\r" not in mail.new_text
    assert mail.new_text == mail.new_text.strip()
    assert mail.date is None or mail.date.tzinfo is not None
    assert mail.from_addr == mail.from_addr.lower()
    for att in mail.attachments:
        assert att.filename and "/" not in att.filename and "\\" not in att.filename
        assert att.filename not in (".", "..") and not att.filename.startswith(".")
    assert parse_mail(raw) == mail  # deterministic
