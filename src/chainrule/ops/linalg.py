"""Matrix product: for Y = X W, dL/dX = dL/dY W^T and dL/dW = X^T dL/dY."""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.convert import promote
from chainrule.tensor import Tensor


def _mm(a, b):
    # np.dot is much faster than @ for 2-D operands with an inner dimension of 1
    # (an outer product, e.g. the weight gradient at batch size 1)
    return np.dot(a, b) if a.ndim == 2 and b.ndim == 2 else np.matmul(a, b)


class Matmul(Function):
    """a @ b (NumPy's matmul, batched and with 1-D operands); d/da = g b^T, d/db = a^T g."""

    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return _mm(a, b)

    def backward(self, grad):
        a, b = self.a, self.b
        na, nb = self.needs_input_grad
        # view 1-D operands as a row (a) and a column (b), as matmul does
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1 and b.ndim == 1:
            g = grad.reshape(1, 1)
        elif a.ndim == 1:
            g = np.expand_dims(grad, -2)
        elif b.ndim == 1:
            g = np.expand_dims(grad, -1)
        else:
            g = grad
        ga = gb = None
        if na:
            ga = _mm(g, np.swapaxes(b2, -1, -2))  # (.., N, M) @ (.., M, K) -> (.., N, K)
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if nb:
            gb = _mm(np.swapaxes(a2, -1, -2), g)  # (.., K, N) @ (.., N, M) -> (.., K, M)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb

    def local(self, i):
        return ("{g} @ {1}^T",) if i == 0 else ("{0}^T @ {g}",)


def matmul(input, other, *, out=None) -> Tensor:  # noqa: A002 - torch keywords
    """Matrix product ``a @ b`` with NumPy's rules (batched, 1-D operands allowed).

    Shape: (N, K) @ (K, M) -> (N, M); leading batch axes broadcast.
    """
    a, b = input, other
    if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype is b.data.dtype):
        a, b = promote(a, b)
    sa, sb = a.data.shape, b.data.shape
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least one dimension, got shapes {sa} and {sb}; "
                         f"use * to scale by a scalar")
    ka = sa[-1]
    kb = sb[-2] if b.ndim > 1 else sb[0]
    if ka != kb:
        hint = ""
        if b.ndim >= 2 and sb[-1] == ka:
            hint = "; did you mean W.T?"
        raise ValueError(f"matmul: shapes {sa} and {sb} do not align ({ka} != {kb}){hint}")
    if a.ndim > 2 or b.ndim > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of shapes {sa} and {sb} do not broadcast") from None
    if out is not None:
        from chainrule.ops.elementwise import write_out
        return write_out(Matmul.apply(a, b), out, "matmul")
    return Matmul.apply(a, b)


def mm(input, mat2) -> Tensor:  # noqa: A002
    """Matrix product of two matrices (PyTorch's mm: both operands 2-D, no broadcasting)."""
    a, b = input, mat2
    if getattr(a, "ndim", 2) != 2 or getattr(b, "ndim", 2) != 2:
        raise RuntimeError(f"mm: both operands must be matrices (2-D), got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def bmm(input, mat2) -> Tensor:  # noqa: A002
    """Batched matrix product: (B, N, K) @ (B, K, M) -> (B, N, M), no broadcasting."""
    a, b = input, mat2
    if getattr(a, "ndim", 3) != 3 or getattr(b, "ndim", 3) != 3 or a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: expected two 3-D tensors with the same batch size, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return matmul(a, b)


def t(x) -> Tensor:
    """The transpose of a matrix (a 0-d or 1-D tensor is returned as it is), PyTorch's ``t()``."""
    from chainrule.ops.shape import transpose
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x if x.ndim < 2 else transpose(x, 0, 1)
