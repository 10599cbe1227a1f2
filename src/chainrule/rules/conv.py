"""Convolution as one unfold and one matrix product (im2col), forward and backward side by side, over
any number of spatial axes (1-d, 2-d and 3-d share this one code path).

The unfold is a strided view of the padded input, (N, C, *K, *O) (for images (N, C, KH, KW, OH, OW)):
every output pixel's receptive field without a Python loop over pixels. Copied, it gives each
sample's X_col of shape (C*prod(K), prod(O)), one column per output pixel, and the layer becomes the
lecture's affine layer Y_n = W X_col + b with W reshaped to (O, C*prod(K)): one matrix product with
a batch axis over the samples (and groups), contiguous operands, landing in the output's
(N, O, prod(O)) layout. Its gradient is the affine layer's gradient, folded back (col2im):
dW = sum_n dY_n X_col^T, db = sum dY, dX_col = W^T dY_n, then dX adds each column entry back to the
input pixel it was read from (a loop over the prod(K) kernel offsets, each one strided add over
every pixel).
"""
from __future__ import annotations

import itertools
import math
import os

import numpy as np

from chainrule.core import Function, is_grad_enabled

try:  # NumPy's own probe of the processor's features (a private name: absent, no small products)
    from numpy._core._multiarray_umath import __cpu_features__ as _CPU
except ImportError:  # pragma: no cover - another NumPy layout
    _CPU = {}

_strided = np.lib.stride_tricks.as_strided
_ALL2 = (slice(None), slice(None))  # the batch and channel axes, whole


