"""Where the data items of a mail are looked for: its text, the sender's signature, its files' text.

PURE. The problem is read from the mail's own words only (``rules.classify``); the data a helpdesk
asks for (``[[items]]``: a tender code, an NPWP, a company name) may also stand in the sender's
signature ("User ID: TIRTAKENCANA") or in a file the sender attached: a letter, a "Bukti
Pendaftaran" or a tender's announcement printed to PDF. Asking a user again for data they already
sent in a PDF is what this saves. The mail layer reads the text of such files
(``mail.pdftext``) into ``Attachment.text``; here it is appended, bounded and with passwords masked,
to the text the items are searched in, and never to the text categories are scored on: a tender
document names every topic there is.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailbot.core.domain import Attachment
from mailbot.core.passwords import mask_passwords

#: A signature is a few short lines (see ``parse.reply.own_signature``).
MAX_SIGNATURE_CHARS = 1000
#: The files' text read for items, all files together: the first pages of a letter or a form, where
#: such data stands; a 300-page tender document is not searched whole for one mail.
MAX_FILE_TEXT_CHARS = 20_000


def bounded(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, cut at a space near the end when there is one
    (so a password, a phone number or a code is not cut in two)."""
    if len(text) <= limit:
        return text
    space = max(text.rfind(" ", limit - 256, limit + 1), text.rfind("\n", limit - 256, limit + 1))
    return text[: space if space > 0 else limit]


def has_more(signature: str, attachments: Sequence[Attachment]) -> bool:
    """Whether anything besides the mail's text is to be searched for items."""
    return bool(signature.strip()) or any(a.text for a in attachments)


def items_text(text: str, signature: str = "", attachments: Sequence[Attachment] = ()) -> str:
    """``text``, then the signature, then the text of each file that has one (``[berkas NAME]`` before
    it, so an explanation's excerpt shows where it was found)."""
    parts = [text]
    if signature.strip():
        parts.append(mask_passwords(bounded(signature, MAX_SIGNATURE_CHARS))[0])
    left = MAX_FILE_TEXT_CHARS
    for attachment in attachments:
        if not attachment.text:
            continue
        piece = bounded(attachment.text, left)
        parts.append(f"[berkas {attachment.filename or 'tanpa nama'}]\n" + mask_passwords(piece)[0])
        left -= len(piece)
        if len(piece) < len(attachment.text):
            break  # the budget is spent: the files after this one are not read
    return "\n".join(parts)
