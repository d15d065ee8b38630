"""The MIME tree of a mail: the walk, the body parts, the attachments and the size caps.

The walk is iterative and capped (depth, number of parts), a multipart with a wrong boundary is
repaired from its body, the body is text/plain (else derived from the HTML) plus the text of
forwarded mails, and the other leaves become attachments. A body over the text cap is cut
(:func:`cut`, :func:`cut_marker`) and kept whole as ``pesan-lengkap.zip``
(:func:`full_text_attachment`).
"""

from __future__ import annotations

import binascii
import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

from mailbot.core import mailpolicy
from mailbot.core.domain import Attachment
from mailbot.core.parse import disposition
from mailbot.core.parse.decoding import (
    add_defect,
    decode_bytes,
    decode_encoded_words,
    header_text,
    normalise_newlines,
    one_line,
)
from mailbot.core.parse.feeding import feed
from mailbot.core.parse.filenames import sanitize_filename
from mailbot.core.parse.headers import MAX_SUBJECT_CHARS, Headers
from mailbot.core.parse.html import html_to_text
from mailbot.core.parse.reply import extract_new_text

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
#: Characters of body text kept, relayed and classified per mail (``text``, ``new_text``, ``html``).
#: 256 Ki characters is some 60 printed pages: far above any mail a person types (the longest
#: of the test corpora is under 1,000 characters; a pasted error page or log is tens of KB), so
#: real mail is never cut, while all the work after the parse stays bounded: it grows with the
#: text (the priority rules took about 11 s per million characters when this was written, the
#: staff notification carries the text, the database keeps it twice, as text and new_text).
#: A longer body keeps its full text as an attachment.
DEFAULT_MAX_TEXT_CHARS = 256 * 1024
#: The attachment with the full text of a body that was cut: ``pesan-lengkap.txt`` in a ZIP,
#: ``pesan-lengkap.zip``. Zipped because the notification to staff carries it: a text this long
#: is a pasted log or a dump, which compresses ten times or more (plain, in base64, a 20 MB text
#: would make a 27 MB notification), and a ZIP opens on every office machine and phone, which a
#: .gz does not.
FULL_TEXT_NAME = "pesan-lengkap"
_FULL_TEXT_CHUNK_CHARS = 1024 * 1024  # encoded and compressed piecewise: no second full copy
_CUT_LOOKBACK_CHARS = 2000  # a cut ends at the last line break this close to the cap

# A hostile mail can nest or multiply parts without end; the walk stops here (with a defect).
MAX_MIME_DEPTH = 40  # levels of multipart / message nesting we walk into
MAX_PARTS = 1000  # MIME parts per message we look at

_PARSE_POLICY = mailpolicy.DEFAULT
# Used to turn an embedded message (message/rfc822, DSN parts) back into bytes for the
# attachment: no refolding and 8-bit allowed, so the bytes stay as the sender wrote them.
_GEN_POLICY = mailpolicy.DEFAULT.clone(refold_source="none", cte_type="8bit", linesep="\r\n")


_CTYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")


def content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"
    return ctype if _CTYPE_RE.fullmatch(ctype) else "application/octet-stream"


def _disposition(part: Message) -> str | None:
    try:
        return disposition.disposition(part)
    except Exception:
        return None


def _filename(part: Message, defects: list[str]) -> str | None:
    try:
        name = disposition.filename(part)
    except Exception:
        add_defect(defects, "unparseable attachment filename")
        return None
    if name is None:
        return None
    name = str(name)
    if "=?" in name:  # RFC 2047 inside a parameter: not allowed, but Outlook and Gmail do it
        name = decode_encoded_words(name, "filename", defects)
    return name


def is_container(part: Message) -> bool:
    return content_type(part).startswith("multipart/") and isinstance(part.get_payload(), list)


def defect_names(part: Message) -> list[str]:
    return [type(d).__name__ for d in getattr(part, "defects", ())]


@dataclass
class _Node:
    part: Message
    depth: int
    parent: int  # index of the parent node, -1 for the root


