"""What the singular values give (PyTorch's signatures): torch.linalg's pinv, lstsq, matrix_rank and
cond, and the top-level pinverse. The pseudo-inverse is the Pinv rule (:mod:`chainrule.rules.decomp`);
the others are written from it, svdvals and eigvalsh (:mod:`chainrule.ops.decomp`)."""
from __future__ import annotations

import collections

import numpy as np

from chainrule import dtypes
from chainrule.core import DtypeError, ShapeError, make, no_grad, shape_constant
from chainrule.ops import args
from chainrule.ops.convert import as_tensor
from chainrule.ops.decomp import eigvalsh, matrices, svdvals
from chainrule.ops.distance import matrix_norm
from chainrule.ops.elementwise import maximum, where
from chainrule.ops.inverse import inv
from chainrule.ops.linalg import matmul
from chainrule.rules.decomp import Pinv

LstsqResult = collections.namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])
LstsqResult.__doc__ = "(solution, residuals, rank, singular_values), as torch.linalg.lstsq returns them."


def _constant(value, dtype):
    return make(shape_constant(np.asarray(value, dtype)))


def _tolerances(a, atol, rtol):
    """(atol, rtol) as tensors of ``a``'s dtype, with PyTorch's defaults: rtol = eps * max(m, n) when
    neither is given, 0 when only atol (> 0) is."""
    dt = a._data.dtype
    default = np.finfo(dt).eps * max(a.shape[-2:])
    if atol is None:
        return _constant(0.0, dt), (_constant(default, dt) if rtol is None else as_tensor(rtol, dt))
    atol = as_tensor(atol, dt)
    if rtol is None:
        with no_grad():
            return atol, where(atol > 0, 0.0, default)
    return atol, as_tensor(rtol, dt)


def pinv(A, *, atol=None, rtol=None, hermitian: bool = False, out=None):  # noqa: N803
    """The pseudo-inverse of each (..., m, n) matrix, as torch.linalg.pinv: from the SVD (``hermitian``:
    the eigendecomposition of a symmetric matrix), dropping the singular values at or below
    max(atol, rtol * s_max) (rtol's default eps * max(m, n) when neither is given). The gradient is
    PyTorch's (it needs no distinct singular values).

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.pinv(cr.tensor([[2.0, 0.0], [0.0, 0.0]])).tolist()
        [[0.5, 0.0], [0.0, 0.0]]
    """
    args.no_out("linalg.pinv", out)
    a = as_tensor(A)
    if a.ndim < 2 or a._data.dtype.kind != "f":
        raise ShapeError(f"linalg.pinv({dtypes.type_name(a.dtype)}{{{list(a.shape)}}}): expected a tensor with 2 or "
                         f"more dimensions of float, double, cfloat or cdouble types")
    if hermitian:
        a = matrices(a, "linalg.pinv", square=True)
    at, rt = _tolerances(a, atol, rtol)
    return Pinv.apply(a, at, rt, hermitian=bool(hermitian))


def pinverse(input, rcond: float = 1e-15):  # noqa: A002
    """torch.pinverse: :func:`pinv` with rtol = ``rcond``."""
    return pinv(input, rtol=rcond)


def matrix_rank(A, *, atol=None, rtol=None, hermitian: bool = False, out=None):  # noqa: N803
    """The number of singular values of each (..., m, n) matrix above max(atol, rtol * s_max) (the
    tolerances of :func:`pinv`), an int64 tensor, as torch.linalg.matrix_rank.

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.matrix_rank(cr.tensor([[1.0, 2.0], [2.0, 4.0]])).item()
        1
    """
    args.no_out("linalg.matrix_rank", out)
    a = as_tensor(A)
    if a.ndim < 2:
        raise ShapeError("torch.linalg.matrix_rank: The input tensor input must have at least 2 dimensions.")
    a = matrices(a, "linalg.matrix_rank", square=hermitian)
    at, rt = _tolerances(a, atol, rtol)
    with no_grad():
        s = eigvalsh(a).abs() if hermitian else svdvals(a)
        if s.shape[-1] == 0:
            return make(shape_constant(np.zeros(s.shape[:-1], np.int64)))
        tol = maximum(at, rt * s.amax(-1))
        return (s > tol.unsqueeze(-1)).sum(-1)


