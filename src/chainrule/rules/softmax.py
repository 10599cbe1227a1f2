"""Softmax and log-softmax (stable, one node each).

They could be written from exp, sum and div, but one node with its own
backward is faster and never overflows: with p = softmax(x),
dL/dx = p * (g - sum(g * p)); for log-softmax, dL/dx = g - p * sum(g).
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function, sum_last


def log_softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    """log softmax on an ndarray, shifted by the max so that exp never overflows."""
    if x.size == 0:  # an empty slice: nothing to normalise (PyTorch returns the empty result)
        return x.copy()
    m = np.maximum.reduce(x, axis=axis, keepdims=True)  # the ufuncs' reduce: no Python-level wrapper
    if not np.isfinite(m).all():  # a slice of -inf only: shift by 0 (NaN, as PyTorch); one with +inf
        m = np.where(m == -np.inf, 0, m)  # gives inf - inf = NaN for the whole slice, as PyTorch
        with np.errstate(invalid="ignore", divide="ignore"):
            z = x - m
            return z - np.log(_sum(np.exp(z), axis))
    z = x - m
    return z - np.log(_sum(np.exp(z), axis))


def _sum(e: np.ndarray, axis: int) -> np.ndarray:
    """e summed along ``axis`` (kept): over the last axis as a product with ones (sum_last)."""
    if axis in (-1, e.ndim - 1):
        return sum_last(e)
    return np.add.reduce(e, axis=axis, keepdims=True)


class Softmax(Function):
    """p = e^x / sum e^x along an axis; dL/dx = p * (g - sum(g * p))."""

    saves_output = True

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

    saves_output = True

    def forward(self, x, axis=-1):
        self.axis = axis
        self.out = log_softmax_array(x, axis)
        return self.out

    def backward(self, grad):
        return grad - np.exp(self.out) * np.sum(grad, axis=self.axis, keepdims=True)

