"""Shared set-up for the benchmark scripts: one thread everywhere, best-of timing, a table printer."""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")  # must precede the NumPy import

import time  # noqa: E402


def best_time(fn, repeat=5, min_time=0.2):
    """Best per-call time of ``fn`` in seconds over ``repeat`` rounds of at least ``min_time``."""
    return best_times(fn, repeat, min_time)[0]


def best_times(fn, repeat=5, min_time=0.2):
    """(best wall seconds, best CPU seconds) per call of ``fn``. On a loaded machine the CPU time of a
    one-thread process leaves out the time other processes held the core."""
    fn()
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t >= min_time / 4 or n >= 1 << 20:
            break
        n *= 4
    wall = cpu = float("inf")
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        wall, cpu = min(wall, (time.perf_counter() - t) / n), min(cpu, (time.process_time() - c) / n)
    return wall, cpu


def table(headers, rows):
    """A Markdown table (the README quotes it as printed)."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] +
                     [line(r) for r in rows])
