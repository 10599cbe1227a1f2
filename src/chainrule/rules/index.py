"""Indexing rules: they pick and move elements by an index (an input of the op, so that an in-place
change of the index after the op is caught), and their backward sends each gradient back to the
element it came from (adding where one element was picked several times)."""
from __future__ import annotations

import numpy as np

from chainrule.core import Function
from chainrule.rules.shape import Slot, fill_index


def _along(index: np.ndarray, dim: int) -> tuple:
    """The full index tuple that reads ``x[..., index[i, j, k], ...]`` (``index`` in place of axis ``dim``)."""
    grids = list(np.indices(index.shape, sparse=True))
    grids[dim] = index
    return tuple(grids)


class Positions(Function):
    """Integer positions read off the values, ``rule(a)`` (argmax, argmin, a sort's order), as int64.
    It has no gradient: the front applies it under no_grad, so it is recorded for a compiled step's
    replay (which repeats it on each call's data) but never enters a graph."""

    def forward(self, a, *, rule):
        return np.asarray(rule(a), np.int64)

    def backward(self, grad):  # pragma: no cover - never in a graph (applied under no_grad)
        raise RuntimeError("positions have no gradient")


class SearchSorted(Function):
    """The position where each value would enter the sorted last axis of ``seq`` (the first such place,
    or the last with ``right``), as int64 or int32; ``seq`` is 1-D or has the values' leading axes, and
    an optional ``sorter`` (positions that sort ``seq``) is a third input. No gradient: applied under
    no_grad, like :class:`Positions`."""

    def forward(self, seq, values, sorter=None, *, right=False, dtype=np.int64):
        if sorter is not None:
            seq = np.take_along_axis(seq, sorter, -1)
        side = "right" if right else "left"
        if seq.ndim == 1:
            return np.asarray(np.searchsorted(seq, values, side=side), dtype)
        rows, vals = seq.reshape(-1, seq.shape[-1]), values.reshape(-1, values.shape[-1])
        out = np.stack([np.searchsorted(r, v, side=side) for r, v in zip(rows, vals)])
        return out.reshape(values.shape).astype(dtype)

    def backward(self, grad):  # pragma: no cover - never in a graph (applied under no_grad)
        raise RuntimeError("searchsorted has no gradient")


class Median(Function):
    """The lower median of all the elements, the middle one of the sorted values ((n - 1) // 2), or NaN
    when one is NaN (torch.median without a dim); with ``ignore_nan`` the lower median of the values
    that are not NaN, NaN when none is (torch.nanmedian). The gradient is shared evenly by the elements
    equal to it (by the NaNs, when it is NaN), as PyTorch's."""

    def forward(self, x, *, ignore_nan=False):
        flat = x.reshape(-1)
        nan = np.isnan(flat) if flat.dtype.kind == "f" else None
        values = flat[~nan] if ignore_nan and nan is not None else flat
        if nan is not None and (not values.size if ignore_nan else nan.any()):
            m, self.mask = flat[np.argmax(nan)], nan.reshape(x.shape)
        else:
            k = (values.size - 1) // 2
            m = np.partition(values, k)[k]
            self.mask = x == m
        return np.asarray(m, x.dtype)

    def backward(self, grad):
        return self.mask * (grad / np.asarray(self.mask.sum(), grad.dtype))


