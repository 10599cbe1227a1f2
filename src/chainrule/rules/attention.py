"""Scaled dot-product attention, fused: one node with its own backward.

With S = Q K^T * scale (+ a float mask, or -inf where a boolean mask is False), P = softmax(S) and
D the dropout mask (kept / (1 - p), or 1), out = (P * D) V. Backward, for dL/dout = G:
dV = (P D)^T G, dP = (G V^T) D, dS = P (dP - sum(dP P)), dQ = dS K * scale, dK = dS^T Q * scale,
and the float mask gets dS.
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function
from chainrule.rules.softmax import log_softmax_array


class ScaledDotProductAttention(Function):
    """softmax(Q K^T * scale + mask) V, with dropout on the weights; the local gradients are in the
    module's docstring. Inputs: q, k, v, then the mask (if ``mask`` is "bool" or "float"), then the
    dropout's scaled keep mask (if ``dropout``)."""

    saved_inputs = slice(0, None)
    saves_output = False

    def forward(self, q, k, v, *extra, scale=1.0, mask=None, dropout=False):
        self.q, self.k, self.v, self.scale, self.mask_kind = q, k, v, scale, mask
        s = np.matmul(q, np.swapaxes(k, -1, -2)) * q.dtype.type(scale)
        i = 0
        if mask == "bool":
            s = np.where(extra[0], s, -np.inf)
            i = 1
        elif mask == "float":
            s = s + extra[0]
            i = 1
        self.p = np.exp(log_softmax_array(s, -1))
        self.drop = extra[i] if dropout else None
        self.pd = self.p if self.drop is None else self.p * self.drop
        return np.matmul(self.pd, v)

    def backward(self, grad):
        q, k, v = self.q, self.k, self.v
        scale = q.dtype.type(self.scale)
        dv = np.matmul(np.swapaxes(self.pd, -1, -2), grad)
        dp = np.matmul(grad, np.swapaxes(v, -1, -2))
        if self.drop is not None:
            dp = dp * self.drop
        ds = self.p * (dp - np.sum(dp * self.p, axis=-1, keepdims=True))
        ds = np.where(np.isnan(ds), 0, ds)  # a fully masked row: NaN weights, no gradient
        dq = np.matmul(ds, k) * scale
        dk = np.matmul(np.swapaxes(ds, -1, -2), q) * scale
        out = [dq, dk, dv]
        if self.mask_kind == "float":
            out.append(ds)
        elif self.mask_kind == "bool":
            out.append(None)
        if self.drop is not None:
            out.append(None)
        return tuple(out)