def _walk(root: Message, max_depth: int, defects: list[str]) -> tuple[list[_Node], bool]:
    """Iterative pre-order walk (no recursion, so deep nesting cannot blow the stack).

    Only multipart containers are entered; message/* parts are leaves here (the caller
    decides what to do with an embedded message). Returns (nodes, truncated).
    """
    nodes: list[_Node] = []
    truncated = False
    stack: list[tuple[Message, int, int]] = [(root, 0, -1)]
    while stack:
        part, depth, parent = stack.pop()
        if len(nodes) >= MAX_PARTS:
            add_defect(defects, f"more than {MAX_PARTS} MIME parts; the rest ignored")
            truncated = True
            break
        index = len(nodes)
        nodes.append(_Node(part, depth, parent))
        for name in defect_names(part):
            add_defect(defects, name)
        if not is_container(part):
            continue
        if depth >= max_depth:
            if not truncated:
                add_defect(defects, f"MIME nesting deeper than {MAX_MIME_DEPTH} levels; deeper parts ignored")
            truncated = True
            continue
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        for child in reversed(children):
            stack.append((child, depth + 1, index))
    return nodes, truncated


def base64_content(part: Message) -> bytes | None:
    """``part.get_payload(decode=True)`` of a base64 part whose text is ASCII and valid base64 as
    it stands (the stdlib's first try, ``decode_b`` without padding added), else None.

    The stdlib takes the line ends out with ``b"".join(bpayload.splitlines())``, one bytes object
    per line (1,400 for a 100 KB attachment, each made and freed); ``translate`` drops the same CR
    and LF (the only line boundaries of ``bytes.splitlines``) in one pass: 275 -> 200 us for a
    78 KB attachment (the same instructions under callgrind, fewer allocations). Anything else
    (other encodings, 8-bit text, padding to repair, characters to skip, with their defects) is
    left to ``get_payload``.
    """
    payload = getattr(part, "_payload", None)  # the text as parsed; an ASCII str has no surrogates
    if not isinstance(payload, str) or not payload.isascii():
        return None
    if str(part.get("content-transfer-encoding", "")).lower() != "base64":
        return None
    encoded = payload.encode("ascii").translate(None, b"\r\n")
    if len(encoded) % 4:
        return None
    try:
        return binascii.a2b_base64(encoded, strict_mode=True)
    except binascii.Error:
        return None