class Quantile(Function):
    """The q-quantiles of x along its last axis, as PyTorch computes them: the sorted row (NaN last), a
    rank r = q (n - 1) in x's dtype (q (k - 1) over the k values that are not NaN with ``ignore_nan``;
    the last, a NaN, for a row holding one without it), then by ``interpolation`` the value at floor(r),
    ceil(r), round(r) (half to even), or between the two (linear: weight r - floor(r); midpoint: 1/2)
    by torch.lerp's formula. ``q`` is an (m,) array in x's dtype; the result is (..., m). The gradient
    goes to the one or two picked elements, (1 - w) and w of it."""

    def forward(self, x, q, *, interpolation, ignore_nan=False):
        n = x.shape[-1]
        order = np.argsort(x, axis=-1, kind="stable")
        s = np.take_along_axis(x, order, -1)
        nan = np.isnan(s)
        if ignore_nan:
            ranks = q * (n - nan.sum(-1, keepdims=True) - 1).astype(x.dtype)
            ranks = np.maximum(ranks, 0, dtype=x.dtype)     # an all-NaN row: rank 0, a NaN
        else:
            ranks = np.where(nan[..., -1:], x.dtype.type(n - 1), q * x.dtype.type(n - 1)).astype(x.dtype)
        if interpolation in ("lower", "higher", "nearest"):
            ranks = {"lower": np.floor, "higher": np.ceil, "nearest": np.rint}[interpolation](ranks)
        below = ranks.astype(np.int64)
        self.shape = x.shape
        self.below, self.above, self.w = np.take_along_axis(order, below, -1), None, None
        out = np.take_along_axis(s, below, -1)
        if interpolation in ("linear", "midpoint"):
            above = np.ceil(ranks).astype(np.int64)
            w = np.full_like(ranks, 0.5) if interpolation == "midpoint" else ranks - below.astype(ranks.dtype)
            end = np.take_along_axis(s, above, -1)
            out = np.where(w < 0.5, out + w * (end - out), end - (end - out) * (1 - w))   # torch.lerp's
            self.above, self.w = np.take_along_axis(order, above, -1), w
        return out.astype(x.dtype, copy=False)

    def backward(self, grad):
        g = np.zeros(self.shape, grad.dtype)
        last = g.ndim - 1
        if self.w is None:
            np.add.at(g, _along(self.below, last), grad)
        else:
            np.add.at(g, _along(self.below, last), grad * (1 - self.w))
            np.add.at(g, _along(self.above, last), grad * self.w)
        return g, None


class OneHot(Function):
    """(..., ) labels in [0, num_classes) -> (..., num_classes) int64 rows, a 1 at each label (the front
    checks the labels). No gradient: applied under no_grad, so a compiled step replays it on each
    call's labels (with the check again) but no graph holds it."""

    def forward(self, t, *, num_classes):
        out = np.zeros(t.shape + (num_classes,), np.int64)
        np.put_along_axis(out, t[..., None].astype(np.int64), 1, axis=-1)
        return out

    def backward(self, grad):  # pragma: no cover - never in a graph (applied under no_grad)
        raise RuntimeError("one_hot has no gradient")


class TakeAlong(Function):
    """y = x picked at ``index`` along ``dim`` (gather, sort, topk); dL/dx adds dL/dy back at the
    picked positions (np.add.at, so an element picked twice gets both gradients)."""

    saved_inputs = (1,)

    def forward(self, x, index, dim):
        self.shape = x.shape
        self.where = _along(index, dim)
        return x[self.where]

    def backward(self, grad):
        g = np.zeros(self.shape, dtype=grad.dtype)
        np.add.at(g, self.where, grad)
        return g, None


class ScatterAdd(Function):
    """out = input, then out[index[i][j]][j] += src[i][j] (dim 0); dL/dinput = g,
    dL/dsrc = g gathered at index (zero where src was not used)."""

    saved_inputs = (2,)

    def forward(self, x, src, index, dim):
        self.where = _along(index, dim)
        self.used = tuple(slice(0, n) for n in index.shape)
        self.src_shape = src.shape
        out = x.copy()
        self._write(out, src[self.used])
        return out

    def _write(self, out, values) -> None:
        np.add.at(out, self.where, values)

    def _input_grad(self, grad):
        return grad

    def backward(self, grad):
        gx = self._input_grad(grad) if self.needs_input_grad[0] else None
        gs = None
        if self.needs_input_grad[1]:
            gs = np.zeros(self.src_shape, dtype=grad.dtype)
            gs[self.used] = grad[self.where]
        return gx, gs, None


class Scatter(ScatterAdd):
    """out = input, then out[index[i][j]][j] = src[i][j] (dim 0); dL/dinput = g with zeros where
    something was written, dL/dsrc = g gathered at index (zero where src was not used)."""

    def _write(self, out, values) -> None:
        out[self.where] = values

    def _input_grad(self, grad):
        g = grad.copy()
        g[self.where] = 0
        return g


