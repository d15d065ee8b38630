"""Attachment names safe to store and to offer for download (:func:`sanitize_filename`).

A sender chooses the name of an attachment: it may be a path, carry control or bidi-override
characters, be a Windows device name, or be missing. The name kept is none of these.
"""

from __future__ import annotations

import re
import unicodedata

from mailbot.core.parse.decoding import WS_RE

# Long enough for any real name; the extension is kept when the stem is cut.
MAX_FILENAME_CHARS = 150

# A fixed table instead of the mimetypes module: mimetypes reads system files (I/O, and
# results that differ between machines).
_EXTENSIONS: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/pjpeg": "jpg",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/webp": "webp",
    "image/tiff": "tif",
    "image/heic": "heic",
    "image/svg+xml": "svg",
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/x-rar-compressed": "rar",
    "application/vnd.rar": "rar",
    "application/x-7z-compressed": "7z",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/ms-tnef": "dat",
    "application/vnd.ms-tnef": "dat",
    "application/json": "json",
    "application/xml": "xml",
    "text/plain": "txt",
    "text/html": "html",
    "text/csv": "csv",
    "text/xml": "xml",
    "text/calendar": "ics",
    "text/rfc822-headers": "txt",
    "message/rfc822": "eml",
    "message/delivery-status": "txt",
    "message/disposition-notification": "txt",
    "audio/mpeg": "mp3",
    "video/mp4": "mp4",
}
_FILENAME_FORBIDDEN_RE = re.compile(r'[<>:"|?*]')
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))}
)


def _extension_for(content_type: str) -> str:
    return _EXTENSIONS.get(content_type.strip().lower(), "bin")


def sanitize_filename(name: str | None, content_type: str, index: int) -> str:
    """A filename safe to store and to offer for download; never a path.

    Keeps only the last path component (``/`` and ``\\`` both count), removes control,
    format (bidi override) and unassigned characters, replaces characters Windows refuses,
    strips leading/trailing dots and spaces (no ``..``, no hidden files), defuses Windows
    device names and caps the length at 150 characters keeping the extension. When
    nothing usable is left: ``attachment-<index>.<ext>``, ``ext`` from ``content_type``.
    """
    cleaned = ""
    if name:
        text = str(name).encode("utf-8", "replace").decode("utf-8", "replace")  # lone surrogates
        text = unicodedata.normalize("NFC", text)
        text = text.replace("\\", "/").rsplit("/", 1)[-1]
        text = WS_RE.sub(" ", text)
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
        text = _FILENAME_FORBIDDEN_RE.sub("_", text)
        text = WS_RE.sub(" ", text).strip(". ")
        if text:
            stem, dot, ext = text.rpartition(".")
            if not dot or len(ext) > 16:
                stem, ext = text, ""
            if stem.split(".", 1)[0].strip().upper() in _WINDOWS_RESERVED:
                stem = "_" + stem
            room = MAX_FILENAME_CHARS - (len(ext) + 1 if ext else 0)
            stem = stem[:room].rstrip(". ")
            cleaned = f"{stem}.{ext}" if ext and stem else stem
    if not cleaned:
        cleaned = f"attachment-{index}.{_extension_for(content_type)}"
    return cleaned
