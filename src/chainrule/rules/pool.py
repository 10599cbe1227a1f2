"""Pooling over 1-, 2- and 3-d windows: max, average, adaptive average and max by index, forward and
backward side by side.

Each reads its windows as strided slices of the padded input, one per kernel offset (no loop over
pixels).
"""
from __future__ import annotations

import functools
import itertools

import numpy as np

from chainrule.core import Function
from chainrule.rules.conv import crop, offset, pad_spatial


def pool_out_size(n: int, k: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length: floor (or ceil) of (n + 2 pad - dilation (k - 1) - 1) / stride,
    plus 1; in ceil mode the last window must start inside the input or its left padding."""
    span = n + 2 * pad - dilation * (k - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= n + pad:
        out -= 1
    return out


def _geometry(shape, kernel, stride, padding, dilation, ceil_mode):
    """Output size and the (before, after) pads per spatial axis that make every window fit."""
    outs, pads = [], []
    for n, k, s, p, d in zip(shape[2:], kernel, stride, padding, dilation):
        o = pool_out_size(n, k, s, p, d, ceil_mode)
        outs.append(o)
        pads.append((p, (o - 1) * s + d * (k - 1) + 1 - n - p))  # after-pad: may exceed p (ceil) or be < p
    return tuple(outs), tuple(pads)


class MaxPool(Function):
    """y = max over each window; dL/dx routes each window's gradient to its maximum, the first one in
    row-major window order on ties (PyTorch's rule; a NaN counts as the maximum, the last NaN wins),
    adding up where windows overlap.

    Input (N, C, *S) with 1, 2 or 3 spatial axes; options kernel, stride, padding, dilation (one per
    axis) and ceil_mode. The forward takes the max along the first spatial axis, then the next (K - 1
    strided passes per axis; the first ones read whole rows); the backward loops over the prod(K)
    kernel offsets, each one strided elementwise pass over all windows.
    """

    saved_inputs = (0,)

    def forward(self, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False):
        out, pads = _geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
        low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xp = pad_spatial(x, pads, low)
        self.xp, self.geom = xp, (x.shape, pads, kernel, stride, dilation, out)
        red = xp  # a window's max is the max over its first axis of the maxima over the others: axis by axis
        for ax, (k, s, d, o) in enumerate(zip(kernel, stride, dilation, out)):
            rest = (slice(None),) * (len(out) - 1 - ax)
            taps = [red[(Ellipsis, slice(i * d, i * d + s * (o - 1) + 1, s)) + rest] for i in range(k)]
            red = taps[0] if k == 1 else np.maximum(taps[0], taps[1])  # NaN propagates
            for v in taps[2:]:
                np.maximum(red, v, out=red)
        self.out = red if red.base is None else red.copy()  # (a view of xp where every kernel size is 1)
        return self.out

    def backward(self, grad):
        xshape, pads, kernel, stride, dilation, out_size = self.geom
        xp, out = self.xp, self.out
        overlap = any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))
        tiled = all(k == s and d == 1 and o * s == p for k, s, d, o, p in zip(kernel, stride, dilation, out.shape[2:],
                                                                              xp.shape[2:]))
        gxp = (np.empty if tiled else np.zeros)(xp.shape, grad.dtype)  # tiled: each entry written once below
        nan = out != out
        free = ~nan  # windows whose gradient is not yet routed (a NaN window routes to its LAST NaN)
        first = np.empty(out.shape, bool)
        offsets = list(itertools.product(*map(range, kernel)))
        for k, offs in enumerate(offsets):
            v = offset(xp, offs, stride, dilation, out_size)
            np.equal(v, out, out=first)
            first &= free  # the first maximum of each window
            if k < len(offsets) - 1:
                free ^= first
            target = offset(gxp, offs, stride, dilation, out_size)
            if overlap:
                target += grad * first
            else:  # every input element is in at most one window: write, do not add
                np.multiply(grad, first, out=target)
        if nan.any():
            taken = ~nan
            for offs in reversed(offsets):
                v = offset(xp, offs, stride, dilation, out_size)
                last = (v != v) & ~taken
                taken |= last
                offset(gxp, offs, stride, dilation, out_size)[...] += grad * last
        return crop(gxp, pads, xshape[2:])


def _avg_counts(n: int, k: int, s: int, p: int, out: int, include_pad: bool) -> np.ndarray:
    """How many elements each window along one axis averages (PyTorch's divisor, per axis)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


class AvgPool(Function):
    """y = the mean of each window (zero padding counted or not, PyTorch's divisors in ceil mode);
    dL/dx spreads each window's gradient evenly, g / divisor, over the window.

    Input (N, C, *S) with 1, 2 or 3 spatial axes; options kernel, stride, padding (one per axis),
    ceil_mode, count_include_pad, divisor_override.
    """

    def forward(self, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False,
                count_include_pad=True, divisor_override=None):
        ones = (1,) * len(kernel)
        out, pads = _geometry(x.shape, kernel, stride, padding, ones, ceil_mode)
        xp = pad_spatial(x, pads)
        sums = None
        for offs in itertools.product(*map(range, kernel)):
            v = offset(xp, offs, stride, ones, out)
            sums = v.copy() if sums is None else np.add(sums, v, out=sums)
        if divisor_override:
            div = np.asarray(divisor_override, x.dtype)
        else:
            counts = [_avg_counts(*a, count_include_pad) for a in zip(x.shape[2:], kernel, stride, padding, out)]
            div = functools.reduce(np.multiply.outer, counts).astype(x.dtype)
        self.div, self.geom = div, (x.shape, xp.shape, pads, kernel, stride, out)
        return sums / div

    def backward(self, grad):
        xshape, pshape, pads, kernel, stride, out = self.geom
        g = grad / self.div
        gxp = np.zeros(pshape, grad.dtype)
        ones = (1,) * len(kernel)
        for offs in itertools.product(*map(range, kernel)):
            offset(gxp, offs, stride, ones, out)[...] += g
        return crop(gxp, pads, xshape[2:])


def adaptive_matrix(n: int, out: int, dtype) -> np.ndarray:
    """(out, n) averaging matrix: row i averages x[floor(i n / out) : ceil((i + 1) n / out)]."""
    i = np.arange(out)
    start, end = (i * n) // out, -((-(i + 1) * n) // out)
    cols = np.arange(n)
    m = ((cols >= start[:, None]) & (cols < end[:, None])).astype(dtype)
    return m / (end - start)[:, None].astype(dtype)


def _along(x: np.ndarray, a: np.ndarray, axis: int) -> np.ndarray:
    """The (out, n) matrix a applied along ``axis`` (negative) of x: (..., n, ...) -> (..., out, ...)."""
    if axis == -1:
        return x @ a.T
    if axis == -2:
        return a @ x
    return np.moveaxis(np.moveaxis(x, axis, -1) @ a.T, -1, axis)


class AdaptiveAvgPool(Function):
    """y = x with the (out, in) averaging matrix A of PyTorch's adaptive windows applied along each
    spatial axis (for images A_h x A_w^T per channel); a linear map, so dL/dx applies each A^T
    (A_h^T g A_w). Input (..., *S) with 1, 2 or 3 spatial axes, option output_size (one per axis)."""

    def forward(self, x, output_size=(1, 1)):
        d = len(output_size)
        self.mats = [adaptive_matrix(n, o, x.dtype) for n, o in zip(x.shape[-d:], output_size)]
        for i, a in enumerate(self.mats):
            x = _along(x, a, i - d)
        return x

    def backward(self, grad):
        d = len(self.mats)
        for i, a in enumerate(self.mats):
            grad = _along(grad, a.T, i - d)
        return grad


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
    best = idx = seen = None
    for combo in itertools.product(*taps):
        grid = _axes([np.clip(p, 0, n - 1) for (p, _), n in zip(combo, spatial)])
        v = x[(slice(None), slice(None)) + grid]                            # (N, C, *out)
        valid = functools.reduce(np.logical_and, _axes([ok for _, ok in combo]))
        flat = sum(g * s for g, s in zip(grid, flat_stride))                # (*out) broadcastable
        if best is None:
            best = v.copy()   # entries outside the input are never compared: ~seen below takes over them
            idx = np.broadcast_to(flat, v.shape).astype(np.int64)
            seen = np.broadcast_to(valid, v.shape).copy()
            continue
        take = v > best
        if x.dtype.kind == "f":
            take |= np.isnan(v)
        take |= ~seen   # the first valid entry of a window that started in the padding
        take &= valid
        np.copyto(best, v, where=take)
        np.copyto(idx, flat, where=take)
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