class IndexSelect(Function):
    """y = x's slices ``index`` along ``dim``; dL/dx adds each slice's gradient back (repeats add)."""

    saved_inputs = (1,)

    def forward(self, x, index, dim):
        self.shape = x.shape
        self.where = (slice(None),) * dim + (index,)
        return x[self.where]

    def backward(self, grad):
        # repeats add up: the slices sorted by index, each run of equal indices summed by one
        # reduceat, then written once (np.add.at, one element at a time, is ~10x slower)
        dim = len(self.where) - 1
        g = np.zeros(self.shape, dtype=grad.dtype)
        index = self.where[dim] % self.shape[dim] if self.shape[dim] else self.where[dim]
        if index.size:
            order = np.argsort(index, kind="stable")
            ranked = index[order]
            first = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
            g[self.where[:dim] + (ranked[first],)] = np.add.reduceat(np.take(grad, order, axis=dim), first, axis=dim)
        return g, None


class MaskedFill(Function):
    """y = value where mask, x elsewhere; dL/dx = g where the mask is False, 0 where it is True."""

    saved_inputs = (1,)

    def forward(self, x, mask, value):
        self.mask = mask
        return np.where(mask, np.asarray(value, x.dtype), x)

    def backward(self, grad):
        return np.where(self.mask, np.zeros((), grad.dtype), grad), None  # 0 even where grad is NaN, as torch


class IndexPut(Function):
    """y = x with y[index] = v (``accumulate``: y[index] += v, repeated positions adding up);
    dL/dx = dL/dy with zeros at index (all of dL/dy when accumulating), dL/dv = dL/dy[index].

    The index arrays in ``index`` are inputs after x and v (see :func:`fill_index`).
    """

    saved_inputs = slice(2, None)

    def forward(self, x, v, *arrays, index, accumulate=False):
        index = fill_index(index, arrays)
        self.index, self.v_shape, self.accumulate = index, v.shape, accumulate
        y = x.copy()
        if accumulate:
            np.add.at(y, index, v)
        else:
            y[index] = v
        return y

    def backward(self, grad):
        gx = gv = None
        if self.needs_input_grad[0]:
            gx = grad.copy()
            if not self.accumulate:
                gx[self.index] = 0
        if self.needs_input_grad[1]:
            gv = grad[self.index]
        return (gx, gv) + (None,) * (len(self.needs_input_grad) - 2)


# ----------------------------------------------------------------------------- writes along one dim by a 1-D index
class IndexAdd(Function):
    """out = x, then out[..., index[i], ...] += alpha * src[..., i, ...] along ``dim`` (repeats add up);
    dL/dx = g, dL/dsrc = alpha * g[..., index, ...]."""

    saved_inputs = (2,)

    def forward(self, x, src, index, *, dim, alpha=1):
        self.where, self.alpha = (slice(None),) * dim + (index,), alpha
        out = x.copy()
        np.add.at(out, self.where, src if alpha == 1 else src * np.asarray(alpha, src.dtype))
        return out

    def backward(self, grad):
        gs = grad[self.where] if self.needs_input_grad[1] else None
        if gs is not None and self.alpha != 1:
            gs = gs * np.asarray(self.alpha, grad.dtype)
        return grad, gs, None


class IndexCopy(IndexPut):
    """out = x, then out[..., index[i], ...] = src[..., i, ...] along ``dim`` (IndexPut at those slices);
    dL/dx = g with zeros at the written slices, dL/dsrc = g[..., index, ...]."""

    saved_inputs = (2,)

    def forward(self, x, src, index, *, dim):
        return super().forward(x, src, index, index=(slice(None),) * dim + (Slot(0),))


class IndexFill(Function):
    """out = x, then out[..., index[i], ...] = value along ``dim``; dL/dx = g with zeros at the filled
    slices (the value, a number, gets none)."""

    saved_inputs = (1,)

    def forward(self, x, index, *, dim, value):
        self.where = (slice(None),) * dim + (index,)
        out = x.copy()
        out[self.where] = value
        return out

    def backward(self, grad):
        g = grad.copy()
        g[self.where] = 0
        return g, None


