"""FaceX Video: generalist face editing in video (FORD decomposition, FORS steering) on Ray."""

__version__ = "0.1.0"

from .core.allocator import few_arenas

few_arenas()  # now, before our threads first allocate: glibc fixes the number of heaps then (core/allocator.py)