def out_size(n: int, k: int, stride: int, pad_before: int, pad_after: int, dilation: int) -> int:
    """Output length of a sliding window: floor((n + pads - dilation (k - 1) - 1) / stride) + 1."""
    return (n + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1


def pad_spatial(x: np.ndarray, pads, value=0) -> np.ndarray:
    """x (N, C, *S) with ``pads`` ((before, after), ...) of ``value`` around its spatial axes (a negative
    "after" pad is not applied: the part no window reads stays)."""
    if not any(b or a for b, a in pads):
        return x
    out = np.full(x.shape[:2] + tuple(n + b + max(a, 0) for n, (b, a) in zip(x.shape[2:], pads)), value, x.dtype)
    out[_ALL2 + tuple(slice(b, b + n) for n, (b, _) in zip(x.shape[2:], pads))] = x
    return out


def crop(a: np.ndarray, pads, shape) -> np.ndarray:
    """The (N, C, *shape) part of a padded array that the unpadded input occupied."""
    return a[_ALL2 + tuple(slice(b, b + n) for (b, _), n in zip(pads, shape))]


def windows(xp: np.ndarray, kernel, stride, dilation, out) -> np.ndarray:
    """The strided view of every window of xp (N, C, *S) as (N, C, *K, *O): per sample, row (c, *k) of its
    im2col matrix holds every output pixel's input at kernel offset k. No copy."""
    sp = xp.strides[2:]
    return _strided(xp, xp.shape[:2] + tuple(kernel) + tuple(out),
                    xp.strides[:2] + tuple(s * d for s, d in zip(sp, dilation)) + tuple(s * t for s, t in zip(sp, stride)),
                    writeable=False)


def offset(a: np.ndarray, offs, stride, dilation, out) -> np.ndarray:
    """The (N, C, *O) strided slice of a padded (N, C, *S) read at kernel offset ``offs``."""
    return a[(Ellipsis,) + tuple(slice(i * d, i * d + s * (o - 1) + 1, s)
                                 for i, s, d, o in zip(offs, stride, dilation, out))]


def fold_add(target: np.ndarray, cols: np.ndarray, stride, dilation) -> None:
    """col2im: add cols (N, C, *K, *O) into target (N, C, *S), each entry at the pixel its window read it
    from. One strided add per kernel offset."""
    d = target.ndim - 2
    kernel, out = cols.shape[2:2 + d], cols.shape[2 + d:]
    for offs in itertools.product(*map(range, kernel)):
        offset(target, offs, stride, dilation, out)[...] += cols[_ALL2 + offs]


def wide_windows(xp: np.ndarray, kernel, dilation, run: int) -> np.ndarray:
    """The (N, C, KH, KW, run) strided view of a C-contiguous image xp (N, C, Hp, Wp) for stride 1: for each
    sample, channel and kernel offset (i, j), the ``run`` entries of the flattened image from row
    i * dilation, column j * dilation on; entry oh * Wp + ow is output pixel (oh, ow)'s input. No copy."""
    n, c = xp.shape[:2]
    sn, sc, sh, sw = xp.strides
    (kh, kw), (d0, d1) = kernel, dilation
    return _strided(xp, (n, c, kh, kw, run), (sn, sc, sh * d0, sw * d1, sw), writeable=False)


def wide_fold_add(target: np.ndarray, cols: np.ndarray, dilation, run: int) -> None:
    """col2im at stride 1: add the first ``run`` entries of cols (N, C, KH, KW, OH*Wp) into a
    C-contiguous image target (N, C, Hp, Wp), each kernel offset's block as one run per sample and
    channel (the reverse of wide_windows)."""
    n, c, hp, wp = target.shape
    flat = target.reshape(n, c, hp * wp)
    kh, kw = cols.shape[2:4]
    for i in range(kh):
        for j in range(kw):
            at = i * dilation[0] * wp + j * dilation[1]
            flat[:, :, at:at + run] += cols[:, :, i, j, :run]


def _small_kernels() -> bool:
    """Whether NumPy's OpenBLAS runs its AVX-512 (SkylakeX) kernels, which include unpacked small-matrix
    products: an AVX-512 processor, and no OPENBLAS_CORETYPE holding OpenBLAS to older kernels."""
    core = os.environ.get("OPENBLAS_CORETYPE", "skylakex").lower()
    return bool(_CPU.get("AVX512_SKX")) and core in ("skylakex", "cooperlake", "sapphirerapids")


class Conv(Function):
    """Y_n = W X_n + b per sample on its unfolded input X_n (im2col, every output pixel a column);
    dW = sum_n dY_n X_n^T, db = sum over N and the output pixels of dY, dX_n = col2im(W^T dY_n). With
    groups, each group of channels is its own such product (one more batch axis of the same matmul).

    Inputs x (N, C, *S), weight (O, C/groups, *K), optional bias (O,), for 1, 2 or 3 spatial axes;
    options stride, padding ((before, after) per axis), dilation (one per axis) and groups.

    The columns are per sample, (N, C*prod(K), prod(O)): the products land in the output's own layout
    (N, O, prod(O)) and dY is read in its own, with no transposing copy either way. A bias rides in the
    product: a row of ones under each group's columns and the bias beside W, so Y needs no second pass
    and db comes out of dW's product. For images at stride 1 and a narrow output the columns run
    the full padded width: output pixel (oh, x) for every x < Wp, of which the last Wp - OW are never
    kept. Then the columns of one sample at one kernel offset are ONE contiguous run of the padded
    input (rows oh + i, shifted by j), so the unfold and the fold copy long runs instead of OW-long
    rows; the product does Wp / OW more work on columns it drops.
    In training the columns of a small batch stay from the forward to the backward (``keep_budget``),
    and dW is computed as its transpose, (K, OH*OW) @ (OH*OW, O/G) per sample: the same products
    with the long side in the rows, which OpenBLAS runs faster (about 1.0 against 1.7 ms for the course's
    ConvNet layer at batch 16).
    """

    saved_inputs = (0, 1)
    wide_below = 16  # stride-1 outputs narrower than this run the padded width (short rows copy slowly;
    #                  wider ones would pay more in the product's dropped columns than they save)
    unfold_budget = 2 << 20  # bytes of unfolded columns at a time: a part stays in cache for its product
    keep_budget = 16 << 20  # the most bytes of columns kept from the forward for the backward (below
    #                         the allocator's mmap threshold, so the memory is reused, not faulted in)
    _scratch = {"cols": [], "grad": []}  # buffers left by earlier calls (popped and pushed back: thread-safe)
    small_product = 1_000_000 if _small_kernels() else 0  # multiply-adds of a product OpenBLAS runs unpacked

    def forward(self, x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
        return self._forward(x, w, b, stride, padding, dilation, groups, keep=is_grad_enabled())

    def _forward(self, x, w, b, stride, padding, dilation, groups, keep):
        """Y = W X_col + b; with ``keep``, the columns may stay for the backward (see _parts)."""
        n, c = x.shape[:2]
        o, cg, *kernel = w.shape
        out = tuple(out_size(i, k, s, *p, d) for i, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation))
        xp = np.ascontiguousarray(pad_spatial(x, padding))
        wide = len(out) == 2 and all(s == 1 for s in stride) and out[1] < self.wide_below
        rw = xp.shape[3] if wide else out[-1]  # the width of a row of columns
        wm = w.reshape(groups, o // groups, -1)
        self.ones = b is not None
        wb = np.concatenate([wm, b.reshape(groups, o // groups, 1).astype(wm.dtype)], axis=2) if self.ones else wm
        self.xp, self.wm = xp, wm
        self.geom = (x.shape, w.shape, padding, tuple(stride), tuple(dilation), groups, out, rw)
        self.kept = None
        y = np.empty((n, o) + out, np.result_type(x, w))
        for s, cols in self._parts(xp, keep=keep):
            m = s.stop - s.start
            if rw == out[-1]:  # (G, O/G, K) @ (n, G, K, prod(O)) -> (n, G, O/G, prod(O)): the output's layout
                self._product(wb, cols, y[s].reshape(m, groups, o // groups, -1))
            else:
                y[s] = np.matmul(wb, cols).reshape(m, o, out[0], rw)[..., :out[1]]
        return y

    def _product(self, wb, cols, out) -> None:
        """out = wb @ cols, (G, O/G, rows) @ (n, G, rows, P) -> (n, G, O/G, P), in slices of ``width`` columns
        where OpenBLAS has its small-matrix kernels (AVX-512: O/G * width * rows within a million
        multiply-adds, no packing of the columns): the ConvNet's forward product 1.13 against 1.50 ms at
        batch 16. Each slice is a strided view of the columns and of the output: no copy."""
        g, oo, rows = wb.shape
        p = cols.shape[-1]
        width = 1 << int(math.log2(self.small_product // (oo * rows))) if self.small_product > oo * rows else 0
        if width < 64 or width * 2 > p:
            np.matmul(wb, cols, out=out)
            return
        main = p - p % width
        m = cols.shape[0]
        sliced = (lambda a, r: a[..., :main].reshape(m, g, r, main // width, width).transpose(0, 1, 3, 2, 4))
        np.matmul(wb[:, None], sliced(cols, rows), out=sliced(out, oo))  # (G, 1, O/G, rows) @ (n, G, S, rows, width)
        if main < p:
            np.matmul(wb, cols[..., main:], out=out[..., main:])

    def _rows(self) -> int:
        """Rows of one group's columns: C/G * prod(K), and the row of ones under a bias."""
        return math.prod(self.geom[1][1:]) + self.ones

    def _parts(self, xp, keep=False):
        """(slice of the batch, its columns (n, G, rows, prod(O))) for parts of the batch whose columns fit
        in ``unfold_budget`` bytes. The columns are prod(K) times the input: unfolded a cache-sized part
        at a time, they are read hot by the product. With ``keep`` and all the batch's columns within
        ``keep_budget`` bytes, each part is unfolded into its place in one array kept for the backward
        (``self.kept``), which then reads it rather than unfolding again; otherwise into one reused
        buffer (fresh pages cost more than the copy), and the backward unfolds again."""
        _, wshape, _, stride, dilation, groups, out, rw = self.geom
        n, c = xp.shape[:2]
        rows = self._rows()
        step, per = self._step(groups * rows, xp.itemsize)
        if self.kept is not None:  # the forward's columns, kept
            for s in self._slices(n, step):
                yield s, self.kept[s]
            return
        o, cg, *kernel = wshape
        keep = keep and n * per * xp.itemsize <= self.keep_budget
        buf = np.empty(n * per, xp.dtype) if keep else self._take("cols", min(step, n) * per, xp.dtype)
        try:
            for s in self._slices(n, step):
                m = s.stop - s.start
                cols = (buf[s.start * per:s.stop * per] if keep else buf[:m * per]).reshape(m, groups, rows, -1)
                body = cols[:, :, :cg * math.prod(kernel)]  # below it, the row of ones of a bias
                if rw == out[-1]:  # the (n, C, *K, *O) view copied in its own order (splitting axes: views)
                    v = windows(xp[s], kernel, stride, dilation, out)
                    np.copyto(body.reshape((m, groups, cg) + tuple(kernel) + out), v.reshape((m, groups, cg) + v.shape[2:]))
                else:  # one run of (OH - 1) RW + OW entries per sample, channel and kernel offset
                    run = (out[0] - 1) * rw + out[1]
                    v = wide_windows(xp[s], kernel, dilation, run)
                    np.copyto(body.reshape((m, groups, cg) + tuple(kernel) + (-1,))[..., :run],
                              v.reshape((m, groups, cg) + v.shape[2:]))
                    body[..., run:] = 0  # the dropped columns of the last row: read, so finite
                if self.ones:
                    cols[:, :, -1] = 1
                yield s, cols
        finally:
            if keep:
                self.kept = buf[:n * per].reshape(n, groups, rows, -1)
            else:
                self._give("cols", buf)

    def _step(self, rows: int, itemsize: int):
        """(samples per part, column entries per sample) for ``rows`` rows of columns per sample."""
        out, rw = self.geom[6:]
        per = rows * math.prod(out[:-1]) * rw
        return max(1, self.unfold_budget // (per * itemsize)), per

    @staticmethod
    def _slices(n: int, step: int):
        return [slice(i, min(i + step, n)) for i in range(0, n, step)]

    @staticmethod
    def _give(kind: str, buf: np.ndarray) -> None:
        if len(Conv._scratch[kind]) < 2:
            Conv._scratch[kind].append(buf)

    def _take(self, kind: str, size: int, dtype) -> np.ndarray:
        """A flat buffer of at least ``size`` entries: one an earlier call left, or a new one."""
        try:
            buf = Conv._scratch[kind].pop()
        except IndexError:
            buf = None
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = np.empty(max(size, self.unfold_budget // np.dtype(dtype).itemsize), dtype)
        return buf

    def backward(self, grad):
        xshape, wshape, padding, stride, dilation, groups, out, rw = self.geom
        n, o = xshape[0], wshape[0]
        k = math.prod(wshape[1:])
        need = self.needs_input_grad
        gx = gw = gb = None
        gbuf = None
        if rw == out[-1]:
            gy = np.ascontiguousarray(grad)
        else:  # dY in the columns' layout, (N, O, OH, RW) with zeros in the dropped columns, in a reused buffer
            gbuf = self._take("grad", grad.size // out[1] * rw, grad.dtype)
            gy = gbuf[:grad.size // out[1] * rw].reshape(n, o, out[0], rw)
            np.copyto(gy[..., :out[1]], grad)
            gy[..., out[1]:] = 0
        gy = gy.reshape(n, groups, o // groups, -1)
        bias = len(need) == 3 and need[2]
        if need[1]:
            gwt = np.zeros((groups, self._rows(), o // groups), grad.dtype)
            for s, cols in self._parts(self.xp):
                # dW^T: (n, G, rows, prod(O)) @ (n, G, prod(O), O/G) -> (n, G, rows, O/G), summed over the
                # part's samples (the long side in the product's rows runs faster than dW's orientation);
                # the row of ones gives db
                gwt += np.matmul(cols, gy[s].transpose(0, 1, 3, 2)).sum(axis=0)
            gw = np.ascontiguousarray(gwt[:, :k].transpose(0, 2, 1)).reshape(wshape)
            if bias:
                gb = gwt[:, k].reshape(o)
        elif bias:  # (N, O, prod(O)) @ ones -> (N, O), summed over N (dropped columns are 0)
            gb = np.matmul(gy.reshape(n, o, -1), np.ones(gy.shape[-1], grad.dtype)).sum(axis=0)
        self.kept = None  # the columns' memory goes back before dX's is taken
        if need[0]:
            gx = self._input_grad(gy, grad.dtype)
        if gbuf is not None:
            self._give("grad", gbuf)
        return (gx, gw) if len(need) == 2 else (gx, gw, gb)

    def _input_grad(self, gy, dtype):
        """dX = col2im(W^T dY): the column gradients a part of the batch at a time, each added back to
        the input pixels it was read from (one strided add per kernel offset)."""
        xshape, wshape, padding, stride, dilation, groups, out, rw = self.geom
        n, c = xshape[:2]
        o, cg, *kernel = wshape
        gxp = np.zeros((n, c) + tuple(i + b + a for i, (b, a) in zip(xshape[2:], padding)), dtype=dtype)
        wt = self.wm.transpose(0, 2, 1)
        step, per = self._step(c * math.prod(kernel), gxp.itemsize)
        buf = self._take("cols", min(step, n) * per, dtype)
        for s in self._slices(n, step):
            m = s.stop - s.start
            gcols = buf[:m * per].reshape(m, groups, cg * math.prod(kernel), -1)
            np.matmul(wt, gy[s], out=gcols)  # (G, K, O/G) @ (n, G, O/G, prod(O)) -> (n, G, K, prod(O))
            if rw == out[-1]:
                fold_add(gxp[s], gcols.reshape((m, c) + tuple(kernel) + out), stride, dilation)
            else:
                wide_fold_add(gxp[s], gcols.reshape(m, c, *kernel, -1), dilation, (out[0] - 1) * rw + out[1])
        self._give("cols", buf)
        gx = crop(gxp, padding, xshape[2:])
        return gxp if gx.shape == gxp.shape else np.ascontiguousarray(gx)


class ConvTranspose(Conv):
    """The transposed convolution, Y = col2im(W^T X_n) + b: the input gradient of the Conv with this
    weight (Cin, Cout/groups, *K) whose output X is. Its gradients are that Conv's forward and weight
    gradient on dY: dX = conv(dY, W), dW = sum_n X_n unfold(dY)_n^T (the same columns for both),
    db = sum over N and the output pixels of dY.

    Inputs x (N, Cin, *S), weight (Cin, Cout/groups, *K), optional bias (Cout,); options stride,
    padding, output_padding, dilation (one per axis) and groups. Output (N, Cout, *O) with
    O = (S - 1) stride - 2 padding + dilation (K - 1) + output_padding + 1. One product and one fold
    (a strided add per kernel offset), no work on inserted zeros.
    """

    saved_inputs = (0, 1)

    def forward(self, x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1),
                groups=1):
        n, ci, *size = x.shape
        _, cog, *kernel = w.shape
        out = tuple((i - 1) * s - 2 * p + d * (k - 1) + e + 1 for i, s, p, d, k, e in
                    zip(size, stride, padding, dilation, kernel, output_padding))
        # the Conv from (N, Cout, *O) to x's (N, Cin, *S), whose input gradient this is
        self.geom = ((n, cog * groups) + out, w.shape, tuple((p, p) for p in padding), tuple(stride),
                     tuple(dilation), groups, tuple(size), size[-1])
        self.wm = w.reshape(groups, ci // groups, -1)
        self.x, self.w = x, w
        self.back_pads = tuple((p, p - e) for p, e in zip(padding, output_padding))  # dY's pads for an S-long dX
        dt = np.result_type(x, w)
        y = self._input_grad(np.ascontiguousarray(x, dt).reshape(n, groups, ci // groups, -1), dt)
        if b is not None:
            y += b.reshape((-1,) + (1,) * len(out))
        return y

    def backward(self, grad):
        stride, dilation, groups = self.geom[3:6]
        need = self.needs_input_grad
        conv = object.__new__(Conv)  # dX is its forward on dY; its columns of dY stay for dW
        gx = conv._forward(grad, self.w, None, stride, self.back_pads, dilation, groups, keep=bool(need[1]))
        gw = gb = None
        if need[1]:
            conv.needs_input_grad = (False, True)
            gw = conv.backward(self.x)[1]
        if len(need) == 3 and need[2]:
            gb = grad.sum(axis=(0,) + tuple(range(2, grad.ndim)))
        return (gx if need[0] else None, gw) if len(need) == 2 else (gx if need[0] else None, gw, gb)