def _scatter_reduce(x, src, where, reduce, include_self):
    """x with src (already cut to the index's shape) reduced into it at ``where`` (torch's
    scatter_reduce forward on arrays): the scattered positions start from x (include_self) or from
    the reduction's identity."""
    hit = np.zeros(x.shape, bool)
    hit[where] = True
    out = x.copy()
    if not include_self:
        if reduce in ("sum", "mean"):
            out[hit] = 0
        elif reduce == "prod":
            out[hit] = 1
        elif x.dtype.kind == "f":
            out[hit] = -np.inf if reduce == "amax" else np.inf
        elif x.dtype.kind == "b":
            out[hit] = reduce == "amin"
        else:
            out[hit] = np.iinfo(x.dtype).min if reduce == "amax" else np.iinfo(x.dtype).max
    ufunc = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
    ufunc.at(out, where, src)
    count = None
    if reduce == "mean":
        count = np.ones(x.shape, x.dtype) if include_self else np.zeros(x.shape, x.dtype)
        np.add.at(count, where, 1)
        count[count == 0] = 1
        out = out / count if x.dtype.kind == "f" else np.floor_divide(out, count)
    return out, hit, count


class ScatterReduce(Function):
    """out = x with src reduced into it along ``dim`` at ``index`` (sum, prod, mean, amax or amin; with
    x's value too when ``include_self``), as torch.scatter_reduce. Local gradients as torch's: sum:
    g to x and g[index] to src; mean: g / n and (g / n)[index], n the count at each position; prod:
    g times the product of the others (zeros handled as torch: the others' product, not out / x);
    amax/amin: g shared evenly by the elements equal to the result. With include_self False x gets no
    gradient where something was scattered. src elements the index does not reach get 0."""

    saved_inputs = (0, 1, 2)
    saves_output = True

    def forward(self, x, src, index, *, dim, reduce, include_self=True):
        self.where = _along(index, dim)
        self.used = tuple(slice(0, n) for n in index.shape)
        self.x, self.src, self.dim = x, src, dim
        self.reduce, self.include_self = reduce, include_self
        self.out, self.hit, self.count = _scatter_reduce(x, src[self.used], self.where, reduce, include_self)
        return self.out

    def backward(self, grad):
        x, s, w, out, reduce = self.x, self.src[self.used], self.where, self.out, self.reduce
        if reduce == "sum":
            gx, gs = grad, grad[w]
        elif reduce == "mean":
            gx = grad / self.count
            gs = gx[w]
        elif reduce == "prod":
            gx, gs = self._prod_grads(grad, x, s, w, out)
        else:  # amax / amin: split evenly among the elements that equal the result
            x_is = (x == out).astype(grad.dtype)
            s_is = (s == out[w]).astype(grad.dtype)
            n = x_is.copy()
            np.add.at(n, w, s_is)
            share = grad / n
            gx, gs = x_is * share, s_is * share[w]
        if not self.include_self:
            gx = np.where(self.hit, np.zeros((), grad.dtype), gx)
        g_src = None
        if self.needs_input_grad[1]:
            g_src = np.zeros(self.src.shape, grad.dtype)
            g_src[self.used] = gs
        return gx, g_src, None

    def _prod_grads(self, grad, x, s, w, out):
        """torch's: x's gradient from the product with x's zeros taken as 1; src's the product of the
        others, by out / src unless src is the one zero at its position (then the product without it)."""
        one = np.ones((), x.dtype)
        masked_x = np.where(x == 0, one, x)
        gx = grad * _scatter_reduce(masked_x, s, w, "prod", self.include_self)[0] / masked_x
        zero = s == 0
        zeros_at = np.zeros(x.shape, grad.dtype)
        np.add.at(zeros_at, w, zero.astype(grad.dtype))
        single = zero & (zeros_at[w] == 1)
        without = _scatter_reduce(x, np.where(single, one, s), w, "prod", self.include_self)[0]
        gs = np.where(single, (grad * without)[w], (grad * out)[w] / np.where(zero, one, s))
        return gx, gs
