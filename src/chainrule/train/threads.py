"""How many BLAS threads a command uses: decided here, once, for every command.

The count comes from ``--threads N``, else the environment variable ``CHAINRULE_NUM_THREADS``,
else :data:`DEFAULT`. It is applied with threadpoolctl (to NumPy's OpenBLAS or MKL, after they
are loaded) and written into the BLAS variables of the environment, so that child processes
(MPI ranks, sweep workers) start with the same limit unless they are told otherwise.

Why one thread by default: ``python benchmarks/bench_threads.py`` on a 2-core machine that is
running other work shows a second BLAS thread making a CIFAR-10 training step many times slower
(its threads wait for a busy core), while on an idle machine it gains at most a factor of about
1.3-1.7, and only for wide layers and large batches. README lists the figures.
"""
from __future__ import annotations

import os

from chainrule._settings import blas_threads, set_num_threads

ENV = "CHAINRULE_NUM_THREADS"
DEFAULT = 1
BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS")


def choose(flag: int | None = None, environ=None) -> int:
    """The thread count: ``flag`` if given, else ``$CHAINRULE_NUM_THREADS``, else DEFAULT; a count
    that is not a positive integer is a ValueError naming where it came from."""
    if flag is not None:
        if isinstance(flag, bool) or not isinstance(flag, int) or flag < 1:
            raise ValueError(f"--threads must be a positive integer, got {flag!r}")
        return flag
    text = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not text:
        return DEFAULT
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{ENV}={text!r}: must be a positive integer (the number of BLAS threads)")
    return n


def use(n: int) -> int:
    """Limit BLAS (and OpenMP) to ``n`` threads in this process and in the processes it starts."""
    for v in BLAS_VARS:
        os.environ[v] = str(n)
    os.environ[ENV] = str(n)
    set_num_threads(n)   # the libraries already loaded; the limit stays for the process's life
    return n


current = blas_threads  # the BLAS thread count in force (None if no BLAS library is loaded)