def _part_bytes(part: Message) -> bytes:
    """Decoded content of a leaf (base64 / quoted-printable undone)."""
    data: Any
    try:
        data = base64_content(part)
        if data is None:
            data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _message_part_bytes(part: Message, defects: list[str]) -> bytes:
    """The body of a message/* part (the embedded mail, the DSN fields) as bytes."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _part_bytes(part)
    buf = io.BytesIO()
    try:
        generator = BytesGenerator(buf, mangle_from_=False, policy=_GEN_POLICY)
        for sub in payload:
            if isinstance(sub, Message):
                generator.flatten(sub)
    except Exception:  # includes RecursionError on absurdly nested embedded mail
        add_defect(defects, f"could not re-serialise embedded {content_type(part)}")
        return b""
    return buf.getvalue()


def _part_text(part: Message, where: str, defects: list[str]) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text = decode_bytes(_part_bytes(part), charset, where, defects)
    return normalise_newlines(text)

_BOUNDARY_LINE_RE = re.compile(rb"^--([^\r\n]{1,70}?)[ \t]*\r?$", re.MULTILINE)


def repair_boundary(msg: Message, defects: list[str]) -> Message | None:
    """Re-parse a multipart whose boundary is missing or wrong, guessing it from the body.

    Mailers that build MIME by hand sometimes omit the boundary parameter or declare one
    that never appears; the first ``--token`` line of the body is then the real boundary.
    """
    payload = msg.get_payload()
    if not isinstance(payload, str):
        return None
    body = _safe_encode_payload(payload)
    match = _BOUNDARY_LINE_RE.search(body)
    if match is None:
        return None
    boundary = match.group(1).strip()
    if boundary.endswith(b"--"):  # the first delimiter seen is a closing one
        boundary = boundary[:-2]
    if not boundary or b'"' in boundary or b"\\" in boundary:
        return None
    ctype = content_type(msg).encode("ascii")
    rebuilt = b"Content-Type: " + ctype + b'; boundary="' + boundary + b'"\r\n\r\n' + body
    try:
        repaired = BytesParser(policy=_PARSE_POLICY).parsebytes(rebuilt)
    except Exception:
        return None
    if not is_container(repaired) or not repaired.get_payload():
        return None
    add_defect(defects, "multipart boundary missing or wrong; guessed it from the body")
    return repaired


def _safe_encode_payload(payload: str) -> bytes:
    try:
        return payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return payload.encode("utf-8", "surrogateescape")


_FORWARD_MARKER = "---------- Forwarded message ----------"


@dataclass
class Body:
    text: str = ""
    new_text: str = ""
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


def _is_inline_text(part: Message, ctype: str, defects: list[str]) -> bool:
    if ctype not in ("text/plain", "text/html"):
        return False
    if _disposition(part) == "attachment":
        return False
    return _filename(part, defects) is None


def _bodies(root: EmailMessage) -> tuple[Message | None, Message | None]:
    """``(root.get_body(("plain", "html")), root.get_body(("html",)))`` in one walk.

    Both walk the parts in the same order (neither list names "related", the only difference
    ``_find_body`` makes of it), the first to its first text/plain, the second to its first
    text/html: this walk goes as far as the further of the two, so it fails where either would.
    """
    plain = html = None
    for subtype, part in _text_parts(root, root):
        if subtype == "plain":
            if plain is None:
                plain = part
        elif html is None:
            html = part
        if plain is not None and html is not None:
            break
    # ``is None``: a part without headers (text/plain by default) is a false Message
    return (plain if plain is not None else html), html


def _text_parts(root: EmailMessage, part: Message) -> Iterator[tuple[str, Message]]:
    """The text/plain and text/html parts ``EmailMessage.get_body`` considers, in its order
    (``_find_body`` of Python 3.11, for a preference list without "related")."""
    if disposition.is_attachment(part):  # an EmailMessage part's is_attachment(), as in get_body
        return
    maintype, subtype = part.get_content_type().split("/")
    if maintype == "text":
        if subtype in ("plain", "html"):
            yield subtype, part
        return
    if maintype != "multipart" or not root.is_multipart():  # sic: the root's, as the stdlib does
        return
    if subtype != "related":
        for subpart in part.iter_parts():  # type: ignore[attr-defined]
            yield from _text_parts(root, subpart)
        return
    candidate = None
    start = part.get_param("start")
    if start:
        for subpart in part.iter_parts():  # type: ignore[attr-defined]
            if subpart["content-id"] == start:
                candidate = subpart
                break
    if candidate is None:
        subparts: Any = part.get_payload()
        candidate = subparts[0] if subparts else None
    if candidate is not None:
        yield from _text_parts(root, candidate)


def _choose_bodies(
    root: Message, nodes: list[_Node], truncated: bool, defects: list[str]
) -> tuple[Message | None, Message | None]:
    """(plain-or-html body part, html body part) using get_body() where it is safe."""
    if not truncated and isinstance(root, EmailMessage):
        try:
            return _bodies(root)
        except Exception:
            add_defect(defects, "body selection failed; used the first text part")
    # Fallback over the parts we did walk: first inline text/plain, first inline text/html.
    plain = html = None
    for node in nodes:
        ctype = content_type(node.part)
        if is_container(node.part) or not _is_inline_text(node.part, ctype, defects):
            continue
        if ctype == "text/plain" and plain is None:
            plain = node.part
        elif ctype == "text/html" and html is None:
            html = node.part
    return (plain or html), html


def _forward_header(headers: Headers, defects: list[str]) -> str:
    lines = [_FORWARD_MARKER]
    for label, name in (("From", "from"), ("Date", "date"), ("Subject", "subject"), ("To", "to")):
        value = headers.first(name)
        if value is not None:
            text = one_line(header_text(value, f"forwarded {label}", defects), MAX_SUBJECT_CHARS)
            if text:
                lines.append(f"{label}: {text}")
    return "\n".join(lines)


_TABLE_CELL_RE = re.compile(r"<t[dh][\s>]", re.IGNORECASE)
_GLUED_ENOUGH = 2  # two glued cell pairs: one could be the user's own typo


def _glued_cells(plain: str, rendered: str) -> bool:
    """Does ``plain`` write as one word two neighbouring words of the HTML rendering ``rendered``?

    A mailer that flattens a table drops the space between cells: "Nama PerusahaanPT Anugrah".
    Linear: each neighbouring pair of the rendering is looked up in the set of the plain words.
    """
    plain_words = set(plain.split())
    words = rendered.split()
    glued = 0
    for left, right in zip(words, words[1:], strict=False):
        if left + right in plain_words and left not in plain_words:
            glued += 1
            if glued >= _GLUED_ENOUGH:
                return True
    return False


def extract(
    root: Message,
    base_depth: int,
    defects: list[str],
    max_attachment_bytes: int,
    collect_attachments: bool,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> Body:
    """Text, reply text, HTML and attachments of one message (or one embedded message).

    ``text`` is the whole text (the caller caps it); ``new_text`` is found in the first
    ``max_text_chars`` characters only, so its cost does not grow with the body.
    """
    nodes, truncated = _walk(root, MAX_MIME_DEPTH - base_depth, defects)
    body_part, html_part = _choose_bodies(root, nodes, truncated, defects)
    result = Body()

    main_texts: list[str] = []
    if html_part is not None:
        result.html = _part_text(html_part, "HTML body", defects)
    if body_part is not None and content_type(body_part) == "text/plain":
        main_texts.append(_part_text(body_part, "text body", defects))
    if (not main_texts or not main_texts[0].strip()) and result.html is not None:
        # Only HTML (or an empty text/plain alternative): derive the text from the HTML.
        main_texts = [html_to_text(result.html)]
    elif main_texts and result.html is not None and _TABLE_CELL_RE.search(result.html):
        # A text/plain alternative that glued a table's cells together ("NPWP0012.3456.7890.1000",
        # "User IDanugrahteknik"): the HTML says where each value starts, so it is the better text.
        rendered = html_to_text(result.html)
        if _glued_cells(main_texts[0], rendered):
            main_texts[0] = rendered

    # Ancestors of the chosen body parts: other text leaves under one of their
    # multipart/alternative ancestors are just other renderings of the same body.
    chosen = {id(p) for p in (body_part, html_part) if p is not None}
    body_ancestors: set[int] = set()
    for node in nodes:
        if id(node.part) in chosen:
            parent = node.parent
            while parent >= 0:
                body_ancestors.add(parent)
                parent = nodes[parent].parent

    forwards: list[tuple[str, str]] = []
    for node in nodes:
        part = node.part
        if id(part) in chosen or is_container(part):
            continue
        ctype = content_type(part)
        parent_ctype = content_type(nodes[node.parent].part) if node.parent >= 0 else ""

        if ctype.startswith("multipart/"):
            # A multipart whose boundary never showed up: its body is all we have.
            main_texts.append(_part_text(part, "broken multipart", defects))
            continue
        if _is_inline_text(part, ctype, defects):
            ancestor = node.parent
            in_alternative = False
            while ancestor >= 0:
                if ancestor in body_ancestors and content_type(nodes[ancestor].part) == "multipart/alternative":
                    in_alternative = True
                    break
                ancestor = nodes[ancestor].parent
            if not in_alternative:
                # Text split around inline images (Apple Mail) or a list footer.
                extra = _part_text(part, "text part", defects)
                main_texts.append(html_to_text(extra) if ctype == "text/html" else extra)
            continue

        if ctype == "message/rfc822" and parent_ctype != "multipart/report":
            # A forwarded mail: its text is part of what the user sends us. (In a DSN
            # the embedded message is our own returned mail, not new content.)
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                depth = base_depth + node.depth + 1
                if depth >= MAX_MIME_DEPTH:
                    add_defect(defects, f"MIME nesting deeper than {MAX_MIME_DEPTH} levels; deeper parts ignored")
                else:
                    sub = extract(inner[0], depth, defects, max_attachment_bytes, collect_attachments=False,
                                  max_text_chars=max_text_chars)
                    header = _forward_header(Headers(inner[0]), defects)
                    forwards.append((header + "\n\n" + sub.text, header + "\n\n" + sub.new_text))

        if collect_attachments:
            result.attachments.append(_attachment(part, ctype, len(result.attachments) + 1, max_attachment_bytes, defects))

    main = "\n\n".join(t.strip("\n") for t in main_texts if t.strip())
    del main_texts
    result.text = "\n\n".join([main, *(f[0] for f in forwards)]).strip()
    result.new_text = "\n\n".join(
        t for t in [extract_new_text(cut(main, max_text_chars)), *(f[1].strip() for f in forwards)] if t
    ).strip()
    return result


def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a line break near the end when there is one."""
    if len(text) <= limit:
        return text
    newline = text.rfind("\n", max(0, limit - _CUT_LOOKBACK_CHARS), limit + 1)
    return text[: newline if newline > 0 else limit].rstrip()


