"""More activations and a loss as single ops, with PyTorch's rules at the edges: hardtanh (and relu6),
logsigmoid, and binary cross-entropy on probabilities."""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.ops.elementwise import sigmoid_array


class Hardtanh(Function):
    """x limited to [lo, hi]; d/dx = 1 strictly inside, 0 outside and at the bounds (PyTorch's rule,
    so relu6'(0) = 0 like relu'(0))."""

    def forward(self, x, lo, hi):
        self.mask = (x > lo) & (x < hi)
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, grad):
        return np.where(self.mask, grad, np.zeros((), grad.dtype))


class LogSigmoid(Function):
    """log(1 / (1 + e^-x)) = min(x, 0) - log(1 + e^-|x|), stable; d/dx = 1 - sigmoid(x) = sigmoid(-x)."""

    def forward(self, x):
        self.x = x
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))

    def backward(self, grad):
        return grad * sigmoid_array(-self.x)


class BinaryCrossEntropy(Function):
    """-(y log p + (1 - y) log(1 - p)) with each log clamped at -100 as PyTorch does;
    d/dp = (p - y) / max(p (1 - p), 1e-12), d/dy = log(1 - p) - log p (clamped)."""

    def forward(self, p, y):
        self.p, self.y = p, y
        with np.errstate(divide="ignore"):
            self.logp = np.maximum(np.log(p), -100)
            self.log1mp = np.maximum(np.log1p(-p), -100)
        return -(y * self.logp + (1 - y) * self.log1mp)

    def backward(self, grad):
        np_, ny = self.needs_input_grad
        gp = grad * (self.p - self.y) / np.maximum(self.p * (1 - self.p), 1e-12) if np_ else None
        gy = grad * (self.log1mp - self.logp) if ny else None
        return gp, gy
