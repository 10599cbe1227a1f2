"""Triangles and diagonals (PyTorch's signatures): tril, triu, diagonal, diag, diag_embed, trace,
diagflat; tril_indices/triu_indices; the matrices built of others: kron, block_diag, vander. The rules
are in :mod:`chainrule.rules.matrix`."""
from __future__ import annotations

import numpy as np

from chainrule import devices, dtypes
from chainrule.core import ShapeError, make, shape_constant
from chainrule.ops import args
from chainrule.ops.convert import as_tensor, cast, promote
from chainrule.ops.math import cumprod
from chainrule.ops.shape import concatenate
from chainrule.rules.matrix import DiagEmbed, Diagonal, Triangle
from chainrule.rules.shape import Flip, Pad


def _triangle(input, diagonal, upper, op):
    x = as_tensor(input)
    if x.ndim < 2:
        raise ShapeError(f"{op}: input tensor must have at least 2 dimensions, got shape {x.shape}")
    return Triangle.apply(x, k=int(diagonal), upper=upper)


def tril(input, diagonal: int = 0):  # noqa: A002
    """The lower triangle of the last two axes (elements above ``diagonal`` set to 0)."""
    return _triangle(input, diagonal, False, "tril")


def triu(input, diagonal: int = 0):  # noqa: A002
    """The upper triangle of the last two axes (elements below ``diagonal`` set to 0)."""
    return _triangle(input, diagonal, True, "triu")


def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1):  # noqa: A002
    """The diagonal ``offset`` of axes (dim1, dim2), as the last axis of the result."""
    x = as_tensor(input)
    d1, d2 = args.dim(dim1, x.ndim, "diagonal"), args.dim(dim2, x.ndim, "diagonal")
    if d1 == d2:
        raise ShapeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return Diagonal.apply(x, offset=int(offset), dim1=d1, dim2=d2)


def diag_embed(input, offset: int = 0):  # noqa: A002
    """The last axis placed on the diagonal ``offset`` of new square matrices."""
    return DiagEmbed.apply(as_tensor(input), offset=int(offset))


def diag(input, diagonal: int = 0):  # noqa: A002
    """A 1-D input: the square matrix with it on the diagonal ``diagonal``; a 2-D input: that diagonal."""
    x = as_tensor(input)
    if x.ndim == 1:
        return DiagEmbed.apply(x, offset=int(diagonal))
    if x.ndim == 2:
        return Diagonal.apply(x, offset=int(diagonal), dim1=0, dim2=1)
    raise ShapeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D")


def trace(input):  # noqa: A002
    """The sum of the main diagonal of a 2-D tensor."""
    x = as_tensor(input)
    if x.ndim != 2:
        raise ShapeError(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    return Diagonal.apply(x, offset=0, dim1=0, dim2=1).sum()


def diagflat(input, offset: int = 0):  # noqa: A002
    """The flattened ``input`` on the diagonal ``offset`` of a square matrix (zeros elsewhere).

    Example:
        >>> import chainrule as cr
        >>> cr.diagflat(cr.tensor([[1, 2]])).tolist()
        [[1, 0], [0, 2]]
    """
    x = as_tensor(input)
    return DiagEmbed.apply(x.reshape(-1), offset=int(offset))


# ----------------------------------------------------------------------------- index patterns and products
def _triangle_indices(row: int, col: int, offset: int, dtype, device, np_fn, op: str):
    for name, n in (("row", row), ("col", col)):
        if n < 0:
            raise ShapeError(f"{name} must be non-negative, got{n}")   # torch's words, without the space
    if device is not None:
        devices.check(device)
    d = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    if d.kind not in "iu":
        raise NotImplementedError(f"\"{op}\" not implemented for '{dtypes.type_name(d)}'")
    return make(np.stack(np_fn(int(row), int(offset), int(col))).astype(d).reshape(2, -1))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None):
    """The (2, k) row and column indices of the lower triangle of a row x col matrix (on and below
    the diagonal ``offset``), row by row; int64 unless ``dtype`` says another integer type.

    Example:
        >>> import chainrule as cr
        >>> cr.tril_indices(3, 3).tolist()
        [[0, 1, 1, 2, 2, 2], [0, 0, 1, 0, 1, 2]]
    """
    return _triangle_indices(row, col, offset, dtype, device, np.tril_indices, "tril_indices")


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None):
    """The (2, k) row and column indices of the upper triangle of a row x col matrix (on and above
    the diagonal ``offset``), row by row; int64 unless ``dtype`` says another integer type."""
    return _triangle_indices(row, col, offset, dtype, device, np.triu_indices, "triu_indices")


