"""``mode="max-autotune"``: each large GEMM of a replay timed on the BLAS engines at hand, the fastest kept.

PyTorch's ``max-autotune`` benchmarks several implementations of a matrix product and keeps the
fastest; here the implementations are BLAS libraries, existing ones:

- ``numpy``: NumPy's own OpenBLAS (``np.dot``, and the folded update's CBLAS/SciPy call: the default
  mode's choice, always a candidate);
- ``numpy-cblas`` (the update only): NumPy's OpenBLAS through its CBLAS at every size, where the
  default mode takes SciPy's copy of OpenBLAS (outside batch 32-256, and for small W): 15% faster for
  a 100x100 W at batch 1024 here, 3 us slower a call at batch 1 (ctypes);
- ``aocl-blis``: AMD's BLIS (AOCL), where the optional ``aoclda`` package (AMD's AOCL Data Analytics,
  which ships it) is installed. On this project's AMD Zen 5 machine its kernels are 10-40% faster than
  OpenBLAS 0.3.31 for the MLP's first layer at batch 16-128 (x W^T) and from batch 128 (the folded
  D^T X update), and level or slower elsewhere: hence a measurement per shape, not a rule.

Two products are tuned, the ones that dominate an MLP step: a Linear layer's forward ``x W^T`` and
its folded weight update ``C <- beta C + alpha D^T X`` (:mod:`chainrule.compiler.update`), both with
W in nn.Linear's Fortran order. Each (shape, dtype) is timed once per process, candidates
interleaved, best of several runs, at trace time (about 20 ms a candidate, 30 ms at batch 1024);
another engine is kept only when it is at least 2% faster. The results differ from eager's within float
rounding (another library sums in another order), as the folded update's already do; the default
mode keeps NumPy's calls. Engines other than NumPy's are candidates only while NumPy's BLAS runs
one thread (the benchmarks' and an MPI rank's setting): two thread pools would compete for the
cores.
"""
from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import time

import numpy as np

from chainrule.compiler.blas import (COL_MAJOR, NO_TRANS, TRANS, bind_gemm, blas_threads, cblas_available,
                                     cblas_fits, cblas_into, gemm_into)

_GAIN = 0.98      # another engine is kept when it takes at most 98% of NumPy's time
_choices: dict = {}  # (kind, shapes, dtype) -> engine name, once per process
_updates: dict = {}  # the same key -> the update's function (None: the default's)
_UNSEEN = object()


class Blis:
    """AMD's AOCL-BLIS, loaded from the ``aoclda`` wheel's bundled libraries (its OpenMP runtime first,
    which the wheel's copy of BLIS links against), set to one thread; CBLAS with 32- or 64-bit ints."""

    name = "aocl-blis"

    def __init__(self, folder: str):
        omp = sorted(glob.glob(os.path.join(folder, "libomp*.so*")))
        blis = sorted(glob.glob(os.path.join(folder, "libblis-mt*.so*")) + glob.glob(os.path.join(folder, "libblis*.so*")))
        if not blis:
            raise OSError(f"no libblis in {folder}")
        for path in omp:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        lib = ctypes.CDLL(blis[0])
        lib.bli_thread_set_num_threads.argtypes = [ctypes.c_int64]
        lib.bli_thread_set_num_threads(1)
        lib.bli_info_get_blas_int_type_size.restype = ctypes.c_int64
        i = ctypes.c_int64 if lib.bli_info_get_blas_int_type_size() == 64 else ctypes.c_int
        self.gemm = {np.dtype(np.float32): bind_gemm(lib.cblas_sgemm, i, ctypes.c_float),
                     np.dtype(np.float64): bind_gemm(lib.cblas_dgemm, i, ctypes.c_double)}
        self.lib = lib

    def forward(self, x, w, y) -> bool:
        """y (N, out) = x (N, in) W^T for W (out, in) in Fortran order; False when the layouts differ."""
        fn = self.gemm.get(y.dtype)
        if fn is None or not (x.flags.c_contiguous and w.flags.f_contiguous and y.flags.c_contiguous) or \
                x.dtype != y.dtype or w.dtype != y.dtype:
            return False
        (n, inp), out = x.shape, y.shape[1]
        # column-major: y^T (out, N) = W (out, in) x^T (in, N)
        fn(COL_MAJOR, NO_TRANS, NO_TRANS, out, n, inp, 1.0, w.ctypes.data, max(out, 1),
           x.ctypes.data, max(inp, 1), 0.0, y.ctypes.data, max(out, 1))
        return True

    def update(self, c, alpha, x, d, d_f, beta) -> bool:
        """c (out, in, Fortran order) <- beta c + alpha D^T X; D is copied into ``d_f`` (Fortran order):
        this BLIS is up to 2x slower with D in C order."""
        fn = self.gemm.get(c.dtype)
        if fn is None or not (c.flags.f_contiguous and c.flags.writeable and x.flags.c_contiguous) or \
                x.dtype != c.dtype or d.dtype != c.dtype:
            return False
        np.copyto(d_f, d)
        n, (out, inp) = x.shape[0], c.shape
        # column-major: C (out, in) = alpha (D_f)^T X + beta C, D_f (N, out) and X^T (in, N)
        fn(COL_MAJOR, TRANS, TRANS, out, inp, n, alpha, d_f.ctypes.data, max(n, 1),
           x.ctypes.data, max(inp, 1), beta, c.ctypes.data, max(out, 1))
        return True


