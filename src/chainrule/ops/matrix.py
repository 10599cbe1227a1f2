"""Triangles and diagonals (PyTorch's signatures): tril, triu, diagonal, diag, diag_embed, trace.
The rules are in :mod:`chainrule.rules.matrix`."""
from __future__ import annotations

from chainrule.core import ShapeError
from chainrule.ops import args
from chainrule.ops.convert import as_tensor
from chainrule.rules.matrix import DiagEmbed, Diagonal, Triangle


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
