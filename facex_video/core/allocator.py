"""glibc's allocator told to keep freed memory for reuse in a process that renders frames, in few heaps.

Every frame allocates and frees dozens of crop-sized float arrays (3 MB each). glibc serves blocks of that
size with mmap (or returns the freed top of its heap to the system), so each fresh array is page-faulted in
again: a 4 s 720p swap took 600-700k minor faults. With the thresholds raised, freed blocks are reused:
125k faults, 17.8 -> 16.4 s inline, peak resident memory 648 -> 714 MiB (still bounded by the largest frame's
working set, not the clip's length). No environment variable would reach a library user's process, hence
mallopt, called once by each process that renders (video/shards.ShardWorker); Ray's workers also get
MALLOC_ARENA_MAX when they start (video/runner_ray.WORKER_ENV), as their heap limit is fixed before the
mallopt runs."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -2, -3, -8  # glibc's malloc.h
MMAP_THRESHOLD = 256 << 20  # bytes: blocks smaller than this come from the heap, where freed ones are reused
TRIM_THRESHOLD = 1 << 30  # bytes of free heap top kept before any is given back
TOP_PAD = 64 << 20  # bytes the heap grows by at a time
# heaps (arenas) threads allocate from: each keeps what was freed in it, so every thread that got one of its
# own (the inline runner's, each writer's encoder thread) held its own working set. glibc fixes its limit when
# a thread first needs a heap, so it is set when facex_video is imported (few_arenas), before any of ours.
# Measured, inline swap of a 480x270 clip, peak RSS of a 12 s clip against a 4 s one: one thread 543/480 MB
# (1.13x) -> 457/452 (1.01x); two threads 657 -> 559 MB on the 12 s clip; the same times
ARENA_MAX = 2


@functools.cache
def _mallopt():
    """glibc's mallopt, or None where the C library is not glibc (musl, macOS: nothing to do)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return getattr(libc, "mallopt", None)


@functools.cache
def few_arenas() -> bool:
    """At most ARENA_MAX heaps for this process's threads; False where that cannot be set."""
    mallopt = _mallopt()
    return mallopt is not None and mallopt(M_ARENA_MAX, ARENA_MAX) == 1


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds in this process, once; False where the C library is not glibc."""
    mallopt = _mallopt()
    return mallopt is not None and all(mallopt(option, value) == 1 for option, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD)))
