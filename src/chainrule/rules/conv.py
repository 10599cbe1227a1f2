"""Convolution as one unfold and one matrix product (im2col), forward and backward side by side.

The unfold is a strided view of the padded input, (N, C, KH, KW, OH, OW): every output pixel's
receptive field without a Python loop over pixels. Copied, it gives each sample's X_col of shape
(C*KH*KW, OH*OW), one column per output pixel, and the layer becomes the lecture's affine layer
Y_n = W X_col + b with W reshaped to (O, C*KH*KW): one matrix product with a batch axis over the
samples (and groups), contiguous operands, landing in the output's (N, O, OH*OW) layout. Its
gradient is the affine layer's gradient, folded back (col2im): dW = sum_n dY_n X_col^T,
db = sum dY, dX_col = W^T dY_n, then dX adds each column entry back to the input pixel it was read
from (a loop over the KH*KW kernel offsets, each one strided add over every pixel).
"""
from __future__ import annotations

import numpy as np

from chainrule.core import Function, is_grad_enabled

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


def wide_windows(xp: np.ndarray, kernel, dilation, run: int) -> np.ndarray:
    """The (N, C, KH, KW, run) strided view of a C-contiguous xp (N, C, Hp, Wp) for stride 1: for each
    sample, channel and kernel offset (i, j), the ``run`` entries of the flattened image from row
    i * dilation, column j * dilation on; entry oh * Wp + ow is output pixel (oh, ow)'s input. No copy."""
    n, c = xp.shape[:2]
    sn, sc, sh, sw = xp.strides
    (kh, kw), (d0, d1) = kernel, dilation
    return _strided(xp, (n, c, kh, kw, run), (sn, sc, sh * d0, sw * d1, sw), writeable=False)


def wide_fold_add(target: np.ndarray, cols: np.ndarray, dilation, run: int) -> None:
    """col2im at stride 1: add the first ``run`` entries of cols (N, C, KH, KW, OH*Wp) into a
    C-contiguous target (N, C, Hp, Wp), each kernel offset's block as one run per sample and channel
    (the reverse of wide_windows)."""
    n, c, hp, wp = target.shape
    flat = target.reshape(n, c, hp * wp)
    kh, kw = cols.shape[2:4]
    for i in range(kh):
        for j in range(kw):
            at = i * dilation[0] * wp + j * dilation[1]
            flat[:, :, at:at + run] += cols[:, :, i, j, :run]


