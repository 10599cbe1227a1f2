"""Convolution as one unfold and one matrix product (im2col), forward and backward side by side.

The unfold is a strided view of the padded input, (N, OH, OW, C, KH, KW): every output pixel's
receptive field without a Python loop over pixels; copying it gives the columns
X_col of shape (N*OH*OW, C*KH*KW), and the layer becomes the lecture's affine layer
Y = X_col W^T + b. Its gradient is the affine layer's gradient, folded back (col2im):
dW = dY^T X_col, db = sum dY, dX_col = dY W, then dX adds each column entry back to the input pixel
it was read from (a loop over the KH*KW kernel offsets, each one strided add over every pixel).
"""
from __future__ import annotations

import numpy as np

from chainrule.autograd import Function

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


def windows(xp: np.ndarray, kernel, stride, dilation, out_hw, channels_last: bool = False) -> np.ndarray:
    """The strided view of every window of xp (N, C, H, W): (N, C, OH, OW, KH, KW), or
    (N, OH, OW, C, KH, KW) with ``channels_last`` (the im2col row order). No copy."""
    n, c = xp.shape[:2]
    sn, sc, sh, sw = xp.strides
    (kh, kw), (s0, s1), (d0, d1), (oh, ow) = kernel, stride, dilation, out_hw
    if channels_last:
        return _strided(xp, (n, oh, ow, c, kh, kw), (sn, sh * s0, sw * s1, sc, sh * d0, sw * d1),
                        writeable=False)
    return _strided(xp, (n, c, oh, ow, kh, kw), (sn, sc, sh * s0, sw * s1, sh * d0, sw * d1), writeable=False)


def fold_add(target: np.ndarray, cols: np.ndarray, stride, dilation) -> None:
    """col2im: add cols (N, C, OH, OW, KH, KW) into target (N, C, Hp, Wp), each entry at the pixel its
    window read it from. One strided add per kernel offset."""
    oh, ow, kh, kw = cols.shape[2:]
    (s0, s1), (d0, d1) = stride, dilation
    for i in range(kh):
        for j in range(kw):
            target[:, :, i * d0:i * d0 + s0 * (oh - 1) + 1:s0, j * d1:j * d1 + s1 * (ow - 1) + 1:s1] += \
                cols[:, :, :, :, i, j]


class Conv2d(Function):
    """Y = X_col W^T + b on the unfolded input (im2col); dW = dY^T X_col, db = sum over N, OH, OW
    of dY, dX = col2im(dY W). With groups, each group of channels is its own such product.

    Inputs x (N, C, H, W), weight (O, C/groups, KH, KW), optional bias (O,); options stride,
    padding ((top, bottom), (left, right)), dilation (pairs) and groups.
    """

    saved_inputs = (0, 1)

    def forward(self, x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        oh = out_size(h, kh, stride[0], *padding[0], dilation[0])
        ow = out_size(wd, kw, stride[1], *padding[1], dilation[1])
        xp = pad_spatial(x, padding)
        # (N, OH, OW, C, KH, KW) view -> (N*OH*OW, C*KH*KW) copy: the only pass over the receptive fields
        cols = windows(xp, (kh, kw), stride, dilation, (oh, ow), channels_last=True).reshape(n * oh * ow, -1)
        self.cols, self.w, self.geom = cols, w, (x.shape, xp.shape, padding, stride, dilation, groups, oh, ow)
        if groups == 1:
            y = cols @ w.reshape(o, -1).T  # (N*OH*OW, C*KH*KW) @ (C*KH*KW, O) -> (N*OH*OW, O)
        else:
            og, k = o // groups, cg * kh * kw
            y = np.empty((cols.shape[0], o), dtype=np.result_type(cols, w))
            for g in range(groups):
                y[:, g * og:(g + 1) * og] = cols[:, g * k:(g + 1) * k] @ w[g * og:(g + 1) * og].reshape(og, k).T
        if b is not None:
            y += b
        return y.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)  # (N, O, OH, OW), a view in NHWC memory

    def backward(self, grad):
        xshape, pshape, padding, stride, dilation, groups, oh, ow = self.geom
        w, cols = self.w, self.cols
        o, cg, kh, kw = w.shape
        n, c = xshape[:2]
        gm = grad.transpose(0, 2, 3, 1).reshape(-1, o)  # (N*OH*OW, O); free when grad is in NHWC memory
        need = self.needs_input_grad
        gx = gw = gb = None
        og, k = o // groups, cg * kh * kw
        if need[1]:
            if groups == 1:
                gw = (gm.T @ cols).reshape(w.shape)  # (O, N*OH*OW) @ (N*OH*OW, C*KH*KW)
            else:
                gw = np.concatenate([gm[:, g * og:(g + 1) * og].T @ cols[:, g * k:(g + 1) * k]
                                     for g in range(groups)]).reshape(w.shape)
        if len(need) == 3 and need[2]:
            gb = gm.sum(axis=0)
        if need[0]:
            if groups == 1:
                gcols = gm @ w.reshape(o, -1)  # (N*OH*OW, O) @ (O, C*KH*KW)
            else:
                gcols = np.concatenate([gm[:, g * og:(g + 1) * og] @ w[g * og:(g + 1) * og].reshape(og, k)
                                        for g in range(groups)], axis=1)
            gcols = gcols.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)
            gxp = np.zeros(pshape, dtype=gcols.dtype)
            fold_add(gxp, gcols, stride, dilation)
            (pt, _), (pl, _) = padding
            gx = gxp[:, :, pt:pt + xshape[2], pl:pl + xshape[3]]
        return (gx, gw) if len(need) == 2 else (gx, gw, gb)