_DRIVERS = (None, "gels", "gelsy", "gelsd", "gelss")


def lstsq(A, B, rcond=None, *, driver=None):  # noqa: N803
    """The least-squares solution X of A X = B (minimum norm when A is rank-deficient or wide), a named
    tuple (solution, residuals, rank, singular_values) as torch.linalg.lstsq, computed as
    pinv(A, rtol=rcond) @ B, whose gradient is PyTorch's.

    Args:
        A (Tensor): (..., m, n); B (Tensor): (..., m, k), or (..., m) for one right-hand side.
        rcond (float, None): the relative cutoff of the singular values (default eps * max(m, n)).
        driver (str, None): what else is returned, as PyTorch's CPU drivers: "gelsy" (the default)
            the rank; "gels" the residuals; "gelsd"/"gelss" the residuals, the rank and the singular
            values. The residuals (the column sums of the squared residuals) only for m > n and a
            full-rank A; whatever is not returned is an empty tensor, as in PyTorch.

    Example:
        >>> import chainrule as cr
        >>> round(cr.linalg.lstsq(cr.tensor([[1.0], [1.0]]), cr.tensor([[1.0], [3.0]])).solution.item(), 4)
        2.0
    """
    if driver not in _DRIVERS:
        raise RuntimeError("torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    a, b = as_tensor(A), as_tensor(B)
    if a.ndim < 2:
        raise ShapeError("torch.linalg.lstsq: input must have at least 2 dimensions.")
    if b._data.dtype != a._data.dtype:
        raise DtypeError(f"torch.linalg.lstsq: Expected input and other to have the same dtype, but got input's "
                         f"dtype {dtypes.type_name(a.dtype)} and other's dtype {dtypes.type_name(b.dtype)}")
    if a._data.dtype.kind != "f":
        raise DtypeError("This function doesn't handle types other than float and double")
    vector = b.ndim == a.ndim - 1
    bm = b.unsqueeze(-1) if vector else b
    if bm.ndim < 2 or bm.shape[-2] != a.shape[-2]:
        raise ShapeError("torch.linalg.lstsq: input.size(-2) should match other.size(-2)")
    driver = driver or "gelsy"
    m, n = a.shape[-2:]
    x = matmul(pinv(a, rtol=rcond), bm)
    dt = a._data.dtype
    empty = _constant(np.zeros(0), dt)
    rank = matrix_rank(a, rtol=rcond) if driver != "gels" else _constant(np.zeros(0), np.int64)
    values = svdvals(a).detach() if driver in ("gelsd", "gelss") else empty
    residuals = empty
    if driver != "gelsy" and m > n:
        full = matrix_rank(a, rtol=rcond) if driver == "gels" else rank
        if bool((full == n).all()):
            residuals = ((matmul(a, x) - bm) ** 2).sum(-2)
    return LstsqResult(x.squeeze(-1) if vector else x, residuals, rank, values)


def cond(A, p=None, *, out=None):  # noqa: N803
    """The condition number of each matrix in the norm ``p``, as torch.linalg.cond: for p None, 2 or
    -2 the ratio of the largest and smallest singular values (any (..., m, n) matrix); for "fro",
    "nuc", inf, -inf, 1 and -1, norm(A) * norm(A^-1) of square matrices (a singular one raises
    LinAlgError, where PyTorch gives inf).

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.cond(cr.tensor([[4.0, 0.0], [0.0, 2.0]])).item()
        2.0
    """
    args.no_out("linalg.cond", out)
    if p in (None, 2, -2):
        s = svdvals(matrices(A, "linalg.cond"))
        big, small = s[..., 0], s[..., -1]
        return big / small if p != -2 else small / big
    a = matrices(A, f"linalg.cond(ord={p})", square=True)
    return matrix_norm(a, p) * matrix_norm(inv(a), p)
