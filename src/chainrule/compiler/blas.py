"""The weight gradient folded into an update: W <- beta W + alpha D^T X in one BLAS call.

With SciPy's BLAS (optional), ``gemm`` writes into the parameter (or the momentum buffer) with
beta = 1 (or the decay), so dW is never stored; without SciPy the same update is two NumPy calls.
``W`` has PyTorch's layout (out, in), either F-contiguous (nn.Linear's storage) or C-contiguous;
``D`` is the upstream gradient (N, out) and ``X`` the layer's input (N, in).
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

from chainrule.core import ones_vector

try:  # optional: the fused updates fall back to NumPy without it
    from scipy.linalg import blas as _blas
except ImportError:  # pragma: no cover - depends on the environment
    _blas = None

_GEMM = {} if _blas is None else {np.dtype(np.float32): _blas.sgemm, np.dtype(np.float64): _blas.dgemm}
_AXPY = {} if _blas is None else {np.dtype(np.float32): _blas.saxpy, np.dtype(np.float64): _blas.daxpy}
_GEMV = {} if _blas is None else {np.dtype(np.float32): _blas.sgemv, np.dtype(np.float64): _blas.dgemv}
COL_MAJOR, NO_TRANS, TRANS = 102, 111, 112  # CBLAS's enums


def bind_gemm(fn, int_type, real):
    """``fn``, a library's ``cblas_?gemm``, with its ctypes signature set: (order, transa, transb, m, n,
    k, alpha, a, lda, b, ldb, beta, c, ldc), ints of ``int_type``, scalars of ``real``."""
    i, p = int_type, ctypes.c_void_p
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, i, i, i, real, p, i, p, i, real, p, i]
    fn.restype = None
    return fn


def _numpy_cblas() -> dict:
    """{dtype: cblas_?gemm} of the OpenBLAS that NumPy's wheels bundle (scipy-openblas64: the library
    ``np.dot`` runs; on this machine 4-6% faster than SciPy's own copy for the weight-gradient GEMMs
    of batch 64-256), or {} when NumPy brings another BLAS (the update then uses SciPy's)."""
    here = os.path.dirname(np.__file__)
    paths = glob.glob(os.path.join(here, os.pardir, "numpy.libs", "libscipy_openblas64_*")) + \
        glob.glob(os.path.join(here, ".dylibs", "libscipy_openblas64_*"))
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:  # pragma: no cover - depends on the environment
            continue
        out = {"lib": lib}
        for dt, name, real in ((np.float32, "scipy_cblas_sgemm64_", ctypes.c_float),
                               (np.float64, "scipy_cblas_dgemm64_", ctypes.c_double)):
            fn = getattr(lib, name, None)
            if fn is None:  # pragma: no cover - depends on the environment
                return {}
            out[np.dtype(dt)] = bind_gemm(fn, ctypes.c_int64, real)
        return out
    return {}


_NUMPY_BLAS = _numpy_cblas()
_CBLAS = _NUMPY_BLAS if _blas is not None else {}  # (only where SciPy's BLAS is there to fall back on)
# a ctypes call costs about 6 us more than SciPy's, and from batch 512 the two libraries were even
# (or SciPy's ahead) in interleaved runs: NumPy's is used for W of 65536+ elements at batch 32-256
_CBLAS_SIZE, _CBLAS_BATCHES = 1 << 16, range(32, 257)


def blas_threads() -> int:
    """The threads NumPy's OpenBLAS runs now (0: unknown, NumPy brings another BLAS)."""
    lib = _NUMPY_BLAS.get("lib")
    fn = getattr(lib, "scipy_openblas_get_num_threads64_", None)
    return int(fn()) if fn is not None else 0


def weight_grad(x: np.ndarray, d: np.ndarray, w_fortran: bool) -> np.ndarray:
    """dL/dW = D^T X, computed as the Linear op computes it (so it is bit-for-bit the eager one)."""
    if w_fortran:
        return np.dot(x.T, d).T        # (in, N) @ (N, out) -> (in, out) -> (out, in)
    if d.shape[0] == 1:
        return d.T * x                 # an outer product
    return np.dot(d.T, x)              # (out, N) @ (N, in) -> (out, in)


def gemm_into(c: np.ndarray, alpha: float, x: np.ndarray | None, d: np.ndarray, beta: float) -> bool:
    """c <- beta c + alpha D^T X in place; False (c untouched) when BLAS cannot write into c.
    ``x`` None: c is a bias, c <- beta c + alpha D^T 1 (D's rows summed), one gemv."""
    if x is None:
        return _gemv_into(c, alpha, d, beta)
    gemm = _GEMM.get(c.dtype)
    if gemm is None or x.dtype != c.dtype or d.dtype != c.dtype:
        return False
    if c.size >= _CBLAS_SIZE and x.shape[0] in _CBLAS_BATCHES and cblas_into(c, alpha, x, d, beta):
        return True
    if c.flags.f_contiguous:   # c is (out, in) in Fortran order: C = alpha D^T X + beta C
        r = gemm(alpha, d.T, x.T, beta=beta, c=c, trans_b=1, overwrite_c=1)
    elif c.flags.c_contiguous:  # c^T is (in, out) in Fortran order: C^T = alpha X^T D + beta C^T
        r = gemm(alpha, x.T, d.T, beta=beta, c=c.T, trans_b=1, overwrite_c=1)
        r = r.T
    else:
        return False
    if r is not c and not np.shares_memory(r, c):  # pragma: no cover - BLAS made a copy
        c[...] = r
    return True


def cblas_available(dtype) -> bool:
    """Can :func:`cblas_into` run for this dtype (NumPy's OpenBLAS found, and SciPy's to fall back on)?"""
    return np.dtype(dtype) in _CBLAS


def cblas_fits(c: np.ndarray, x: np.ndarray, d: np.ndarray) -> bool:
    """Can :func:`cblas_into` write into c for these arrays (library, dtypes, shapes, layouts)?"""
    return c.dtype in _CBLAS and x.dtype == c.dtype and d.dtype == c.dtype and x.ndim == d.ndim == 2 and \
        x.flags.c_contiguous and d.flags.c_contiguous and c.flags.writeable and \
        (c.flags.f_contiguous or c.flags.c_contiguous) and x.shape[0] == d.shape[0] and \
        c.shape == (d.shape[1], x.shape[1])


def cblas_into(c: np.ndarray, alpha: float, x: np.ndarray, d: np.ndarray, beta: float) -> bool:
    """gemm_into's product through the CBLAS of NumPy's own OpenBLAS (ctypes), whatever the sizes;
    False (c untouched) when that library or these layouts are not there."""
    if not cblas_fits(c, x, d):
        return False
    cblas, n, (out, inp) = _CBLAS[c.dtype], x.shape[0], c.shape
    # X and D are row-major: as column-major they are X^T (in, N) and D^T (out, N)
    if c.flags.f_contiguous:   # C (out, in) = alpha D^T X + beta C
        cblas(COL_MAJOR, NO_TRANS, TRANS, out, inp, n, alpha, d.ctypes.data, max(out, 1),
              x.ctypes.data, max(inp, 1), beta, c.ctypes.data, max(out, 1))
    else:                      # C^T (in, out) = alpha X^T D + beta C^T
        cblas(COL_MAJOR, NO_TRANS, TRANS, inp, out, n, alpha, x.ctypes.data, max(inp, 1),
              d.ctypes.data, max(out, 1), beta, c.ctypes.data, max(inp, 1))
    return True


def _gemv_into(c: np.ndarray, alpha: float, d: np.ndarray, beta: float) -> bool:
    gemv = _GEMV.get(c.dtype)
    if gemv is None or d.dtype != c.dtype or d.ndim != 2 or not d.flags.c_contiguous or c.ndim != 1 or \
            c.shape[0] != d.shape[1] or c.strides != (c.itemsize,) or not c.flags.writeable:
        return False
    r = gemv(alpha, d.T, ones_vector(d.shape[0], d.dtype), beta=beta, y=c, overwrite_y=1)  # D^T: (out, N)
    if r is not c and not np.shares_memory(r, c):  # pragma: no cover - BLAS made a copy
        c[...] = r
    return True


def axpy_into(y: np.ndarray, alpha: float, x: np.ndarray) -> None:
    """y <- y + alpha x in place (same shape and layout)."""
    axpy = _AXPY.get(y.dtype)
    if y.ndim == 1 and axpy is not None and type(x) is np.ndarray and x.dtype == y.dtype and \
            x.shape == y.shape and x.strides == y.strides == (y.itemsize,):  # a bias: the common case
        axpy(x, y, a=alpha)
        return
    if axpy is not None and type(x) is np.ndarray and x.dtype == y.dtype and x.shape == y.shape and (
            (y.flags.c_contiguous and x.flags.c_contiguous) or (y.flags.f_contiguous and x.flags.f_contiguous)):
        order = "C" if y.flags.c_contiguous else "F"
        axpy(x.reshape(-1, order=order), y.reshape(-1, order=order), a=alpha)
    else:
        y += alpha * x
