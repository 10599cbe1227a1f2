"""Matrix-shaped rules: the triangles (tril, triu), the diagonal (diagonal, diag_embed). Their backward
rules apply the same selection to the gradient, or put it back in place."""
from __future__ import annotations

import numpy as np

from chainrule.core import Function


class Triangle(Function):
    """The lower (tril) or upper (triu) triangle of the last two axes, offset by ``k``; dL/dx is the
    same triangle of dL/dy."""

    def forward(self, x, k=0, upper=False):
        self.k, self.fn = k, np.triu if upper else np.tril
        return self.fn(x, k)

    def backward(self, grad):
        return self.fn(grad, self.k)


def _diagonal_index(shape, offset, dim1, dim2):
    """The (rows, cols) of the diagonal ``offset`` of axes (dim1, dim2)."""
    n = max(0, min(shape[dim1] - max(-offset, 0), shape[dim2] - max(offset, 0)))
    i = np.arange(n)
    return i + max(-offset, 0), i + max(offset, 0)


class Diagonal(Function):
    """The diagonal ``offset`` of axes (dim1, dim2), as a new last axis; dL/dx is dL/dy put back on
    that diagonal, zero elsewhere."""

    def forward(self, x, offset=0, dim1=0, dim2=1):
        self.shape, self.offset, self.dims = x.shape, offset, (dim1, dim2)
        return np.diagonal(x, offset, dim1, dim2).copy()

    def backward(self, grad):
        g = np.zeros(self.shape, grad.dtype)
        rows, cols = _diagonal_index(self.shape, self.offset, *self.dims)
        np.moveaxis(g, self.dims, (-2, -1))[..., rows, cols] = grad
        return g


class DiagEmbed(Function):
    """A vector (last axis) placed on the diagonal ``offset`` of a square matrix; dL/dx is that
    diagonal of dL/dy."""

    def forward(self, x, offset=0):
        n = x.shape[-1] + abs(offset)
        self.offset = offset
        out = np.zeros(x.shape[:-1] + (n, n), x.dtype)
        rows, cols = _diagonal_index(out.shape, offset, -2, -1)
        out[..., rows, cols] = x
        return out

    def backward(self, grad):
        return np.diagonal(grad, self.offset, -2, -1)
