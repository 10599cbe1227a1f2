"""Fused ops for networks: softmax and log-softmax (stable, one node each).

They could be written from exp, sum and div, but one node with its own
backward is faster and never overflows: with p = softmax(x),
dL/dx = p * (g - sum(g * p)); for log-softmax, dL/dx = g - p * sum(g).
"""
from __future__ import annotations

import numpy as np

from chainrule import dtypes
from chainrule.autograd import Function
from chainrule.ops.convert import as_tensor
from chainrule.ops.elementwise import sigmoid_array
from chainrule.tensor import Tensor


def _check_axis(x: Tensor, axis: int, op: str) -> int:
    nd = max(x.ndim, 1)
    if not -nd <= axis < nd:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor of shape {x.shape}")
    return axis


def log_softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    """log softmax on an ndarray, shifted by the max so that exp never overflows."""
    if x.size == 0:  # an empty slice: nothing to normalise (PyTorch returns the empty result)
        return x.copy()
    m = np.maximum.reduce(x, axis=axis, keepdims=True)  # the ufuncs' reduce: no Python-level wrapper
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, 0)
    z = x - m
    return z - np.log(np.add.reduce(np.exp(z), axis=axis, keepdims=True))


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


def _softmax_input(x, dim, axis, dtype):
    x = as_tensor(x)
    if dtype is not None:
        x = x.to(dtype)
    elif x.data.dtype.kind != "f":
        x = x.to(dtypes.DEFAULT_FLOAT)
    return x, (-1 if dim is None and axis is None else axis if dim is None else dim)


def softmax(x, dim: int | None = None, *, axis: int | None = None, dtype=None) -> Tensor:
    """Softmax along ``dim`` (the last by default; ``axis`` is an alias): each slice sums to 1."""
    x, dim = _softmax_input(x, dim, axis, dtype)
    return Softmax.apply(x, axis=_check_axis(x, dim, "softmax"))


def log_softmax(x, dim: int | None = None, *, axis: int | None = None, dtype=None) -> Tensor:
    """Log of the softmax along ``dim`` (``axis`` is an alias), computed without overflow."""
    x, dim = _softmax_input(x, dim, axis, dtype)
    return LogSoftmax.apply(x, axis=_check_axis(x, dim, "log_softmax"))


# ----------------------------------------------------------------------------- fused layers and losses
class Linear(Function):
    """y = x W^T + b (PyTorch's layout: W is (out, in)); dL/dx = g W, dL/dW = g^T x, dL/db = sum_n g.

    In the lecture's notation Y = X W' with W' = W^T of shape (in, out):
    dL/dX = dL/dY W'^T and dL/dW' = X^T dL/dY.
    """

    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        y = np.dot(x, w.T)  # (N, in) @ (in, out) -> (N, out)
        if b is not None:
            y += b
        return y

    def backward(self, grad):
        nx, nw = self.needs_input_grad[:2]
        gx = np.dot(grad, self.w) if nx else None     # (N, out) @ (out, in) -> (N, in)
        gw = None
        if nw:
            if self.w.flags.f_contiguous:
                # nn.Linear's layout: W^T is a C-contiguous (in, out) array, as the course code keeps
                # W, so dW^T = X^T dY is computed in that layout (the fast one for OpenBLAS)
                gw = np.dot(self.x.T, grad).T               # (in, N) @ (N, out) -> (in, out) -> (out, in)
            elif grad.shape[0] == 1:
                gw = grad.T * self.x  # an outer product; BLAS is ~8x slower at an inner dimension of 1
            else:
                gw = np.dot(grad.T, self.x)                 # (out, N) @ (N, in) -> (out, in)
        if len(self.needs_input_grad) == 2:
            return gx, gw
        gb = grad.sum(axis=0) if self.needs_input_grad[2] else None
        return gx, gw, gb

    def local(self, i):
        return ("{g} @ {1}", "{g}^T @ {0}", "{g} summed over the batch")[i:i + 1]


class CrossEntropy(Function):
    """Softmax cross-entropy per sample, L_i = -sum_j q_ij log p_ij with q the (smoothed) one-hot
    target; dL_i/ds_ij = p_ij - q_ij. Computed from log-softmax, so huge logits stay finite."""

    def forward(self, logits, target, label_smoothing=0.0):
        n, c = logits.shape
        logp = log_softmax_array(logits, 1)
        self.logp, self.target, self.eps = logp, target, label_smoothing
        loss = -logp[np.arange(n), target]
        if label_smoothing:
            loss = (1 - label_smoothing) * loss - label_smoothing / c * logp.sum(axis=1)
        return loss

    def backward(self, grad):
        n, c = self.logp.shape
        d = np.exp(self.logp)
        if self.eps:
            d -= self.eps / c
        d[np.arange(n), self.target] -= 1 - self.eps
        return d * grad[:, None]

    def local(self, i):
        return ("(softmax({0}) - onehot(y)) * {g}",)


class MulticlassSVM(Function):
    """The lecture's hinge loss per sample, L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin);
    dL_i/ds_j = 1 where a margin is violated, dL_i/ds_{y_i} = -(number of violations)."""

    def forward(self, scores, target, margin=1.0):
        n = scores.shape[0]
        rows = np.arange(n)
        m = scores - scores[rows, target][:, None] + margin   # (N, C)
        m[rows, target] = 0
        self.active = m > 0
        self.rows, self.target = rows, target
        return np.maximum(m, 0).sum(axis=1)

    def backward(self, grad):
        d = self.active.astype(grad.dtype)
        d[self.rows, self.target] = -d.sum(axis=1)
        return d * grad[:, None]

    def local(self, i):
        return ("{g} * (1 where a margin is violated, -(number of violations) at the true class)",)


class BCEWithLogits(Function):
    """Binary cross-entropy on logits, max(x, 0) - x y + log(1 + e^-|x|); d/dx = sigmoid(x) - y."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))

    def backward(self, grad):
        gy = -grad * self.x if self.needs_input_grad[1] else None
        return grad * (sigmoid_array(self.x) - self.y), gy
