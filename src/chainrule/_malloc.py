"""Let the C allocator keep freed memory for the next array, as PyTorch's CPU allocator does for tensors.

glibc's malloc serves every block above its mmap threshold (128 KiB until a large block is freed) with
fresh pages from the kernel and hands them back on free. A training step allocates and frees the same
large arrays every time, so each one costs a page fault per 4 KiB page (about 0.1-2 us each, more than
the arithmetic of a small conv layer). When chainrule is imported on Linux with glibc it raises the mmap
threshold to 32 MiB and the trim threshold to 256 MiB, so blocks below 32 MiB come from the heap and
freed memory stays mapped for reuse (benchmarks/bench_conv.py's ConvNet step at batch 64: 26.9 against
36.3 ms of CPU, medians of interleaved pinned runs). The process's peak memory is unchanged; up to
256 MiB that a run freed stays with it.

Left alone when ``CHAINRULE_MALLOC=default`` is set, when the process set glibc's own
``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``, or where there is no glibc ``mallopt``.
"""
from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD = 32 << 20                        # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 256 << 20

tuned = False   # whether tune() changed the allocator in this process


def tune() -> bool:
    """Raise glibc's mmap and trim thresholds once (see the module docstring); True if they were set."""
    global tuned
    if tuned or not sys.platform.startswith("linux") or os.environ.get("CHAINRULE_MALLOC") == "default":
        return tuned
    if any(v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False   # the user tuned glibc already
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):   # musl or another libc: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return tuned
