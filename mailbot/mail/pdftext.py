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
from collections.abc import Sequence
from dataclasses import replace

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

    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):  # an owner password alone still opens
            log.info("attachment %s: encrypted PDF, its text not read", name or "(no name)")
            return ""
        parts: list[str] = []
        size = 0
        for page in reader.pages[:MAX_PAGES]:
            text = page.extract_text() or ""
            parts.append(text)
            size += len(text)
            if size >= MAX_FILE_TEXT_CHARS:
                break
        return "\n".join(parts)[:MAX_FILE_TEXT_CHARS]
    except Exception as exc:  # anything in a user's file: no text, the mail carries on
        log.info("attachment %s: PDF text not read: %s: %s", name or "(no name)", type(exc).__name__,
                 str(exc)[:200])
        return ""


def with_pdf_text(attachments: Sequence[Attachment]) -> tuple[Attachment, ...]:
    """``attachments`` with the text of each readable PDF filled in (the others as they are)."""
    return tuple(replace(a, text=pdf_text(a.content, a.filename))
                 if a.content is not None and not a.text and is_pdf(a) else a for a in attachments)


def has_pdf(attachments: Sequence[Attachment]) -> bool:
    return any(a.content is not None and is_pdf(a) for a in attachments)
