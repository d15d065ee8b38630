"""``render.text_to_html`` makes the HTML alternative of every reply: escaped and linked in one
piece, it must give what escaping and linking each paragraph gives (``_reference``, the first
version), for text with links, indents, quotes, blank lines made of spaces and tabs."""

from __future__ import annotations

import html
import random
import re

from mailbot.mail.render import text_to_html

_URL = re.compile(r"(https?://[^\s<>\"]+)")
_INDENT = re.compile(r"^ +", re.MULTILINE)


def _reference(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    out = []
    for para in paragraphs:
        escaped = _URL.sub(r'<a href="\1">\1</a>', html.escape(para))
        escaped = _INDENT.sub(lambda m: "&nbsp;" * len(m[0]), escaped)
        out.append("<p>" + escaped.replace("\n", "<br>\n") + "</p>")
    return "\n".join(out)


def test_paragraphs_links_and_indents_as_per_paragraph() -> None:
    rng = random.Random(8)
    pieces = ["Halo", " ", "  ", "\t", "\n", "\n\n", "\n  \n", "\n\t\n", " \n \n ", "https://lpse.test/x?a=1&b=2",
              "http://a.test/\"q\"", "<b>", "&", "'", "\"", "   Contoh: kode tender", "\r\n", "\u00a0", "x"]
    texts = ["", " ", "\n\n", "satu\n\ndua", "   menjorok\n  juga", "https://a.test\n\nhttps://b.test/<x>"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 60))) for _ in range(3000)]
    for text in texts:
        assert text_to_html(text) == _reference(text), text
