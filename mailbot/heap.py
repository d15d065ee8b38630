"""Keep the process's resident memory flat: a fixed glibc mmap threshold.

glibc serves an allocation above its mmap threshold (128 KiB at start) with its own ``mmap``,
which goes back to the system when freed. But after freeing such a block it raises the
threshold to that block's size (up to 32 MiB), so later buffers of that size -- raw mails,
decoded attachments, composed replies -- come from the heap instead, and a heap fragmented by
the small objects between them does not shrink. Over a 1,000-mail backlog that grew the
bot's RSS by about 3 MB more than a fixed threshold does (``bench/run.py``). Setting the
threshold explicitly (``mallopt(M_MMAP_THRESHOLD)``) switches the adjustment off.

Other C libraries (musl, macOS) are left alone, and so is a threshold the operator set
with glibc's own ``MALLOC_MMAP_THRESHOLD_`` environment variable.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

#: glibc's initial threshold, kept for good.
MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # from glibc's <malloc.h>


def is_glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError, AttributeError):  # not a glibc system
        return False


def fix_mmap_threshold() -> bool:
    """Pin glibc's mmap threshold; True when it was set here."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or not is_glibc():
        return False
    import ctypes  # only here: other commands do not pay for it

    try:
        done = ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):
        return False
    if not done:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused")
    return bool(done)
