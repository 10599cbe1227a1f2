"""Fused losses: softmax cross-entropy, the multiclass SVM, binary cross-entropy (on logits and on
probabilities). The targets are inputs of the op, so that an in-place change of them is caught."""
from __future__ import annotations

import numpy as np

from chainrule.core import Function
from chainrule.rules.elementwise import sigmoid_array
from chainrule.rules.softmax import log_softmax_array


class CrossEntropy(Function):
    """Softmax cross-entropy per sample, L_i = -sum_j q_ij log p_ij with q the (smoothed) one-hot
    target; dL_i/ds_ij = p_ij - q_ij. Computed from log-softmax, so huge logits stay finite."""

    saved_inputs = (1,)

    def forward(self, logits, target, label_smoothing=0.0):  # target: (N,) int64
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
        return d * grad[:, None], None

    def local(self, i):
        return ("(softmax({0}) - onehot(y)) * {g}",)


class NLL(Function):
    """The negative log-likelihood of each row's label, L_i = -logp[i, t_i], times its class weight
    w[t_i] when a weight is given; with ``mean`` the weighted mean sum_i w_i L_i / sum_i w_i, as
    PyTorch's (the front checks the labels). A row whose label is ``ignore_index`` adds nothing, to
    the loss or to the mean's weights (NaN when none is kept). dL/dlogp[i, t_i] = -w_i (/ sum w),
    zero elsewhere and in ignored rows; the labels and the weight get none."""

    saved_inputs = (1,)

    def forward(self, logp, target, weight=None, *, mean=False, ignore_index=None):
        n = logp.shape[0]
        keep = None if ignore_index is None else target != ignore_index
        t = target if keep is None else np.where(keep, target, 0)
        self.rows, self.target, self.keep, self.shape = np.arange(n), t, keep, logp.shape
        self.n_in = 2 + (weight is not None)
        loss = -logp[self.rows, t]
        w = None if weight is None else weight[t]
        if w is not None:
            loss = loss * w
        if keep is not None:   # (where, not a product: 0 * inf would be NaN)
            loss = np.where(keep, loss, loss.dtype.type(0))
            w = keep.astype(logp.dtype) if w is None else np.where(keep, w, w.dtype.type(0))
        self.w, self.total = w, None
        if not mean:
            return loss
        self.total = np.asarray(n if w is None else w.sum(), logp.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):  # nothing kept: 0 / 0, NaN as PyTorch's
            return np.asarray(loss.sum() / self.total)

    def backward(self, grad):
        with np.errstate(divide="ignore", invalid="ignore"):  # nothing kept: per is inf, d is 0 below
            per = grad / self.total if self.total is not None else grad   # () or (N,)
            d = -np.broadcast_to(per, self.rows.shape)
            if self.w is not None:
                d = d * self.w
        if self.keep is not None:   # an ignored row: 0, even when nothing is kept (per is then inf)
            d = np.where(self.keep, d, d.dtype.type(0))
        g = np.zeros(self.shape, grad.dtype)
        g[self.rows, self.target] = d
        return (g,) + (None,) * (self.n_in - 1)


class MulticlassSVM(Function):
    """The lecture's hinge loss per sample, L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin);
    dL_i/ds_j = 1 where a margin is violated, dL_i/ds_{y_i} = -(number of violations)."""

    saved_inputs = (1,)

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
        return d * grad[:, None], None

    def local(self, i):
        return ("{g} * (1 where a margin is violated, -(number of violations) at the true class)",)


class BCEWithLogits(Function):
    """Binary cross-entropy on logits, max(x, 0) - x y + log(1 + e^-|x|); d/dx = sigmoid(x) - y."""

    saved_inputs = (0, 1)

    def forward(self, x, y):
        self.x, self.y = x, y
        return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))

    def backward(self, grad):
        gy = -grad * self.x if self.needs_input_grad[1] else None
        return grad * (sigmoid_array(self.x) - self.y), gy


class BinaryCrossEntropy(Function):
    """-(y log p + (1 - y) log(1 - p)) with each log clamped at -100 as PyTorch does;
    d/dp = (p - y) / max(p (1 - p), 1e-12), d/dy = log(1 - p) - log p (clamped)."""

    saved_inputs = (0, 1)

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

