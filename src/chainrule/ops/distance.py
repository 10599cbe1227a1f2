"""Distances and norms (PyTorch's signatures): cdist and pdist (the Cdist and Pdist rules: the
differences a block of rows at a time), dist, and torch.linalg's vector_norm, matrix_norm and norm, from the p-norm
(:func:`chainrule.rules.reduce.pnorm`: its gradient at a zero distance is 0, as PyTorch's) or
amax/amin of sums, or the singular values."""
from __future__ import annotations

import numpy as np

from chainrule import dtypes
from chainrule.core import DtypeError, ShapeError
from chainrule.ops import args
from chainrule.ops.convert import as_tensor, promote
from chainrule.ops.decomp import svdvals
from chainrule.ops.misc import float_for as _float_for, norm
from chainrule.ops.reduce import amax, amin
from chainrule.rules.reduce import Cdist, Pdist


def _p(p, op) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}(): argument 'p' must be a number, not {type(p).__name__}")
    if p < 0:
        raise ShapeError(f"{op} only supports non-negative p values")
    return float(p)


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distance between each row of ``x1`` and each row of ``x2``, as torch.cdist.

    Args:
        x1 (Tensor): (B..., P, M) points.
        x2 (Tensor): (B..., R, M) points; the batch axes broadcast.
        p (float, 2.0): any p >= 0 (0 counts the differing coordinates, inf takes the largest).

    Shape: (B..., P, R). The gradient at a zero distance is 0 (for every p), as PyTorch's.

    Example:
        >>> import chainrule as cr
        >>> cr.cdist(cr.tensor([[0.0, 0.0]]), cr.tensor([[3.0, 4.0], [1.0, 0.0]])).tolist()
        [[5.0, 1.0]]
    """
    p = _p(p, "cdist")
    a, b = as_tensor(x1), as_tensor(x2)
    for name, x in (("X1", a), ("X2", b)):
        if x.ndim < 2:
            raise ShapeError(f"cdist only supports at least 2D tensors, {name} got: {x.ndim}D")
        if x._data.dtype.kind != "f":
            raise DtypeError(f"cdist only supports floating-point dtypes, {name} got: "
                             f"{dtypes.type_name(x.dtype)}")
    if a._data.dtype != b._data.dtype:
        raise DtypeError(f"expected scalar type {dtypes.type_name(a.dtype)} but found {dtypes.type_name(b.dtype)}")
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"X1 and X2 must have the same number of columns. X1: {a.shape[-1]} X2: {b.shape[-1]}")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(f"cdist: the batch dimensions of X1 {a.shape} and X2 {b.shape} do not broadcast") from None
    a, b = promote(a, b)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    (P, M), R = a.shape[-2:], b.shape[-2]  # noqa: N806
    if a.shape[:-2] != batch:
        a = a.expand(*batch, P, M)
    if b.shape[:-2] != batch:
        b = b.expand(*batch, R, M)
    out = Cdist.apply(a.reshape(-1, P, M), b.reshape(-1, R, M), p=p)  # the rows in blocks: bounded memory
    return out.reshape(*batch, P, R)


def pdist(input, p=2):  # noqa: A002
    """The p-norm distance between each pair of rows i < j of an (N, M) input, in the order (0, 1),
    (0, 2), ..., (1, 2), ...: an (N (N - 1) / 2,) tensor, as torch.pdist."""
    p = _p(p, "pdist")
    x = as_tensor(input)
    if x.ndim != 2:
        raise ShapeError(f"pdist only supports 2D tensors, got: {x.ndim}D")
    if x._data.dtype.kind != "f":
        raise DtypeError("pdist only supports floating-point dtypes")
    return Pdist.apply(x, p=p)   # the pairs i < j alone, in blocks of rows


def dist(input, other, p=2):  # noqa: A002
    """The p-norm of ``input - other`` (broadcast), a 0-d tensor, as torch.dist.

    Example:
        >>> import chainrule as cr
        >>> cr.dist(cr.tensor([1.0, 1.0]), cr.tensor([4.0, 5.0])).item()
        5.0
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"dist(): argument 'p' must be a number, not {type(p).__name__}")
    a, b = promote(input, other)
    if a._data.dtype.kind != "f":
        raise DtypeError(f"norm(): input dtype should be either floating point or complex. Got "
                         f"{dtypes.type_name(a.dtype)} instead.")
    return norm(a - b, p)


