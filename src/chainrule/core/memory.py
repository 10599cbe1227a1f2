"""Keep freed memory for the next step: glibc's allocator tuned for a training loop.

Every step allocates and frees the same large arrays (activations, gradients, columns). With
glibc's defaults the heap gives its free top back to the system as soon as it passes twice the
largest array freed so far, and the next step takes it back page by page: a page fault per 4 KB
touched, about as costly as the arithmetic of a small network's whole step. Raising the trim
threshold (and letting arrays up to 32 MB come from the heap rather than from fresh mappings)
keeps those pages mapped from one step to the next. The cost: up to ``trim`` bytes of freed memory
stay with the process. Set ``CHAINRULE_KEEP_FREED_MEMORY=0`` before the import to leave malloc alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(trim: int = 256 << 20, mmap: int = 32 << 20) -> bool:
    """Tell glibc's malloc to keep up to ``trim`` bytes of freed heap and to serve arrays up to ``mmap``
    bytes (its maximum) from the heap. Returns False where there is no glibc (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap)) and bool(mallopt(_M_TRIM_THRESHOLD, trim))


def tune_on_import() -> bool:
    """keep_freed_memory() unless CHAINRULE_KEEP_FREED_MEMORY is 0."""
    if os.environ.get("CHAINRULE_KEEP_FREED_MEMORY", "1") == "0":
        return False
    return keep_freed_memory()
