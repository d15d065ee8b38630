"""Keep the process's resident memory flat: a fixed glibc mmap threshold and one malloc arena.

glibc serves an allocation above its mmap threshold (128 KiB at start) with its own ``mmap``,
which goes back to the system when freed. But after freeing such a block it raises the
threshold to that block's size (up to 32 MiB), so later buffers of that size -- raw mails,
decoded attachments, composed replies -- come from the heap instead, and a heap fragmented by
the small objects between them does not shrink. In 1,000-mail backlogs the peak RSS was
1-3 MB lower with a fixed threshold (single runs, about 1 MB of noise). Setting the
threshold explicitly (``mallopt(M_MMAP_THRESHOLD)``) switches the adjustment off.

glibc also gives each new thread that allocates its own arena (``mallopt(M_ARENA_MAX)``). The
bot's threads (intake, sender, IDLE) run Python, which holds the GIL while it allocates, so
they hardly ever contend for one arena; separate arenas only fragment apart (about 1.5 MB).

Other C libraries (musl, macOS) are left alone, and so is a setting the operator made with
glibc's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_ARENA_MAX`` environment variables.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

#: glibc's initial threshold, kept for good.
MMAP_THRESHOLD = 128 * 1024
#: One arena for every thread.
ARENA_MAX = 1
_M_MMAP_THRESHOLD = -3  # from glibc's <malloc.h>
_M_ARENA_MAX = -8


def is_glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError, AttributeError):  # not a glibc system
        return False


def tune() -> list[str]:
    """Pin glibc's mmap threshold and arena count (before any thread starts); the settings made."""
    if not is_glibc():
        return []
    import ctypes  # only here: other commands do not pay for it

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return []
    made = []
    for env, option, value in (("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                               ("MALLOC_ARENA_MAX", _M_ARENA_MAX, ARENA_MAX)):
        if env in os.environ:
            continue
        if mallopt(option, value):
            made.append(f"{env.rstrip('_')}={value}")
        else:
            log.debug("mallopt(%s) refused", env)
    return made
