"""glibc tuning for the long jobs: with the mmap threshold pinned, large buffers keep their own
mappings (given back when freed) after a larger one was freed, where glibc would otherwise move
them onto the heap; the operator's own environment settings win."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mailbot.ops import heap

# Counts glibc's mmapped blocks (mallinfo2's hblks) around three 300 KiB buffers made after a
# 4 MiB buffer was freed.
PROBE = textwrap.dedent("""
    import ctypes, sys
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                    "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = Info
    if sys.argv[1] == "pinned":
        from mailbot.ops import heap
        assert heap.tune() == ["MALLOC_MMAP_THRESHOLD=131072", "MALLOC_ARENA_MAX=1"]
    big = bytearray(4 << 20)
    del big
    before = libc.mallinfo2().hblks
    buffers = [bytearray(300 << 10) for _ in range(3)]
    print(libc.mallinfo2().hblks - before)
""")

needs_glibc = pytest.mark.skipif(not heap.is_glibc(), reason="the threshold is a glibc setting; elsewhere a no-op")


def _mapped_blocks(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, env=env)
    return int(out.stdout.strip())


@needs_glibc
def test_pinned_threshold_keeps_large_buffers_mapped() -> None:
    assert _mapped_blocks("default") == 0  # glibc raised its threshold to 4 MiB: all on the heap
    assert _mapped_blocks("pinned") == 3


@needs_glibc
def test_an_operator_setting_wins() -> None:
    probe = "from mailbot.ops import heap; print(heap.tune())"
    env = {"PATH": "/usr/bin:/bin", "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_ARENA_MAX": "4"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