# ----------------------------------------------------------------------------- torch.linalg's norms

def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None, out=None):  # noqa: A002
    """The vector ``ord``-norm of ``x`` over ``dim`` (all elements, flattened, when None), as
    torch.linalg.vector_norm: ord a number (inf: max |x|, -inf: min |x|, 0: the count of non-zeros).
    The gradient at a zero vector is 0.

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.vector_norm(cr.tensor([[3.0, 0.0], [0.0, 4.0]])).item()
        5.0
    """
    args.no_out("linalg.vector_norm", out)
    if isinstance(ord, (str, bool)) or not isinstance(ord, (int, float, np.integer, np.floating)):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' must be Number, not {type(ord).__name__}")
    x = as_tensor(x)
    _float_for(x, "linalg.vector_norm")
    if ord in (np.inf, -np.inf) and x._data.size == 0:
        raise ShapeError(f"linalg.vector_norm cannot compute the {ord} norm on an empty tensor because the "
                         f"operation does not have an identity")
    if isinstance(dim, list):
        dim = tuple(dim)
    if dim is None and keepdim:
        dim = tuple(range(x.ndim))
    return norm(x, ord, dim, keepdim, dtype)


_MATRIX_ORDS = ("fro", "nuc", np.inf, -np.inf, 1, -1, 2, -2)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None, out=None):  # noqa: A002, N803
    """The matrix ``ord``-norm of each matrix on axes ``dim`` of ``A``, as torch.linalg.matrix_norm:
    "fro" (sqrt of the sum of squares), 1 / -1 (the largest / smallest column sum of |a|), inf / -inf
    (the same over rows), 2 / -2 (the largest / smallest singular value) and "nuc" (their sum), the
    last three from :func:`chainrule.ops.decomp.svdvals`.

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.matrix_norm(cr.tensor([[1.0, -2.0], [3.0, 4.0]]), ord=1).item()
        6.0
    """
    args.no_out("linalg.matrix_norm", out)
    a = as_tensor(A)
    if isinstance(dim, (int, np.integer)) or len(dim) != 2:
        raise ShapeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {dim}")
    if a.ndim < 2:
        raise ShapeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    _float_for(a, "linalg.matrix_norm")
    if dtype is not None:
        a = as_tensor(a, dtypes.as_dtype(dtype))
    d0, d1 = (args.dim(d, a.ndim, "linalg.matrix_norm") for d in dim)
    if d0 == d1:
        raise ShapeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord not in _MATRIX_ORDS:
        raise ShapeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if ord == "fro":
        return norm(a, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(a.movedim((d0, d1), (-2, -1)))                   # (..., k)
        r = s.sum(-1) if ord == "nuc" else (amax if ord == 2 else amin)(s, -1)
        return r.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1)) if keepdim else r
    summed, over = (d0, d1) if abs(ord) == 1 else (d1, d0)    # 1: column sums (over rows), inf: row sums
    sums = abs(a).sum(summed, keepdim=True)
    r = (amax if ord > 0 else amin)(sums, over, keepdim=True)
    return r if keepdim else r.squeeze((d0, d1))


def linalg_norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None, out=None):  # noqa: A002, N803
    """torch.linalg.norm: a vector norm (``dim`` an int, or ord None and dim None: of all elements
    flattened, or a 1-D input) or a matrix norm (``dim`` a pair, or a 2-D input with ``ord`` given).

    Example:
        >>> import chainrule as cr
        >>> cr.linalg.norm(cr.tensor([[1.0, -2.0], [3.0, 4.0]]), float("inf")).item()
        7.0
    """
    args.no_out("linalg.norm", out)
    a = as_tensor(A)
    if dim is not None:
        ds = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        if len(ds) not in (1, 2):
            raise ShapeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(ds)}")
        if len(ds) == 2:
            return matrix_norm(a, "fro" if ord is None else ord, ds, keepdim, dtype=dtype)
        return vector_norm(a, 2 if ord is None else ord, ds, keepdim, dtype=dtype)
    if ord is None:
        return vector_norm(a, 2, None, keepdim, dtype=dtype)
    if a.ndim not in (1, 2):
        raise ShapeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                         f"Got {a.ndim}D.")
    if a.ndim == 2:
        return matrix_norm(a, ord, (-2, -1), keepdim, dtype=dtype)
    return vector_norm(a, ord, None, keepdim, dtype=dtype)
