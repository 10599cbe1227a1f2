"""Reductions: sum, mean, max/min (amax/amin), logsumexp; var from primitives.

A reduction's backward spreads the upstream gradient back over the reduced
axes: sum copies it, mean divides it by the count, max routes it to the
largest element (split evenly among ties, as PyTorch's amax does).
"""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.convert import as_tensor
from chainrule.tensor import Tensor


def normalize_axis(axis, ndim: int, op: str) -> tuple | None:
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of axes, or None for all."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    n = ndim or 1  # a 0-d tensor reduces over axis 0 or -1, as in PyTorch
    for a in axes:
        if not -n <= a < n:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % n)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


def _keepdims_grad(grad, shape, axes, keepdims):
    """Reinsert the reduced axes into ``grad`` so that it broadcasts against the input."""
    if keepdims:
        return grad
    if axes is None:
        return grad.reshape((1,) * len(shape))
    return np.expand_dims(grad, axes)


class Sum(Function):
    """sum of x over axes; d/dx_i = 1: the upstream gradient is copied to every element."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(self, grad):
        g = _keepdims_grad(grad, self.shape, self.axis, self.keepdims)
        return np.broadcast_to(g, self.shape)

    def local(self, i):
        return ("{g} copied to every element of {0}",)


class Mean(Function):
    """mean of x over axes; d/dx_i = 1/n for the n elements averaged."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        self.n = x.size if axis is None else int(np.prod([x.shape[a] for a in axis]))
        # np.add.reduce, not x.mean(): the same sum in C without NumPy's Python-level wrapper
        return np.add.reduce(x, axis=axis, keepdims=keepdims) / x.dtype.type(self.n)

    def backward(self, grad):
        g = np.empty(self.shape, dtype=grad.dtype)
        g[...] = _keepdims_grad(grad, self.shape, self.axis, self.keepdims) / grad.dtype.type(self.n)
        return g

    def local(self, i):
        return ("{g} / %d copied to every element of {0}" % self.n,)


class Amax(Function):
    """max of x over axes; the gradient goes to the maximal elements, split evenly among ties."""

    reduce = staticmethod(np.amax)

    def forward(self, x, axis=None, keepdims=False):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        self.out = self.reduce(x, axis=axis, keepdims=True)
        return self.out if keepdims else (self.out.reshape(()) if axis is None else
                                          np.squeeze(self.out, axis=axis))

    def backward(self, grad):
        g = _keepdims_grad(grad, self.x.shape, self.axis, self.keepdims)
        mask = self.x == self.out
        count = mask.sum(axis=self.axis, keepdims=True)
        return mask * (g / count)


class Amin(Amax):
    """min of x over axes; the gradient goes to the minimal elements, split evenly among ties."""

    reduce = staticmethod(np.amin)


class LogSumExp(Function):
    """log sum exp(x) over axes, computed stably; d/dx_i = softmax(x)_i."""

    def forward(self, x, axis=None, keepdims=False):
        self.x, self.axis, self.keepdims = x, axis, keepdims
        m = np.amax(x, axis=axis, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0)
        self.out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
        return self.out if keepdims else (self.out.reshape(()) if axis is None else
                                          np.squeeze(self.out, axis=axis))

    def backward(self, grad):
        g = _keepdims_grad(grad, self.x.shape, self.axis, self.keepdims)
        return g * np.exp(self.x - self.out)


# ----------------------------------------------------------------------------- functions
def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (None: all elements)."""
    x = as_tensor(x)
    return Sum.apply(x, axis=None if axis is None else normalize_axis(axis, x.ndim, "sum"),
                     keepdims=keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (None: all elements)."""
    x = as_tensor(x)
    if x.data.dtype.kind != "f":
        raise TypeError(f"mean: needs a float tensor, got dtype {x.dtype}")
    return Mean.apply(x, axis=normalize_axis(axis, x.ndim, "mean"), keepdims=keepdims)


def _check_nonempty(x, op):
    if x.size == 0:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")


def max(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest value over ``axis`` (values only; use ``argmax`` for positions)."""
    x = as_tensor(x)
    _check_nonempty(x, "max")
    return Amax.apply(x, axis=normalize_axis(axis, x.ndim, "max"), keepdims=keepdims)


def min(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest value over ``axis``."""
    x = as_tensor(x)
    _check_nonempty(x, "min")
    return Amin.apply(x, axis=normalize_axis(axis, x.ndim, "min"), keepdims=keepdims)


amax = max
amin = min


def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, without overflow."""
    x = as_tensor(x)
    return LogSumExp.apply(x, axis=normalize_axis(axis, x.ndim, "logsumexp"), keepdims=keepdims)


def var(x, axis=None, keepdims: bool = False, correction: int = 1) -> Tensor:
    """Variance over ``axis``, dividing by n - correction (1: unbiased, PyTorch's default).

    Written from primitives (mean, sub, mul, sum), so it needs no backward of its own.
    """
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim, "var")
    n = x.size if axes is None else int(np.prod([x.shape[a] for a in axes]))
    d = x - mean(x, axes, keepdims=True)
    return sum(d * d, axes, keepdims) / (n - correction)
