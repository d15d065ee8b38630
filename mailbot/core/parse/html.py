"""HTML bodies: readable text (:func:`html_to_text`) and HTML safe to show staff (:func:`sanitize_html`).

The text is what the rules, the reply-text cut and the notifications read when a mail has no
text/plain part; the sanitised HTML is only for showing a mail to staff (nh3 allow-list, nh3
imported at the first use).
"""

from __future__ import annotations

import functools
import html as html_module
import re
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING

from mailbot.core.parse.decoding import normalise_newlines

if TYPE_CHECKING:
    import nh3

# html.parser is not used: on CPython 3.11 it is quadratic on unclosed constructs
# ("<a <a <a ..." of a few MB takes minutes). This tokenizer follows the HTML tokenizer
# states closely enough for text extraction and runs in linear time: every loop
# iteration consumes input and nothing is rescanned.

_TAG_OPEN_RE = re.compile(r"<(/?)([A-Za-z][^\s/>]*)")
# One attribute: a name (any char but space, "/", ">"; "=" only first, as in the HTML
# tokenizer), then an optional value. A quote never closed runs to the end of input,
# as in browsers (the tag is then dropped).
_ATTR_RE = re.compile(r"""[^\s/>][^\s/>=]*(?:\s*=\s*(?:"[^"]*"?|'[^']*'?|[^\s>]*))?""")
_SPACES_RE = re.compile(r"\s*")
_COMMENT_END_RE = re.compile(r"--!?>")
# Elements whose content is raw text, not markup (for "title"/"textarea" entities would
# count, but their content is never part of the readable body anyway).
_RAWTEXT_TAGS = frozenset({"script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript"})
_RAWTEXT_CLOSE_RE = {name: re.compile(rf"</{name}[\s/>]", re.IGNORECASE) for name in _RAWTEXT_TAGS}


def _tag_end(html: str, i: int) -> int:
    """Index just past the ">" that ends the tag whose name ends at ``i`` (or len(html))."""
    n = len(html)
    while True:
        spaces = _SPACES_RE.match(html, i)
        i = spaces.end() if spaces else i
        if i >= n:
            return n
        char = html[i]
        if char == ">":
            return i + 1
        if char == "/":
            i += 1
            continue
        attribute = _ATTR_RE.match(html, i)
        # It always matches here (html[i] is not space, "/" or ">"); "+ 1" only guarantees progress.
        i = attribute.end() if attribute else i + 1


def _html_tokens(html: str) -> Iterator[tuple[str, int, int, str]]:
    """(kind, start, end, tag name) for kind in data / start / end / raw / comment."""
    n = len(html)
    pos = text_start = 0
    while True:
        lt = html.find("<", pos)
        if lt < 0:
            break
        match = _TAG_OPEN_RE.match(html, lt)
        if match is None and not html.startswith(("<!", "<?", "</"), lt):
            pos = lt + 1  # a lone "<" ("a < b", "<3") is text
            continue
        if lt > text_start:
            yield "data", text_start, lt, ""
        if match is not None:
            name = match.group(2).lower()
            end = _tag_end(html, match.end())
            yield ("end" if match.group(1) else "start"), lt, end, name
            if not match.group(1) and name in _RAWTEXT_TAGS and end < n:
                close = _RAWTEXT_CLOSE_RE[name].search(html, end)
                raw_end = n if close is None else close.start()
                if raw_end > end:
                    yield "raw", end, raw_end, name
                if close is not None:
                    close_end = _tag_end(html, close.start() + 2 + len(name))
                    yield "end", close.start(), close_end, name
                    end = close_end
                else:
                    end = n
        elif html.startswith("<!--", lt):
            if html.startswith("<!-->", lt) or html.startswith("<!--->", lt):  # abrupt empty comment
                end = html.index(">", lt + 4) + 1
            else:
                close = _COMMENT_END_RE.search(html, lt + 4)
                end = n if close is None else close.end()
            yield "comment", lt, end, ""
        else:
            # <!DOCTYPE ...>, <![CDATA[...]]>, <?...>, </3...>: bogus comments up to ">".
            gt = html.find(">", lt + 2)
            end = n if gt < 0 else gt + 1
            yield "comment", lt, end, ""
        pos = text_start = end
    if text_start < n:
        yield "data", text_start, n, ""


_BLOCK_TAGS = frozenset(
    "address article aside center dd details dialog dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header li main nav ol section summary table tbody thead tfoot tr ul div".split()
)
_SKIP_TAGS = frozenset({"head", "template"})  # content is not part of the readable body
_HTML_WS_RE = re.compile(r"[ \t\r\n\f\v]+")
_MAX_QUOTE_PREFIX = 10


