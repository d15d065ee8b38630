"""Build outgoing MIME messages (text + HTML alternative, attachments, threading headers).

A rendered mail without HTML (a long text, see ``render.HTML_MAX_TEXT_CHARS``) is sent as
text/plain alone.

Pure apart from ``make_message_id`` taking randomness from ``uuid4``. Values from inbound
mail (names, subjects) only ever enter headers through ``email.headerregistry``, which
refuses CR/LF, so they cannot inject headers.
"""

from __future__ import annotations

import binascii
import re
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address

# What set_param runs: the same parameters, byte for byte.
from email.message import EmailMessage, MIMEPart, _formatparam  # type: ignore[attr-defined]
from email.utils import format_datetime

from mailbot.core import mailpolicy
from mailbot.mail.render import Rendered
from mailbot.mail.textbody import encode_text

#: Where the composing policy folds header lines (``policy.SMTP``'s ``max_line_length``).
FOLD_AT = mailpolicy.SMTP.max_line_length or 998

#: Header the bot puts on every mail it sends; seeing it inbound means a loop.
BOT_HEADER = "X-Mailbot-Ticket"
HOPS_HEADER = "X-Mailbot-Hops"


@dataclass(frozen=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    content: bytes


def make_message_id(domain: str) -> str:
    """A new globally unique Message-ID (without brackets)."""
    return f"mailbot.{uuid.uuid4().hex}@{domain}"


def _boundary() -> str:
    """A MIME boundary nobody can guess, so no part can contain it.

    Without one the generator makes its own and compiles a regex to search the whole mail for
    it: about 4 % of the CPU time per inbound mail.
    """
    return f"==mailbot-{secrets.token_hex(16)}"


#: The last Date header line composed, with the datetime it was made of: the replies one mail
#: queues share the instant (the same object), and a tuple is swapped in whole (two threads compose).
_last_date: tuple[datetime | None, bytes] = (None, b"")


def _date_line(date: datetime) -> bytes:
    """The folded ``Date`` header line of ``date`` (``format_datetime``), made once per instant."""
    global _last_date
    made, line = _last_date
    if made is not date:  # identity: an equal datetime in another zone is written differently
        line = _header_bytes("Date", format_datetime(date))
        _last_date = (date, line)
    return line


def _safe_header_text(value: str) -> str:
    return " ".join(value.replace("\x00", " ").split())


def build_message(
    rendered: Rendered,
    *,
    sender_name: str,
    sender: str,
    to: Sequence[str],
    message_id: str,
    date: datetime,
    ticket_number: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    reply_to: str | None = None,
    auto_submitted: str = "auto-replied",
    hops: int = 1,
    attachments: Sequence[OutgoingAttachment] = (),
) -> EmailMessage:
    msg = EmailMessage(policy=mailpolicy.SMTP)
    # As text (quoted by Address): the same From on every reply, so the policy parses it once.
    msg["From"] = str(Address(display_name=_safe_header_text(sender_name), addr_spec=sender))
    msg["To"] = ", ".join(to)
    msg["Subject"] = _safe_header_text(rendered.subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    refs = [r for r in references if r][-20:]  # keep headers bounded on long threads
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    if reply_to:
        msg["Reply-To"] = reply_to
    # RFC 3834: mark our mail automatic so that polite autoresponders do not answer it.
    msg["Auto-Submitted"] = auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    msg[BOT_HEADER] = ticket_number
    msg[HOPS_HEADER] = str(hops)
    if rendered.html:
        # The multipart/alternative put together directly, as ``set_content`` followed by
        # ``make_alternative`` and ``add_alternative`` leave it (the same bytes; a test compares
        # them): those move the text's headers into a new part and reparse the Content-Type to
        # set the boundary, a third of the time it takes to build a reply.
        text = MIMEPart(policy=msg.policy)
        text.set_content(rendered.text, subtype="plain", charset="utf-8")
        html = EmailMessage(policy=msg.policy)  # as add_alternative makes it (with a MIME-Version)
        html.set_content(rendered.html, subtype="html", charset="utf-8")
        msg["MIME-Version"] = "1.0"
        msg["Content-Type"] = f'multipart/alternative; boundary="{_boundary()}"'
        msg.set_payload([text, html])
    else:
        msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    if attachments:
        msg.make_mixed(boundary=_boundary())
    for att in attachments:
        maintype, _, subtype = att.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(att.content, maintype=maintype, subtype=subtype, filename=att.filename)
    return msg


def message_bytes(
    rendered: Rendered,
    *,
    sender_name: str,
    sender: str,
    to: Sequence[str],
    message_id: str,
    date: datetime,
    ticket_number: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    reply_to: str | None = None,
    auto_submitted: str = "auto-replied",
    hops: int = 1,
    attachments: Sequence[OutgoingAttachment] = (),
) -> bytes:
    """``mailpolicy.as_bytes(build_message(...))``, byte for byte, without the message object.

    A reply without attachments is a few headers and one or two text parts: the ``email``
    package's objects (``set_content``, the parameters of each Content-Type, the generator's
    clone per part) cost more than writing them. The headers still go through the composing
    policy (``header_store_parse`` refuses what ``msg[name] = value`` refuses, and folds the
    same way), the bodies through ``textbody.encode_text`` (the stdlib's ``_encode_text``: its choice
    of 7bit, 8bit, quoted-printable or base64, the same bytes) and ``base64_body`` (``_encode_base64``'s lines, in fewer calls),
    and the line ends as the generator makes them; the parts in the order and with the headers ``make_mixed`` and ``add_attachment``
    leave them. An attachment of an unusual type (``_direct``) goes through ``build_message``
    (a test compares both ways).
    """
    if not all(_direct(att) for att in attachments):
        return mailpolicy.as_bytes(build_message(
            rendered, sender_name=sender_name, sender=sender, to=to, message_id=message_id, date=date,
            ticket_number=ticket_number, in_reply_to=in_reply_to, references=references, reply_to=reply_to,
            auto_submitted=auto_submitted, hops=hops, attachments=attachments))
    policy = mailpolicy.SMTP
    out: list[bytes] = []

    def header(name: str, value: str) -> None:
        out.append(_header_bytes(name, value))

    from_key = ("From", sender_name, sender)
    folded_from = _FOLDED.get(from_key)
    if folded_from is None:  # the same on every reply of a helpdesk
        folded_from = _FOLDED[from_key] = _header_bytes(
            "From", str(Address(display_name=_safe_header_text(sender_name), addr_spec=sender)))
    out.append(folded_from)
    header("To", ", ".join(to))
    subject = _safe_header_text(rendered.subject)
    if subject.isascii() and subject.isprintable() and "=?" not in subject:
        # What the Subject's header object gives: its text is the value itself (no encoded word
        # to decode), and the composing policy folds it with ``fold_subject``.
        out.append(mailpolicy.fold_subject("Subject", subject, "\r\n", policy.utf8,
                                           policy.max_line_length or 998).encode("ascii"))
    else:
        header("Subject", subject)
    out.append(_date_line(date))
    header("Message-ID", f"<{message_id}>")
    if in_reply_to:
        header("In-Reply-To", f"<{in_reply_to}>")
    refs = [r for r in references if r][-20:]
    if refs:
        header("References", " ".join(f"<{r}>" for r in refs))
    if reply_to:
        header("Reply-To", reply_to)
    header("Auto-Submitted", auto_submitted)
    header("X-Auto-Response-Suppress", "All")
    header(BOT_HEADER, ticket_number)
    header(HOPS_HEADER, str(hops))
    if attachments:
        alternative = _boundary() if rendered.html else None  # drawn in build_message's order
        mixed = _boundary()
        header("MIME-Version", "1.0")
        out.append(f'Content-Type: multipart/mixed;\r\n boundary="{mixed}"\r\n\r\n--{mixed}\r\n'.encode("ascii"))
        # The first part: what the mail was before ``make_mixed`` (its Content-* headers moved).
        if alternative:
            out.append(f'Content-Type: multipart/alternative;\r\n boundary="{alternative}"\r\n'
                       f"\r\n--{alternative}\r\n".encode("ascii"))
            _text_part(out, header, rendered.text, "plain", mime_version=False)
            out.append(f"\r\n--{alternative}\r\n".encode("ascii"))
            _text_part(out, header, rendered.html, "html", mime_version=True)
            out.append(f"\r\n--{alternative}--\r\n".encode("ascii"))
        else:
            _text_part(out, header, rendered.text, "plain", mime_version=False)
        for att in attachments:
            out.append(f"\r\n--{mixed}\r\n".encode("ascii"))
            _attachment_part(out, att)
        out.append(f"\r\n--{mixed}--\r\n".encode("ascii"))
    elif rendered.html:
        boundary = _boundary()
        header("MIME-Version", "1.0")
        # Folded at the space before the boundary, as the header object folds it (``_boundary``'s
        # are all of one length; the test compares).
        out.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'
                   f"\r\n--{boundary}\r\n".encode("ascii"))
        _text_part(out, header, rendered.text, "plain", mime_version=False)
        out.append(b"\r\n--" + boundary.encode("ascii") + b"\r\n")
        _text_part(out, header, rendered.html, "html", mime_version=True)
        out.append(b"\r\n--" + boundary.encode("ascii") + b"--\r\n")
    else:
        _text_part(out, header, rendered.text, "plain", mime_version=True)
    return b"".join(out)


#: Folded header lines by (name, value): a reply's headers but its thread identifiers repeat (the
#: From, Auto-Submitted, the hop count, the part headers). Emptied when full.
_FOLDED: dict[tuple[str, ...], bytes] = {}
_FOLDED_MAX = 512


def _header_bytes(name: str, value: str) -> bytes:
    """``name: value`` folded as the generator writes it from ``msg[name] = value``."""
    if mailpolicy.is_plain(name, value):
        if len(name) + 2 + len(value) <= FOLD_AT:
            # Kept as text by the composing policy and written as it is when it fits a line
            # (``FoldCachingPolicy.header_store_parse``): the Date, Message-ID, To of nearly every reply.
            return f"{name}: {value}\r\n".encode("ascii")
        if name.lower() in mailpolicy.UNSTRUCTURED_PLAIN:  # a long References: new in every reply
            folded_words = mailpolicy.fold_words(name, value, "\r\n", FOLD_AT)
            if folded_words is not None:
                return folded_words.encode("ascii")
    key = (name, value)
    folded = _FOLDED.get(key)
    if folded is None:
        policy = mailpolicy.SMTP
        folded = policy.fold_binary(*policy.header_store_parse(name, value))
        if len(_FOLDED) >= _FOLDED_MAX:
            _FOLDED.clear()
        _FOLDED[key] = folded
    return folded


_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]+")