def kron(input, other):  # noqa: A002
    """The Kronecker product: the blocks input[i] * other, laid out as input's elements (the shorter
    shape padded with leading 1s). A broadcast product and a reshape, so gradients flow to both.

    Example:
        >>> import chainrule as cr
        >>> cr.kron(cr.tensor([1, 10]), cr.tensor([1, 2, 3])).tolist()
        [1, 2, 3, 10, 20, 30]
    """
    a, b = promote(input, other)
    nd = max(a.ndim, b.ndim)
    ash = (1,) * (nd - a.ndim) + a.shape
    bsh = (1,) * (nd - b.ndim) + b.shape
    # (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...) -> (a0 * b0, a1 * b1, ...)
    blocks = a.reshape(*[n for s in ash for n in (s, 1)]) * b.reshape(*[n for s in bsh for n in (1, s)])
    return blocks.reshape(*[p * q for p, q in zip(ash, bsh)])


def block_diag(*tensors):
    """The tensors (0-d as 1 x 1, 1-D as one row, or 2-D) as blocks on the diagonal of one matrix,
    zeros elsewhere, of their common dtype; no tensors give a (1, 0) one. Each block is padded with
    zero columns and the rows are joined, so gradients flow back to every block.

    Example:
        >>> import chainrule as cr
        >>> cr.block_diag(cr.tensor([[1, 2]]), cr.tensor(3)).tolist()
        [[1, 2, 0], [0, 0, 3]]
    """
    if not tensors:
        return make(np.zeros((1, 0), dtypes.get_default_dtype()))
    ts = promote(*tensors)
    for i, t in enumerate(ts):
        if t.ndim > 2:
            raise ShapeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has "
                             f"{t.ndim} dimensions")
    blocks = [t.reshape(1, -1) if t.ndim < 2 else t for t in ts]
    width, left, rows = sum(t.shape[1] for t in blocks), 0, []
    for t in blocks:
        rows.append(Pad.apply(t, pad_width=((0, 0), (left, width - left - t.shape[1])), value=0))
        left += t.shape[1]
    return concatenate(rows, 0)


def vander(x, N=None, increasing: bool = False):
    """The Vandermonde matrix of a 1-D ``x``: columns x^(N-1), ..., x, 1 (the other way round when
    ``increasing``), N = len(x) by default; integer and bool inputs give int64. Built as torch builds
    it, a cumulative product of copies of x, so the gradient is torch's.

    Example:
        >>> import chainrule as cr
        >>> cr.vander(cr.tensor([1, 2, 3]), 3).tolist()
        [[1, 1, 1], [4, 2, 1], [9, 3, 1]]
    """
    x = as_tensor(x)
    if x.ndim != 1:
        raise ShapeError("x must be a one-dimensional tensor.")
    n = x.shape[0]
    N = n if N is None else int(N)
    if N < 0:
        raise ShapeError("N must be non-negative.")
    if x._data.dtype.kind in "biu":
        x = cast(x, dtypes.int64)
    ones = make(shape_constant(np.ones((n, min(N, 1)), x._data.dtype)))
    if N <= 1:
        return ones   # no power of x in it: outside the graph, as torch's
    out = concatenate([ones, cumprod(x.reshape(n, 1).expand(n, N - 1), 1)], 1)
    return out if increasing else Flip.apply(out, dims=(1,))