class Conv2d(Function):
    """Y_n = W X_n + b per sample on its unfolded input X_n (im2col, every output pixel a column);
    dW = sum_n dY_n X_n^T, db = sum over N, OH, OW of dY, dX_n = col2im(W^T dY_n). With groups, each
    group of channels is its own such product (one more batch axis of the same matmul).

    Inputs x (N, C, H, W), weight (O, C/groups, KH, KW), optional bias (O,); options stride,
    padding ((top, bottom), (left, right)), dilation (pairs) and groups.

    The columns are per sample, (N, C*KH*KW, OH*OW): the products land in the output's own layout
    (N, O, OH*OW) and dY is read in its own, with no transposing copy either way. At stride 1 and
    a narrow output the columns run the full padded width: output pixel (oh, x) for every x < Wp, of
    which the last Wp - OW are never kept. Then the columns of one sample at one kernel offset are ONE
    contiguous run of the padded input (rows oh + i, shifted by j), so the unfold and the fold copy
    long runs instead of OW-long rows; the product does Wp / OW more work on columns it drops.
    In training the columns of a small batch stay from the forward to the backward (``keep_budget``),
    and dW is computed as its transpose, (K, OH*OW) @ (OH*OW, O/G) per sample: the same products
    with the long side in the rows, which OpenBLAS runs faster (about 1.0 against 1.7 ms for the course's
    ConvNet layer at batch 16); db is a product with a vector of ones.
    """

    saved_inputs = (0, 1)
    wide_below = 16  # stride-1 outputs narrower than this run the padded width (short rows copy slowly;
    #                  wider ones would pay more in the product's dropped columns than they save)
    unfold_budget = 2 << 20  # bytes of unfolded columns at a time: a part stays in cache for its product
    keep_budget = 16 << 20  # the most bytes of columns kept from the forward for the backward (below
    #                         the allocator's mmap threshold, so the memory is reused, not faulted in)
    _scratch = {"cols": [], "grad": []}  # buffers left by earlier calls (popped and pushed back: thread-safe)

    def forward(self, x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
        y = self._forward(x, w, stride, padding, dilation, groups, keep=is_grad_enabled())
        if b is not None:
            y += b[:, None, None]
        return y

    def _forward(self, x, w, stride, padding, dilation, groups, keep):
        """Y = W X_col without the bias; with ``keep``, the columns may stay for the backward (_parts)."""
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        oh = out_size(h, kh, stride[0], *padding[0], dilation[0])
        ow = out_size(wd, kw, stride[1], *padding[1], dilation[1])
        xp = np.ascontiguousarray(pad_spatial(x, padding))
        rw = xp.shape[3] if stride == (1, 1) and ow < self.wide_below else ow  # the width of a row of columns
        wm = w.reshape(groups, o // groups, cg * kh * kw)
        self.xp, self.wm, self.geom = xp, wm, (x.shape, w.shape, padding, stride, dilation, groups, oh, ow, rw)
        self.kept = None
        y = np.empty((n, o, oh, ow), np.result_type(x, w))
        for s, cols in self._parts(xp, w.shape, keep=keep):
            m = s.stop - s.start
            if rw == ow:  # (G, O/G, K) @ (n, G, K, OH*OW) -> (n, G, O/G, OH*OW): the output's layout
                np.matmul(wm, cols, out=y[s].reshape(m, groups, o // groups, -1))
            else:
                y[s] = np.matmul(wm, cols).reshape(m, o, oh, rw)[..., :ow]
        return y

    def _parts(self, xp, wshape, keep=False):
        """(slice of the batch, its columns (n, G, C/G*KH*KW, OH*RW)) for parts of the batch whose columns
        fit in ``unfold_budget`` bytes. The columns are KH*KW times the input: unfolded a cache-sized
        part at a time, they are read hot by the product. With ``keep`` and all the batch's columns
        within ``keep_budget`` bytes, each part is unfolded into its place in one array kept for the
        backward (``self.kept``), which then reads it rather than unfolding again; otherwise into one
        reused buffer (fresh pages cost more than the copy), and the backward unfolds again."""
        if self.kept is not None:  # the forward's columns, kept
            step, _ = self._step(xp.shape[1], xp.itemsize, wshape)
            for s in self._slices(xp.shape[0], step):
                yield s, self.kept[s]
            return
        _, _, _, stride, dilation, groups, oh, ow, rw = self.geom
        o, cg, kh, kw = wshape
        n, c = xp.shape[:2]
        step, per = self._step(xp.shape[1], xp.itemsize, wshape)
        keep = keep and n * per * xp.itemsize <= self.keep_budget
        buf = np.empty(n * per, xp.dtype) if keep else self._take("cols", min(step, n) * per, xp.dtype)
        try:
            for s in self._slices(n, step):
                m = s.stop - s.start
                cols = (buf[s.start * per:s.stop * per] if keep else buf[:m * per]).reshape(m, c, kh, kw, oh * rw)
                if rw == ow:  # the (n, C, KH, KW, OH, OW) view copied in its own order
                    v = windows(xp[s], (kh, kw), stride, dilation, (oh, ow))
                    np.copyto(cols.reshape(m, c, kh, kw, oh, ow), v)
                else:  # one run of (OH - 1) RW + OW entries per sample, channel and kernel offset
                    run = (oh - 1) * rw + ow
                    np.copyto(cols[..., :run], wide_windows(xp[s], (kh, kw), dilation, run))
                    cols[..., run:] = 0  # the dropped columns of the last row: read, so finite
                yield s, cols.reshape(m, groups, cg * kh * kw, oh * rw)
        finally:
            if keep:
                self.kept = buf[:n * per].reshape(n, groups, cg * kh * kw, oh * rw)
            else:
                self._give("cols", buf)

    def _step(self, c: int, itemsize: int, wshape):
        """(samples per part, column entries per sample) for c input channels."""
        _, _, _, _, _, _, oh, _, rw = self.geom
        per = c * wshape[2] * wshape[3] * oh * rw
        return max(1, self.unfold_budget // (per * itemsize)), per

    @staticmethod
    def _slices(n: int, step: int):
        return [slice(i, min(i + step, n)) for i in range(0, n, step)]

    @staticmethod
    def _give(kind: str, buf: np.ndarray) -> None:
        if len(Conv2d._scratch[kind]) < 2:
            Conv2d._scratch[kind].append(buf)

    def _take(self, kind: str, size: int, dtype) -> np.ndarray:
        """A flat buffer of at least ``size`` entries: one an earlier call left, or a new one."""
        try:
            buf = Conv2d._scratch[kind].pop()
        except IndexError:
            buf = None
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = np.empty(max(size, self.unfold_budget // np.dtype(dtype).itemsize), dtype)
        return buf

    def backward(self, grad):
        xshape, wshape, padding, stride, dilation, groups, oh, ow, rw = self.geom
        wm, xp = self.wm, self.xp
        n = xshape[0]
        o, cg, kh, kw = wshape
        need = self.needs_input_grad
        gx = gw = gb = None
        gbuf = None
        if rw == ow:
            gy = np.ascontiguousarray(grad)
        else:  # dY in the columns' layout, (N, O, OH, RW) with zeros in the dropped columns, in a reused buffer
            gbuf = self._take("grad", grad.size // ow * rw, grad.dtype)
            gy = gbuf[:grad.size // ow * rw].reshape(n, o, oh, rw)
            np.copyto(gy[..., :ow], grad)
            gy[..., ow:] = 0
        if len(need) == 3 and need[2]:  # (N, O, OH*RW) @ ones (OH*RW,) -> (N, O), summed over N (dropped columns are 0)
            gb = np.matmul(gy.reshape(n, o, oh * rw), np.ones(oh * rw, grad.dtype)).sum(axis=0)
        gy = gy.reshape(n, groups, o // groups, oh * rw)
        if need[1]:
            gwt = np.zeros((groups, cg * kh * kw, o // groups), grad.dtype)
            for s, cols in self._parts(xp, wshape):
                # dW^T: (n, G, K, OH*RW) @ (n, G, OH*RW, O/G) -> (n, G, K, O/G), summed over the part's
                # samples (the product's long side in its rows runs faster than dW's (O/G, K) orientation)
                gwt += np.matmul(cols, gy[s].transpose(0, 1, 3, 2)).sum(axis=0)
            gw = np.ascontiguousarray(gwt.transpose(0, 2, 1)).reshape(wshape)
        self.kept = None  # the columns' memory goes back before dX's is taken
        if need[0]:
            gx = self._input_grad(gy, grad.dtype)
        if gbuf is not None:
            self._give("grad", gbuf)
        return (gx, gw) if len(need) == 2 else (gx, gw, gb)

    def _input_grad(self, gy, dtype):
        """dX = col2im(W^T dY): the column gradients a part of the batch at a time, each added back to
        the input pixels it was read from (one strided add per kernel offset)."""
        xshape, wshape, padding, stride, dilation, groups, oh, ow, rw = self.geom
        n, c = xshape[:2]
        o, cg, kh, kw = wshape
        (pt, pb), (pl, pr) = padding
        gxp = np.zeros((n, c, xshape[2] + pt + pb, xshape[3] + pl + pr), dtype=dtype)  # (N, C, Hp, Wp)
        wt = self.wm.transpose(0, 2, 1)
        step, per = self._step(c, gxp.itemsize, wshape)
        buf = self._take("cols", min(step, n) * per, dtype)
        for s in self._slices(n, step):
            m = s.stop - s.start
            gcols = buf[:m * per].reshape(m, groups, cg * kh * kw, oh * rw)
            np.matmul(wt, gy[s], out=gcols)  # (G, K, O/G) @ (n, G, O/G, OH*RW) -> (n, G, K, OH*RW)
            if rw == ow:
                fold_add(gxp[s], gcols.reshape(m, c, kh, kw, oh, ow), stride, dilation)
            else:
                wide_fold_add(gxp[s], gcols.reshape(m, c, kh, kw, oh * rw), dilation, (oh - 1) * rw + ow)
        self._give("cols", buf)
        gx = gxp[:, :, pt:pt + xshape[2], pl:pl + xshape[3]]
        return gxp if gx.shape == gxp.shape else np.ascontiguousarray(gx)


class ConvTranspose2d(Conv2d):
    """The transposed convolution, Y = col2im(W^T X_n) + b: the input gradient of the Conv2d with this
    weight (Cin, Cout/groups, KH, KW) whose output X is. Its gradients are that Conv2d's forward and
    weight gradient on dY: dX = conv2d(dY, W), dW = sum_n X_n unfold(dY)_n^T (the same columns for
    both), db = sum over N, OH, OW of dY.

    Inputs x (N, Cin, H, W), weight (Cin, Cout/groups, KH, KW), optional bias (Cout,); options stride,
    padding, output_padding, dilation (pairs) and groups. Output (N, Cout, OH, OW) with
    OH = (H - 1) stride - 2 padding + dilation (KH - 1) + output_padding + 1. One product and one fold
    (a strided add per kernel offset), no work on inserted zeros.
    """

    saved_inputs = (0, 1)

    def forward(self, x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1),
                groups=1):
        n, ci, h, wd = x.shape
        _, cog, kh, kw = w.shape
        oh, ow = ((i - 1) * s - 2 * p + d * (k - 1) + e + 1 for i, s, p, d, k, e in
                  zip((h, wd), stride, padding, dilation, (kh, kw), output_padding))
        pads = tuple((p, p) for p in padding)
        # the Conv2d from (N, Cout, OH, OW) to x's (N, Cin, H, W), whose input gradient this is
        self.geom = ((n, cog * groups, oh, ow), w.shape, pads, tuple(stride), tuple(dilation), groups, h, wd, wd)
        self.wm = w.reshape(groups, ci // groups, cog * kh * kw)
        self.x, self.w = x, w
        self.back_pads = tuple((p, p - e) for p, e in zip(padding, output_padding))  # dY's pads for an H-long dX
        dt = np.result_type(x, w)
        y = self._input_grad(np.ascontiguousarray(x, dt).reshape(n, groups, ci // groups, h * wd), dt)
        if b is not None:
            y += b[:, None, None]
        return y

    def backward(self, grad):
        stride, dilation, groups = self.geom[3:6]
        need = self.needs_input_grad
        conv = object.__new__(Conv2d)  # dX is its forward on dY; its columns of dY stay for dW
        gx = conv._forward(grad, self.w, stride, self.back_pads, dilation, groups, keep=bool(need[1]))
        gw = gb = None
        if need[1]:
            conv.needs_input_grad = (False, True)
            gw = conv.backward(self.x)[1]
        if len(need) == 3 and need[2]:
            gb = grad.sum(axis=(0, 2, 3))
        return (gx if need[0] else None, gw) if len(need) == 2 else (gx if need[0] else None, gw, gb)
