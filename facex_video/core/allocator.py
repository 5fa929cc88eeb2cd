"""glibc's allocator told to keep freed memory for reuse in a process that renders frames.

Every frame allocates and frees dozens of crop-sized float arrays (3 MB each). glibc serves blocks of that
size with mmap (or returns the freed top of its heap to the system), so each fresh array is page-faulted in
again: a 4 s 720p swap took 600-700k minor faults. With the thresholds raised, freed blocks are reused:
125k faults, 17.8 -> 16.4 s inline, peak resident memory 648 -> 714 MiB (still bounded by the largest frame's
working set, not the clip's length). No environment variable would reach Ray's workers or a library user's
process, hence mallopt, called once by each process that renders (video/shards.ShardWorker)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's malloc.h
MMAP_THRESHOLD = 256 << 20  # bytes: blocks smaller than this come from the heap, where freed ones are reused
TRIM_THRESHOLD = 1 << 30  # bytes of free heap top kept before any is given back
TOP_PAD = 64 << 20  # bytes the heap grows by at a time


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds in this process, once; False where the C library is not glibc
    (musl, macOS: nothing to do)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        return False
    if mallopt is None:
        return False
    return all(mallopt(option, value) == 1 for option, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD)))
