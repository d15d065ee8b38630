"""Raw inbound mail bytes -> :class:`~mailbot.core.domain.InboundMail`.

This package is part of the pure core: it imports only the standard library, ``nh3``,
``mail-parser-reply`` and the password masking of :mod:`mailbot.core.rules`, performs no I/O and
never reads the clock.

Everything in a mail is untrusted input written by an unknown sender (or an unknown
mailer), so the parser is built to degrade instead of failing: a header that cannot be
decoded is decoded with replacement characters, a charset nobody knows is guessed, a
broken MIME tree is walked as far as it goes. Every such fallback leaves a short note in
``InboundMail.defects`` so staff can see why a mail looks odd.

The text kept of a mail is capped (:data:`DEFAULT_MAX_TEXT_CHARS`): a longer body is cut, ends
with an Indonesian line saying so, and its full text travels as the attachment
``pesan-lengkap.zip`` (holding ``pesan-lengkap.txt``), so everything after the parse (rules,
storage, notifications) works on a bounded text.

Public API:

* :func:`parse_mail` - the whole mail.
* :func:`extract_new_text` - the new part of a reply (quoted history, attribution lines,
  Outlook header blocks and signatures removed).
* :func:`html_to_text` - readable text from an HTML body.
* :func:`sanitize_html` - HTML safe to show to staff (nh3 allow-list).
* :func:`sanitize_filename` - attachment names safe to store and offer for download.

The modules, bottom to top (each imports only modules listed before it, so the package has no
import cycle):

* :mod:`~mailbot.core.parse.decoding` - bytes and header values to text (charsets, RFC 2047),
  the defect list.
* :mod:`~mailbot.core.parse.headers` - addresses, Message-ID and threading ids, date, hops.
* :mod:`~mailbot.core.parse.feeding` - the bytes into the stdlib's parser (long base64 runs folded).
* :mod:`~mailbot.core.parse.filenames` - safe attachment names.
* :mod:`~mailbot.core.parse.disposition` - a part's Content-Disposition read from its plain text.
* :mod:`~mailbot.core.parse.html` - HTML to text, nh3 sanitising.
* :mod:`~mailbot.core.parse.reply` - the new text of a reply (quoted history, signatures).
* :mod:`~mailbot.core.parse.mime` - the MIME walk, bodies, attachments, the size caps.
* this ``__init__`` - :func:`parse_mail`, and the public names of the modules above.
"""

from __future__ import annotations

import re

from mailbot.core.domain import InboundMail
from mailbot.core.parse.decoding import MAX_DEFECTS, add_defect, header_text, one_line
from mailbot.core.parse.filenames import MAX_FILENAME_CHARS, sanitize_filename
from mailbot.core.parse.headers import (
    MAX_ADDR_CHARS,
    MAX_ADDRESSES,
    MAX_AUTH_RESULTS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_RAW_HEADER_CHARS,
    MAX_SUBJECT_CHARS,
    MAX_THREAD_IDS,
    Headers,
    addresses,
    hops,
    message_id_of,
    parse_date,
    parse_ids,
    raw_one_line,
    sender_and_pairs,
    several_senders,
    substitute_message_id,
)
from mailbot.core.parse.html import html_to_text, sanitize_html
from mailbot.core.parse.mime import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_MAX_TEXT_CHARS,
    FULL_TEXT_NAME,
    MAX_MIME_DEPTH,
    MAX_PARTS,
    Body,
    content_type,
    cut,
    cut_marker,
    defect_names,
    extract,
    full_text_attachment,
    is_container,
    parse_message,
    repair_boundary,
)
from mailbot.core.parse.reply import extract_new_text, forwarded_text, own_signature
from mailbot.core.spam import MAX_SPAM_FIELDS, SPAM_FIELDS

