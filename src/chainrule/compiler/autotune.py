"""``mode="max-autotune"``: each large GEMM of a replay timed on the BLAS engines at hand, in place, the fastest kept.

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
  D^T X update), and level or slower elsewhere: hence a measurement per product, not a rule.

Two products are tuned, the ones that dominate an MLP step: a Linear layer's forward ``x W^T`` and
its folded weight update ``C <- beta C + alpha D^T X`` (:mod:`chainrule.compiler.update`), both with
W in nn.Linear's Fortran order. Each is a :class:`Site` of the replay: its first replays rotate
through the candidates, timing each call where it runs, in the step, and compare each engine with
NumPy's round by round (:func:`_best`); another engine is kept only when it is at least 2% faster.
Nothing is timed at trace time. The results differ from eager's within float rounding (another
library sums in another order), as the folded update's already do; the default mode keeps NumPy's
calls. Engines other than NumPy's are candidates only while NumPy's BLAS runs one thread (the
benchmarks' and an MPI rank's setting): two thread pools would compete for the cores.
"""
from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import time

import numpy as np

from chainrule.compiler.blas import (COL_MAJOR, NO_TRANS, TRANS, bind_gemm, blas_threads, cblas_available,
                                     cblas_into, gemm_into)

_GAIN = 0.98      # another engine is kept when it takes at most 98% of NumPy's time
_choices: dict = {}  # (kind, shapes, dtype) -> the engine its latest site kept


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


ROUNDS = 6  # timed rounds of each candidate, in the replays, before a site keeps one


def _best(names: list, rounds: list) -> str:
    """The engine to keep: ``names[0]`` (NumPy's) unless another's median, over ``rounds`` ({name:
    seconds} each), of its time divided by NumPy's in the same round is at most ``_GAIN``. A noisy
    moment slows one round's calls alike, and one lucky fast call decides nothing (the best time of
    each did: a third of the processes kept NumPy's 1024 x 3072 forward, 2-4% slower a step here)."""
    if not rounds:
        return names[0]
    score = {name: float(np.median([r[name] / max(r[names[0]], 1e-9) for r in rounds])) for name in names[1:]}
    pick = min(score, key=score.get, default=None)
    return pick if pick is not None and score[pick] <= _GAIN else names[0]


class Site:
    """One tuned product of a replay, called like its engines. The first ``ROUNDS + 1`` rounds of
    calls rotate through the candidates (one call each per round, the order turning from round to
    round), each call timed where it runs: inside the step, after what ran before it, on the replay's
    own arrays. The first round only warms (libraries' set-up, first touch); then the engine
    :func:`_best` picks takes every call. Timing in place matters: a product timed alone, warm, can
    rank otherwise than in the step (BLIS won (1024, 100) x (100, 10) alone and lost in the step)."""

    __slots__ = ("key", "fns", "names", "rounds", "now", "turn", "call")

    def __init__(self, key: tuple, candidates: dict):
        self.key, self.fns, self.names = key, candidates, list(candidates)
        self.rounds: list = []     # {name: seconds} per complete round, the warm-up round left out
        self.now: dict = {}        # this round's so far
        self.turn = 0
        self.call = None           # the kept engine's function, once chosen
        if ROUNDS <= 0:
            self._keep()

    def __call__(self, *args):
        if self.call is not None:
            return self.call(*args)
        order = self.names[self.turn % len(self.names):] + self.names[:self.turn % len(self.names)]
        name = next(n for n in order if n not in self.now)
        t = time.perf_counter()
        out = self.fns[name](*args)
        self.now[name] = time.perf_counter() - t
        if len(self.now) == len(self.names):
            if self.turn:
                self.rounds.append(self.now)
            self.now, self.turn = {}, self.turn + 1
            if len(self.rounds) >= ROUNDS:
                self._keep()
        return out

    def _keep(self) -> None:
        name = _best(self.names, self.rounds)
        _choices[self.key] = name
        self.call = self.fns[name]

    @property
    def chosen(self):
        """The kept engine's name, or None while the candidates are still being timed."""
        return None if self.call is None else _choices.get(self.key)


def forward(x: np.ndarray, w: np.ndarray, y: np.ndarray):
    """A :class:`Site` computing ``(x, w, y)``: y = x W^T for a Linear layer of these arrays' shapes,
    or None when NumPy's ``np.dot(x, w.T, out=y)`` (the caller's own call) is the only engine here."""
    if "aocl-blis" not in engines() or not (x.ndim == 2 and x.flags.c_contiguous and w.flags.f_contiguous):
        return None
    blis, dot = _blis(), np.dot

    def numpy(x, w, y):
        dot(x, w.T, out=y)

    def aocl_blis(x, w, y):
        if not blis.forward(x, w, y):  # another layout this call (a new array of the same shape)
            dot(x, w.T, out=y)
    return Site(("forward", x.shape, w.shape, x.dtype.char), {"numpy": numpy, "aocl-blis": aocl_blis})


def update(w: np.ndarray, x: np.ndarray, d: np.ndarray):
    """A :class:`Site` computing ``(c, alpha, x, d, beta) -> bool``: c <- beta c + alpha D^T X for a
    Linear layer's weight ``w`` (c is w, its momentum buffer or Adam's gradient buffer, in w's
    layout), or None when the default mode's :func:`blas.gemm_into` is the only engine here."""
    if not (w.flags.f_contiguous and x.ndim == 2 and d.ndim == 2):
        return None
    here = engines()
    candidates = {"numpy": gemm_into}
    if "numpy-cblas" in here and cblas_available(w.dtype):  # NumPy's OpenBLAS called directly
        def numpy_cblas(c, alpha, x, d, beta) -> bool:
            return cblas_into(c, alpha, x, d, beta) or gemm_into(c, alpha, x, d, beta)
        candidates["numpy-cblas"] = numpy_cblas
    if "aocl-blis" in here:
        blis = _blis()
        d_f = np.empty(d.shape, d.dtype, order="F")  # D in Fortran order, kept for this site

        def aocl_blis(c, alpha, x, d, beta) -> bool:
            if d.shape == d_f.shape and d.dtype == d_f.dtype and blis.update(c, alpha, x, d, d_f, beta):
                return True
            return gemm_into(c, alpha, x, d, beta)
        candidates["aocl-blis"] = aocl_blis
    if len(candidates) == 1:
        return None
    return Site(("update", w.shape, x.shape, w.dtype.char), candidates)


def choices() -> dict:
    """What the sites kept so far in this process: {(kind, shapes..., dtype): engine}, the latest
    site's choice for a key that several share."""
    return dict(_choices)