def _size_text(size: int) -> str:
    """A size for the Indonesian marker line: "20,0 MB", "300 KB"."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")
    return f"{max(1, round(size / 1024))} KB"


def full_text_attachment(text: str, max_bytes: int) -> tuple[Attachment, int]:
    """(attachment, size of the text in bytes): the full text of a body that was cut, passwords
    masked, as ``pesan-lengkap.txt`` in ``pesan-lengkap.zip``.

    UTF-8, with a byte order mark when it is not ASCII (Windows editors guess the charset of a
    text file otherwise); encoded and compressed piece by piece (no second full copy), with a
    fixed time stamp (the result depends on the text alone; no clock is read). Over
    ``max_bytes`` the content is dropped, as for any attachment.
    """
    # Passwords pasted into the body are masked everywhere else (the service masks the kept
    # text); the full text is the body too. Called past its cache, which would keep a 20 MB text.
    import zipfile  # only for the rare huge body: the module pulls in bz2 and lzma

    from mailbot.core.passwords import mask_passwords

    masked, _ = getattr(mask_passwords, "__wrapped__", mask_passwords)(text)
    buf = io.BytesIO()
    info = zipfile.ZipInfo(f"{FULL_TEXT_NAME}.txt", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    with zipfile.ZipFile(buf, "w") as archive, archive.open(info, "w") as member:
        if not masked.isascii():
            member.write(codecs.BOM_UTF8)
        for start in range(0, len(masked), _FULL_TEXT_CHUNK_CHARS):
            member.write(masked[start : start + _FULL_TEXT_CHUNK_CHARS].encode("utf-8", "replace"))
    data = buf.getvalue()
    attachment = Attachment(filename=f"{FULL_TEXT_NAME}.zip", content_type="application/zip", size=len(data),
                            content=data if len(data) <= max_bytes else None)
    return attachment, info.file_size


def cut_marker(text_bytes: int, attachment: Attachment) -> str:
    """The Indonesian line that ends a cut text: what happened and where the rest is."""
    where = (f"Teks lengkapnya ada di lampiran {attachment.filename}." if attachment.content is not None
             else "Teks lengkapnya terlalu besar untuk dilampirkan; lihat e-mail aslinya di kotak surat helpdesk.")
    return f"[Teks e-mail ini terlalu panjang ({_size_text(text_bytes)}) sehingga dipotong di sini. {where}]"


def _attachment(part: Message, ctype: str, index: int, max_bytes: int, defects: list[str]) -> Attachment:
    data = _message_part_bytes(part, defects) if ctype.startswith("message/") else _part_bytes(part)
    try:
        has_cid = part.get("content-id") is not None
    except Exception:
        has_cid = False
    return Attachment(
        filename=sanitize_filename(_filename(part, defects), ctype, index),
        content_type=ctype,
        size=len(data),
        content=data if len(data) <= max_bytes else None,
        inline=_disposition(part) == "inline" or has_cid,
    )

def parse_message(raw: bytes, defects: list[str]) -> tuple[Message, bool]:
    """(message, body_usable). The stdlib parser recurses once per MIME level; it is fed by
    :func:`~mailbot.core.parse.feeding.feed` (pieces of the mail, long base64 runs folded)."""
    try:
        return feed(raw, _PARSE_POLICY), True
    except RecursionError:
        add_defect(defects, "MIME structure too deeply nested to parse; body not extracted")
        return BytesParser(policy=_PARSE_POLICY).parsebytes(raw, headersonly=True), False