def _direct(att: OutgoingAttachment) -> bool:
    """An attachment ``_attachment_part`` writes as ``add_attachment`` does: a plain type (not a
    container, no parameters) and a file name."""
    maintype, _, subtype = att.content_type.partition("/")
    if not subtype:
        return bool(att.filename)  # sent as application/octet-stream
    return (bool(att.filename) and _TOKEN.fullmatch(maintype) is not None and _TOKEN.fullmatch(subtype) is not None
            and maintype.lower() not in {"multipart", "message"})


def _attachment_part(out: list[bytes], att: OutgoingAttachment) -> None:
    """An attachment part as ``add_attachment(content, maintype, subtype, filename=...)`` and the
    generator leave it: base64, the file name as ``set_param`` writes it, an ``EmailMessage``'s
    MIME-Version."""
    maintype, _, subtype = att.content_type.partition("/")
    if not subtype:
        maintype, subtype = "application", "octet-stream"
    out.append(_header_bytes("Content-Type", f"{maintype}/{subtype}"))
    out.append(_header_bytes("Content-Transfer-Encoding", "base64"))
    out.append(_disposition_bytes(att.filename))
    out.append(_header_bytes("MIME-Version", "1.0"))
    out.append(b"\r\n")
    out.append(base64_body(att.content, mailpolicy.SMTP.max_line_length or 78))