# The functions, and the limits other modules and the tests read (mailbot.core.auth keeps
# Authentication-Results to MAX_RAW_HEADER_CHARS as this package does).
__all__ = [
    "DEFAULT_MAX_ATTACHMENT_BYTES",
    "DEFAULT_MAX_TEXT_CHARS",
    "FULL_TEXT_NAME",
    "MAX_ADDRESSES",
    "MAX_ADDR_CHARS",
    "MAX_AUTH_RESULTS",
    "MAX_DEFECTS",
    "MAX_FILENAME_CHARS",
    "MAX_ID_CHARS",
    "MAX_MIME_DEPTH",
    "MAX_NAME_CHARS",
    "MAX_PARTS",
    "MAX_RAW_HEADER_CHARS",
    "MAX_SUBJECT_CHARS",
    "MAX_THREAD_IDS",
    "extract_new_text",
    "html_to_text",
    "parse_mail",
    "sanitize_filename",
    "sanitize_html",
    "substitute_message_id",
]

_FORWARD_SUBJECT_RE = re.compile(r"^\s*(?:fwd?|fw|tr|wg|terusan|diteruskan)\s*:", re.IGNORECASE)


def parse_mail(
    raw: bytes,
    *,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> InboundMail:
    """Parse the raw bytes of one mail (as fetched by IMAP) into an :class:`InboundMail`.

    Contract:

    * Accepts any ``bytes`` (also ``bytearray``/``memoryview``) and does not raise for any
      content: undecodable headers, unknown charsets, broken or absurdly deep MIME trees and
      malformed dates all degrade to a best-effort value plus an entry in ``defects``. The
      only exceptions left are the impossible ones (``MemoryError``, a non-bytes argument:
      ``TypeError``). The caller still quarantines a mail on any exception.
    * Deterministic: the same bytes always give an equal result (a missing Message-ID is
      replaced by ``"mailbot-sha256-<first 32 hex of sha256(raw)>@missing"``, so dedupe by
      Message-ID works for such mails too).
    * ``text`` holds the body text (text/plain, else derived from HTML) followed by the text
      of forwarded ``message/rfc822`` attachments; ``new_text`` is the same with quoted
      history and signatures removed (see :func:`extract_new_text`).
    * Attachments keep their decoded ``size``; ``content`` is ``None`` when the size is over
      ``max_attachment_bytes``. Filenames are sanitised (:func:`sanitize_filename`).
    * Header-derived values are single lines, capped to the database column sizes.
    * ``text`` and ``new_text`` hold at most ``max_text_chars`` characters of the body (and
      ``html`` at most that many of the HTML). A longer body is cut at a line break, both end
      with one Indonesian line saying so, and the full text (passwords masked) is added to the
      attachments as ``pesan-lengkap.zip`` (holding ``pesan-lengkap.txt``), its content subject
      to ``max_attachment_bytes`` like any attachment. Time and memory stay
      linear in the size of the mail.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_mail() needs bytes, not {type(raw).__name__}")
    data = bytes(raw)
    defects: list[str] = []
    msg, body_usable = parse_message(data, defects)
    headers = Headers(msg)

    message_id = message_id_of(headers, data, defects)
    from_name, from_addr, from_pairs = sender_and_pairs(headers, defects)
    from_ambiguous = several_senders(headers, defects, from_pairs)
    subject_raw = headers.first("subject")
    subject = "" if subject_raw is None else one_line(header_text(subject_raw, "Subject", defects), MAX_SUBJECT_CHARS)

    body = Body()
    root_type = content_type(msg)  # the headers are not changed below
    if not body_usable:
        for name in defect_names(msg):
            add_defect(defects, name)
    else:
        root = msg
        if root_type.startswith("multipart/") and not is_container(msg):
            root = repair_boundary(msg, defects) or msg
            for name in defect_names(msg):  # the repaired copy has lost the original ones
                add_defect(defects, name)
        try:
            body = extract(root, 0, defects, max_attachment_bytes, collect_attachments=True,
                           max_text_chars=max_text_chars)
        except RecursionError:
            # Defensive: the walk is iterative and depth-capped, but get_body() and the
            # generator are recursive stdlib code.
            add_defect(defects, "MIME structure too deeply nested; body not extracted")

    text, new_text, html = body.text, body.new_text, body.html
    attachments = body.attachments
    if len(text) > max_text_chars:
        full_text, full_bytes = full_text_attachment(text, max_attachment_bytes)
        marker = cut_marker(full_bytes, full_text)
        add_defect(defects, f"body text of {len(text)} characters cut to {max_text_chars}; "
                            f"the full text is the attachment {full_text.filename}")
        text = cut(text, max_text_chars) + "\n\n" + marker
        # The marker also ends the new text: whatever staff read, the mail was longer.
        new_text = cut(new_text, max_text_chars) + "\n\n" + marker
        attachments = [*attachments, full_text]
    elif len(new_text) > max_text_chars:  # many forwarded mails, each under the cap
        new_text = cut(new_text, max_text_chars)
    if html is not None and len(html) > max_text_chars:
        html = html[:max_text_chars]  # never relayed; the text above is what the mail says
    if not new_text and text and _FORWARD_SUBJECT_RE.match(subject):
        # A forward with no comment: the forwarded mail *is* the new content.
        new_text = text
    elif new_text and _FORWARD_SUBJECT_RE.match(subject):
        # A forward with a comment ("mohon bantuan untuk masalah di bawah ini"): the forwarded
        # mail below it is the problem, even where the client wrote it like reply history.
        forwarded = forwarded_text(text)
        if forwarded and forwarded not in new_text:
            new_text = new_text + "\n\n" + forwarded

    delivered: dict[str, None] = {}
    for name in ("delivered-to", "x-original-to"):
        for addr in addresses(headers.all(name), name, defects):
            delivered.setdefault(addr, None)

    return InboundMail(
        message_id=message_id,
        from_addr=from_addr,
        from_name=from_name,
        to=addresses(headers.all("to"), "To", defects),
        cc=addresses(headers.all("cc"), "Cc", defects),
        subject=subject,
        date=parse_date(headers.first("date"), defects),
        in_reply_to=parse_ids(headers.all("in-reply-to"), "In-Reply-To", defects),
        references=parse_ids(headers.all("references"), "References", defects),
        text=text,
        html=html,
        new_text=new_text,
        attachments=tuple(attachments),
        signature=own_signature(text),
        auto_submitted=raw_one_line(headers.first("auto-submitted"), "Auto-Submitted", defects),
        precedence=raw_one_line(headers.first("precedence"), "Precedence", defects),
        list_id=raw_one_line(headers.first("list-id"), "List-Id", defects),
        list_headers=tuple(name for name in headers.names() if name.startswith("list-"))[:20],
        x_auto_response_suppress=raw_one_line(
            headers.first("x-auto-response-suppress"), "X-Auto-Response-Suppress", defects
        ),
        x_autoreply=raw_one_line(headers.first("x-autoreply") or headers.first("x-autorespond"),
                                 "X-Autoreply", defects),
        x_mailbot_hops=hops(headers.all("x-mailbot-hops"), defects),
        x_mailbot_ticket=raw_one_line(headers.first("x-mailbot-ticket"), "X-Mailbot-Ticket", defects, 200),
        authentication_results=tuple(
            raw_one_line(v, "Authentication-Results", defects)
            for v in headers.all("authentication-results")[:MAX_AUTH_RESULTS]
        ),
        spam_headers=tuple(f"{name}: {raw_one_line(value, name, defects, 300)}" for name in SPAM_FIELDS
                           for value in headers.all(name)[:MAX_SPAM_FIELDS]),
        delivered_to=tuple(delivered),
        content_type=root_type,
        return_path=raw_one_line(headers.first("return-path"), "Return-Path", defects, MAX_ADDR_CHARS + 2),
        size=len(data),
        defects=tuple(dict.fromkeys(defects))[:MAX_DEFECTS],
        from_ambiguous=from_ambiguous,
    )