class _TextBuilder:
    """Readable text from HTML tokens: block elements become lines, blockquotes "> " lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._buf: list[str] = []
        self._has_text = False  # the current line has more than whitespace (kept, not recomputed)
        self._skip = 0
        self._quote = 0
        self._pre = 0

    def _prefix(self) -> str:
        # Capped: a hostile mail nesting 100 000 blockquotes must not make every line huge.
        return "> " * min(self._quote, _MAX_QUOTE_PREFIX)

    def _flush(self, force: bool = False) -> None:
        line = "".join(self._buf)
        self._buf = []
        self._has_text = False
        line = line.rstrip() if self._pre else line.strip()
        if line:
            self.lines.append(self._prefix() + line)
        elif force:
            self.lines.append(self._prefix().rstrip())

    def _block(self) -> None:
        if self._has_text:
            self._flush()
        else:
            self._buf = []

    def _blank(self) -> None:
        if self.lines and self.lines[-1].strip("> "):
            self.lines.append(self._prefix().rstrip())

    def start(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "body":
            self._skip = 0  # an unclosed <head> must not hide the body
        elif self._skip:
            return
        elif tag == "br":
            self._flush(force=True)
        elif tag == "p":
            self._block()
            self._blank()
        elif tag == "blockquote":
            self._block()
            self._quote += 1
        elif tag == "pre":
            self._block()
            self._pre += 1
        elif tag == "hr":
            self._block()
            self.lines.append(self._prefix() + "-----")
        elif tag == "li":
            self._block()
            self._buf.append("- ")
        elif tag in ("td", "th"):
            self._buf.append(" ")
        elif tag in _BLOCK_TAGS:
            self._block()

    def end(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif self._skip:
            return
        elif tag == "p":
            self._block()
            self._blank()
        elif tag == "blockquote":
            self._block()
            self._quote = max(0, self._quote - 1)
        elif tag == "pre":
            self._block()
            self._pre = max(0, self._pre - 1)
        elif tag in _BLOCK_TAGS:
            self._block()

    def data(self, text: str) -> None:
        if self._skip:
            return
        if self._pre:
            for n, chunk in enumerate(text.split("\n")):
                if n:
                    self._flush(force=True)
                self._buf.append(chunk.replace("\xa0", " "))
                self._has_text = self._has_text or bool(chunk.strip())
            return
        text = _HTML_WS_RE.sub(" ", text)
        if not self._has_text or (self._buf and self._buf[-1].endswith(" ")):
            text = text.lstrip(" ")  # whitespace collapses across tags, too
        # &nbsp; is a space HTML does not collapse: replaced only after collapsing.
        text = text.replace("\xa0", " ")
        if text:
            self._buf.append(text)
            self._has_text = self._has_text or bool(text.strip())

    def close(self) -> None:
        self._flush()


_MANY_BLANKS_RE = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML mail body (never raises, linear time).

    Tags are dropped, entities unescaped; <br>, <p>, <div>, list items and table rows
    give line breaks, <blockquote> content is prefixed with "> " (so quoted history in
    HTML-only replies is recognised like plain-text quotes); script, style, title and
    head content and comments are skipped.
    """
    builder = _TextBuilder()
    html = normalise_newlines(html)
    for kind, start, end, name in _html_tokens(html):
        if kind == "data":
            builder.data(html_module.unescape(html[start:end]))
        elif kind == "start":
            builder.start(name)
        elif kind == "end":
            builder.end(name)
    builder.close()
    text = "\n".join(line.rstrip() for line in builder.lines)
    text = _MANY_BLANKS_RE.sub("\n\n", normalise_newlines(text))
    return text.strip()


_SAFE_TAGS = frozenset(
    "a abbr b blockquote br caption cite code col colgroup dd del div dl dt em font h1 h2 h3 h4 h5 h6 "
    "hr i img ins kbd li mark ol p pre q s samp small span strike strong sub sup table tbody td tfoot "
    "th thead tr tt u ul".split()
)
_SAFE_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "ol": {"start"},
}


def _filter_attribute(tag: str, attr: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if tag == "img" and attr == "src":
        # Only inline images from this mail: remote images are tracking beacons.
        return value if lowered.startswith("cid:") else None
    if tag == "a" and attr == "href":
        return value if lowered.startswith(("http://", "https://", "mailto:")) else None
    return value


@functools.cache
def _cleaner() -> nh3.Cleaner:
    # nh3 is imported here, at the first use: its library is 1.4 MB of resident memory that
    # the intake, which stores mail and never shows it, would otherwise keep for nothing.
    import nh3

    return nh3.Cleaner(
        tags=set(_SAFE_TAGS),
        clean_content_tags={"script", "style", "title", "template", "noscript", "iframe", "object", "embed", "svg",
                            "math"},
        attributes=_SAFE_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        url_schemes={"http", "https", "mailto", "cid"},
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


# nh3 (html5ever) spends time quadratic in the nesting depth and in the number of open
# formatting elements: 10 000 nested <b id=N> take seconds. Above these budgets (far above
# real mail) the mail is shown as escaped text instead. The counts are upper bounds of what
# html5ever sees: every start tag it builds starts with "<" and a letter in the source.
_SANITIZE_MAX_TAGS = 10_000
_SANITIZE_MAX_FORMATTING_TAGS = 2_000
_START_TAG_RE = re.compile(r"<[A-Za-z]")
_FORMATTING_TAG_RE = re.compile(r"<(?:a|b|big|code|em|font|i|nobr|s|small|strike|strong|tt|u)[\s/>]", re.IGNORECASE)


def _more_than(pattern: re.Pattern[str], text: str, limit: int) -> bool:
    return sum(1 for _ in islice(pattern.finditer(text), limit + 1)) > limit


def sanitize_html(html: str) -> str:
    """HTML that is safe to show to staff: a conservative nh3 allow-list.

    Text formatting, lists, tables and links (http/https/mailto, with
    ``rel="noopener noreferrer nofollow"``) stay; scripts, styles, iframes, forms, event
    handlers, ``javascript:`` URLs and remote images go. Images survive only as
    ``cid:`` references to attachments of the same mail. Markup too large to sanitise
    in bounded time comes back as ``<pre>`` with the escaped :func:`html_to_text`.
    """
    if _more_than(_START_TAG_RE, html, _SANITIZE_MAX_TAGS) or _more_than(
        _FORMATTING_TAG_RE, html, _SANITIZE_MAX_FORMATTING_TAGS
    ):
        return "<pre>" + html_module.escape(html_to_text(html), quote=False) + "</pre>"
    return _cleaner().clean(html)
