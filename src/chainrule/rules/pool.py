"""Pooling over 2-D windows: max, average and adaptive average, forward and backward side by side.

Each reads its windows through one strided view of the padded input (no loop over pixels).
"""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function
from chainrule.rules.conv import fold_add, pad_spatial, windows


def pool_out_size(n: int, k: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length: floor (or ceil) of (n + 2 pad - dilation (k - 1) - 1) / stride,
    plus 1; in ceil mode the last window must start inside the input or its left padding."""
    span = n + 2 * pad - dilation * (k - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= n + pad:
        out -= 1
    return out


def _geometry(shape, kernel, stride, padding, dilation, ceil_mode):
    """Output size and the ((top, bottom), (left, right)) pads that make every window fit."""
    outs, pads = [], []
    for n, k, s, p, d in zip(shape[2:], kernel, stride, padding, dilation):
        o = pool_out_size(n, k, s, p, d, ceil_mode)
        outs.append(o)
        pads.append((p, (o - 1) * s + d * (k - 1) + 1 - n - p))  # after-pad: may exceed p (ceil) or be < p
    return tuple(outs), tuple(pads)


class MaxPool2d(Function):
    """y = max over each window; dL/dx routes each window's gradient to its maximum, the first one in
    row-major window order on ties (PyTorch's rule; a NaN counts as the maximum), adding up where
    windows overlap.

    Options kernel, stride, padding, dilation (pairs) and ceil_mode.
    """

    saved_inputs = (0,)

    def forward(self, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False):
        n, c = x.shape[:2]
        (oh, ow), pads = _geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
        low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xp = pad_spatial(x, pads, low)
        kh, kw = kernel
        win = windows(xp, kernel, stride, dilation, (oh, ow))  # (N, C, OH, OW, KH, KW) view
        if kh * kw == 1:
            arg = np.zeros((n, c, oh, ow), np.intp)
            out = win[..., 0, 0].copy()
        else:
            flat = win.reshape(n, c, oh, ow, kh * kw)
            arg = flat.argmax(axis=-1)  # the first maximum (a NaN wins: argmax returns the first NaN)
            out = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
        self.arg, self.geom = arg, (x.shape, xp.shape, pads, kernel, stride, dilation)
        return out

    def backward(self, grad):
        xshape, pshape, pads, (kh, kw), (s0, s1), (d0, d1) = self.geom
        n, c, oh, ow = grad.shape
        hp, wp = pshape[2:]
        # the flat index of each window's maximum in the padded input
        row = (np.arange(oh) * s0)[:, None] + (self.arg // kw) * d0
        col = (np.arange(ow) * s1)[None, :] + (self.arg % kw) * d1
        plane = (np.arange(n * c) * (hp * wp)).reshape(n, c, 1, 1)
        idx = (plane + row * wp + col).ravel()
        size = n * c * hp * wp
        if s0 >= d0 * (kh - 1) + 1 and s1 >= d1 * (kw - 1) + 1:  # windows do not overlap: one write each
            gxp = np.zeros(size, grad.dtype)
            gxp[idx] = grad.ravel()
        else:
            gxp = np.bincount(idx, weights=grad.ravel(), minlength=size).astype(grad.dtype, copy=False)
        gxp = gxp.reshape(pshape)
        (pt, _), (pl, _) = pads
        return gxp[:, :, pt:pt + xshape[2], pl:pl + xshape[3]]


def _avg_counts(n: int, k: int, s: int, p: int, out: int, include_pad: bool) -> np.ndarray:
    """How many elements each window along one axis averages (PyTorch's divisor, per axis)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


class AvgPool2d(Function):
    """y = the mean of each window (zero padding counted or not, PyTorch's divisors in ceil mode);
    dL/dx spreads each window's gradient evenly, g / divisor, over the window.

    Options kernel, stride, padding (pairs), ceil_mode, count_include_pad, divisor_override.
    """

    def forward(self, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False,
                count_include_pad=True, divisor_override=None):
        (oh, ow), pads = _geometry(x.shape, kernel, stride, padding, (1, 1), ceil_mode)
        xp = pad_spatial(x, pads)
        sums = windows(xp, kernel, stride, (1, 1), (oh, ow)).sum(axis=(-2, -1))
        if divisor_override:
            div = np.asarray(divisor_override, x.dtype)
        else:
            ch = _avg_counts(x.shape[2], kernel[0], stride[0], padding[0], oh, count_include_pad)
            cw = _avg_counts(x.shape[3], kernel[1], stride[1], padding[1], ow, count_include_pad)
            div = np.outer(ch, cw).astype(x.dtype)
        self.div, self.geom = div, (x.shape, xp.shape, pads, kernel, stride)
        return sums / div

    def backward(self, grad):
        xshape, pshape, pads, (kh, kw), stride = self.geom
        g = grad / self.div
        gxp = np.zeros(pshape, grad.dtype)
        n, c, oh, ow = g.shape
        fold_add(gxp, np.broadcast_to(g[..., None, None], (n, c, oh, ow, kh, kw)), stride, (1, 1))
        (pt, _), (pl, _) = pads
        return gxp[:, :, pt:pt + xshape[2], pl:pl + xshape[3]]


def adaptive_matrix(n: int, out: int, dtype) -> np.ndarray:
    """(out, n) averaging matrix: row i averages x[floor(i n / out) : ceil((i + 1) n / out)]."""
    i = np.arange(out)
    start, end = (i * n) // out, -((-(i + 1) * n) // out)
    cols = np.arange(n)
    m = ((cols >= start[:, None]) & (cols < end[:, None])).astype(dtype)
    return m / (end - start)[:, None].astype(dtype)


class AdaptiveAvgPool2d(Function):
    """y = A_h x A_w^T per channel, with A the (out, in) averaging matrices of PyTorch's adaptive
    windows; a linear map, so dL/dx = A_h^T g A_w."""

    def forward(self, x, output_size=(1, 1)):
        self.ah = adaptive_matrix(x.shape[-2], output_size[0], x.dtype)
        self.aw = adaptive_matrix(x.shape[-1], output_size[1], x.dtype)
        return self.ah @ (x @ self.aw.T)  # (OH, H) @ (..., H, W) @ (W, OW) -> (..., OH, OW)

    def backward(self, grad):
        return self.ah.T @ (grad @ self.aw)
