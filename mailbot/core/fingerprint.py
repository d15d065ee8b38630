"""When are two deliveries the same mail? A digest of the mail as its author wrote it.

Pure. A Message-ID alone is no proof: scanners, broken mail merges and attackers reuse them,
and a second, different mail with a known Message-ID must not be dropped as a duplicate. The
same mail fetched twice (a crash before the move), or delivered twice (Cc to two aliases of the
helpdesk), differs only in the trace headers servers add on the way; those are left out, so
such copies still have one digest.
"""

from __future__ import annotations

import hashlib
import re

#: Header fields that servers add or rewrite in transit (RFC 5321 trace fields and their
#: de-facto relatives); everything else is the author's.
TRACE_FIELDS = frozenset({
    b"received", b"return-path", b"delivered-to", b"x-original-to", b"authentication-results",
    b"arc-seal", b"arc-message-signature", b"arc-authentication-results", b"received-spf",
    b"x-spam-status", b"x-spam-score", b"x-spam-level", b"x-spam-flag", b"x-spam-checker-version",
    b"x-virus-scanned", b"x-envelope-from", b"x-envelope-to", b"x-original-authentication-results",
})

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE = re.compile(rb"\r?\n")
_LONE_CR = re.compile(rb"\r(?!\n)")


def content_digest(raw: bytes) -> str:
    """SHA-256 (hex) of ``raw`` without its trace header fields, line endings normalised.

    What is hashed: each kept header line followed by LF, an LF, and the body with each CRLF
    made LF. A body without a lone CR (nearly every mail: all CRLF, or all LF) drops its CRs
    with ``translate``, four times faster than ``replace`` (a test compares both).
    """
    end = _HEADER_END.search(raw)
    head, body = (raw[:end.start()], raw[end.end():]) if end else (raw, b"")
    kept: list[bytes] = []
    skipping = False
    for line in _LINE.split(head):
        if line[:1] in (b" ", b"\t"):  # a continuation of the field above
            if not skipping:
                kept.append(line)
            continue
        name = line.partition(b":")[0].strip().lower()
        skipping = name in TRACE_FIELDS
        if not skipping:
            kept.append(line)
    kept.extend((b"", b""))
    digest = hashlib.sha256(b"\n".join(kept))
    digest.update(body.translate(None, b"\r") if _LONE_CR.search(body) is None else body.replace(b"\r\n", b"\n"))
    return digest.hexdigest()
