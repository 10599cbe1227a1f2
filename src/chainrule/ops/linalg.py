"""Matrix products (PyTorch's signatures): matmul, mm, bmm, t. The rule is
:class:`chainrule.rules.linalg.Matmul`: for Y = X W, dL/dX = dL/dY W^T and dL/dW = X^T dL/dY."""
from __future__ import annotations

import numpy as np

from chainrule.core import ShapeError, TensorBase
from chainrule.ops.convert import promote
from chainrule.ops.inplace import write_out
from chainrule.ops.shape import transpose
from chainrule.rules.linalg import Matmul


def matmul(input, other, *, out=None):  # noqa: A002 - torch keywords
    """Matrix product ``a @ b`` with NumPy's rules (batched, 1-D operands allowed).

    Shape: (N, K) @ (K, M) -> (N, M); leading batch axes broadcast.
    """
    a, b = input, other
    if not (isinstance(a, TensorBase) and isinstance(b, TensorBase) and a._data.dtype is b._data.dtype):
        a, b = promote(a, b)
    sa, sb = a._data.shape, b._data.shape
    na, nb = len(sa), len(sb)
    if na == 0 or nb == 0:
        raise ShapeError(f"matmul: both operands need at least one dimension, got shapes {sa} and {sb}; "
                         f"use * to scale by a scalar")
    ka = sa[-1]
    kb = sb[-2] if nb > 1 else sb[0]
    if ka != kb:
        hint = ""
        if nb >= 2 and sb[-1] == ka:
            hint = "; did you mean W.T?"
        raise ShapeError(f"matmul: shapes {sa} and {sb} do not align ({ka} != {kb}){hint}")
    if na > 2 or nb > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ShapeError(f"matmul: batch dimensions of shapes {sa} and {sb} do not broadcast") from None
    if out is not None:
        return write_out(Matmul.apply(a, b), out, "matmul")
    return Matmul.apply(a, b)


def mm(input, mat2):  # noqa: A002
    """Matrix product of two matrices (PyTorch's mm: both operands 2-D, no broadcasting)."""
    a, b = input, mat2
    if getattr(a, "ndim", 2) != 2 or getattr(b, "ndim", 2) != 2:
        raise RuntimeError(f"mm: both operands must be matrices (2-D), got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def dot(input, tensor):  # noqa: A002
    """The dot product of two 1-D tensors of one length and one dtype (PyTorch's dot: no broadcasting,
    no type promotion), a 0-d tensor.

    Example:
        >>> import chainrule as cr
        >>> cr.dot(cr.tensor([1.0, 2.0, 3.0]), cr.tensor([4.0, 5.0, 6.0])).item()
        32.0
    """
    a, b = input, tensor
    if getattr(a, "ndim", 1) != 1 or getattr(b, "ndim", 1) != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape != b.shape:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to "
                           f"have the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements "
                           f"respectively")
    if getattr(a, "dtype", None) != getattr(b, "dtype", None):
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {a.dtype} and {b.dtype}")
    return matmul(a, b)


def bmm(input, mat2):  # noqa: A002
    """Batched matrix product: (B, N, K) @ (B, K, M) -> (B, N, M), no broadcasting."""
    a, b = input, mat2
    if getattr(a, "ndim", 3) != 3 or getattr(b, "ndim", 3) != 3 or a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: expected two 3-D tensors with the same batch size, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def t(x):
    """The transpose of a matrix (a 0-d or 1-D tensor is returned as it is), PyTorch's ``t()``."""
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x if x.ndim < 2 else transpose(x, 0, 1)
