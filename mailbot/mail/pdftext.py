"""The text of PDF files users attach, for the data items a helpdesk asks for (pypdf).

A vendor often sends the data in a file rather than in the mail: the company's letter, SPSE's
"Bukti Pendaftaran", a tender announcement printed to PDF. ``core.item_sources`` searches that
text for the ``[[items]]`` (never for the category). Only what a text layer holds is read: a scan
is an image and gives nothing (no OCR).

Every file is untrusted input. The reading is bounded (the first pages, the first characters, files
up to a size) and anything pypdf cannot read, an encrypted file included, gives an empty text and
one log line, never an error for the mail. A file that does not look like a PDF at all (no
``%PDF-`` header at the start, no ``%%EOF`` near the end) is not handed to pypdf: its repair mode
would scan the whole file for objects first.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mailbot.core.domain import Attachment
from mailbot.core.item_sources import MAX_FILE_TEXT_CHARS

log = logging.getLogger(__name__)
# pypdf warns about every oddity of a file it still reads (a wrong xref offset, a missing /Length);
# the files are the users', nobody can act on those lines: only errors of pypdf's own reach the log.
logging.getLogger("pypdf").setLevel(logging.ERROR)

#: The first pages are read: a letter's or a form's data stands there.
MAX_PAGES = 5
#: Larger files are not read (a whole tender document, a scan).
MAX_PDF_BYTES = 8 * 1024 * 1024
#: The drawing instructions read, all pages together (decompressed page contents and the forms they
#: draw). pypdf interprets them at some 13 microseconds a byte (measured: 8 MB of text operators,
#: 30 KB compressed, took 99 s): this bounds one file to about 2.5 s of CPU, well inside the mail's
#: ``storage.max_processing_seconds``. A typed letter's page holds 2-30 KB.
MAX_CONTENT_BYTES = 192 * 1024
#: How deep forms drawn inside forms are followed when their size is counted.
_MAX_FORM_DEPTH = 4
#: CPU seconds one file's reading may take: a page that draws one form a thousand times takes pypdf
#: 48 s with few bytes (measured); the pages read by then are kept.
MAX_SECONDS = 2.0
#: PDFs read per mail (in the order attached): a letter and its enclosures.
MAX_FILES = 3


def is_pdf(attachment: Attachment) -> bool:
    return attachment.content_type == "application/pdf" or attachment.filename.lower().endswith(".pdf")


def looks_like_pdf(content: bytes) -> bool:
    """A PDF header at the start and an end-of-file marker near the end (PDF 1.7, 7.5.2 and 7.5.5;
    a little junk either side is tolerated, as readers do)."""
    return b"%PDF-" in content[:1024] and b"%%EOF" in content[-4096:]


def pdf_text(content: bytes, name: str = "") -> str:
    """The text of the first pages of a PDF, or "" when it has none or cannot be read."""
    if len(content) > MAX_PDF_BYTES or not looks_like_pdf(content):
        return ""
    from pypdf import PdfReader  # imported at the first PDF: most mail has none

    what = name or "(no name)"
    parts: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):  # an owner password alone still opens
            log.info("attachment %s: encrypted PDF, its text not read", what)
            return ""
        watch = _Watch(time.thread_time() + MAX_SECONDS)
        size, budget = 0, MAX_CONTENT_BYTES
        for page in reader.pages[:MAX_PAGES]:
            budget -= _content_bytes(page)
            if budget < 0:
                log.info("attachment %s: PDF read up to page %d (its drawing instructions exceed %d KB)",
                         what, len(parts), MAX_CONTENT_BYTES // 1024)
                break
            text = page.extract_text(visitor_operand_before=watch) or ""
            parts.append(text)
            size += len(text)
            if size >= MAX_FILE_TEXT_CHARS:
                break
    except _OutOfTime:
        log.info("attachment %s: PDF read up to page %d (%g s of CPU spent)", what, len(parts), MAX_SECONDS)
    except Exception as exc:  # anything in a user's file: no text, the mail carries on
        log.info("attachment %s: PDF text not read: %s: %s", what, type(exc).__name__, str(exc)[:200])
        return ""
    return "\n".join(parts)[:MAX_FILE_TEXT_CHARS]


class _OutOfTime(Exception):
    """The file's reading time is spent."""


class _Watch:
    """pypdf's hook before every drawing instruction, forms' included: stops the reading when the
    thread's CPU time passes ``deadline`` (a form drawn a thousand times costs no more bytes)."""

    __slots__ = ("deadline",)

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, operator: Any, operands: Any, cm: Any, tm: Any) -> None:
        if time.thread_time() > self.deadline:
            raise _OutOfTime


def _content_bytes(page: Any) -> int:
    """The decompressed size of what reading ``page``'s text interprets: its contents and the forms
    (Form XObjects) it draws, forms within forms included. Images are not read for text."""
    contents = page.get_contents()
    size = len(contents.get_data()) if contents is not None else 0
    return size + _forms_bytes(page.get("/Resources"), 0)


def _forms_bytes(resources: Any, depth: int) -> int:
    if resources is None or depth >= _MAX_FORM_DEPTH:
        return 0
    xobjects = resources.get_object().get("/XObject")
    if xobjects is None:
        return 0
    size = 0
    for ref in xobjects.get_object().values():
        xobject = ref.get_object()
        if xobject.get("/Subtype") == "/Form":
            size += len(xobject.get_data()) + _forms_bytes(xobject.get("/Resources"), depth + 1)
        if size > MAX_CONTENT_BYTES:
            break  # over the budget already: no need to decompress the rest
    return size


def with_pdf_text(attachments: Sequence[Attachment]) -> tuple[Attachment, ...]:
    """``attachments`` with the text of the first :data:`MAX_FILES` PDFs filled in (the others as
    they are): one mail's files take at most ``MAX_FILES * MAX_SECONDS`` of CPU."""
    out: list[Attachment] = []
    read = 0
    for attachment in attachments:
        if attachment.content is not None and not attachment.text and is_pdf(attachment) and read < MAX_FILES:
            read += 1
            attachment = replace(attachment, text=pdf_text(attachment.content, attachment.filename))
        out.append(attachment)
    return tuple(out)