def _find_blis():
    spec = importlib.util.find_spec("aoclda")
    if spec is None or not spec.submodule_search_locations:
        return None
    for place in spec.submodule_search_locations:
        try:
            return Blis(os.path.join(os.path.dirname(place), "aoclda.libs"))
        except (OSError, AttributeError):  # pragma: no cover - depends on the wheel
            continue
    return None  # pragma: no cover - depends on the wheel


_BLIS = None
_LOOKED = False


def _blis():
    """AOCL-BLIS, loaded on first use (a step compiled with max-autotune), or None."""
    global _BLIS, _LOOKED
    if not _LOOKED:
        _LOOKED = True
        _BLIS = _find_blis()
    return _BLIS


def engines() -> list[str]:
    """The engines a tuned GEMM may take here and now (``numpy-cblas``: the update only)."""
    return ["numpy"] + (["numpy-cblas"] if cblas_available(np.float32) else []) + \
        (["aocl-blis"] if _blis() is not None and blas_threads() == 1 else [])


def _fastest(candidates: dict) -> str:
    """The name of the fastest of ``{name: fn}`` (NumPy's, the first, unless another is 2% faster)."""
    names = list(candidates)
    for fn in candidates.values():  # warm: first-touch of the buffers, the libraries' own set-up
        fn()
    t = time.perf_counter()
    candidates[names[0]]()
    once = time.perf_counter() - t
    reps = int(min(200, max(10, 0.02 / max(once, 1e-7))))  # about 20 ms each (30 ms at batch 1024)
    best = dict.fromkeys(names, float("inf"))
    for _ in range(reps):  # interleaved: a noisy moment slows them alike
        for name in names:
            t = time.perf_counter()
            candidates[name]()
            best[name] = min(best[name], time.perf_counter() - t)
    pick = min(names, key=best.get)
    return pick if best[pick] <= _GAIN * best[names[0]] else names[0]


def forward(x: np.ndarray, w: np.ndarray, y: np.ndarray):
    """A function ``(x, w, y)`` computing y = x W^T on the fastest engine for these arrays' shapes and
    layouts, or None when that is NumPy's ``np.dot(x, w.T, out=y)`` (the caller's own call)."""
    if "aocl-blis" not in engines() or not (x.ndim == 2 and x.flags.c_contiguous and w.flags.f_contiguous):
        return None
    key = ("forward", x.shape, w.shape, x.dtype.char)
    name = _choices.get(key)
    if name is None:
        xs, ys = x.copy(), np.empty_like(y)
        name = _choices[key] = _fastest({"numpy": lambda: np.dot(xs, w.T, out=ys),
                                         "aocl-blis": lambda: _blis().forward(xs, w, ys)})
    if name != "aocl-blis":
        return None
    blis, dot = _blis(), np.dot

    def run(x, w, y):
        if not blis.forward(x, w, y):  # another layout this call (a new array of the same shape)
            dot(x, w.T, out=y)
    return run


def update(c: np.ndarray, x: np.ndarray, d: np.ndarray):
    """A function ``(c, alpha, x, d, beta) -> bool`` writing c <- beta c + alpha D^T X on the fastest
    engine for these shapes, or None when that is the default mode's :func:`blas.gemm_into`."""
    key = ("update", c.shape, x.shape, c.dtype.char)
    run = _updates.get(key, _UNSEEN)  # called at every replay: the choice first, the checks once
    if run is not _UNSEEN:
        return run
    if not (c.flags.f_contiguous and x.ndim == 2 and x.flags.c_contiguous and d.ndim == 2):
        return None
    d_f = np.empty(d.shape, d.dtype, order="F")  # D in Fortran order, kept for this shape
    cs, xs, ds = np.array(c, order="F"), x.copy(), d.copy()
    here = engines()
    candidates = {"numpy": lambda: gemm_into(cs, -1e-3, xs, ds, 1.0)}
    if "numpy-cblas" in here and cblas_fits(cs, xs, ds):  # NumPy's OpenBLAS called directly
        candidates["numpy-cblas"] = lambda: cblas_into(cs, -1e-3, xs, ds, 1.0)
    if "aocl-blis" in here:
        candidates["aocl-blis"] = lambda: _blis().update(cs, -1e-3, xs, ds, d_f, 1.0)
    name = _choices[key] = _fastest(candidates) if len(candidates) > 1 else "numpy"
    run = None
    if name == "aocl-blis":
        blis = _blis()

        def run(c, alpha, x, d, beta) -> bool:
            if d.shape == d_f.shape and d.dtype == d_f.dtype and blis.update(c, alpha, x, d, d_f, beta):
                return True
            return gemm_into(c, alpha, x, d, beta)
    elif name == "numpy-cblas":
        def run(c, alpha, x, d, beta) -> bool:
            return cblas_into(c, alpha, x, d, beta) or gemm_into(c, alpha, x, d, beta)
    _updates[key] = run
    return run


def choices() -> dict:
    """What was chosen so far in this process: {(kind, shapes..., dtype): engine}."""
    return dict(_choices)
