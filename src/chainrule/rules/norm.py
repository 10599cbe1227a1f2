"""Normalization layers as fused rules: batch norm and layer norm, forward and backward side by side.

With x_hat = (x - mu) / sqrt(var + eps) and y = gamma x_hat + beta over M values per statistic,
the backward of the normalisation (the statistics depend on x) is
dL/dx = gamma / sqrt(var + eps) * (g - mean(g) - x_hat mean(g x_hat)),
dL/dgamma = sum g x_hat, dL/dbeta = sum g.
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function


class BatchNorm(Function):
    """y = gamma (x - mu) / sqrt(var + eps) + beta per channel (axis 1), with mu and the biased var over
    every other axis in training: dL/dx = gamma / sigma (g - mean g - x_hat mean(g x_hat)); with fixed
    statistics (eval) dL/dx = gamma g / sigma. dL/dgamma = sum g x_hat, dL/dbeta = sum g.

    Inputs x (N, C, ...), weight (C,), bias (C,). Options: ``training`` (use the batch's statistics),
    ``eps``, and ``running_mean``/``running_var`` arrays (C,) that training updates in place with
    ``momentum`` (unbiased variance, as PyTorch); eval mode normalises with them. The backward never
    reads the running arrays.
    """

    saved_inputs = (0, 1)

    def forward(self, x, w, b, training=True, eps=1e-5, running_mean=None, running_var=None, momentum=0.1):
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if training:
            mean = x.mean(axis=axes, keepdims=True)
            xc = x - mean
            var = np.mean(xc * xc, axis=axes, keepdims=True)
            if running_mean is not None:
                m, count = momentum, x.size // x.shape[1]
                running_mean *= 1 - m
                running_mean += (m * mean.reshape(-1)).astype(running_mean.dtype)
                running_var *= 1 - m
                running_var += (m * count / max(count - 1, 1) * var.reshape(-1)).astype(running_var.dtype)
        else:
            xc = x - running_mean.reshape(shape).astype(x.dtype)
            var = running_var.reshape(shape).astype(x.dtype)
        inv = 1 / np.sqrt(var + eps)
        xhat = xc * inv
        self.xhat, self.inv, self.w, self.axes, self.training = xhat, inv, w.reshape(shape), axes, training
        return xhat * self.w + b.reshape(shape)

    def backward(self, grad):
        xhat, axes = self.xhat, self.axes
        need = self.needs_input_grad
        gx = None
        if need[0]:
            gxhat = grad * self.w
            if self.training:
                gx = self.inv * (gxhat - gxhat.mean(axis=axes, keepdims=True)
                                 - xhat * (gxhat * xhat).mean(axis=axes, keepdims=True))
            else:
                gx = gxhat * self.inv
        gw = (grad * xhat).sum(axis=axes) if need[1] else None
        gb = grad.sum(axis=axes) if need[2] else None
        return gx, gw, gb


class LayerNorm(Function):
    """y = gamma (x - mu) / sqrt(var + eps) + beta with mu and the biased var over the last ``ndim``
    axes of each sample: dL/dx = (g' - mean g' - x_hat mean(g' x_hat)) / sigma with g' = gamma g;
    dL/dgamma = sum g x_hat, dL/dbeta = sum g over the leading axes.

    Inputs x (..., *normalized_shape), weight and bias (normalized_shape).
    """

    saved_inputs = (0, 1)

    def forward(self, x, w, b, ndim=1, eps=1e-5):
        axes = tuple(range(x.ndim - ndim, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        inv = 1 / np.sqrt(np.mean(xc * xc, axis=axes, keepdims=True) + eps)
        xhat = xc * inv
        self.xhat, self.inv, self.w, self.axes = xhat, inv, w, axes
        return xhat * w + b

    def backward(self, grad):
        xhat, axes = self.xhat, self.axes
        lead = tuple(range(grad.ndim - len(axes)))
        need = self.needs_input_grad
        gx = None
        if need[0]:
            gxhat = grad * self.w
            gx = self.inv * (gxhat - gxhat.mean(axis=axes, keepdims=True)
                             - xhat * (gxhat * xhat).mean(axis=axes, keepdims=True))
        gw = (grad * xhat).sum(axis=lead) if need[1] else None
        gb = grad.sum(axis=lead) if need[2] else None
        return gx, gw, gb
