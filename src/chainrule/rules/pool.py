"""Pooling over 2-D windows: max, average and adaptive average, forward and backward side by side.

Each reads its windows as strided slices of the padded input, one per kernel offset (no loop over
pixels).
"""
from __future__ import annotations

import functools
import itertools

import numpy as np

from chainrule.core import Function
from chainrule.rules.conv import offset, pad_spatial


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
    row-major window order on ties (PyTorch's rule; a NaN counts as the maximum, the last NaN wins),
    adding up where windows overlap.

    Options kernel, stride, padding, dilation (pairs) and ceil_mode. The forward takes the max along
    W, then along H (KW - 1 and KH - 1 strided passes); the backward loops over the KH*KW kernel
    offsets, each one strided elementwise pass over all windows.
    """

    saved_inputs = (0,)

    def forward(self, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False):
        out_hw, pads = _geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
        low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xp = pad_spatial(x, pads, low)
        self.xp, self.geom = xp, (x.shape, pads, kernel, stride, dilation, out_hw)
        (kh, kw), (s0, s1), (d0, d1), (oh, ow) = kernel, stride, dilation, out_hw
        # a window's max is the max over its rows of each row's max: first along W, then along H
        cols = [xp[:, :, :, j * d1:j * d1 + s1 * (ow - 1) + 1:s1] for j in range(kw)]
        rows = cols[0].copy() if kw == 1 else np.maximum(cols[0], cols[1])  # NaN propagates
        for v in cols[2:]:
            np.maximum(rows, v, out=rows)
        tops = [rows[:, :, i * d0:i * d0 + s0 * (oh - 1) + 1:s0] for i in range(kh)]
        out = tops[0].copy() if kh == 1 else np.maximum(tops[0], tops[1])
        for v in tops[2:]:
            np.maximum(out, v, out=out)
        self.out = out
        return out

    def backward(self, grad):
        xshape, pads, kernel, stride, dilation, out_hw = self.geom
        xp, out = self.xp, self.out
        overlap = any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))
        tiled = all(k == s and d == 1 and o * s == p for k, s, d, o, p in zip(kernel, stride, dilation, out.shape[2:],
                                                                              xp.shape[2:]))
        gxp = (np.empty if tiled else np.zeros)(xp.shape, grad.dtype)  # tiled: each entry written once below
        nan = out != out
        free = ~nan  # windows whose gradient is not yet routed (a NaN window routes to its LAST NaN)
        first = np.empty(out.shape, bool)
        offsets = [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]
        for k, (i, j) in enumerate(offsets):
            v = offset(xp, i, j, stride, dilation, out_hw)
            np.equal(v, out, out=first)
            first &= free  # the first maximum of each window
            if k < len(offsets) - 1:
                free ^= first
            target = offset(gxp, i, j, stride, dilation, out_hw)
            if overlap:
                target += grad * first
            else:  # every input element is in at most one window: write, do not add
                np.multiply(grad, first, out=target)
        if nan.any():
            taken = ~nan
            for i, j in reversed(offsets):
                v = offset(xp, i, j, stride, dilation, out_hw)
                last = (v != v) & ~taken
                taken |= last
                offset(gxp, i, j, stride, dilation, out_hw)[...] += grad * last
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
        sums = None
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                v = offset(xp, i, j, stride, (1, 1), (oh, ow))
                sums = v.copy() if sums is None else np.add(sums, v, out=sums)
        if divisor_override:
            div = np.asarray(divisor_override, x.dtype)
        else:
            ch = _avg_counts(x.shape[2], kernel[0], stride[0], padding[0], oh, count_include_pad)
            cw = _avg_counts(x.shape[3], kernel[1], stride[1], padding[1], ow, count_include_pad)
            div = np.outer(ch, cw).astype(x.dtype)
        self.div, self.geom = div, (x.shape, xp.shape, pads, kernel, stride, (oh, ow))
        return sums / div

    def backward(self, grad):
        xshape, pshape, pads, kernel, stride, out_hw = self.geom
        g = grad / self.div
        gxp = np.zeros(pshape, grad.dtype)
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                offset(gxp, i, j, stride, (1, 1), out_hw)[...] += g
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


def _axes(arrays) -> tuple:
    """1-d arrays set along successive axes, to broadcast against each other (np.ix_, booleans kept)."""
    d = len(arrays)
    return tuple(a.reshape((1,) * i + (-1,) + (1,) * (d - i - 1)) for i, a in enumerate(arrays))


def window_argmax(x: np.ndarray, taps) -> np.ndarray:
    """PyTorch's flat per-plane index of each window's maximum: the first maximum in row-major window
    order, a NaN counting as the maximum (the last NaN wins). ``taps`` holds, per spatial axis, one
    (positions, valid) pair of (out,) arrays per kernel offset: where that offset reads along the axis
    and whether it lands inside the input. One gather and a few elementwise passes per kernel offset."""
    spatial = x.shape[2:]
    flat_stride = [int(np.prod(spatial[i + 1:])) for i in range(len(spatial))]
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    best = idx = seen = None
    for combo in itertools.product(*taps):
        grid = _axes([np.clip(p, 0, n - 1) for (p, _), n in zip(combo, spatial)])
        v = x[(slice(None), slice(None)) + grid]                            # (N, C, *out)
        valid = functools.reduce(np.logical_and, _axes([ok for _, ok in combo]))
        flat = sum(g * s for g, s in zip(grid, flat_stride))                # (*out) broadcastable
        if best is None:
            best = np.where(valid, v, low)
            idx = np.broadcast_to(flat, v.shape).astype(np.int64)
            seen = np.broadcast_to(valid, v.shape).copy()
            continue
        take = v > best
        if x.dtype.kind == "f":
            take |= np.isnan(v)
        take |= ~seen   # the first valid entry of a window that started in the padding
        take &= valid
        np.copyto(best, v, where=take)
        np.copyto(idx, flat, where=np.broadcast_to(take, idx.shape))
        seen |= valid
    return idx


def pool_taps(size: int, k: int, stride: int, pad: int, dilation: int, out: int):
    """max pooling's taps along one axis (see window_argmax): offset i reads out_j * stride - pad + i * dilation."""
    start = np.arange(out) * stride - pad
    return [(start + i * dilation, (start + i * dilation >= 0) & (start + i * dilation < size)) for i in range(k)]


def adaptive_taps(size: int, out: int):
    """adaptive pooling's taps along one axis: window j is [floor(j size / out), ceil((j + 1) size / out))."""
    i = np.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    return [(start + a, start + a < end) for a in range(int((end - start).max()))]


class PlaneGather(Function):
    """y[n, c, j] = x[n, c, index[n, c, j]] over each flattened (n, c) plane (a max pooling given its indices);
    dL/dx adds each gradient back at its index (a scatter-add: windows may share a maximum)."""

    saved_inputs = (1,)

    def forward(self, x, index):
        n, c = x.shape[:2]
        self.shape, self.index = x.shape, index
        return np.take_along_axis(x.reshape(n, c, -1), index.reshape(n, c, -1), axis=2).reshape(index.shape)

    def backward(self, grad):
        n, c = self.shape[:2]
        plane = int(np.prod(self.shape[2:]))
        at = self.index.reshape(n * c, -1) + (np.arange(n * c) * plane)[:, None]
        gx = np.bincount(at.ravel(), weights=grad.ravel(), minlength=n * c * plane).astype(grad.dtype)
        return gx.reshape(self.shape), None


class PlaneScatter(Function):
    """Max unpooling: y (N, C, *size) is zero but y[n, c, index[n, c, j]] = x[n, c, j] over each flattened
    plane (a later entry wins where indices repeat); dL/dx gathers the gradient at the indices."""

    saved_inputs = (1,)

    def forward(self, x, index, size=(1, 1)):
        n, c = x.shape[:2]
        self.index = index
        y = np.zeros((n, c, int(np.prod(size))), x.dtype)
        np.put_along_axis(y, index.reshape(n, c, -1), x.reshape(n, c, -1), axis=2)
        return y.reshape((n, c) + tuple(size))

    def backward(self, grad):
        n, c = grad.shape[:2]
        gx = np.take_along_axis(grad.reshape(n, c, -1), self.index.reshape(n, c, -1), axis=2)
        return gx.reshape(self.index.shape), None