#: File names the composing policy writes back as they are given, quoted (``_disposition_bytes``).
_PLAIN_FILENAME = re.compile(r"[A-Za-z0-9._()+-]+(?: [A-Za-z0-9._()+-]+)*")


def _disposition_bytes(filename: str) -> bytes:
    """The attachment's Content-Disposition line as ``_header_bytes`` writes it.

    A forwarded file's name is new in nearly every mail, so ``_FOLDED`` never has it and the
    composing policy parsed the value into a header object to write it back (some 200 us): for a
    plain name (letters, digits, ``._()+-`` and single spaces between them) on a line that fits,
    that is ``Content-Disposition: attachment; filename="<name>"`` (a test compares).
    """
    value = "attachment; " + _formatparam("filename", filename, True)
    if len(value) + 21 <= FOLD_AT and _PLAIN_FILENAME.fullmatch(filename):
        return f"Content-Disposition: {value}\r\n".encode("ascii")
    return _header_bytes("Content-Disposition", value)


def base64_body(data: bytes, max_line_length: int) -> bytes:
    """``crlf_body(_encode_base64(data, max_line_length))`` (what ``add_attachment`` and the
    generator write), the same bytes, four times faster.

    The stdlib encodes ``max_line_length // 4 * 3`` bytes (57) per line, one ``b2a_base64`` call
    and one ``str`` per line: 2,600 of each for a 150 KB attachment. A multiple of 3 bytes
    encodes to whole 4-character groups without padding, so the whole buffer encoded at once and
    cut every ``max_line_length // 4 * 4`` characters (76) gives the same lines; only the last one
    can carry ``=`` padding, in both. Nothing for no bytes, as the stdlib.
    """
    encoded = binascii.b2a_base64(data, newline=False)
    if not encoded:
        return b""
    width = max_line_length // 4 * 4
    return b"\r\n".join([encoded[i:i + width] for i in range(0, len(encoded), width)]) + b"\r\n"


def _text_part(out: list[bytes], header: Callable[[str, str], None], text: str, subtype: str, *,
               mime_version: bool) -> None:
    """A text part's headers, the blank line and its body, as ``set_content(text, subtype,
    charset="utf-8")`` and the generator leave them (``mime_version``: an ``EmailMessage``'s)."""
    cte, body = encode_text(text, mailpolicy.SMTP)
    header("Content-Type", f'text/{subtype}; charset="utf-8"')
    header("Content-Transfer-Encoding", cte)
    if mime_version:
        header("MIME-Version", "1.0")
    out.append(b"\r\n")
    out.append(body)
