"""Convolution as one unfold and one matrix product (im2col), forward and backward side by side.

The unfold is a strided view of the padded input, (N, C, KH, KW, OH, OW): every output pixel's
receptive field without a Python loop over pixels; copying it gives each sample's columns X_col of
shape (C*KH*KW, OH*OW), and the layer becomes the lecture's affine layer Y = W X_col + b with W
reshaped to (O, C*KH*KW), one batched matmul whose result is already (N, O, OH*OW). Its gradient is
the affine layer's gradient, folded back (col2im): dW = sum_n dY_n X_col,n^T, db = sum dY,
dX_col = W^T dY, then dX adds each column entry back to the input pixel it was read from (a loop
over the KH*KW kernel offsets, each one strided add over every pixel).
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function

_strided = np.lib.stride_tricks.as_strided


def out_size(n: int, k: int, stride: int, pad_before: int, pad_after: int, dilation: int) -> int:
    """Output length of a sliding window: floor((n + pads - dilation (k - 1) - 1) / stride) + 1."""
    return (n + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1


def pad_spatial(x: np.ndarray, pads, value=0) -> np.ndarray:
    """x (N, C, H, W) with ``pads`` ((top, bottom), (left, right)) of ``value`` around its last two axes
    (a negative "after" pad crops: the part no window reads)."""
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return x
    n, c, h, w = x.shape
    out = np.full((n, c, h + pt + max(pb, 0), w + pl + max(pr, 0)), value, dtype=x.dtype)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


def windows(xp: np.ndarray, kernel, stride, dilation, out_hw) -> np.ndarray:
    """The strided view of every window of xp (N, C, H, W) as (N, C, KH, KW, OH, OW): per sample, row
    (c, i, j) of its im2col matrix holds every output pixel's input at kernel offset (i, j). No copy."""
    n, c = xp.shape[:2]
    sn, sc, sh, sw = xp.strides
    (kh, kw), (s0, s1), (d0, d1), (oh, ow) = kernel, stride, dilation, out_hw
    return _strided(xp, (n, c, kh, kw, oh, ow), (sn, sc, sh * d0, sw * d1, sh * s0, sw * s1), writeable=False)


def offset(a: np.ndarray, i: int, j: int, stride, dilation, out_hw) -> np.ndarray:
    """The (N, C, OH, OW) strided slice of a (N, C, Hp, Wp) read at kernel offset (i, j)."""
    (s0, s1), (d0, d1), (oh, ow) = stride, dilation, out_hw
    return a[:, :, i * d0:i * d0 + s0 * (oh - 1) + 1:s0, j * d1:j * d1 + s1 * (ow - 1) + 1:s1]


def fold_add(target: np.ndarray, cols: np.ndarray, stride, dilation) -> None:
    """col2im: add cols (N, C, KH, KW, OH, OW) into target (N, C, Hp, Wp), each entry at the pixel its
    window read it from. One strided add per kernel offset."""
    kh, kw, oh, ow = cols.shape[2:]
    for i in range(kh):
        for j in range(kw):
            offset(target, i, j, stride, dilation, (oh, ow))[...] += cols[:, :, i, j]


class Conv2d(Function):
    """Y_n = W X_col,n + b per sample on its unfolded input (im2col); dW = sum_n dY_n X_col,n^T,
    db = sum over N, OH, OW of dY, dX_n = col2im(W^T dY_n). With groups, each group of channels is
    its own such product (one more batch axis of the same matmul).

    Inputs x (N, C, H, W), weight (O, C/groups, KH, KW), optional bias (O,); options stride,
    padding ((top, bottom), (left, right)), dilation (pairs) and groups.
    """

    saved_inputs = (0, 1)
    unfold_budget = 16 << 20  # bytes of unfolded columns at a time: a big batch is unfolded in parts

    def forward(self, x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        oh = out_size(h, kh, stride[0], *padding[0], dilation[0])
        ow = out_size(wd, kw, stride[1], *padding[1], dilation[1])
        xp = pad_spatial(x, padding)
        wm = w.reshape(groups, o // groups, cg * kh * kw)
        # a batch whose columns fit in unfold_budget keeps them for the backward; a bigger one is
        # unfolded a part at a time, and again in the backward (the copy costs a few percent of the
        # products, the columns are KH*KW times the input)
        self.xp, self.wm, self.geom = xp, wm, (x.shape, w.shape, padding, stride, dilation, groups, oh, ow)
        y = np.empty((n, groups, o // groups, oh * ow), np.result_type(x, w))
        chunks = self._chunks(n, c * kh * kw * oh * ow * xp.itemsize)
        for s in chunks:
            cols = self._unfold(xp[s], w.shape, stride, dilation, groups, (oh, ow))
            np.matmul(wm, cols, out=y[s])  # (G, O/G, K) @ (n, G, K, OH*OW) -> (n, G, O/G, OH*OW)
        self.cols = cols if len(chunks) == 1 else None
        y = y.reshape(n, o, oh, ow)
        if b is not None:
            y += b[:, None, None]
        return y

    def _chunks(self, n: int, bytes_per_sample: int):
        """Slices of the batch whose unfolded columns fit in ``unfold_budget`` bytes (all of it when
        they do): the columns are KH*KW times the input, so a big batch is unfolded a part at a time."""
        step = max(1, self.unfold_budget // max(bytes_per_sample, 1))
        return [slice(i, min(i + step, n)) for i in range(0, n, step)]

    @staticmethod
    def _unfold(xp, wshape, stride, dilation, groups, out_hw):
        """(N, C, KH, KW, OH, OW) view -> (N, G, C/G*KH*KW, OH*OW) copy: one pass over the receptive fields."""
        o, cg, kh, kw = wshape
        return windows(xp, (kh, kw), stride, dilation, out_hw).reshape(xp.shape[0], groups, cg * kh * kw, -1)

    def backward(self, grad):
        xshape, wshape, padding, stride, dilation, groups, oh, ow = self.geom
        wm, xp = self.wm, self.xp
        n, c = xshape[:2]
        gm = grad.reshape(n, groups, -1, oh * ow)  # (N, G, O/G, OH*OW)
        need = self.needs_input_grad
        gx = gw = gb = None
        chunks = self._chunks(n, c * wshape[2] * wshape[3] * oh * ow * xp.itemsize)
        if need[1]:
            gw = np.zeros(wm.shape, grad.dtype)
            for s in chunks:
                cols = self.cols if self.cols is not None else \
                    self._unfold(xp[s], wshape, stride, dilation, groups, (oh, ow))
                # (n, G, O/G, P) @ (n, G, P, K) -> (n, G, O/G, K), summed over the samples
                gw += np.matmul(gm[s], cols.transpose(0, 1, 3, 2)).sum(axis=0)
            gw = gw.reshape(wshape)
        if len(need) == 3 and need[2]:
            gb = grad.sum(axis=(0, 2, 3))
        if need[0]:
            gxp = np.zeros(xp.shape, dtype=grad.dtype)
            wt = wm.transpose(0, 2, 1)
            for s in chunks:
                gcols = np.matmul(wt, gm[s])  # (G, K, O/G) @ (n, G, O/G, P) -> (n, G, K, P)
                fold_add(gxp[s], gcols.reshape(-1, c, wshape[2], wshape[3], oh, ow), stride, dilation)
            (pt, _), (pl, _) = padding
            gx = gxp[:, :, pt:pt + xshape[2], pl:pl + xshape[3]]
        return (gx, gw) if len(need) == 2 else (gx, gw, gb)
