"""The weight gradient folded into an update: W <- beta W + alpha D^T X in one BLAS call.

With SciPy's BLAS (optional), ``gemm`` writes into the parameter (or the momentum buffer) with
beta = 1 (or the decay), so dW is never stored; without SciPy the same update is two NumPy calls.
``W`` has PyTorch's layout (out, in), either F-contiguous (nn.Linear's storage) or C-contiguous;
``D`` is the upstream gradient (N, out) and ``X`` the layer's input (N, in).
"""
from __future__ import annotations

import numpy as np

try:  # optional: the fused updates fall back to NumPy without it
    from scipy.linalg import blas as _blas
except ImportError:  # pragma: no cover - depends on the environment
    _blas = None

_GEMM = {} if _blas is None else {np.dtype(np.float32): _blas.sgemm, np.dtype(np.float64): _blas.dgemm}
_AXPY = {} if _blas is None else {np.dtype(np.float32): _blas.saxpy, np.dtype(np.float64): _blas.daxpy}


def weight_grad(x: np.ndarray, d: np.ndarray, w_fortran: bool) -> np.ndarray:
    """dL/dW = D^T X, computed as the Linear op computes it (so it is bit-for-bit the eager one)."""
    if w_fortran:
        return np.dot(x.T, d).T        # (in, N) @ (N, out) -> (in, out) -> (out, in)
    if d.shape[0] == 1:
        return d.T * x                 # an outer product
    return np.dot(d.T, x)              # (out, N) @ (N, in) -> (out, in)


def gemm_into(c: np.ndarray, alpha: float, x: np.ndarray, d: np.ndarray, beta: float) -> bool:
    """c <- beta c + alpha D^T X in place; False (c untouched) when BLAS cannot write into c."""
    gemm = _GEMM.get(c.dtype)
    if gemm is None or x.dtype != c.dtype or d.dtype != c.dtype:
        return False
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
