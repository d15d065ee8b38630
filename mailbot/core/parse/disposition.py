"""A part's Content-Disposition read from its text when the header object would say the same.

``Message.get("content-disposition")`` parses the value into a header object (the stdlib's
``_header_value_parser``, some 180 us for ``attachment; filename="laporan.pdf"``), and an
attachment's value is new in every mail (its file name), so no cache keeps it: a quarter of the
benchmark's mails paid that parse for the three things mailbot reads of it (``is_attachment``,
``get_content_disposition``, ``get_filename``), which only look at the header's text.

The header object's text is the value written again (``disposition; name="value"; ...``) from
what its parser read. For a plain value (``_PLAIN``: a token, then parameters of plain names
whose values are tokens or quoted strings of printable ASCII, without RFC 2231 names,
apostrophes, percent signs, backslashes, encoded words or comments) that text gives the same
disposition and parameters as the value itself, so the three are read from the raw value
(unfolded as the policy unfolds it) through a ``compat32`` message holding it, with the stdlib's
own ``get_param``. Anything else is read from the part as before.
``tests/unit/test_parse_disposition.py`` compares both ways on thousands of values.
"""

from __future__ import annotations

import re
from email import utils
from email.message import Message, _splitparam  # type: ignore[attr-defined]  # what get_content_disposition runs

_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
# Parameters: no RFC 2231 name (``*``), and no apostrophe or percent sign in a value (the header
# parser reads ``a'b'c`` as an RFC 2231 value even without the star); a quoted value of printable
# ASCII but the quote and the backslash.
_NAME = r"[A-Za-z0-9._-]+"
_VALUE = r'[A-Za-z0-9!#$&+.^_`|~-]+|"[ !#$&(-\[\]-~]*"'
_PLAIN = re.compile(rf"[ \t]*({_TOKEN})[ \t]*(?:;[ \t]*{_NAME}[ \t]*=[ \t]*(?:{_VALUE})[ \t]*)*(?:;[ \t]*)?")
#: The value is not plain: ask the part (its header object).
PARSE = object()


def raw_disposition(part: Message) -> object:
    """The text of the part's first Content-Disposition when it is plain, None when there is
    none, ``PARSE`` otherwise."""
    value = next((v for name, v in part.raw_items() if name.lower() == "content-disposition"), None)
    if value is None:
        return None
    if not isinstance(value, str):
        return PARSE
    text = value.replace("\r", "").replace("\n", "")  # the policy's unfolding (``linesep_splitter``)
    if "=?" in text or _PLAIN.fullmatch(text) is None:
        return PARSE
    return text


def is_attachment(part: Message) -> bool:
    """``part.is_attachment()`` (an ``EmailMessage``'s)."""
    text = raw_disposition(part)
    if text is None:
        return False
    if not isinstance(text, str):
        return part.is_attachment()  # type: ignore[attr-defined, no-any-return]
    match = _PLAIN.fullmatch(text)
    assert match is not None
    return match.group(1).lower() == "attachment"


def disposition(part: Message) -> str | None:
    """``part.get_content_disposition()``."""
    text = raw_disposition(part)
    if text is None:
        return None
    if not isinstance(text, str):
        return part.get_content_disposition()
    return str(_splitparam(text)[0].lower())


def filename(part: Message) -> str | None:
    """``part.get_filename()``."""
    text = raw_disposition(part)
    if not isinstance(text, str):
        return part.get_filename()
    view = Message()  # compat32: ``get`` hands out the text as it is
    view["Content-Disposition"] = text
    missing = object()
    name = view.get_param("filename", missing, "content-disposition")
    if name is missing:
        return part.get_filename()  # the Content-Type's ``name``
    return str(utils.collapse_rfc2231_value(name).strip())  # type: ignore[arg-type]
