"""Fused ops for networks: softmax and log-softmax (stable, one node each).

They could be written from exp, sum and div, but one node with its own
backward is faster and never overflows: with p = softmax(x),
dL/dx = p * (g - sum(g * p)); for log-softmax, dL/dx = g - p * sum(g).
"""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.convert import as_tensor
from chainrule.tensor import Tensor


def _check_axis(x: Tensor, axis: int, op: str) -> int:
    nd = max(x.ndim, 1)
    if not -nd <= axis < nd:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor of shape {x.shape}")
    return axis


def log_softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    """log softmax on an ndarray, shifted by the max so that exp never overflows."""
    m = np.amax(x, axis=axis, keepdims=True)
    z = x - np.where(np.isfinite(m), m, 0)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


class Softmax(Function):
    """p = e^x / sum e^x along an axis; dL/dx = p * (g - sum(g * p))."""

    def forward(self, x, axis=-1):
        self.axis = axis
        e = np.exp(log_softmax_array(x, axis))
        self.out = e
        return e

    def backward(self, grad):
        p = self.out
        return p * (grad - np.sum(grad * p, axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """x - logsumexp(x) along an axis; dL/dx = g - softmax(x) * sum(g)."""

    def forward(self, x, axis=-1):
        self.axis = axis
        self.out = log_softmax_array(x, axis)
        return self.out

    def backward(self, grad):
        return grad - np.exp(self.out) * np.sum(grad, axis=self.axis, keepdims=True)


def softmax(x, axis: int = -1) -> Tensor:
    """Softmax along ``axis`` (each slice sums to 1)."""
    x = as_tensor(x)
    return Softmax.apply(x, axis=_check_axis(x, axis, "softmax"))


def log_softmax(x, axis: int = -1) -> Tensor:
    """Log of the softmax along ``axis``, computed without overflow."""
    x = as_tensor(x)
    return LogSoftmax.apply(x, axis=_check_axis(x, axis, "log_softmax"))
